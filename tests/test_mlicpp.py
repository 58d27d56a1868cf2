"""MLIC++ (rdbench.models.mlicpp) and its adapter ``mlicpp``.

The paper-size model (83.5M parameters) is built once per module, for the state_dict check
against the official key list and for exact round trips on real Kodak crops; training-mode and
complexity checks use a narrow model (N=M=64, two 32-channel slices) to stay fast.
"""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import rdbench

from rdbench.codecs.base import CodecConfig, CodecContext
from rdbench.codecs.learned.mlicpp import MLICPlusPlusCodec
from rdbench.codecs.registry import load_adapter, resolve_codecs
from rdbench.errors import CodecUnavailable, RdbenchError
from rdbench.models.mlicpp import MLICPlusPlus
from rdbench.models.mlicpp_layers import (
    CheckerboardAttentionContext,
    odd_anchor_mask,
    squeeze_anchor,
    squeeze_nonanchor,
    unsqueeze_anchor,
    unsqueeze_nonanchor,
)
from rdbench.run.measure import measure

NARROW = {"N": 64, "M": 64, "slices": 2}


def read_key_list(path: Path) -> list[tuple[str, tuple[int, ...], str | None]]:
    rows = []
    for line in path.read_text().splitlines():
        if line.startswith("#") or not line.strip():
            continue
        name, shape, *dtype = line.split("\t")
        rows.append((name, tuple(int(d) for d in shape.strip("()").split(",") if d.strip()), dtype[0] if dtype else None))
    return rows


@pytest.fixture(scope="module")
def random_codec() -> MLICPlusPlusCodec:
    """The mlicpp-random configuration (paper size, seeded weights), model loaded once."""
    config = resolve_codecs("mlicpp-random")[0]
    codec = MLICPlusPlusCodec(config, CodecContext())
    codec.prepare(1)
    return codec


@pytest.mark.slow
@pytest.mark.parametrize("old", [False, True])
def test_state_dict_matches_the_official_model(reference_dir, old):
    name = "state_dict_keys_old.txt" if old else "state_dict_keys.txt"
    expected = read_key_list(reference_dir / "mlicpp" / name)
    model = MLICPlusPlus(old=old)
    state = model.state_dict()
    assert [k for k, _, _ in expected] == list(state), "names or order differ"
    for key, shape, dtype in expected:
        assert tuple(state[key].shape) == shape, key
        if dtype is not None:
            assert str(state[key].dtype) == f"torch.{dtype}", key
        elif not key.endswith(("_offset", "_quantized_cdf", "_cdf_length", "relative_position_index")):
            assert state[key].dtype == torch.float32, key
    params = sum(p.numel() for p in model.parameters())
    assert params == (116_716_928 if old else 83_501_408)
    assert MLICPlusPlus.arch_from_state_dict(state) == {"old": old}


def test_checkerboard_helpers_are_inverse_and_partition():
    y = torch.randn(1, 3, 6, 8)
    mask = odd_anchor_mask(6, 8)
    assert not mask[0, 0, 0, 0] and mask[0, 0, 0, 1] and mask[0, 0, 1, 0]  # anchors: odd row + col
    assert torch.equal(unsqueeze_anchor(squeeze_anchor(y)) + unsqueeze_nonanchor(squeeze_nonanchor(y)), y)
    assert torch.equal(squeeze_anchor(y)[0, 0, 0], y[0, 0, 0, 1::2])


def test_local_attention_mask_keeps_in_image_anchor_pairs_only():
    """The context is fed anchors only (zeros elsewhere); its mask keeps (anchor, anchor) pairs."""
    context = CheckerboardAttentionContext(32)
    mask = context.attention_mask(6, 8, torch.device("cpu"))
    assert mask.shape == (48, 25, 25) and set(mask.unique().tolist()) == {0.0, -100.0}
    # window of latent (2, 3): its centre (index 12) is an anchor (2 + 3 odd); its left
    # neighbour (index 11, latent (2, 2)) is not
    window = mask[2 * 8 + 3]
    assert window[12, 12] == 0 and window[11, 12] == -100 and window[12, 11] == -100
    # window of latent (0, 0): the rows above the image (zero padding) are masked
    assert bool((mask[0][:10] == -100).all())


