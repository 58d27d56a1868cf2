"""pytorch_msssim's MS-SSIM itself, as CompressAI's evaluation calls it (float32 tensors).

Why kept: it is the reference the engine is checked against (tests, ``bench/bench_metrics.py``),
never what a run stores. Imports torch.
"""

from __future__ import annotations

import numpy as np

from rdbench.run.metrics.formulas import DATA_RANGE, MS_SSIM_MIN_SIDE, check_pair


def ms_ssim_reference(original: np.ndarray, reconstruction: np.ndarray) -> float | None:
    """``pytorch_msssim.ms_ssim(data_range=255)`` on float32 tensors, or None below
    :data:`MS_SSIM_MIN_SIDE` pixels on a side."""
    check_pair(original, reconstruction)
    if min(original.shape[:2]) < MS_SSIM_MIN_SIDE:
        return None
    import torch
    from pytorch_msssim import ms_ssim as _ms_ssim

    def as_tensor(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.array(a, dtype=np.float32)).permute(2, 0, 1)[None]

    with torch.inference_mode():
        value = _ms_ssim(as_tensor(original), as_tensor(reconstruction), data_range=DATA_RANGE, size_average=True)
    return float(value)
