"""A metric declared once (issue 24, item 1): a third-party metric plugs in as a codec does.

A tiny package, written and pip-installed here into a temporary folder (never into the shared
environment), declares ``psnr-luma`` (luma PSNR, BT.601 weights) behind an ``rdbench.metrics`` entry
point; a TOML file in a folder of ``RDBENCH_METRICS_PATH`` declares ``psnr-g`` (PSNR of the green
plane) naming a function of that package. Real ``rdbench`` subprocesses see them without any edit of
rdbench: ``run`` stores their values, ``results`` shows them, ``bdrate --metric`` gives the BD-rate of
the means SQLite computes from the stored values, ``plot --metric`` draws them and the report has them.
"""

from __future__ import annotations

import ast
import json
import math
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import REPO, kodak_crops, rdbench

PACKAGE = '''
"""A third-party metric package for rdbench's tests."""
import numpy as np
from rdbench.metric_spec import Metric


def _psnr(a, b):
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


def psnr_y(original, reconstruction):
    weights = np.array([0.299, 0.587, 0.114])
    return _psnr(original @ weights, reconstruction @ weights)


def psnr_g(original, reconstruction):
    return _psnr(original[..., 1], reconstruction[..., 1])


PSNR_Y = Metric(name="psnr-luma", function="rdmetrics.core:psnr_y", label="PSNR-Y", unit="dB", cap_db=True,
                version="1.0")
'''

PYPROJECT = '''
[build-system]
requires = ["setuptools"]
build-backend = "setuptools.build_meta"

[project]
name = "rdmetrics"
version = "1.0"

[project.entry-points."rdbench.metrics"]
psnr-luma = "rdmetrics.core:PSNR_Y"
'''

TOML = '''
name = "psnr-g"
function = "rdmetrics.core:psnr_g"
label = "PSNR-G"
unit = "dB"
cap_db = true
version = "g1"
'''

QUALITIES = ("30", "60", "90")


@pytest.fixture(scope="module")
def measured(tmp_path_factory) -> tuple[dict[str, str], Path, Path]:
    """(environment that finds the package and the TOML folder, database, crops): jpeg and webp
    measured on three Kodak crops with both plug-in metrics."""
    root = tmp_path_factory.mktemp("metric-plugin")
    src = root / "src"
    (src / "rdmetrics").mkdir(parents=True)
    (src / "rdmetrics" / "__init__.py").write_text("")
    (src / "rdmetrics" / "core.py").write_text(PACKAGE)
    (src / "pyproject.toml").write_text(PYPROJECT)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--target", str(root / "site"), str(src)], check=True, capture_output=True)
    (root / "metrics").mkdir()
    (root / "metrics" / "psnr-g.toml").write_text(TOML)
    env = {k: v for k, v in os.environ.items() if not k.startswith("RDBENCH_")}
    env.update(PYTHONPATH=os.pathsep.join([str(root / "site"), str(REPO)]), RDBENCH_METRICS_PATH=str(root / "metrics"))
    crops = kodak_crops(root / "crops", 3, (0, 0, 176, 176))
    db = root / "rd.sqlite"
    rdbench("run", "--codec", "jpeg,webp", "--dataset", crops, "--quality", ",".join(QUALITIES), "--db", db,
            env=env, check=True)
    return env, db, crops


def _stored(db: Path, metric: str) -> list[tuple[str, str, str, float, str]]:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT r.codec, r.quality, r.image, v.value, v.version FROM metric_values v "
                            "JOIN records r ON r.id = v.record_id WHERE v.metric = ? ORDER BY 1, 2, 3",
                            (metric,)).fetchall()


def _sql_means(db: Path, codec: str, metric: str) -> list[tuple[float, float]]:
    """The mean curve (bpp, metric) of ``codec`` computed by SQLite from the stored rows."""
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT AVG(r.bpp), AVG(v.value) FROM records r JOIN metric_values v ON v.record_id = r.id "
                            "WHERE r.codec = ? AND v.metric = ? GROUP BY r.quality ORDER BY AVG(r.bpp)",
                            (codec, metric)).fetchall()


def test_run_stores_each_plug_in_value_with_its_version(measured):
    """One row per record and metric, with the version the package declares; the values rise with
    the quality like the built-in PSNR's do."""
    _, db, _ = measured
    rows = _stored(db, "psnr-luma")
    assert len(rows) == 2 * len(QUALITIES) * 3 and {r[4] for r in rows} == {"1.0"}
    assert {r[4] for r in _stored(db, "psnr-g")} == {"g1"}
    for codec in ("jpeg", "webp"):
        means = [v for _, v in _sql_means(db, codec, "psnr-luma")]
        assert means == sorted(means) and 20 < means[0] < means[-1] < 60


@pytest.mark.slow
def test_results_show_the_plug_in_columns(measured):
    env, db, _ = measured
    out = rdbench("results", "--db", db, "--format", "json", env=env, check=True).stdout
    rows = json.loads(out)
    assert all("psnr-luma" in r and "psnr-g" in r for r in rows)
    table = rdbench("results", "--db", db, env=env, check=True).stdout
    assert "psnr-luma" in table and "psnr-g" in table
    per_image = json.loads(rdbench("results", "--db", db, "--per-image", "--format", "json", env=env, check=True).stdout)
    stored = {(r[0], r[1], r[2]): r[3] for r in _stored(db, "psnr-luma")}
    assert {(r["codec"], r["quality"], r["image"]): r["psnr-luma"] for r in per_image} == stored