@pytest.mark.slow
def test_forward_is_trainable():
    torch.manual_seed(0)
    model = MLICPlusPlus(**NARROW).train()
    x = torch.rand(2, 3, 64, 64)
    out = model(x)
    assert out["x_hat"].shape == x.shape
    y_lik, z_lik = out["likelihoods"]["y"], out["likelihoods"]["z"]
    assert y_lik.shape == (2, 64, 4, 4) and z_lik.shape == (2, 64, 1, 1)
    bpp = -(torch.log2(y_lik).sum() + torch.log2(z_lik).sum()) / (2 * 64 * 64)
    (bpp + 100 * torch.mean((out["x_hat"] - x) ** 2)).backward()
    for module in (model.g_a, model.h_s, model.local_context[1], model.global_intra_context[1],
                   model.global_inter_context[1], model.lrp_nonanchor[1]):
        grads = [p.grad for p in module.parameters()]
        assert all(g is not None for g in grads) and any(float(g.abs().sum()) > 0 for g in grads)


@pytest.mark.slow
def test_flops_per_pixel_are_constant():
    """The linear global contexts: FLOPs grow with the pixel count, not its square."""
    from rdbench.run.complexity import count_flops

    model = MLICPlusPlus(**NARROW).eval()
    per_pixel = []
    for side in (512, 1024, 2048):
        flops, where = count_flops(model, torch.empty(1, 3, side, side, device="meta"))
        assert where == "meta"
        per_pixel.append(flops / side ** 2)
    assert max(per_pixel) / min(per_pixel) < 1.01, per_pixel


@pytest.mark.slow
@pytest.mark.parametrize("size", [(64, 64), (96, 128), (128, 96), (75, 50)])
def test_round_trip_is_exact_on_kodak_crops(random_codec, kodak_dir, size):
    """Landscape, portrait and odd sizes: the decoder reproduces the eval forward bit for bit."""
    from rdbench.data.images import load_image

    h, w = size
    image = load_image(kodak_dir / "kodim04.png")[300:300 + h, 200:200 + w].copy()  # kodim04 is portrait
    data = random_codec.encode(image, 1)
    decoded = random_codec.decode(data, 1)
    assert random_codec.notes["decoder_matches_encoder"] is True
    assert decoded.shape == image.shape and decoded.dtype == np.uint8
    model = random_codec.torch_model(1)
    with torch.inference_mode():
        x = random_codec.forward_input(image)
        assert x.shape[2] % 64 == 0 and x.shape[3] % 64 == 0 and float(x[..., h:, :].abs().sum()) == 0  # zero pad
        reference = model(x)["x_hat"].clamp(0, 1)
    expected = (reference[0, :, :h, :w] * 255).round().byte().permute(1, 2, 0).numpy()
    assert np.array_equal(decoded, expected)
    assert len(data) > 12 + 10  # header + real strings


@pytest.mark.slow
def test_bitstream_is_deterministic_and_truncation_is_reported(random_codec, kodak_crop):
    image = kodak_crop[:64, :96].copy()
    data = random_codec.encode(image, 1)
    assert data == random_codec.encode(image, 1)
    with pytest.raises(RdbenchError, match="truncated|shorter"):
        random_codec.decode(data[:20], 1)


@pytest.mark.slow
def test_decoder_mismatch_is_recorded(random_codec, kodak_crop):
    """A decoder that computes different parameters than the encoder is flagged, not hidden."""
    config = CodecConfig("mlicpp-narrow", "mlicpp", (1,), {**NARROW, "random_seed": 1, "latent_gain": 4.0})
    codec = MLICPlusPlusCodec(config, CodecContext())
    image = kodak_crop[:64, :64].copy()
    data = codec.encode(image, 1)
    with torch.no_grad():  # the decoder's LRP now disagrees with the encoder's
        codec.torch_model(1).lrp_anchor[0].lrp_transform[0].bias.add_(0.5)
    codec.decode(data, 1)
    assert codec.notes["decoder_matches_encoder"] is False and codec.notes["decoder_max_abs_diff"] > 0


