"""Adapters ``mlic`` and ``mlicplus``: MLIC / MLIC+ models (rdbench.models) as codecs.

There are no published weights for MLIC or MLIC+, so a configuration either names
checkpoints (``--checkpoint FILE`` for one quality, or ``--checkpoint-dir DIR`` with files named
by ``params.checkpoint_pattern``) or sets ``params.random_seed`` for seeded random weights
(the ``*-random`` configurations: real bitstreams and real complexity, meaningless quality).
Weights are found and read as for every learned adapter (:mod:`rdbench.codecs.learned.base`).

Bitstream (the whole MLIC family, MLIC++ included): a 12-byte header (height, width as uint16;
latent-hyperprior size as two uint16; length of the latent string as uint32), the latent string,
then the hyperprior string. The decoder crops the padded reconstruction back to height x width.

After decoding, the decoder's quantised latent is compared with the encoder's and the result is
stored in ``notes`` (``decoder_matches_encoder``, :meth:`LearnedCodec.check_decoded`), so a mismatch
(e.g. GPU non-determinism between the two passes, or a decoder on another device with
``--decode-device``) shows up in the record's ``extra`` instead of as a silently worse PSNR.

Record identity (MLIC and MLIC+): the models are a reading of the paper, and the reading can
change while the configuration's name stays. So their ``[params]``, which are hashed into every
record's key, name it: ``architecture = "ca357-reading"`` is the reading of
``docs/mlic-fidelity.md`` (CompressAI PR #357's: MLIC++'s blocks; MLIC N=192, M=192, 6 slices and
no inter-slice context; MLIC+ N=192, M=320, 10 slices; explicit softmax global contexts), and
``old = true`` its 2023 synthesis and LRP blocks (default false). The field is required and
checked, so results of an earlier reading (which had none) or of a later one are never drawn as
one curve with these.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from rdbench.codecs.base import CodecConfig, Quality, QualityDomain
from rdbench.codecs.learned.base import LearnedCodec
from rdbench.errors import RdbenchError

if TYPE_CHECKING:
    import torch

_HEADER = struct.Struct(">HHHHI")


class _MultiReferenceCodec(LearnedCodec):
    """The MLIC family: one model class with ``[params]`` constructor arguments, and its bitstream."""

    model_class: ClassVar[str]  # "module:Class" of the nn.Module, imported on first use
    #: The ``[params]`` passed to the model's constructor (as ints).
    arch_keys: ClassVar[tuple[str, ...]] = ("N", "M", "slices")
    library_name: ClassVar[str] = "rdbench.models+compressai"
    quality_label: ClassVar[str] = "model index (higher = more bits)"
    default_qualities = (1, 2, 3, 4, 5, 6)

    @classmethod
    def quality_domain_for(cls, config: CodecConfig) -> QualityDomain:
        """The model indices: the papers' six lambdas (1-6); the indices of ``params.lambdas`` where
        a configuration lists them (MLIC++'s checkpoints); only 1 for seeded weights, which are the
        same at every index (other indices would store identical bitstreams as distinct points)."""
        if "random_seed" in config.params:
            return QualityDomain("int", values=(1,), meaning="seeded weights are the same at every index")
        lambdas = config.params.get("lambdas")
        if isinstance(lambdas, dict) and lambdas:
            return QualityDomain("int", values=tuple(sorted(int(k) for k in lambdas)),
                                 meaning="the checkpoints this configuration lists in [params.lambdas]")
        return QualityDomain("int", 1, 6, meaning="model index, one per trained lambda")

    # -- the model ------------------------------------------------------------------------

    def _model_type(self) -> type:
        import importlib

        module, _, name = self.model_class.partition(":")
        return getattr(importlib.import_module(module), name)

    def arch_kwargs(self) -> dict[str, int]:
        """Constructor arguments from ``[params]`` (the model's defaults for those not set)."""
        return {k: int(self.config.params[k]) for k in self.arch_keys if k in self.config.params}

    def build_model(self, quality: Quality) -> torch.nn.Module:
        return self._model_type()(**self.arch_kwargs())

    def model_from_state(self, state: dict[str, Any], quality: Quality) -> torch.nn.Module:
        """The model class holding ``state``; a class's ``arch_from_state_dict`` picks its variant
        from the keys (MLIC++'s "Old" one) where ``[params]`` leave it open."""
        from rdbench.codecs.learned.checkpoints import load_state

        cls = self._model_type()
        pick = getattr(cls, "arch_from_state_dict", None)
        arch = {**(pick(state) if pick is not None else {}), **self.arch_kwargs()}
        return load_state(cls(**arch), state, source="it")

    def latent_layer(self, model: torch.nn.Module) -> torch.nn.Module:
        """The analysis transform's last convolution (the family's ``g_a`` is one Sequential)."""
        return model.g_a.analysis_transform[-1]

    def pad(self, x: torch.Tensor) -> torch.Tensor:
        """Zero-padded right/bottom to multiples of 64 (the official MLIC++ evaluation; one
        padding for the family, so MLIC, MLIC+ and MLIC++ code the same pixels)."""
        import torch.nn.functional as F

        from rdbench.models.mlicpp import STRIDE

        h, w = x.shape[2:]
        pad = (0, (-w) % STRIDE, 0, (-h) % STRIDE)
        return F.pad(x, pad, mode="constant", value=0.0) if any(pad) else x

    # -- coding ---------------------------------------------------------------------------

    def encode(self, image: np.ndarray, quality: Quality) -> bytes:
        import torch

        height, width = self.image_size(image)
        model = self.torch_model(quality)
        with torch.inference_mode():
            out = model.compress(self.forward_input(image))
        y_string, z_string = out["strings"][0][0], out["strings"][1][0]
        header = _HEADER.pack(height, width, int(out["shape"][0]), int(out["shape"][1]), len(y_string))
        data = header + y_string + z_string
        self.remember_encoded(data, out["y_hat"])
        return data

    def decode_pixels(self, data: bytes, quality: Quality) -> torch.Tensor:
        import torch

        if len(data) < _HEADER.size:
            raise RdbenchError(f"{self.name} bitstream of {len(data)} bytes is shorter than its header")
        height, width, zh, zw, y_len = _HEADER.unpack_from(data)
        body = data[_HEADER.size:]
        if y_len > len(body):
            raise RdbenchError(f"{self.name} bitstream is truncated ({len(body)} bytes after the header, "
                               f"latent alone needs {y_len})")
        model = self.decoder_model(quality)
        with torch.inference_mode():
            out = model.decompress([[body[:y_len]], [body[y_len:]]], (zh, zw))
            self.check_decoded(data, out["y_hat"])
            return self.to_pixels(out["x_hat"], height, width)


#: The values of ``params.architecture`` that MLIC and MLIC+ know (module docstring).
ARCHITECTURES = ("ca357-reading",)


class _PaperCodec(_MultiReferenceCodec):
    """MLIC and MLIC+: written from the paper, so ``[params]`` name the reading (``architecture``)."""

    #: Slice widths must be a multiple of this (the model's global-context heads).
    slice_multiple: ClassVar[int]

    @classmethod
    def config_problem(cls, config: CodecConfig) -> str | None:
        """A missing or unknown ``architecture``, an ``old`` that is not a bool, or slices the model
        cannot build."""
        where = config.source or config.name
        known = ", ".join(repr(a) for a in ARCHITECTURES)
        if "architecture" not in config.params:
            return f"{where}: [params] must name the architecture read from the paper: one of {known} " \
                   "(see docs/mlic-fidelity.md)"
        architecture = config.params["architecture"]
        if architecture not in ARCHITECTURES:
            return (f"{where}: [params] architecture = {architecture!r} is not one this rdbench builds; "
                    f"it knows {known} (see docs/mlic-fidelity.md)")
        if not isinstance(config.params.get("old", False), bool):
            return f"{where}: [params] old = {config.params['old']!r} must be true or false"
        m = int(config.params.get("M", cls.default_params["M"]))
        slices = int(config.params.get("slices", cls.default_params["slices"]))
        if m % slices or (m // slices) % cls.slice_multiple:
            return (f"{where}: [params] M = {m} in {slices} slices: {config.adapter} needs equal slices of a "
                    f"multiple of {cls.slice_multiple} channels")
        return None

    def arch_kwargs(self) -> dict[str, Any]:
        """The integer ``arch_keys`` and ``old``, once ``[params]`` are checked (one-line error if not)."""
        problem = self.config_problem(self.config)
        if problem:
            raise RdbenchError(problem)
        return {**super().arch_kwargs(), "old": bool(self.config.params.get("old", False))}


class MLICCodec(_PaperCodec):
    """MLIC (MEM entropy model, stacked checkerboard convolutions), from the paper."""

    model_class = "rdbench.models.mlic:MLIC"
    slice_multiple = 2  # the intra-slice context's two heads
    default_params: ClassVar[dict[str, Any]] = {"architecture": ARCHITECTURES[0], "old": False, "N": 192, "M": 192,
                                                 "slices": 6}


class MLICPlusCodec(_PaperCodec):
    """MLIC+ (MEM+ entropy model, checkerboard attention), from the paper."""

    model_class = "rdbench.models.mlicplus:MLICPlus"
    slice_multiple = 32  # the inter-slice context's heads of 32 channels
    default_params: ClassVar[dict[str, Any]] = {"architecture": ARCHITECTURES[0], "old": False, "N": 192, "M": 320,
                                                 "slices": 10}
