"""The default executor: jobs in this process, or in N supervised worker processes.

With ``--jobs 1`` and no ``--timeout`` the jobs run in this process (no pickling, no worker
start-up: the lowest overhead, which matters for fast codecs), and the metrics use every core
(:func:`rdbench.run.metrics.set_threads`). Otherwise they run in N
:class:`~rdbench.run.executors.worker.WorkerProcess` es, each limited to ``cpu_count // N``
torch/OpenMP/BLAS and metric threads so workers do not oversubscribe the cores. Records are yielded as jobs
finish, in completion order; the caller alone writes the store.

Jobs run in :func:`~rdbench.run.jobs.locality_order`: the qualities of one image together for
codecs with nothing to load per quality, so each process decodes each image once; with worker
processes, a worker takes such a bundle (:func:`~rdbench.run.jobs.job_bundles`) whole.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Iterator

from rdbench.run.executors.worker import WorkerProcess, crashed_record
from rdbench.run.jobs import Job, job_bundles, locality_order, one_line, run_job
from rdbench.store.record import Record


class LocalExecutor:
    """Run jobs in this process (jobs=1, no timeout) or in N supervised worker processes."""

    name = "local"

    def __init__(self, jobs: int = 1, timeout_s: float | None = None) -> None:
        self.jobs = max(1, jobs)
        self.timeout_s = timeout_s

    def run(self, jobs: list[Job]) -> Iterator[Record]:
        if self.timeout_s is None and (self.jobs == 1 or len(jobs) <= 1):
            from rdbench.run import metrics

            before = metrics.get_threads()
            metrics.set_threads(os.cpu_count() or 1)  # the metrics run between jobs: every core is free
            try:
                for job in locality_order(jobs):
                    yield run_job(job)
            finally:
                metrics.set_threads(before)
            return
        yield from self._run_workers(jobs)

    def _run_workers(self, jobs: list[Job]) -> Iterator[Record]:
        bundles = job_bundles(jobs)
        if len(bundles) < self.jobs:  # too few to keep every worker busy: one job at a time instead
            bundles = [[job] for bundle in bundles for job in bundle]
        count = min(self.jobs, len(bundles))
        threads = max(1, (os.cpu_count() or 1) // count)
        todo: queue.SimpleQueue[list[Job]] = queue.SimpleQueue()
        for bundle in bundles:
            todo.put(bundle)
        done: queue.SimpleQueue[Record] = queue.SimpleQueue()
        stop = threading.Event()
        workers = [WorkerProcess(threads) for _ in range(count)]

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
