"""BD per metric and the average over metrics (issue 25, item 4), on metrics declared by TOML files
(:mod:`declared_metrics`): a PSNR-like one, a lower-is-better one integrated as 1 - value
(``scale = "one-minus"``) and one shown in dB; real JPEG and WebP on Kodak crops, a real store.

Every BD-rate is checked against the ``bjontegaard`` package on mean curves computed here with numpy
from the stored per-image values; the average against the mean of per-image BD-rates computed so too.
"""

from __future__ import annotations

import json
import math
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from declared_metrics import declare
from helpers import kodak_crops, rdbench, stored_metric_points

bjontegaard = pytest.importorskip("bjontegaard")

QUALITIES = "15,30,50,75,90"
SHOWN = {"psnr-g": lambda v: v, "l1-dist": lambda v: 1 - v, "sat-db": lambda v: -10 * np.log10(1 - v)}


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> tuple[dict[str, str], Path, str]:
    """(environment, database, dataset): jpeg with three on-request metrics, webp with two (no sat-db)."""
    root = tmp_path_factory.mktemp("metric-ops")
    env = declare(root / "metrics")
    crops = kodak_crops(root / "crops", 3, (0, 0, 192, 176))
    db = root / "rd.sqlite"
    for codec, metrics in (("jpeg", "psnr-g,l1-dist,sat-db"), ("webp", "psnr-g,l1-dist")):
        rdbench("run", "--codec", codec, "--dataset", crops, "--quality", QUALITIES, "--db", db, "--metrics", metrics,
                "-q", env=env, in_process=True, check=True)
    with sqlite3.connect(db) as conn:
        (dataset,) = conn.execute("SELECT DISTINCT dataset FROM records").fetchone()
    return env, db, dataset


def _bd(anchor: np.ndarray, test: np.ndarray) -> float:
    return float(bjontegaard.bd_rate(anchor[:, 0], anchor[:, 1], test[:, 0], test[:, 1], method="pchip",
                                     require_matching_points=False, min_overlap=0))


def _mean_curve(db: Path, codec: str, metric: str) -> np.ndarray:
    """(bpp, shown value of the mean) per quality, numpy over the stored per-image values."""
    per_image = np.array(list(stored_metric_points(db, codec, metric).values()))  # images x qualities x 2
    means = per_image.mean(axis=0)
    return np.column_stack([means[:, 0], SHOWN[metric](means[:, 1])])


def _bdrate(env, db, dataset, metric, *extra) -> dict:
    out = rdbench("bdrate", "--db", db, "--anchor", "jpeg", "--codec", "webp", "--dataset", dataset, "--metric", metric,
                  "--format", "json", *extra, env=env, in_process=True, check=True).stdout
    return json.loads(out)


@pytest.mark.parametrize("metric", ["psnr-g", "l1-dist"])
def test_bd_rate_of_each_metric_equals_bjontegaard_on_numpy_mean_curves(store, metric):
    env, db, dataset = store
    (cell,) = _bdrate(env, db, dataset, metric)["cells"]
    assert cell["bd_rate"] == pytest.approx(_bd(_mean_curve(db, "jpeg", metric), _mean_curve(db, "webp", metric)),
                                            abs=1e-6)
    assert cell["bd_rate"] < -5  # WebP beats JPEG on these crops under either metric


def test_the_uncertainty_tools_work_for_a_lower_is_better_metric(store):
    """--per-image, --ci, the interpolation error and the overlap of a one-minus metric: each per-image
    value is bjontegaard's on that image's curves."""
    env, db, dataset = store
    out = _bdrate(env, db, dataset, "l1-dist", "--per-image", "--ci", "95", "--bootstrap", "400")
    (cell,) = out["cells"]
    assert cell["ci_low"] <= cell["bd_rate"] <= cell["ci_high"] and cell["n_images"] == 3
    assert math.isfinite(cell["interp_error"]) and 0 < cell["overlap"] <= 1
    anchor, test = stored_metric_points(db, "jpeg", "l1-dist"), stored_metric_points(db, "webp", "l1-dist")
    for entry in out["per_image"]:
        a, t = (np.array(c[entry["image"]]) for c in (anchor, test))
        a[:, 1], t[:, 1] = 1 - a[:, 1], 1 - t[:, 1]
        assert entry["bd_rate"] == pytest.approx(_bd(a, t), abs=1e-6)


