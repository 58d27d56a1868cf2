"""Executors: where jobs run. Every executor takes the planned jobs and yields one record per
job as it finishes (completion order); only the caller writes the store, so resuming and the
store's unique key hold the same way for every executor.

* ``local`` (:mod:`.local`): in this process, or in supervised worker processes (:mod:`.worker`);
* ``dask`` (:mod:`.dask`): tasks on an existing Dask cluster.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol

from rdbench.errors import UsageError
from rdbench.run.checks import check_timeout
from rdbench.run.jobs import Job
from rdbench.store.record import Record

EXECUTORS = ("local", "dask")


class Executor(Protocol):
    """What :func:`rdbench.run.execute.execute` needs of an executor."""

    name: str

    def run(self, jobs: list[Job]) -> Iterator[Record]:
        """Yield one record per job, as each finishes."""
        ...

    def conditions(self, jobs: list[Job]) -> dict[str, Any]:
        """``executor``, ``jobs`` and ``processes`` of :func:`rdbench.run.conditions.run_conditions`
        for a run of ``jobs``."""
        ...


def make_executor(kind: str, *, jobs: int = 1, timeout_s: float | None = None,
                  scheduler: str | None = None, threads: int | None = None) -> Executor:
    """The executor named by ``--executor`` (Dask is imported only when asked for); ``threads``:
    ``--threads``, each job's torch/BLAS/metric threads."""
    check_timeout(timeout_s)  # before any job is planned: a limit no job can meet would store them all as failed
    if kind == "local":
        if scheduler:
            raise UsageError("--scheduler is for --executor dask")
        from rdbench.run.executors.local import LocalExecutor

        return LocalExecutor(jobs, timeout_s, threads)
    if kind == "dask":
        from rdbench.run.executors.dask import DaskExecutor

        if not scheduler:
            raise UsageError("--executor dask needs --scheduler tcp://HOST:PORT (the address `dask scheduler` prints)")
        return DaskExecutor(scheduler, timeout_s=timeout_s, threads=threads)
    raise UsageError(f"unknown executor {kind!r}; choose local or dask")
