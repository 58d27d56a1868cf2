"""rdbench.codecs.learned.base: the one base class of MLIC, MLIC+, MLIC++ and the CompressAI zoo.

What the adapters now share is checked once across all of them: they are LearnedCodecs (so the
complexity study measures them), a checkpoint saved with DDP/torch.compile prefixes loads for
the MLIC paper models exactly as for MLIC++ (mlic.py used to call torch.load and
load_state_dict itself, and refused such files), unreadable files get one wording, seeded
configurations never read a file, and importing the adapters needs neither torch nor compressai.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from rdbench.codecs.base import CodecConfig, CodecContext
from rdbench.codecs.learned.base import LearnedCodec
from rdbench.codecs.learned.compressai_zoo import CompressAIZooCodec
from rdbench.codecs.learned.mlic import MLICCodec, MLICPlusCodec
from rdbench.codecs.learned.mlicpp import MLICPlusPlusCodec
from rdbench.codecs.registry import BUILTIN_ADAPTERS, load_adapter, resolve_codecs
from rdbench.errors import RdbenchError

TINY = {"architecture": "ca357-reading", "N": 32, "M": 64, "slices": 2}  # MLIC, MLIC+
NARROW = {"N": 64, "M": 64, "slices": 2}  # MLIC++
FAMILY = [(MLICCodec, "mlic", TINY), (MLICPlusCodec, "mlicplus", TINY),
          (MLICPlusPlusCodec, "mlicpp", {**NARROW, "latent_gain": 4.0})]


def image(height: int = 64, width: int = 80, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.random((height, width, 3)) * 255).astype(np.uint8)


def config(adapter: str, params: dict, name: str | None = None) -> CodecConfig:
    return CodecConfig(name=name or f"{adapter}-test", adapter=adapter, qualities=(1,), params=params)


def test_every_learned_adapter_is_a_learned_codec():
    learned = {name for name, target in BUILTIN_ADAPTERS.items() if target.startswith("rdbench.codecs.learned.")}
    assert learned == {"mlic", "mlicplus", "mlicpp", "compressai"}
    for name in BUILTIN_ADAPTERS:
        assert issubclass(load_adapter(name), LearnedCodec) is (name in learned), name
    # the complexity hooks are declared by the base, not found by hasattr
    assert {"torch_model", "forward_input"} <= set(vars(LearnedCodec))
    for cls in (MLICCodec, MLICPlusCodec, MLICPlusPlusCodec, CompressAIZooCodec):
        assert cls.forward_input is LearnedCodec.forward_input and cls.torch_model is LearnedCodec.torch_model


@pytest.mark.slow
@pytest.mark.parametrize("prefix", ["module.", "module._orig_mod."])
@pytest.mark.parametrize("cls,adapter,params", FAMILY, ids=[a for _, a, _ in FAMILY])
def test_prefixed_checkpoint_loads_for_every_mlic_model(tmp_path, cls, adapter, params, prefix):
    """DDP (``module.``) and torch.compile (``_orig_mod.``) keys, in the official training dict."""
    seeded = cls(config(adapter, {**params, "random_seed": 4}), CodecContext())
    state = {prefix + k: v for k, v in seeded.torch_model(1).state_dict().items()}
    torch.save({"epoch": 9, "state_dict": state, "loss": torch.tensor(0.1)}, tmp_path / f"{adapter}-test_q1.pth.tar")
    trained = config(adapter, {k: v for k, v in params.items() if k != "latent_gain"})
    context = CodecContext(checkpoint_dir=str(tmp_path))
    assert cls.unavailable_reason(trained, context) is None
    loaded = cls(trained, context)
    pixels = image()
    data = loaded.encode(pixels, 1)
    assert data == seeded.encode(pixels, 1)
    assert np.array_equal(loaded.decode(data, 1), seeded.decode(data, 1))
    assert loaded.notes["decoder_matches_encoder"] is True


@pytest.mark.parametrize("adapter,params", [("mlic", TINY), ("mlicpp", NARROW),
                                            ("compressai", {"arch": "bmshj2018-factorized"})])
def test_unreadable_checkpoints_get_one_wording(tmp_path, adapter, params):
    (tmp_path / "garbage.pth").write_bytes(b"not a checkpoint")
    context = CodecContext(checkpoint=str(tmp_path / "garbage.pth"))
    codec = load_adapter(adapter)(config(adapter, params), context)
    with pytest.raises(RdbenchError, match=rf"cannot read checkpoint for {adapter}-test quality 1: "
                                           r".*garbage\.pth is truncated or not a PyTorch checkpoint"):
        codec.prepare(1)


class _RunsCode:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').write('pwned')",))


def test_checkpoint_that_runs_code_is_refused_by_the_mlic_adapter(tmp_path):
    marker = tmp_path / "pwned"
    torch.save({"state_dict": {"w": torch.zeros(1)}, "payload": _RunsCode(str(marker))}, tmp_path / "evil.pth.tar")
    codec = MLICCodec(config("mlic", TINY), CodecContext(checkpoint=str(tmp_path / "evil.pth.tar")))
    with pytest.raises(RdbenchError, match="refused to load .*could run code"):
        codec.prepare(1)
    assert not marker.exists()


@pytest.mark.slow
def test_weight_sources_in_order(tmp_path):
    """A seeded configuration reads no file; --checkpoint comes before --checkpoint-dir."""
    params = {**TINY, "random_seed": 2}
    seeded = MLICCodec(config("mlic", params), CodecContext())
    pixels = image(48, 48)
    (tmp_path / "garbage.pth").write_bytes(b"not a checkpoint")
    ignored = CodecContext(checkpoint=str(tmp_path / "garbage.pth"), checkpoint_dir=str(tmp_path))
    assert MLICCodec.unavailable_reason(config("mlic", params), ignored) is None
    assert MLICCodec(config("mlic", params), ignored).encode(pixels, 1) == seeded.encode(pixels, 1)

    torch.save(seeded.torch_model(1).state_dict(), tmp_path / "chosen.pth")
    (tmp_path / "mlic-test_q1.pth.tar").write_bytes(b"not a checkpoint either")
    both = CodecContext(checkpoint=str(tmp_path / "chosen.pth"), checkpoint_dir=str(tmp_path))
    assert MLICCodec.checkpoint_path(config("mlic", TINY), both, 1) == tmp_path / "chosen.pth"
    assert MLICCodec(config("mlic", TINY), both).encode(pixels, 1) == seeded.encode(pixels, 1)
    pattern = {**TINY, "checkpoint_pattern": "weights-{quality}.pt"}
    assert MLICCodec.checkpoint_path(config("mlic", pattern), CodecContext(checkpoint_dir="d"), 3).as_posix() \
        == "d/weights-3.pt"


def test_tensors_pixels_and_model_cache():
    codec = MLICCodec(config("mlic", {**TINY, "random_seed": 0}), CodecContext())
    pixels = image(37, 53)
    x = codec.to_tensor(pixels)
    assert x.shape == (1, 3, 37, 53) and x.dtype == torch.float32 and 0 <= float(x.min()) <= float(x.max()) <= 1
    assert np.array_equal(codec.to_image(x, 37, 53), pixels)
    assert np.array_equal(codec.to_image(torch.nn.functional.pad(x, (5, 0, 2, 0)), 37, 53, top=2, left=5), pixels)
    assert codec.torch_model(1) is codec.torch_model(1.0)  # one model per quality point
    codec.synchronize()  # a no-op on the CPU
    with pytest.raises(RdbenchError, match="too large for the mlic-test header"):
        codec.image_size(np.zeros((1, 70000, 3), np.uint8))
    codec.close()
    assert codec._models == {}


def test_adapters_import_without_torch_and_report_missing_compressai(monkeypatch):
    code = ("import sys; import rdbench.codecs.learned.mlicpp, rdbench.codecs.learned.compressai_zoo; "
            "assert not {'torch', 'compressai'} & set(sys.modules), sorted({'torch', 'compressai'} & set(sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr
    # compressai absent: each adapter says so before anything would import it
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "compressai" else find_spec(name, *a))
    monkeypatch.setitem(sys.modules, "compressai", None)  # any import of it now fails
    for name in ("mlic", "mlicplus-random", "mlicpp", "bmshj2018-hyperprior-mse", "mbt2018-mean-random"):
        configuration = resolve_codecs(name)[0]
        reason = load_adapter(configuration.adapter).unavailable_reason(configuration, CodecContext())
        assert reason == "needs torch and compressai (compressai is not installed: pip install compressai)", name
