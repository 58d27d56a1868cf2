"""Adapter ``compressai``: the learned baselines of CompressAI's model zoo as codecs.

``[params]`` picks the model: ``arch`` (bmshj2018-factorized, bmshj2018-hyperprior,
mbt2018-mean, mbt2018, cheng2020-anchor, cheng2020-attn) and ``metric`` (mse | ms-ssim); the
quality points are the zoo's indices (1-8, 1-6 for cheng2020). Weights come, in order, from

1. ``params.random_seed``: seeded random weights at the zoo's size for that quality (real
   bitstreams and complexity, meaningless quality; the ``*-random`` configurations, for CI),
   with ``params.latent_gain`` scaling the latents so they do not all round to zero;
2. ``--checkpoint FILE`` / ``--checkpoint-dir DIR``: local checkpoints in compressai's
   state_dict format (raw, or ``{"state_dict": ...}`` as its training script saves them),
   named by ``params.checkpoint_pattern`` or by the zoo's own file name;
3. the pretrained zoo weights, from the torch hub cache (``$TORCH_HOME/hub/checkpoints``, where
   compressai's own zoo loader keeps them), downloaded into it when absent. The cache is checked
   first, so an offline machine gets one line saying which files are missing and how to fetch
   them, instead of a network traceback. ``RDBENCH_OFFLINE=1`` skips the network probe.

This is the order of every learned adapter (:mod:`rdbench.codecs.learned.base`), and every file,
the hub cache's included, is read by its safe loader (``weights_only=True``; compressai's loader
would unpickle a downloaded file unchecked), then given compressai's own key renames.

Bitstream: a header (height, width as uint16; number of strings as uint8; the latent shape
``decompress`` needs as two uint16; one uint32 length per string), then the strings, so bpp
counts every byte a decoder needs (13 bytes of header for the factorized prior, 17 for the
others). Images are zero-padded, centred, to a multiple of 64 as CompressAI's own evaluation
does, and cropped back after decoding. As for the MLIC family, the decoder's quantised latent is
compared with the encoder's (``decoder_matches_encoder`` in the record's ``extra``;
:meth:`CompressAIZooCodec.watch_latents` says how the zoo models are made to report them).
"""

from __future__ import annotations

import functools
import os
import socket
import struct
import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlparse

import numpy as np

from rdbench.codecs.base import CodecConfig, CodecContext, Quality, QualityDomain
from rdbench.codecs.learned.base import LearnedCodec, apply_latent_gain, first_line
from rdbench.errors import CodecUnavailable, RdbenchError

if TYPE_CHECKING:
    import torch

__all__ = ["ARCHS", "METRICS", "ZOO_FILES", "ZOO_URL", "CompressAIZooCodec", "apply_latent_gain", "cached_weights",
           "can_download", "hub_cache_dir", "offline_message", "weights_url", "zoo_qualities"]

ARCHS = ("bmshj2018-factorized", "bmshj2018-hyperprior", "mbt2018-mean", "mbt2018",
         "cheng2020-anchor", "cheng2020-attn")
METRICS = ("mse", "ms-ssim")
_HEADER = struct.Struct(">HHBHH")
_LENGTH = struct.Struct(">I")
_STRIDE = 64
_AR_WARNING = "Inference on GPU is not recommended for the autoregressive models"


# -- the zoo's facts ------------------------------------------------------------------------
# Written out (compressai 1.2.8's ``compressai.zoo.image.model_urls``; tests check them against
# the installed compressai) so that listing codecs, checking the hub cache and planning a run
# import neither compressai nor torch: importing compressai takes seconds (it imports its
# point-cloud datasets and torch_geometric).

