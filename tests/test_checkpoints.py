"""rdbench.codecs.learned.checkpoints: real checkpoint files in the forms the official MLIC++ ones take.

Seeded random MLIC++ weights (narrow: N=M=64, two slices, so files stay small) are saved as the
official training script saves them, with DDP/torch.compile prefixes and compressai<=1.2.6
entropy-bottleneck names, with and without CDF tables, then loaded back through the codec:
the bitstream must be the seeded codec's, byte for byte.
"""

from __future__ import annotations

import os
import pickle
import re

import numpy as np
import pytest
import torch

from rdbench.codecs.base import CodecConfig, CodecContext
from rdbench.codecs.learned.checkpoints import (
    load_checkpoint,
    normalise_state_dict,
    read_checkpoint,
)
from rdbench.codecs.learned.mlicpp import MLICPlusPlusCodec
from rdbench.errors import RdbenchError
from rdbench.models.mlicpp import MLICPlusPlus

NARROW = {"N": 64, "M": 64, "slices": 2}
SINGULAR = {"matrices": "matrix", "biases": "bias", "factors": "factor"}


def seeded_codec(old: bool = False) -> MLICPlusPlusCodec:
    params = {**NARROW, "random_seed": 5, "latent_gain": 4.0, "old": old}
    return MLICPlusPlusCodec(CodecConfig("mlicpp-narrow", "mlicpp", (1,), params), CodecContext())


def official_format(state: dict, prefix: str = "", old_bottleneck_names: bool = False) -> dict:
    """The dict the official train.py saves, optionally with prefixed and pre-1.2.7 keys."""
    out = {}
    for key, value in state.items():
        if old_bottleneck_names:
            key = re.sub(r"entropy_bottleneck\.(matrices|biases|factors)\.(\d+)",
                         lambda m: f"entropy_bottleneck._{SINGULAR[m.group(1)]}{m.group(2)}", key)
        out[prefix + key] = value
    return {"epoch": 100, "state_dict": out, "loss": torch.tensor(0.5),
            "optimizer": {"state": {}, "param_groups": [{"lr": 1e-4, "params": [0, 1]}]},
            "aux_optimizer": {"state": {}, "param_groups": [{"lr": 1e-3, "params": [2]}]},
            "lr_scheduler": {"milestones": {450: 1, 550: 1}, "gamma": 0.1, "last_epoch": 99}}


def test_old_bottleneck_names_are_renamed():
    state = normalise_state_dict({"state_dict": {"module._orig_mod.entropy_bottleneck._matrix0": torch.zeros(1),
                                                 "entropy_bottleneck._bias3": torch.zeros(1),
                                                 "_orig_mod.entropy_bottleneck._factor2": torch.zeros(1)}})
    assert sorted(state) == ["entropy_bottleneck.biases.3", "entropy_bottleneck.factors.2",
                             "entropy_bottleneck.matrices.0"]


@pytest.mark.slow
@pytest.mark.parametrize("old", [False, True])
@pytest.mark.parametrize("prefix,old_names,with_cdfs", [
    ("", False, True),
    ("module.", True, True),
    ("module._orig_mod.", False, False),
])
def test_seeded_weights_round_trip_through_official_format(tmp_path, kodak_crop, old, prefix, old_names, with_cdfs):
    seeded = seeded_codec(old)
    state = seeded.torch_model(1).state_dict()
    if not with_cdfs:  # as saved before update(): empty tables; and an older compressai's missing bounds
        state = {k: (v[:0] if k.endswith(("_quantized_cdf", "_offset", "_cdf_length", "scale_table")) else v)
                 for k, v in state.items() if not k.endswith(("lower_bound_scale.bound", "relative_position_index"))}
    torch.save(official_format(state, prefix, old_names), tmp_path / "mlicpp-narrow_q1.pth.tar")

    loaded = load_checkpoint(tmp_path / "mlicpp-narrow_q1.pth.tar", MLICPlusPlus, **NARROW)
    assert loaded.old is old  # chosen from the keys
    config = CodecConfig("mlicpp-narrow", "mlicpp", (1,), dict(NARROW))
    codec = MLICPlusPlusCodec(config, CodecContext(checkpoint_dir=str(tmp_path)))
    assert MLICPlusPlusCodec.unavailable_reason(config, codec.context) is None
    image = kodak_crop[:64, :96].copy()
    data = codec.encode(image, 1)
    assert data == seeded.encode(image, 1)
    assert np.array_equal(codec.decode(data, 1), seeded.decode(data, 1))
    assert codec.notes["decoder_matches_encoder"] is True


