"""`rdbench import` / `rdbench export`: CompressAI and simple JSON curves, provenance, round trip, plots."""

from __future__ import annotations

import hashlib
import json
import math
import shutil

import pytest
from helpers import rdbench

from rdbench.errors import RdbenchError


def _bdrate(db, anchor, codecs, dataset="kodak", metric="psnr", status=0):
    result = rdbench("bdrate", "--anchor", anchor, "--codec", codecs, "--dataset", dataset, "--metric", metric,
                     "--format", "json", "--db", db, in_process=True)
    assert result.returncode == status, result.stderr  # 1: every cell is NaN
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def measured_db(measured_store):
    return measured_store.db


def test_compressai_file_imports_and_works_like_the_shipped_reference(reference_dir, tmp_path):
    src = reference_dir / "compressai_results" / "kodak" / "vtm.json"
    db = tmp_path / "rd.sqlite"
    result = rdbench("import", src, "--dataset", "kodak", "--name", "my-vtm", "--db", db, in_process=True, check=True)
    assert "imported my-vtm on kodak: 8 points (psnr, ms-ssim)" in result.stdout
    imported = _bdrate(db, "my-vtm", "mlicpp-paper,lic-tcm-large-paper")
    shipped = _bdrate(db, "compressai-vtm", "mlicpp-paper,lic-tcm-large-paper")
    for a, b in zip(imported["rows"], shipped["rows"]):
        assert a["kodak"] == pytest.approx(b["kodak"], abs=1e-12)
    # the stored source is the resolved path (../shared may be reached through a symbolic link)
    assert "imported from" in imported["anchor_info"] and str(src.resolve()) in imported["anchor_info"]

    from rdbench.store.sqlite import Store

    with Store(db, readonly=True) as store:
        curve = store.imported_curve("my-vtm", "kodak")
    assert curve["sha256"] == hashlib.sha256(src.read_bytes()).hexdigest()
    assert curve["source_file"] == str(src.resolve()) and curve["imported_at"]
    raw = json.loads(src.read_text())["results"]
    assert curve["ms_ssim_db"] == pytest.approx([-10 * math.log10(1 - v) for v in raw["ms-ssim-rgb"]])
    # a plot picks the imported curve up like a published one
    rdbench("plot", "--codec", "my-vtm,mlicpp-paper", "--out", tmp_path, "--db", db, in_process=True, check=True)
    assert (tmp_path / "rd_kodak_psnr.png").stat().st_size > 2000


@pytest.mark.parametrize("shape", ["list", "columns"])
def test_simple_json_with_linear_ms_ssim(tmp_path, shape):
    bpp, psnr, msssim = [0.2, 0.4, 0.8, 1.2], [29.0, 32.0, 35.5, 38.0], [0.93, 0.96, 0.98, 0.99]
    data = ([{"bpp": b, "psnr": p, "ms-ssim": m} for b, p, m in zip(bpp, psnr, msssim)] if shape == "list"
            else {"bpp": bpp, "psnr": psnr, "ms-ssim": msssim})
    src = tmp_path / "paper_curve.json"
    src.write_text(json.dumps(data))
    db = tmp_path / "rd.sqlite"
    rdbench("import", src, "--dataset", "tecnick", "--metric", "psnr", "--db", db, in_process=True, check=True)
    table = _bdrate(db, "vtm18-published", "paper_curve", dataset="tecnick")
    assert math.isfinite(table["rows"][0]["tecnick"])
    # --metric psnr kept PSNR only
    assert "no ms-ssim curve" in _bdrate(db, "paper_curve", "paper_curve", "tecnick", "ms-ssim", status=1)["notes"][0]
    result = rdbench("import", src, "--dataset", "tecnick", "--name", "both", "--db", db, in_process=True)
    assert "(psnr, ms-ssim)" in result.stdout


