"""Classical codecs on real Kodak images: real bitstreams, real files, sweeps that mean something.

Every configuration in ``codecs/`` that uses the imagecodecs or Pillow adapter is checked for:
a complete file of its format (magic bytes), a round trip to the original size, bpp monotone
along the sweep (every TOML lists its sweep from lowest to highest rate, so for JPEG XL, whose
knob is a distance, the numbers fall), sweep ends that bracket the
0.1-2 bpp range learned-compression papers plot, and odd / portrait sizes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rdbench.codecs.base import CodecConfig, CodecContext
from rdbench.codecs.registry import load_adapter, resolve_codecs
from rdbench.data.images import load_image
from rdbench.run.measure import measure
from rdbench.run.metrics import bpp, psnr


def _is_jpeg(b: bytes) -> bool:
    return b[:3] == b"\xff\xd8\xff" and b[-2:] == b"\xff\xd9"  # SOI ... EOI


#: codec -> "is this a complete file of the format" (magic bytes, and the end marker or size field)
CLASSICAL = {
    "jpeg": _is_jpeg,
    "jpeg444": _is_jpeg,
    "pillow-jpeg": _is_jpeg,
    "webp": lambda b: b[:4] == b"RIFF" and b[8:12] == b"WEBP" and int.from_bytes(b[4:8], "little") == len(b) - 8,
    "jpeg2000": lambda b: b[:12] == b"\x00\x00\x00\x0cjP  \r\n\x87\n" and b[-2:] == b"\xff\xd9",  # JP2 ... EOC
    "jpegxl": lambda b: b[:2] == b"\xff\x0a" or b[:12] == b"\x00\x00\x00\x0cJXL \r\n\x87\n",
    "avif": lambda b: b[4:12] == b"ftypavif",
}

#: A landscape and a portrait image, different content (kodim04 and kodim18 are portrait).
IMAGES = ("kodim01.png", "kodim04.png")


def _codec(name: str):
    (config,) = resolve_codecs(name)
    adapter = load_adapter(config.adapter)
    reason = adapter.unavailable_reason(config, CodecContext())
    if reason:
        pytest.skip(f"{name}: {reason}")
    return config, adapter(config, CodecContext())


@pytest.fixture(scope="module")
def images(kodak_dir: Path) -> dict[str, np.ndarray]:
    return {name: load_image(kodak_dir / name) for name in IMAGES}


def test_every_classical_config_is_covered() -> None:
    """A new classical TOML must be added to CLASSICAL (its magic bytes)."""
    from rdbench.codecs.registry import load_configs

    classical = {c.name for c in load_configs().values() if c.adapter in ("imagecodecs", "pillow")}
    assert classical == set(CLASSICAL)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CLASSICAL))
def test_sweep_is_monotone_and_spans_low_to_high_rate(name: str, images) -> None:
    """The whole default sweep on kodim01 rises in bpp and PSNR; its ends, averaged with the
    portrait kodim04, bracket the 0.1-2 bpp range (bench/results/classical_kodak.md has all 24)."""
    config, codec = _codec(name)
    is_file = CLASSICAL[name]
    sweep = list(config.qualities)
    assert len(sweep) >= 6, f"{name}: a sweep of {len(sweep)} points is too coarse for BD-rate"

    def rate_and_psnr(image: np.ndarray, quality) -> tuple[float, float]:
        data = codec.encode(image, quality)
        assert is_file(data), f"{name} q={quality}: not a complete file of its format: {data[:16]!r}"
        out = codec.decode(data, quality)
        assert out.shape == image.shape and out.dtype == np.uint8
        return bpp(len(data), *image.shape[:2]), psnr(image, out)

    first = images["kodim01.png"]
    points = [rate_and_psnr(first, q) for q in sweep]
    rates = [r for r, _ in points]
    quals = [p for _, p in points]
    assert rates == sorted(rates) and len(set(rates)) == len(rates), \
        f"{name}: bpp {rates} does not rise along {sweep} (list the sweep from lowest to highest rate)"
    assert quals == sorted(quals), f"{name}: PSNR {quals} does not rise along {sweep}"
    portrait = images["kodim04.png"]
    low = (rates[0] + rate_and_psnr(portrait, sweep[0])[0]) / 2
    high = (rates[-1] + rate_and_psnr(portrait, sweep[-1])[0]) / 2
    assert 0.05 <= low <= 0.25, f"{name}: lowest-rate point averages {low:.3f} bpp, expected ~0.1"
    assert 1.5 <= high <= 3.5, f"{name}: highest-rate point averages {high:.3f} bpp, expected ~2"
    assert 20.0 < quals[0] and quals[-1] < 45.0


@pytest.mark.parametrize("name", sorted(CLASSICAL))
def test_odd_size_crop_round_trips_through_measure(name: str, images) -> None:
    """97x131 (odd, not a multiple of 8 / 16 / 64) and its transpose: original size back, sane PSNR."""
    config, codec = _codec(name)
    quality = config.qualities[len(config.qualities) // 2]
    crop = np.ascontiguousarray(images["kodim01.png"][100:197, 200:331])
    for image in (crop, np.ascontiguousarray(crop.transpose(1, 0, 2))):
        result = measure(codec, image, quality)
        assert result.num_bytes == len(result.bitstream) > 0
        assert CLASSICAL[name](result.bitstream)
        assert result.bpp == pytest.approx(8 * result.num_bytes / (97 * 131))
        assert 22.0 < result.psnr < 60.0, f"{name}: {result.psnr:.2f} dB on a {image.shape[1]}x{image.shape[0]} crop"
        assert result.ms_ssim is None  # below 161 px: undefined, not made up


def test_portrait_image_decodes_in_portrait(images) -> None:
    """kodim04 is 512x768 (portrait): every codec must give back rows x columns unchanged."""
    image = images["kodim04.png"]
    assert image.shape[:2] == (768, 512)
    for name in sorted(CLASSICAL):
        config, codec = _codec(name)
        out = codec.decode(codec.encode(image, config.qualities[-1]), config.qualities[-1])
        assert out.shape == image.shape, name


def test_pillow_jpeg_matches_imagecodecs_jpeg(images) -> None:
    """Same library (libjpeg-turbo), same settings: the reconstructions must be identical."""
    _, ours = _codec("jpeg")
    _, pillow = _codec("pillow-jpeg")
    image = images["kodim01.png"]
    for quality in (5, 50, 85):
        a, b = ours.encode(image, quality), pillow.encode(image, quality)
        assert abs(len(a) - len(b)) <= 0.01 * len(a)
        np.testing.assert_array_equal(ours.decode(a, quality), pillow.decode(b, quality))


def test_jpeg2000_level_is_a_psnr_target(images) -> None:
    """imagecodecs' jpeg2k `level` is OpenJPEG's fixed-quality PSNR target in dB (as codecs/jpeg2000.toml says)."""
    _, codec = _codec("jpeg2000")
    image = images["kodim01.png"]
    for target in (25, 32, 38):
        achieved = psnr(image, codec.decode(codec.encode(image, target), target))
        assert target - 1.0 < achieved < target + 0.5, f"target {target} dB, got {achieved:.2f} dB"


def test_jpeg_subsampling_is_what_the_name_says(images) -> None:
    """4:2:0 and 4:4:4 are read back from the SOF0 header's sampling factors, not trusted from the TOML."""

    def sampling_factors(data: bytes) -> list[int]:
        i = 2
        while i < len(data):
            marker, length = data[i + 1], int.from_bytes(data[i + 2:i + 4], "big")
            if marker in (0xC0, 0xC1, 0xC2):
                components = data[i + 9]
                return [data[i + 11 + 3 * c] for c in range(components)]
            i += 2 + length
        raise AssertionError("no SOF marker")

    image = images["kodim01.png"]
    _, j420 = _codec("jpeg")
    _, j444 = _codec("jpeg444")
    assert sampling_factors(j420.encode(image, 50)) == [0x22, 0x11, 0x11]
    assert sampling_factors(j444.encode(image, 50)) == [0x11, 0x11, 0x11]


def test_avif_is_444_and_webp_lossy(images) -> None:
    """AVIF's av1C box says 4:4:4 (chroma_subsampling_x = y = 0); WebP is the lossy VP8 flavour."""
    image = images["kodim01.png"]
    config, avif = _codec("avif")
    data = avif.encode(image, config.qualities[-1])
    at = data.find(b"av1C")
    assert at > 0
    flags = data[at + 6]  # marker/version, seq_profile/level, then tier|high_bitdepth|twelve_bit|mono|ssx|ssy|pos
    assert (flags >> 3) & 1 == 0 and (flags >> 2) & 1 == 0, "chroma is subsampled"
    _, webp = _codec("webp")
    assert webp.encode(image, 50)[12:16] == b"VP8 "


def test_config_errors_are_one_line(images) -> None:
    """A TOML naming a format imagecodecs lacks is refused with a reason, not a traceback."""
    adapter = load_adapter("imagecodecs")
    bogus = CodecConfig(name="bogus", adapter="imagecodecs", params={"format": "nosuchformat"})
    reason = adapter.unavailable_reason(bogus, CodecContext())
    assert reason and "nosuchformat" in reason and "\n" not in reason
