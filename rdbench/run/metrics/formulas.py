"""The measures as the learned-compression literature defines them, and MS-SSIM's constants.

Kept apart from how MS-SSIM is computed (:mod:`.engine`, :mod:`.device`) so that analysis code,
which only converts stored values (PSNR from a mean MSE, MS-SSIM in dB), imports neither the
engine nor torch.

* bpp = 8 * (all bytes a decoder needs) / (H * W of the original image).
* PSNR on 8-bit RGB: MSE pooled over the three channels of the uint8 reconstruction (a model's
  float output must be rounded, not truncated, before it gets here), 255 peak, the MSE exact.
* MS-SSIM: pytorch_msssim's value on RGB with ``data_range=255`` (what CompressAI's evaluation
  and the MLIC papers report), also in dB as ``-10 * log10(1 - ms_ssim)``; undefined (None)
  below :data:`MS_SSIM_MIN_SIDE` pixels on a side rather than a number from another definition.
  How it is computed, and why that is the same number: ``docs/metrics-engine.md``.
"""

from __future__ import annotations

import math

import numpy as np

from rdbench.run.metrics.blas import single_threaded_blas

#: Smallest side MS-SSIM with the standard 11x11 window and 5 scales accepts.
MS_SSIM_MIN_SIDE = 161
#: ``pytorch_msssim.ssim._fspecial_gauss_1d(11, 1.5)``: the float32 values, written exactly.
#: Computing the window again (even in float32 with numpy) can differ in the last bit, which
#: moves MS-SSIM by ~5e-7; the test suite checks these against pytorch_msssim's own.
GAUSSIAN_WINDOW = tuple(float.fromhex(h) for h in (
    "0x1.0d957p-10", "0x1.f1fe02p-8", "0x1.26eb18p-5", "0x1.bff0fep-4", "0x1.b43c3ep-3", "0x1.10656p-2",
    "0x1.b43c3ep-3", "0x1.bff0fep-4", "0x1.26eb18p-5", "0x1.f1fe02p-8", "0x1.0d957p-10"))
MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
DATA_RANGE = 255.0
C1 = (0.01 * DATA_RANGE) ** 2
C2 = (0.03 * DATA_RANGE) ** 2


def bpp(num_bytes: int, height: int, width: int) -> float:
    return 8.0 * num_bytes / (height * width)


def mse(original: np.ndarray, reconstruction: np.ndarray) -> float:
    """Mean squared error over every sample of two uint8 images, exact."""
    check_pair(original, reconstruction)
    return sum_squared_error(original, reconstruction) / original.size


def psnr_from_mse(value: float, peak: float = 255.0) -> float:
    return math.inf if value == 0 else 10.0 * math.log10(peak * peak / value)


def psnr(original: np.ndarray, reconstruction: np.ndarray) -> float:
    return psnr_from_mse(mse(original, reconstruction))


def ms_ssim_db(value: float | None) -> float | None:
    if value is None:
        return None
    return math.inf if value >= 1.0 else -10.0 * math.log10(1.0 - value)


def check_pair(original: np.ndarray, reconstruction: np.ndarray) -> None:
    """Refuse a pair the measures are not defined on (another shape, or not uint8)."""
    if original.shape != reconstruction.shape:
        raise ValueError(f"reconstruction shape {reconstruction.shape} differs from original {original.shape}")
    if original.dtype != np.uint8 or reconstruction.dtype != np.uint8:
        raise ValueError("metrics take uint8 images (round a model's output to uint8 first)")


#: Samples per chunk: the float64 temporaries stay in cache.
_SSE_CHUNK = 1 << 16


def sum_squared_error(a: np.ndarray, b: np.ndarray) -> float:
    """Sum of (a - b)² over uint8 arrays, exact: int16 differences, squared in float64 (exact
    integers), summed with BLAS in chunks that stay in cache."""
    flat_a, flat_b = a.reshape(-1), b.reshape(-1)
    n = flat_a.size
    diff = np.empty(min(n, _SSE_CHUNK), dtype=np.int16)
    wide = np.empty(min(n, _SSE_CHUNK), dtype=np.float64)
    total = 0.0
    with single_threaded_blas():
        for start in range(0, n, _SSE_CHUNK):
            stop = min(n, start + _SSE_CHUNK)
            d, w = diff[:stop - start], wide[:stop - start]
            np.subtract(flat_a[start:stop], flat_b[start:stop], out=d, dtype=np.int16)
            np.copyto(w, d)
            total += float(np.dot(w, w))  # integers below 2**53: every partial sum is exact
    return total
