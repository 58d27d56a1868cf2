"""MLIC and MLIC+ (rdbench.models.mlic / mlicplus) and their codec adapters.

Small seeded models (N=32, M=64, two 32-channel slices) keep this fast; MLIC++'s fixed inner
widths (channel context, parameter networks, LRP) make them bigger than their N and M suggest.
The checks are real: gradients, bit-exact round trips through compressai's rANS coder,
checkpoint loading, MLIC+ against MLIC++'s state_dict, and the quadratic FLOP growth of the
global contexts counted on the meta device.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from rdbench.codecs.base import CodecConfig, CodecContext
from rdbench.codecs.learned.mlic import MLICCodec, MLICPlusCodec
from rdbench.codecs.registry import load_adapter, resolve_codecs
from rdbench.errors import RdbenchError
from rdbench.models.mlic import MLIC, StackedCheckerboardContext
from rdbench.models.mlic_layers import (
    QuadraticGlobalInterContext,
    QuadraticGlobalIntraContext,
)
from rdbench.models.mlicplus import MLICPlus
from rdbench.models.mlicpp import MLICPlusPlus
from rdbench.models.mlicpp_layers import (
    CheckerboardAttentionContext,
    keep_anchor,
    odd_anchor_mask,
)

TINY = {"N": 32, "M": 64, "slices": 2}
ARCH = {"architecture": "ca357-reading"}
MODELS = [MLIC, MLICPlus]


def tiny(cls, seed: int = 0):
    torch.manual_seed(seed)
    return cls(**TINY)


def tiny_config(adapter: str, **params) -> CodecConfig:
    return CodecConfig(name=f"{adapter}-tiny", adapter=adapter, qualities=(1,), params={**ARCH, **TINY, **params})


def flops_per_pixel(model, side: int) -> float:
    from rdbench.run.complexity import count_flops

    flops, where = count_flops(model, torch.empty(1, 3, side, side, device="meta"))
    assert where == "meta"
    return flops / side ** 2


@pytest.mark.slow
@pytest.mark.parametrize("cls", MODELS)
def test_forward_is_trainable(cls):
    model = tiny(cls).train()
    x = torch.rand(2, 3, 64, 64)
    out = model(x)
    assert out["x_hat"].shape == x.shape
    y_lik, z_lik = out["likelihoods"]["y"], out["likelihoods"]["z"]
    assert y_lik.shape == (2, 64, 4, 4) and z_lik.shape == (2, 32, 1, 1)
    assert 0 < float(y_lik.detach().min()) and float(y_lik.detach().max()) <= 1
    bpp = -(torch.log2(y_lik).sum() + torch.log2(z_lik).sum()) / (2 * 64 * 64)
    loss = bpp + 100 * torch.mean((out["x_hat"] - x) ** 2)
    loss.backward()
    modules = [model.g_a, model.h_s, model.local_context[1], model.global_intra_context[1], model.lrp_nonanchor[1]]
    if model.global_inter_context is not None:
        modules.append(model.global_inter_context[1])
    for module in modules:
        grads = [p.grad for p in module.parameters() if p.requires_grad]
        assert grads and all(g is not None for g in grads) and any(float(g.abs().sum()) > 0 for g in grads)


@pytest.mark.slow
@pytest.mark.parametrize("cls", MODELS)
def test_compress_decompress_is_exact(cls):
    model = tiny(cls).eval()
    with torch.no_grad():
        model.g_a.analysis_transform[-1].weight.mul_(4.0)  # real symbols, not all zeros
    model.update(force=True)
    x = torch.rand(1, 3, 64, 128)
    with torch.no_grad():
        coded = model.compress(x)
        decoded = model.decompress(coded["strings"], coded["shape"])
        reference = model(x)["x_hat"].clamp(0, 1)  # eval forward: y_hat = round(y - mu) + mu
    assert len(coded["strings"][0][0]) > 0 and len(coded["strings"][1][0]) > 0
    assert torch.equal(decoded["y_hat"], coded["y_hat"]) and bool(coded["y_hat"].abs().sum() > 0)
    assert torch.equal(decoded["x_hat"], reference)


def test_mlicplus_has_mlicpp_parameters_and_names():
    """MLIC+ is MLIC++ with quadratic global contexts: same keys, shapes and (paper size) count."""
    small_plus, small_pp = tiny(MLICPlus).state_dict(), tiny(MLICPlusPlus).state_dict()
    assert list(small_plus) == list(small_pp)
    assert all(small_plus[k].shape == small_pp[k].shape for k in small_plus)
    assert sum(p.numel() for p in MLICPlus().parameters()) == 83_501_408  # MLICPlusPlus()'s
    plus = tiny(MLICPlus)
    assert isinstance(plus.local_context[0], CheckerboardAttentionContext)
    assert isinstance(plus.global_inter_context[1], QuadraticGlobalInterContext)
    assert isinstance(plus.global_intra_context[1], QuadraticGlobalIntraContext)


def test_mlic_has_no_inter_slice_context():
    model = tiny(MLIC)
    assert model.global_inter_context is None
    assert not any("inter" in key for key in model.state_dict())
    assert isinstance(model.global_intra_context[1], QuadraticGlobalIntraContext)
    # parameter networks: slice 0 reads the hyperprior (+ local context), slice 1 adds the
    # channel (4 cs) and, for non-anchors, the intra-slice (2 cs) contexts: no zero channels
    cs, m = 32, 64
    widths = [(net.fusion[0].in_channels, other.fusion[0].in_channels)
              for net, other in zip(model.entropy_parameters_anchor, model.entropy_parameters_nonanchor)]
    assert widths == [(2 * m, 2 * m + 2 * cs), (2 * m + 4 * cs, 2 * m + 8 * cs)]
    assert sum(p.numel() for p in MLIC().parameters()) == 41_885_452  # docs/mlic-fidelity.md 4.2


def test_slices_must_fit_the_heads():
    with pytest.raises(ValueError, match="even width"):
        MLIC(N=32, M=18, slices=2)
    with pytest.raises(ValueError, match="multiples of 32"):
        MLICPlus(N=32, M=32, slices=2)


@pytest.mark.slow
def test_stacked_checkerboard_reads_only_anchors():
    """The stack is unmasked, so causality rests on its input: every local context of the model is
    fed the decoded anchors with zeros at the non-anchors, and reads those anchors."""
    model = tiny(MLIC).eval()
    seen = []
    for context in model.local_context:
        assert isinstance(context, StackedCheckerboardContext)
        context.register_forward_pre_hook(lambda module, args: seen.append(args[0].detach().clone()))
    with torch.no_grad():
        model(torch.rand(1, 3, 128, 128))
    assert len(seen) == 2
    for anchors in seen:
        nonanchor = ~odd_anchor_mask(*anchors.shape[2:])
        assert bool((anchors * nonanchor == 0).all()) and bool(anchors.abs().sum() > 0)
    torch.manual_seed(0)
    stack = StackedCheckerboardContext(8)
    anchors = keep_anchor(torch.randn(1, 8, 12, 12))
    assert stack(anchors).shape == (1, 16, 12, 12)
    assert not torch.allclose(stack(anchors), stack(torch.zeros_like(anchors)))


def test_the_family_anchors_at_odd_parity():
    """MLIC and MLIC+ code the anchors at odd row + col first, as the official MLIC++ does: the first
    pass's decoded values (the local context's input) are non-zero only there."""
    rows, cols = torch.meshgrid(torch.arange(5), torch.arange(6), indexing="ij")
    assert torch.equal(odd_anchor_mask(5, 6)[0, 0], (rows + cols) % 2 == 1)
    for cls in MODELS:
        model = tiny(cls).eval()
        first = []
        model.local_context[0].register_forward_pre_hook(lambda module, args: first.append(args[0]))
        with torch.no_grad():
            model(torch.rand(1, 3, 64, 64) * 4)
        support = first[0].abs().sum(dim=(0, 1)) != 0
        assert bool(support.any()) and bool((support <= odd_anchor_mask(4, 4)[0, 0]).all()), cls.__name__


@pytest.mark.slow
def test_global_context_flops_grow_with_resolution():
    """FLOPs per pixel: MLIC/MLIC+ grow with the number of latent positions (quadratic attention)."""
    for cls in MODELS:
        model = tiny(cls).eval()
        f512, f1024, f2048 = (flops_per_pixel(model, side) for side in (512, 1024, 2048))
        assert f512 < f1024 < f2048
        # per-pixel attention cost is proportional to the number of positions: each doubling of
        # the side adds 4x the previous increment (a quadratic total)
        assert 3.5 < (f2048 - f1024) / (f1024 - f512) < 4.5, (cls.__name__, f512, f1024, f2048)


@pytest.mark.slow
def test_mlicplus_grows_more_than_mlic():
    """MLIC's only quadratic term is the intra-slice (L/2)^2 map; MLIC+ adds an L^2 inter-slice map
    per 32-channel head."""
    growth = {cls: flops_per_pixel(tiny(cls).eval(), 1024) - flops_per_pixel(tiny(cls).eval(), 512)
              for cls in MODELS}
    assert growth[MLICPlus] > 4 * growth[MLIC] > 0, growth


@pytest.mark.slow
@pytest.mark.parametrize("adapter", ["mlic", "mlicplus"])
def test_codec_round_trip_on_odd_size(adapter):
    config = tiny_config(adapter, random_seed=3, latent_gain=4.0)
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


@pytest.mark.slow
def test_codec_on_real_image(kodak_crop):
    from rdbench.run.measure import measure

    codec = MLICPlusCodec(tiny_config("mlicplus", random_seed=0), CodecContext())
    result = measure(codec, kodak_crop, 1)
    assert result.num_bytes > 12 and np.isfinite(result.psnr) and result.encode_s > 0


@pytest.mark.slow
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
    wrong = CodecConfig(name="mlic-tiny", adapter="mlic", qualities=(1,), params={**ARCH, **TINY, "N": 48})
    with pytest.raises(RdbenchError, match="not a mlic-tiny checkpoint"):
        MLICCodec(wrong, context).prepare(1)
    old = CodecConfig(name="mlic-tiny", adapter="mlic", qualities=(1,), params={**ARCH, **TINY, "old": True})
    with pytest.raises(RdbenchError, match="not a mlic-tiny checkpoint"):
        MLICCodec(old, context).prepare(1)


def test_params_name_the_architecture_and_fit_the_heads():
    """[params] architecture is required and checked (it is part of every record's key); slice
    widths are checked before any model is built."""
    for name in ("mlic", "mlic-random", "mlicplus", "mlicplus-random"):
        config = resolve_codecs(name)[0]
        assert config.params["architecture"] == "ca357-reading" and config.params["old"] is False
        assert "attn_dim" not in config.params
    assert resolve_codecs("mlic-random")[0].params.items() >= {"N": 192, "M": 192, "slices": 6}.items()
    assert resolve_codecs("mlicplus-random")[0].params.items() >= {"N": 192, "M": 320, "slices": 10}.items()
    cases = [("mlic", {"architecture": "paper-2022"}, "architecture = 'paper-2022' is not one .*'ca357-reading'"),
             ("mlic", {"architecture": None}, "must name the architecture .*'ca357-reading'"),  # deleted below
             ("mlic", {"M": 66, "slices": 2}, "multiple of 2 channels"),
             ("mlicplus", {"M": 96, "slices": 6}, "multiple of 32 channels"),
             ("mlicplus", {"M": 65, "slices": 2}, "equal slices"),
             ("mlicplus", {"old": "false"}, "old = 'false' must be true or false")]
    for adapter, params, message in cases:
        config = tiny_config(adapter, random_seed=0, **params)
        if params.get("architecture", "") is None:
            del config.params["architecture"]
        cls = load_adapter(adapter)
        reason = cls.unavailable_reason(config, CodecContext())
        assert reason is not None and "\n" not in reason
        assert re.search(message, reason), reason
        with pytest.raises(RdbenchError, match=message):
            cls(config, CodecContext()).prepare(1)


def test_availability_messages(tmp_path):
    config = resolve_codecs("mlic")[0]
    assert "mlic-random" in MLICCodec.unavailable_reason(config, CodecContext())
    assert "missing" in MLICCodec.unavailable_reason(config, CodecContext(checkpoint_dir=str(tmp_path)))
    for name in ("mlic-random", "mlicplus-random"):
        random_config = resolve_codecs(name)[0]
        assert load_adapter(random_config.adapter).unavailable_reason(random_config, CodecContext()) is None


def test_the_family_pads_alike_with_zeros_to_the_stride():
    x = torch.rand(1, 3, 50, 70)
    configs = [resolve_codecs(name)[0] for name in ("mlic-random", "mlicplus-random", "mlicpp-random")]
    padded = [load_adapter(config.adapter)(config, CodecContext()).pad(x) for config in configs]
    for p in padded:
        assert p.shape[2:] == (64, 128) and torch.equal(p[..., :50, :70], x)
        assert not p[..., 50:, :].any() and not p[..., :, 70:].any()