#: Where the zoo's files are published: ``ZOO_URL + "/" + file name``.
ZOO_URL = "https://compressai.s3.amazonaws.com/models/v1"
#: The zoo's weight files: arch -> metric -> file name of quality 1, 2, ... (content-addressed:
#: the name ends with the first hex digits of the file's SHA-256).
ZOO_FILES: dict[str, dict[str, tuple[str, ...]]] = {
    "bmshj2018-factorized": {
        "mse": (
            "bmshj2018-factorized-prior-1-446d5c7f.pth.tar", "bmshj2018-factorized-prior-2-87279a02.pth.tar",
            "bmshj2018-factorized-prior-3-5c6f152b.pth.tar", "bmshj2018-factorized-prior-4-1ed4405a.pth.tar",
            "bmshj2018-factorized-prior-5-866ba797.pth.tar", "bmshj2018-factorized-prior-6-9b02ea3a.pth.tar",
            "bmshj2018-factorized-prior-7-6dfd6734.pth.tar", "bmshj2018-factorized-prior-8-5232faa3.pth.tar",
        ),
        "ms-ssim": (
            "bmshj2018-factorized-ms-ssim-1-9781d705.pth.tar", "bmshj2018-factorized-ms-ssim-2-4a584386.pth.tar",
            "bmshj2018-factorized-ms-ssim-3-5352f123.pth.tar", "bmshj2018-factorized-ms-ssim-4-4f91b847.pth.tar",
            "bmshj2018-factorized-ms-ssim-5-b3a88897.pth.tar", "bmshj2018-factorized-ms-ssim-6-ee028763.pth.tar",
            "bmshj2018-factorized-ms-ssim-7-8c265a29.pth.tar", "bmshj2018-factorized-ms-ssim-8-8811bd14.pth.tar",
        ),
    },
    "bmshj2018-hyperprior": {
        "mse": (
            "bmshj2018-hyperprior-1-7eb97409.pth.tar", "bmshj2018-hyperprior-2-93677231.pth.tar",
            "bmshj2018-hyperprior-3-6d87be32.pth.tar", "bmshj2018-hyperprior-4-de1b779c.pth.tar",
            "bmshj2018-hyperprior-5-f8b614e1.pth.tar", "bmshj2018-hyperprior-6-1ab9c41e.pth.tar",
            "bmshj2018-hyperprior-7-3804dcbd.pth.tar", "bmshj2018-hyperprior-8-a583f0cf.pth.tar",
        ),
        "ms-ssim": (
            "bmshj2018-hyperprior-ms-ssim-1-5cf249be.pth.tar", "bmshj2018-hyperprior-ms-ssim-2-1ff60d1f.pth.tar",
            "bmshj2018-hyperprior-ms-ssim-3-92dd7878.pth.tar", "bmshj2018-hyperprior-ms-ssim-4-4377354e.pth.tar",
            "bmshj2018-hyperprior-ms-ssim-5-c34afc8d.pth.tar", "bmshj2018-hyperprior-ms-ssim-6-3a6d8229.pth.tar",
            "bmshj2018-hyperprior-ms-ssim-7-8747d3bc.pth.tar", "bmshj2018-hyperprior-ms-ssim-8-cc15b5f3.pth.tar",
        ),
    },
    "mbt2018-mean": {
        "mse": (
            "mbt2018-mean-1-e522738d.pth.tar", "mbt2018-mean-2-e54a039d.pth.tar", "mbt2018-mean-3-723404a8.pth.tar",
            "mbt2018-mean-4-6dba02a3.pth.tar", "mbt2018-mean-5-d504e8eb.pth.tar", "mbt2018-mean-6-a19628ab.pth.tar",
            "mbt2018-mean-7-d5d441d1.pth.tar", "mbt2018-mean-8-8089ae3e.pth.tar",
        ),
        "ms-ssim": (
            "mbt2018-mean-ms-ssim-1-5bf9c0b6.pth.tar", "mbt2018-mean-ms-ssim-2-e2a1bf3f.pth.tar",
            "mbt2018-mean-ms-ssim-3-640ce819.pth.tar", "mbt2018-mean-ms-ssim-4-12626c13.pth.tar",
            "mbt2018-mean-ms-ssim-5-1be7f059.pth.tar", "mbt2018-mean-ms-ssim-6-b83bf379.pth.tar",
            "mbt2018-mean-ms-ssim-7-ddf9644c.pth.tar", "mbt2018-mean-ms-ssim-8-0cc7b94f.pth.tar",
        ),
    },
    "mbt2018": {
        "mse": (
            "mbt2018-1-3f36cd77.pth.tar", "mbt2018-2-43b70cdd.pth.tar", "mbt2018-3-22901978.pth.tar",
            "mbt2018-4-456e2af9.pth.tar", "mbt2018-5-b4a046dd.pth.tar", "mbt2018-6-7052e5ea.pth.tar",
            "mbt2018-7-8ba2bf82.pth.tar", "mbt2018-8-dd0097aa.pth.tar",
        ),
        "ms-ssim": (
            "mbt2018-ms-ssim-1-2878436b.pth.tar", "mbt2018-ms-ssim-2-c41cb208.pth.tar",
            "mbt2018-ms-ssim-3-d0dd64e8.pth.tar", "mbt2018-ms-ssim-4-a120e037.pth.tar",
            "mbt2018-ms-ssim-5-9b30e3b7.pth.tar", "mbt2018-ms-ssim-6-f8b3626f.pth.tar",
            "mbt2018-ms-ssim-7-16e6ff50.pth.tar", "mbt2018-ms-ssim-8-0cb49d43.pth.tar",
        ),
    },
    "cheng2020-anchor": {
        "mse": (
            "cheng2020-anchor-1-dad2ebff.pth.tar", "cheng2020-anchor-2-a29008eb.pth.tar",
            "cheng2020-anchor-3-e49be189.pth.tar", "cheng2020-anchor-4-98b0b468.pth.tar",
            "cheng2020-anchor-5-23852949.pth.tar", "cheng2020-anchor-6-4c052b1a.pth.tar",
        ),
        "ms-ssim": (
            "cheng2020_anchor-ms-ssim-1-20f521db.pth.tar", "cheng2020_anchor-ms-ssim-2-c7ff5812.pth.tar",
            "cheng2020_anchor-ms-ssim-3-c23e22d5.pth.tar", "cheng2020_anchor-ms-ssim-4-0e658304.pth.tar",
            "cheng2020_anchor-ms-ssim-5-c0a95e77.pth.tar", "cheng2020_anchor-ms-ssim-6-f2dc1913.pth.tar",
        ),
    },
    "cheng2020-attn": {
        "mse": (
            "cheng2020_attn-mse-1-465f2b64.pth.tar", "cheng2020_attn-mse-2-e0805385.pth.tar",
            "cheng2020_attn-mse-3-2d07bbdf.pth.tar", "cheng2020_attn-mse-4-f7b0ccf2.pth.tar",
            "cheng2020_attn-mse-5-26c8920e.pth.tar", "cheng2020_attn-mse-6-730501f2.pth.tar",
        ),
        "ms-ssim": (
            "cheng2020_attn-ms-ssim-1-c5381d91.pth.tar", "cheng2020_attn-ms-ssim-2-5dad201d.pth.tar",
            "cheng2020_attn-ms-ssim-3-5c9be841.pth.tar", "cheng2020_attn-ms-ssim-4-8b2f647e.pth.tar",
            "cheng2020_attn-ms-ssim-5-5ca1f34c.pth.tar", "cheng2020_attn-ms-ssim-6-216423ec.pth.tar",
        ),
    },
}


