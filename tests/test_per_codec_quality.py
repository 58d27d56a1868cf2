"""Per-codec quality points and unknown values (issue 27 item 5 and "Per-codec points"; issue 23 item 12).

Codecs count quality on different scales, so ``--quality CODEC=Q1,Q2`` gives each its own points;
a global ``--quality`` naming a point a codec does not have, an empty list, or an anchor quality the
anchor lacks is a usage error (exit 2, nothing computed from fewer points than asked); the anchor's
points are selected by ``--anchor-qualities`` only. Real jpeg and webp on real Kodak crops, real
SQLite; values checked against the ``bjontegaard`` package on means read from the database by SQL.
"""

from __future__ import annotations

import json
import sqlite3
import warnings
from pathlib import Path

import bjontegaard
import numpy as np
import pytest
from helpers import kodak_crops, rdbench

import rdbench as rd
from rdbench.errors import UsageError
from rdbench.store.sqlite import Store

JPEG = ("10", "30", "50", "70", "90")
WEBP = ("20", "40", "60", "80")


@pytest.fixture(scope="module")
def measured(tmp_path_factory) -> tuple[Path, Path]:
    """(database, crops): jpeg at 10..90 and webp at 20..80 on three real Kodak crops (96 x 96)."""
    root = tmp_path_factory.mktemp("per_codec")
    crops = kodak_crops(root / "crops", 3, (0, 0, 96, 96))
    db = root / "rd.sqlite"
    rdbench("run", "--codec", "jpeg", "--dataset", crops, "--quality", ",".join(JPEG), "--db", db, "-q",
            in_process=True, check=True)
    rdbench("run", "--codec", "webp", "--dataset", crops, "--quality", ",".join(WEBP), "--db", db, "-q",
            in_process=True, check=True)
    return db, crops


def _stored(db: Path, codec: str) -> set[str]:
    with sqlite3.connect(db) as conn:
        return {q for (q,) in conn.execute("SELECT DISTINCT quality FROM records WHERE codec = ?", (codec,))}


def _means(db: Path, codec: str, qualities: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Mean bpp and PSNR per quality, read by SQL (every image is measured at every quality here)."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT quality, AVG(bpp), AVG(psnr) FROM records WHERE codec = ? AND status = 'ok' "
                            "GROUP BY quality", (codec,)).fetchall()
    kept = sorted((bpp, psnr) for q, bpp, psnr in rows if q in qualities)
    assert len(kept) == len(qualities)
    return np.array([r for r, _ in kept]), np.array([d for _, d in kept])


def _bjontegaard(anchor: tuple[np.ndarray, np.ndarray], test: tuple[np.ndarray, np.ndarray]) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return bjontegaard.bd_rate(*anchor, *test, method="pchip", min_overlap=0, require_matching_points=False)


def _bdrate(db: Path, crops: Path, *args: str):
    return rdbench("bdrate", "--anchor", "jpeg", "--codec", "webp", "--dataset", crops, "--format", "json", *args,
                   "--db", db)


@pytest.mark.slow
def test_run_takes_each_codecs_own_points(tmp_path, measured):
    _, crops = measured
    db = tmp_path / "r.sqlite"
    rdbench("run", "--codec", "jpeg,webp", "--dataset", crops, "--quality", "jpeg=30,50", "--quality", "webp=40",
            "--db", db, "-q", check=True)
    assert _stored(db, "jpeg") == {"30", "50"} and _stored(db, "webp") == {"40"}
    # a codec's own list replaces the global one for it; the others take the global one
    rdbench("run", "--codec", "jpeg,webp", "--dataset", crops, "--quality", "70", "--quality", "webp=60",
            "--db", db, "-q", check=True)
    assert _stored(db, "jpeg") == {"30", "50", "70"} and _stored(db, "webp") == {"40", "60"}


@pytest.mark.parametrize("args, message", [
    (("--quality", ""), "--quality '' names no quality"),
    (("--quality", " , "), "names no quality"),
    (("--quality", "jpeg="), "names no quality"),
    (("--quality", "webp=30"), "webp is not among the codecs of this command (jpeg)"),
    (("--quality", "jpeg=30", "--quality", "jpeg=50"), "jpeg is given twice"),
    (("--quality", "jpeg=30,1000"), "jpeg: quality 1000"),
])
def test_run_refuses_quality_lists_that_would_be_ignored_or_run_the_default_sweep(tmp_path, measured, args, message):
    _, crops = measured
    db = tmp_path / "r.sqlite"
    result = rdbench("run", "--codec", "jpeg", "--dataset", crops, *args, "--db", db, "-q")
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr
    assert not db.exists() or not _stored(db, "jpeg")


def test_complexity_takes_one_point_per_codec(tmp_path):
    result = rdbench("complexity", "--codec", "jpeg,webp", "--sizes", "32", "--repeat", "1", "--in-process",
                     "--quality", "jpeg=50", "--quality", "webp=40", "--format", "json", "--db", tmp_path / "r.sqlite")
    assert result.returncode == 0, result.stderr
    with sqlite3.connect(tmp_path / "r.sqlite") as conn:
        assert sorted(conn.execute("SELECT codec, quality FROM complexity").fetchall()) == [("jpeg", "50"),
                                                                                              ("webp", "40")]


