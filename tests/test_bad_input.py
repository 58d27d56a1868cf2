"""Bad input gets one clear message: odd image files, empty folders, wrong names, broken configs.

The conversions rdbench makes are exactly the lossless ones documented in rdbench/images.py
(grayscale and palette -> RGB, opaque alpha dropped); everything else is refused per file,
and the run goes on with the other images. A hypothesis property test drives random shapes
and contents through real JPEG encoders (imagecodecs and Pillow) and rdbench.run.metrics.
"""

from __future__ import annotations

import json
import os
import struct
import tracemalloc
import zlib
from pathlib import Path

import numpy as np
import pytest
from helpers import newer_schema_db, rdbench
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from rdbench.codecs.base import CodecContext
from rdbench.codecs.registry import load_adapter, resolve_codecs
from rdbench.data.images import MAX_PIXELS, load_image
from rdbench.errors import ImageError
from rdbench.run import metrics
from rdbench.run.measure import measure
from rdbench.store.sqlite import Store


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose valid IHDR declares ``width`` x ``height`` RGB, with one tiny IDAT: a bomb."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(b"\0" * 16)) + _chunk(b"IEND", b"")


def rgb(h: int = 24, w: int = 32) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    return np.stack([xx * 7, yy * 9, (xx * yy) % 255], axis=2).astype(np.uint8)


@pytest.fixture()
def odd_images(tmp_path: Path) -> Path:
    """One folder holding every kind of file rdbench must convert or refuse."""
    folder = tmp_path / "odd"
    folder.mkdir()
    good = rgb()
    Image.fromarray(good).save(folder / "good.png")
    (folder / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(300))
    (folder / "truncated.png").write_bytes((folder / "good.png").read_bytes()[:60])
    (folder / "empty.png").write_bytes(b"")
    (folder / "huge.png").write_bytes(png_header_only(20000, 20000))
    Image.fromarray(good[:, :, 1]).save(folder / "gray.png")
    Image.fromarray(np.dstack([good, np.full(good.shape[:2], 255, np.uint8)])).save(folder / "rgba_opaque.png")
    alpha = np.full(good.shape[:2], 255, np.uint8)
    alpha[0, 0] = 10
    Image.fromarray(np.dstack([good, alpha])).save(folder / "rgba_transparent.png")
    Image.fromarray(good).convert("P").save(folder / "palette.png")
    Image.fromarray(good.astype(np.uint16)[:, :, 0] * 257).save(folder / "gray16.png")
    Image.fromarray(good).convert("CMYK").save(folder / "cmyk.jpg")
    Image.fromarray(good).convert("CMYK").save(folder / "cmyk.tif")
    (folder / "rgb16.png").write_bytes(_rgb16_png(good))
    return folder


def _rgb16_png(image: np.ndarray) -> bytes:
    """A real 16-bit-per-sample RGB PNG (Pillow cannot write one, so built by hand)."""
    h, w, _ = image.shape
    samples = (image.astype(">u2") * 257).reshape(h, w * 3)
    raw = b"".join(b"\0" + row.tobytes() for row in samples)
    ihdr = struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(raw)) + _chunk(b"IEND", b"")


CONVERTED = {"good.png", "gray.png", "rgba_opaque.png", "palette.png"}
REFUSED = {
    "corrupt.png": "corrupt or truncated",
    "truncated.png": "corrupt or truncated",
    "empty.png": "empty file",
    "huge.png": "20000x20000",
    "rgba_transparent.png": "transparency",
    "gray16.png": "16-bit",
    "rgb16.png": "16-bit PNG",
    "cmyk.jpg": "CMYK",
    "cmyk.tif": "CMYK",
}


def test_each_file_is_converted_losslessly_or_refused_with_one_line(odd_images: Path) -> None:
    good = rgb()
    assert np.array_equal(load_image(odd_images / "good.png"), good)
    gray = load_image(odd_images / "gray.png")
    assert np.array_equal(gray, np.repeat(good[:, :, 1:2], 3, axis=2))
    assert np.array_equal(load_image(odd_images / "rgba_opaque.png"), good)
    palette = load_image(odd_images / "palette.png")
    assert palette.shape == good.shape and palette.dtype == np.uint8
    assert np.array_equal(palette, np.asarray(Image.open(odd_images / "palette.png").convert("RGB")))
    for name, words in REFUSED.items():
        with pytest.raises(ImageError) as info:
            load_image(odd_images / name)
        message = str(info.value)
        assert "\n" not in message and name in message and words in message, (name, message)


def test_a_declared_huge_image_is_refused_before_allocating(tmp_path: Path) -> None:
    for width, height in ((20000, 20000), (9000, 9000)):  # above Pillow's bomb limit, and only above ours
        assert width * height > MAX_PIXELS
        path = tmp_path / f"bomb{width}.png"
        path.write_bytes(png_header_only(width, height))
        tracemalloc.start()
        with pytest.raises(ImageError, match=rf"declared size {width}x{height} exceeds the 64 Mpixel limit"):
            load_image(path)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert peak < 16 * 2**20, f"{peak} bytes allocated to refuse a header"


