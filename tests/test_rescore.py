"""Metrics measured on request and added afterwards (issue 25, item 3): ``rdbench run --metrics`` and
``rdbench rescore``, with real JPEG on real Kodak crops and a real SQLite store.

The metrics are declared by TOML files (:mod:`declared_metrics`), so the machinery is tested for any
metric; values are checked against numpy computed here on the kept bitstream decoded by Pillow.
"""

from __future__ import annotations

import io
import json
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from declared_metrics import declare, l1_dist, psnr_g
from helpers import kodak_crops, rdbench
from PIL import Image

QUALITIES = "30,60"


@pytest.fixture(scope="module")
def kept(tmp_path_factory) -> tuple[dict[str, str], Path, Path, Path]:
    """(environment, database, crops, bitstream folder): jpeg on three Kodak crops at two qualities,
    bitstreams kept, no on-request metric asked for."""
    root = tmp_path_factory.mktemp("rescore")
    env = declare(root / "metrics")
    crops = kodak_crops(root / "crops", 3, (0, 0, 176, 176))
    db = root / "rd.sqlite"
    rdbench("run", "--codec", "jpeg", "--dataset", crops, "--quality", QUALITIES, "--db", db, "--keep-bitstreams",
            root / "bits", "-q", env=env, in_process=True, check=True)
    return env, db, crops, root / "bits"


def _values(db: Path, metric: str) -> dict[tuple[str, str, str], tuple[float, str]]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT r.codec, r.quality, r.image, v.value, v.version FROM metric_values v JOIN records r "
                            "ON r.id = v.record_id WHERE v.metric = ?", (metric,)).fetchall()
    return {(c, q, i): (v, ver) for c, q, i, v, ver in rows}


def _copy(db: Path, target: Path) -> Path:
    with sqlite3.connect(db) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    return target


def test_a_run_computes_on_request_metrics_only_when_asked(kept):
    _, db, _, _ = kept
    assert _values(db, "psnr-g") == {} and _values(db, "l1-dist") == {}


def test_rescore_adds_the_values_of_the_decoded_kept_bitstreams(kept, tmp_path):
    env, db, crops, _ = kept
    db = _copy(db, tmp_path / "rd.sqlite")
    with sqlite3.connect(db) as conn:
        before = conn.execute("SELECT * FROM records ORDER BY id").fetchall()
    result = rdbench("rescore", "--metrics", "psnr-g,l1-dist", "--codec", "jpeg", "--dataset", crops, "--db", db,
                     env=env, in_process=True, check=True)
    assert "rescored 6 records (12 values" in result.stderr
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT * FROM records ORDER BY id").fetchall() == before  # nothing else changed
        kept_paths = dict(conn.execute("SELECT quality || '/' || image, json_extract(extra, '$.bitstream') "
                                       "FROM records WHERE codec = 'jpeg'").fetchall())
    green, l1 = _values(db, "psnr-g"), _values(db, "l1-dist")
    assert len(green) == len(l1) == 6 and {v for _, v in green.values()} == {"g1"}
    for (codec, quality, image), (value, _) in green.items():
        original = np.asarray(Image.open(crops / image).convert("RGB"))
        decoded = np.asarray(Image.open(io.BytesIO(Path(kept_paths[f"{quality}/{image}"]).read_bytes())).convert("RGB"))
        assert value == pytest.approx(psnr_g(original, decoded), rel=1e-12)
        assert l1[(codec, quality, image)][0] == pytest.approx(l1_dist(original, decoded), rel=1e-12)
    again = rdbench("rescore", "--metrics", "psnr-g", "--codec", "jpeg", "--dataset", crops, "--db", db, env=env,
                    in_process=True, check=True)
    assert "rescored 0 records" in again.stderr  # every record has the value of this version already
    frame = json.loads(rdbench("results", "--db", db, "--per-image", "--format", "json", env=env,
                               in_process=True, check=True).stdout)
    assert {(r["codec"], r["quality"], r["image"]): r["psnr-g"] for r in frame} == {k: v for k, (v, _) in green.items()}


