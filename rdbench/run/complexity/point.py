"""Measuring one complexity point (one codec configuration, quality and image size) in this process.

* **Peak memory** (:class:`~rdbench.run.complexity.memory.DeviceMemory`) over one
  encode+decode (``peak_mem_bytes``) and over one model forward (``forward_peak_mem_bytes``).
  That first encode/decode/forward is also the warm-up.
* **Times**: median of ``repeat`` runs after the warm-up, each followed by ``codec.synchronize()``.
* **FLOPs** (:func:`~rdbench.run.complexity.flops.count_forward`) of one model forward, and the
  decoder MACs per pixel among them (:mod:`~rdbench.run.complexity.decoder`; when the model's
  encoder cannot be told apart, None and ``extra["decoder_macs_missing"]`` says why).
* **Out of memory** at a size is recorded with status ``oom`` and the sweep goes on; any other
  failure is recorded as ``failed``. Nothing a codec raises stops a sweep.

Learned codecs (subclasses of :class:`~rdbench.codecs.learned.base.LearnedCodec`) declare
``torch_model(quality)`` (the ``nn.Module``) and ``forward_input(image)`` (the tensor its
``forward`` takes), so their forward pass is timed and its FLOPs counted; other codecs
(classical, external) get encode/decode time and memory only.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from rdbench.codecs.base import (
    Codec,
    CodecConfig,
    CodecContext,
    Quality,
    format_quality,
)
from rdbench.run.complexity.flops import count_forward
from rdbench.run.complexity.inputs import (
    Size,
    dimensions,
    resized_image,
    synthetic_image,
)
from rdbench.run.complexity.memory import DeviceMemory
from rdbench.run.jobs import is_out_of_memory
from rdbench.store.record import STATUS_FAILED, STATUS_OOM, SYNTHETIC, ComplexityPoint


def new_point(config: CodecConfig, context: CodecContext, quality: Quality, size: Size, repeat: int,
              image_path: str | None) -> ComplexityPoint:
    """The point's identity and provenance, before anything is measured.

    The GPU's name is left to the process that measures: asking for it initialises CUDA, which
    the parent of a fresh worker must not do (its context would hold device memory).
    """
    from rdbench.run.environment import cpu_name, rdbench_version

    height, width = dimensions(size)
    return ComplexityPoint(
        codec=config.name, config_hash=config.config_hash, quality=format_quality(quality),
        device=context.device, machine=cpu_name(), height=height, width=width, pixels=height * width,
        image=Path(image_path).name if image_path else SYNTHETIC, repeat=repeat,
        rdbench_version=rdbench_version(), created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )


def measure_point(config: CodecConfig, context: CodecContext, quality: Quality, size: Size, repeat: int = 3,
                  image_path: str | None = None, flops_only: bool = False,
                  forward_only: bool = False) -> ComplexityPoint:
    """Measure one point in the current process (the CLI calls it in a fresh worker).

    ``flops_only`` counts FLOPs and nothing else (a codec without a torch model is then a failed
    point); ``forward_only`` skips encode/decode (the
    model forward alone reaches larger sizes in the time a sweep has).
    """
    from rdbench.codecs.learned.base import LearnedCodec
    from rdbench.codecs.registry import load_adapter
    from rdbench.run.environment import gpu_name

    point = new_point(config, context, quality, size, repeat, image_path)
    point.gpu = gpu_name(context.device)
    codec: Codec | None = None
    try:
        image = resized_image(image_path, size) if image_path else synthetic_image(size)
        codec = load_adapter(config.adapter)(config, context)
        codec.prepare(quality)
        model = codec.torch_model(quality) if isinstance(codec, LearnedCodec) else None
        inputs = codec.forward_input(image) if model is not None else None
        if model is not None and inputs is not None:
            _count_flops(model, inputs, point)
        if flops_only and model is None:
            raise ValueError(f"{config.name} is not a torch model: --flops-only has no FLOPs to count")
        if flops_only:  # stored like any point: status ok, flops set, times and memory None
            point.extra["flops_only"] = True
            return point
        if forward_only and model is None:
            raise ValueError(f"{config.name} is not a torch model: --forward-only has nothing to run")
        if forward_only:
            point.extra["forward_only"] = True
        else:
            _measure_coding(codec, image, quality, repeat, point)
        if model is not None and inputs is not None:
            import torch

            with torch.no_grad():
                with DeviceMemory(context.device) as memory:  # memory pass = warm-up
                    model(inputs)
                    codec.synchronize()
                point.forward_peak_mem_bytes = memory.peak
                point.forward_s = _median_time(lambda: model(inputs), codec.synchronize, repeat)
    except Exception as exc:  # recorded, never fatal: the sweep goes on
        point.status = STATUS_OOM if is_out_of_memory(exc) else STATUS_FAILED
        point.error = f"{type(exc).__name__}: {' '.join(str(exc).split())}"[:500]
    finally:
        if codec is not None:
            codec.close()
        if context.device.startswith("cuda"):  # give an out-of-memory size's cache back for the next point
            import torch

            torch.cuda.empty_cache()
    return point


def _count_flops(model: Any, inputs: Any, point: ComplexityPoint) -> None:
    """Forward FLOPs and decoder MACs per pixel of ``point``, counted once over one forward."""
    count = count_forward(model, inputs)
    point.flops, point.extra["flops_method"] = count.flops, count.method
    point.decoder_macs_per_px = count.decoder_macs_per_px(point.pixels)
    if count.decoder_missing:
        point.extra["decoder_macs_missing"] = count.decoder_missing


def _measure_coding(codec: Codec, image: np.ndarray, quality: Quality, repeat: int, point: ComplexityPoint) -> None:
    """Peak memory over one encode+decode (also the warm-up), then median encode/decode times."""
    with DeviceMemory(point.device) as memory:
        data = codec.encode(image, quality)
        codec.synchronize()
        codec.decode(data, quality)
        codec.synchronize()
    point.peak_mem_bytes = memory.peak
    point.num_bytes = len(data)
    point.bpp = 8.0 * len(data) / point.pixels
    point.encode_s = _median_time(lambda: codec.encode(image, quality), codec.synchronize, repeat)
    point.decode_s = _median_time(lambda: codec.decode(data, quality), codec.synchronize, repeat)


def _median_time(run: Callable[[], Any], synchronize: Callable[[], None], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)
