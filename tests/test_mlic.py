"""MLIC and MLIC+ (rdbench.models.mlic / mlicplus) and their codec adapters.

Small seeded models (N=32, M=40, 4 slices) keep this fast; the checks are real: gradients,
bit-exact round trips through compressai's rANS coder, checkpoint loading, and the quadratic
FLOP growth of the global context counted on the meta device.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rdbench.codecs.base import CodecConfig, CodecContext
from rdbench.codecs.learned.mlic import MLICCodec, MLICPlusCodec
from rdbench.codecs.registry import load_adapter, resolve_codecs
from rdbench.errors import RdbenchError
from rdbench.models.mlic import (
    MLIC,
    CheckerboardMaskedConv2d,
    StackedCheckerboardContext,
)
from rdbench.models.mlic_layers import even_anchor_mask, pad_to_stride
from rdbench.models.mlicplus import CheckerboardAttention, MLICPlus
from rdbench.run.measure import measure

TINY = {"N": 32, "M": 40, "slices": 4, "attn_dim": 16}
MODELS = [MLIC, MLICPlus]


def tiny(cls, seed: int = 0):
    torch.manual_seed(seed)
    return cls(**TINY)


def tiny_config(adapter: str, **params) -> CodecConfig:
    return CodecConfig(name=f"{adapter}-tiny", adapter=adapter, qualities=(1,), params={**TINY, **params})


@pytest.mark.parametrize("cls", MODELS)
def test_forward_is_trainable(cls):
    model = tiny(cls).train()
    x = torch.rand(2, 3, 64, 64)
    out = model(x)
    assert out["x_hat"].shape == x.shape
    y_lik, z_lik = out["likelihoods"]["y"], out["likelihoods"]["z"]
    assert y_lik.shape == (2, 40, 4, 4) and z_lik.shape == (2, 32, 1, 1)
    assert 0 < float(y_lik.detach().min()) and float(y_lik.detach().max()) <= 1
    bpp = -(torch.log2(y_lik).sum() + torch.log2(z_lik).sum()) / (2 * 64 * 64)
    loss = bpp + 100 * torch.mean((out["x_hat"] - x) ** 2)
    loss.backward()
    for module in (model.g_a, model.h_a, model.local_context[1], model.intra_context[0], model.inter_context[0]):
        grads = [p.grad for p in module.parameters() if p.requires_grad]
        assert grads and all(g is not None for g in grads) and any(float(g.abs().sum()) > 0 for g in grads)


@pytest.mark.parametrize("cls", MODELS)
def test_compress_decompress_is_exact(cls):
    model = tiny(cls).eval()
    model.update(force=True)
    x = torch.rand(1, 3, 64, 128)
    with torch.no_grad():
        coded = model.compress(x)
        decoded = model.decompress(coded["strings"], coded["shape"])["x_hat"]
        reference = model(x)["x_hat"].clamp(0, 1)  # eval forward: y_hat = round(y - mu) + mu
    assert len(coded["strings"][0][0]) > 0 and len(coded["strings"][1][0]) > 0
    assert torch.equal(decoded, reference)


def test_checkerboard_convolution_reads_only_anchors():
    """At non-anchor positions (the only ones that use it) the masked convolution reads only anchors."""
    torch.manual_seed(0)
    context = StackedCheckerboardContext(8, 16)
    mask = even_anchor_mask(12, 12)
    anchors = torch.randn(1, 8, 12, 12) * mask
    noise = torch.randn(1, 8, 12, 12) * (1 - mask)
    masked = CheckerboardMaskedConv2d(8, 4, 5)
    nonanchor = 1 - mask
    assert torch.allclose(masked(anchors) * nonanchor, masked(anchors + noise) * nonanchor)
    assert not torch.allclose(context(anchors), context(torch.zeros_like(anchors)))


def test_anchor_masks_name_their_checkerboard_parity():
    """MLIC/MLIC+ anchor at even row + col, MLIC++ (the official code) at odd row + col."""
    from rdbench.models.mlicpp_layers import odd_anchor_mask

    rows, cols = torch.meshgrid(torch.arange(5), torch.arange(6), indexing="ij")
    assert torch.equal(even_anchor_mask(5, 6)[0, 0], ((rows + cols) % 2 == 0).float())
    assert torch.equal(odd_anchor_mask(5, 6)[0, 0], (rows + cols) % 2 == 1)


def test_checkerboard_attention_is_local_and_handles_padding():
    torch.manual_seed(0)
    attention = CheckerboardAttention(8, 16, window=4)
    mask = even_anchor_mask(10, 14)
    anchors = torch.randn(1, 8, 10, 14) * mask
    out = attention(anchors)
    assert out.shape == (1, 16, 10, 14) and torch.isfinite(out).all()
    changed = anchors.clone()
    changed[..., 9, 13] += 5.0  # an anchor in the last window; the first window must not notice
    assert torch.allclose(attention(changed)[..., :4, :4], out[..., :4, :4])


def test_global_context_flops_grow_with_resolution():
    """FLOPs per pixel: MLIC/MLIC+ grow with the number of latent positions (quadratic attention)."""
    from rdbench.run.complexity import count_flops

    def flops_per_pixel(model, side):
        flops, where = count_flops(model, torch.empty(1, 3, side, side, device="meta"))
        assert where == "meta"
        return flops / side ** 2

    for cls in MODELS:
        model = tiny(cls).eval()
        f512, f1024, f2048 = (flops_per_pixel(model, side) for side in (512, 1024, 2048))
        assert f512 < f1024 < f2048
        # per-pixel attention cost is proportional to the number of positions: each doubling of
        # the side adds 4x the previous increment (a quadratic total)
        assert 3.5 < (f2048 - f1024) / (f1024 - f512) < 4.5, (cls.__name__, f512, f1024, f2048)


@pytest.mark.parametrize("adapter", ["mlic", "mlicplus"])
def test_codec_round_trip_on_odd_size(adapter):
    config = tiny_config(adapter, random_seed=3)
    codec = load_adapter(adapter)(config, CodecContext())
    rng = np.random.default_rng(0)
    image = (rng.random((50, 75, 3)) * 255).astype(np.uint8)
    data = codec.encode(image, 1)
    assert data == codec.encode(image, 1)  # deterministic
    decoded = codec.decode(data, 1)
    assert decoded.shape == image.shape and decoded.dtype == np.uint8
    assert codec.notes["decoder_matches_encoder"] is True  # the decoder rebuilt the encoder's latent
    model = codec.torch_model(1)
    with torch.no_grad():
        reference = model(codec.forward_input(image))["x_hat"].clamp(0, 1)
    expected = (reference[0, :, :50, :75] * 255).round().byte().permute(1, 2, 0).numpy()
    assert np.array_equal(decoded, expected)
    with pytest.raises(RdbenchError, match="truncated|shorter"):
        codec.decode(data[:14], 1)


def test_codec_on_real_image(kodak_crop):
    codec = MLICPlusCodec(tiny_config("mlicplus", random_seed=0), CodecContext())
    result = measure(codec, kodak_crop, 1)
    assert result.num_bytes > 12 and np.isfinite(result.psnr) and result.encode_s > 0


def test_checkpoint_loading_gives_the_same_codec(tmp_path):
    torch.manual_seed(7)
    torch.save({"state_dict": MLIC(**TINY).state_dict()}, tmp_path / "mlic-tiny_q1.pth.tar")
    random_codec = MLICCodec(tiny_config("mlic", random_seed=7), CodecContext())
    config = tiny_config("mlic")
    context = CodecContext(checkpoint_dir=str(tmp_path))
    assert MLICCodec.unavailable_reason(config, context) is None
    loaded = MLICCodec(config, context)
    image = (np.random.default_rng(1).random((64, 64, 3)) * 255).astype(np.uint8)
    assert loaded.encode(image, 1) == random_codec.encode(image, 1)
    # a checkpoint of another architecture is a one-line error naming the file
    wrong = CodecConfig(name="mlic-tiny", adapter="mlic", qualities=(1,), params={**TINY, "N": 48})
    with pytest.raises(RdbenchError, match="not a mlic-tiny checkpoint"):
        MLICCodec(wrong, context).prepare(1)


def test_availability_messages(tmp_path):
    config = resolve_codecs("mlic")[0]
    assert "mlic-random" in MLICCodec.unavailable_reason(config, CodecContext())
    assert "missing" in MLICCodec.unavailable_reason(config, CodecContext(checkpoint_dir=str(tmp_path)))
    for name in ("mlic-random", "mlicplus-random"):
        random_config = resolve_codecs(name)[0]
        assert load_adapter(random_config.adapter).unavailable_reason(random_config, CodecContext()) is None


def test_padding_replicates_to_stride():
    x = torch.rand(1, 3, 50, 70)
    padded, pad = pad_to_stride(x)
    assert padded.shape[2:] == (64, 128) and pad == (0, 58, 0, 14)
    assert torch.equal(padded[..., :50, :70], x)