def zoo_qualities(arch: str, metric: str) -> tuple[int, ...]:
    """Quality indices the zoo has pretrained weights for (1-8; 1-6 for cheng2020)."""
    return tuple(range(1, len(ZOO_FILES.get(arch, {}).get(metric, ())) + 1))


def weights_url(arch: str, metric: str, quality: int) -> str:
    return f"{ZOO_URL}/{ZOO_FILES[arch][metric][quality - 1]}"


def hub_cache_dir() -> Path:
    """Where torch.hub (and so compressai's zoo loader) keeps downloaded weights:
    ``torch.hub.get_dir()/checkpoints``, worked out as torch does (``$TORCH_HOME/hub``, else
    ``$XDG_CACHE_HOME/torch/hub``, else ``~/.cache/torch/hub``) without importing torch; when
    torch is imported already its answer is used (it honours ``torch.hub.set_dir``)."""
    torch = sys.modules.get("torch")
    if torch is not None and hasattr(torch, "hub"):
        return Path(torch.hub.get_dir()) / "checkpoints"
    home = os.environ.get("TORCH_HOME") or os.path.join(os.environ.get("XDG_CACHE_HOME", "~/.cache"), "torch")
    return Path(os.path.expanduser(home)) / "hub" / "checkpoints"


def cached_weights(arch: str, metric: str, quality: int) -> Path:
    """The file the zoo loader reads for these weights (it may not exist)."""
    return hub_cache_dir() / ZOO_FILES[arch][metric][quality - 1]


