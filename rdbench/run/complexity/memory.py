"""Peak memory over a block of code, and the allocator settings that make it a block's own.

On GPU the CUDA allocator's peak above what was allocated before the block. On CPU the rise
of the resident-set high-water mark (:class:`rdbench.run.measure.PeakRSS`), which only means
something if freed memory leaves the resident set: glibc keeps freed heap memory resident and,
after large frees, serves later large tensors from that heap too, so the second block measured
in a process would show almost no rise. :func:`fixed_mmap_threshold` (once per fresh worker)
and :func:`release_freed_memory` (before each block) prevent that.
"""

from __future__ import annotations

import ctypes
import ctypes.util

from rdbench.run.measure import PeakRSS


def _libc() -> ctypes.CDLL | None:
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None


def release_freed_memory() -> None:
    """Hand memory that was freed back to the OS (glibc ``malloc_trim``), so the resident set
    reflects live memory and the next block's peak is its own, not a leftover of the last one."""
    libc = _libc()
    if libc is not None and hasattr(libc, "malloc_trim"):
        libc.malloc_trim(0)


def fixed_mmap_threshold(threshold: int = 1 << 20) -> None:
    """Serve every allocation above ``threshold`` bytes by its own mmap, returned on free.

    glibc otherwise raises its mmap threshold after large frees and keeps later tensors on the
    heap, where freed memory stays resident: the second block measured would show ~0 rise.
    Called once in each fresh worker (M_MMAP_THRESHOLD = -3 in glibc's mallopt).
    """
    libc = _libc()
    if libc is not None and hasattr(libc, "mallopt"):
        libc.mallopt(-3, threshold)


class DeviceMemory:
    """Peak memory over a block, in bytes (``peak``, None where it cannot be measured): CUDA
    allocator peak on GPU, resident-set rise on CPU."""

    def __init__(self, device: str) -> None:
        self.cuda = device.startswith("cuda")
        self.device = device
        self.peak: int | None = None

    def __enter__(self) -> DeviceMemory:
        if self.cuda:
            import torch

            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self.start = torch.cuda.memory_allocated(self.device)
        else:
            release_freed_memory()
            self.rss = PeakRSS().__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.cuda:
            import torch

            torch.cuda.synchronize(self.device)
            self.peak = torch.cuda.max_memory_allocated(self.device) - self.start
        else:
            self.rss.__exit__(*exc)
            self.peak = self.rss.peak
