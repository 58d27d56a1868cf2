"""Results as pandas DataFrames (`rdbench.load_records`, `load_curves`, `bd_frame`) on a store measured
with real JPEG and WebP runs: the same numbers as the store, the curve rule and the BD-rate table."""

from __future__ import annotations

import hashlib
import math
import shutil
from types import SimpleNamespace

import pytest

import rdbench

pd = pytest.importorskip("pandas")


@pytest.fixture(scope="module")
def measured(measured_store):
    return measured_store.db, measured_store.dataset


def test_load_records_one_row_per_record_with_every_field(measured, tmp_path):
    db, dataset = measured
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    frame = rdbench.load_records(db)
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before, "opened read-only"
    with rdbench.Store(db, readonly=True) as store:
        records = store.find_records(status="ok")
    assert len(frame) == len(records) == 2 * 3 * 4  # two codecs, three images, four qualities
    for column in ("codec", "config_hash", "quality", "dataset", "image", "height", "width", "bpp", "psnr", "ms_ssim",
                   "ms_ssim_db", "encode_s", "decode_s", "peak_mem_bytes", "device", "weights", "status", "error",
                   "rdbench_version", "codec_library", "codec_version", "git_commit", "machine", "gpu",
                   "created_at", "extra"):
        assert column in frame.columns, column
    assert str(frame["created_at"].dtype).startswith("datetime64") and str(frame["height"].dtype) == "Int64"
    by_key = {(r.codec, int(r.quality), r.image): r for r in records}
    for row in frame.itertuples():
        record = by_key[(row.codec, row.quality, row.image)]
        assert row.bpp == record.bpp and row.psnr == record.psnr and row.codec_version == record.codec_version
        assert row.extra == record.extra and row.dataset == dataset
    # sorted by codec, then quality numerically
    jpeg = frame[frame.codec == "jpeg"]
    assert list(dict.fromkeys(jpeg.quality)) == [20, 40, 60, 80]
    # the per-quality means are rdbench's (results, curves)
    means = frame.groupby(["codec", "quality"])[["bpp", "psnr"]].mean()
    for row in rdbench.aggregate(records):
        key = (row["codec"], int(row["quality"]))
        assert means.loc[key, "bpp"] == pytest.approx(row["bpp"], rel=1e-12)
        assert means.loc[key, "psnr"] == pytest.approx(row["psnr"], rel=1e-12)
    # a read-only folder works as for every command
    folder = tmp_path / "ro"
    folder.mkdir()
    shutil.copy(db, folder / "rd.sqlite")
    folder.chmod(0o555)
    try:
        assert len(rdbench.load_records(folder / "rd.sqlite")) == len(frame)
    finally:
        folder.chmod(0o755)


def test_load_records_filters_and_extra(measured, tmp_path):
    db, dataset = measured
    copy = tmp_path / "rd.sqlite"
    shutil.copy(db, copy)
    with rdbench.Store(copy) as store:
        store.put(rdbench.Record("jpeg", "f" * 16, "50", dataset, "bad.png", "0" * 64, status="failed",
                                 error="broken", extra={"commands": ["a", "b"], "tool": {"version": "1.2"}}))
    assert len(rdbench.load_records(copy, status="failed")) == 1
    every = rdbench.load_records(copy, status=None)
    assert len(every) == 25 and set(every.status) == {"ok", "failed"}
    failed = every[every.status == "failed"].iloc[0]
    assert failed.error == "broken" and pd.isna(failed.bpp) and pd.isna(failed.height)
    expanded = rdbench.load_records(copy, codecs="jpeg", status="failed", expand_extra=True)
    assert "extra" not in expanded.columns and expanded["extra.tool.version"].iloc[0] == "1.2"
    assert expanded["extra.commands"].iloc[0] == ["a", "b"]
    # names and selectors as everywhere; the folder's name finds its stored dataset
    config = rdbench.load_records(copy, codecs=["webp"]).config_hash.iloc[0]
    assert len(rdbench.load_records(copy, codecs=[f"webp@{config[:6]}"], datasets="crops")) == 12
    assert rdbench.load_records(copy, codecs=["jpeg@cpu"]).codec.unique().tolist() == ["jpeg"]
    with pytest.raises(rdbench.RdbenchError, match="unknown dataset 'kodac'"):
        rdbench.load_records(copy, datasets=["kodac"])


