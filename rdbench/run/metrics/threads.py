"""The threads the CPU metrics share their work among, and the pool that runs them.

Why threads of their own rather than BLAS's: the engine's work is many small products and
elementwise passes, which OpenBLAS does not split well (:mod:`.blas` keeps it on one thread);
splitting a scale's strips among threads does, and each strip's sums are kept apart and added in
order, so the value does not depend on the number of threads.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

_THREADS = 1
_POOL: Any = None
_POOL_SIZE = 0
_POOL_LOCK = threading.Lock()


def set_threads(threads: int) -> None:
    """How many threads :func:`rdbench.run.metrics.dispatch.distortion` uses on the CPU (default
    1): the strips of each scale are shared among them. ``rdbench run`` gives the metrics the
    threads a job has (:func:`rdbench.run.conditions.job_threads`: ``--threads``, default cores //
    ``--jobs``). The result does not depend on it."""
    global _THREADS
    _THREADS = max(1, int(threads))


def get_threads() -> int:
    return _THREADS


def _thread_pool(helpers: int) -> Any:
    """A process-wide pool of at least ``helpers`` threads (idle threads block; they do not spin)."""
    global _POOL, _POOL_SIZE
    from concurrent.futures import ThreadPoolExecutor

    with _POOL_LOCK:
        if _POOL is None or _POOL_SIZE < helpers:
            if _POOL is not None:
                _POOL.shutdown(wait=False)  # its threads finish what they run, then exit
            _POOL = ThreadPoolExecutor(max_workers=helpers, thread_name_prefix="rdbench-metrics")
            _POOL_SIZE = helpers
        return _POOL


def share(work: Callable[..., None], *args: Any, count: int, threads: int) -> None:
    """Call ``work(part, span, *args)`` for up to ``threads`` contiguous slices ``span`` of
    range(count), part 0 on this thread and the others on the metrics' thread pool, and return
    when all are done. numpy releases the GIL in every step of the work, so the parts overlap."""
    parts = max(1, min(threads, count))
    bounds = [count * i // parts for i in range(parts + 1)]
    spans = [slice(bounds[i], bounds[i + 1]) for i in range(parts)]
    futures = [_thread_pool(parts - 1).submit(work, i, spans[i], *args) for i in range(1, parts)] if parts > 1 else []
    work(0, spans[0], *args)
    for future in futures:
        future.result()


class Counter:
    """0, 1, 2, ... one number per call, to any number of threads."""

    def __init__(self) -> None:
        self._next = 0
        self._lock = threading.Lock()

    def __call__(self) -> int:
        with self._lock:
            value = self._next
            self._next += 1
            return value