@pytest.mark.parametrize("content,args,words", [
    ('{"bpp": [0.1, 0.2]}', ["--dataset", "kodak"], "no quality values"),
    ('{"bpp": [0.1, 0.2], "psnr": [30]}', ["--dataset", "kodak"], "2 bpp values but 1"),
    ('{"bpp": [0.1, 0.2], "psnr": [30, 31]}', [], "does not say which dataset"),
    ('{"bpp": [0.1, 0.2], "psnr": [30, 31]}', ["--dataset", "kodak", "--name", "mlicpp-paper"], "shipped with rdbench"),
    ('{"bpp": [0.1, 0.2], "psnr": [30, 31]}', ["--dataset", "kodak", "--metric", "ms-ssim"], "has no ms-ssim"),
    ('{"bpp": [0.1, 0.2], "ms-ssim": [0.9, 31]}', ["--dataset", "kodak"], "must lie in (0, 1)"),
    ('{"bpp": [0.1, 0.2], "psnr": [30, 31]}', ["--dataset", "kodak", "--name", "a__b"], "not a usable curve name"),
    ("not json", ["--dataset", "kodak"], "not valid JSON"),
])
def test_clear_import_errors(tmp_path, content, args, words):
    src = tmp_path / "curve.json"
    src.write_text(content)
    result = rdbench("import", src, *args, "--db", tmp_path / "rd.sqlite", in_process=True)
    assert isinstance(result.exception, RdbenchError), result.stdout
    assert words in str(result.exception)


def test_reimport_is_idempotent_and_a_different_file_needs_replace(tmp_path):
    db, first, second = tmp_path / "rd.sqlite", tmp_path / "a.json", tmp_path / "b.json"
    first.write_text('{"bpp": [0.1, 0.2, 0.4], "psnr": [30, 32, 34]}')
    second.write_text('{"bpp": [0.1, 0.2, 0.4], "psnr": [31, 33, 35]}')
    for _ in range(2):
        rdbench("import", first, "--name", "x", "--dataset", "kodak", "--db", db, in_process=True, check=True)
    result = rdbench("import", second, "--name", "x", "--dataset", "kodak", "--db", db, in_process=True)
    assert "already imported" in str(result.exception) and "--replace" in result.exception.hint
    rdbench("import", second, "--name", "x", "--dataset", "kodak", "--replace", "--db", db, in_process=True, check=True)
    from rdbench.store.sqlite import Store

    with Store(db, readonly=True) as store:
        assert store.imported_curve("x", "kodak")["psnr"] == [31, 33, 35]


def test_export_round_trips_through_import(measured_db, tmp_path):
    db = tmp_path / "rd.sqlite"
    shutil.copy(measured_db, db)
    out = tmp_path / "exported"
    rdbench("export", "--out", out, "--db", db, in_process=True, check=True)
    crops = _stored_dataset(db)
    assert {p.name for p in out.iterdir()} == {f"jpeg__{crops}.json", f"webp__{crops}.json"}
    doc = json.loads((out / f"webp__{crops}.json").read_text())
    assert doc["name"] == "webp" and doc["dataset"] == crops
    assert {"bpp", "psnr-rgb", "ms-ssim-rgb", "encoding_time", "decoding_time"} <= set(doc["results"])
    assert len(doc["results"]["bpp"]) == 4

    from rdbench.analysis.aggregate import aggregate
    from rdbench.store.sqlite import Store

    with Store(db, readonly=True) as store:
        rows = aggregate(store.records(codecs=["webp"]))
    assert doc["results"]["psnr-rgb"] == pytest.approx([r["psnr"] for r in rows])
    assert doc["results"]["encoding_time"] == pytest.approx([r["encode_s"] for r in rows])

    # importing under the measured name is refused; under another name it equals the measured curve
    clash = rdbench("import", out / f"webp__{crops}.json", "--db", db, in_process=True)
    assert "measured in this database" in str(clash.exception)
    rdbench("import", out / f"webp__{crops}.json", "--name", "webp-exported", "--db", db, in_process=True, check=True)
    for metric in ("psnr", "ms-ssim"):
        table = _bdrate(db, "webp", "webp-exported,jpeg", crops, metric)
        rows = {r["codec"]: r for r in table["rows"]}
        assert rows["webp-exported"][crops] == pytest.approx(0.0, abs=1e-9)
        assert rows["webp-exported"][f"{crops} overlap"] == pytest.approx(1.0)
        assert "measured in" in table["anchor_info"]