def test_a_list_of_metrics_prints_a_table_each_and_their_average_naming_what_is_left_out(store):
    env, db, dataset = store
    out = _bdrate(env, db, dataset, "psnr-g,l1-dist,sat-db")
    assert [t["metric"] for t in out["tables"]] == ["psnr-g", "l1-dist", "sat-db"]
    (row,) = out["average"]
    expected = {}
    for metric in ("psnr-g", "l1-dist"):
        anchor, test = stored_metric_points(db, "jpeg", metric), stored_metric_points(db, "webp", metric)
        values = []
        for image in anchor:
            a, t = np.array(anchor[image]), np.array(test[image])
            a[:, 1], t[:, 1] = SHOWN[metric](a[:, 1]), SHOWN[metric](t[:, 1])
            values.append(_bd(a, t))
        expected[metric] = float(np.mean(values))
        assert row[metric] == pytest.approx(expected[metric], abs=1e-6)
    assert row["average"] == pytest.approx(np.mean(list(expected.values())), abs=1e-6)
    assert row["metrics"] == "2/3" and row["complete"] is False and set(row["left_out"]) == {"sat-db"}
    assert any("sat-db left out of the average" in n for n in out["average_notes"])
    text = rdbench("bdrate", "--db", db, "--anchor", "jpeg", "--codec", "webp", "--dataset", dataset, "--metric",
                   "psnr-g,l1-dist", env=env, in_process=True, check=True).stdout
    assert "BD-rate (%) vs jpeg (l1-dist, pchip)" in text and "average over metrics" in text


def test_an_unknown_metric_in_a_list_is_a_usage_error(store):
    env, db, dataset = store
    result = rdbench("bdrate", "--db", db, "--anchor", "jpeg", "--codec", "webp", "--dataset", dataset, "--metric",
                     "psnr-g,nope", env=env)
    assert result.returncode == 2 and "unknown metric 'nope'" in result.stderr and "Traceback" not in result.stderr


def test_a_set_averages_its_declared_members_and_a_list_all_of_its_metrics(monkeypatch):
    from rdbench import metric_spec

    monkeypatch.setitem(metric_spec.SETS, "trio", ("a", "b", "c"))
    monkeypatch.setitem(metric_spec.AVERAGED, "trio", ("b", "c"))
    assert metric_spec.averaged("trio") == ["b", "c"]
    assert metric_spec.averaged("trio,a") == ["b", "c", "a"]
    assert metric_spec.averaged(["x", "y"]) == ["x", "y"]
    assert metric_spec.AVERAGED["jpeg-ai"] == ("ms-ssim-y", "vif", "fsim", "nlpd", "iw-ssim", "vmaf", "psnr-hvs")


def test_a_one_minus_metric_is_labelled_as_shown(store):
    from rdbench import metric_spec

    env, _, _ = store
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RDBENCH_METRICS_PATH", env["RDBENCH_METRICS_PATH"])
        spec = metric_spec.get("l1-dist")
        assert spec.axis_label == "1 - L1" and spec.shown(0.25) == 0.75
        assert spec.value_text(0.75) == "1 - L1 0.750"


@pytest.mark.slow
def test_plot_draws_every_measured_metric(store, tmp_path):
    env, db, dataset = store
    for metric in ("l1-dist", "sat-db"):
        rdbench("plot", "--db", db, "--codec", "jpeg,webp", "--dataset", dataset, "--metric", metric, "--out",
                tmp_path, env=env, in_process=True, check=True)
        (figure,) = tmp_path.glob(f"rd_*_{metric}.png")
        assert figure.stat().st_size > 1000


@pytest.mark.slow  # two runs on three crops: about 6 s
def test_an_unavailable_metric_says_why_in_bdrate_plot_and_results(tmp_path):
    """VMAF cannot be measured here (``Metric.unavailable_reason``): its BD table's cells, ``plot --metric
    vmaf`` (a one-line usage error, exit 2) and ``results`` (beside the JPEG AI metrics it shows) say
    "unavailable here: <reason>", not that a curve is missing."""
    from rdbench import metric_spec

    reason = metric_spec.get("vmaf").unavailable_reason()
    assert reason
    crops = kodak_crops(tmp_path / "crops", 3, (0, 0, 192, 176))
    db = tmp_path / "rd.sqlite"
    for codec in ("jpeg", "webp"):
        rdbench("run", "--codec", codec, "--dataset", crops, "--quality", "30,60,90", "--db", db, "--metrics",
                "psnr-y", "-q", in_process=True, check=True)
    with sqlite3.connect(db) as conn:
        (dataset,) = conn.execute("SELECT DISTINCT dataset FROM records").fetchone()
    out = rdbench("bdrate", "--db", db, "--anchor", "jpeg", "--codec", "webp", "--dataset", dataset, "--metric",
                  "vmaf", "--format", "json", in_process=True)
    (cell,) = json.loads(out.stdout)["cells"]
    assert cell["reason"] == f"vmaf unavailable here: {reason}"
    text = rdbench("bdrate", "--db", db, "--anchor", "jpeg", "--codec", "webp", "--dataset", dataset, "--metric",
                   "psnr-y,vmaf", in_process=True).stdout
    assert f"vmaf unavailable here: {reason}" in text and "no vmaf curve" not in text
    plot = rdbench("plot", "--db", db, "--dataset", dataset, "--metric", "vmaf", "--out", tmp_path / "plots")
    assert plot.returncode == 2 and "Traceback" not in plot.stderr
    assert plot.stderr.splitlines()[0] == f"error: --metric vmaf: unavailable here: {reason}"
    assert not (tmp_path / "plots").exists() or not any((tmp_path / "plots").iterdir())
    results = rdbench("results", "--db", db, in_process=True, check=True)
    assert f"note: vmaf has no column: unavailable here: {reason}" in results.stderr
