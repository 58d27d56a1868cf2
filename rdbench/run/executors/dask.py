"""Running jobs on an existing Dask cluster (``--executor dask --scheduler tcp://HOST:PORT``).

Design decisions, and why:

* **One Dask task per job** (codec configuration x quality x image): the unit rdbench already
  resumes and de-duplicates on. Learned codecs asked to run on a GPU (adapter ``wants_gpu`` and
  ``--device`` other than ``cpu``) request ``resources={"GPU": 1}``, so a GPU worker runs one
  at a time; CPU codecs request nothing and run on every worker thread.
* **Image bytes travel with the jobs**: workers need not share a filesystem with the client.
  Each image file is read once by the client and sent once to the cluster (as a task the
  scheduler can recompute if the worker holding it dies); its jobs take those bytes, check them against the SHA-256 the client planned with, and decode them
  from a private temporary file. Checkpoints and external tools (``--checkpoint-dir``,
  ``--vtm-dir``) are *not* shipped: they must exist at the same path on every worker.
* **Only the client writes the store**: records stream back with ``as_completed`` and go
  through the same :func:`rdbench.run.execute.execute` path as local runs, so resuming and the
  store's unique key (one row per job) hold exactly as they do locally.
* **Worker loss**: the scheduler re-runs a task whose worker died (up to
  ``distributed.scheduler.allowed-failures`` times, then the job becomes a failed record
  "killed N workers"). A task that raised is retried once (``retries=1``); a codec's own
  errors never raise (they are failed records already).
* **Timeouts** (``--timeout``): inside the task the job runs in a supervised
  :class:`~rdbench.run.executors.worker.WorkerProcess` (one per worker thread), killed when over time.
"""

from __future__ import annotations

import dataclasses
import hashlib
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rdbench.errors import RdbenchError, UsageError
from rdbench.run.executors.worker import WorkerProcess, crashed_record
from rdbench.run.jobs import Job, one_line, run_job
from rdbench.store.record import Record

_LOCAL = threading.local()


def run_remote_job(job: Job, data: bytes | None, timeout_s: float | None, threads: int = 1) -> Record:
    """Task body, on a Dask worker: the image comes as bytes, the record goes back to the client."""
    if data is None:
        return crashed_record(job, f"{job.image_path}: cannot read this file on the client")
    if hashlib.sha256(data).hexdigest() != job.image_hash:
        return crashed_record(job, "image bytes changed in transit (SHA-256 mismatch); rerun the job")
    with tempfile.TemporaryDirectory(prefix="rdbench-task-") as folder:
        path = Path(folder) / f"image{Path(job.image_name).suffix}"
        path.write_bytes(data)
        local = dataclasses.replace(job, image_path=str(path))
        if timeout_s is None:
            return run_job(local)
        worker = getattr(_LOCAL, "worker", None)
        if worker is None:
            worker = _LOCAL.worker = WorkerProcess(threads=threads)
        return worker.run(local, timeout_s)


def wants_gpu_resource(job: Job) -> bool:
    """A learned codec encoding or decoding on a device other than the CPU (``--device``,
    ``--decode-device``) needs a worker with a GPU."""
    from rdbench.codecs.registry import load_adapter

    devices = {job.context.device, job.context.decode_device or job.context.device}
    return bool(load_adapter(job.config.adapter).wants_gpu) and devices != {"cpu"}


def check_scheduler_address(address: str) -> None:
    """``--scheduler`` is an address Dask can connect to (``tcp://HOST:PORT``, ``HOST:PORT``, ``tls://``,
    ``ws://``, ...), parsed by Dask's own address functions before any client exists.

    WHY before: :class:`distributed.Client` given a malformed address raises, but the half-built
    client's ``__del__`` then waits 60 s for a connection that never opened and prints a traceback.
    """
    try:
        from distributed.comm import parse_address, parse_host_port
        from distributed.comm.registry import get_backend
    except ImportError as exc:
        raise RdbenchError("--executor dask needs the 'distributed' package: pip install 'dask[distributed]'") from exc
    try:
        scheme, location = parse_address(address)
        get_backend(scheme)  # an unknown scheme (http://) is a ValueError naming the known ones
        if scheme != "inproc":
            host, port = parse_host_port(location)
            if not host or not 0 < port < 65536:
                raise ValueError(f"no host or port in {location!r}")
    except ValueError as exc:
        why = " ".join(str(exc).split())
        raise UsageError(f"--scheduler {address!r} is not a Dask scheduler address: {why}",
                         hint="give the address `dask scheduler` prints, e.g. tcp://HOST:8786") from None


