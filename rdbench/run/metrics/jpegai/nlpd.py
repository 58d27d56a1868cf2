"""NLPD, the normalised Laplacian pyramid distance (Laparra, Ballé, Berardino, Simoncelli 2016), on Y'.

Why written here: piq has no NLPD and the framework's (IQA_pytorch's ``NLPD``) is not a maintained
package; the definition is short. JPEG AI measures it on Y' in [0, 1] (float32 ``code / 1023``),
zero-padded to 128 px, one channel, lower is better (its BD integrates 1 - NLPD).

Per level k = 1..6 of a Laplacian pyramid built with the 5x5 binomial-like filter
``f = [0.05, 0.25, 0.4, 0.25, 0.05]`` (outer product, reflect padding):

* ``low = (f * J)`` sampled every second pixel; ``up`` = ``low`` enlarged twice (bilinear, corners
  aligned), filtered by ``f`` again and, when its size differs from J's, resized to it (nearest);
* band ``b = J - up``, divisively normalised: ``b / (sigma_k + P_k * |b|)`` with the paper's
  per-level 3x3 neighbourhood filters ``P_k`` (reflect padding) and constants ``sigma_k``;
* the level's distance is the root mean square difference of the two normalised bands.

NLPD is the mean of the six levels' distances. Computed in float32 as the framework does, both
images in one batch. The pyramid filter is the framework's ``F.conv2d`` (NLPD moves by 1e-6
relative with float32 rounding, e.g. when the filter is applied as two 1-D passes); the
normalisation's four-neighbour filter is four shifted multiply-adds (the same sums).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from rdbench.run.metrics.jpegai.inputs import device_of, luma

MIN_SIZE = 128
LEVELS = 6
_TAPS = np.array([0.05, 0.25, 0.4, 0.25, 0.05])
#: the 5x5 pyramid filter, its float32 entries (0.0025, 0.0125, ...) as the definition lists them
_FILTER = np.round(np.outer(_TAPS, _TAPS), 4).astype(np.float32)
#: per level: (left, right, up, down) weights of the 3x3 divisive-normalisation filter, and sigma
_NORMALISATION = (
    ((0.1493, 0.1460, 0.1011, 0.1015), 0.0248),
    ((0.1986, 0.1846, 0.0757, 0.0837), 0.0185),
    ((0.2138, 0.2243, 0.0477, 0.0467), 0.0179),
    ((0.2503, 0.2616, 0.0, 0.0), 0.0191),
    ((0.2598, 0.2552, 0.0, 0.0), 0.0220),
    ((0.2215, 0.0717, 0.0, 0.0), 0.2782),
)


def _spread(band: torch.Tensor, weights: tuple[float, float, float, float]) -> torch.Tensor:
    """The 3x3 neighbourhood filter of ``|band|`` (reflect padding): the weighted sum of the left,
    right, upper and lower neighbours (the centre and corners weigh 0)."""
    p = F.pad(band.abs(), (1, 1, 1, 1), mode="reflect")
    h, w = band.shape[-2:]
    left, right, up, down = weights
    out = p[..., 1:1 + h, 0:w] * left
    out.add_(p[..., 1:1 + h, 2:2 + w], alpha=right)
    for weight, rows in ((up, slice(0, h)), (down, slice(2, 2 + h))):
        if weight:
            out.add_(p[..., rows, 1:1 + w], alpha=weight)
    return out


def normalised_bands(x: torch.Tensor) -> list[torch.Tensor]:
    """The six divisively normalised Laplacian bands of a (N, 1, H, W) float32 batch."""
    pyramid = torch.from_numpy(_FILTER).to(x.device)[None, None]
    bands = []
    j = x
    for weights, sigma in _NORMALISATION:
        low = F.conv2d(F.pad(j, (2, 2, 2, 2), mode="reflect"), pyramid, stride=2)
        up = F.interpolate(low, scale_factor=2, mode="bilinear", align_corners=True)
        up = F.conv2d(F.pad(up, (2, 2, 2, 2), mode="reflect"), pyramid)
        if up.shape != j.shape:
            up = F.interpolate(up, size=j.shape[-2:])
        band = j - up
        bands.append(band / (_spread(band, weights) + sigma))
        j = low
    return bands


def nlpd_tensors(original: torch.Tensor, reconstruction: torch.Tensor) -> float:
    """NLPD of two (1, 1, H, W) float32 tensors (already padded)."""
    with torch.inference_mode():
        bands = normalised_bands(torch.cat([original, reconstruction]))
        distances = [torch.sqrt(torch.mean((b[0] - b[1]) ** 2)) for b in bands]
        return float(torch.stack(distances).mean())


def nlpd(original: Any, reconstruction: Any) -> float:
    device = device_of(original, reconstruction)
    return nlpd_tensors(luma(original, min_size=MIN_SIZE, device=device),
                        luma(reconstruction, min_size=MIN_SIZE, device=device))
