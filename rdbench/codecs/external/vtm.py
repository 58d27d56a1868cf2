"""VTM (the VVC reference software) in all-intra mode: the anchor of every MLIC BD-rate.

What the adapter does, and why:

* **Where VTM is**: ``--vtm-dir DIR``, else ``RDBENCH_VTM_DIR``, else ``params.vtm_dir``; DIR is a
  VTM source tree after its CMake build (binaries in ``DIR/bin``, configs in ``DIR/cfg``).
  ``EncoderAppStatic``/``DecoderAppStatic`` are preferred over ``EncoderApp``/``DecoderApp``.
  docs/external-codecs.md ("VTM-17.0 anchor") says how to build it.
* **Input**: RGB -> Y'CbCr 4:4:4, BT.709 matrix, full range (:mod:`rdbench.codecs.external.colour`), as the
  MLIC papers and CompressAI feed VTM. ``params.bit_depth = 8`` (default, rounded, what the
  published anchors use) or ``10`` (a lossless intermediate: the colour conversion then costs
  nothing). The YUV file, the encoder's input and output bit depth and the decoder's output
  all use that depth; the internal bit depth is the cfg's (10 in ``encoder_intra_vtm.cfg``)
  unless ``params.internal_bit_depth`` says otherwise.
* **Coding**: one intra frame with ``cfg/encoder_intra_vtm.cfg``, ``--ConformanceWindowMode=1``
  (pad to the minimum CU size and signal the crop), the quality point is ``--QP``.
* **Rate**: bpp from the bitstream file, every byte of it (parameter sets included).
* **Decoding**: with the decoder app; the picture size comes from the bitstream's SPS
  (:mod:`rdbench.codecs.external.vvc_sps`), so a stored bitstream decodes without side information.
* **Provenance** stored with every record: the VTM version from the encoder's banner (also the
  record's codec version), the decoder's banner, the cfg's SHA-256, the full command lines.
  ``params.version`` (e.g. "17.0") refuses binaries of another version, so a ``vtm17`` result
  is a VTM-17.0 result.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import ClassVar

import numpy as np

from rdbench.codecs.base import CodecConfig, CodecContext, Quality, QualityDomain
from rdbench.codecs.external.colour import (
    read_yuv444,
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
from rdbench.codecs.external.vvc_sps import sps_size
from rdbench.errors import CodecUnavailable

ENCODERS = ("EncoderAppStatic", "EncoderApp")
DECODERS = ("DecoderAppStatic", "DecoderApp")
DEFAULT_CFG = "cfg/encoder_intra_vtm.cfg"
BANNER = r"VTM (?:Encoder|Decoder) Version ([^\n]+)"
BUILD_HINT = ("build VTM-17.0 as docs/external-codecs.md ('VTM-17.0 anchor') says, then pass --vtm-dir DIR "
              "(or set RDBENCH_VTM_DIR, or params.vtm_dir in codecs/vtm17.toml)")


def _binary_subdirs(folder: Path) -> list[str]:
    """Where VTM builds put binaries: ``bin/`` (CMake) or ``bin/umake/<compiler>/<arch>/release`` (make)."""
    found = sorted(str(p.relative_to(folder)) for p in folder.glob("bin/umake/*/*/release"))
    return ["bin", "", *found]


def _find_in_vtm_dirs(names: tuple[str, ...], dirs: list[Path]) -> Path | None:
    for folder in dirs:
        found = find_tool(names, [folder], subdirs=_binary_subdirs(folder), use_path=False)
        if found:
            return found
    return find_tool(names, [], use_path=True)


def _find_cfg(config: CodecConfig, dirs: list[Path]) -> Path | None:
    cfg = Path(str(config.params.get("cfg", DEFAULT_CFG))).expanduser()
    if cfg.is_absolute():
        return cfg if cfg.is_file() else None
    for folder in dirs:
        if (folder / cfg).is_file():
            return (folder / cfg).resolve()
    return None


def _version(banner: str) -> str:
    return banner.split()[0] if banner else ""


class VTMCodec(SubprocessCodec):
    """VVC intra with the VTM reference encoder and decoder (YCbCr 4:4:4 BT.709 full range)."""

    tool = "vtm"
    default_timeout_s: ClassVar[float] = 3600.0  # a Kodak image takes 1-2 min per QP on one core
    package_hint = BUILD_HINT
    quality_label = "QP"
    #: VVC's QP range at 8 bits (MAX_QP = 63 in VTM); VTM reads --QP as a whole number
    quality_domain = QualityDomain("int", 0, 63, meaning="VVC QP")

    @classmethod
    def _locate_all(cls, config: CodecConfig, context: CodecContext) -> tuple[Path, Path, Path]:
        dirs = tool_dir_candidates(cls.tool, config, context)
        where = ", ".join(str(d) for d in dirs) or "no VTM folder configured"
        encoder = _find_in_vtm_dirs(ENCODERS, dirs)
        decoder = _find_in_vtm_dirs(DECODERS, dirs)
        if encoder is None or decoder is None:
            missing = ENCODERS if encoder is None else DECODERS
            raise CodecUnavailable(f"VTM {' / '.join(missing)} not found ({where}); {BUILD_HINT}")
        cfg = _find_cfg(config, dirs)
        if cfg is None:
            raise CodecUnavailable(f"VTM config {config.params.get('cfg', DEFAULT_CFG)} not found ({where}); "
                                   f"{BUILD_HINT}")
        wanted = config.params.get("version")
        found = _version(tool_banner(str(encoder), (), BANNER))
        if wanted and found != str(wanted):
            raise CodecUnavailable(f"{encoder} is VTM {found or 'of unknown version'}, {config.name} needs VTM "
                                   f"{wanted}; point --vtm-dir at a VTM-{wanted} build")
        return encoder, decoder, cfg

    @classmethod
    def unavailable_reason(cls, config: CodecConfig, context: CodecContext) -> str | None:
        try:
            cls._locate_all(config, context)
        except CodecUnavailable as exc:
            return str(exc)
        bit_depth = int(config.params.get("bit_depth", 8))
        if bit_depth not in (8, 10):
            return f"{config.name}: params.bit_depth must be 8 or 10, not {bit_depth}"
        return None

    def __init__(self, config: CodecConfig, context: CodecContext) -> None:
        super().__init__(config, context)
        self.encoder, self.decoder, self.cfg = self._locate_all(config, context)
        self.extra_cfgs = [self._resolve_cfg(c) for c in config.params.get("extra_cfgs", [])]
        self.cfg_sha256 = {str(c): hashlib.sha256(c.read_bytes()).hexdigest() for c in (self.cfg, *self.extra_cfgs)}
        self.bit_depth = int(config.params.get("bit_depth", 8))
        self.internal_bit_depth = config.params.get("internal_bit_depth")
        self.options = [str(o) for o in config.params.get("options", [])]

    def _resolve_cfg(self, name: str) -> Path:
        path = Path(name).expanduser()
        if not path.is_absolute():
            path = self.cfg.parents[1] / path  # relative to the VTM tree that holds cfg/
        if not path.is_file():
            raise CodecUnavailable(f"VTM extra cfg {path} not found; fix params.extra_cfgs in {self.config.source}")
        return path

    def library(self) -> tuple[str, str]:
        return ("VTM", tool_banner(str(self.encoder), (), BANNER))

    def _note_provenance(self) -> None:
        self.notes["vtm_cfg_sha256"] = self.cfg_sha256
        self.notes["vtm_decoder"] = tool_banner(str(self.decoder), (), BANNER)

    def encode(self, image: np.ndarray, quality: Quality) -> bytes:
        height, width = image.shape[:2]
        self._note_provenance()
        depth = self.bit_depth
        configs = [arg for c in (self.cfg, *self.extra_cfgs) for arg in ("-c", c)]
        internal = [f"--InternalBitDepth={self.internal_bit_depth}"] if self.internal_bit_depth else []
        with self.workdir() as work:
            write_yuv444(work / "in.yuv", rgb_to_ycbcr(image, depth), depth)
            self.run([self.encoder, *configs, "-i", work / "in.yuv", "-b", work / "out.bin", "--ReconFile=",
                      f"--SourceWidth={width}", f"--SourceHeight={height}", "--InputChromaFormat=444",
                      f"--InputBitDepth={depth}", f"--OutputBitDepth={depth}", *internal,
                      "--FrameRate=1", "--FramesToBeEncoded=1", f"--QP={quality}", "--ConformanceWindowMode=1",
                      *self.options], cwd=work)
            return (work / "out.bin").read_bytes()

    def decode(self, data: bytes, quality: Quality) -> np.ndarray:
        size = sps_size(data)
        if size.chroma_format_idc != 3:
            raise ValueError(f"bitstream is chroma format {size.chroma_format_idc}, expected 3 (4:4:4)")
        with self.workdir() as work:
            (work / "in.bin").write_bytes(data)
            self.run([self.decoder, "-b", work / "in.bin", "-o", work / "out.yuv", "-d", str(self.bit_depth)], cwd=work)
            planes = read_yuv444(work / "out.yuv", size.width, size.height, self.bit_depth)
        return ycbcr_to_rgb(planes, self.bit_depth)