def test_export_to_stdout_needs_a_single_pair(measured_db):
    result = rdbench("export", "--db", measured_db, in_process=True)
    assert "stdout takes one" in str(result.exception)
    result = rdbench("export", "--codec", "jpeg", "--db", measured_db, in_process=True, check=True)
    assert json.loads(result.stdout)["results"]["quality"] == ["20", "40", "60", "80"]


def test_per_image_plot(measured_db, tmp_path):
    rdbench("plot", "--per-image", "--dataset", "crops", "--metric", "ms-ssim", "--ext", "svg",
            "--out", tmp_path, "--db", measured_db, in_process=True, check=True)
    svg = (tmp_path / f"rd_{_stored_dataset(measured_db)}_ms-ssim_per_image.svg").read_text()
    assert "jpeg (mean of 3 images)" in svg and "webp (mean of 3 images)" in svg


def test_complexity_plot_from_stored_points(measured_db, tmp_path):
    db = tmp_path / "rd.sqlite"
    shutil.copy(measured_db, db)
    missing = rdbench("plot", "--complexity", "--out", tmp_path, "--db", db, in_process=True)
    assert "no complexity points" in str(missing.exception)
    rdbench("complexity", "--codec", "jpeg", "--sizes", "64,96", "--repeat", "1", "--in-process", "--db", db,
            in_process=True, check=True)
    rdbench("plot", "--complexity", "--out", tmp_path, "--db", db, in_process=True, check=True)
    assert (tmp_path / "complexity.png").read_bytes().startswith(b"\x89PNG")


def test_anchor_line_says_where_the_anchor_comes_from_and_what_is_missing(measured_db):
    table = _bdrate(measured_db, "jpeg", "webp", "crops,kodak")
    info = table["anchor_info"]
    assert info.startswith(f"anchor jpeg: {_stored_dataset(measured_db)}: measured in {measured_db} "
                           "(3 images, 4 qualities")
    assert "MISSING on kodak (psnr); published alternative: compressai-vtm, vtm17-rdbench, vtm18-published" in info
    assert any(n.endswith("] anchor jpeg has no psnr curve on kodak") for n in table["notes"])


def test_several_files_declaring_one_name_are_told_apart_by_stem(tmp_path):
    db = tmp_path / "rd.sqlite"
    for stem, offset in (("model_mse_cpu", 0.0), ("model_mse_cuda", 0.1)):
        (tmp_path / f"{stem}.json").write_text(json.dumps(
            {"name": "model", "results": {"bpp": [0.1, 0.3, 0.6], "psnr-rgb": [28 + offset, 31, 34]}}))
    (tmp_path / "other.json").write_text(json.dumps({"name": "Other Model", "bpp": [0.1, 0.3], "psnr": [27, 30]}))
    result = rdbench("import", *sorted(tmp_path.glob("*.json")), "--dataset", "kodak", "--db", db, in_process=True,
                     check=True)
    names = sorted(line.split()[1] for line in result.stdout.splitlines())
    assert names == ["model_mse_cpu", "model_mse_cuda", "other-model"]


def _stored_dataset(db) -> str:
    """The one dataset of a store built by build_store: the crops folder, stored as crops-<8 hex of its path>."""
    from rdbench.store.sqlite import Store

    with Store(db, readonly=True) as store:
        (name,) = {g["dataset"] for g in store.record_groups()}
    assert name.startswith("crops")
    return name
