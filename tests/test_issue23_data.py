"""Issue 23, data side: images deeper than 8 bits in any format, one dataset-name rule for every
command, and registered datasets checked against their hashes before a run measures them.

Everything runs the real CLI on real Kodak images (crops, or a copy of the set) and real files.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
from helpers import kodak_crops, rdbench
from PIL import Image

from rdbench.data.images import load_image
from rdbench.store.sqlite import Store


def _rgb16_tiff(image: np.ndarray) -> bytes:
    """A baseline little-endian TIFF with 16 bits per RGB sample (Pillow cannot write one), built by hand."""
    h, w, _ = image.shape
    pixels = (image.astype("<u2") * 257).tobytes()
    entries = [  # (tag, type, count, value); type 3 = SHORT, 4 = LONG
        (256, 4, 1, w), (257, 4, 1, h), (258, 3, 3, None), (259, 3, 1, 1), (262, 3, 1, 2),
        (273, 4, 1, None), (277, 3, 1, 3), (278, 4, 1, h), (279, 4, 1, len(pixels)), (284, 3, 1, 1),
    ]
    ifd_size = 2 + 12 * len(entries) + 4
    bits_at = 8 + ifd_size
    pixels_at = bits_at + 6
    ifd = struct.pack("<H", len(entries))
    for tag, kind, count, value in entries:
        value = {258: bits_at, 273: pixels_at}.get(tag, value)
        ifd += struct.pack("<HHI", tag, kind, count) + (struct.pack("<HH", value, 0) if kind == 3 and count == 1
                                                         else struct.pack("<I", value))
    return b"II*\0" + struct.pack("<I", 8) + ifd + struct.pack("<I", 0) + struct.pack("<3H", 16, 16, 16) + pixels


def _ppm16(image: np.ndarray, maxval: int = 65535) -> bytes:
    """A binary PPM (P6) with two bytes per sample, as the Netpbm format defines for maxval > 255."""
    h, w, _ = image.shape
    samples = (image.astype(np.uint32) * maxval // 255).astype(">u2")
    return f"P6\n# 16-bit test image\n{w} {h}\n{maxval}\n".encode() + samples.tobytes()


def test_images_deeper_than_8_bits_are_refused_in_every_format(tmp_path: Path) -> None:
    crops = kodak_crops(tmp_path / "crops", 1, (0, 0, 48, 40))
    image = load_image(next(crops.iterdir()))
    folder = tmp_path / "deep"
    folder.mkdir()
    Image.fromarray(image).save(folder / "a_good.png")
    (folder / "rgb16.tif").write_bytes(_rgb16_tiff(image))
    Image.fromarray(image[:, :, 0].astype(np.uint16) * 257).save(folder / "gray16.tif")  # Pillow's I;16
    (folder / "rgb16.ppm").write_bytes(_ppm16(image))
    (folder / "rgb10.ppm").write_bytes(_ppm16(image, maxval=1023))
    gray = (image[:, :, 1].astype(">u2") * 257).tobytes()
    (folder / "gray16.pnm").write_bytes(f"P5 {image.shape[1]} {image.shape[0]} 65535\n".encode() + gray)
    deep = {"rgb16.tif": "16-bit TIFF", "gray16.tif": "16-bit TIFF", "rgb16.ppm": "16-bit PPM",
            "rgb10.ppm": "10-bit PPM", "gray16.pnm": "16-bit PPM"}
    assert Image.open(folder / "rgb16.tif").mode == "RGB"  # what Pillow would silently reduce to 8 bits

    db = tmp_path / "rd.sqlite"
    result = rdbench("run", "--codec", "jpeg", "--quality", "50", "--dataset", folder, "--db", db, "-q")
    assert result.returncode == 0, result.stderr  # the good image is measured, as with a 16-bit PNG
    with Store(db, readonly=True) as store:
        records = {r.image: r for r in store.records()}
    assert records["a_good.png"].status == "ok"
    for name, words in deep.items():
        record = records[name]
        assert record.status == "failed" and record.bpp is None, name
        assert words in record.error and "rdbench measures 8-bit RGB" in record.error, (name, record.error)
        assert "\n" not in record.error
