""":class:`LearnedCodec`: what every learned adapter (MLIC, MLIC+, MLIC++, the CompressAI zoo) shares.

A learned codec is an ``nn.Module`` per quality point plus a bitstream layout. Everything but
the model's class, its constructor arguments, the padding rule and the header lives here, so the
adapters agree on where weights come from, how a checkpoint file is read, and what a pixel is.

Where the weights for a quality come from, the same for every learned adapter:

1. ``params.random_seed`` set (the ``*-random`` configurations): seeded random weights, built
   under ``torch.manual_seed`` (the caller's random state is left alone), with
   ``params.latent_gain`` scaling the layer that outputs the latent. Such a configuration reads
   no file, even when ``--checkpoint``/``--checkpoint-dir`` are given: its config hash names the
   seeded weights, so a results database must never hold numbers of other weights under it
   (one ``--checkpoint-dir`` is shared by every codec of a run).
2. ``--checkpoint FILE`` (one quality).
3. ``--checkpoint-dir DIR``: the file named by ``params.checkpoint_pattern`` (default
   ``<config name>_q{quality}.pth.tar``); an adapter may accept other names there (the zoo's own).
   Without ``--quality`` a run codes every quality the folder holds a file for
   (:meth:`LearnedCodec.checkpoint_qualities`).
4. ``params.checkpoint_dir`` in the configuration's TOML (relative to that file): the same
   file names, for a model whose weights live with its configuration.
5. The adapter's published weights (:meth:`LearnedCodec.published_model`): the CompressAI zoo's,
   from the torch hub cache (downloaded into it when absent); adapters without published
   weights (the MLIC family) say which files to pass instead.

Whichever source gives a file, the record's weights identity is the SHA-256 of its content
(:meth:`LearnedCodec.weights_identity`): a checkpoint retrained and written over the old one gives
new records, never the old numbers. Every file, the hub cache's included, is read by :mod:`rdbench.codecs.learned.checkpoints`:
``torch.load(weights_only=True)`` (a pickle that would run code is refused), ``module.`` and
``_orig_mod.`` prefixes stripped, compressai<=1.2.6 entropy-bottleneck names renamed. Entropy-
coder tables a model lacks are computed on the CPU before it moves to ``--device``, as the
checkpoint loader does, so a model's tables do not depend on the device it codes on.

The complexity study (:mod:`rdbench.run.complexity`) measures any :class:`LearnedCodec` through
:meth:`~LearnedCodec.torch_model` and :meth:`~LearnedCodec.forward_input`.

torch and compressai are imported inside the methods that need them: importing an adapter
(``rdbench codecs`` imports them all) stays fast and works without them installed, and
:meth:`~LearnedCodec.unavailable_reason` says which is missing.
"""

from __future__ import annotations

import re
from abc import abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from rdbench.codecs.base import (
    Codec,
    CodecConfig,
    CodecContext,
    Quality,
    file_digest,
    format_quality,
    missing_packages,
    parse_quality,
)
from rdbench.errors import CodecUnavailable, RdbenchError

if TYPE_CHECKING:
    import torch

#: Largest height or width the learned headers store (16-bit fields).
MAX_SIDE = 0xFFFF


def first_line(exc: BaseException) -> str:
    """The first line of an exception's text (or its type when it has none), for one-line errors."""
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def _last_conv_child(module: torch.nn.Module) -> torch.nn.Module:
    import torch

    return next(m for m in reversed(list(module.children())) if isinstance(m, torch.nn.Conv2d))


def apply_latent_gain(model: Any, gain: float, layer: torch.nn.Module | None = None) -> Any:
    """Scale by ``gain`` the layer that outputs the latent; returns ``model``.

    Freshly initialised models produce latents below 0.5 in magnitude, which all round to zero:
    the entropy coder would only ever see one symbol. A gain (``params.latent_gain`` of the
    ``*-random`` configurations) makes seeded models code real, varied symbols. ``layer``
    defaults to the last convolution among ``model.g_a``'s children, where compressai's zoo
    models (and MLIC, MLIC+) produce the latent.
    """
    import torch

    if gain != 1.0:
        layer = _last_conv_child(model.g_a) if layer is None else layer
        with torch.no_grad():
            layer.weight.mul_(gain)
            if layer.bias is not None:
                layer.bias.mul_(gain)
    return model


