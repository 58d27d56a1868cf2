"""The JPEG AI metrics equal the JPEG AI framework's own code (issue 25, item 2).

``tests/data/jpegai_golden.json`` holds the framework's values (its code run once, outside the
repository, by the script in docs/metrics.md) on Kodak images at JPEG qualities 10, 50, 90 in 4:4:4
and 4:2:0, an odd 97x131 crop, and an image against itself. Each pair is made again here with
Pillow; a pair whose reconstruction differs from the one the values were computed on (another
libjpeg) is skipped with that reason rather than compared.

Tolerances (relative): 1e-6 where rdbench runs the framework's arithmetic (the colour conversion,
PSNR, MS-SSIM-Y with pytorch_msssim, NLPD, PSNR-HVS with psnr_hvsm); piq's IW-SSIM, VIF and FSIM
differ from the framework's IQA_pytorch / pyrtools code by the amounts docs/metrics.md states.
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from rdbench import metric_spec
from rdbench.run.metrics.jpegai import AGREEMENT, colour

GOLDEN = json.loads((Path(__file__).parent / "data" / "jpegai_golden.json").read_text())["pairs"]
#: relative tolerance per metric (the package's, documented in docs/metrics.md)
TOLERANCE = AGREEMENT


def make_pair(kodak: Path, row: dict) -> tuple[np.ndarray, np.ndarray]:
    original = np.asarray(Image.open(kodak / row["image"]).convert("RGB"))
    if row["crop"]:
        top, left, h, w = row["crop"]
        original = np.ascontiguousarray(original[top:top + h, left:left + w])
    if row["quality"] is None:
        return original, original.copy()
    buf = io.BytesIO()
    Image.fromarray(original).save(buf, format="JPEG", quality=row["quality"], subsampling=row["subsampling"])
    reconstruction = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))
    if hashlib.sha256(reconstruction.tobytes()).hexdigest() != row["reconstruction_sha256"]:
        pytest.skip(f"Pillow's JPEG of {row['image']} q{row['quality']} differs from the golden one (another "
                    "libjpeg): the framework's values do not apply")
    return original, reconstruction


def check_row(kodak: Path, row: dict) -> None:
    original, reconstruction = make_pair(kodak, row)
    colour.clear_cache()
    for name, expected in row["values"].items():
        value = metric_spec.get(name).load()(original, reconstruction)
        assert value == pytest.approx(expected, rel=TOLERANCE[name], abs=1e-12), (name, row["image"], row["quality"])


def _label(row: dict) -> str:
    return f"{row['image']}-{row['crop'] and 'crop'}-q{row['quality']}-s{row['subsampling']}"


ODD = [r for r in GOLDEN if r["crop"]]
WHOLE = [r for r in GOLDEN if not r["crop"]]


@pytest.mark.parametrize("row", ODD, ids=_label)
def test_odd_sized_crop_equals_the_framework(kodak_dir: Path, row: dict) -> None:
    check_row(kodak_dir, row)


@pytest.mark.slow
@pytest.mark.parametrize("row", WHOLE, ids=_label)
def test_kodak_at_jpeg_qualities_equals_the_framework(kodak_dir: Path, row: dict) -> None:
    check_row(kodak_dir, row)


def test_colour_conversion_is_the_frameworks_float32_arithmetic() -> None:
    """Spot values of the conversion, worked out from the framework's float32 steps by hand:
    white and black, and a saturated red whose Cr clamps at 1."""
    image = np.array([[[255, 255, 255], [0, 0, 0], [255, 0, 0]]], dtype=np.uint8)
    p = colour.convert(image)
    assert p.y.tolist() == [[1023, 0, 217]]
    assert p.u.tolist() == [[512, 512, 394]]  # 1023 * (0.5 - 0.2126 / 1.8556) = 394.3
    assert p.v.tolist() == [[512, 512, 1023]]
    assert p.rgb[0, 2].tolist() == [1023, 0, 0]


def test_a_pair_converts_each_image_once() -> None:
    """The metrics of one pair share one conversion per image (the framework converts once too)."""
    rng = np.random.default_rng(1)
    a = rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)
    colour.clear_cache()
    first = colour.planes(a)
    assert colour.planes(a.copy()) is first  # the same pixels: the cached planes
    b = a.copy()
    b[0, 0, 0] ^= 1
    assert colour.planes(b) is not first  # one changed pixel: converted again


def test_every_jpeg_ai_metric_is_declared_on_request_and_vmaf_says_why_it_is_absent() -> None:
    names = metric_spec.SETS["jpeg-ai"]
    assert set(metric_spec.SETS["jpeg-ai-average"]) <= set(names)
    for name in names:
        m = metric_spec.get(name)
        assert m.on_request and m.version and m not in metric_spec.plugins()
    assert [metric_spec.get(n).psnr_peak for n in ("psnr-y", "psnr-u", "psnr-v")] == [1023.0] * 3
    assert metric_spec.get("nlpd").scale == "one-minus" and not metric_spec.get("nlpd").higher_is_better
    reason = metric_spec.get("vmaf").unavailable_reason()
    assert reason and "vmaf" in reason
    assert metric_spec.get("psnr-y").unavailable_reason() is None
    with pytest.raises(Exception, match="unavailable"):
        metric_spec.get("vmaf").load()(np.zeros((8, 8, 3), np.uint8), np.zeros((8, 8, 3), np.uint8))


def test_small_and_odd_images_get_values_from_the_frameworks_padding() -> None:
    """Padding (NLPD 128, IW-SSIM 256, VIF 64, MS-SSIM 164, PSNR-HVS to a multiple of 8) makes every
    metric defined on a 33x47 image, as in the framework."""
    rng = np.random.default_rng(2)
    a = rng.integers(0, 256, (33, 47, 3), dtype=np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-9, 10, a.shape), 0, 255).astype(np.uint8)
    for name in metric_spec.SETS["jpeg-ai"][:-1]:
        assert np.isfinite(metric_spec.get(name).load()(a, b)), name


@pytest.mark.parametrize("row", [*ODD[:1], pytest.param(WHOLE[2], marks=pytest.mark.slow)], ids=_label)
def test_torch_tensors_give_the_numpy_values(kodak_dir: Path, row: dict) -> None:
    """The device path (a reconstruction already a torch tensor, measured on its device with torch
    ops, the original moved there), run on CPU tensors: the conversion gives the same codes and every
    metric the numpy path's value to 1e-6 relative (the golden tolerance of the framework's arithmetic)."""
    import torch

    original, reconstruction = make_pair(kodak_dir, row)
    colour.clear_cache()
    tensor = torch.from_numpy(reconstruction.copy())
    for field in ("rgb", "y", "u", "v"):
        assert np.array_equal(colour.convert_tensor(tensor).__dict__[field].numpy(), colour.convert(reconstruction)
                              .__dict__[field]), field
    for name in metric_spec.SETS["jpeg-ai"][:-1]:
        spec = metric_spec.get(name)
        assert spec.device, name
        expected = spec.load()(original, reconstruction)
        assert spec.load()(original, tensor) == pytest.approx(expected, rel=1e-6, abs=1e-12), name
        assert spec.load()(torch.from_numpy(original.copy()), tensor) == pytest.approx(expected, rel=1e-6, abs=1e-12)
