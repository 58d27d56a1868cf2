"""The shipped JPEG AI metrics end to end (issue 25): run, results, BD per metric and their average,
rescore, on real JPEG and WebP of three Kodak crops at four qualities, a real store.

jpeg is run with ``--metrics jpeg-ai``; webp with the set less PSNR-HVS, which ``rescore`` then adds
from the kept bitstreams. The average is checked against a computation written here: per image and
metric the ``bjontegaard`` package's pchip BD-rate (NLPD as 1 - NLPD), the mean over images, the mean
over the six metrics measured (VMAF is unavailable here and named so); PSNR-HVS values added by the
rescore against the metric computed here on the bitstreams decoded again (libjpeg-turbo, libwebp
through imagecodecs, as the codecs decode), from a Y' conversion written here with numpy.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from helpers import kodak_crops, rdbench, stored_metric_points

bjontegaard = pytest.importorskip("bjontegaard")
pytestmark = pytest.mark.slow  # six runs' worth of metrics on 24 reconstructions: about 15 s

QUALITIES = "20,40,60,80"
AVERAGED = ("ms-ssim-y", "vif", "fsim", "nlpd", "iw-ssim", "psnr-hvs")
WITHOUT_HVS = "psnr-y,psnr-u,psnr-v,psnr-yuv,ms-ssim-y,iw-ssim,vif,fsim,nlpd"


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> tuple[Path, Path, str, Path]:
    """(database, crops, dataset, bitstream folder) after the runs and the rescore."""
    root = tmp_path_factory.mktemp("jpegai-e2e")
    crops = kodak_crops(root / "crops", 3, (0, 0, 192, 176))
    db, kept = root / "rd.sqlite", root / "bitstreams"
    for codec, metrics in (("jpeg", "jpeg-ai"), ("webp", WITHOUT_HVS)):
        rdbench("run", "--codec", codec, "--dataset", crops, "--quality", QUALITIES, "--db", db, "--metrics", metrics,
                "--keep-bitstreams", kept, "-q", in_process=True, check=True)
    with sqlite3.connect(db) as conn:
        (dataset,) = conn.execute("SELECT DISTINCT dataset FROM records").fetchone()
        assert conn.execute("SELECT COUNT(*) FROM metric_values WHERE metric = 'psnr-hvs'").fetchone() == (12,)
    rdbench("rescore", "--metrics", "psnr-hvs", "--codec", "webp", "--dataset", crops, "--db", db, "-q",
            in_process=True, check=True)
    return db, crops, dataset, kept


def _per_image(db: Path, codec: str, metric: str) -> dict[str, np.ndarray]:
    """image -> (bpp, value as integrated) per quality, read with SQL."""
    return {image: np.array([(bpp, 1 - value if metric == "nlpd" else value) for bpp, value in points])
            for image, points in stored_metric_points(db, codec, metric).items()}


def test_results_show_a_column_per_metric(store):
    db, _, dataset, _ = store
    rows = json.loads(rdbench("results", "--db", db, "--dataset", dataset, "--format", "json", in_process=True,
                              check=True).stdout)
    assert len(rows) == 8
    for row in rows:
        for metric in (*AVERAGED, "psnr-y", "psnr-u", "psnr-v", "psnr-yuv"):
            assert np.isfinite(row[metric]), (row["codec"], row["quality"], metric)
    text = rdbench("results", "--db", db, "--dataset", dataset, in_process=True, check=True).stdout
    assert all(name in text.splitlines()[0] for name in ("psnr-hvs", "iw-ssim", "nlpd", "psnr-yuv"))


def test_bdrate_prints_a_table_per_metric_and_the_jpeg_ai_average_of_per_image_bd_rates(store):
    db, _, dataset, _ = store
    args = ("bdrate", "--db", db, "--anchor", "jpeg", "--codec", "webp", "--dataset", dataset, "--metric", "jpeg-ai")
    out = json.loads(rdbench(*args, "--format", "json", in_process=True, check=True).stdout)
    assert [t["metric"] for t in out["tables"]] == ["psnr-y", "psnr-u", "psnr-v", "psnr-yuv", "ms-ssim-y", "iw-ssim",
                                                    "vif", "fsim", "nlpd", "psnr-hvs", "vmaf"]
    (row,) = out["average"]
    assert row["metrics"] == "6/7" and row["complete"] is False
    assert list(row["left_out"]) == ["vmaf"] and row["left_out"]["vmaf"].startswith("unavailable here: ")
    expected = {}
    for metric in AVERAGED:
        anchor, test = _per_image(db, "jpeg", metric), _per_image(db, "webp", metric)
        assert len(anchor) == len(test) == 3
        expected[metric] = float(np.mean([
            bjontegaard.bd_rate(anchor[i][:, 0], anchor[i][:, 1], test[i][:, 0], test[i][:, 1], method="pchip",
                                require_matching_points=False, min_overlap=0) for i in anchor]))
        assert row[metric] == pytest.approx(expected[metric], abs=1e-6), metric
    assert row["average"] == pytest.approx(np.mean(list(expected.values())), abs=1e-6)
    text = rdbench(*args, in_process=True, check=True).stdout
    assert text.count("BD-rate (%) vs jpeg (") == 11 and "average over metrics" in text
    assert "vmaf left out of the average (unavailable here: " in text


def _luma_unit(rgb: np.ndarray) -> np.ndarray:
    """Y' in [0, 1] as JPEG AI's framework makes it (float32, 10-bit rounding before and after)."""
    f = np.float32
    x = np.round(rgb.astype(f) / f(255) * f(1023)) / f(1023)
    y = f(0.2126) * x[..., 0] + f(0.7152) * x[..., 1] + f(0.0722) * x[..., 2]
    return np.round(np.clip(y, 0, 1) * f(1023)) / f(1023)


def test_rescore_adds_psnr_hvs_equal_to_the_metric_on_the_decoded_bitstreams(store):
    import imagecodecs
    import psnr_hvsm
    from PIL import Image

    db, crops, _, _ = store
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT r.image, r.extra, v.value FROM records r JOIN metric_values v ON v.record_id = r.id "
                            "WHERE r.codec = 'webp' AND v.metric = 'psnr-hvs'").fetchall()
    assert len(rows) == 12
    for image, extra, value in rows:
        decoded = np.asarray(imagecodecs.webp_decode(Path(json.loads(extra)["bitstream"]).read_bytes()))[..., :3]
        original = np.asarray(Image.open(crops / image).convert("RGB"))
        a, b = (np.pad(_luma_unit(i), ((0, -i.shape[0] % 8), (0, -i.shape[1] % 8)), mode="edge").astype(np.float64)
                for i in (original, decoded))
        backend = getattr(psnr_hvsm, "BACKENDS", None)
        hvs = backend["cpp"]["psnr_hvs_hvsm"] if backend else psnr_hvsm.psnr_hvs_hvsm
        assert value == pytest.approx(float(hvs(a, b)[0]), rel=1e-9), image
