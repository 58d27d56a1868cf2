"""End-to-end: `rdbench run` on real Kodak images with real codecs, into a real SQLite store."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
from pathlib import Path

import numpy as np
import pytest
from helpers import newer_schema_db, rdbench, rdbench_argv

from rdbench.codecs.base import CodecContext
from rdbench.codecs.registry import load_adapter, resolve_codecs
from rdbench.data.images import load_image
from rdbench.run import metrics
from rdbench.store.sqlite import Store


@pytest.fixture()
def three_kodak(kodak_dir: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "k3"
    folder.mkdir()
    for name in ("kodim01.png", "kodim04.png", "kodim23.png"):  # kodim04 is portrait
        shutil.copy(kodak_dir / name, folder / name)
    return folder


@pytest.mark.slow
def test_run_stores_true_metrics_and_resumes(three_kodak: Path, tmp_path: Path) -> None:
    db = tmp_path / "r.sqlite"
    first = rdbench("run", "--codec", "jpeg", "--dataset", three_kodak, "--quality", "30,80", "--db", db, check=True)
    assert "jpeg" in first.stdout and "mean over images" in first.stdout
    with Store(db) as store:
        records = store.records()
    assert len(records) == 6 and all(r.ok for r in records)

    # Recompute one record independently with the same library and check every stored number.
    config = resolve_codecs("jpeg")[0]
    codec = load_adapter(config.adapter)(config, CodecContext())
    image = load_image(three_kodak / "kodim04.png")
    data = codec.encode(image, 80)
    rec = next(r for r in records if r.image == "kodim04.png" and r.quality == "80")
    assert (rec.height, rec.width) == (768, 512)
    assert rec.num_bytes == len(data)
    assert rec.bpp == pytest.approx(8 * len(data) / (768 * 512))
    recon = codec.decode(data, 80)
    assert rec.psnr == pytest.approx(metrics.psnr(image, recon))
    assert rec.ms_ssim == pytest.approx(metrics.ms_ssim(image, recon), abs=1e-6)
    assert rec.encode_s > 0 and rec.decode_s > 0

    # Rerun: nothing recomputed, no duplicate rows; a new quality adds only its rows.
    again = rdbench("run", "--codec", "jpeg", "--dataset", three_kodak, "--quality", "30,80,95", "--db", db, "-q",
                    check=True)
    assert "resuming: 6 records already stored" in again.stderr
    rows = sqlite3.connect(db).execute("SELECT COUNT(*), COUNT(DISTINCT quality) FROM records").fetchone()
    assert rows == (9, 3)


@pytest.mark.slow
def test_results_json_has_stable_fields(three_kodak: Path, tmp_path: Path) -> None:
    db = tmp_path / "r.sqlite"
    rdbench("run", "--codec", "jpeg,webp", "--dataset", three_kodak, "--quality", "50", "--db", db, "--jobs", "2", "-q",
            check=True)
    per_image = json.loads(rdbench("results", "--db", str(db), "--per-image", "--format", "json", check=True).stdout)
    assert len(per_image) == 6
    for field in ("codec", "quality", "dataset", "image", "height", "width", "bpp", "psnr", "ms_ssim",
                  "ms_ssim_db", "encode_s", "decode_s", "peak_mem_bytes", "status", "error"):
        assert field in per_image[0]
    means = json.loads(rdbench("results", "--db", str(db), "--format", "json", "--pooled", check=True).stdout)
    jpeg = next(m for m in means if m["codec"] == "jpeg")
    jpeg_images = [r for r in per_image if r["codec"] == "jpeg"]
    assert jpeg["n"] == 3
    assert jpeg["bpp"] == pytest.approx(np.mean([r["bpp"] for r in jpeg_images]))
    assert jpeg["psnr"] == pytest.approx(np.mean([r["psnr"] for r in jpeg_images]))
    pixels = sum(r["height"] * r["width"] for r in jpeg_images)
    assert jpeg["bpp_pooled"] == pytest.approx(sum(r["bpp"] * r["height"] * r["width"] for r in jpeg_images) / pixels)


def test_corrupt_image_is_recorded_and_run_goes_on(three_kodak: Path, tmp_path: Path) -> None:
    (three_kodak / "broken.png").write_bytes((three_kodak / "kodim01.png").read_bytes()[:5000])
    db = tmp_path / "r.sqlite"
    result = rdbench("run", "--codec", "jpeg", "--dataset", three_kodak, "--quality", "50", "--db", db, check=True)
    assert result.returncode == 0
    assert "broken.png" in result.stderr and "corrupt or truncated" in result.stderr
    failed = json.loads(rdbench("results", "--db", str(db), "--failed", "--format", "json", check=True).stdout)
    assert [f["image"] for f in failed] == ["broken.png"]
    with Store(db) as store:
        assert store.count("ok") == 3


def test_unknown_codec_is_a_usage_error(three_kodak: Path, tmp_path: Path) -> None:
    result = rdbench("run", "--codec", "jpg", "--dataset", str(three_kodak), "--db", str(tmp_path / "x.sqlite"))
    assert result.returncode == 2
    assert "did you mean 'jpeg'" in result.stderr
    assert "Traceback" not in result.stderr


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    db = newer_schema_db(tmp_path / "future.sqlite")
    result = rdbench("results", "--db", str(db))
    assert result.returncode == 1 and "newer than this rdbench understands" in result.stderr


@pytest.mark.slow
def test_two_runs_on_one_database_at_once(three_kodak: Path, tmp_path: Path) -> None:
    """Two processes writing the same SQLite file concurrently: every record lands exactly once."""
    db = tmp_path / "shared.sqlite"
    args = ["run", "--dataset", str(three_kodak), "--db", str(db), "-q"]
    procs = [
        subprocess.Popen(rdbench_argv(*args, "--codec", codec, "--quality", "20,40,60,80"),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for codec in ("jpeg", "webp")
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert conn.execute("SELECT codec, COUNT(*) FROM records WHERE status='ok' GROUP BY codec ORDER BY codec").fetchall() == [
        ("jpeg", 12), ("webp", 12)]


@pytest.mark.slow
def test_codecs_lists_what_runs_here_and_why_the_rest_cannot(monkeypatch) -> None:
    monkeypatch.delenv("RDBENCH_VTM_DIR", raising=False)
    listed = {row["codec"]: row for row in json.loads(rdbench("codecs", "--format", "json", check=True).stdout)}
    assert listed["jpeg"]["available"] == "yes" and listed["jpeg"]["why_not"] == ""
    assert listed["vtm17"]["available"] == "no" and "VTM-17.0 anchor" in listed["vtm17"]["why_not"]
    table = rdbench("codecs", check=True).stdout
    head, _, reasons = table.partition("Not available here")
    assert "vtm17" in head and "VTM-17.0 anchor" not in head  # the table stays narrow
    assert "  vtm17: VTM EncoderApp" in reasons
    assert "FutureWarning" not in rdbench("codecs", check=True).stderr
