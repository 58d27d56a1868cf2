"""Supervised worker processes: one job at a time, killed on timeout, deaths attributed.

Why our own worker processes rather than a ``ProcessPoolExecutor``: a job that hangs can only be
stopped by killing the process it runs in (Python cannot interrupt a thread stuck in C code),
and a pool cannot kill one worker or say which job killed a worker. A :class:`WorkerProcess`
runs one job at a time, so a timeout kills exactly that job's process, and a worker that dies
(segfault, the kernel's OOM killer) is attributed to exactly the job it was running; either way
the job becomes a failed record and a fresh worker takes the next job.

Workers are plain ``python -c`` subprocesses talking over two inherited pipes (not
``multiprocessing`` children), so they can also be started from inside a Dask worker, whose
daemonic processes may not have ``multiprocessing`` children. Both executors use them.

What a time limit counts: a job's set-up (loading the image, building the codec,
``prepare(quality)`` loading a model or checkpoint) is excluded from the timing, so it is excluded
from the job's time limit too. The worker says "coding" when :func:`rdbench.run.measure.measure`
starts encoding (:func:`~rdbench.run.measure.coding_start_hook`); the limit (``--timeout``) runs
from that message to the record: encode, decode and the metrics. Set-up gets a limit of its own,
:data:`SETUP_TIMEOUT_S` (or the job's limit, if longer), so a hung model load is killed too.
"""

from __future__ import annotations

import ctypes
import json
import os
import signal
import subprocess
import sys
from datetime import datetime, timezone
from multiprocessing.connection import Connection

from rdbench.run.conditions import THREAD_VARIABLES, set_threads
from rdbench.run.jobs import Job, run_job
from rdbench.run.measure import coding_start_hook
from rdbench.store.record import STATUS_FAILED, Record

START_TIMEOUT_S = 300.0
#: Seconds a job's set-up (image, codec, model) may take before its worker is killed; generous,
#: since it covers loading a checkpoint from a slow disk or a first download of zoo weights.
SETUP_TIMEOUT_S = 600.0
#: What a worker sends when a job's set-up is over and its coding (timed, time-limited) starts.
CODING = "coding"


def crashed_record(job: Job, reason: str) -> Record:
    """A failed record for a job that produced no record of its own (worker died, timed out)."""
    record = job.new_record()
    record.status, record.error = STATUS_FAILED, reason
    record.created_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    return record


def death_reason(returncode: int | None) -> str:
    """Why a worker process ended, in words a user can act on."""
    if returncode == -signal.SIGKILL:
        return ("out of memory: the worker process was killed with SIGKILL while running this job, "
                "most likely by the kernel's out-of-memory killer")
    if returncode is not None and returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"worker process died from {name} while running this job (a crash in the codec)"
    if returncode is None:
        return "the worker process stopped answering while running this job and was killed"
    return f"worker process exited with status {returncode} while running this job"


def _die_with_parent(parent: int) -> None:
    """Linux: ask the kernel to SIGKILL this worker when the thread that started it ends, so a
    ``kill -9`` of rdbench never leaves a worker stuck in a hung codec running on."""
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(1)


def serve(read_fd: int, write_fd: int, threads: int, parent: int) -> None:
    """Worker side: announce readiness, then run each job received and send back its record.

    Nothing heavy is imported before the first job: a worker of a JPEG run never imports torch,
    and a learned codec's first job imports torch and compressai once for the worker's life
    (its codec objects and models are kept, :func:`rdbench.run.jobs.get_codec`). torch takes
    its thread count from ``OMP_NUM_THREADS``, set when the worker was started; the metrics get
    the same count (:func:`rdbench.run.conditions.set_threads`).
    """
    _die_with_parent(parent)
    set_threads(threads)
    inbox, outbox = Connection(read_fd, writable=False), Connection(write_fd, readable=False)
    outbox.send("ready")
    while True:
        try:
            job = inbox.recv()
        except EOFError:  # the parent closed the pipe or died: nothing left to do
            return
        with coding_start_hook(lambda: outbox.send(CODING)):
            record = run_job(job)
        outbox.send(record)


