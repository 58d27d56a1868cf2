"""MS-SSIM and IW-SSIM on the 10-bit Y' plane, as JPEG AI measures them.

* MS-SSIM: ``pytorch_msssim.ms_ssim`` on Y' codes (float32, 0..1023) with ``data_range=1023``,
  zero-padded to 164 px (five scales need 161): the framework's call, so the same arithmetic.
* IW-SSIM (Wang and Li 2011): ``piq.information_weighted_ssim`` on Y' scaled to 0..255
  (float32 ``code / 1023 * 255``), zero-padded to 256 px, computed in float32 (5x faster than
  float64 with torch's CPU convolutions, and within 1e-6 of it on Kodak); the framework runs
  a port of the authors' MATLAB code on a pyrtools Laplacian pyramid instead, which differs from
  piq's pyramid at the borders (``docs/metrics.md`` gives by how much).
"""

from __future__ import annotations

import numpy as np
import torch

from rdbench.run.metrics.jpegai import colour
from rdbench.run.metrics.jpegai.inputs import luma

MS_SSIM_MIN = 164
IW_SSIM_MIN = 256


def ms_ssim_y(original: np.ndarray, reconstruction: np.ndarray) -> float:
    from pytorch_msssim import ms_ssim

    a = luma(original, colour.PEAK, MS_SSIM_MIN)
    b = luma(reconstruction, colour.PEAK, MS_SSIM_MIN)
    with torch.inference_mode():
        return float(ms_ssim(a, b, data_range=float(colour.PEAK)))


def iw_ssim(original: np.ndarray, reconstruction: np.ndarray) -> float:
    from piq import information_weighted_ssim

    a = luma(original, 255.0, IW_SSIM_MIN)
    b = luma(reconstruction, 255.0, IW_SSIM_MIN)
    with torch.inference_mode():
        try:
            return float(information_weighted_ssim(b, a, data_range=255.0))
        except torch.linalg.LinAlgError as exc:  # the framework's code fails the same way
            raise ValueError("IW-SSIM is undefined on this image: the covariance of its pyramid's "
                             f"neighbourhoods is singular (a nearly flat image): {exc}") from exc
