"""The float inputs of the JPEG AI metrics, built as the framework builds them, with its padding.

Why apart: five metrics take the same Y' plane at different scales and minimum sizes; keeping the
framework's exact recipe (float32 ``code / 1023``, then its scale, then zero padding on the bottom
and right to the minimum size) in one place keeps their agreement in one place too.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from rdbench.run.metrics.jpegai import colour


def pad_to(t: torch.Tensor, min_size: int) -> torch.Tensor:
    """Zero-pad the bottom and right of an (..., H, W) tensor so both sides are at least
    ``min_size`` (the framework's ``pad_tensor_till_size``)."""
    h, w = t.shape[-2:]
    if h >= min_size and w >= min_size:
        return t
    return F.pad(t, (0, max(min_size - w, 0), 0, max(min_size - h, 0)), "constant", 0.0)


def luma(image: np.ndarray, scale: float = 1.0, min_size: int = 1) -> torch.Tensor:
    """The Y' plane as a (1, 1, H, W) float32 tensor: ``code / 1023`` (float32) times ``scale``
    (float32, as torch multiplies), zero-padded to ``min_size``."""
    y = colour.unit(colour.planes(image).y)
    if scale != 1.0:
        y = y * np.float32(scale)
    return pad_to(torch.from_numpy(y)[None, None], min_size)


def rgb(image: np.ndarray) -> torch.Tensor:
    """The 10-bit rounded RGB image in [0, 1] as a (1, 3, H, W) float32 tensor."""
    return torch.from_numpy(colour.unit(colour.planes(image).rgb)).permute(2, 0, 1)[None]
