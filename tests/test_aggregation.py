"""Aggregation over images stated and selectable (issue 25, item 5): ``--aggregate dataset-mse`` checked
against numpy computed here from the stored records, on real JPEG crops of different sizes (so pooling
and averaging differ), with a PSNR-like plug-in (``psnr_peak``) and a lower-is-better one."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from declared_metrics import declare
from helpers import SHARED, rdbench

BOXES = [(0, 0, 176, 176), (0, 0, 320, 240), (100, 50, 300, 450)]  # three sizes: pooling weighs them


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> tuple[dict[str, str], Path, str]:
    kodak = SHARED / "datasets" / "kodak"
    if not kodak.is_dir():
        pytest.skip(f"{kodak} is absent: the real Kodak images are needed")
    from PIL import Image

    root = tmp_path_factory.mktemp("aggregation")
    env = declare(root / "metrics")
    crops = root / "crops"
    crops.mkdir()
    for path, box in zip(sorted(kodak.glob("*.png"))[:3], BOXES):
        Image.open(path).crop(box).save(crops / path.name)
    db = root / "rd.sqlite"
    for codec in ("jpeg", "webp"):
        rdbench("run", "--codec", codec, "--dataset", crops, "--quality", "20,40,60,80", "--db", db, "--metrics",
                "psnr-g,l1-dist", "-q", env=env, in_process=True, check=True)
    with sqlite3.connect(db) as conn:
        (dataset,) = conn.execute("SELECT DISTINCT dataset FROM records").fetchone()
    return env, db, dataset


def _numpy_points(db: Path, codec: str, metric: str | None) -> list[tuple[float, float]]:
    """(all bits / all pixels, pooled value) per quality, computed with numpy from the records."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT r.quality, r.num_bytes, r.height * r.width, r.mse, v.value FROM records r "
                            "LEFT JOIN metric_values v ON v.record_id = r.id AND v.metric = ? WHERE r.codec = ?",
                            (metric or "", codec)).fetchall()
    points = []
    for quality in sorted({r[0] for r in rows}, key=float):
        q = np.array([r[1:] for r in rows if r[0] == quality], dtype=float)
        nbytes, pixels, mse, value = q.T
        bpp = 8 * nbytes.sum() / pixels.sum()
        if metric is None:  # the built-in PSNR from the records' MSE
            shown = 10 * np.log10(255 ** 2 / np.average(mse, weights=pixels))
        elif metric == "psnr-g":
            shown = 10 * np.log10(255 ** 2 / np.average(255 ** 2 * 10 ** (-value / 10), weights=pixels))
        else:
            shown = 1 - np.average(value, weights=pixels)
        points.append((bpp, shown))
    return points


@pytest.mark.parametrize("metric", [None, "psnr-g", "l1-dist"])
def test_dataset_mse_points_equal_numpy_pooling_of_the_records(store, metric):
    import rdbench as library
    from rdbench import metric_spec

    env, db, dataset = store
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RDBENCH_METRICS_PATH", env["RDBENCH_METRICS_PATH"])
        name = metric or metric_spec.DEFAULT
        frame = library.load_curves(db, ["jpeg"], [dataset], name, aggregate="dataset-mse")
        plain = library.load_curves(db, ["jpeg"], [dataset], name)
    assert frame.attrs["aggregation"] == "dataset-mse" and plain.attrs["aggregation"] == "image-mean"
    expected = np.array(_numpy_points(db, "jpeg", metric))
    assert np.allclose(frame[["bpp", "value"]].to_numpy(), expected, rtol=1e-12, atol=1e-12)
    assert not np.allclose(plain["value"].to_numpy(), expected[:, 1], rtol=1e-6)  # the sizes make them differ


