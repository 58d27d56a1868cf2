"""Adapter ``mlicpp``: MLIC++ (rdbench.models.mlicpp) as a codec, with the official checkpoints.

Weights come from ``--checkpoint FILE`` (one quality) or ``--checkpoint-dir DIR`` with files
named by ``params.checkpoint_pattern`` (see ``codecs/mlicpp.toml``: the official README links
the downloads but does not name the files, so rdbench asks for them under its own names). The
current/"Old" variant is chosen from each checkpoint's keys (:mod:`rdbench.codecs.learned.checkpoints`).
``params.random_seed`` gives seeded random weights instead (``mlicpp-random``, ``params.old``
picking the variant), with ``params.latent_gain`` scaling the analysis output so random latents
do not all round to zero. Weights are found and read as for every learned adapter
(:mod:`rdbench.codecs.learned.base`).

Coding follows the official evaluation: the image is zero-padded on the right and bottom to a
multiple of 64, and the reconstruction cropped back. The bitstream, and the check that the
decoder rebuilt the encoder's latent, are the MLIC family's (:mod:`rdbench.codecs.learned.mlic`): a
12-byte header (height, width, hyperprior size, latent string length), the latent string, the
hyperprior string; bpp counts all of it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from rdbench.codecs.base import CodecConfig, CodecContext, Quality, format_quality
from rdbench.codecs.learned.mlic import _MultiReferenceCodec
from rdbench.errors import CodecUnavailable

if TYPE_CHECKING:
    import torch

DOWNLOAD_URL = "https://github.com/JiangWeibeta/MLIC#pretrained-models"


class MLICPlusPlusCodec(_MultiReferenceCodec):
    """MLIC++ (linear-complexity multi-reference entropy model), official checkpoints or seeded weights."""

    model_class = "rdbench.models.mlicpp:MLICPlusPlus"
    arch_keys = ("N", "M", "slices")  # the variant ("old") comes from a checkpoint's keys
    library_name = "rdbench.models.mlicpp+compressai"
    default_params: ClassVar[dict[str, Any]] = {"N": 192, "M": 320, "slices": 10}

    # -- availability and weights -------------------------------------------------------

    @classmethod
    def _lambda(cls, config: CodecConfig, quality: Quality) -> str:
        lam = config.params.get("lambdas", {}).get(format_quality(quality))
        return f" (lambda {lam})" if lam is not None else ""

    @classmethod
    def weights_missing(cls, config: CodecConfig, context: CodecContext) -> str | None:
        """Where to download the official checkpoints; a folder holding some qualities is usable."""
        pattern = cls.checkpoint_pattern(config)
        where = (f"download the MLIC++ checkpoints linked from {DOWNLOAD_URL} (PKU Disk or Google Drive), "
                 f"save them as {pattern.format(quality='N')} (N = quality, see codecs/{config.name}.toml) "
                 f"and pass --checkpoint-dir DIR")
        if not (context.checkpoint or context.checkpoint_dir):
            return f"no checkpoints given: {where}; or use mlicpp-random (seeded random weights)"
        # Usable when at least one quality's file is there (a folder holding some of the six
        # runs those; the others fail with the same message, per record, at prepare time).
        qualities = config.qualities[:1] if context.checkpoint else config.qualities
        paths = {q: cls.checkpoint_path(config, context, q) for q in qualities}
        if qualities and not any(path is not None and path.is_file() for path in paths.values()):
            quality = qualities[0]
            label = format_quality(quality) + cls._lambda(config, quality)
            return f"checkpoint {paths[quality]} for quality {label} is missing (and all the others): {where}"
        return None

    def missing_checkpoint(self, path: Path | None, quality: Quality) -> CodecUnavailable:
        return CodecUnavailable(f"checkpoint {path} for {self.name} quality {format_quality(quality)}"
                                f"{self._lambda(self.config, quality)} is missing: download it from "
                                f"{DOWNLOAD_URL} into --checkpoint-dir")

    # -- the model ------------------------------------------------------------------------

    def build_model(self, quality: Quality) -> torch.nn.Module:
        """Seeded weights of the current variant, or the "Old" one with ``params.old = true``."""
        return self._model_type()(**self.arch_kwargs(), old=bool(self.config.params.get("old", False)))
