"""What identifies a result (issue "No silent wrong numbers", defects 1 and 7): the weights a
learned codec coded with and the device it ran on are part of every record's key, options that
cannot apply are refused before anything is stored, and old databases migrate."""

from __future__ import annotations

import hashlib
import json
import sqlite3

import numpy as np
import pytest
from helpers import rdbench
from PIL import Image

from rdbench.store import Record, Store
from rdbench.store.sqlite import MIGRATIONS

ARCH = "bmshj2018-factorized"


def _checkpoint(path, seed: int) -> str:
    """A seeded bmshj2018-factorized checkpoint (latents scaled so they code real symbols)."""
    import torch
    from compressai.zoo.image import cfgs, model_architectures

    from rdbench.codecs.learned.base import apply_latent_gain

    torch.manual_seed(seed)
    model = apply_latent_gain(model_architectures[ARCH](*cfgs[ARCH][1]), 20.0)
    torch.save({"state_dict": model.state_dict()}, path)
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def images(tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    rng = np.random.default_rng(1)
    Image.fromarray(rng.integers(0, 256, (64, 96, 3), dtype=np.uint8)).save(folder / "noise.png")
    return folder


def _stored(db) -> list[dict]:
    return json.loads(rdbench("results", "--per-image", "--format", "json", "--db", db, check=True).stdout)


@pytest.mark.slow
def test_other_weights_are_other_results_and_each_record_names_its_weights(tmp_path, images):
    a, b, bad = tmp_path / "a.pth.tar", tmp_path / "b.pth.tar", tmp_path / "bad.pth.tar"
    sha_a, sha_b = _checkpoint(a, 1), _checkpoint(b, 2)
    bad.write_bytes(b"not a checkpoint")
    db = tmp_path / "r.sqlite"
    run = ("run", "--codec", f"{ARCH}-mse", "--quality", "1", "--dataset", images, "--db", db, "-q")
    first = rdbench(*run, "--checkpoint", a, check=True)
    assert "nothing to do" not in first.stderr
    second = rdbench(*run, "--checkpoint", b, check=True)
    assert "nothing to do" not in second.stderr, "other weights must not be skipped as already stored"
    failed = rdbench(*run, "--checkpoint", bad)
    assert failed.returncode == 1
    again = rdbench(*run, "--checkpoint", a)
    assert "nothing to do" in again.stderr  # the same file is the same result
    rows = {r["weights"]: r for r in _stored(db)}
    assert set(rows) == {f"sha256:{sha_a}", f"sha256:{sha_b}", f"sha256:{hashlib.sha256(bad.read_bytes()).hexdigest()}"}
    assert rows[f"sha256:{sha_a}"]["extra"]["weights_path"] == str(a.resolve())
    assert rows[f"sha256:{sha_a}"]["bpp"] != rows[f"sha256:{sha_b}"]["bpp"]  # really other numbers
    assert rows[f"sha256:{hashlib.sha256(bad.read_bytes()).hexdigest()}"]["status"] == "failed"


def test_seeded_and_classical_codecs_record_what_they_ran_with(tmp_path, images):
    db = tmp_path / "r.sqlite"
    rdbench("run", "--codec", "jpeg", "--quality", "50", "--dataset", images, "--db", db, "-q", check=True)
    (row,) = _stored(db)
    assert row["weights"] == "" and row["device"] == "cpu"
    from rdbench.codecs.base import CodecContext
    from rdbench.codecs.registry import load_adapter, resolve_codecs

    (seeded,) = resolve_codecs("mlicpp-random")
    assert load_adapter(seeded.adapter).weights_identity(seeded, CodecContext(), 1) == ("seed:0", None)


@pytest.mark.parametrize("args, message", [
    (("--codec", "jpeg", "--device", "banana"), "unknown --device 'banana'"),
    (("--codec", "jpeg", "--device", "cuda"), "--device cuda is for learned codecs"),
    (("--codec", "jpeg", "--quality", "50", "--checkpoint", "CKPT"), "jpeg reads no checkpoint"),
    (("--codec", "mlicpp-random", "--quality", "1", "--checkpoint", "CKPT"), "mlicpp-random reads no checkpoint"),
    (("--codec", "jpeg,webp", "--checkpoint-dir", "DIR"), "none of jpeg, webp reads checkpoints"),
])
def test_options_that_cannot_apply_are_usage_errors_before_anything_is_stored(tmp_path, images, args, message):
    ckpt = tmp_path / "x.pth.tar"
    ckpt.write_bytes(b"x")
    args = [str(ckpt) if a == "CKPT" else str(tmp_path) if a == "DIR" else a for a in args]
    db = tmp_path / "r.sqlite"
    result = rdbench("run", *args, "--dataset", images, "--db", db)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert not db.exists() or Store(db, readonly=True).count() == 0


@pytest.mark.slow
def test_a_gpu_device_this_machine_lacks_is_refused_up_front(tmp_path, images):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA device")
    db = tmp_path / "r.sqlite"
    result = rdbench("run", "--codec", "mlicpp-random", "--device", "cuda", "--dataset", images, "--db", db)
    assert result.returncode == 2 and "no CUDA device is visible" in result.stderr
    assert not db.exists() or Store(db, readonly=True).count() == 0


def test_missing_checkpoint_is_reported_for_the_quality_asked_for(tmp_path, images):
    result = rdbench("run", "--codec", "mlicpp", "--quality", "3", "--checkpoint-dir", tmp_path,
                     "--dataset", images, "--db", tmp_path / "r.sqlite")
    assert "quality 3" in result.stderr and "quality 1" not in result.stderr, result.stderr


def test_device_and_weights_are_part_of_the_key(tmp_path):
    with Store(tmp_path / "r.sqlite") as store:
        base = dict(codec="c", config_hash="h", quality="1", dataset="d", image="i.png", image_hash="x", bpp=1.0)
        store.put(Record(**base, device="cpu"))
        store.put(Record(**base, device="cuda"))
        store.put(Record(**base, weights="sha256:aa"))
        store.put(Record(**{**base, "bpp": 2.0}, weights="sha256:aa"))  # the same key: replaced, not added
        assert store.count() == 3
        assert {(r.weights, r.device, r.bpp) for r in store.records()} == {
            ("", "cpu", 1.0), ("", "cuda", 1.0), ("sha256:aa", "cpu", 2.0)}


def test_a_database_of_the_previous_schema_migrates_keeping_its_records(tmp_path):
    path = tmp_path / "old.sqlite"
    conn = sqlite3.connect(path)
    for step in MIGRATIONS[:3]:
        conn.executescript(step)
    conn.execute("PRAGMA user_version = 3")
    conn.execute("INSERT INTO records (codec, config_hash, quality, dataset, image, image_hash, bpp, psnr, status, device)"
                 " VALUES ('jpeg', 'h', '50', 'kodak', 'kodim01.png', 'x', 1.5, 30.0, 'ok', NULL)")
    conn.commit()
    conn.close()
    with Store(path) as store:
        (record,) = store.records()
        assert (record.codec, record.bpp, record.weights, record.device) == ("jpeg", 1.5, "", "cpu")
        store.put(Record(codec="jpeg", config_hash="h", quality="50", dataset="kodak", image="kodim01.png",
                         image_hash="x", bpp=1.6))
        assert store.count() == 1 and store.records()[0].bpp == 1.6


@pytest.mark.slow
def test_reusing_records_of_another_codec_library_version_is_said(tmp_path, images):
    db = tmp_path / "r.sqlite"
    run = ("run", "--codec", "jpeg", "--quality", "50", "--dataset", images, "--db", db, "-q")
    rdbench(*run, check=True)
    assert "were measured with" not in rdbench(*run, check=True).stderr
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE records SET codec_version = '0.0-old'")
    again = rdbench(*run, check=True)
    assert "1 stored record of jpeg" in again.stderr and "0.0-old" in again.stderr and "--force" in again.stderr