@pytest.mark.slow
def test_bdrate_of_a_plug_in_metric_is_the_bd_rate_of_the_stored_means(measured):
    from rdbench.analysis.bdrate import bd_rate

    env, db, crops = measured
    for metric in ("psnr-luma", "psnr-g"):
        out = rdbench("bdrate", "--db", db, "--anchor", "jpeg", "--codec", "webp", "--dataset", crops.name, "--metric",
                      metric, "--format", "json", env=env, check=True).stdout
        (cell,) = json.loads(out)["cells"]
        expected = bd_rate(_sql_means(db, "jpeg", metric), _sql_means(db, "webp", metric)).value
        assert math.isclose(cell["bd_rate"], expected, rel_tol=1e-9, abs_tol=1e-9), (metric, cell)


def test_an_unknown_metric_is_a_usage_error(measured):
    env, db, _ = measured
    result = rdbench("bdrate", "--db", db, "--anchor", "jpeg", "--codec", "webp", "--metric", "psnr-x", env=env)
    assert result.returncode == 2 and "psnr-luma" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.slow
def test_plot_and_report_show_the_plug_in_metric(measured, tmp_path):
    env, db, _ = measured
    dataset = measured[2].name
    rdbench("plot", "--db", db, "--codec", "jpeg,webp", "--dataset", dataset, "--metric", "psnr-luma", "--out",
            tmp_path / "plots", env=env, check=True)
    (figure,) = (tmp_path / "plots").glob("rd_*_psnr-luma.png")  # the stored dataset name: crops-<hash>
    assert figure.stat().st_size > 1000
    report = tmp_path / "report.html"
    rdbench("report", "--db", db, "--anchor", "jpeg", "--codec", "webp", "--out", report, env=env, check=True)
    html = report.read_text()
    assert "PSNR-Y (dB)" in html and "PSNR-G (dB)" in html


def test_without_the_package_rdbench_knows_only_its_own_metrics(measured):
    env, db, _ = measured
    bare = {k: v for k, v in env.items() if k != "RDBENCH_METRICS_PATH"}
    bare["PYTHONPATH"] = str(REPO)
    result = rdbench("bdrate", "--db", db, "--anchor", "jpeg", "--codec", "webp", "--metric", "psnr-luma", env=bare)
    assert result.returncode == 2 and "unknown metric" in result.stderr


def test_deleting_records_deletes_their_plug_in_values(measured, tmp_path):
    import shutil

    from rdbench.store.sqlite import Store

    _, db, _ = measured
    copy = tmp_path / "copy.sqlite"
    shutil.copyfile(db, copy)
    with Store(copy) as store:
        before = store.conn.execute("SELECT COUNT(*) FROM metric_values").fetchone()[0]
        gone = store.delete_records(selections=[{"codec": "webp"}])
        after = store.conn.execute("SELECT COUNT(*) FROM metric_values").fetchone()[0]
        orphans = store.conn.execute("SELECT COUNT(*) FROM metric_values WHERE record_id NOT IN "
                                     "(SELECT id FROM records)").fetchone()[0]
    assert gone == 9 and after == before - 2 * gone and orphans == 0


def _literal_modules() -> dict[str, list[str]]:
    """Module -> the metric names it spells as string literals (docstrings aside)."""
    names = {"psnr", "ms-ssim", "ms_ssim"}
    found: dict[str, list[str]] = {}
    for path in sorted((REPO / "rdbench").rglob("*.py")):
        tree = ast.parse(path.read_text())
        docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                      if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                      and node.body and isinstance(node.body[0], ast.Expr)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and node.value in names and id(node) not in docstrings:
                found.setdefault(str(path.relative_to(REPO)), []).append(node.value)
    return found


@pytest.mark.slow
def test_metric_names_are_literals_in_at_most_four_modules():
    found = _literal_modules()
    assert len(found) <= 4, found
    assert "rdbench/metric_spec.py" in found


def test_a_record_stored_again_keeps_its_id_and_only_its_new_values(tmp_path):
    """The upsert of a record with the same identity keeps its row (id) and replaces its plug-in values:
    none of the earlier measurement's is left over; reading gives each value with its version."""
    from rdbench.store.record import Record
    from rdbench.store.sqlite import Store

    record = Record(codec="c", config_hash="h", quality="1", dataset="d", image="i.png", image_hash="x", bpp=1.0,
                    metrics={"a-metric": 1.5, "b-metric": 2.5}, metric_versions={"a-metric": "1", "b-metric": "1"})
    with Store(tmp_path / "db.sqlite") as store:
        store.put(record)
        (first_id,) = store.conn.execute("SELECT id FROM records").fetchone()
        record.metrics, record.metric_versions = {"a-metric": 3.0}, {"a-metric": "2"}
        store.put(record)
        assert [tuple(r) for r in store.conn.execute("SELECT id FROM records")] == [(first_id,)]
        assert [tuple(r) for r in store.conn.execute("SELECT metric, value, version FROM metric_values")] == [
            ("a-metric", 3.0, "2")]
        (read,) = store.find_records()
        assert read.metrics == {"a-metric": 3.0} and read.metric_versions == {"a-metric": "2"}
        assert read.to_json()["metrics"] == {"a-metric": 3.0}


def test_a_toml_metric_with_a_bad_declaration_is_a_one_line_error(tmp_path):
    (tmp_path / "bad.toml").write_text('name = "PSNR Y"\nfunction = "nomodule"\nscale = "log"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("RDBENCH_")}
    env.update(PYTHONPATH=str(REPO), RDBENCH_METRICS_PATH=str(tmp_path))
    result = rdbench("bdrate", "--anchor", "jpeg", "--codec", "webp", "--metric", "psnr-luma", "--db",
                     tmp_path / "none.sqlite", env=env)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "bad.toml" in result.stderr and "'PSNR Y'" in result.stderr and "'log'" in result.stderr
