"""(MSE, MS-SSIM) of an image and its reconstruction, measured where the reconstruction is.

Why one entry point: a run measures every codec's output the same way, whether it is a numpy
array, a CPU tensor (the CPU engine, :mod:`.engine`) or a tensor on a GPU (torch there,
:mod:`.device`), and gets both numbers from one pass.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rdbench.run.metrics import engine
from rdbench.run.metrics.device import distortion_torch, is_device_tensor
from rdbench.run.metrics.formulas import MS_SSIM_MIN_SIDE, check_pair, mse


def distortion(original: Any, reconstruction: Any) -> tuple[float, float | None]:
    """(MSE, MS-SSIM) of an (H, W, 3) uint8 original and its reconstruction, in one pass.

    Either may be a numpy array or a torch tensor. A reconstruction on a device (CUDA) is
    measured there, in torch (:func:`rdbench.run.metrics.device.distortion_torch`), with the
    original moved to it; anything else on the CPU with numpy. MS-SSIM is None for images with a
    side below :data:`MS_SSIM_MIN_SIDE`.
    """
    if is_device_tensor(reconstruction) or is_device_tensor(original):
        return distortion_torch(original, reconstruction)
    original, reconstruction = _as_numpy(original), _as_numpy(reconstruction)
    check_pair(original, reconstruction)
    if original.ndim != 3 or original.shape[2] != 3 or min(original.shape[:2]) < MS_SSIM_MIN_SIDE:
        return mse(original, reconstruction), None
    return engine.measure(original, reconstruction)


def ms_ssim(original: np.ndarray, reconstruction: np.ndarray) -> float | None:
    """MS-SSIM of two uint8 RGB images (pytorch_msssim's value), or None when the image is too
    small for 5 scales."""
    check_pair(original, reconstruction)
    return distortion(original, reconstruction)[1]


def _as_numpy(x: Any) -> np.ndarray:
    """A numpy view of a CPU torch tensor (no copy); numpy arrays pass through."""
    if isinstance(x, np.ndarray):
        return x
    if hasattr(x, "detach") and hasattr(x, "numpy"):
        return x.detach().numpy()
    return np.asarray(x)