@pytest.mark.slow
def test_measure_records_real_numbers(random_codec, kodak_crop):
    result = measure(random_codec, kodak_crop, 1)
    assert result.num_bytes > 12 and np.isfinite(result.psnr) and result.encode_s > 0 and result.decode_s > 0
    assert result.notes["decoder_matches_encoder"] is True


def test_availability_messages(tmp_path):
    config = resolve_codecs("mlicpp")[0]
    reason = MLICPlusPlusCodec.unavailable_reason(config, CodecContext())
    assert "github.com/JiangWeibeta/MLIC" in reason and "--checkpoint-dir" in reason and "mlicpp-random" in reason
    reason = MLICPlusPlusCodec.unavailable_reason(config, CodecContext(checkpoint_dir=str(tmp_path)))
    assert "mlicpp_mse_q1.pth.tar" in reason and "lambda 0.0018" in reason and "missing" in reason
    (tmp_path / "mlicpp_mse_q3.pth.tar").write_bytes(b"")  # a folder with some of the six runs those
    context = CodecContext(checkpoint_dir=str(tmp_path))
    assert MLICPlusPlusCodec.unavailable_reason(config, context) is None
    with pytest.raises(CodecUnavailable, match=r"mlicpp_mse_q1\.pth\.tar .*lambda 0\.0018.* is missing"):
        MLICPlusPlusCodec(config, context).prepare(1)
    with pytest.raises(RdbenchError, match="truncated or not a PyTorch checkpoint"):
        MLICPlusPlusCodec(config, context).prepare(3)
    assert load_adapter("mlicpp") is MLICPlusPlusCodec
    for name in ("mlicpp-ms-ssim", "mlicpp-2024"):
        assert "--checkpoint-dir" in MLICPlusPlusCodec.unavailable_reason(resolve_codecs(name)[0], CodecContext())
    assert MLICPlusPlusCodec.unavailable_reason(resolve_codecs("mlicpp-random")[0], CodecContext()) is None


@pytest.mark.slow
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_cuda_round_trip(kodak_crop):
    config = CodecConfig("mlicpp-narrow", "mlicpp", (1,), {**NARROW, "random_seed": 2, "latent_gain": 4.0})
    codec = MLICPlusPlusCodec(config, CodecContext(device="cuda"))
    result = measure(codec, kodak_crop, 1)
    assert np.isfinite(result.psnr) and "decoder_matches_encoder" in result.notes


@pytest.mark.slow
def test_rdbench_run_end_to_end(tmp_path, kodak_dir):
    from PIL import Image

    from rdbench.data.images import load_image

    crops = tmp_path / "crops"
    crops.mkdir()
    image = load_image(kodak_dir / "kodim23.png")
    Image.fromarray(image[:64, :96]).save(crops / "a.png")
    Image.fromarray(image[100:196, 300:364]).save(crops / "b.png")  # portrait
    db = tmp_path / "results.sqlite"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = rdbench("run", "--codec", "mlicpp-random", "--dataset", crops, "--db", db, env=env)
    assert result.returncode == 0, result.stderr
    with sqlite3.connect(db) as conn:
        conn.row_factory = sqlite3.Row
        rows = conn.execute("SELECT * FROM records ORDER BY image").fetchall()
    assert [r["image"] for r in rows] == ["a.png", "b.png"] and all(r["status"] == "ok" for r in rows)
    for row in rows:
        assert row["codec_library"] == "rdbench.models.mlicpp+compressai"
        assert row["bpp"] == pytest.approx(8 * row["num_bytes"] / (row["height"] * row["width"]))
        assert json.loads(row["extra"])["decoder_matches_encoder"] is True