@pytest.mark.slow
def test_wrong_architecture_names_missing_unexpected_and_misshaped_keys(tmp_path):
    torch.manual_seed(0)
    state = MLICPlusPlus(N=64, M=96, slices=3).state_dict()  # different M and slice count
    torch.save({"state_dict": state}, tmp_path / "other.pth.tar")
    with pytest.raises(RdbenchError) as err:
        load_checkpoint(tmp_path / "other.pth.tar", MLICPlusPlus, **NARROW)
    message = str(err.value)
    assert "does not fit MLICPlusPlus" in message
    assert re.search(r"92 unexpected: local_context\.2\.relative_position_table", message)
    assert re.search(r"\d+ mis-shaped \(file != model\): g_a\.analysis_transform\.6\.weight \(96, 64, 3, 3\) != \(64, 64, 3, 3\)", message)
    assert "more" in message and "\n" not in message
    partial = {k: v for k, v in MLICPlusPlus(**NARROW).state_dict().items() if not k.startswith("h_s.")}
    torch.save(partial, tmp_path / "partial.pth")
    with pytest.raises(RdbenchError, match=r"\d+ missing: h_s\.increase\.0\.weight"):
        load_checkpoint(tmp_path / "partial.pth", MLICPlusPlus, **NARROW)


class _RunsCode:
    """Unpickling this would run a shell command (the attack weights_only=True prevents)."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_pickle_that_runs_code_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    torch.save({"state_dict": {"w": torch.zeros(1)}, "payload": _RunsCode(str(marker))}, tmp_path / "evil.pth.tar")
    with pytest.raises(RdbenchError, match="refused to load .*could run code"):
        read_checkpoint(tmp_path / "evil.pth.tar")
    assert not marker.exists()
    with open(tmp_path / "legacy.pkl", "wb") as fh:  # a plain pickle, not torch's zip format
        pickle.dump(_RunsCode(str(marker)), fh)
    with pytest.raises(RdbenchError, match="refused|truncated or not a PyTorch checkpoint"):
        read_checkpoint(tmp_path / "legacy.pkl")
    assert not marker.exists()


def test_truncated_and_non_checkpoint_files_get_clear_errors(tmp_path):
    torch.manual_seed(0)
    torch.save({"state_dict": MLICPlusPlus(**NARROW).state_dict()}, tmp_path / "full.pth.tar")
    data = (tmp_path / "full.pth.tar").read_bytes()
    (tmp_path / "cut.pth.tar").write_bytes(data[: len(data) // 2])
    with pytest.raises(RdbenchError, match="cut.pth.tar is truncated or not a PyTorch checkpoint"):
        read_checkpoint(tmp_path / "cut.pth.tar")
    (tmp_path / "text.pth").write_text("not a checkpoint")
    with pytest.raises(RdbenchError, match="truncated or not a PyTorch checkpoint"):
        read_checkpoint(tmp_path / "text.pth")
    torch.save({"epoch": 3}, tmp_path / "nostate.pth")
    with pytest.raises(RdbenchError, match="holds no state_dict"):
        read_checkpoint(tmp_path / "nostate.pth")
    with pytest.raises(RdbenchError, match="does not exist"):
        read_checkpoint(tmp_path / "absent.pth")
