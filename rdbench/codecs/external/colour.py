"""RGB <-> Y'CbCr (BT.709 matrix, full range) and planar 4:4:4 YUV files, for external encoders.

Video codecs (VTM, x265) code Y'CbCr, not RGB. The MLIC papers and CompressAI feed VTM the
image as Y'CbCr 4:4:4 with the BT.709 matrix (Kr = 0.2126, Kb = 0.0722) at full range, i.e.
with the coefficients of ITU-T H.273 for ``VideoFullRangeFlag = 1``::

    E'Y  = Kr R + Kg G + Kb B                 (R, G, B in [0, 1])
    E'Pb = (B - E'Y) / (2 (1 - Kb)),  E'Pr = (R - E'Y) / (2 (1 - Kr))
    Y    = round((2^n - 1) E'Y),  Cb = round((2^n - 1) E'Pb + 2^(n-1)),  Cr likewise

Precision of the round trip RGB8 -> Y'CbCr n-bit -> RGB8 (tested over all 2^24 colours):

* **10-bit** (n = 10): exact. A half-step of 10-bit quantisation moves R, G or B by at most
  0.5 * 255/1023 * (1 + 1.8556) = 0.36 < 0.5 of an 8-bit step, so rounding restores the input.
* **8-bit** (n = 8, the default for VTM anchors): lossy by itself; at most 1 level per
  channel off, 53.0 dB PSNR over all 2^24 colours (see ``tests/test_colour.py``). Codec losses
  at the rates benchmarked (< 45 dB) dominate, but a near-lossless comparison should use 10-bit.

YUV files are planar (all Y, then all Cb, then all Cr), 8-bit as one byte per sample and 9- to
16-bit as 16-bit little endian, which is what VTM's ``-i``/``-o`` and ffmpeg's ``yuv444p`` /
``yuv444p10le`` raw formats read and write.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

KR, KB = 0.2126, 0.0722
KG = 1.0 - KR - KB

#: Full-range BT.709 as a matrix on [0, 1] RGB -> (E'Y, E'Pb, E'Pr).
_RGB_TO_YPBPR = np.array([
    [KR, KG, KB],
    [-KR / (2 * (1 - KB)), -KG / (2 * (1 - KB)), 0.5],
    [0.5, -KG / (2 * (1 - KR)), -KB / (2 * (1 - KR))],
])
_YPBPR_TO_RGB = np.linalg.inv(_RGB_TO_YPBPR)

SUPPORTED_BIT_DEPTHS = (8, 10, 12, 16)


def _check_depth(bit_depth: int) -> None:
    if bit_depth not in SUPPORTED_BIT_DEPTHS:
        raise ValueError(f"bit depth {bit_depth} not supported; use one of {SUPPORTED_BIT_DEPTHS}")


def sample_dtype(bit_depth: int) -> np.dtype:
    """uint8 for 8-bit samples, little-endian uint16 above (the layout of YUV files)."""
    _check_depth(bit_depth)
    return np.dtype(np.uint8) if bit_depth == 8 else np.dtype("<u2")


def rgb_to_ycbcr(rgb: np.ndarray, bit_depth: int = 8) -> np.ndarray:
    """(H, W, 3) uint8 RGB -> (3, H, W) planar Y, Cb, Cr integers of ``bit_depth`` bits, rounded."""
    _check_depth(bit_depth)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected an (H, W, 3) uint8 RGB image, got {rgb.shape} {rgb.dtype}")
    peak = (1 << bit_depth) - 1
    ypbpr = np.einsum("ij,hwj->ihw", _RGB_TO_YPBPR, rgb.astype(np.float64) / 255.0)
    ypbpr[1:] += (1 << (bit_depth - 1)) / peak
    return np.clip(np.rint(ypbpr * peak), 0, peak).astype(sample_dtype(bit_depth))


def ycbcr_to_rgb(planes: np.ndarray, bit_depth: int = 8) -> np.ndarray:
    """(3, H, W) planar Y, Cb, Cr of ``bit_depth`` bits -> (H, W, 3) uint8 RGB, rounded (not truncated)."""
    _check_depth(bit_depth)
    if planes.ndim != 3 or planes.shape[0] != 3:
        raise ValueError(f"expected (3, H, W) planes, got {planes.shape}")
    peak = (1 << bit_depth) - 1
    ypbpr = planes.astype(np.float64) / peak
    ypbpr[1:] -= (1 << (bit_depth - 1)) / peak
    rgb = np.einsum("ij,jhw->hwi", _YPBPR_TO_RGB, ypbpr)
    return np.clip(np.rint(rgb * 255.0), 0, 255).astype(np.uint8)


def write_yuv444(path: Path, planes: np.ndarray, bit_depth: int) -> None:
    """Write (3, H, W) planes as one planar 4:4:4 frame (8-bit bytes or 16-bit little endian)."""
    path.write_bytes(np.ascontiguousarray(planes, dtype=sample_dtype(bit_depth)).tobytes())


def read_yuv444(path: Path, width: int, height: int, bit_depth: int) -> np.ndarray:
    """Read one planar 4:4:4 frame of ``width`` x ``height``; a wrong file size is an error."""
    dtype = sample_dtype(bit_depth)
    data = path.read_bytes()
    expected = 3 * width * height * dtype.itemsize
    if len(data) != expected:
        raise ValueError(f"{path.name}: {len(data)} bytes, expected {expected} for one {width}x{height} "
                         f"4:4:4 frame of {bit_depth}-bit samples")
    return np.frombuffer(data, dtype=dtype).reshape(3, height, width).astype(np.uint16 if bit_depth > 8 else np.uint8)


def read_y4m444(path: Path) -> tuple[np.ndarray, int]:
    """First frame of a 4:4:4 YUV4MPEG2 file (ffmpeg's ``-f yuv4mpegpipe``): (3, H, W) planes and bit depth.

    Y4M carries the size in its header, so a decoder that writes it needs no side information.
    """
    data = path.read_bytes()
    header_end = data.find(b"\n")
    if not data.startswith(b"YUV4MPEG2 ") or header_end < 0:
        raise ValueError(f"{path.name}: not a YUV4MPEG2 file")
    fields = {tok[:1]: tok[1:] for tok in data[10:header_end].decode("ascii").split()}
    width, height = int(fields["W"]), int(fields["H"])
    colourspace = fields.get("C", "420jpeg")
    depths = {"444": 8, "444p10": 10, "444p12": 12, "444p16": 16}
    if colourspace not in depths:
        raise ValueError(f"{path.name}: chroma format C{colourspace}, expected 4:4:4")
    bit_depth = depths[colourspace]
    frame_start = data.find(b"\n", header_end + 1) + 1  # skip the "FRAME[ params]" line
    if not data.startswith(b"FRAME", header_end + 1) or frame_start == 0:
        raise ValueError(f"{path.name}: no frame")
    dtype = sample_dtype(bit_depth)
    size = 3 * width * height * dtype.itemsize
    if len(data) < frame_start + size:
        raise ValueError(f"{path.name}: truncated frame ({len(data) - frame_start} of {size} bytes)")
    planes = np.frombuffer(data, dtype=dtype, count=3 * width * height, offset=frame_start)
    return planes.reshape(3, height, width).astype(np.uint16 if bit_depth > 8 else np.uint8), bit_depth
