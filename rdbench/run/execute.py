"""Running planned jobs: executor -> records -> store, one committed record per finished job.

Only this loop writes the store (never a worker), so a killed run loses at most the jobs in
flight and every executor gets the same resume and de-duplication guarantees.
"""

from __future__ import annotations

from collections.abc import Callable

from rdbench.run.environment import cpu_name, git_commit, gpu_name, rdbench_version
from rdbench.run.executors import Executor
from rdbench.run.jobs import Job
from rdbench.store.record import Record
from rdbench.store.sqlite import Store


def stamp(record: Record, device: str) -> Record:
    """Add the facts of where and with what the record was made."""
    record.rdbench_version = rdbench_version()
    record.git_commit = git_commit()
    record.machine = cpu_name()
    record.gpu = gpu_name(device)
    return record


def execute(
    store: Store,
    jobs: list[Job],
    executor: Executor,
    on_record: Callable[[Record], None] | None = None,
) -> tuple[int, int]:
    """Run ``jobs`` on ``executor``, committing each record as it arrives. Returns (ok, failed)."""
    ok = failed = 0
    configs = {job.config.config_hash: job.config.to_dict() for job in jobs}
    for record in executor.run(jobs):
        stamp(record, record.device)
        store.put(record, configs.get(record.config_hash))
        if record.ok:
            ok += 1
        else:
            failed += 1
        if on_record:
            on_record(record)
    return ok, failed
