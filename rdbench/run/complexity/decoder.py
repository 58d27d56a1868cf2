"""Decoder MACs per pixel: the part of a forward's FLOPs that decoding an image costs.

The convention is DeepMind C3's ``macs_per_pixel`` (``baselines/kodak.py``), so that rdbench's
figures can be set beside C3's table. It counts the multiply-accumulates (MACs) of one forward
pass of everything except the analysis transform ``g_a`` and the hyper-analysis ``h_a``: the
synthesis ``g_s``, the hyper-synthesis ``h_s``, the context model (a masked convolution is
counted at its full kernel), the entropy-parameter network and the factorized prior's
likelihood of z. That total is divided by the image's pixel count. ``FlopCounterMode`` counts
the same operators as C3's fvcore (convolutions and matrix products; element-wise operations
are free), at 2 FLOPs per MAC, so the figure is (forward FLOPs - FLOPs run inside ``g_a`` and
``h_a``) / 2 / pixels. It reproduces C3's figures for CompressAI's models to within one MAC per
pixel (``tests/test_decoder_macs.py``): cheng2020-anchor 260,286 (N=128) and 583,058 (N=192),
bmshj2018-hyperprior 43,542, mbt2018 107,930 and 139,638, all at Kodak's 768x512.

The pixel count is the image's, as for ``flops_per_pixel``: padding to the model's stride is
charged to the image. For convolution-only models the figure does not depend on the size; for
models with attention over latent positions (MLIC, MLIC+) it grows with it, so a comparison with
C3 must be made at 768x512.

The figure is left empty, with the reason, rather than guessed, for a model without a ``g_a``
child, for a hyperprior model (one with a Gaussian conditional) without an ``h_a`` child, and for
a forward that never calls one of them: a wrong split would look like a real decoder cost.
A model whose only entropy models are factorized priors (no hyper-analysis to leave out)
counts everything but ``g_a``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch
    from torch.utils.hooks import RemovableHandle

#: The top-level children of a model that run only when encoding.
ENCODER_PARTS = ("g_a", "h_a")


def _has_gaussian_conditional(model: torch.nn.Module) -> bool:
    """Whether ``model`` codes its latent conditionally on side information (a hyperprior)."""
    try:
        from compressai.entropy_models import GaussianConditional
    except ImportError:
        return False
    return any(isinstance(module, GaussianConditional) for module in model.modules())


def encoder_parts(model: torch.nn.Module) -> tuple[dict[str, torch.nn.Module], str | None]:
    """The encoder-only children of ``model`` to leave out, or ({}, why they cannot be found).

    Looked up by name (``get_submodule``), not through ``named_children``, which names a module
    held under two names (``self.g_a = self.encoder``) by its first name only.
    """
    children = {}
    for name in ENCODER_PARTS:
        try:
            children[name] = model.get_submodule(name)
        except AttributeError:
            pass
    if "g_a" not in children:
        return {}, f"{type(model).__name__} has no g_a child: its analysis transform cannot be told apart"
    if "h_a" not in children and _has_gaussian_conditional(model):
        return {}, f"{type(model).__name__} has a hyperprior but no h_a child: its hyper-analysis cannot be told apart"
    return children, None


class EncoderFlops:
    """FLOPs a counter sees while the encoder-only children of a model run, over one ``with`` block.

    Forward hooks read the counter's running total as each part starts and ends. A part that
    runs inside another is counted once, in the outer part.
    """

    def __init__(self, parts: dict[str, torch.nn.Module], total: Callable[[], float]) -> None:
        self._parts = parts
        self._total = total
        self._depth = 0
        self._start = 0.0
        self.flops = {name: 0.0 for name in parts}
        self.calls = {name: 0 for name in parts}
        self._handles: list[RemovableHandle] = []

    def __enter__(self) -> "EncoderFlops":
        for name, module in self._parts.items():
            self._handles.append(module.register_forward_pre_hook(self._entered(name)))
            self._handles.append(module.register_forward_hook(self._left(name)))
        return self

    def __exit__(self, *exc: object) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def _entered(self, name: str) -> Callable:
        def hook(module: torch.nn.Module, args: object) -> None:
            self.calls[name] += 1
            if self._depth == 0:
                self._start = self._total()
            self._depth += 1
        return hook

    def _left(self, name: str) -> Callable:
        def hook(module: torch.nn.Module, args: object, output: object) -> None:
            self._depth -= 1
            if self._depth == 0:
                self.flops[name] += self._total() - self._start
        return hook

    def decoder_flops(self, total: float) -> tuple[float | None, str | None]:
        """FLOPs of the forward outside the encoder parts, or (None, why not) when a part never ran."""
        idle = [name for name, calls in self.calls.items() if calls == 0]
        if idle:
            return None, f"the forward never called {', '.join(idle)}: the encoder's share cannot be measured"
        return total - sum(self.flops.values()), None
