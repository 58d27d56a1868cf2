"""PSNR on the 10-bit Y', Cb and Cr planes, their 6:1:1 mean, and PSNR-HVS on Y'.

Why these: JPEG AI reports PSNR per plane of its 10-bit Y'CbCr (peak 1023), JVET combines them as
(6 Y + U + V) / 8, and JPEG AI's PSNR-HVS is ``psnr_hvsm``'s PSNR-HVS (not -M) on Y' in [0, 1].

The framework's PSNR: the mean of squared differences of the codes (float32 ``code / 1023 * 1023``,
which is the code exactly), ``20 log10(1023) - 10 log10(mse)``, and 100 for identical planes. Here
the squared differences are integers summed exactly in float64.
"""

from __future__ import annotations

import contextlib
import io
import math
from functools import lru_cache
from typing import Any

import numpy as np

from rdbench.run.metrics.jpegai import colour
from rdbench.run.metrics.jpegai.inputs import device_of

#: the value of identical planes (the framework's; an infinite PSNR is not a number a table can hold)
IDENTICAL = 100.0
#: JVET's weights of Y', Cb, Cr in the combined PSNR
YUV_WEIGHTS = (6.0, 1.0, 1.0)


def plane_psnr(original: Any, reconstruction: Any, plane: str) -> float:
    """PSNR of one 10-bit plane (``y``, ``u`` or ``v``), peak 1023; on the device of a tensor image
    (the integer differences squared and summed exactly in float64 there)."""
    a = colour.planes(original).plane(plane)
    b = colour.planes(reconstruction).plane(plane)
    if isinstance(a, np.ndarray) and isinstance(b, np.ndarray):
        d = np.subtract(a, b, dtype=np.int32).astype(np.float64).ravel()
        mse = float(np.dot(d, d)) / d.size
    else:
        import torch

        device = device_of(original, reconstruction)
        a, b = (torch.as_tensor(p).to(device, torch.int32) for p in (a, b))
        mse = float((a - b).double().square().sum()) / a.numel()
    if mse == 0.0:
        return IDENTICAL
    return 20.0 * math.log10(colour.PEAK) - 10.0 * math.log10(mse)


def psnr_y(original: Any, reconstruction: Any) -> float:
    return plane_psnr(original, reconstruction, "y")


def psnr_u(original: Any, reconstruction: Any) -> float:
    return plane_psnr(original, reconstruction, "u")


def psnr_v(original: Any, reconstruction: Any) -> float:
    return plane_psnr(original, reconstruction, "v")


def psnr_yuv(original: Any, reconstruction: Any) -> float:
    """(6 PSNR-Y + PSNR-U + PSNR-V) / 8: JVET's weighted mean of the per-plane PSNRs."""
    values = [plane_psnr(original, reconstruction, p) for p in ("y", "u", "v")]
    return sum(w * v for w, v in zip(YUV_WEIGHTS, values)) / sum(YUV_WEIGHTS)


def pad_to_multiple(plane: np.ndarray, multiple: int) -> np.ndarray:
    """Repeat the last row and column until both sides are multiples of ``multiple`` (the
    framework's replicate padding before PSNR-HVS's 8x8 blocks)."""
    h, w = plane.shape
    return np.pad(plane, ((0, -h % multiple), (0, -w % multiple)), mode="edge")


def psnr_hvs(original: Any, reconstruction: Any) -> float:
    """PSNR-HVS (Egiazarian et al. 2006) of Y' in [0, 1] (float64), padded to a multiple of 8.
    ``psnr_hvsm`` computes on the host: a tensor image's Y' codes are copied there (one int32 plane)."""
    a, b = (_host(colour.planes(image).y) for image in (original, reconstruction))
    a = pad_to_multiple(colour.unit(a), 8).astype(np.float64)
    b = pad_to_multiple(colour.unit(b), 8).astype(np.float64)
    value, _ = _psnr_hvs_hvsm()(a, b)
    return float(value)


def _host(codes: Any) -> np.ndarray:
    return codes if isinstance(codes, np.ndarray) else codes.cpu().numpy()


@lru_cache(maxsize=1)
def _psnr_hvs_hvsm() -> Any:
    """``psnr_hvsm``'s C++ ``psnr_hvs_hvsm``, the only one of its 0.1 releases (which the framework
    pins) and one of the backends of later ones; importing it prints notes about optional backends,
    kept off stdout."""
    with contextlib.redirect_stdout(io.StringIO()):
        import psnr_hvsm
    backends = getattr(psnr_hvsm, "BACKENDS", None)
    return backends["cpp"]["psnr_hvs_hvsm"] if backends else psnr_hvsm.psnr_hvs_hvsm