def test_every_output_states_its_aggregation(store, tmp_path):
    from rdbench.analysis.bdrate import bd_rate

    env, db, dataset = store
    out = json.loads(rdbench("bdrate", "--db", db, "--anchor", "jpeg", "--codec", "webp", "--dataset", dataset,
                             "--metric", "psnr-g", "--aggregate", "dataset-mse", "--format", "json", env=env,
                             in_process=True, check=True).stdout)
    assert out["aggregation"] == "dataset-mse" and any("aggregate dataset-mse" in line for line in out["protocol"])
    (cell,) = out["cells"]
    expected = bd_rate(_numpy_points(db, "jpeg", "psnr-g"), _numpy_points(db, "webp", "psnr-g")).value
    assert cell["bd_rate"] == pytest.approx(expected, abs=1e-9)
    default = rdbench("bdrate", "--db", db, "--anchor", "jpeg", "--codec", "webp", "--dataset", dataset, env=env,
                      in_process=True, check=True).stdout
    assert "aggregate image-mean" in default
    results = rdbench("results", "--db", db, "--aggregate", "dataset-mse", "--format", "json", env=env,
                      in_process=True, check=True)
    assert "aggregate dataset-mse" in results.stderr
    assert {row["aggregation"] for row in json.loads(results.stdout)} == {"dataset-mse"}


def _numpy_resample_points(db: Path, codec: str, metric: str | None, drawn: list[str]) -> list[tuple[float, float]]:
    """:func:`_numpy_points` of the images ``drawn`` (with repeats: an image drawn twice counts twice)."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT r.quality, r.image, r.num_bytes, r.height * r.width, r.mse, v.value FROM records r "
                            "LEFT JOIN metric_values v ON v.record_id = r.id AND v.metric = ? WHERE r.codec = ?",
                            (metric or "", codec)).fetchall()
    points = []
    for quality in sorted({r[0] for r in rows}, key=float):
        by_image = {r[1]: r[2:] for r in rows if r[0] == quality}
        nbytes, pixels, mse, value = np.array([by_image[image] for image in drawn], dtype=float).T
        bpp = 8 * nbytes.sum() / pixels.sum()
        if metric is None:
            shown = 10 * np.log10(255 ** 2 / np.average(mse, weights=pixels))
        elif metric == "psnr-g":
            shown = 10 * np.log10(255 ** 2 / np.average(255 ** 2 * 10 ** (-value / 10), weights=pixels))
        else:
            shown = 1 - np.average(value, weights=pixels)
        points.append((bpp, min(shown, 100.0)))
    return points


@pytest.mark.parametrize("metric", [None, "psnr-g", "l1-dist"])
def test_dataset_mse_bootstrap_pools_each_resample(store, metric):
    """``--ci`` under ``dataset-mse``: every resample's curves are the drawn images pooled (numpy here, from
    the records, with the draws of the same seed), the interval is their percentiles, and the table's value
    is the BD value of the undrawn pooled curves."""
    from rdbench import metric_spec
    from rdbench.analysis.bdrate import BdRateError, bd_rate

    env, db, dataset = store
    resamples, seed = 400, 3
    out = json.loads(rdbench("bdrate", "--db", db, "--anchor", "jpeg", "--codec", "webp", "--dataset", dataset,
                             "--metric", metric or metric_spec.DEFAULT, "--aggregate", "dataset-mse", "--ci", "95",
                             "--bootstrap", str(resamples), "--seed", str(seed), "--format", "json", env=env,
                             in_process=True, check=True).stdout)
    (cell,) = out["cells"]
    assert any("pooled again" in line for line in out["protocol"])
    with sqlite3.connect(db) as conn:  # the bootstrap draws indices into the comparison's images, sorted by name
        images = sorted(i for (i,) in conn.execute("SELECT DISTINCT image FROM records"))
    draws = np.random.default_rng(seed).integers(0, len(images), size=(resamples, len(images)))
    values = []
    for draw in draws:
        drawn = [images[i] for i in draw]
        try:
            values.append(bd_rate(_numpy_resample_points(db, "jpeg", metric, drawn),
                                  _numpy_resample_points(db, "webp", metric, drawn)).value)
        except BdRateError:  # a resample whose curves are not monotonic: left out, as the table leaves it out
            continue
    low, high = np.percentile(values, [2.5, 97.5])
    assert cell["ci_low"] == pytest.approx(low, rel=1e-9, abs=1e-9)
    assert cell["ci_high"] == pytest.approx(high, rel=1e-9, abs=1e-9)
    assert cell.get("ci_failed", 0) == resamples - len(values)
    whole = bd_rate(_numpy_resample_points(db, "jpeg", metric, images),
                    _numpy_resample_points(db, "webp", metric, images)).value
    assert cell["bd_rate"] == pytest.approx(whole, abs=1e-9)
    assert cell["ci_low"] <= cell["bd_rate"] <= cell["ci_high"]


def test_dataset_mse_bootstrap_point_is_the_table_value(store):
    """The bootstrap's curves with every image drawn once are the table's pooled curves, so the value the
    interval is about is the table's."""
    import rdbench as library
    from rdbench.analysis.aggregate import aggregation
    from rdbench.analysis.bootstrap import batch_bd, paired_images
    from rdbench.analysis.curves import select_measured
    from rdbench.analysis.image_sets import common_images
    from rdbench.store.sqlite import Store

    env, db, dataset = store
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RDBENCH_METRICS_PATH", env["RDBENCH_METRICS_PATH"])
        for metric in ("psnr", "ms-ssim", "psnr-g", "l1-dist"):
            with Store(db, readonly=True) as opened, aggregation("dataset-mse"):
                table = library.bd_table(opened, "jpeg", ["webp"], [dataset], metric=metric, aggregate="dataset-mse")
                jpeg, webp = select_measured(opened, "jpeg", dataset), select_measured(opened, "webp", dataset)
                images = common_images(jpeg, webp, metric)
                data = paired_images(jpeg, webp, metric, images)
                points = jpeg.points(metric, images), webp.points(metric, images)
            n = len(data.images)
            a_rate, a_q, t_rate, t_q = data.curves(np.full((1, n), 1 / n))
            assert np.allclose(np.column_stack([a_rate[0], a_q[0]]), points[0], rtol=1e-12, atol=0)
            assert np.allclose(np.column_stack([t_rate[0], t_q[0]]), points[1], rtol=1e-12, atol=0)
            assert batch_bd(a_rate, a_q, t_rate, t_q)[0] == pytest.approx(table.cells[0].value, abs=1e-9)


