"""FLOPs of one model forward, counted on the ``meta`` device.

PyTorch's ``FlopCounterMode`` over a forward on ``meta`` tensors sees shapes only: the count is
deterministic, free of machine noise, and possible at sizes that do not fit in memory (so an
out-of-memory point still gets its FLOPs). Only matrix products and convolutions are counted.
When the model cannot run on ``meta`` the count falls back to a real forward.

compressai >= 1.2.7's ``EntropyBottleneck.forward`` unpacks a tensor into ``permute``, which
needs real values, so on ``meta`` each entropy bottleneck is replaced by the identity for the
count: its own FLOPs (small per-channel matrices on the 1/256-size hyper-latent) are left out.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


def _bypass_entropy_bottlenecks(model: torch.nn.Module) -> None:
    """Make every compressai ``EntropyBottleneck`` of a meta-device copy an identity."""
    import torch

    try:
        from compressai.entropy_models import EntropyBottleneck
    except ImportError:
        return
    for module in model.modules():
        if isinstance(module, EntropyBottleneck):
            module.forward = lambda x, training=None: (x, torch.ones_like(x))


def count_flops(model: torch.nn.Module, inputs: torch.Tensor) -> tuple[float, str]:
    """FLOPs of ``model(inputs)`` and where they were counted: ``"meta"`` or ``"device"``."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    try:
        meta_model = copy.deepcopy(model).to("meta")
        _bypass_entropy_bottlenecks(meta_model)
        meta_input = torch.empty(inputs.shape, dtype=inputs.dtype, device="meta")
        with torch.no_grad(), counter:
            meta_model(meta_input)
        return float(counter.get_total_flops()), "meta"
    except Exception:  # some ops have no meta kernel: count a real forward instead
        counter = FlopCounterMode(display=False)
        with torch.no_grad(), counter:
            model(inputs)
        return float(counter.get_total_flops()), "device"