@functools.lru_cache(maxsize=None)
def can_download(host: str) -> bool:
    """Whether ``host`` answers on port 443; False at once when RDBENCH_OFFLINE is set."""
    if os.environ.get("RDBENCH_OFFLINE", "").lower() in ("1", "true", "yes"):
        return False
    try:
        socket.create_connection((host, 443), timeout=3).close()
    except OSError:
        return False
    return True


def _quality_list(qualities: list[int]) -> str:
    if len(qualities) > 2 and qualities == list(range(qualities[0], qualities[-1] + 1)):
        return f"{qualities[0]}-{qualities[-1]}"
    return ",".join(str(q) for q in qualities)


def offline_message(arch: str, metric: str, qualities: list[int], pattern: str) -> str:
    """One line: which weights are missing, where they were looked for, and how to get them."""
    function = arch.replace("-", "_")
    fetch = (f"python -c \"from compressai.zoo import {function}; "
             f"[{function}(q, metric='{metric}', pretrained=True) for q in {sorted(qualities)}]\"")
    return (f"weights for {arch} ({metric}) quality {_quality_list(sorted(qualities))} are not in the torch hub "
            f"cache ({hub_cache_dir()}) and cannot be downloaded offline; on a machine with internet run "
            f"`{fetch}` and copy its {hub_cache_dir().name}/ folder into this cache (or set TORCH_HOME), "
            f"or pass --checkpoint-dir DIR with files named {pattern} (or the zoo's file names)")