@pytest.mark.parametrize("aggregate", ["image-mean", "dataset-mse"])
def test_report_states_the_aggregation_in_every_rd_figure_caption(store, tmp_path, aggregate):
    """Every RD figure of the report says how its points aggregate the images (not only the tables), and
    the BD tables carry bootstrap intervals under either aggregation."""
    import re
    from html import unescape

    env, db, dataset = store
    out = tmp_path / "report.html"
    rdbench("report", "--db", db, "--anchor", "jpeg", "--codec", "webp", "--metric", "psnr,psnr-g",
            "--aggregate", aggregate, "--out", out, env=env, in_process=True, check=True)
    html = out.read_text()
    curves = html[html.index('id="curves"'):]
    captions = [unescape(c) for c in re.findall(r"<figure id=\"fig-\d+\"[^>]*>.*?<figcaption>(.*?)</figcaption>",
                                                curves, flags=re.S)]
    rd = [c for c in captions if "against bpp." in c and ": per-image " not in c]
    assert len(rd) == 2  # one dataset, two metrics
    assert all(f"Aggregate {aggregate}:" in c for c in captions), captions
    other = "dataset-mse" if aggregate == "image-mean" else "image-mean"
    assert not any(f"aggregate {other}" in c.lower() for c in captions)
    bd = html[html.index('id="bdrate-psnr"'):html.index('id="curves"')]
    assert re.search(r"-?\d+\.\d\d % \[-?\d+\.\d\d, -?\d+\.\d\d\]", bd)  # the value with its interval
