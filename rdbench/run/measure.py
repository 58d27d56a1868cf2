"""Measuring one codec on one image at one quality: encode -> bytes -> decode -> metrics.

Timing: ``time.perf_counter`` around ``encode`` and around ``decode`` separately, each followed
by ``codec.synchronize()`` (a no-op on CPU, ``torch.cuda.synchronize`` for GPU adapters), with
the untimed ``prepare(quality)`` (model or checkpoint loading) done before.

Peak memory (``peak_mem_bytes``): on Linux the process's resident-set high-water mark is reset
to the current RSS before encoding (``/proc/self/clear_refs`` = 5) and read back after decoding
(``VmHWM``); the record stores the rise above the RSS at the start, i.e. the memory encode and
decode needed on top of what was already resident. GPU adapters add the peak allocated device
memory in ``extra["gpu_peak_mem_bytes"]``. Where ``clear_refs`` is not writable, the value is
None rather than a misleading lifetime maximum.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rdbench.codecs.base import Codec, Quality
from rdbench.data.images import check_rgb8
from rdbench.run import metrics


def _read_status_kib(field: str) -> int | None:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


class PeakRSS:
    """Resident-memory high-water mark of this process over a block of code."""

    def __enter__(self) -> "PeakRSS":
        self.start = _read_status_kib("VmRSS")
        try:
            with open("/proc/self/clear_refs", "w") as fh:
                fh.write("5")
            self.resettable = True
        except OSError:
            self.resettable = False
        self.peak: int | None = None
        return self

    def __exit__(self, *exc: object) -> None:
        high = _read_status_kib("VmHWM")
        if self.resettable and high is not None and self.start is not None:
            self.peak = max(0, high - self.start)


@dataclass
class Measurement:
    num_bytes: int
    bpp: float
    mse: float
    psnr: float
    ms_ssim: float | None
    ms_ssim_db: float | None
    encode_s: float
    decode_s: float
    peak_mem_bytes: int | None
    bitstream: bytes
    notes: dict[str, Any]


def measure(codec: Codec, image: np.ndarray, quality: Quality) -> Measurement:
    """Encode and decode ``image`` once with ``codec`` and compute every metric.

    Raises whatever the codec raises; the runner turns that into a failed record.
    """
    codec.prepare(quality)
    codec.notes = {}
    height, width = image.shape[:2]
    with PeakRSS() as rss:
        start = time.perf_counter()
        data = codec.encode(image, quality)
        codec.synchronize()
        encode_s = time.perf_counter() - start
        if not isinstance(data, (bytes, bytearray)):
            raise TypeError(f"{codec.name}.encode returned {type(data).__name__}, expected bytes")
        start = time.perf_counter()
        reconstruction = codec.decode(bytes(data), quality)
        codec.synchronize()
        decode_s = time.perf_counter() - start
    check_rgb8(reconstruction, f"{codec.name}.decode output")
    if reconstruction.shape != image.shape:
        raise ValueError(f"{codec.name} decoded {reconstruction.shape[1]}x{reconstruction.shape[0]} "
                         f"for a {width}x{height} image")
    mse = metrics.mse(image, reconstruction)
    ms_ssim = metrics.ms_ssim(image, reconstruction)
    notes = dict(codec.notes)
    if ms_ssim is None:
        notes["ms_ssim"] = f"image smaller than {metrics.MS_SSIM_MIN_SIDE} px on a side: MS-SSIM undefined"
    return Measurement(
        num_bytes=len(data),
        bpp=metrics.bpp(len(data), height, width),
        mse=mse,
        psnr=metrics.psnr_from_mse(mse),
        ms_ssim=ms_ssim,
        ms_ssim_db=metrics.ms_ssim_db(ms_ssim),
        encode_s=encode_s,
        decode_s=decode_s,
        peak_mem_bytes=rss.peak,
        bitstream=bytes(data),
        notes=notes,
    )


def keep_bitstream(folder: Path, codec: str, quality: str, image: str, data: bytes) -> Path:
    """Save a bitstream as ``folder/codec/quality/image.bin`` so results can be recomputed."""
    target = folder / codec / quality / (Path(image).stem + ".bin")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp")
    tmp.write_bytes(data)
    tmp.replace(target)
    return target
