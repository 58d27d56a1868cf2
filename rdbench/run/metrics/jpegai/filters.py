"""Separable filtering by shifted multiply-adds, on whatever device the tensors are on.

Why not ``F.conv2d``: the JPEG AI metrics filter one-channel images with small separable kernels
(an 11-tap Gaussian, VIF's 17/9/5/3-tap Gaussians, NLPD's 5-tap pyramid filter). On the CPU,
torch's convolution (oneDNN) runs such a kernel at a few hundred MFLOP/s: filtering a 2048x1363
image with an 11x11 Gaussian takes 200 ms on one thread, two 11-tap passes of shifted
multiply-adds 28 ms (``bench/results/metrics_jpegai.md``). On a GPU these are the same few
element-wise kernels. The sums are the same products in another order, so a value moves by float32
rounding only (docs/metrics.md gives the measured agreement).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache

import torch


def correlate1d(x: torch.Tensor, taps: Sequence[float], dim: int, stride: int = 1) -> torch.Tensor:
    """Valid correlation of ``x`` with ``taps`` along ``dim`` (no padding: the output is
    ``len(taps) - 1`` shorter), keeping every ``stride``-th output as a strided convolution does."""
    n = x.shape[dim] - len(taps) + 1
    if n < 1:
        raise ValueError(f"a {len(taps)}-tap filter needs at least {len(taps)} samples, got {x.shape[dim]}")
    out = x.narrow(dim, 0, n) * taps[0]
    for i in range(1, len(taps)):
        out.add_(x.narrow(dim, i, n), alpha=taps[i])
    if stride > 1:
        out = out[(slice(None),) * (dim % x.ndim) + (slice(None, None, stride),)]
    return out


def correlate2d(x: torch.Tensor, taps: Sequence[float], stride: int = 1) -> torch.Tensor:
    """Valid correlation of the last two dimensions with ``outer(taps, taps)``: rows (H) first,
    then columns (W), as pytorch_msssim filters; ``stride`` as :func:`correlate1d`'s."""
    return correlate1d(correlate1d(x, taps, -2, stride), taps, -1, stride)


@lru_cache(maxsize=16)
def gaussian_taps(size: int, sigma: float) -> tuple[float, ...]:
    """The normalised Gaussian of ``size`` taps, computed in float32 as pytorch_msssim and piq do
    (``exp(-c² / 2σ²)`` over ``c = -(size-1)/2 .. (size-1)/2``, divided by its sum); one window per
    (size, sigma) for every metric and image.

    Why float32 and not the exact taps: the metrics subtract filtered squares of values up to 255
    or 1023 (a variance), so the taps' sum, 1 only to float32 rounding, shifts a variance by about
    1e-7 mu²; the libraries' own float32 windows do so too, and matching them keeps the values
    within the golden tolerances (docs/metrics.md).
    """
    coords = torch.arange(size, dtype=torch.float32) - (size - 1) / 2
    g = torch.exp(-(coords ** 2) / (2 * sigma ** 2))
    return tuple(float(v) for v in g / g.sum())


def binomial_taps(size: int, gain: float = 1.0) -> tuple[float, ...]:
    """``size`` binomial taps (1 4 6 4 1 / 16 for 5) times ``gain``, as float32 values."""
    taps = torch.tensor([math.comb(size - 1, k) / 2 ** (size - 1) for k in range(size)], dtype=torch.float32)
    return tuple(float(v) for v in taps * gain)
