"""The VTM adapter with real VTM binaries, and what can be checked without them.

The real tests run when ``RDBENCH_VTM_DIR`` names a VTM source tree built with CMake (see the
"VTM-17.0 anchor" section of docs/external-codecs.md; e.g. ``RDBENCH_VTM_DIR=/tmp/vtm-src`` after building there),
and skip with that reason otherwise. Crops are small (64x64, 60x44): VTM takes ~1 s on them.
The SPS reader and the missing-VTM message are tested always, the former on a real 127-byte
VTM-17.0 bitstream (a 60x44 crop of kodim23 at QP 37, conformance window 4 right / 4 bottom).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import tempfile
from pathlib import Path

import numpy as np
import pytest

from rdbench.codecs.base import CodecContext
from rdbench.codecs.external.process import ToolError
from rdbench.codecs.external.vvc_sps import sps_size
from rdbench.codecs.registry import load_adapter, resolve_codecs
from rdbench.data.images import load_image
from rdbench.errors import CodecUnavailable
from rdbench.run.metrics import bpp, psnr

VTM17_60x44_QP37 = bytes.fromhex(
    "000000010079001d4200800040410639653501f446f21488852646fd7855c7f07cc40800000001008100004106229080167b"
    "21459459458800000001008920a446318c6328c6314c63110000010041c40243e0414e7057f6a55ef473171fe8ab280f4030"
    "1285890c5e6cf742379b8aecb9585d94e7bb336fd29f905b520be0"
)


def test_sps_size_of_a_real_vtm_bitstream() -> None:
    size = sps_size(VTM17_60x44_QP37)
    assert (size.width, size.height, size.chroma_format_idc) == (60, 44, 3)
    with pytest.raises(ValueError, match="no VVC sequence parameter set"):
        sps_size(VTM17_60x44_QP37[40:])


def test_missing_vtm_points_to_the_readme(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.delenv("RDBENCH_VTM_DIR", raising=False)
    monkeypatch.setenv("PATH", "/nonexistent")
    (config,) = resolve_codecs("vtm17")
    adapter = load_adapter(config.adapter)
    reason = adapter.unavailable_reason(config, CodecContext(tool_dirs=(("vtm", str(tmp_path)),)))
    assert reason and "EncoderAppStatic" in reason and "VTM-17.0 anchor" in reason and str(tmp_path) in reason
    with pytest.raises(CodecUnavailable, match="--vtm-dir"):
        adapter(config, CodecContext())


@pytest.fixture(scope="module")
def vtm_dir() -> str:
    folder = os.environ.get("RDBENCH_VTM_DIR")
    if not folder:
        pytest.skip("RDBENCH_VTM_DIR is not set: build VTM-17.0 (docs/external-codecs.md, 'VTM-17.0 anchor') and point it there")
    return folder


def _vtm(vtm_dir: str, **params):
    (config,) = resolve_codecs("vtm17")
    if params:
        config = dataclasses.replace(config, params={**config.params, **params})
    context = CodecContext(tool_dirs=(("vtm", vtm_dir),))
    reason = load_adapter(config.adapter).unavailable_reason(config, context)
    if reason:
        pytest.fail(f"RDBENCH_VTM_DIR is set but VTM is unusable: {reason}")
    return load_adapter(config.adapter)(config, context)


@pytest.fixture(scope="module")
def crop(kodak_dir: Path) -> np.ndarray:
    return load_image(kodak_dir / "kodim23.png")[200:264, 300:364].copy()


def test_encode_decode_records_provenance(vtm_dir: str, crop: np.ndarray, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    codec = _vtm(vtm_dir)
    data = codec.encode(crop, 37)
    out = codec.decode(data, 37)
    assert out.shape == crop.shape and out.dtype == np.uint8
    rate, quality = bpp(len(data), 64, 64), psnr(crop, out)
    assert 0.05 < rate < 2 and 28 < quality < 45, (rate, quality)
    assert np.array_equal(codec.decode(data, 37), out)  # the bitstream decodes again to the same pixels
    library, version = codec.library()
    assert library == "VTM" and version.startswith("17.0")
    cfg = Path(vtm_dir) / "cfg" / "encoder_intra_vtm.cfg"
    assert codec.notes["vtm_cfg_sha256"] == {str(cfg.resolve()): hashlib.sha256(cfg.read_bytes()).hexdigest()}
    encode_cmd, decode_cmd = codec.notes["commands"][:2]
    assert "--QP=37" in encode_cmd and "--ConformanceWindowMode=1" in encode_cmd and "--InputChromaFormat=444" in encode_cmd
    assert "-d 8" in decode_cmd
    assert list(tmp_path.iterdir()) == []
    # A higher QP costs fewer bits and quality.
    data47 = codec.encode(crop, 47)
    assert len(data47) < len(data) and psnr(crop, codec.decode(data47, 47)) < quality


def test_odd_size_and_10bit(vtm_dir: str, crop: np.ndarray) -> None:
    """60x44 is not a multiple of the minimum CU size: the conformance window crops it back.
    The 10-bit intermediate decodes at 10 bits and is at least as close to the original."""
    odd = np.ascontiguousarray(crop[:44, :60])
    codec8, codec10 = _vtm(vtm_dir), _vtm(vtm_dir, bit_depth=10)
    out8 = codec8.decode(codec8.encode(odd, 22), 22)
    data10 = codec10.encode(odd, 22)
    out10 = codec10.decode(data10, 22)
    assert out8.shape == out10.shape == odd.shape
    assert "--InputBitDepth=10" in codec10.notes["commands"][0] and "-d 10" in codec10.notes["commands"][1]
    assert psnr(odd, out10) > 38 and psnr(odd, out8) > 38


def test_tool_failure_carries_vtm_output_and_cleans_up(vtm_dir: str, crop: np.ndarray, tmp_path: Path,
                                                       monkeypatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    broken = _vtm(vtm_dir, options=["--NoSuchOption=1"])
    with pytest.raises(ToolError, match=r"EncoderApp\w* exited with status 1.*Unknown option"):
        broken.encode(crop, 37)
    codec = _vtm(vtm_dir)
    data = codec.encode(crop, 37)
    with pytest.raises(ToolError, match="DecoderApp"):
        codec.decode(data[: len(data) - 40], 37)  # parameter sets intact, slice truncated
    assert list(tmp_path.iterdir()) == []


def test_other_vtm_version_is_refused(vtm_dir: str) -> None:
    (config,) = resolve_codecs("vtm17")
    config = dataclasses.replace(config, params={**config.params, "version": "18.0"})
    reason = load_adapter(config.adapter).unavailable_reason(config, CodecContext(tool_dirs=(("vtm", vtm_dir),)))
    assert reason and "needs VTM 18.0" in reason


def test_cli_run_with_vtm_dir_and_kept_bitstreams(vtm_dir: str, crop: np.ndarray, tmp_path: Path) -> None:
    """`rdbench run --vtm-dir` end to end; the kept bitstream decodes to the stored PSNR."""
    from helpers import rdbench
    from PIL import Image

    from rdbench.store.sqlite import Store

    data = tmp_path / "crops"
    data.mkdir()
    Image.fromarray(crop).save(data / "parrots.png")
    db, kept = tmp_path / "r.sqlite", tmp_path / "kept"
    env = {k: v for k, v in os.environ.items() if k != "RDBENCH_VTM_DIR"}  # the option alone must do
    result = rdbench("run", "--codec", "vtm17", "--dataset", data, "--quality", "37", "--vtm-dir", vtm_dir,
                     "--db", db, "-q", "--keep-bitstreams", kept, env=env)
    assert result.returncode == 0, result.stderr
    with Store(db) as store:
        (record,) = store.records()
    assert record.ok and record.codec_version.startswith("17.0") and record.extra["vtm_cfg_sha256"]
    stream = Path(record.extra["bitstream"]).read_bytes()
    assert len(stream) == record.num_bytes
    assert psnr(crop, _vtm(vtm_dir).decode(stream, 37)) == pytest.approx(record.psnr)
