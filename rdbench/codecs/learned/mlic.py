"""Adapters ``mlic`` and ``mlicplus``: MLIC / MLIC+ models (rdbench.models) as codecs.

There are no published weights for MLIC or MLIC+, so a configuration either names
checkpoints (``--checkpoint FILE`` for one quality, or ``--checkpoint-dir DIR`` with files named
by ``params.checkpoint_pattern``) or sets ``params.random_seed`` for seeded random weights
(the ``*-random`` configurations: real bitstreams and real complexity, meaningless quality).

Bitstream (the whole MLIC family, MLIC++ included): a 12-byte header (height, width as uint16;
latent-hyperprior size as two uint16; length of the latent string as uint32), the latent string,
then the hyperprior string. The decoder crops the padded reconstruction back to height x width.

After decoding, the decoder's quantised latent is compared with the encoder's and the result is
stored in ``notes`` (``decoder_matches_encoder``), so a mismatch (e.g. GPU non-determinism between
the two passes) shows up in the record's ``extra`` instead of as a silently worse PSNR.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from rdbench.codecs.base import Codec, CodecConfig, CodecContext, Quality, format_quality, missing_packages
from rdbench.errors import CodecUnavailable, RdbenchError

_HEADER = struct.Struct(">HHHHI")
_ARCH_KEYS = ("N", "M", "slices", "attn_dim")


class _MultiReferenceCodec(Codec):
    """Shared driver of MLIC-family models: checkpoint or seeded weights, padding, header."""

    model_class: ClassVar[str]  # "module:Class" of the nn.Module
    library_name: ClassVar[str] = "rdbench.models+compressai"
    wants_gpu: ClassVar[bool] = True
    quality_label: ClassVar[str] = "model index (higher = more bits)"
    default_qualities = (1, 2, 3, 4, 5, 6)

    def __init__(self, config: CodecConfig, context: CodecContext) -> None:
        super().__init__(config, context)
        self._models: dict[str, Any] = {}
        self._last_encode: tuple[bytes, Any] | None = None  # (bitstream, encoder's y_hat)

    # -- availability and weights -------------------------------------------------------

    @classmethod
    def _checkpoint_for(cls, config: CodecConfig, context: CodecContext, quality: Quality) -> Path | None:
        if context.checkpoint:
            return Path(context.checkpoint)
        if context.checkpoint_dir:
            pattern = config.params.get("checkpoint_pattern", config.name + "_q{quality}.pth.tar")
            return Path(context.checkpoint_dir) / pattern.format(quality=format_quality(quality))
        return None

    @classmethod
    def unavailable_reason(cls, config: CodecConfig, context: CodecContext) -> str | None:
        missing = missing_packages("torch", "compressai")
        if missing:
            return missing
        if "random_seed" in config.params:
            return None
        return cls._weights_missing(config, context)

    @classmethod
    def _weights_missing(cls, config: CodecConfig, context: CodecContext) -> str | None:
        """Why the checkpoints this run names cannot be used (each model family words its own)."""
        if not (context.checkpoint or context.checkpoint_dir):
            return (f"no weights: {config.name} has no published checkpoints; pass --checkpoint or "
                    f"--checkpoint-dir with trained ones, or use {config.name}-random (seeded random weights)")
        for quality in config.qualities[:1] if context.checkpoint else config.qualities:
            path = cls._checkpoint_for(config, context, quality)
            if path is not None and not path.is_file():
                return f"checkpoint {path} for quality {format_quality(quality)} is missing"
        return None

    def _build(self) -> Any:
        import importlib

        module, _, name = self.model_class.partition(":")
        cls = getattr(importlib.import_module(module), name)
        arch = {k: int(self.config.params[k]) for k in _ARCH_KEYS if k in self.config.params}
        return cls(**arch)

    def torch_model(self, quality: Quality) -> Any:
        """The nn.Module used at ``quality`` (loaded on first use); complexity counts its FLOPs."""
        import torch

        key = format_quality(quality)
        if key in self._models:
            return self._models[key]
        if "random_seed" in self.config.params:
            # Every quality gets the same seeded weights (random weights have no rate point to
            # aim at); fork_rng keeps the caller's random state untouched.
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(int(self.config.params["random_seed"]))
                model = self._build()
        else:
            path = self._checkpoint_for(self.config, self.context, quality)
            if path is None or not path.is_file():
                raise CodecUnavailable(f"no checkpoint for {self.name} quality {key} ({path})",
                                       hint="pass --checkpoint FILE --quality Q or --checkpoint-dir DIR")
            model = self._build()
            try:
                state = torch.load(path, map_location="cpu", weights_only=True)
                model.load_state_dict(state.get("state_dict", state) if isinstance(state, dict) else state)
            except (RuntimeError, OSError, KeyError, ValueError) as exc:
                raise RdbenchError(f"{path} is not a {self.name} checkpoint for these parameters: "
                                   f"{str(exc).splitlines()[0]}", hint="check [params] N/M/slices in the codec TOML") from exc
        model = model.eval().to(self.context.device)
        model.update(force=True)
        self._models[key] = model
        return model

    def prepare(self, quality: Quality) -> None:
        self.torch_model(quality)

    # -- coding ---------------------------------------------------------------------------

    def _to_tensor(self, image: np.ndarray) -> Any:
        import torch

        from rdbench.models.mlic_layers import pad_to_stride

        x = torch.from_numpy(np.array(image, dtype=np.float32)).permute(2, 0, 1).unsqueeze(0) / 255.0
        return pad_to_stride(x.to(self.context.device))[0]

    def forward_input(self, image: np.ndarray) -> Any:
        """The padded (1, 3, H, W) tensor the model's forward takes (used by complexity)."""
        return self._to_tensor(image)

    def encode(self, image: np.ndarray, quality: Quality) -> bytes:
        import torch

        height, width = image.shape[:2]
        if max(height, width) > 0xFFFF:
            raise RdbenchError(f"{width}x{height} is too large for the {self.name} header (65535 px a side)")
        model = self.torch_model(quality)
        with torch.inference_mode():
            out = model.compress(self._to_tensor(image))
        y_string, z_string = out["strings"][0][0], out["strings"][1][0]
        header = _HEADER.pack(height, width, int(out["shape"][0]), int(out["shape"][1]), len(y_string))
        data = header + y_string + z_string
        self._last_encode = (data, out["y_hat"])
        return data

    def decode(self, data: bytes, quality: Quality) -> np.ndarray:
        import torch

        if len(data) < _HEADER.size:
            raise RdbenchError(f"{self.name} bitstream of {len(data)} bytes is shorter than its header")
        height, width, zh, zw, y_len = _HEADER.unpack_from(data)
        body = data[_HEADER.size:]
        if y_len > len(body):
            raise RdbenchError(f"{self.name} bitstream is truncated ({len(body)} bytes after the header, "
                               f"latent alone needs {y_len})")
        model = self.torch_model(quality)
        with torch.inference_mode():
            out = model.decompress([[body[:y_len]], [body[y_len:]]], (zh, zw))
            self._check_against_encoder(data, out["y_hat"])
            pixels = (out["x_hat"][0, :, :height, :width] * 255.0).round().clamp(0, 255).byte()
        return pixels.permute(1, 2, 0).cpu().numpy()

    def _check_against_encoder(self, data: bytes, y_hat: Any) -> None:
        """Record whether the decoder rebuilt exactly the encoder's quantised latent."""
        if self._last_encode is None or self._last_encode[0] != data:
            return  # decoding a bitstream this object did not just encode: nothing to compare
        reference = self._last_encode[1]
        self._last_encode = None
        same = bool(reference.shape == y_hat.shape and (reference == y_hat).all())
        self.notes["decoder_matches_encoder"] = same
        if not same:
            self.notes["decoder_max_abs_diff"] = float((reference - y_hat).abs().max()) \
                if reference.shape == y_hat.shape else "shape differs"

    def synchronize(self) -> None:
        if str(self.context.device).startswith("cuda"):
            import torch

            torch.cuda.synchronize(self.context.device)

    def library(self) -> tuple[str, str]:
        from importlib.metadata import version

        return (self.library_name, version("compressai"))

    def close(self) -> None:
        self._models.clear()


class MLICCodec(_MultiReferenceCodec):
    """MLIC (MEM entropy model, stacked checkerboard convolutions), from the paper."""

    model_class = "rdbench.models.mlic:MLIC"
    default_params: ClassVar[dict[str, Any]] = {"N": 192, "M": 320, "slices": 10}


class MLICPlusCodec(_MultiReferenceCodec):
    """MLIC+ (MEM+ entropy model, checkerboard attention), from the paper."""

    model_class = "rdbench.models.mlicplus:MLICPlus"
    default_params: ClassVar[dict[str, Any]] = {"N": 192, "M": 320, "slices": 10}
