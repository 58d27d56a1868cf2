"""MS-SSIM and MSE with torch, in float64, on the device a reconstruction is on.

Why: a learned codec's reconstruction on a GPU is measured there, so it never has to cross to the
host; the definition is the CPU engine's (:mod:`.engine`, derived in ``docs/metrics-engine.md``).
torch is imported only when a tensor is measured.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rdbench.run.metrics.formulas import (
    C1,
    C2,
    GAUSSIAN_WINDOW,
    MS_SSIM_MIN_SIDE,
    MS_SSIM_WEIGHTS,
)

_TAPS = len(GAUSSIAN_WINDOW)
_PLANES = 12  # u, v, u², v² for each of the 3 channels


def is_device_tensor(x: Any) -> bool:
    """Whether ``x`` is a tensor on a device other than the CPU (torch is not imported to tell)."""
    device = getattr(x, "device", None)
    return device is not None and getattr(device, "type", "cpu") != "cpu" and hasattr(x, "detach")


def distortion_torch(original: Any, reconstruction: Any) -> tuple[float, float | None]:
    """(MSE, MS-SSIM) with torch on the reconstruction's device (float64), one host sync.

    ``original`` and ``reconstruction``: (H, W, 3) uint8 numpy arrays or tensors; the original
    is moved to the reconstruction's device. The definition is
    :func:`rdbench.run.metrics.dispatch.ms_ssim`'s; on the CPU
    this is slower than the numpy path and is used only to check the device code.
    """
    import torch

    device = reconstruction.device if hasattr(reconstruction, "device") else original.device
    x = _to_tensor(original, device)
    y = _to_tensor(reconstruction, device)
    if x.shape != y.shape:
        raise ValueError(f"reconstruction shape {tuple(y.shape)} differs from original {tuple(x.shape)}")
    if x.dtype != torch.uint8 or y.dtype != torch.uint8:
        raise ValueError("metrics take uint8 images (round a model's output to uint8 first)")
    with torch.inference_mode():
        diff = x.double() - y.double()
        sse = diff.square().sum()
        if x.ndim != 3 or x.shape[2] != 3 or min(x.shape[:2]) < MS_SSIM_MIN_SIDE:
            return float(sse) / x.numel(), None
        value = _ms_ssim_tensor(x, y)
        sse_value, ms = torch.stack([sse, value]).tolist()
    return sse_value / x.numel(), ms


def ms_ssim_torch(original: Any, reconstruction: Any) -> float | None:
    """MS-SSIM with torch on the reconstruction's device (see :func:`distortion_torch`)."""
    return distortion_torch(original, reconstruction)[1]


def _to_tensor(x: Any, device: Any) -> Any:
    import torch

    if isinstance(x, np.ndarray):
        # torch refuses to share a read-only array (a cached image is one) without a warning: copy it
        x = torch.from_numpy(np.ascontiguousarray(x) if x.flags.writeable else np.array(x))
    return x.to(device)


def _ms_ssim_tensor(x: Any, y: Any) -> Any:
    """MS-SSIM of (H, W, 3) uint8 tensors as a 0-d float64 tensor on their device."""
    import torch
    import torch.nn.functional as F

    device = x.device
    X = x.permute(2, 0, 1).unsqueeze(0).double()
    Y = y.permute(2, 0, 1).unsqueeze(0).double()
    u, v = X + Y, X - Y
    window = torch.tensor(GAUSSIAN_WINDOW, dtype=torch.float64, device=device)
    across = window.view(1, 1, 1, _TAPS).repeat(_PLANES, 1, 1, 1)
    down = window.view(1, 1, _TAPS, 1).repeat(_PLANES, 1, 1, 1)
    weights = torch.tensor(MS_SSIM_WEIGHTS, dtype=torch.float64, device=device)
    values = []
    for level in range(len(MS_SSIM_WEIGHTS)):
        last = level == len(MS_SSIM_WEIGHTS) - 1
        stats = torch.cat([u, v, u * u, v * v], dim=1)
        stats = F.conv2d(F.conv2d(stats, across, groups=_PLANES), down, groups=_PLANES)
        mu_u, mu_v, gu2, gv2 = stats.split(3, dim=1)
        mu_u2, mu_v2 = mu_u * mu_u, mu_v * mu_v
        var_u, var_v = gu2 - mu_u2, gv2 - mu_v2
        cs = (var_u - var_v + 2 * C2) / (var_u + var_v + 2 * C2)
        if last:
            luminance = (mu_u2 - mu_v2 + 2 * C1) / (mu_u2 + mu_v2 + 2 * C1)
            values.append((cs * luminance).mean(dim=(0, 2, 3)))
        else:
            values.append(cs.mean(dim=(0, 2, 3)))
            padding = [u.shape[2] % 2, u.shape[3] % 2]
            u = F.avg_pool2d(u, kernel_size=2, padding=padding)
            v = F.avg_pool2d(v, kernel_size=2, padding=padding)
    stacked = torch.relu(torch.stack(values))  # (levels, channels)
    return torch.prod(stacked ** weights.view(-1, 1), dim=0).mean()