def test_load_curves_follows_the_curve_rule(measured):
    db, dataset = measured
    curves = rdbench.load_curves(db, ["jpeg", "webp", "mlicpp-paper", "vtm17"], [dataset, "kodak"], ["psnr", "ms-ssim"])
    assert set(curves.columns) >= {"name", "dataset", "metric", "source", "quality", "bpp", "value", "origin"}
    with rdbench.Store(db, readonly=True) as store:
        for name in ("jpeg", "webp"):
            for metric in ("psnr", "ms-ssim"):
                got = curves[(curves.name == name) & (curves.metric == metric)]
                assert list(zip(got.bpp, got.value)) == rdbench.curve(store, name, dataset, metric)
                assert set(got.source) == {"measured"} and list(got.quality) == ["20", "40", "60", "80"]
                assert set(got.images) == {3}
    paper = curves[curves.name == "mlicpp-paper"]
    assert set(paper.source) == {"published"} and set(paper.dataset) == {"kodak"}
    assert ("mlicpp-paper", dataset, "psnr") in curves.attrs["missing"]
    vtm = curves[(curves.name == "vtm17") & (curves.metric == "psnr")]
    assert set(vtm.fallback) == {"vtm17-rdbench"} and vtm.quality.tolist()[0] == "QP 47"
    assert vtm.value.tolist() == [p[1] for p in rdbench.curve(None, "vtm17-rdbench", "kodak", "psnr")]
    # defaults: every measured codec on every stored dataset; shipped curves alone need no database
    default = rdbench.load_curves(db)
    assert set(default.name) == {"jpeg", "webp"} and set(default.metric) == {"psnr"}
    shipped = rdbench.load_curves(None, "mlic-paper,mlicpp-paper", "kodak,tecnick")
    assert shipped.groupby("name").dataset.nunique().to_dict() == {"mlic-paper": 2, "mlicpp-paper": 2}
    # a pivot gives a curve per column
    wide = default[default.name == "jpeg"].pivot(index="quality", columns="metric", values="value")
    assert wide.shape == (4, 1)


def test_bd_frame_holds_the_table(measured):
    db, dataset = measured
    with rdbench.Store(db, readonly=True) as store:
        table = rdbench.bd_table(store, "jpeg", ["webp", "mlicpp-paper"], [dataset, "kodak"])
    frame = rdbench.bd_frame(table)
    assert len(frame) == 4 and {"codec", "dataset", "value", "overlap", "note", "config"} <= set(frame.columns)
    for row in table.rows:
        for d in (dataset, "kodak"):
            cell = frame[(frame.codec == row["codec"]) & (frame.dataset == d)].iloc[0]
            if math.isnan(row[d]):
                assert math.isnan(cell.value) and cell.note
            else:
                assert cell.value == row[d] and cell.overlap == row[f"{d} overlap"] and pd.isna(cell.note)
    cells = frame.set_index(["codec", "dataset"])
    assert "anchor jpeg has no psnr curve on kodak" in cells.loc[("webp", "kodak"), "note"]
    wide = frame.pivot(index="codec", columns="dataset", values="value")
    assert wide.loc["webp", dataset] == table.rows[0][dataset]
    assert frame.attrs["anchor_info"] == table.anchor_info and frame.attrs["notes"] == table.notes


def test_bd_frame_carries_fields_it_does_not_know():
    """Fields a table may gain (intervals, error estimates) come through, per dataset and per row."""
    from rdbench.analysis.dataframes import table_datasets

    table = SimpleNamespace(
        rows=[{"codec": "a", "config": "x", "my set": 1.5, "my set overlap": 0.9, "my set ci_low": 1.0,
               "tecnick": float("nan"), "tecnick overlap": float("nan"), "tecnick ci_low": None}],
        columns=["codec", "config", "my set", "my set overlap", "tecnick", "tecnick overlap"],
        notes=["[1] no curve"], marks=[{"tecnick": "1"}], anchor_info="anchor", info=[], curves=[])
    assert table_datasets(table.columns) == ["my set", "tecnick"]
    frame = rdbench.bd_frame(table)
    assert frame.set_index("dataset").loc["my set", "ci_low"] == 1.0
    assert frame.set_index("dataset").loc["tecnick", "note"] == "no curve"


def test_load_records_quality_is_a_number_that_sorts_numerically(tmp_path):
    """Issue 27 item 7: quality 0, 1, 2, 10, 20 pivots in that order, not as text (0, 1, 10, 2, 20)."""
    from helpers import kodak_crops
    from helpers import rdbench as cli

    crops = kodak_crops(tmp_path / "crops", 1, (0, 0, 64, 64))
    db = tmp_path / "rd.sqlite"
    cli("run", "--codec", "jpeg", "--dataset", crops, "--quality", "20,1,10,2,5", "--db", db, "--quiet",
        in_process=True, check=True)
    frame = rdbench.load_records(db)
    assert str(frame.quality.dtype) == "int64"
    assert frame.quality.tolist() == [1, 2, 5, 10, 20]
    wide = frame.pivot(index="quality", columns="codec", values="bpp")
    assert wide.index.tolist() == [1, 2, 5, 10, 20] and wide.jpeg.is_monotonic_increasing
    assert frame.sort_values("quality").quality.tolist() == [1, 2, 5, 10, 20]


def test_bd_frame_note_says_why_the_interval_is_nan():
    """Issue 27 item 7: a finite value whose bootstrap interval is NaN carries the interval's reason in
    ``note`` (not only in ``attrs['cells']``)."""
    table = rdbench.bd_table(None, "vtm18-published", ["mlicpp-paper"], ["kodak"], ci=95)
    frame = rdbench.bd_frame(table)
    (row,) = frame.itertuples()
    assert math.isfinite(row.value) and math.isnan(row.ci_low) and math.isnan(row.ci_high)
    assert row.note == table.cells[0]["ci_reason"]
    assert "no bootstrap interval" in row.note and "published curve" in row.note
