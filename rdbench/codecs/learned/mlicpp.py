"""Adapter ``mlicpp``: MLIC++ (rdbench.models.mlicpp) as a codec, with the official checkpoints.

Weights come from ``--checkpoint FILE`` (one quality) or ``--checkpoint-dir DIR`` with files
named by ``params.checkpoint_pattern`` (see ``codecs/mlicpp.toml``: the official README links
the downloads but does not name the files, so rdbench asks for them under its own names). The
current/"Old" variant is chosen from each checkpoint's keys (:mod:`rdbench.codecs.learned.checkpoints`).
``params.random_seed`` gives seeded random weights instead (``mlicpp-random``), with
``params.latent_gain`` scaling the analysis output so random latents do not all round to zero.

Coding follows the official evaluation: the image is zero-padded on the right and bottom to a
multiple of 64, and the reconstruction cropped back. The bitstream, and the check that the
decoder rebuilt the encoder's latent, are the MLIC family's (:mod:`rdbench.codecs.learned.mlic`): a
12-byte header (height, width, hyperprior size, latent string length), the latent string, the
hyperprior string; bpp counts all of it.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from rdbench.codecs.base import CodecConfig, CodecContext, Quality, format_quality
from rdbench.codecs.learned.mlic import _MultiReferenceCodec
from rdbench.errors import CodecUnavailable

DOWNLOAD_URL = "https://github.com/JiangWeibeta/MLIC#pretrained-models"
_ARCH_KEYS = ("N", "M", "slices")


class MLICPlusPlusCodec(_MultiReferenceCodec):
    """MLIC++ (linear-complexity multi-reference entropy model), official checkpoints or seeded weights."""

    model_class = "rdbench.models.mlicpp:MLICPlusPlus"
    library_name = "rdbench.models.mlicpp+compressai"
    default_params: ClassVar[dict[str, Any]] = {"N": 192, "M": 320, "slices": 10}

    # -- availability and weights -------------------------------------------------------

    @classmethod
    def _lambda(cls, config: CodecConfig, quality: Quality) -> str:
        lam = config.params.get("lambdas", {}).get(format_quality(quality))
        return f" (lambda {lam})" if lam is not None else ""

    @classmethod
    def _weights_missing(cls, config: CodecConfig, context: CodecContext) -> str | None:
        pattern = config.params.get("checkpoint_pattern", config.name + "_q{quality}.pth.tar")
        where = (f"download the MLIC++ checkpoints linked from {DOWNLOAD_URL} (PKU Disk or Google Drive), "
                 f"save them as {pattern.format(quality='N')} (N = quality, see codecs/{config.name}.toml) "
                 f"and pass --checkpoint-dir DIR")
        if not (context.checkpoint or context.checkpoint_dir):
            return f"no checkpoints given: {where}; or use mlicpp-random (seeded random weights)"
        # Usable when at least one quality's file is there (a folder holding some of the six
        # runs those; the others fail with the same message, per record, at prepare time).
        qualities = config.qualities[:1] if context.checkpoint else config.qualities
        paths = {q: cls._checkpoint_for(config, context, q) for q in qualities}
        if qualities and not any(path is not None and path.is_file() for path in paths.values()):
            quality = qualities[0]
            label = format_quality(quality) + cls._lambda(config, quality)
            return f"checkpoint {paths[quality]} for quality {label} is missing (and all the others): {where}"
        return None

    def _arch(self) -> dict[str, int]:
        return {k: int(self.config.params[k]) for k in _ARCH_KEYS if k in self.config.params}

    def torch_model(self, quality: Quality) -> Any:
        """The MLIC++ module for ``quality``, loaded once, in eval mode on the context's device."""
        import torch

        from rdbench.codecs.learned.checkpoints import load_checkpoint
        from rdbench.models.mlicpp import MLICPlusPlus

        key = format_quality(quality)
        if key in self._models:
            return self._models[key]
        params = self.config.params
        if "random_seed" in params:
            with torch.random.fork_rng(devices=[]):  # leave the caller's random state alone
                torch.manual_seed(int(params["random_seed"]))
                model = MLICPlusPlus(**self._arch(), old=bool(params.get("old", False)))
            gain = float(params.get("latent_gain", 1.0))
            with torch.no_grad():
                last = model.g_a.analysis_transform[-1]
                last.weight.mul_(gain)
                last.bias.mul_(gain)
            model.update(force=True)
        else:
            path = self._checkpoint_for(self.config, self.context, quality)
            if path is None or not path.is_file():
                raise CodecUnavailable(f"checkpoint {path} for {self.name} quality {key}{self._lambda(self.config, quality)} "
                                       f"is missing: download it from {DOWNLOAD_URL} into --checkpoint-dir")
            model = load_checkpoint(path, MLICPlusPlus, **self._arch())
        model = model.eval().to(self.context.device)
        self._models[key] = model
        return model

    # -- coding ---------------------------------------------------------------------------

    def _to_tensor(self, image: np.ndarray) -> Any:
        """(1, 3, H', W') in [0, 1], zero-padded right/bottom to multiples of 64 (official evaluation)."""
        import torch
        import torch.nn.functional as F

        from rdbench.models.mlicpp import STRIDE

        x = torch.from_numpy(np.array(image, dtype=np.float32)).permute(2, 0, 1).unsqueeze(0) / 255.0
        h, w = x.shape[2:]
        pad = (0, (-w) % STRIDE, 0, (-h) % STRIDE)
        x = F.pad(x, pad, mode="constant", value=0.0) if any(pad) else x
        return x.to(self.context.device)