class WorkerProcess:
    """One supervised worker subprocess that runs one job at a time, with an optional time limit.

    Started lazily; killed and forgotten after a timeout or a death, so the next :meth:`run`
    starts a fresh one.
    """

    def __init__(self, threads: int = 1, setup_timeout_s: float = SETUP_TIMEOUT_S) -> None:
        self.threads = threads
        self.setup_timeout_s = setup_timeout_s
        self.proc: subprocess.Popen | None = None
        self.inbox: Connection | None = None
        self.outbox: Connection | None = None

    def start(self) -> None:
        """Start the worker process now and wait until it is ready (:meth:`run` does it when needed)."""
        to_child_r, to_child_w = os.pipe()
        from_child_r, from_child_w = os.pipe()
        # The parent's sys.path goes along (as multiprocessing's spawn does), so adapters that
        # the parent can import ("module:Class" from a TOML file) import in the worker too.
        code = ("import json, os, sys; sys.path[:] = json.loads(os.environ.pop('RDBENCH_SYS_PATH')); "
                "from rdbench.run.executors.worker import serve; serve(*map(int, sys.argv[1:5]))")
        env = dict(os.environ, RDBENCH_SYS_PATH=json.dumps(sys.path),
                   **{name: str(self.threads) for name in THREAD_VARIABLES})
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", code, str(to_child_r), str(from_child_w), str(self.threads), str(os.getpid())],
                pass_fds=(to_child_r, from_child_w), stdin=subprocess.DEVNULL, env=env)
        finally:
            os.close(to_child_r)
            os.close(from_child_w)
        self.outbox = Connection(to_child_w, readable=False)
        self.inbox = Connection(from_child_r, writable=False)
        if not self.inbox.poll(START_TIMEOUT_S):
            self.kill()
            raise RuntimeError(f"a worker process did not start within {START_TIMEOUT_S:g} s")
        try:
            self.inbox.recv()  # "ready"
        except EOFError:
            code = self.kill()
            raise RuntimeError(f"a worker process failed to start ({death_reason(code)})") from None

    def run(self, job: Job, timeout_s: float | None = None) -> Record:
        """Run ``job`` in the worker; a timeout or a dead worker gives a failed record.

        ``timeout_s`` limits the job's coding (encode, decode, metrics), not its set-up, which
        has ``max(setup_timeout_s, timeout_s)`` (see the module docstring); None: no limits.
        """
        if self.proc is None:
            try:
                self.start()
            except RuntimeError as exc:
                return crashed_record(job, str(exc))
        assert self.inbox is not None and self.outbox is not None
        try:
            self.outbox.send(job)
        except (BrokenPipeError, OSError):
            return crashed_record(job, death_reason(self.kill()))
        setup_s = None if timeout_s is None else max(self.setup_timeout_s, timeout_s)
        if not self.inbox.poll(setup_s):
            self.kill()
            return crashed_record(job, f"set-up (loading the image, building the codec, loading its model) took "
                                       f"over {setup_s:g} s (the worker process was killed); check the checkpoint "
                                       "or tool it loads")
        try:
            message = self.inbox.recv()
            if message != CODING:  # the job ended during set-up: its failed record
                return message
            if not self.inbox.poll(timeout_s):
                self.kill()
                return crashed_record(job, f"timed out after {timeout_s:g} s (the worker process was killed)")
            return self.inbox.recv()
        except (EOFError, OSError):
            return crashed_record(job, death_reason(self.kill()))

    def kill(self) -> int | None:
        """Kill the worker (if alive) and return its exit status (None when we had to kill it)."""
        code = None
        self.hang_up()
        if self.proc is not None:
            if self.proc.poll() is None:
                # A worker that just died may not be reaped yet: give it a moment before SIGKILL,
                # so its own exit status (e.g. the OOM killer's SIGKILL) is what we report.
                try:
                    code = self.proc.wait(timeout=0.2)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()  # our own SIGKILL says nothing about the job: code stays None
            else:
                code = self.proc.returncode
        if self.inbox is not None:
            self.inbox.close()
        self.proc = self.inbox = None
        return code

    def hang_up(self) -> None:
        """Close the job pipe: an idle worker reads end-of-file and exits by itself."""
        if self.outbox is not None:
            self.outbox.close()
            self.outbox = None

    close = kill
