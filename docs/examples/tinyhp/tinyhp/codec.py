"""The rdbench adapter for :class:`tinyhp.model.TinyHyperprior` (docs/plugin-learned.md).

What rdbench needs from a learned model: the architecture for a quality (:meth:`build_model`),
the padding it codes at (:meth:`pad`), and a bitstream holding every byte the decoder needs
(:meth:`encode`, :meth:`decode_pixels`). Where the weights come from (``--checkpoint-dir``,
``[params] checkpoint_dir``), their content hash in every record, the safe checkpoint loader, the
device and the model cache are :class:`rdbench.LearnedCodec`'s.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from rdbench import LearnedCodec, QualityDomain, RdbenchError

if TYPE_CHECKING:
    import torch

#: height, width, the hyper-latent's height and width (what ``decompress`` needs), length of y's string
HEADER = struct.Struct(">HHHHI")
#: the model downsamples by 64 (4 stride-2 layers in g_a, 2 more in h_a)
STRIDE = 64


class TinyHPCodec(LearnedCodec):
    """TinyHP: a scale-hyperprior model with N = M = 32 channels (CompressAI ScaleHyperprior)."""

    default_params: ClassVar[dict[str, Any]] = {"N": 32, "M": 32}
    default_qualities = (1, 2, 3)
    quality_label = "checkpoint index (higher = more bits)"
    quality_domain = QualityDomain("int", 1, 99, meaning="index of a trained checkpoint")

    def build_model(self, quality: int) -> torch.nn.Module:
        """The architecture; the same at every quality (only the weights differ)."""
        from tinyhp.model import TinyHyperprior

        return TinyHyperprior(int(self.config.params["N"]), int(self.config.params["M"]))

    def pad(self, x: torch.Tensor) -> torch.Tensor:
        """Zeros on the right and bottom up to multiples of 64; :meth:`decode_pixels` crops them."""
        import torch.nn.functional as F

        height, width = x.shape[2:]
        return F.pad(x, (0, -width % STRIDE, 0, -height % STRIDE))

    def encode(self, image: np.ndarray, quality: int) -> bytes:
        import torch

        height, width = self.image_size(image)
        with torch.inference_mode():
            out = self.torch_model(quality).compress(self.forward_input(image))
        (y,), (z,) = out["strings"]
        return HEADER.pack(height, width, *out["shape"], len(y)) + y + z

    def decode_pixels(self, data: bytes, quality: int) -> torch.Tensor:
        import torch

        if len(data) < HEADER.size:
            raise RdbenchError(f"{self.name} bitstream of {len(data)} bytes is shorter than its header")
        height, width, z_height, z_width, y_length = HEADER.unpack_from(data)
        y = data[HEADER.size:HEADER.size + y_length]
        z = data[HEADER.size + y_length:]
        with torch.inference_mode():
            x_hat = self.decoder_model(quality).decompress([[y], [z]], [z_height, z_width])["x_hat"]
        return self.to_pixels(x_hat, height, width)
