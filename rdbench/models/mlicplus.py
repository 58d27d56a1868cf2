"""MLIC+: the multi-reference entropy model MEM+, with checkerboard attention as local context.

Written from the paper (Jiang et al., ACM MM 2023, arXiv 2211.07273; no public code) as read in
``docs/mlic-fidelity.md``: MLIC++'s model (:class:`rdbench.models.mlicpp.MultiReferenceModel`)
with its checkerboard attention, and both global contexts computed with explicit softmax maps.
Its ``state_dict`` therefore has MLIC++'s keys and shapes; the choices are listed in
:mod:`rdbench.models.mlic_layers`.
"""

from __future__ import annotations

from rdbench.models.mlic_layers import (
    QuadraticGlobalInterContext,
    QuadraticGlobalIntraContext,
)
from rdbench.models.mlicpp import MultiReferenceModel
from rdbench.models.mlicpp_layers import CheckerboardAttentionContext


class MLICPlus(MultiReferenceModel):
    """MLIC+ = MLIC++'s transforms and hyperprior + MEM+ (channel, checkerboard attention, intra
    and inter contexts, the global ones quadratic).

    Defaults: N=192, M=320 in 10 slices of 32 channels. Slices need a multiple of 32 channels
    (the inter-slice context's heads).
    """

    def __init__(self, N: int = 192, M: int = 320, slices: int = 10, old: bool = False) -> None:
        super().__init__(N, M, slices, old, local=CheckerboardAttentionContext, intra=QuadraticGlobalIntraContext,
                         inter=QuadraticGlobalInterContext)
