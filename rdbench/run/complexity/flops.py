"""FLOPs of one model forward, counted on the ``meta`` device, and the decoder's share of them.

PyTorch's ``FlopCounterMode`` over a forward on ``meta`` tensors sees shapes only: the count is
deterministic, free of machine noise, and possible at sizes that do not fit in memory (so an
out-of-memory point still gets its FLOPs). Only matrix products and convolutions are counted.
When the model cannot run on ``meta`` the count falls back to a real forward.

compressai >= 1.2.7's ``EntropyBottleneck.forward`` unpacks a tensor into ``permute``, which
needs real values, so on ``meta`` each entropy bottleneck's forward is replaced by its
likelihood alone (the small per-channel matrix products on the hyper-latent, which a real
forward counts too) and the identity: the count is the same as over a real forward.

The same pass measures the FLOPs that run inside the encoder-only children (``g_a``, ``h_a``),
from which :mod:`.decoder` derives decoder MACs per pixel.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rdbench.run.complexity.decoder import EncoderFlops, encoder_parts

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class ForwardCount:
    """FLOPs of one forward (``flops``), where they were counted (``method``: ``"meta"`` or
    ``"device"``) and those outside the encoder-only children (``decoder_flops``; None with
    ``decoder_missing`` saying why, see :mod:`.decoder`)."""

    flops: float
    method: str
    decoder_flops: float | None
    decoder_missing: str | None = None

    def decoder_macs_per_px(self, pixels: int) -> float | None:
        """Decoder MACs per pixel of an image of ``pixels`` pixels (2 FLOPs per MAC)."""
        return None if self.decoder_flops is None else self.decoder_flops / 2 / pixels


def _likelihood_only_entropy_bottlenecks(model: torch.nn.Module) -> None:
    """Make every compressai ``EntropyBottleneck`` of a meta-device copy compute its likelihood
    (what the counter must see) without the value-dependent ``permute`` of its forward."""
    import torch

    try:
        from compressai.entropy_models import EntropyBottleneck
    except ImportError:
        return

    def likelihood_only(module: EntropyBottleneck):
        def forward(x: torch.Tensor, training: bool | None = None) -> tuple[torch.Tensor, torch.Tensor]:
            module._likelihood(x.transpose(0, 1).reshape(x.shape[1], 1, -1))  # (C, 1, everything else)
            return x, torch.ones_like(x)
        return forward

    for module in model.modules():
        if isinstance(module, EntropyBottleneck):
            module.forward = likelihood_only(module)


def _count(model: torch.nn.Module, inputs: torch.Tensor, method: str) -> ForwardCount:
    """Run ``model(inputs)`` under a FLOP counter, with the encoder parts' FLOPs tracked."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    parts, missing = encoder_parts(model)
    with torch.no_grad(), counter, EncoderFlops(parts, counter.get_total_flops) as encoder:
        model(inputs)
    total = float(counter.get_total_flops())
    decoder, missing = encoder.decoder_flops(total) if missing is None else (None, missing)
    return ForwardCount(total, method, decoder, missing)


def count_forward(model: torch.nn.Module, inputs: torch.Tensor) -> ForwardCount:
    """FLOPs of ``model(inputs)``, on ``meta`` when the model runs there, else on its device."""
    import torch

    try:
        meta_model = copy.deepcopy(model).to("meta")
        _likelihood_only_entropy_bottlenecks(meta_model)
        return _count(meta_model, torch.empty(inputs.shape, dtype=inputs.dtype, device="meta"), "meta")
    except Exception:  # some ops have no meta kernel: count a real forward instead
        return _count(model, inputs, "device")


def count_flops(model: torch.nn.Module, inputs: torch.Tensor) -> tuple[float, str]:
    """FLOPs of ``model(inputs)`` and where they were counted: ``"meta"`` or ``"device"``."""
    count = count_forward(model, inputs)
    return count.flops, count.method
