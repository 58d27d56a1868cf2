"""MLIC: the multi-reference entropy model MEM with stacked checkerboard convolutions.

Written from the paper (Jiang et al., ACM MM 2023, arXiv 2211.07273; no public code). Shared
parts and the list of ambiguities resolved are in :mod:`rdbench.models.mlic_layers`; this
module adds MEM's local context.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from rdbench.models.mlic_layers import MultiReferenceModel


class CheckerboardMaskedConv2d(nn.Conv2d):
    """Convolution whose kernel sees only the taps that land on anchors from a non-anchor.

    With anchors at even ``row + col``, a non-anchor centre reaches anchors at offsets with odd
    ``di + dj``; the other taps (centre included) are zeroed so no output depends on a value the
    decoder does not have yet.
    """

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int) -> None:
        super().__init__(in_ch, out_ch, kernel_size, padding=kernel_size // 2)
        k = torch.arange(kernel_size) - kernel_size // 2
        mask = ((k.view(-1, 1) + k.view(1, -1)) % 2 != 0).float()
        self.register_buffer("mask", mask.view(1, 1, kernel_size, kernel_size), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        return self._conv_forward(x, self.weight * self.mask, self.bias)


class StackedCheckerboardContext(nn.Module):
    """MEM's local context: a checkerboard-masked 5x5 convolution followed by stacked 3x3 ones.

    Ambiguity: the paper stacks checkerboard convolutions to widen the local receptive field
    without giving every layer's mask. Only the first layer reads the latent, so only it needs
    the checkerboard mask; the stacked layers read its output, which at every position is a
    function of decoded anchors only, so they are plain convolutions (masking them too would
    make them read bias-only values at anchor positions).
    """

    def __init__(self, slice_ch: int, out_ch: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            CheckerboardMaskedConv2d(slice_ch, out_ch, 5), nn.GELU(),
            nn.Conv2d(out_ch, out_ch, 3, padding=1), nn.GELU(),
            nn.Conv2d(out_ch, out_ch, 3, padding=1),
        )

    def forward(self, anchors_hat: Tensor) -> Tensor:
        return self.net(anchors_hat)


class MLIC(MultiReferenceModel):
    """MLIC = transforms + hyperprior + MEM (channel, stacked-checkerboard local, global contexts)."""

    def make_local_context(self, slice_ch: int, out_ch: int) -> nn.Module:
        return StackedCheckerboardContext(slice_ch, out_ch)