def test_bdrate_per_codec_points_match_bjontegaard(measured):
    db, crops = measured
    result = _bdrate(db, crops, "--quality", "webp=20,40,60")
    assert result.returncode == 0, result.stderr
    (cell,) = json.loads(result.stdout)["cells"]
    assert [p["quality"] for p in cell["test_points"]] == ["20", "40", "60"]
    assert [p["quality"] for p in cell["anchor_points"]] == list(JPEG)
    expected = _bjontegaard(_means(db, "jpeg", JPEG), _means(db, "webp", ("20", "40", "60")))
    assert cell["bd_rate"] == pytest.approx(expected, abs=1e-6)


@pytest.mark.slow
def test_global_quality_does_not_cut_the_anchor(measured):
    """Issue 27 item 5: --quality meant for the codecs left the anchor with whichever of its points
    share those numbers (here none: every cell NaN)."""
    db, crops = measured
    result = _bdrate(db, crops, "--quality", "20,40,60")
    assert result.returncode == 0, result.stderr
    (cell,) = json.loads(result.stdout)["cells"]
    assert [p["quality"] for p in cell["anchor_points"]] == list(JPEG)
    expected = _bjontegaard(_means(db, "jpeg", JPEG), _means(db, "webp", ("20", "40", "60")))
    assert cell["bd_rate"] == pytest.approx(expected, abs=1e-6)
    # --anchor-qualities alone selects the anchor's points
    result = _bdrate(db, crops, "--quality", "20,40,60", "--anchor-qualities", "10,30,50,70")
    (cell,) = json.loads(result.stdout)["cells"]
    assert [p["quality"] for p in cell["anchor_points"]] == ["10", "30", "50", "70"]
    expected = _bjontegaard(_means(db, "jpeg", ("10", "30", "50", "70")), _means(db, "webp", ("20", "40", "60")))
    assert cell["bd_rate"] == pytest.approx(expected, abs=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("command", [
    ("bdrate", "--anchor", "jpeg", "--codec", "webp"),
    ("plot", "--anchor", "jpeg", "--codec", "webp"),
    ("plot", "--anchor", "jpeg", "--codec", "webp", "--delta"),
    ("plot", "--codec", "webp", "--per-image"),
    ("report", "--anchor", "jpeg", "--codec", "webp"),
])
def test_a_quality_a_codec_does_not_have_is_a_usage_error(tmp_path, measured, command):
    """Issue 23 item 12: `--quality 20,40,60,1000` silently ignored 1000."""
    db, crops = measured
    out = () if command[0] == "bdrate" else ("--out", tmp_path / ("r.html" if command[0] == "report" else "plots"))
    result = rdbench(*command, "--dataset", crops, "--quality", "20,40,60,1000", *out, "--db", db)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith("error: webp has no record at quality 1000 on crops-"), result.stderr
    assert "Traceback" not in result.stderr and not list(tmp_path.rglob("*.*"))


@pytest.mark.parametrize("args, message", [
    (("--quality", "vtm=22"), "vtm is not among the codecs of this command (webp)"),
    (("--quality", "jpeg=30,50"), "jpeg is the anchor, whose points only --anchor-qualities selects"),
    (("--anchor-qualities", "30,50,77"), "anchor jpeg has no point at quality 77 on crops-"),
    (("--quality", "webp="), "names no quality"),
    (("--anchor-qualities", ","), "--anchor-qualities names no quality"),
])
def test_bdrate_refuses_points_it_would_drop(measured, args, message):
    """`--anchor-qualities 30,50,77` computed on 2 anchor points without a word."""
    db, crops = measured
    result = _bdrate(db, crops, *args)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr


def test_plot_and_report_take_per_codec_points(tmp_path, measured):
    db, crops = measured
    per_codec = ("--quality", "webp=20,40,60", "--quality", "jpeg=10,30,50")
    result = rdbench("plot", "--codec", "jpeg,webp", "--dataset", crops, *per_codec, "--ext", "svg",
                     "--out", tmp_path, "--db", db, in_process=True, check=True)
    assert Path(result.stdout.strip()).is_file()
    out = tmp_path / "r.html"
    rdbench("report", "--anchor", "jpeg", "--codec", "webp", "--dataset", crops, "--quality", "webp=20,40,60",
            "--anchor-qualities", "10,30,50,70", "--metric", "psnr", "--out", out, "--db", db, in_process=True,
            check=True)
    html = out.read_text()
    assert "<dd>webp 20, 40, 60</dd>" in html and "<dd>10, 30, 50, 70</dd>" in html
    curves = rd.load_curves(db, ["jpeg", "webp"], [str(crops)], qualities={"webp": ["20", "40"]})
    assert list(curves[curves.name == "webp"].quality) == ["20", "40"]
    assert list(curves[curves.name == "jpeg"].quality) == list(JPEG)


def test_library_refuses_unknown_codecs_and_qualities(measured):
    """`rdbench.load_records(db, codecs=['nonexist'])` gave an empty frame; the library checks
    qualities as the commands do."""
    db, crops = measured
    with pytest.raises(UsageError, match="unknown codec 'nonexist'"):
        rd.load_records(db, codecs=["nonexist"])
    assert len(rd.load_records(db, codecs=["webp"])) == 3 * len(WEBP)
    with sqlite3.connect(db) as conn:
        (dataset,) = conn.execute("SELECT DISTINCT dataset FROM records").fetchone()
    with Store(db, readonly=True) as store, pytest.raises(UsageError, match="webp has no record at quality 1000"):
        rd.bd_table(store, "jpeg", ["webp"], [dataset], qualities={"webp": ["20", "1000"]})
    with pytest.raises(UsageError, match="jpeg has no record at quality 20"):
        rd.load_curves(db, ["jpeg", "webp"], [str(crops)], qualities=["20", "40"])
