"""The network: CompressAI's scale hyperprior (Ballé et al. 2018) with few channels.

Train it as any CompressAI model and save ``model.state_dict()`` (or ``{"state_dict": ...}``, as
CompressAI's training script does) once per rate point: ``tinyhp_q1.pth.tar``, ``tinyhp_q2.pth.tar``, ...
"""

from __future__ import annotations

from compressai.models import ScaleHyperprior


class TinyHyperprior(ScaleHyperprior):
    """``ScaleHyperprior(N, M)`` with a small default width; change the layers here and rdbench
    codes the new model."""

    def __init__(self, N: int = 32, M: int = 32) -> None:
        super().__init__(N, M)
