"""Executors turn a list of jobs into a stream of records; the caller alone writes the store.

``local`` (the default): with ``--jobs 1`` the jobs run in this process (no pickling, no
worker start-up: the lowest overhead, which matters for fast codecs); with ``--jobs N`` they run
in N worker processes started with ``spawn`` (safe with torch and threads), each limited to
``cpu_count // N`` torch threads so workers do not oversubscribe the cores.

Records are yielded as jobs finish, in completion order. Jobs whose worker died (a codec that
segfaults takes its process down) come back as failed records and the pool is restarted for
the remaining jobs.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from datetime import datetime, timezone

from rdbench.jobs import Job, run_job
from rdbench.record import STATUS_FAILED, Record


def _init_worker(threads: int) -> None:
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    try:
        import torch

        torch.set_num_threads(threads)
    except ImportError:
        pass


def crashed_record(job: Job, reason: str) -> Record:
    return Record(
        codec=job.config.name, config_hash=job.config.config_hash, quality=job.quality,
        dataset=job.dataset, image=job.image_name, image_hash=job.image_hash, device=job.context.device,
        status=STATUS_FAILED, error=reason, created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )


class LocalExecutor:
    """Run jobs in this process (jobs=1) or a pool of spawned worker processes."""

    name = "local"

    def __init__(self, jobs: int = 1) -> None:
        self.jobs = max(1, jobs)

    def run(self, jobs: list[Job]) -> Iterator[Record]:
        if self.jobs == 1 or len(jobs) <= 1:
            for job in jobs:
                yield run_job(job)
            return
        yield from self._run_pool(jobs)

    def _pool(self, workers: int) -> ProcessPoolExecutor:
        threads = max(1, (os.cpu_count() or 1) // workers)
        return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=_init_worker, initargs=(threads,))

    def _run_pool(self, jobs: list[Job]) -> Iterator[Record]:
        pending = list(reversed(jobs))
        while pending:
            orphans: list[Job] = []
            pool = self._pool(self.jobs)
            in_flight: dict[Future, Job] = {}
            try:
                while pending or in_flight:
                    while pending and len(in_flight) < 2 * self.jobs and not orphans:
                        job = pending.pop()
                        in_flight[pool.submit(run_job, job)] = job
                    done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                    for future in done:
                        job = in_flight.pop(future)
                        try:
                            yield future.result()
                        except BrokenProcessPool:
                            orphans.append(job)
                    if orphans and not in_flight:
                        break
            finally:
                pool.shutdown(wait=True, cancel_futures=True)
            # A dead worker breaks the whole pool, so the culprit is unknown: rerun each job that
            # was in flight alone; only the one that kills its process again is marked failed.
            for job in orphans:
                yield self._isolated(job)

    def _isolated(self, job: Job) -> Record:
        pool = self._pool(1)
        try:
            return pool.submit(run_job, job).result()
        except BrokenProcessPool:
            return crashed_record(job, "worker process died (crash or out of memory) while running this job")
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


EXECUTORS = {"local": LocalExecutor}
