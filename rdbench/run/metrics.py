"""Distortion and rate measures, computed as the learned-compression literature does.

* bpp = 8 * (all bytes a decoder needs) / (H * W of the original image).
* PSNR on 8-bit RGB: MSE pooled over the three channels of the uint8 reconstruction
  (a model's float output must be rounded, not truncated, before it gets here), 255 peak.
* MS-SSIM: ``pytorch_msssim.ms_ssim`` on RGB at ``data_range=255`` (the implementation used by
  CompressAI's evaluation and the MLIC papers), also reported in dB as
  ``-10 * log10(1 - ms_ssim)``. MS-SSIM's five scales need both sides >= 161 pixels; smaller
  images get ``None`` rather than a number computed on a different definition.
"""

from __future__ import annotations

import math

import numpy as np

#: Smallest side MS-SSIM with the standard 11x11 window and 5 scales accepts.
MS_SSIM_MIN_SIDE = 161


def bpp(num_bytes: int, height: int, width: int) -> float:
    return 8.0 * num_bytes / (height * width)


def mse(original: np.ndarray, reconstruction: np.ndarray) -> float:
    _check_pair(original, reconstruction)
    diff = original.astype(np.int32) - reconstruction.astype(np.int32)
    return float(np.mean(diff * diff, dtype=np.float64))


def psnr_from_mse(value: float, peak: float = 255.0) -> float:
    return math.inf if value == 0 else 10.0 * math.log10(peak * peak / value)


def psnr(original: np.ndarray, reconstruction: np.ndarray) -> float:
    return psnr_from_mse(mse(original, reconstruction))


def ms_ssim(original: np.ndarray, reconstruction: np.ndarray) -> float | None:
    """MS-SSIM of two uint8 RGB images, or None when the image is too small for 5 scales."""
    _check_pair(original, reconstruction)
    if min(original.shape[:2]) < MS_SSIM_MIN_SIDE:
        return None
    import torch
    from pytorch_msssim import ms_ssim as _ms_ssim

    def as_tensor(a: np.ndarray) -> "torch.Tensor":
        return torch.from_numpy(np.array(a, dtype=np.float32)).permute(2, 0, 1)[None]

    with torch.inference_mode():
        value = _ms_ssim(as_tensor(original), as_tensor(reconstruction), data_range=255.0, size_average=True)
    return float(value)


def ms_ssim_db(value: float | None) -> float | None:
    if value is None:
        return None
    return math.inf if value >= 1.0 else -10.0 * math.log10(1.0 - value)


def _check_pair(original: np.ndarray, reconstruction: np.ndarray) -> None:
    if original.shape != reconstruction.shape:
        raise ValueError(f"reconstruction shape {reconstruction.shape} differs from original {original.shape}")
    if original.dtype != np.uint8 or reconstruction.dtype != np.uint8:
        raise ValueError("metrics take uint8 images (round a model's output to uint8 first)")
