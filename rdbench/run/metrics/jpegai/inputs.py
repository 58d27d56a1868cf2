"""The float inputs of the JPEG AI metrics, built as the framework builds them, with its padding.

Why apart: five metrics take the same Y' plane at different scales and minimum sizes; keeping the
framework's exact recipe (float32 ``code / 1023``, then its scale, then zero padding on the bottom
and right to the minimum size) in one place keeps their agreement in one place too.

Each image is an (H, W, 3) uint8 numpy array or torch tensor; the tensors are made on
:func:`device_of` the pair (a reconstruction on a GPU is measured there, the original moved to it).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from rdbench.run.metrics.jpegai import colour


def device_of(*images: Any) -> torch.device:
    """The device of the first torch tensor among ``images`` (the CPU when all are numpy arrays)."""
    for image in images:
        if isinstance(image, torch.Tensor):
            return image.device
    return torch.device("cpu")


def _tensor(x: Any, device: torch.device) -> torch.Tensor:
    return (torch.from_numpy(x) if isinstance(x, np.ndarray) else x).to(device)


def pad_to(t: torch.Tensor, min_size: int) -> torch.Tensor:
    """Zero-pad the bottom and right of an (..., H, W) tensor so both sides are at least
    ``min_size`` (the framework's ``pad_tensor_till_size``)."""
    h, w = t.shape[-2:]
    if h >= min_size and w >= min_size:
        return t
    return F.pad(t, (0, max(min_size - w, 0), 0, max(min_size - h, 0)), "constant", 0.0)


def luma(image: Any, scale: float = 1.0, min_size: int = 1, device: torch.device | None = None) -> torch.Tensor:
    """The Y' plane as a (1, 1, H, W) float32 tensor on ``device`` (the image's own by default):
    ``code / 1023`` (float32) times ``scale`` (float32, as torch multiplies), zero-padded to
    ``min_size``."""
    y = colour.unit(colour.planes(image).y)
    if scale != 1.0:
        y = y * np.float32(scale) if isinstance(y, np.ndarray) else y * scale
    return pad_to(_tensor(y, device or device_of(image))[None, None], min_size)


def rgb(image: Any, device: torch.device | None = None) -> torch.Tensor:
    """The 10-bit rounded RGB image in [0, 1] as a (1, 3, H, W) float32 tensor on ``device``."""
    return _tensor(colour.unit(colour.planes(image).rgb), device or device_of(image)).permute(2, 0, 1)[None]
