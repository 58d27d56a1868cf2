"""The default executor: jobs in this process, or in N supervised worker processes.

With ``--jobs 1`` and no ``--timeout`` the jobs run in this process (no pickling, no worker
start-up: the lowest overhead, which matters for fast codecs). Otherwise they run in N
:class:`~rdbench.run.executors.worker.WorkerProcess` es. Either way every job has the same
thread count for torch, OpenMP/BLAS and the metrics (:func:`rdbench.run.conditions.job_threads`:
``--threads``, default ``cpu_count // N``, so workers do not oversubscribe the cores), whether
it runs in process or in a worker and however many jobs are left, so a job's numbers do not
depend on where it ran. Records are yielded as jobs finish, in completion order; the caller
alone writes the store.

Jobs run in :func:`~rdbench.run.jobs.locality_order`: the qualities of one image together for
codecs with nothing to load per quality, so each process decodes each image once; with worker
processes, a worker takes such a bundle (:func:`~rdbench.run.jobs.job_bundles`) whole.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from typing import Any

from rdbench.run.conditions import job_threads, use_threads
from rdbench.run.executors.worker import WorkerProcess, crashed_record
from rdbench.run.jobs import Job, job_bundles, locality_order, one_line, run_job
from rdbench.store.record import Record


class LocalExecutor:
    """Run jobs in this process (jobs=1, no timeout) or in N supervised worker processes."""

    name = "local"

    def __init__(self, jobs: int = 1, timeout_s: float | None = None, threads: int | None = None) -> None:
        self.jobs = max(1, jobs)
        self.timeout_s = timeout_s
        #: torch/BLAS/metric threads of every job (``--threads``; default: the cores shared by ``jobs``)
        self.threads = job_threads(self.jobs, threads)

    def in_process(self, jobs: list[Job]) -> bool:
        """Whether ``jobs`` run in this process (no worker processes)."""
        return self.timeout_s is None and (self.jobs == 1 or len(jobs) <= 1)

    def conditions(self, jobs: list[Job]) -> dict[str, Any]:
        """How ``jobs`` run, as their records' timing conditions store it."""
        return {"executor": self.name, "jobs": self.jobs,
                "processes": "in-process" if self.in_process(jobs) else "workers"}

    def run(self, jobs: list[Job]) -> Iterator[Record]:
        if self.in_process(jobs):
            with use_threads(self.threads):
                for job in locality_order(jobs):
                    yield run_job(job)
            return
        yield from self._run_workers(jobs)

    def _run_workers(self, jobs: list[Job]) -> Iterator[Record]:
        bundles = job_bundles(jobs)
        if len(bundles) < self.jobs:  # too few to keep every worker busy: one job at a time instead
            bundles = [[job] for bundle in bundles for job in bundle]
        count = min(self.jobs, len(bundles))
        todo: queue.SimpleQueue[list[Job]] = queue.SimpleQueue()
        for bundle in bundles:
            todo.put(bundle)
        done: queue.SimpleQueue[Record] = queue.SimpleQueue()
        stop = threading.Event()
        workers = [WorkerProcess(self.threads) for _ in range(count)]

        def drive(worker: WorkerProcess) -> None:
            while not stop.is_set():
                try:
                    bundle = todo.get_nowait()
                except queue.Empty:
                    return
                for job in bundle:
                    if stop.is_set():
                        return
                    try:
                        record = worker.run(job, self.timeout_s)
                    except Exception as exc:  # noqa: BLE001 - e.g. a job that cannot be pickled
                        if stop.is_set():  # the run is being torn down and the pipes were closed
                            return
                        worker.kill()
                        record = crashed_record(job, f"could not run in a worker process: {one_line(exc)}")
                    done.put(record)

        drivers = [threading.Thread(target=drive, args=(w,), daemon=True) for w in workers]
        for thread in drivers:
            thread.start()
        try:
            for _ in range(len(jobs)):
                yield done.get()
        finally:  # also on Ctrl-C or a store error: no worker outlives the run
            stop.set()
            for worker in workers:  # idle workers exit at once; then the rest are killed
                worker.hang_up()
            for worker in workers:
                worker.kill()
            deadline = time.monotonic() + 5
            for thread in drivers:
                thread.join(max(0.0, deadline - time.monotonic()))
