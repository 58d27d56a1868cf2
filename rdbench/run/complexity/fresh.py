"""A complexity point measured in a fresh worker process of its own.

Why a fresh process per point: on CPU the peak resident memory of a process never goes down,
so measuring size 2048 after 256 in one process would say nothing about 256, and the
allocator's retained memory would blur every later point. The shared workers of
:mod:`rdbench.run.executors.worker` are long-lived (a model loaded once serves many images),
which is what a run wants and what this measurement must avoid.

The worker is a ``multiprocessing`` spawn child (a clean interpreter, no state inherited
from the parent); a worker the kernel kills (its out-of-memory killer, at a size too large)
is recorded as ``oom``.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from rdbench.codecs.base import CodecConfig, CodecContext, Quality
from rdbench.run.complexity.inputs import Size
from rdbench.run.complexity.point import measure_point, new_point
from rdbench.run.measure import fixed_mmap_threshold
from rdbench.store.record import STATUS_OOM, ComplexityPoint


def _worker(config: CodecConfig, context: CodecContext, quality: Quality, size: Size, repeat: int,
            image_path: str | None, flops_only: bool, forward_only: bool) -> dict[str, Any]:
    """Runs in the spawned process; returns the point as a dict (plain data across the pipe)."""
    fixed_mmap_threshold()
    if context.threads:
        import torch

        torch.set_num_threads(context.threads)
    return dataclasses.asdict(measure_point(config, context, quality, size, repeat, image_path, flops_only,
                                            forward_only))


def measure_point_fresh(config: CodecConfig, context: CodecContext, quality: Quality, size: Size, repeat: int = 3,
                        image_path: str | None = None, flops_only: bool = False,
                        forward_only: bool = False) -> ComplexityPoint:
    """:func:`~rdbench.run.complexity.point.measure_point` in a fresh spawned process."""
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        future = pool.submit(_worker, config, context, quality, size, repeat, image_path, flops_only, forward_only)
        try:
            return ComplexityPoint(**future.result())
        except BrokenProcessPool:
            point = new_point(config, context, quality, size, repeat, image_path)
            point.status = STATUS_OOM
            point.error = "worker process was killed (out of memory: the kernel's OOM killer)"
            return point
