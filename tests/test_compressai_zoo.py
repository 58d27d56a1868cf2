"""CompressAI zoo baselines (adapter ``compressai``): configurations, real bitstreams, weights.

Round trips use seeded random weights of the small architectures (bmshj2018, mbt2018-mean at
quality 1); the pretrained weights cannot be downloaded here, so the offline path is tested
with TORCH_HOME pointing at an empty folder.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sqlite3
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import rdbench

from rdbench.codecs.base import CodecConfig, CodecContext
from rdbench.codecs.learned.compressai_zoo import (
    ARCHS,
    METRICS,
    CompressAIZooCodec,
    apply_latent_gain,
    zoo_qualities,
)
from rdbench.codecs.registry import (
    SHIPPED_CODECS_DIR,
    load_adapter,
    load_configs,
    resolve_codecs,
)
from rdbench.errors import CodecUnavailable, RdbenchError
from rdbench.run.measure import measure

SMALL_ARCHS = ["bmshj2018-factorized", "bmshj2018-hyperprior", "mbt2018-mean"]


GAIN = 20.0  # freshly initialised latents all round to zero; scaled, real symbols get coded


def random_config(arch: str, seed: int = 0, **params) -> CodecConfig:
    return CodecConfig(name=f"{arch}-test", adapter="compressai", qualities=(1,),
                       params={"arch": arch, "metric": "mse", "random_seed": seed, "latent_gain": GAIN, **params})


def noise_image(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A smooth gradient plus noise: enough structure for non-trivial latents."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    base = np.stack([xx * 255 / width, yy * 255 / height, (xx + yy) * 127 / (width + height)], axis=-1)
    return np.clip(base + rng.normal(0, 20, base.shape), 0, 255).astype(np.uint8)


def reference_reconstruction(codec: CompressAIZooCodec, image: np.ndarray) -> np.ndarray:
    """What the encoder reconstructs: the eval forward pass (same quantisation as compress)."""
    from compressai.ops import compute_padding

    height, width = image.shape[:2]
    with torch.inference_mode():
        x_hat = codec.torch_model(1)(codec.forward_input(image))["x_hat"].clamp(0, 1)
    pad, _ = compute_padding(height, width, min_div=64)
    crop = x_hat[0, :, pad[2]:pad[2] + height, pad[0]:pad[0] + width]
    return crop.mul(255).round().byte().permute(1, 2, 0).numpy()


def check_round_trip(codec: CompressAIZooCodec, image: np.ndarray) -> bytes:
    data = codec.encode(image, 1)
    assert data == codec.encode(image, 1)  # deterministic
    decoded = codec.decode(data, 1)
    assert decoded.shape == image.shape and decoded.dtype == np.uint8
    assert np.array_equal(decoded, reference_reconstruction(codec, image))
    return data


def test_every_toml_loads_and_resolves():
    configs = {name: c for name, c in load_configs().items() if c.adapter == "compressai"}
    expected = {f"{arch}-{metric}" for arch in ARCHS for metric in METRICS}
    assert expected | {"bmshj2018-hyperprior-random", "mbt2018-mean-random"} <= set(configs)
    for name in expected:
        config = resolve_codecs(name)[0]
        assert Path(config.source).parent == SHIPPED_CODECS_DIR and load_adapter(config.adapter) is CompressAIZooCodec
        arch, metric = config.params["arch"], config.params["metric"]
        assert name == f"{arch}-{metric}"
        assert list(config.qualities) == list(zoo_qualities(arch, metric))
        assert config.qualities == ((1, 2, 3, 4, 5, 6) if arch.startswith("cheng2020") else tuple(range(1, 9)))
        assert config.params["checkpoint_pattern"].format(quality=3) == f"{name}_q3.pth.tar"
    for name in ("bmshj2018-hyperprior-random", "mbt2018-mean-random"):
        assert CompressAIZooCodec.unavailable_reason(configs[name], CodecContext()) is None


def test_bad_parameters_are_one_line_reasons():
    bad_arch = CodecConfig(name="x", adapter="compressai", qualities=(1,),
                           params={"arch": "mbt2019", "random_seed": 0})
    assert "is not one of" in CompressAIZooCodec.unavailable_reason(bad_arch, CodecContext())
    bad_quality = CodecConfig(name="x", adapter="compressai", qualities=(7,),
                              params={"arch": "cheng2020-anchor", "metric": "ms-ssim", "random_seed": 0})
    assert "has 1-6" in CompressAIZooCodec.unavailable_reason(bad_quality, CodecContext())


@pytest.mark.slow
@pytest.mark.parametrize("arch", SMALL_ARCHS)
@pytest.mark.parametrize("size", [(75, 133), (150, 97)], ids=["odd", "portrait"])
def test_round_trip_on_generated_image(arch, size):
    codec = CompressAIZooCodec(random_config(arch), CodecContext())
    image = noise_image(*size)
    data = check_round_trip(codec, image)
    strings = 1 if arch == "bmshj2018-factorized" else 2
    assert len(data) > 9 + 4 * strings
    result = measure(codec, image, 1)
    assert result.num_bytes == len(data) and result.bpp == pytest.approx(8 * len(data) / (size[0] * size[1]))


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["bmshj2018-hyperprior", "mbt2018-mean"])
def test_round_trip_on_kodak_crops(kodak_dir, arch):
    from rdbench.data.images import load_image

    codec = CompressAIZooCodec(random_config(arch, seed=1), CodecContext())
    landscape = load_image(kodak_dir / "kodim23.png")[201:300, 301:446]  # 99 x 145
    portrait = load_image(kodak_dir / "kodim04.png")[100:231, 50:139]  # kodim04 is portrait; 131 x 89
    for image in (landscape, portrait):
        data = check_round_trip(codec, np.ascontiguousarray(image))
        result = measure(codec, image, 1)
        assert result.bpp == 8 * len(data) / (image.shape[0] * image.shape[1])
        assert np.isfinite(result.psnr)


def test_random_latents_are_not_all_zero():
    codec = CompressAIZooCodec(random_config("bmshj2018-hyperprior"), CodecContext())
    with torch.inference_mode():
        y = codec.torch_model(1).g_a(codec.forward_input(noise_image(64, 64)))
    assert 0.2 < float((y.round() != 0).float().mean()) < 0.9


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["mbt2018", "cheng2020-anchor"])
def test_autoregressive_round_trip_is_exact(arch, monkeypatch):
    """Autoregressive models code position by position, so the encoder's reconstruction is
    g_s of the latents it built while coding (the parallel forward pass differs by float
    rounding); the decoder must rebuild exactly those."""
    codec = CompressAIZooCodec(random_config(arch), CodecContext())
    image = noise_image(64, 70)
    model = codec.torch_model(1)
    coded = []
    compress_ar = model._compress_ar
    monkeypatch.setattr(model, "_compress_ar", lambda y_hat, *args: coded.append(y_hat) or compress_ar(y_hat, *args))
    data = codec.encode(image, 1)
    decoded = codec.decode(data, 1)
    with torch.inference_mode():
        x_hat = model.g_s(coded[0][..., 2:-2, 2:-2]).clamp(0, 1)  # latents were padded by 2 for the 5x5 context
    left = (128 - 70) // 2  # the image is centred in 64 x 128
    expected = x_hat[0, :, :, left:left + 70].mul(255).round().byte().permute(1, 2, 0).numpy()
    assert np.array_equal(decoded, expected)
    assert np.array_equal(CompressAIZooCodec(random_config(arch), CodecContext()).decode(data, 1), decoded)


def test_corrupt_bitstreams_are_one_line_errors():
    codec = CompressAIZooCodec(random_config("bmshj2018-hyperprior"), CodecContext())
    data = codec.encode(noise_image(64, 64), 1)
    for bad in (data[:5], data[:-1], data + b"\0"):
        with pytest.raises(RdbenchError, match="shorter than its header|truncated or has trailing"):
            codec.decode(bad, 1)
    factorized = CompressAIZooCodec(random_config("bmshj2018-factorized"), CodecContext())
    with pytest.raises(RdbenchError, match="holds 2 strings"):
        factorized.decode(data, 1)


@pytest.mark.slow
@pytest.mark.parametrize("updated", [False, True], ids=["without-cdf-tables", "with-cdf-tables"])
def test_local_checkpoint_gives_the_same_bitstream(tmp_path, updated):
    from compressai.zoo.image import cfgs, model_architectures

    arch = "bmshj2018-hyperprior"
    torch.manual_seed(5)
    model = apply_latent_gain(model_architectures[arch](*cfgs[arch][1]), GAIN)
    if updated:
        model.update(force=True)
    # compressai's training script wraps the state_dict; DataParallel adds "module."
    state = {f"module.{k}": v for k, v in model.state_dict().items()}
    torch.save({"epoch": 3, "state_dict": state}, tmp_path / f"{arch}-mse_q1.pth.tar")
    config = CodecConfig(name=f"{arch}-mse", adapter="compressai", qualities=(1,),
                         params={"arch": arch, "metric": "mse",
                                 "checkpoint_pattern": f"{arch}-mse_q{{quality}}.pth.tar"})
    context = CodecContext(checkpoint_dir=str(tmp_path))
    assert CompressAIZooCodec.unavailable_reason(config, context) is None
    image = noise_image(80, 112)
    loaded = CompressAIZooCodec(config, context).encode(image, 1)
    seeded = CompressAIZooCodec(random_config(arch, seed=5), CodecContext()).encode(image, 1)
    assert loaded == seeded
    # --checkpoint FILE, and a checkpoint of another architecture as a one-line error
    single = CodecContext(checkpoint=str(tmp_path / f"{arch}-mse_q1.pth.tar"))
    assert CompressAIZooCodec(config, single).encode(image, 1) == seeded
    other = CodecConfig(name="c", adapter="compressai", qualities=(1,), params={"arch": "cheng2020-anchor"})
    with pytest.raises(RdbenchError, match="not a cheng2020-anchor checkpoint"):
        CompressAIZooCodec(other, single).prepare(1)
    (tmp_path / "garbage.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(RdbenchError, match="cannot read checkpoint"):
        CompressAIZooCodec(config, CodecContext(checkpoint=str(tmp_path / "garbage.pth"))).prepare(1)


@pytest.mark.slow
def test_checkpoint_dir_accepts_the_zoo_file_names(tmp_path):
    from compressai.zoo.image import cfgs, model_architectures

    from rdbench.codecs.learned.compressai_zoo import cached_weights

    arch = "bmshj2018-factorized"
    torch.manual_seed(2)
    model = apply_latent_gain(model_architectures[arch](*cfgs[arch][2]), GAIN)
    torch.save(model.state_dict(), tmp_path / cached_weights(arch, "ms-ssim", 2).name)
    config = resolve_codecs(f"{arch}-ms-ssim")[0]
    context = CodecContext(checkpoint_dir=str(tmp_path))
    # a folder holding some of the qualities is usable: a run without --quality codes those it holds
    assert CompressAIZooCodec.unavailable_reason(config, context) is None
    assert CompressAIZooCodec.checkpoint_qualities(config, context) == (2,)
    only_1 = dataclasses.replace(config, qualities=(1,))
    assert "quality 1 is missing" in CompressAIZooCodec.unavailable_reason(only_1, context)
    codec = CompressAIZooCodec(config, context)
    image = noise_image(64, 64)
    seeded = CodecConfig(name="f", adapter="compressai", qualities=(2,),
                         params={"arch": arch, "random_seed": 2, "latent_gain": GAIN})
    assert codec.encode(image, 2) == CompressAIZooCodec(seeded, CodecContext()).encode(image, 2)


def test_offline_pretrained_request_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("RDBENCH_OFFLINE", "1")
    config = resolve_codecs("mbt2018-mean-ms-ssim")[0]
    reason = CompressAIZooCodec.unavailable_reason(config, CodecContext())
    cache = tmp_path / "torch" / "hub" / "checkpoints"
    assert reason.startswith("weights for mbt2018-mean (ms-ssim) quality 1-8 are not in the torch hub cache "
                             f"({cache})")
    assert "cannot be downloaded offline" in reason and "--checkpoint-dir" in reason and "\n" not in reason
    assert "mbt2018_mean(q, metric='ms-ssim', pretrained=True)" in reason
    with pytest.raises(CodecUnavailable, match=r"quality 3 are not in the torch hub cache"):
        CompressAIZooCodec(config, CodecContext()).prepare(3)
    # the command line skips it with that line and exits 1 (nothing could run)
    from PIL import Image

    (tmp_path / "images").mkdir()
    Image.fromarray(noise_image(64, 64)).save(tmp_path / "images" / "a.png")
    result = rdbench("run", "--codec", "mbt2018-mean-ms-ssim", "--dataset", str(tmp_path / "images"),
                     "--db", str(tmp_path / "x.sqlite"),
                     env={**os.environ, "OMP_NUM_THREADS": "1", "TORCH_HOME": str(tmp_path / "torch"),
                          "RDBENCH_OFFLINE": "1"})
    assert result.returncode == 1 and "skipping mbt2018-mean-ms-ssim: weights for mbt2018-mean" in result.stderr


@pytest.mark.slow
def test_pretrained_weights_are_read_from_the_torch_hub_cache(tmp_path, monkeypatch):
    """A file in the hub cache under the zoo's name is loaded by compressai's zoo loader, no network."""
    from compressai.zoo.image import cfgs, model_architectures

    from rdbench.codecs.learned.compressai_zoo import cached_weights

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("RDBENCH_OFFLINE", "1")
    arch = "bmshj2018-hyperprior"
    cached = cached_weights(arch, "mse", 2)
    assert cached.parent == tmp_path / "torch" / "hub" / "checkpoints"
    cached.parent.mkdir(parents=True)
    torch.manual_seed(9)
    torch.save(apply_latent_gain(model_architectures[arch](*cfgs[arch][2]), GAIN).state_dict(), cached)
    config = resolve_codecs(f"{arch}-mse")[0]
    # quality 2 is cached, so the codec is available; the other qualities fail one by one
    assert CompressAIZooCodec.unavailable_reason(config, CodecContext()) is None
    codec = CompressAIZooCodec(config, CodecContext())
    image = noise_image(70, 90)
    seeded = CodecConfig(name="s", adapter="compressai", qualities=(2,),
                         params={"arch": arch, "random_seed": 9, "latent_gain": GAIN})
    assert codec.encode(image, 2) == CompressAIZooCodec(seeded, CodecContext()).encode(image, 2)
    with pytest.raises(CodecUnavailable, match="quality 5 are not in the torch hub cache"):
        codec.prepare(5)


@pytest.mark.slow
def test_rdbench_run_end_to_end(tmp_path):
    from PIL import Image

    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    crops = tmp_path / "crops"
    crops.mkdir()
    Image.fromarray(noise_image(96, 130, seed=1)).save(crops / "a.png")
    Image.fromarray(noise_image(120, 72, seed=2)).save(crops / "b.png")
    db = tmp_path / "results.sqlite"
    result = rdbench("run", "--codec", "bmshj2018-hyperprior-random", "--dataset", crops, "--db", db, env=env)
    assert result.returncode == 0, result.stderr
    with sqlite3.connect(db) as conn:
        conn.row_factory = sqlite3.Row
        rows = conn.execute("SELECT * FROM records ORDER BY image").fetchall()
    assert [r["image"] for r in rows] == ["a.png", "b.png"] and all(r["status"] == "ok" for r in rows)
    for row in rows:
        assert row["codec_library"] == "compressai" and row["codec_version"]
        assert row["bpp"] == pytest.approx(8 * row["num_bytes"] / (row["height"] * row["width"]))
    again = rdbench("run", "--codec", "bmshj2018-hyperprior-random", "--dataset", crops, "--db", db, "--quiet",
                    env=env)
    assert again.returncode == 0 and "nothing to do" in again.stderr
    listed = rdbench("codecs", "--format", "json", env=env)
    rows = {r["codec"]: r for r in json.loads(listed.stdout)}
    assert rows["bmshj2018-hyperprior-random"]["available"] == "yes"
