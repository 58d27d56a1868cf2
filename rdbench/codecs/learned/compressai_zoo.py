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
3. the pretrained zoo weights, through compressai's zoo loader, which downloads them into the
   torch hub cache (``$TORCH_HOME/hub/checkpoints``). The cache is checked first, so an offline
   machine gets one line saying which files are missing and how to fetch them, instead of a
   network traceback. ``RDBENCH_OFFLINE=1`` skips the network probe.

Bitstream: a header (height, width as uint16; number of strings as uint8; the latent shape
``decompress`` needs as two uint16; one uint32 length per string), then the strings, so bpp
counts every byte a decoder needs (13 bytes of header for the factorized prior, 17 for the
others). Images are zero-padded, centred, to a multiple of 64 as CompressAI's own evaluation
does, and cropped back after decoding.
"""

from __future__ import annotations

import functools
import os
import socket
import struct
import warnings
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlparse

import numpy as np

from rdbench.codecs.base import Codec, CodecConfig, CodecContext, Quality, format_quality, missing_packages
from rdbench.errors import CodecUnavailable, RdbenchError

ARCHS = ("bmshj2018-factorized", "bmshj2018-hyperprior", "mbt2018-mean", "mbt2018",
         "cheng2020-anchor", "cheng2020-attn")
METRICS = ("mse", "ms-ssim")
_HEADER = struct.Struct(">HHBHH")
_LENGTH = struct.Struct(">I")
_STRIDE = 64
_AR_WARNING = "Inference on GPU is not recommended for the autoregressive models"


# -- the zoo's facts ------------------------------------------------------------------------

def zoo_qualities(arch: str, metric: str) -> tuple[int, ...]:
    """Quality indices the zoo has pretrained weights for (1-8; 1-6 for cheng2020)."""
    from compressai.zoo.image import model_urls

    return tuple(sorted(model_urls.get(arch, {}).get(metric, {})))


def weights_url(arch: str, metric: str, quality: int) -> str:
    from compressai.zoo.image import model_urls

    return model_urls[arch][metric][quality]


def hub_cache_dir() -> Path:
    """Where torch.hub (and so compressai's zoo loader) keeps downloaded weights."""
    import torch.hub

    return Path(torch.hub.get_dir()) / "checkpoints"


def cached_weights(arch: str, metric: str, quality: int) -> Path:
    """The file the zoo loader reads for these weights (it may not exist)."""
    return hub_cache_dir() / os.path.basename(urlparse(weights_url(arch, metric, quality)).path)


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


# -- local checkpoints ------------------------------------------------------------------------

def load_state_dict_file(path: Path) -> dict[str, Any]:
    """A compressai state_dict from ``path`` (tensors only: ``weights_only=True``).

    Accepts a raw state_dict or a training checkpoint ``{"state_dict": ...}``; strips the
    ``module.`` (DataParallel) and ``_orig_mod.`` (torch.compile) prefixes and maps the older
    entropy-bottleneck names with compressai's own key renamer.
    """
    import pickle

    import torch
    from compressai.zoo.pretrained import load_pretrained

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, ValueError, EOFError, pickle.UnpicklingError) as exc:
        raise RdbenchError(f"cannot read checkpoint {path}: {str(exc).splitlines()[0]}",
                           hint="it must be a torch.save'd state_dict of tensors") from exc
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise RdbenchError(f"{path} holds a {type(state).__name__}, not a state_dict")
    return load_pretrained({k.replace("_orig_mod.", ""): v for k, v in state.items()})


def apply_latent_gain(model: Any, gain: float) -> Any:
    """Scale the last convolution of the analysis transform by ``gain``.

    Freshly initialised zoo models produce latents below 0.5 in magnitude, which all round to
    zero: the entropy coder would only ever see one symbol. A gain (``params.latent_gain`` of
    the ``*-random`` configurations) makes seeded models code real, varied symbols.
    """
    import torch

    if gain != 1.0:
        last_conv = next(m for m in reversed(list(model.g_a.children())) if isinstance(m, torch.nn.Conv2d))
        with torch.no_grad():
            last_conv.weight.mul_(gain)
            if last_conv.bias is not None:
                last_conv.bias.mul_(gain)
    return model