class CompressAIZooCodec(LearnedCodec):
    """A CompressAI zoo model (Ballé 2018, Minnen 2018, Cheng 2020) coding real bitstreams."""

    quality_label: ClassVar[str] = "zoo quality index (higher = more bits)"
    default_params: ClassVar[dict[str, Any]] = {"arch": "bmshj2018-hyperprior", "metric": "mse"}
    default_qualities = (1, 2, 3, 4, 5, 6, 7, 8)
    max_models = 1  # jobs come quality by quality, and the zoo's largest models are big
    #: The zoo's quality indices per architecture (compressai.zoo.image.cfgs): 1-8, the cheng2020
    #: models 1-6. Written out so the range is known without importing compressai (and torch).
    ZOO_MAX_QUALITY: ClassVar[dict[str, int]] = {arch: 6 if arch.startswith("cheng2020") else 8 for arch in ARCHS}

    @classmethod
    def quality_domain_for(cls, config: CodecConfig) -> QualityDomain | None:
        """The zoo's indices for ``params.arch``: each is its own trained model size (seeded or not)."""
        top = cls.ZOO_MAX_QUALITY.get(config.params.get("arch"))
        return QualityDomain("int", 1, top, meaning="CompressAI zoo quality index") if top else None

    def __init__(self, config: CodecConfig, context: CodecContext) -> None:
        super().__init__(config, context)
        self.arch = str(config.params.get("arch", ""))
        self.metric = str(config.params.get("metric", "mse"))
        self._latents: list[Any] | None = None  # quantised latents seen while coding (watch_latents)

    # -- availability and where the weights come from -------------------------------------

    @classmethod
    def config_problem(cls, config: CodecConfig) -> str | None:
        """An unknown arch or metric, or qualities the zoo does not have."""
        arch, metric = config.params.get("arch"), config.params.get("metric", "mse")
        where = config.source or config.name
        if arch not in ARCHS:
            return f"{where}: [params] arch = {arch!r} is not one of {', '.join(ARCHS)}"
        if metric not in METRICS:
            return f"{where}: [params] metric = {metric!r} is not one of {', '.join(METRICS)}"
        offered = zoo_qualities(arch, metric)
        wrong = [q for q in config.qualities if q not in offered]
        if wrong:
            return (f"{where}: qualities {wrong} are not in the zoo for {arch} ({metric}); "
                    f"it has {_quality_list(list(offered))}")
        return None

    @classmethod
    def published_weights_missing(cls, config: CodecConfig) -> str | None:
        """The offline message when no quality is in the hub cache and none can be downloaded."""
        arch, metric = config.params.get("arch"), config.params.get("metric", "mse")
        missing = [q for q in config.qualities if not cached_weights(arch, metric, q).is_file()]
        # Unavailable only when nothing at all can be had: with some qualities cached the run goes
        # on and each missing one fails with the same line (see published_model).
        if missing and len(missing) == len(config.qualities) \
                and not can_download(urlparse(weights_url(arch, metric, missing[0])).hostname):
            return offline_message(arch, metric, missing, cls.checkpoint_pattern(config))
        return None

    @classmethod
    def published_weights_identity(cls, config: CodecConfig, quality: Quality) -> str:
        """The zoo file's name, which carries the first hex digits of its SHA-256 (compressai's
        URLs are content-addressed): the same before and after the download into the hub cache."""
        arch, metric = config.params.get("arch"), config.params.get("metric", "mse")
        if not isinstance(quality, int) or quality not in zoo_qualities(arch, metric):
            return "none"
        return f"compressai-zoo:{cached_weights(arch, metric, quality).name}"

    @classmethod
    def checkpoint_path(cls, config: CodecConfig, context: CodecContext, quality: Quality) -> Path | None:
        """As for every learned codec, but in --checkpoint-dir the zoo's own file name also
        counts when the pattern's is absent (a copied hub cache works as is)."""
        path = super().checkpoint_path(config, context, quality)
        if context.checkpoint or path is None or path.is_file():
            return path
        arch, metric = config.params.get("arch"), config.params.get("metric", "mse")
        if isinstance(quality, int) and quality in zoo_qualities(arch, metric):
            zoo_name = Path(context.checkpoint_dir) / cached_weights(arch, metric, quality).name
            if zoo_name.is_file():
                return zoo_name
        return path

    @property
    def checkpoint_label(self) -> str:
        return self.arch

    # -- the model ------------------------------------------------------------------------

    def build_model(self, quality: Quality) -> torch.nn.Module:
        """The zoo's architecture at its size for ``quality``."""
        from compressai.zoo.image import cfgs, model_architectures

        if quality not in cfgs[self.arch]:
            raise RdbenchError(f"{self.name}: the zoo has no {self.arch} model of quality {quality}; "
                               f"choose from {_quality_list(sorted(cfgs[self.arch]))}")
        return model_architectures[self.arch](*cfgs[self.arch][quality])

    def model_from_state(self, state: dict[str, Any], quality: Quality) -> torch.nn.Module:
        """compressai's own constructor from a state_dict (it reads N and M from the weights),
        after compressai's key renames the shared loader does not make (e.g. ``downsample`` ->
        ``skip`` in cheng2020's residual blocks)."""
        from compressai.zoo.image import model_architectures
        from compressai.zoo.pretrained import load_pretrained

        try:
            return model_architectures[self.arch].from_state_dict(load_pretrained(state))
        except (RuntimeError, KeyError, ValueError, AttributeError) as exc:
            raise RdbenchError(first_line(exc)) from exc

    def published_model(self, quality: Quality) -> torch.nn.Module:
        """The zoo's weights from the torch hub cache, downloaded there first when absent;
        never a network traceback."""
        import torch.hub

        if quality not in zoo_qualities(self.arch, self.metric):
            raise RdbenchError(f"the zoo has no {self.arch} ({self.metric}) weights of quality {quality}; "
                               f"it has {_quality_list(list(zoo_qualities(self.arch, self.metric)))}")
        url = weights_url(self.arch, self.metric, quality)
        cached = cached_weights(self.arch, self.metric, quality)
        if not cached.is_file():
            message = offline_message(self.arch, self.metric, [quality], self.checkpoint_pattern(self.config))
            if not can_download(urlparse(url).hostname):
                raise CodecUnavailable(message)
            try:
                cached.parent.mkdir(parents=True, exist_ok=True)
                torch.hub.download_url_to_file(url, str(cached), progress=True)
            except OSError as exc:  # URLError and friends: the download failed after all
                raise CodecUnavailable(f"{message} ({exc})") from exc
        return self.checkpoint_model(cached, quality)

    def pad(self, x: torch.Tensor) -> torch.Tensor:
        """Zero-padded, centred, to multiples of 64 (CompressAI's own evaluation)."""
        import torch.nn.functional as F
        from compressai.ops import compute_padding

        pad, _ = compute_padding(x.shape[2], x.shape[3], min_div=_STRIDE)
        return F.pad(x, pad, mode="constant", value=0)

    # -- coding -----------------------------------------------------------------------------

    def encode(self, image: np.ndarray, quality: Quality) -> bytes:
        import torch

        height, width = self.image_size(image)
        model = self.torch_model(quality)
        self._latents = []
        try:
            with torch.inference_mode(), warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=_AR_WARNING)
                out = model.compress(self.forward_input(image))
        finally:
            latents, self._latents = self._latents, None
        strings = [s[0] for s in out["strings"]]
        shape = [int(v) for v in out["shape"]]
        header = _HEADER.pack(height, width, len(strings), *shape)
        data = header + b"".join(_LENGTH.pack(len(s)) for s in strings) + b"".join(strings)
        self.remember_encoded(data, latents[0] if len(latents) == 1 else None)
        return data

    def decode_pixels(self, data: bytes, quality: Quality) -> torch.Tensor:
        import torch
        from compressai.ops import compute_padding

        if len(data) < _HEADER.size:
            raise RdbenchError(f"{self.name} bitstream of {len(data)} bytes is shorter than its header")
        height, width, count, *shape = _HEADER.unpack_from(data)
        expected = 1 if self.arch == "bmshj2018-factorized" else 2
        if count != expected:
            raise RdbenchError(f"{self.name} bitstream holds {count} strings; {self.arch} needs {expected}")
        offset = _HEADER.size + count * _LENGTH.size
        lengths = [_LENGTH.unpack_from(data, _HEADER.size + i * _LENGTH.size)[0] for i in range(count)] \
            if len(data) >= offset else []
        if len(data) != offset + sum(lengths) or not lengths:
            raise RdbenchError(f"{self.name} bitstream is truncated or has trailing bytes "
                               f"({len(data)} bytes; the header announces {offset + sum(lengths)})")
        strings = []
        for length in lengths:
            strings.append([data[offset:offset + length]])
            offset += length
        model = self.decoder_model(quality)
        self._latents = []
        try:
            with torch.inference_mode(), warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=_AR_WARNING)
                x_hat = model.decompress(strings, shape)["x_hat"]
        finally:
            latents, self._latents = self._latents, None
        self.check_decoded(data, latents[0] if len(latents) == 1 else None)
        _, unpad = compute_padding(height, width, min_div=_STRIDE)
        return self.to_pixels(x_hat, height, width, top=-unpad[2], left=-unpad[0])

    # -- the encoder's and the decoder's quantised latents ----------------------------------

    def watch_latents(self, encoder: torch.nn.Module, decoder: torch.nn.Module) -> None:
        """Make the zoo models report their quantised latent y_hat while this codec codes
        (``compress``/``decompress`` return only strings and the image), so that
        ``decoder_matches_encoder`` is recorded for the zoo as for the MLIC family.

        Decoder: every zoo model's ``decompress`` ends with ``g_s(y_hat)``, seen by a forward
        pre-hook. Encoder: the autoregressive models (mbt2018, cheng2020) fill the padded y_hat
        in ``_compress_ar``, wrapped on the instance; the others code y with their latent
        entropy model (``gaussian_conditional``, or ``entropy_bottleneck`` for the factorized
        prior), whose ``quantize(..., "symbols", means)`` is wrapped on the instance: the latent
        is then its own ``dequantize(symbols, means)``, what the decoder computes from the same
        symbols. Only these model objects are touched, and only while encoding or decoding.
        """

        def seen(latent: Any) -> None:
            if self._latents is not None:
                self._latents.append(latent)

        decoder.g_s.register_forward_pre_hook(lambda module, args: seen(args[0]))
        if hasattr(encoder, "_compress_ar"):
            compress_ar = encoder._compress_ar

            def wrapped_compress_ar(y_hat, params, height, width, kernel_size, padding):
                string = compress_ar(y_hat, params, height, width, kernel_size, padding)
                seen(y_hat[:, :, padding:padding + height, padding:padding + width])
                return string

            encoder._compress_ar = wrapped_compress_ar
            return
        model = encoder.gaussian_conditional if hasattr(encoder, "gaussian_conditional") else encoder.entropy_bottleneck
        quantize = model.quantize

        def wrapped_quantize(inputs, mode, means=None):
            out = quantize(inputs, mode, means)
            if mode == "symbols" and self._latents is not None:
                seen(model.dequantize(out, means))
            return out

        model.quantize = wrapped_quantize
