"""RGB <-> Y'CbCr BT.709 full range and YUV files: the exactness claims of rdbench.codecs.external.colour, checked.

The 10-bit claim (exact round trip) and the 8-bit loss bound are checked on all 2^24 colours,
in chunks so memory stays small (~3 s).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rdbench.codecs.external.colour import (
    read_y4m444,
    read_yuv444,
    rgb_to_ycbcr,
    write_yuv444,
    ycbcr_to_rgb,
)


def _all_colours_in_chunks():
    """Every 8-bit RGB colour, as 16 images of 16 x 65536 pixels."""
    for red in range(0, 256, 16):
        r, g, b = np.meshgrid(np.arange(red, red + 16), np.arange(256), np.arange(256), indexing="ij")
        yield np.stack([r, g, b], axis=-1).reshape(16, 65536, 3).astype(np.uint8)


@pytest.mark.slow
def test_round_trip_over_all_colours() -> None:
    """10-bit: every colour comes back exactly. 8-bit: at most 1 level per channel off,
    53.0 dB over all colours (the loss documented in rdbench.codecs.external.colour)."""
    worst8, squared8 = 0, 0.0
    for rgb in _all_colours_in_chunks():
        assert np.array_equal(ycbcr_to_rgb(rgb_to_ycbcr(rgb, 10), 10), rgb)
        diff = ycbcr_to_rgb(rgb_to_ycbcr(rgb, 8), 8).astype(np.int64) - rgb
        worst8 = max(worst8, int(np.abs(diff).max()))
        squared8 += float((diff ** 2).sum())
    assert worst8 == 1
    psnr8 = 10 * np.log10(255 ** 2 / (squared8 / (2 ** 24 * 3)))
    assert psnr8 == pytest.approx(53.0, abs=0.05)


def test_known_values_bt709_full_range() -> None:
    """Black, white, grey and the primaries land where H.273 (full range, BT.709 matrix) puts them."""
    rgb = np.array([[[0, 0, 0], [255, 255, 255], [128, 128, 128], [255, 0, 0], [0, 0, 255]]], dtype=np.uint8)
    y, cb, cr = rgb_to_ycbcr(rgb, 8)[:, 0]
    assert list(y) == [0, 255, 128, 54, 18]  # 0.2126*255 = 54.2, 0.0722*255 = 18.4
    assert list(cb[:3]) == [128, 128, 128] and list(cr[:3]) == [128, 128, 128]
    assert cb[4] == 255 and cr[3] == 255  # +0.5 * 255 + 128 = 255.5, clipped
    y10 = rgb_to_ycbcr(rgb, 10)[0, 0]
    assert list(y10[:2]) == [0, 1023]


@pytest.mark.parametrize("bit_depth", [8, 10, 16])
def test_yuv_file_round_trip_and_layout(bit_depth: int, tmp_path: Path) -> None:
    rng = np.random.default_rng(bit_depth)
    planes = rng.integers(0, 1 << bit_depth, size=(3, 5, 7), dtype=np.uint32)
    path = tmp_path / "f.yuv"
    write_yuv444(path, planes, bit_depth)
    itemsize = 1 if bit_depth == 8 else 2
    raw = path.read_bytes()
    assert len(raw) == 3 * 5 * 7 * itemsize
    assert int.from_bytes(raw[:itemsize], "little") == planes[0, 0, 0]  # planar, little endian
    assert int.from_bytes(raw[35 * itemsize:36 * itemsize], "little") == planes[1, 0, 0]
    assert np.array_equal(read_yuv444(path, 7, 5, bit_depth), planes)
    with pytest.raises(ValueError, match="expected"):
        read_yuv444(path, 8, 5, bit_depth)


def test_y4m_reader(tmp_path: Path) -> None:
    planes = np.arange(3 * 4 * 6, dtype=np.uint16).reshape(3, 4, 6) * 7
    path = tmp_path / "f.y4m"
    path.write_bytes(b"YUV4MPEG2 W6 H4 F25:1 Ip A0:0 C444p10 XYSCSS=444P10\nFRAME\n" + planes.astype("<u2").tobytes())
    read, depth = read_y4m444(path)
    assert depth == 10 and np.array_equal(read, planes)
    path.write_bytes(b"YUV4MPEG2 W6 H4 F25:1 C420jpeg\nFRAME\n" + bytes(36))
    with pytest.raises(ValueError, match="4:4:4"):
        read_y4m444(path)
