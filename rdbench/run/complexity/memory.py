"""Peak memory over a block of code, and the allocator settings that make it a block's own.

On GPU the CUDA allocator's peak above what was allocated before the block. On CPU the rise
of the resident-set high-water mark (:class:`rdbench.run.measure.PeakRSS`), which only means
something if freed memory leaves the resident set: glibc keeps freed heap memory resident and,
after large frees, serves later large tensors from that heap too, so the second block measured
in a process would show almost no rise. :class:`~rdbench.run.measure.PeakRSS` hands freed memory
back to the OS before each block (:func:`rdbench.run.measure.release_freed_memory`), and
:func:`rdbench.run.measure.fixed_mmap_threshold` (once per process) keeps large tensors out of the heap.
"""

from __future__ import annotations

from rdbench.run.measure import PeakRSS


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
            self.rss = PeakRSS().__enter__()  # hands freed memory back first
        return self

    def __exit__(self, *exc: object) -> None:
        if self.cuda:
            import torch

            torch.cuda.synchronize(self.device)
            self.peak = torch.cuda.max_memory_allocated(self.device) - self.start
        else:
            self.rss.__exit__(*exc)
            self.peak = self.rss.peak