class DaskExecutor:
    """Submit jobs to a running Dask scheduler and yield records as they complete."""

    name = "dask"

    def __init__(self, scheduler: str, timeout_s: float | None = None, threads: int | None = None) -> None:
        check_scheduler_address(scheduler)
        self.scheduler = scheduler
        self.timeout_s = timeout_s
        #: threads of each supervised worker process (``--timeout``); tasks without one run in the
        #: Dask worker's own threads, whose counts their records store as they were
        self.threads = max(1, threads or 1)

    def conditions(self, jobs: list[Job]) -> dict[str, Any]:
        """How ``jobs`` run, as their records' timing conditions store it (``--jobs`` plays no part)."""
        return {"executor": self.name, "jobs": None,
                "processes": "workers" if self.timeout_s is not None else "dask-tasks"}

    def _client(self):
        from distributed import Client

        try:
            # connection timeout: Dask's own setting (distributed.comm.timeouts.connect, 30 s)
            return Client(self.scheduler, set_as_default=False)
        except (OSError, TimeoutError, ValueError) as exc:
            raise RdbenchError(f"cannot reach the Dask scheduler at {self.scheduler}: {one_line(exc)}",
                               hint="start one with `dask scheduler` and workers with `dask worker ADDRESS`, "
                                    "or check the address") from exc

    def run(self, jobs: list[Job]) -> Iterator[Record]:
        from distributed import as_completed

        client = self._client()
        try:
            gpu = {job.key: wants_gpu_resource(job) for job in jobs}
            if any(gpu.values()):
                self._check_gpu_workers(client)
            images = {}
            for job in jobs:
                if job.image_path not in images:
                    images[job.image_path] = self._send_image(client, job)
            futures = {}
            for job in jobs:
                future = client.submit(
                    run_remote_job, job, images[job.image_path], self.timeout_s, self.threads,
                    key=f"rdbench-{job.config.name}-q{job.quality}-{job.image_name}-{_job_id(job)}",
                    resources={"GPU": 1} if gpu[job.key] else None, retries=1, pure=False)
                futures[future] = job
            for future in as_completed(list(futures), loop=client.loop):
                job = futures.pop(future)
                yield self._result(future, job)
                future.release()
        finally:
            client.close()

    @staticmethod
    def _send_image(client, job: Job):
        """The image's bytes as a task of their own, sent once; None when the client cannot read it.

        Not ``client.scatter``: scattered data lost with a dying worker cannot be recovered and
        every job needing it would be cancelled, whereas a task's input stays with the scheduler,
        which recomputes the task on another worker.
        """
        try:
            data = Path(job.image_path).read_bytes()
        except OSError:
            return None
        return client.submit(_image_bytes, data, key=f"rdbench-image-{job.image_hash[:16]}-{_job_id(job)}", pure=False)

    @staticmethod
    def _result(future, job: Job) -> Record:
        try:
            record = future.result()
        except Exception as exc:  # noqa: BLE001 - a lost job is a failed record, not a crash
            if type(exc).__name__ == "KilledWorker":
                return crashed_record(job, "out of memory or crash: the job killed every Dask worker that "
                                           f"ran it ({one_line(exc)})")
            return crashed_record(job, f"Dask task failed: {one_line(exc)}")
        return record

    @staticmethod
    def _check_gpu_workers(client) -> None:
        workers = client.scheduler_info().get("workers", {})
        if not any(w.get("resources", {}).get("GPU") for w in workers.values()):
            raise UsageError("these jobs need a GPU, but no Dask worker offers one",
                             hint="start GPU workers with `dask worker ADDRESS --resources GPU=1`, or pass --device cpu")


def _image_bytes(data: bytes) -> bytes:
    return data


def _job_id(job: Job) -> str:
    return hashlib.sha256("\0".join(job.key).encode()).hexdigest()[:12]