def test_run_over_a_folder_of_odd_files_records_each_and_goes_on(odd_images: Path, tmp_path: Path) -> None:
    db = tmp_path / "r.sqlite"
    result = rdbench("run", "--codec", "jpeg", "--dataset", str(odd_images), "--quality", "50", "--db", str(db), "-q")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    with Store(db) as store:
        records = {r.image: r for r in store.records()}
    assert {name for name, r in records.items() if r.ok} == CONVERTED
    for name, words in REFUSED.items():
        assert records[name].status == "failed" and words in records[name].error, (name, records[name].error)
        assert f"failed: jpeg q=50 {name}: " in result.stderr


def test_empty_dataset_folder(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no images here")
    result = rdbench("run", "--codec", "jpeg", "--dataset", str(tmp_path / "empty"), "--db", str(tmp_path / "r.sqlite"))
    assert result.returncode == 1 and "has no image files" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(("args", "suggestion"), [
    (["--codec", "webpp", "--dataset", "."], "did you mean 'webp'"),
    (["--codec", "jpeg", "--dataset", "kodac"], "did you mean 'kodak'"),
])
def test_unknown_names_suggest_the_closest(tmp_path: Path, args: list[str], suggestion: str) -> None:
    Image.fromarray(rgb()).save(tmp_path / "a.png")
    result = rdbench("run", *args, "--db", tmp_path / "r.sqlite", "--data-root", tmp_path, cwd=tmp_path)
    assert result.returncode == 2 and suggestion in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(("text", "words"), [
    ('name = "broken"\nadapter = "imagecodecs\n', "malformed codec TOML"),
    ('name = "broken"\nqualities = [1]\n', "missing 'adapter"),
    ('name = "broken"\nadapter = "imagecodecs"\nqualitys = [1]\n', "unknown keys"),
])
def test_malformed_codec_toml_names_the_file(tmp_path: Path, text: str, words: str) -> None:
    folder = tmp_path / "codecs"
    folder.mkdir()
    (folder / "broken.toml").write_text(text)
    env = dict(os.environ, RDBENCH_CODECS_PATH=str(folder))
    result = rdbench("codecs", env=env)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert words in result.stderr and "broken.toml" in result.stderr


def test_results_database_from_a_newer_rdbench_is_refused_by_run(tmp_path: Path) -> None:
    folder = tmp_path / "imgs"
    folder.mkdir()
    Image.fromarray(rgb()).save(folder / "a.png")
    db = newer_schema_db(tmp_path / "future.sqlite")
    result = rdbench("run", "--codec", "jpeg", "--dataset", str(folder), "--db", str(db))
    assert result.returncode == 1 and "schema version 999" in result.stderr and "upgrade rdbench" in result.stderr
    assert "Traceback" not in result.stderr


JPEGS = [(config, load_adapter(config.adapter)(config, CodecContext())) for config in resolve_codecs("jpeg,pillow-jpeg")]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(height=st.integers(1, 64), width=st.integers(1, 64), seed=st.integers(0, 2**32 - 1),
       kind=st.sampled_from(["noise", "flat", "gradient"]), quality=st.integers(1, 100), which=st.sampled_from([0, 1]))
def test_property_random_images_through_real_jpeg_and_metrics(height, width, seed, kind, quality, which) -> None:
    rng = np.random.default_rng(seed)
    if kind == "noise":
        image = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    elif kind == "flat":
        image = np.full((height, width, 3), rng.integers(0, 256, 3), dtype=np.uint8)
    else:
        yy, xx = np.mgrid[0:height, 0:width]
        image = np.stack([xx * 4, yy * 4, (xx + yy) * 2], axis=2).clip(0, 255).astype(np.uint8)
    _, codec = JPEGS[which]
    data = codec.encode(image, quality)
    recon = codec.decode(data, quality)
    assert recon.shape == image.shape and recon.dtype == np.uint8
    bpp = metrics.bpp(len(data), height, width)
    assert bpp > 0
    psnr = metrics.psnr(image, recon)
    assert np.isfinite(psnr) or (psnr == float("inf") and np.array_equal(image, recon))
    assert metrics.psnr(image, image) == float("inf")
    assert metrics.ms_ssim(image, recon) is None  # undefined below 161 px, never a made-up number
    # and the same through the harness's own measurement (what a record stores)
    m = measure(codec, image, quality)
    assert m.num_bytes == len(data) and m.bpp == pytest.approx(bpp)
    assert m.psnr == pytest.approx(psnr) and m.ms_ssim is None and m.ms_ssim_db is None


def test_results_failed_json_is_valid_with_no_rows(tmp_path: Path) -> None:
    db = tmp_path / "r.sqlite"
    with Store(db):
        pass
    result = rdbench("results", "--db", str(db), "--failed", "--format", "json")
    assert result.returncode == 0 and "no matching records (no failures)" in result.stderr
    assert result.stdout.strip() in ("", "[]") or json.loads(result.stdout) == []
