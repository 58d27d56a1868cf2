"""MLIC: the multi-reference entropy model MEM, with stacked checkerboard convolutions.

Written from the paper (Jiang et al., ACM MM 2023, arXiv 2211.07273; no public code) as read in
``docs/mlic-fidelity.md``: MLIC++'s model (:class:`rdbench.models.mlicpp.MultiReferenceModel`)
with MEM's local context, the quadratic intra-slice global context and no inter-slice global
context. The choices are listed in :mod:`rdbench.models.mlic_layers`.
"""

from __future__ import annotations

from torch import Tensor, nn

from rdbench.models.mlic_layers import QuadraticGlobalIntraContext
from rdbench.models.mlicpp import MultiReferenceModel


class StackedCheckerboardContext(nn.Module):
    """MEM's local context: three 5x5 convolutions (cs -> cs -> cs -> 2cs), GELU between.

    No layer is masked: the model feeds it the slice's decoded anchors with zeros at the
    non-anchors, so every output is a function of decoded anchors only, and stacking widens the
    receptive field over them (to 13x13) beyond one checkerboard convolution's.
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.Conv2d(dim, dim, 5, padding=2), nn.GELU(),
            nn.Conv2d(dim, dim, 5, padding=2), nn.GELU(),
            nn.Conv2d(dim, dim * 2, 5, padding=2),
        )

    def forward(self, anchors_hat: Tensor) -> Tensor:
        return self.layers(anchors_hat)


class MLIC(MultiReferenceModel):
    """MLIC = MLIC++'s transforms and hyperprior + MEM (channel, stacked checkerboard, intra contexts).

    Defaults: N=192, M=192 in 6 slices of 32 channels. Slices need an even width (the
    intra-slice context's two heads).
    """

    def __init__(self, N: int = 192, M: int = 192, slices: int = 6, old: bool = False) -> None:
        super().__init__(N, M, slices, old, local=StackedCheckerboardContext, intra=QuadraticGlobalIntraContext,
                         inter=None)
