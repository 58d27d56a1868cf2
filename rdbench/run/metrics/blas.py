"""OpenBLAS's thread count: read for a record's timing conditions, set per job, and held at one
during the metrics.

Why one during the metrics: OpenBLAS decides per call whether to start threads, and did for the
engine's small matrix products; with other work on the cores its spinning threads made a pass
several times slower, and spinning after the metrics would steal time from the next image's timed
encode (``bench/results/metrics_cpu.md``). The metrics are single-threaded by design: threads of
their own share a scale's strips (:mod:`.threads`).

The libraries are found and driven through ``threadpoolctl``; only OpenBLAS is touched (numpy's
wheels bundle it), other BLAS libraries are left as they are, as before.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from threadpoolctl import ThreadpoolController

#: held while this module changes a thread count: the nesting below, and one setter at a time
_LOCK = threading.Lock()
_USERS = 0
_BEFORE: list[int] = []


@functools.cache
def _openblas() -> tuple[Any, ...]:
    """threadpoolctl's controller of every OpenBLAS loaded in this process when first asked
    (numpy is loaded by then); empty where numpy uses another BLAS."""
    return tuple(ThreadpoolController().select(internal_api="openblas").lib_controllers)


def _set(library: Any, threads: int) -> None:
    """Set ``library``'s thread count from whichever thread calls.

    threadpoolctl (3.8 on) lets only one Python thread change a process-wide OpenBLAS pool and
    silently ignores the others; the thread that sets a count here gives that role back at once,
    so the metrics in any thread (a Dask worker's, the engine's pool) set it as before.
    """
    library.set_num_threads(int(threads))
    release = getattr(library, "clear_controlling_thread", None)  # absent before threadpoolctl 3.8
    if release is not None:
        release()


def blas_threads() -> int | None:
    """OpenBLAS's thread count now (the first OpenBLAS loaded), as a record's timing conditions
    store it; None where numpy uses another BLAS."""
    libraries = _openblas()
    return int(libraries[0].get_num_threads()) if libraries else None


def set_blas_threads(threads: int) -> None:
    """Give every OpenBLAS loaded in this process ``threads`` threads (outside the metrics, which
    keep it on one, :func:`single_threaded_blas`); nothing where numpy uses another BLAS."""
    with _LOCK:  # one thread sets at a time, so none is refused as not threadpoolctl's controller
        for library in _openblas():
            _set(library, threads)


@contextmanager
def single_threaded_blas() -> Iterator[None]:
    """Run the block with OpenBLAS on one thread, then restore its thread count.

    Blocks may nest and overlap across threads: the first one in sets the count, the last one out
    restores it (threadpoolctl's own ``limit`` restores per block, which would hand a block still
    running in another thread the full count back).
    """
    global _USERS, _BEFORE
    libraries = _openblas()
    with _LOCK:
        if _USERS == 0:
            _BEFORE = [library.get_num_threads() for library in libraries]
            for library, count in zip(libraries, _BEFORE):
                if count != 1:
                    _set(library, 1)
        _USERS += 1
    try:
        yield
    finally:
        with _LOCK:
            _USERS -= 1
            if _USERS == 0:
                for library, count in zip(libraries, _BEFORE):
                    if count != 1:
                        _set(library, count)
