"""Codecs driven through Debian's command-line tools: HEVC intra via ffmpeg/libx265, avifenc, cjxl.

They exist for two reasons: they are the baselines papers compare with (HEVC intra 4:4:4 is the
codec inside BPG), and, being installable with ``apt-get`` on any CI machine, they exercise the
subprocess machinery of :mod:`rdbench.codecs.external.process` with real binaries in every test run.

Each encode and decode runs in its own private temporary folder (removed whatever happens),
without a shell, under the per-image time limit; the exact command lines are stored with the
record, and the tool's version, read once from its banner, is the record's codec version.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import ClassVar

import numpy as np

from rdbench.codecs.base import CodecConfig, CodecContext, Quality, QualityDomain
from rdbench.codecs.external.colour import (
    read_y4m444,
    rgb_to_ycbcr,
    write_yuv444,
    ycbcr_to_rgb,
)
from rdbench.codecs.external.process import (
    SubprocessCodec,
    find_tool,
    tool_banner,
    tool_dir_candidates,
)


def _write_ppm(path: Path, image: np.ndarray) -> None:
    """Binary PPM: the input format every tool reads, with no compression time inside the encode timing."""
    height, width = image.shape[:2]
    path.write_bytes(b"P6\n%d %d\n255\n" % (width, height) + np.ascontiguousarray(image).tobytes())


def _write_png(path: Path, image: np.ndarray) -> None:
    from PIL import Image

    Image.fromarray(image).save(path, format="PNG", compress_level=0)


def _read_rgb(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(io.BytesIO(path.read_bytes())) as img:
        if img.mode not in ("RGB", "RGBA"):
            raise ValueError(f"decoder wrote a {img.mode} image, expected 8-bit RGB")
        return np.ascontiguousarray(np.asarray(img.convert("RGB"), dtype=np.uint8))


class _DebianToolCodec(SubprocessCodec):
    """Shared lookup and availability check: the binaries named in ``binaries`` must all exist."""

    binaries: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def unavailable_reason(cls, config: CodecConfig, context: CodecContext) -> str | None:
        dirs = tool_dir_candidates(cls.tool, config, context)
        missing = [b for b in cls.binaries if find_tool((b,), dirs) is None]
        if missing:
            return f"{', '.join(missing)} not found on PATH; {cls.package_hint}"
        return cls._extra_unavailable_reason(config, context)

    @classmethod
    def _extra_unavailable_reason(cls, config: CodecConfig, context: CodecContext) -> str | None:
        return None

    def __init__(self, config: CodecConfig, context: CodecContext) -> None:
        super().__init__(config, context)
        self.paths = {b: self.locate((b,)) for b in self.binaries}
        self._options = [str(o) for o in config.params.get("options", [])]


class X265Codec(_DebianToolCodec):
    """HEVC intra (Main 4:4:4) through ffmpeg's libx265: one I frame of Y'CbCr 4:4:4 BT.709 full range.

    rdbench does the colour conversion itself (:mod:`rdbench.codecs.external.colour`, 8-bit by default,
    ``params.bit_depth = 10`` for a lossless 10-bit intermediate) and hands ffmpeg raw planes,
    so no scaler touches the samples. The bitstream is the raw HEVC Annex-B stream (VPS, SPS
    with the full-range BT.709 VUI, PPS, one slice) with x265's informational SEI turned off
    (``info=0``): the bytes BPG would wrap, without BPG's small header.
    """

    tool = "ffmpeg"
    binaries = ("ffmpeg",)
    package_hint = "install Debian's ffmpeg (apt-get install ffmpeg), built with libx265"
    quality_label = "QP"

    @classmethod
    def quality_domain_for(cls, config: CodecConfig) -> QualityDomain:
        """x265's QP range, -QpBdOffset (-6 per bit above 8) to 51: x265 refuses other values and
        reads ``qp=`` as a whole number (30.5 codes as 30)."""
        bit_depth = int(config.params.get("bit_depth", 8))
        return QualityDomain("int", -6 * (bit_depth - 8), 51,
                             meaning=f"x265 QP at {bit_depth} bits; x265 refuses other values")

    @classmethod
    def _extra_unavailable_reason(cls, config: CodecConfig, context: CodecContext) -> str | None:
        ffmpeg = find_tool(("ffmpeg",), tool_dir_candidates(cls.tool, config, context))
        banner = tool_banner(str(ffmpeg), ("-hide_banner", "-h", "encoder=libx265"), r"Encoder (libx265)")
        return None if banner == "libx265" else f"{ffmpeg} lacks the libx265 encoder; {cls.package_hint}"

    def __init__(self, config: CodecConfig, context: CodecContext) -> None:
        super().__init__(config, context)
        self.bit_depth = int(config.params.get("bit_depth", 8))
        self.preset = str(config.params.get("preset", "medium"))
        # x265's default psycho-visual tuning trades PSNR for texture; a PSNR benchmark wants "psnr".
        self.tune = ["-tune", str(config.params["tune"])] if config.params.get("tune") else []
        self.pix_fmt = "yuv444p" if self.bit_depth == 8 else f"yuv444p{self.bit_depth}le"

    def library(self) -> tuple[str, str]:
        ffmpeg = str(self.paths["ffmpeg"])
        version = tool_banner(ffmpeg, ("-version",), r"ffmpeg version (\S+)")
        # libx265 prints its own version only when it encodes: encode one tiny frame, once.
        x265 = tool_banner(ffmpeg, ("-nostdin", "-hide_banner", "-f", "lavfi", "-i", "color=c=gray:s=64x64",
                                    "-frames:v", "1", "-c:v", "libx265", "-f", "null", "-"),
                           r"HEVC encoder version (\S+)")
        return ("ffmpeg/libx265", f"x265 {x265} (ffmpeg {version})")

    def encode(self, image: np.ndarray, quality: Quality) -> bytes:
        height, width = image.shape[:2]
        x265_params = ":".join([f"qp={quality}", "info=0", "pools=1", "frame-threads=1", *self._options])
        with self.workdir() as work:
            write_yuv444(work / "in.yuv", rgb_to_ycbcr(image, self.bit_depth), self.bit_depth)
            self.run([self.paths["ffmpeg"], "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
                      "-f", "rawvideo", "-pix_fmt", self.pix_fmt, "-s", f"{width}x{height}", "-i", work / "in.yuv",
                      "-frames:v", "1", "-c:v", "libx265", "-preset", self.preset, *self.tune, "-x265-params", x265_params,
                      "-color_range", "pc", "-colorspace", "bt709", "-color_primaries", "bt709",
                      "-color_trc", "iec61966-2-1", "-f", "hevc", work / "out.hevc"])
            return (work / "out.hevc").read_bytes()

    def decode(self, data: bytes, quality: Quality) -> np.ndarray:
        with self.workdir() as work:
            (work / "in.hevc").write_bytes(data)
            self.run([self.paths["ffmpeg"], "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
                      "-f", "hevc", "-i", work / "in.hevc", "-frames:v", "1", "-f", "yuv4mpegpipe",
                      "-strict", "-1", "-pix_fmt", self.pix_fmt, work / "out.y4m"])
            planes, depth = read_y4m444(work / "out.y4m")
        return ycbcr_to_rgb(planes, depth)


class AvifencCodec(_DebianToolCodec):
    """AV1 intra through libavif's avifenc/avifdec (libaom), YUV 4:4:4 full range, avifenc's own colour conversion."""

    tool = "avifenc"
    binaries = ("avifenc", "avifdec")
    package_hint = "install Debian's libavif-bin (apt-get install libavif-bin)"
    quality_label = "AV1 quantizer (--min/--max, 0-63; LOWER is better)"
    #: avifenc clamps --min/--max to the AV1 quantizer range and reads them with atoi (30.5 -> 30)
    quality_domain = QualityDomain("int", 0, 63, meaning="AV1 quantizer; avifenc clamps other values to 0 or 63")

    def library(self) -> tuple[str, str]:
        return ("avifenc", tool_banner(str(self.paths["avifenc"]), ("--version",), r"Version: ([^\n]+)"))

    def encode(self, image: np.ndarray, quality: Quality) -> bytes:
        speed = str(self.config.params.get("speed", 6))
        with self.workdir() as work:
            _write_png(work / "in.png", image)
            self.run([self.paths["avifenc"], "--jobs", "1", "--speed", speed, "--yuv", "444", "--range", "full",
                      "--min", str(quality), "--max", str(quality), "--ignore-exif", "--ignore-xmp",
                      "--ignore-icc", *self._options, work / "in.png", work / "out.avif"])
            return (work / "out.avif").read_bytes()

    def decode(self, data: bytes, quality: Quality) -> np.ndarray:
        with self.workdir() as work:
            (work / "in.avif").write_bytes(data)
            self.run([self.paths["avifdec"], "--jobs", "1", "--depth", "8", "--png-compress", "0",
                      work / "in.avif", work / "out.png"])
            return _read_rgb(work / "out.png")


class CjxlCodec(_DebianToolCodec):
    """JPEG XL through libjxl's cjxl/djxl (VarDCT), from a PPM and back to a PPM."""

    tool = "cjxl"
    binaries = ("cjxl", "djxl")
    package_hint = "install Debian's libjxl-tools (apt-get install libjxl-tools)"
    quality_label = "Butteraugli distance (cjxl -d; LOWER is better)"
    #: cjxl refuses distances below 0 or above 25 and raises those in (0, 0.01) to 0.01; 0 is lossless
    quality_domain = QualityDomain("float", 0.01, 25, also=(0,),
                                   meaning="Butteraugli distance; cjxl refuses or clamps other values")

    def library(self) -> tuple[str, str]:
        return ("cjxl", tool_banner(str(self.paths["cjxl"]), (), r"JPEG XL encoder (v\S+)"))

    def encode(self, image: np.ndarray, quality: Quality) -> bytes:
        effort = str(self.config.params.get("effort", 7))
        with self.workdir() as work:
            _write_ppm(work / "in.ppm", image)
            self.run([self.paths["cjxl"], work / "in.ppm", work / "out.jxl", f"--distance={quality}",
                      f"--effort={effort}", "--num_threads=1", *self._options])
            return (work / "out.jxl").read_bytes()

    def decode(self, data: bytes, quality: Quality) -> np.ndarray:
        with self.workdir() as work:
            (work / "in.jxl").write_bytes(data)
            self.run([self.paths["djxl"], work / "in.jxl", work / "out.ppm", "--num_threads=1", "--bits_per_sample=8"])
            return _read_rgb(work / "out.ppm")
