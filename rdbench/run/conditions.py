"""The conditions a record's times were measured under, and the one thread count a job runs with.

Why: a codec's encode and decode times depend on more than the codec. Measured on 96 Kodak jobs
of a small learned model: ``--jobs 1`` against ``--jobs 2`` gave 0.082 against 0.116 s to encode
and 0.107 against 0.157 s to decode per image, because each of two workers had half the cores
for torch. A run resumed later under other conditions used to average both into one mean. So
every record stores, in ``extra["timing"]`` (:func:`thread_facts` in the process that measured,
:func:`run_conditions` by the run that stored it):

* ``torch_threads``: torch's intra-op thread count while the codec ran (None for codecs that do
  not use torch); ``blas_threads``: OpenBLAS's thread count (None where numpy has none);
  ``metric_threads``: the threads :func:`rdbench.run.metrics.dispatch.distortion` shared its work among;
* ``run_id``: which invocation measured it (a resumed run has another); ``executor``
  (``local``/``dask``), ``jobs`` (``--jobs``), ``processes`` (``in-process``, ``workers`` or
  ``dask-tasks``), ``peak_memory`` (``--peak-memory``: it changes the times, measure.py);
* ``machine`` (the CPU's name), ``cpus`` and ``load_at_start``: the 1-minute load average when
  the run started (a busy machine slows every codec; nothing else records that it was busy).

:func:`timing_key` is what must be equal for two records' times to share a mean
(:func:`rdbench.analysis.aggregate.aggregate` flags rows that would mix them); ``run_id`` and the
load are kept for the reader, not compared.

One thread count per job (:func:`job_threads`): ``--threads N``, default ``cores // --jobs``,
applied alike to torch, OpenMP/BLAS and the metrics, in process and in every worker
(:func:`use_threads`). The metrics give the same value for any thread count; a learned codec's
reconstruction may not (torch's convolutions sum in an order that depends on its thread count),
so the same ``--threads`` gives identical numbers under any ``--jobs``; docs/guarantees.md.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rdbench.run.environment import cpu_name
from rdbench.run.metrics import threads as metric_threads
from rdbench.run.metrics.blas import blas_threads, set_blas_threads

#: Thread-count variables a worker starts with: OpenMP (torch's intra-op pool reads it when torch
#: is first imported) and the BLAS libraries numpy may use.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")

#: The fields of ``extra["timing"]`` that must agree for times to be averaged together.
TIMING_KEY_FIELDS = ("machine", "cpus", "executor", "jobs", "processes", "torch_threads", "blas_threads",
                     "peak_memory")


def job_threads(jobs: int, threads: int | None = None) -> int:
    """Threads each of ``jobs`` concurrent jobs gets: ``threads`` when given (``--threads``),
    else the cores shared evenly (at least one), so workers do not oversubscribe the cores."""
    if threads is not None:
        return max(1, int(threads))
    return max(1, (os.cpu_count() or 1) // max(1, jobs))


def set_threads(threads: int) -> None:
    """Give torch (if imported), OpenBLAS, OpenMP/BLAS libraries loaded from now on (through
    their variables) and the metrics ``threads`` threads in this process."""
    for name in THREAD_VARIABLES:
        os.environ[name] = str(threads)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(threads)
    set_blas_threads(threads)
    metric_threads.set_threads(threads)


@contextmanager
def use_threads(threads: int) -> Iterator[None]:
    """:func:`set_threads` for the block, then the previous counts back (jobs run in this process
    must not leave the caller's torch with another thread count)."""
    before_env = {name: os.environ.get(name) for name in THREAD_VARIABLES}
    torch = sys.modules.get("torch")
    before_torch = torch.get_num_threads() if torch is not None else None
    before_metrics = metric_threads.get_threads()
    before_blas = blas_threads()
    set_threads(threads)
    try:
        yield
    finally:
        for name, value in before_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        torch = sys.modules.get("torch")
        if torch is not None:
            # torch imported inside the block started with `threads` (the variables): back to the default
            torch.set_num_threads(before_torch if before_torch is not None else job_threads(1))
        metric_threads.set_threads(before_metrics)
        if before_blas is not None:
            set_blas_threads(before_blas)


def thread_facts(uses_torch: bool) -> dict[str, Any]:
    """The thread counts in effect in this process now, as a job's record stores them."""
    torch = sys.modules.get("torch") if uses_torch else None
    return {
        "torch_threads": torch.get_num_threads() if torch is not None else None,
        "blas_threads": blas_threads(),
        "metric_threads": metric_threads.get_threads(),
    }


def load_average() -> float | None:
    """The 1-minute load average (None where the system has none)."""
    try:
        return round(os.getloadavg()[0], 2)
    except (OSError, AttributeError):
        return None


def run_conditions(*, executor: str, jobs: int | None, processes: str, peak_memory: bool) -> dict[str, Any]:
    """The facts of one run shared by all its records (a fresh ``run_id`` per call)."""
    return {
        "run_id": uuid.uuid4().hex[:12],
        "executor": executor,
        "jobs": jobs,
        "processes": processes,
        "peak_memory": peak_memory,
        "machine": cpu_name(),
        "cpus": os.cpu_count(),
        "load_at_start": load_average(),
    }


def timing_key(extra: dict[str, Any]) -> tuple[Any, ...] | None:
    """What must be equal for two records' times to be averaged together; None for records
    stored before rdbench recorded it (conditions unknown)."""
    timing = extra.get("timing")
    if not isinstance(timing, dict):
        return None
    return tuple(timing.get(name) for name in TIMING_KEY_FIELDS)


def describe_key(key: tuple[Any, ...] | None) -> str:
    """A timing key in words, for notes."""
    if key is None:
        return "unknown (stored before rdbench recorded timing conditions)"
    return ", ".join(f"{name}={value}" for name, value in zip(TIMING_KEY_FIELDS, key) if name != "machine")