def _quality_order(quality: Quality) -> tuple[int, float | str]:
    """Numbers in numeric order, then any text qualities by name."""
    return (0, float(quality)) if isinstance(quality, (int, float)) else (1, str(quality))


class LearnedCodec(Codec):
    """Base of the learned adapters: weights, tensors, device, model cache and complexity hooks.

    Subclasses implement :meth:`build_model` (the architecture), :meth:`model_from_state` (that
    architecture holding a checkpoint's weights), :meth:`pad` and ``encode``/:meth:`decode_pixels`
    (the bitstream; decoding returns a uint8 tensor on the decode device, :meth:`decode` the same
    as a numpy array); adapters with published weights also :meth:`published_model` and
    :meth:`published_weights_missing`. Encoding uses :meth:`torch_model`, decoding
    :meth:`decoder_model` (the same model, or with ``--decode-device`` a copy on that device), and
    :meth:`remember_encoded` / :meth:`check_decoded` record whether the decoder rebuilt the
    encoder's latent.
    """

    wants_gpu: ClassVar[bool] = True
    #: Recorded as the record's codec library, with compressai's version (its entropy coder
    #: writes every learned bitstream).
    library_name: ClassVar[str] = "compressai"
    #: How many quality points' models stay loaded; None keeps all (a run visits every quality,
    #: some several times). An adapter with large models per quality keeps fewer.
    max_models: ClassVar[int | None] = None

    def __init__(self, config: CodecConfig, context: CodecContext) -> None:
        super().__init__(config, context)
        self._models: dict[str, tuple[torch.nn.Module, torch.nn.Module]] = {}
        self._last_encode: tuple[bytes, Any] | None = None  # (bitstream, encoder's quantised latent)

    @classmethod
    def rate_control(cls, config: CodecConfig) -> str | None:
        """A few fixed models (one per quality index): a target rate gets the nearest models on
        each side, never an interpolated one."""
        return "models" if cls.quality_domain_for(config) is not None else None

    # -- availability -------------------------------------------------------------------------

    @classmethod
    def unavailable_reason(cls, config: CodecConfig, context: CodecContext) -> str | None:
        """Missing packages, then a bad configuration, then (unless seeded) missing weights."""
        missing = missing_packages("torch", "compressai")
        if missing:
            return missing
        problem = cls.config_problem(config)
        if problem:
            return problem
        if "random_seed" in config.params:
            return None
        return cls.weights_missing(config, context)

    @classmethod
    def config_problem(cls, config: CodecConfig) -> str | None:
        """Why ``[params]`` or the qualities make no model (checked before any weights); None if fine."""
        return None

    @classmethod
    def weights_missing(cls, config: CodecConfig, context: CodecContext) -> str | None:
        """Why the weights this run names cannot be had, or None.

        With ``--checkpoint``/``--checkpoint-dir`` at least one quality's file must be there: a
        folder holding some of the qualities asked for runs those, and the planner reports each
        missing one (its weights identity is ``missing:<path>``) instead of refusing the codec.
        Without, :meth:`published_weights_missing` decides.
        """
        qualities = config.qualities[:1] if context.checkpoint else config.qualities
        paths = [cls.checkpoint_path(config, context, quality) for quality in qualities]
        if not any(path is not None for path in paths):
            return cls.published_weights_missing(config)
        if any(path is None or path.is_file() for path in paths):
            return None
        rest = [format_quality(q) for q in qualities[1:]]
        others = (f" (and that of quality {rest[0]})" if len(rest) == 1
                  else f" (and those of qualities {', '.join(rest)})" if rest else "")
        return f"checkpoint {paths[0]} for quality {format_quality(qualities[0])} is missing{others}"

    @classmethod
    def checkpoint_qualities(cls, config: CodecConfig, context: CodecContext) -> tuple[Quality, ...]:
        """The qualities ``--checkpoint-dir`` holds a file for, in numeric order: what a run
        without ``--quality`` codes, rather than the configuration's default sweep (a folder
        of q1..q5 is a model trained at five points, whatever the class's defaults say).

        A file counts when its name fits :meth:`checkpoint_pattern` and the quality it names
        is valid (:meth:`quality_domain_for`), or when it is the file :meth:`checkpoint_path`
        gives for one of the configuration's own qualities (the zoo's names). Empty for a
        seeded configuration or a run without ``--checkpoint-dir``.
        """
        if not context.checkpoint_dir or context.checkpoint or not cls.reads_checkpoints(config):
            return ()
        folder = Path(context.checkpoint_dir)
        before, field, after = cls.checkpoint_pattern(config).partition("{quality}")
        fits = re.compile(re.escape(before) + "(.+)" + re.escape(after) + "$")
        domain = cls.quality_domain_for(config)
        found: dict[str, Quality] = {}
        for path in folder.iterdir() if field and folder.is_dir() else ():
            match = fits.match(path.name) if path.is_file() else None
            if match is None:
                continue
            value = parse_quality(match.group(1))
            if domain is not None:
                try:
                    value = domain.canonical(value)
                except ValueError:
                    continue  # not a quality this codec has (a stray or renamed file)
            found[format_quality(value)] = value
        for quality in config.qualities:
            path = cls.checkpoint_path(config, context, quality)
            if path is not None and path.is_file():
                found.setdefault(format_quality(quality), quality)
        return tuple(sorted(found.values(), key=_quality_order))

    @classmethod
    def published_weights_missing(cls, config: CodecConfig) -> str | None:
        """Why a run without checkpoint options has no weights; this default: none are published.

        ``NAME-random`` (seeded random weights) is suggested only where such a configuration
        exists: rdbench ships them for its own adapters, a plug-in has none unless it adds one.
        """
        from rdbench.codecs.registry import load_configs

        seeded = f"{config.name}-random"
        also = f", or use {seeded} (seeded random weights)" if seeded in load_configs() else ""
        return (f"no weights: {config.name} has no published checkpoints; pass --checkpoint or "
                f"--checkpoint-dir with trained ones{also}")

    # -- where the weights are ----------------------------------------------------------------

    @classmethod
    def reads_checkpoints(cls, config: CodecConfig) -> bool:
        """Every learned configuration but a seeded one (``params.random_seed``), which reads no file."""
        return "random_seed" not in config.params

    @classmethod
    def weights_identity(cls, config: CodecConfig, context: CodecContext, quality: Quality) -> tuple[str, str | None]:
        """What the weights for ``quality`` are, by the same source order as :meth:`_load`:
        ``seed:N`` for seeded weights, ``sha256:<hex>`` of the checkpoint file (its content, not
        its name: a file overwritten in place is other weights), else
        :meth:`published_weights_identity`. A named checkpoint that does not exist yet is
        ``missing:<path>``, so adding the file later runs the job again."""
        if "random_seed" in config.params:
            return (f"seed:{int(config.params['random_seed'])}", None)
        path = cls.checkpoint_path(config, context, quality)
        if path is None:
            return (cls.published_weights_identity(config, quality), None)
        path = path.resolve()
        if not path.is_file():
            return (f"missing:{path}", str(path))
        return (f"sha256:{file_digest(path)}", str(path))

    @classmethod
    def published_weights_identity(cls, config: CodecConfig, quality: Quality) -> str:
        """Identity of the adapter's published weights for ``quality``; this default: there are none."""
        return "none"

    @classmethod
    def checkpoint_pattern(cls, config: CodecConfig) -> str:
        """File name of a quality's checkpoint in ``--checkpoint-dir`` (``{quality}`` is replaced)."""
        return str(config.params.get("checkpoint_pattern", config.name + "_q{quality}.pth.tar"))

    @classmethod
    def checkpoint_path(cls, config: CodecConfig, context: CodecContext, quality: Quality) -> Path | None:
        """The checkpoint named for ``quality`` (it may not exist), or None: ``--checkpoint``,
        else the pattern's file in ``--checkpoint-dir``, else in ``params.checkpoint_dir`` (a
        folder named in the configuration's TOML, relative to that file)."""
        if context.checkpoint:
            return Path(context.checkpoint)
        folder = context.checkpoint_dir
        if not folder and "checkpoint_dir" in config.params and cls.reads_checkpoints(config):
            folder = cls.param_path(config, "checkpoint_dir")
        if folder:
            return Path(folder) / cls.checkpoint_pattern(config).format(quality=format_quality(quality))
        return None

    @property
    def checkpoint_label(self) -> str:
        """What a fitting checkpoint is a checkpoint *of*, in the error for one that does not fit."""
        return self.name

    def missing_checkpoint(self, path: Path | None, quality: Quality) -> CodecUnavailable:
        """The error for a quality whose checkpoint is not there (``path`` None: none was named)."""
        return CodecUnavailable(f"no checkpoint for {self.name} quality {format_quality(quality)} ({path})",
                                hint="pass --checkpoint FILE --quality Q or --checkpoint-dir DIR")

    # -- the model ----------------------------------------------------------------------------

    @abstractmethod
    def build_model(self, quality: Quality) -> torch.nn.Module:
        """A freshly initialised model of this configuration's architecture for ``quality``.

        Seeded weights are drawn here (the caller has seeded torch).
        """

    def model_from_state(self, state: dict[str, Any], quality: Quality) -> torch.nn.Module:
        """A model holding ``state``, a checkpoint's normalised state_dict.

        Raises :class:`RdbenchError` when the weights do not fit, worded as a sentence about the
        file ("it does not fit ..."): the caller prefixes which file and what it should be.
        This default: :meth:`build_model`'s architecture with ``state`` loaded by the shared
        loader (:func:`~rdbench.codecs.learned.checkpoints.load_state`: missing, unexpected and
        mis-shaped keys named; entropy-coder tables computed when the file has none), which
        fits any model whose checkpoint is its own ``state_dict()``.
        """
        from rdbench.codecs.learned.checkpoints import load_state

        return load_state(self.build_model(quality), state, "it")

    def published_model(self, quality: Quality) -> torch.nn.Module:
        """The model with the adapter's published weights, used when no checkpoint is named.

        This default: there are none, so the missing-checkpoint error.
        """
        raise self.missing_checkpoint(None, quality)

    def latent_layer(self, model: torch.nn.Module) -> torch.nn.Module:
        """The layer whose output is the latent (scaled by ``params.latent_gain``)."""
        return _last_conv_child(model.g_a)

    def checkpoint_model(self, path: Path, quality: Quality) -> torch.nn.Module:
        """A model with the weights of ``path``, read by the shared safe loader.

        A file that cannot be read and one that does not fit this architecture get different
        one-line errors, both naming the file.
        """
        from rdbench.codecs.learned.checkpoints import read_checkpoint

        try:
            state = read_checkpoint(path)
        except RdbenchError as exc:
            raise RdbenchError(f"cannot read checkpoint for {self.name} quality {format_quality(quality)}: {exc}",
                               hint=exc.hint) from exc
        try:
            return self.model_from_state(state, quality)
        except RdbenchError as exc:
            raise RdbenchError(f"{path} is not a {self.checkpoint_label} checkpoint: {exc}", hint=exc.hint) from exc

    def _seeded_model(self, quality: Quality) -> torch.nn.Module:
        import torch

        with torch.random.fork_rng(devices=[]):  # leave the caller's random state alone
            torch.manual_seed(int(self.config.params["random_seed"]))
            model = self.build_model(quality)
        gain = float(self.config.params.get("latent_gain", 1.0))
        if gain != 1.0:
            apply_latent_gain(model, gain, self.latent_layer(model))
        return model

    def _load_cpu(self, quality: Quality) -> torch.nn.Module:
        """The model for ``quality`` from the first weight source that applies (module
        docstring), in eval mode, on the CPU."""
        if "random_seed" in self.config.params:
            model = self._seeded_model(quality)
        else:
            path = self.checkpoint_path(self.config, self.context, quality)
            if path is None:
                model = self.published_model(quality)
            elif not path.is_file():
                raise self.missing_checkpoint(path, quality)
            else:
                model = self.checkpoint_model(path, quality)
        # Fill only the entropy-coder tables the weights lack (empty after seeding, or in a
        # checkpoint saved before update()); stored tables are what the original encoder used.
        # On the CPU, before the move: the tables then do not depend on --device.
        model.update(force=False)
        return model.eval()

    def _load(self, quality: Quality) -> torch.nn.Module:
        """The model for ``quality`` on the context's device."""
        return self._load_cpu(quality).to(self.context.device)

    @property
    def decode_device(self) -> str:
        """Where decoding runs: ``--decode-device``, else the context's device."""
        return self.context.decode_device or self.context.device

    @property
    def separate_decoder(self) -> bool:
        """Whether decoding uses a model of its own: whenever ``--decode-device`` is given, even
        naming the encoding device (the cross-device path then runs, checkably, on one device)."""
        return self.context.decode_device is not None

    def torch_model(self, quality: Quality) -> torch.nn.Module:
        """The ``nn.Module`` coding at ``quality``, in eval mode on the context's device.

        Loaded on first use and kept (see :attr:`max_models`); the complexity study counts its
        FLOPs and times its forward.
        """
        return self._pair(quality)[0]

    def decoder_model(self, quality: Quality) -> torch.nn.Module:
        """The model that decodes at ``quality``: :meth:`torch_model`, or, with a decode device
        (``--decode-device``), a copy of the same weights and entropy tables on that device."""
        return self._pair(quality)[1]

    def _pair(self, quality: Quality) -> tuple[torch.nn.Module, torch.nn.Module]:
        """(encoder, decoder) models for ``quality``: one model, or, with a decode device, two
        copies of one CPU model (identical weights and tables), each then moved to its device."""
        import copy

        key = format_quality(quality)
        pair = self._models.get(key)
        if pair is None:
            if self.max_models is not None and len(self._models) >= self.max_models:
                self._models.clear()  # free the previous models before loading the next
            if self.separate_decoder:
                model = self._load_cpu(quality)
                decoder = copy.deepcopy(model).to(self.decode_device)
                encoder = model.to(self.context.device)
            else:
                encoder = decoder = self._load(quality)
            self.watch_latents(encoder, decoder)
            pair = self._models[key] = (encoder, decoder)
        return pair

    def prepare(self, quality: Quality) -> None:
        self._pair(quality)

    # -- did the decoder rebuild the encoder's latent? ----------------------------------------

    def watch_latents(self, encoder: torch.nn.Module, decoder: torch.nn.Module) -> None:
        """Hook point, called once per loaded model (pair): make ``encoder`` and ``decoder``
        report their quantised latents, for adapters whose ``compress``/``decompress`` do not
        return them (the CompressAI zoo). This default: nothing (the MLIC family returns
        ``y_hat`` from both)."""

    def remember_encoded(self, data: bytes, latent: Any) -> None:
        """Keep the encoder's quantised latent for the decode of ``data`` that follows."""
        self._last_encode = (data, latent)

    def check_decoded(self, data: bytes, latent: Any) -> None:
        """Record whether the decoder rebuilt exactly the encoder's quantised latent.

        ``notes["decoder_matches_encoder"]`` (and ``decoder_max_abs_diff`` when not): a mismatch
        (GPU non-determinism between the two passes, a decoder on another device computing other
        entropy parameters) shows in the record's ``extra`` instead of as a silently worse PSNR.
        Compared on the CPU when the two are on different devices.
        """
        last = self._last_encode
        if last is None or last[0] != data or latent is None or last[1] is None:
            return  # decoding a bitstream this object did not just encode: nothing to compare
        reference = last[1]
        self._last_encode = None
        if reference.device != latent.device:
            reference, latent = reference.cpu(), latent.cpu()
        same = bool(reference.shape == latent.shape and (reference == latent).all())
        self.notes["decoder_matches_encoder"] = same
        if not same:
            self.notes["decoder_max_abs_diff"] = float((reference - latent).abs().max()) \
                if reference.shape == latent.shape else "shape differs"

    # -- pixels and tensors -------------------------------------------------------------------

    def to_tensor(self, image: np.ndarray) -> torch.Tensor:
        """A (1, 3, H, W) float32 tensor in [0, 1] on the context's device, from (H, W, 3) uint8.

        The uint8 pixels travel to the device (a quarter of the float bytes) and become floats
        there; /255 in float32 as torchvision's ToTensor does (IEEE division: the same floats on
        every device)."""
        import torch

        pixels = torch.from_numpy(np.array(image, dtype=np.uint8))  # a copy: the image may be read-only
        x = pixels.to(self.context.device).permute(2, 0, 1).unsqueeze(0).float()
        return x / 255.0

    @abstractmethod
    def pad(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` padded to the sizes the model codes (each adapter follows its reference evaluation)."""

    def forward_input(self, image: np.ndarray) -> torch.Tensor:
        """The padded (1, 3, H', W') tensor the model's ``forward``/``compress`` take (complexity uses it)."""
        return self.pad(self.to_tensor(image))

    @staticmethod
    def to_pixels(x_hat: torch.Tensor, height: int, width: int, top: int = 0, left: int = 0) -> torch.Tensor:
        """The (height, width, 3) uint8 tensor at (top, left) of a (1, 3, H', W') reconstruction,
        on its device: rounded (not truncated) from [0, 1]."""
        pixels = x_hat[0, :, top:top + height, left:left + width].clamp(0, 1).mul(255).round().byte()
        return pixels.permute(1, 2, 0)

    @classmethod
    def to_image(cls, x_hat: torch.Tensor, height: int, width: int, top: int = 0, left: int = 0) -> np.ndarray:
        """:meth:`to_pixels` as a numpy array on the host."""
        return cls.to_pixels(x_hat, height, width, top, left).cpu().numpy()

    @abstractmethod
    def decode_pixels(self, data: bytes, quality: Quality) -> torch.Tensor:
        """The reconstruction as an (H, W, 3) uint8 tensor on the decode device (see
        :meth:`rdbench.codecs.base.Codec.decode_pixels`): metrics are computed there."""

    def decode(self, data: bytes, quality: Quality) -> np.ndarray:
        """The reconstruction as an (H, W, 3) uint8 numpy array (:meth:`decode_pixels`, copied to
        the host)."""
        return self.decode_pixels(data, quality).cpu().numpy()

    def image_size(self, image: np.ndarray) -> tuple[int, int]:
        """(height, width) of ``image``, refused when a side does not fit a learned header's 16 bits."""
        height, width = image.shape[:2]
        if max(height, width) > MAX_SIDE:
            raise RdbenchError(f"{width}x{height} is too large for the {self.name} header ({MAX_SIDE} px a side)")
        return height, width

    # -- device and bookkeeping ---------------------------------------------------------------

    def synchronize(self) -> None:
        """Wait for queued CUDA work on the encoding and decoding devices, so timings include it
        (a no-op on the CPU)."""
        for device in {self.context.device, self.decode_device}:
            if str(device).startswith("cuda"):
                import torch

                torch.cuda.synchronize(device)

    def library(self) -> tuple[str, str]:
        from importlib.metadata import version

        return (self.library_name, version("compressai"))

    def close(self) -> None:
        self._models.clear()
        self._last_encode = None
