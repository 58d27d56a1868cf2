"""MS-SSIM and IW-SSIM on the 10-bit Y' plane, as JPEG AI measures them.

* MS-SSIM: the framework's call, ``pytorch_msssim.ms_ssim`` on Y' codes (float32, 0..1023) with
  ``data_range=1023``, zero-padded to 164 px (five scales need 161), computed here with the same
  float32 steps but its Gaussian filtering done by :mod:`.filters` (5x faster on the CPU; the
  value moves by float32 rounding, under 1e-7 relative on the golden set).
* IW-SSIM (Wang and Li 2011): ``piq.information_weighted_ssim`` on Y' scaled to 0..255
  (float32 ``code / 1023 * 255``), zero-padded to 256 px, computed in float32 (5x faster than
  float64 with torch's CPU convolutions, and within 1e-6 of it on Kodak); the framework runs
  a port of the authors' MATLAB code on a pyrtools Laplacian pyramid instead, which differs from
  piq's pyramid at the borders (``docs/metrics.md`` gives by how much).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from rdbench.run.metrics.jpegai import colour
from rdbench.run.metrics.jpegai.filters import correlate2d, gaussian_taps
from rdbench.run.metrics.jpegai.inputs import device_of, luma

MS_SSIM_MIN = 164
IW_SSIM_MIN = 256
#: pytorch_msssim's defaults, which the framework keeps: scale weights, window, K1 and K2
MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
WINDOW, SIGMA, K1, K2 = 11, 1.5, 0.01, 0.03


def ms_ssim_tensors(x: torch.Tensor, y: torch.Tensor, data_range: float) -> torch.Tensor:
    """``pytorch_msssim.ms_ssim(x, y, data_range)`` of two (1, 1, H, W) float32 tensors, step for
    step (valid Gaussian filtering, cs clipped at 0, 2x2 average pooling padded on odd sides), as
    a 0-d tensor on their device."""
    taps = gaussian_taps(WINDOW, SIGMA)
    c1, c2 = (K1 * data_range) ** 2, (K2 * data_range) ** 2
    values = []
    for level in range(len(MS_SSIM_WEIGHTS)):
        mu1, mu2 = correlate2d(x, taps), correlate2d(y, taps)
        mu1_sq, mu2_sq, mu1_mu2 = mu1.pow(2), mu2.pow(2), mu1 * mu2
        sigma1_sq = correlate2d(x * x, taps) - mu1_sq
        sigma2_sq = correlate2d(y * y, taps) - mu2_sq
        sigma12 = correlate2d(x * y, taps) - mu1_mu2
        cs_map = (2 * sigma12 + c2) / (sigma1_sq + sigma2_sq + c2)
        if level == len(MS_SSIM_WEIGHTS) - 1:
            values.append(torch.relu((((2 * mu1_mu2 + c1) / (mu1_sq + mu2_sq + c1)) * cs_map).flatten(2).mean(-1)))
        else:
            values.append(torch.relu(cs_map.flatten(2).mean(-1)))
            padding = [s % 2 for s in x.shape[2:]]
            x = F.avg_pool2d(x, kernel_size=2, padding=padding)
            y = F.avg_pool2d(y, kernel_size=2, padding=padding)
    weights = x.new_tensor(MS_SSIM_WEIGHTS)
    return torch.prod(torch.stack(values) ** weights.view(-1, 1, 1), dim=0).mean()


def ms_ssim_y(original: Any, reconstruction: Any) -> float:
    device = device_of(original, reconstruction)
    a = luma(original, colour.PEAK, MS_SSIM_MIN, device)
    b = luma(reconstruction, colour.PEAK, MS_SSIM_MIN, device)
    with torch.inference_mode():
        return float(ms_ssim_tensors(a, b, float(colour.PEAK)))


def iw_ssim(original: Any, reconstruction: Any) -> float:
    from piq import information_weighted_ssim

    device = device_of(original, reconstruction)
    a = luma(original, 255.0, IW_SSIM_MIN, device)
    b = luma(reconstruction, 255.0, IW_SSIM_MIN, device)
    with torch.inference_mode():
        try:
            return float(information_weighted_ssim(b, a, data_range=255.0))
        except torch.linalg.LinAlgError as exc:  # the framework's code fails the same way
            raise ValueError("IW-SSIM is undefined on this image: the covariance of its pyramid's "
                             f"neighbourhoods is singular (a nearly flat image): {exc}") from exc