class CompressAIZooCodec(Codec):
    """A CompressAI zoo model (Ballé 2018, Minnen 2018, Cheng 2020) coding real bitstreams."""

    wants_gpu: ClassVar[bool] = True
    quality_label: ClassVar[str] = "zoo quality index (higher = more bits)"
    default_params: ClassVar[dict[str, Any]] = {"arch": "bmshj2018-hyperprior", "metric": "mse"}
    default_qualities = (1, 2, 3, 4, 5, 6, 7, 8)

    def __init__(self, config: CodecConfig, context: CodecContext) -> None:
        super().__init__(config, context)
        self.arch = str(config.params.get("arch", ""))
        self.metric = str(config.params.get("metric", "mse"))
        self._quality: str | None = None
        self._model: Any = None

    # -- where the weights come from ------------------------------------------------------

    @classmethod
    def _pattern(cls, config: CodecConfig) -> str:
        return str(config.params.get("checkpoint_pattern", config.name + "_q{quality}.pth.tar"))

    @classmethod
    def _checkpoint_for(cls, config: CodecConfig, context: CodecContext, quality: Quality) -> Path | None:
        """The local checkpoint for ``quality``: --checkpoint, else the pattern's file in
        --checkpoint-dir, else the zoo's file name there (a copied hub cache works as is)."""
        if context.checkpoint:
            return Path(context.checkpoint)
        if not context.checkpoint_dir:
            return None
        folder = Path(context.checkpoint_dir)
        named = folder / cls._pattern(config).format(quality=format_quality(quality))
        if named.is_file():
            return named
        arch, metric = config.params.get("arch"), config.params.get("metric", "mse")
        if isinstance(quality, int) and quality in zoo_qualities(arch, metric):
            zoo_name = folder / cached_weights(arch, metric, quality).name
            if zoo_name.is_file():
                return zoo_name
        return named

    @classmethod
    def unavailable_reason(cls, config: CodecConfig, context: CodecContext) -> str | None:
        missing = missing_packages("torch", "compressai")
        if missing:
            return missing
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
        if "random_seed" in config.params:
            return None
        if context.checkpoint or context.checkpoint_dir:
            for quality in config.qualities[:1] if context.checkpoint else config.qualities:
                path = cls._checkpoint_for(config, context, quality)
                if path is not None and not path.is_file():
                    return f"checkpoint {path} for quality {format_quality(quality)} is missing"
            return None
        missing = [q for q in config.qualities if not cached_weights(arch, metric, q).is_file()]
        # Unavailable only when nothing at all can be had: with some qualities cached the run goes
        # on and each missing one fails with the same line (see prepare).
        if missing and len(missing) == len(config.qualities) \
                and not can_download(urlparse(weights_url(arch, metric, missing[0])).hostname):
            return offline_message(arch, metric, missing, cls._pattern(config))
        return None

    def _build(self, quality: Quality) -> Any:
        import torch
        from compressai.zoo.image import cfgs, model_architectures

        if "random_seed" in self.config.params:
            if quality not in cfgs[self.arch]:
                raise RdbenchError(f"{self.name}: the zoo has no {self.arch} model of quality {quality}; "
                                   f"choose from {_quality_list(sorted(cfgs[self.arch]))}")
            # Seeded weights at the zoo's size for this quality; fork_rng leaves the caller's
            # random state alone.
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(int(self.config.params["random_seed"]))
                model = model_architectures[self.arch](*cfgs[self.arch][quality])
            return apply_latent_gain(model, float(self.config.params.get("latent_gain", 1.0)))
        path = self._checkpoint_for(self.config, self.context, quality)
        if path is not None:
            if not path.is_file():
                raise CodecUnavailable(f"no checkpoint for {self.name} quality {format_quality(quality)} ({path})",
                                       hint="pass --checkpoint FILE --quality Q or --checkpoint-dir DIR")
            state = load_state_dict_file(path)
            try:
                return model_architectures[self.arch].from_state_dict(state)
            except (RuntimeError, KeyError, ValueError, AttributeError) as exc:
                raise RdbenchError(f"{path} is not a {self.arch} checkpoint: {str(exc).splitlines()[0]}") from exc
        return self._pretrained(quality)

    def _pretrained(self, quality: Quality) -> Any:
        """The zoo's weights through compressai's loader; never a network traceback."""
        import compressai.zoo

        if quality not in zoo_qualities(self.arch, self.metric):
            raise RdbenchError(f"the zoo has no {self.arch} ({self.metric}) weights of quality {quality}; "
                               f"it has {_quality_list(list(zoo_qualities(self.arch, self.metric)))}")
        url = weights_url(self.arch, self.metric, quality)
        message = offline_message(self.arch, self.metric, [quality], self._pattern(self.config))
        cached = cached_weights(self.arch, self.metric, quality).is_file()
        if not cached and not can_download(urlparse(url).hostname):
            raise CodecUnavailable(message)
        loader = getattr(compressai.zoo, self.arch.replace("-", "_"))
        try:
            return loader(quality, metric=self.metric, pretrained=True, progress=not cached)
        except OSError as exc:  # URLError and friends: the download failed after all
            raise CodecUnavailable(f"{message} ({exc})") from exc

    def torch_model(self, quality: Quality) -> Any:
        """The nn.Module for ``quality``; only the last one is kept (jobs come quality by quality)."""
        key = format_quality(quality)
        if self._quality != key:
            self._model = None
            model = self._build(quality).eval().to(self.context.device)
            # Fill only the entropy-coder tables the weights lack (empty after seeding or after
            # loading an un-updated checkpoint); stored tables are used as they are.
            model.update(force=False)
            self._model, self._quality = model, key
        return self._model

    def prepare(self, quality: Quality) -> None:
        self.torch_model(quality)

    # -- coding -----------------------------------------------------------------------------

    def forward_input(self, image: np.ndarray) -> Any:
        """The padded (1, 3, H, W) tensor the model's forward takes (used by complexity)."""
        import torch
        import torch.nn.functional as F
        from compressai.ops import compute_padding

        height, width = image.shape[:2]
        # a float copy (the image may be read-only); /255 in float32 as torchvision's ToTensor does
        x = torch.from_numpy(np.array(image, dtype=np.float32)).permute(2, 0, 1).div(255).unsqueeze(0)
        pad, _ = compute_padding(height, width, min_div=_STRIDE)
        return F.pad(x.to(self.context.device), pad, mode="constant", value=0)

    def encode(self, image: np.ndarray, quality: Quality) -> bytes:
        import torch

        height, width = image.shape[:2]
        if max(height, width) > 0xFFFF:
            raise RdbenchError(f"{width}x{height} is too large for the {self.name} header (65535 px a side)")
        model = self.torch_model(quality)
        with torch.inference_mode(), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=_AR_WARNING)
            out = model.compress(self.forward_input(image))
        strings = [s[0] for s in out["strings"]]
        shape = [int(v) for v in out["shape"]]
        header = _HEADER.pack(height, width, len(strings), *shape)
        return header + b"".join(_LENGTH.pack(len(s)) for s in strings) + b"".join(strings)

    def decode(self, data: bytes, quality: Quality) -> np.ndarray:
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
        model = self.torch_model(quality)
        with torch.inference_mode(), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=_AR_WARNING)
            x_hat = model.decompress(strings, shape)["x_hat"]
        _, unpad = compute_padding(height, width, min_div=_STRIDE)
        left, top = -unpad[0], -unpad[2]
        pixels = x_hat[0, :, top:top + height, left:left + width].clamp(0, 1).mul(255).round().byte()
        return pixels.permute(1, 2, 0).cpu().numpy()

    def synchronize(self) -> None:
        if str(self.context.device).startswith("cuda"):
            import torch

            torch.cuda.synchronize(self.context.device)

    def library(self) -> tuple[str, str]:
        from importlib.metadata import version

        return ("compressai", version("compressai"))

    def close(self) -> None:
        self._model, self._quality = None, None
