"""In-process classical codecs through real libraries: imagecodecs and Pillow.

Both adapters are declarative: a TOML file picks the format, which encoder argument the
quality point feeds (``quality_arg``), and fixed encoder options (``options``)::

    adapter = "imagecodecs"
    qualities = [10, 30, 50, 70, 90]
    [params]
    format = "jpeg8"              # imagecodecs' <format>_encode / <format>_decode
    quality_arg = "level"         # default
    options = { subsampling = "444" }

The bitstream is exactly what the library returns (a complete file: JFIF, RIFF/WebP,
J2K codestream, JXL, AVIF), so bpp counts every byte a decoder needs.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np

from rdbench.codecs.base import (
    Codec,
    CodecConfig,
    CodecContext,
    Quality,
    QualityDomain,
)

_JPEG_QUALITY = QualityDomain("int", 1, 100, meaning="JPEG quality; libjpeg clamps other values to 1 or 100")
_WEBP_QUALITY = QualityDomain("float", 0, 100, meaning="WebP quality; the library clamps values above 100")

#: Valid values of the encoder argument each (format, quality_arg) feeds, as imagecodecs
#: 2026.1 passes them on (its ``_default_value`` clamps, then the C library): outside these,
#: values are clamped onto a bound, truncated, or switch the encoder to lossless.
IMAGECODECS_QUALITIES: dict[tuple[str, str], QualityDomain] = {
    # libjpeg-turbo: jpeg_set_quality(int), 0 is raised to 1; imagecodecs clamps above 100
    ("jpeg8", "level"): _JPEG_QUALITY,
    # libwebp's float quality factor; below 0 imagecodecs switches to lossless, above 100 it clamps
    ("webp", "level"): QualityDomain("float", 0, 100, meaning="WebP quality; imagecodecs codes values below 0 "
                                     "losslessly and clamps values above 100"),
    # OpenJPEG fixed-quality mode: the target PSNR in dB; below 1 or above 1000 imagecodecs codes losslessly
    ("jpeg2k", "level"): QualityDomain("float", 1, 1000, meaning="target PSNR in dB; imagecodecs codes values "
                                       "below 1 or above 1000 losslessly"),
    # libjxl's Butteraugli distance: imagecodecs clamps to 0-25, libjxl raises (0, 0.01) to 0.01
    ("jpegxl", "distance"): QualityDomain("float", 0.01, 25, also=(0,), meaning="Butteraugli distance; libjxl "
                                          "clamps other values to 0, 0.01 or 25"),
    # libavif's integer quality (it maps 0-100 onto AV1 quantizers); imagecodecs clamps above 100
    ("avif", "level"): QualityDomain("int", 0, 100, meaning="libavif quality; imagecodecs clamps values above "
                                     "100 and drops fractions"),
}

#: The same for Pillow's ``save(quality=...)`` per format (Pillow 11-13).
PILLOW_QUALITIES: dict[tuple[str, str], QualityDomain] = {
    ("JPEG", "quality"): _JPEG_QUALITY,  # Pillow refuses fractions; libjpeg raises 0 to 1, clamps above 100
    ("WEBP", "quality"): QualityDomain("float", 0, 100, meaning="WebP quality; Pillow refuses other values"),
    ("AVIF", "quality"): QualityDomain("int", 0, 100, meaning="AVIF quality; Pillow refuses other values"),
}


class ImagecodecsCodec(Codec):
    """A format of the imagecodecs package (libjpeg-turbo, libwebp, OpenJPEG, libjxl, libavif)."""

    per_quality_setup = False  # nothing to load per quality: a run's jobs come image by image

    @classmethod
    def quality_domain_for(cls, config: CodecConfig) -> QualityDomain | None:
        """Depends on the format and on which encoder argument the quality feeds (``quality_arg``)."""
        return IMAGECODECS_QUALITIES.get((config.params.get("format"), config.params.get("quality_arg", "level")))

    @classmethod
    def unavailable_reason(cls, config: CodecConfig, context: CodecContext) -> str | None:
        fmt = config.params.get("format")
        if not fmt:
            return f"{config.source or config.name}: [params] needs format = \"jpeg8\" (or webp, jpeg2k, jpegxl, avif)"
        try:
            import imagecodecs
        except ImportError:
            return "imagecodecs is not installed (pip install imagecodecs)"
        codec_class = getattr(imagecodecs, fmt.upper(), None)
        if codec_class is None or not hasattr(imagecodecs, f"{fmt}_encode"):
            return f"imagecodecs has no format {fmt!r}"
        if not getattr(codec_class, "available", False):
            return f"this build of imagecodecs lacks {fmt} support"
        return None

    def __init__(self, config: CodecConfig, context: CodecContext) -> None:
        super().__init__(config, context)
        import imagecodecs

        fmt = config.params["format"]
        self._encode = getattr(imagecodecs, f"{fmt}_encode")
        self._decode = getattr(imagecodecs, f"{fmt}_decode")
        self._quality_arg: str = config.params.get("quality_arg", "level")
        self._options: dict[str, Any] = dict(config.params.get("options", {}))
        # The version that decides the bitstream is the wrapped C library's (libjpeg-turbo 3.1.3,
        # libjxl 0.11.2, ...), so record it next to imagecodecs' own.
        library_version = getattr(imagecodecs, f"{fmt}_version", lambda: "")()
        self._version = f"{imagecodecs.__version__} ({library_version})" if library_version else imagecodecs.__version__
        self._format = fmt

    def encode(self, image: np.ndarray, quality: Quality) -> bytes:
        return bytes(self._encode(image, **{self._quality_arg: quality}, **self._options))

    def decode(self, data: bytes, quality: Quality) -> np.ndarray:
        out = np.asarray(self._decode(data))
        if out.ndim == 3 and out.shape[2] == 4:
            out = out[:, :, :3]
        return np.ascontiguousarray(out, dtype=np.uint8)

    def library(self) -> tuple[str, str]:
        return (f"imagecodecs.{self._format}", self._version)


class PillowCodec(Codec):
    """A format Pillow writes (JPEG, WEBP, JPEG2000, AVIF where Pillow was built with it)."""

    per_quality_setup = False

    @classmethod
    def quality_domain_for(cls, config: CodecConfig) -> QualityDomain | None:
        """Depends on the format and on which ``save`` argument the quality feeds (``quality_arg``)."""
        fmt = str(config.params.get("format", "")).upper()
        return PILLOW_QUALITIES.get((fmt, config.params.get("quality_arg", "quality")))

    @classmethod
    def unavailable_reason(cls, config: CodecConfig, context: CodecContext) -> str | None:
        fmt = config.params.get("format")
        if not fmt:
            return f"{config.source or config.name}: [params] needs format = \"JPEG\" (or WEBP, JPEG2000, AVIF)"
        try:  # a missing module is a reason, like any other: `rdbench codecs` lists it rather than dying
            from PIL import Image, features
        except ImportError as exc:
            return f"Pillow cannot be imported ({exc}; pip install Pillow)"
        Image.init()
        if fmt.upper() not in Image.SAVE:
            return f"this Pillow build cannot write {fmt}"
        module = {"WEBP": "webp", "JPEG2000": "jpg_2000", "AVIF": "avif"}.get(fmt.upper())
        if module and not features.check(module):
            return f"this Pillow build lacks {module} support"
        return None

    def __init__(self, config: CodecConfig, context: CodecContext) -> None:
        super().__init__(config, context)
        import PIL

        self._format = config.params["format"].upper()
        self._quality_arg: str = config.params.get("quality_arg", "quality")
        self._options: dict[str, Any] = dict(config.params.get("options", {}))
        self._version = PIL.__version__

    def encode(self, image: np.ndarray, quality: Quality) -> bytes:
        from PIL import Image

        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, format=self._format, **{self._quality_arg: quality}, **self._options)
        return buffer.getvalue()

    def decode(self, data: bytes, quality: Quality) -> np.ndarray:
        from PIL import Image

        with Image.open(io.BytesIO(data)) as img:
            # convert() copies even an RGB image: skipping it takes ~0.9 ms off a Kodak JPEG's
            # decode time (3.9 -> 3.0 ms), i.e. what is timed is closer to the codec's own work
            return np.asarray(img if img.mode == "RGB" else img.convert("RGB"))

    def library(self) -> tuple[str, str]:
        return (f"Pillow.{self._format}", self._version)