def test_rescore_refuses_records_that_do_not_match_naming_them(kept, tmp_path):
    env, db, crops, bits = kept
    db = _copy(db, tmp_path / "rd.sqlite")
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE records SET psnr = psnr + 0.5 WHERE quality = '30' AND image = 'kodim01.png'")
        other = conn.execute("SELECT json_extract(extra, '$.bitstream') FROM records WHERE quality = '60' AND "
                             "image = 'kodim03.png'").fetchone()[0]
    moved = tmp_path / "saved.bin"
    shutil.copyfile(other, moved)
    try:
        Path(other).write_bytes(Path(other).read_bytes()[:-1] + b"\x00")  # same length, other bytes
        result = rdbench("rescore", "--metrics", "psnr-g", "--codec", "jpeg", "--dataset", crops, "--db", db,
                         env=env, in_process=True, check=True)
    finally:
        shutil.copyfile(moved, other)
    assert "rescored 4 records" in result.stderr
    assert "refused: jpeg q=30 kodim01.png: decoding its kept bitstream gives PSNR" in result.stderr
    assert "refused: jpeg q=60 kodim03.png: its kept bitstream" in result.stderr and "SHA-256" in result.stderr
    assert set(_values(db, "psnr-g")) == {("jpeg", q, f"kodim0{i}.png") for q in ("30", "60") for i in (1, 2, 3)} - {
        ("jpeg", "30", "kodim01.png"), ("jpeg", "60", "kodim03.png")}


def test_rescore_without_kept_bitstreams_refuses_and_says_which_option_keeps_them(kept, tmp_path):
    env, _, crops, _ = kept
    db = tmp_path / "plain.sqlite"
    rdbench("run", "--codec", "jpeg", "--dataset", crops, "--quality", "50", "--db", db, "-q", env=env,
            in_process=True, check=True)
    result = rdbench("rescore", "--metrics", "psnr-g", "--codec", "jpeg", "--dataset", crops, "--db", db, env=env)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "--keep-bitstreams" in result.stderr and "jpeg q=50 kodim01.png" in result.stderr
    assert _values(db, "psnr-g") == {}


@pytest.mark.parametrize("command", ["rescore", "run"])
def test_an_unknown_metric_or_set_is_a_one_line_usage_error_and_nothing_is_stored(kept, tmp_path, command):
    env, db, crops, _ = kept
    target = _copy(db, tmp_path / "rd.sqlite")
    args = ["--metrics", "psnr-g,jpeg-a", "--codec", "jpeg", "--dataset", crops, "--db", target]
    if command == "run":
        args += ["--quality", "90"]
    result = rdbench(command, *args, env=env)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.startswith("error: unknown metric 'jpeg-a'") and len(result.stderr.splitlines()) <= 2
    with sqlite3.connect(target) as conn:
        assert conn.execute("SELECT COUNT(*) FROM records").fetchone()[0] == 6
        assert conn.execute("SELECT COUNT(*) FROM metric_values").fetchone()[0] == 0


def test_run_with_metrics_computes_them_with_new_jobs_and_adds_them_to_reused_records(kept, tmp_path):
    """New jobs compute the metric; the stored records the run reuses get it from their kept bitstreams;
    the library's entry point does the same and returns the values as a column."""
    import rdbench as library

    env, db, crops, _ = kept
    db = _copy(db, tmp_path / "rd.sqlite")
    lines: list[str] = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RDBENCH_METRICS_PATH", env["RDBENCH_METRICS_PATH"])
        frame = library.benchmark("jpeg", crops, [30, 60, 90], db=db, metrics="l1-dist", say=lines.append)
        exported = json.loads(rdbench("export", "--codec", "jpeg", "--dataset", crops, "--db", db, env=env,
                                      in_process=True, check=True).stdout)
    assert any("stored records reused: rescored 6 records" in line for line in lines), lines
    assert frame["l1-dist"].notna().all() and len(frame) == 9
    stored = _values(db, "l1-dist")
    assert len(stored) == 9 and _values(db, "psnr-g") == {}
    means = [np.mean([stored[("jpeg", q, f"kodim0{i}.png")][0] for i in (1, 2, 3)]) for q in ("30", "60", "90")]
    assert exported["results"]["l1-dist"] == pytest.approx(means, rel=1e-12)
    assert exported["results"]["quality"] == ["30", "60", "90"]
