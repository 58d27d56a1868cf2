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
    refused = rdbench("bdrate", "--db", db, "--anchor", "jpeg", "--codec", "webp", "--dataset", dataset,
                      "--aggregate", "dataset-mse", "--ci", "95", env=env)
    assert refused.returncode == 2 and "--ci" in refused.stderr and "Traceback" not in refused.stderr
