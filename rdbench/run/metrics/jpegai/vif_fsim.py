"""VIF (pixel domain) on Y' and FSIM on RGB, with piq, as JPEG AI measures them.

* VIF (Sheikh and Bovik 2006, the pixel-domain version): piq's ``vif_p`` on Y' in [0, 1]
  (float32 ``code / 1023``) zero-padded to 64 px, computed here with piq's float32 steps and its
  Gaussian filtering done by :mod:`.filters` (6x faster on the CPU; within 1e-6 of piq's value);
  the framework uses IQA_pytorch's ``VIFs``, the same four-scale definition with other small
  constants against division by zero.
* FSIM (Zhang et al. 2011, FSIM_C with colour): ``piq.fsim`` on the 10-bit rounded RGB in [0, 1],
  unpadded; the framework uses IQA_pytorch's ``FSIM``, the same definition.

Both libraries compute in float32; their values differ by float32 rounding and those constants
(``docs/metrics.md``).
"""

from __future__ import annotations

from typing import Any

import torch

from rdbench.run.metrics.jpegai.filters import correlate2d, gaussian_taps
from rdbench.run.metrics.jpegai.inputs import device_of, luma, rgb

VIF_MIN = 64
#: piq's ``vif_p`` defaults: the noise variance of the HVS model and its guard against division by 0
SIGMA_N_SQ, EPS = 2.0, 1e-8


def vif_tensors(distorted: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """``piq.vif_p(distorted, reference, data_range=1.0)`` of two (1, 1, H, W) float32 tensors in
    [0, 1], step for step, as a 0-d tensor on their device."""
    x, y = distorted / 1.0 * 255, reference / 1.0 * 255
    x_vif = y_vif = 0
    for scale in range(4):
        size = 2 ** (4 - scale) + 1
        taps = gaussian_taps(size, size / 5)
        if scale > 0:
            x, y = correlate2d(x, taps, stride=2), correlate2d(y, taps, stride=2)
        mu_x, mu_y = correlate2d(x, taps), correlate2d(y, taps)
        mu_x_sq, mu_y_sq, mu_xy = mu_x * mu_x, mu_y * mu_y, mu_x * mu_y
        sigma_x_sq = torch.relu(correlate2d(x ** 2, taps) - mu_x_sq)
        sigma_y_sq = torch.relu(correlate2d(y ** 2, taps) - mu_y_sq)
        sigma_xy = correlate2d(x * y, taps) - mu_xy
        g = sigma_xy / (sigma_y_sq + EPS)
        sigma_v_sq = sigma_x_sq - g * sigma_xy
        y_flat = sigma_y_sq < EPS
        g = g.masked_fill(y_flat, 0)
        sigma_v_sq = torch.where(y_flat, sigma_x_sq, sigma_v_sq)
        sigma_y_sq = sigma_y_sq.masked_fill(y_flat, 0)
        x_flat = sigma_x_sq < EPS
        g = g.masked_fill(x_flat, 0)
        sigma_v_sq = sigma_v_sq.masked_fill(x_flat, 0)
        sigma_v_sq = torch.where(g >= 0, sigma_v_sq, sigma_x_sq)
        g = torch.relu(g)
        sigma_v_sq = sigma_v_sq.masked_fill(sigma_v_sq <= EPS, EPS)
        x_vif = x_vif + torch.log10(1.0 + (g ** 2.0) * sigma_y_sq / (sigma_v_sq + SIGMA_N_SQ)).sum()
        y_vif = y_vif + torch.log10(1.0 + sigma_y_sq / SIGMA_N_SQ).sum()
    return (x_vif + EPS) / (y_vif + EPS)


def vif(original: Any, reconstruction: Any) -> float:
    device = device_of(original, reconstruction)
    with torch.inference_mode():
        return float(vif_tensors(luma(reconstruction, min_size=VIF_MIN, device=device),
                                 luma(original, min_size=VIF_MIN, device=device)))


def fsim(original: Any, reconstruction: Any) -> float:
    from piq import fsim as _fsim

    device = device_of(original, reconstruction)
    with torch.inference_mode():
        return float(_fsim(rgb(reconstruction, device), rgb(original, device), data_range=1.0, chromatic=True))
