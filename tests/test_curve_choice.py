"""Which records make a measured codec's curve (issue "No silent wrong numbers", defect 3), and the
analysis commands' other silent-wrong-number paths: deleting records (defect 4), lossless images
(PSNR = inf, defect 5), typos, imported curves shadowed by measured ones, and the report notebook.

The rule (``rdbench.analysis.curves.select_measured``): one configuration of the codec on the
dataset -> it; several -> the codec's current configuration, with a note naming the others; else
a refusal listing them. ``codec@HASH`` chooses explicitly; a quality measured with two weights or
on two devices is refused.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from helpers import kodak_crops, rdbench

from rdbench.analysis.bdrate import bd_rate
from rdbench.errors import RdbenchError, UsageError

LAB_NO_OPTIMIZE = """
name = "jpeg"
adapter = "imagecodecs"
description = "JPEG without optimized Huffman tables (a lab's variant)"
qualities = [30, 50, 70]
[params]
format = "jpeg8"
quality_arg = "level"
options = { subsampling = "420", optimize = false }
"""

LAB_444 = LAB_NO_OPTIMIZE.replace('subsampling = "420", optimize = false', 'subsampling = "444", optimize = true')


def _strict_json(text: str):
    """json.loads that refuses NaN and Infinity (which are not JSON)."""
    def refuse(name):
        raise ValueError(f"not JSON: {name}")
    return json.loads(text, parse_constant=refuse)


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "RDBENCH_CODECS_PATH"}
    env.update(extra)
    return env


def _lab(root: Path, name: str, text: str) -> dict[str, str]:
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "jpeg.toml").write_text(text)
    return _env(RDBENCH_CODECS_PATH=str(folder))


def _query(db: Path, sql: str, params: tuple = ()) -> list[tuple]:
    conn = sqlite3.connect(db)
    try:
        with conn:
            return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def _dataset(db: Path) -> str:
    (name,) = {row[0] for row in _query(db, "SELECT DISTINCT dataset FROM records")}
    return name


def _hashes(db: Path, codec: str = "jpeg") -> dict[str, int]:
    return dict(_query(db, "SELECT config_hash, COUNT(*) FROM records WHERE codec = ? GROUP BY config_hash",
                       (codec,)))


def _direct_curve(db: Path, codec: str, config_hash: str, dataset: str):
    """Per-quality mean (bpp, psnr) of one configuration, computed here from the records."""
    rows = _query(db, "SELECT quality, AVG(bpp), AVG(psnr) FROM records WHERE codec = ? AND config_hash = ? "
                      "AND dataset = ? AND status = 'ok' GROUP BY quality", (codec, config_hash, dataset))
    return [(b, p) for _, b, p in rows]


def _bdrate(db, anchor, codecs, dataset, *extra, env=None):
    result = rdbench("bdrate", "--anchor", anchor, "--codec", codecs, "--dataset", dataset, "--format", "json",
                     *extra, "--db", db, in_process=True, env=env)
    return result


@pytest.fixture(scope="module")
def base_db(measured_store):
    """jpeg (shipped configuration) and webp on three real Kodak crops at 20, 40, 60, 80."""
    return measured_store.db


@pytest.fixture(scope="module")
def two_configs(base_db, measured_store, tmp_path_factory):
    """base_db plus jpeg re-run from a lab TOML (optimize = false) at 30, 50, 70, then at 5."""
    root = tmp_path_factory.mktemp("two")
    db = root / "rd.sqlite"
    shutil.copy(base_db, db)
    shutil.copytree(measured_store.crops, root / "crops")
    lab = _lab(root, "lab", LAB_NO_OPTIMIZE)
    rdbench("run", "--codec", "jpeg", "--dataset", measured_store.crops, "--quality", "30,50,70", "--db", db,
            "--quiet", env=lab, in_process=True, check=True)
    before = db.parent / "before_q5.sqlite"
    shutil.copy(db, before)
    rdbench("run", "--codec", "jpeg", "--dataset", measured_store.crops, "--quality", "5", "--db", db,
            "--quiet", env=lab, in_process=True, check=True)
    hashes = _hashes(db)
    assert len(hashes) == 2
    from rdbench.codecs.registry import resolve_codecs

    shipped = resolve_codecs("jpeg")[0].config_hash
    (other,) = set(hashes) - {shipped}
    return {"db": db, "before": before, "lab": lab, "root": root, "shipped": shipped, "other": other,
            "dataset": _dataset(base_db), "counts": hashes}


# -- defect 3: one rule decides which configuration makes the curve ---------------------------------------------


def test_a_point_of_another_configuration_does_not_move_the_bd_rate(two_configs):
    """The 49 -> 57 % scenario: one q=5 point added to a second jpeg configuration used to switch the curve
    (the configuration of the first aggregated row won)."""
    c, ds = two_configs, two_configs["dataset"]
    values = []
    for db in (c["before"], c["db"]):
        result = _bdrate(db, "webp", "jpeg", ds, env=_env())
        assert result.returncode == 0, result.exception
        values.append(json.loads(result.stdout))
    expected = bd_rate(_direct_curve(c["db"], "webp", _hashes(c["db"], "webp").popitem()[0], ds),
                       _direct_curve(c["db"], "jpeg", c["shipped"], ds)).value
    assert [t["rows"][0][ds] for t in values] == pytest.approx([expected, expected], abs=1e-9)
    assert [t["rows"][0]["config"] for t in values] == [c["shipped"][:8]] * 2
    # the note says a second configuration is stored, which one was used, and how to choose
    info = " ".join(values[1]["info"])
    assert c["shipped"][:8] in info and c["other"][:8] in info and "current" in info
    assert f"jpeg@{c['other'][:8]}" in info


def test_the_current_configuration_follows_rdbench_codecs_path(two_configs):
    c, ds = two_configs, two_configs["dataset"]
    result = _bdrate(c["db"], "webp", "jpeg", ds, env=c["lab"])
    assert result.returncode == 0, result.exception
    row = json.loads(result.stdout)["rows"][0]
    webp = _direct_curve(c["db"], "webp", _hashes(c["db"], "webp").popitem()[0], ds)
    assert row[ds] == pytest.approx(bd_rate(webp, _direct_curve(c["db"], "jpeg", c["other"], ds)).value, abs=1e-9)
    assert row["config"] == c["other"][:8]


def test_no_current_configuration_is_refused_with_the_choices(two_configs):
    c, ds = two_configs, two_configs["dataset"]
    third = _lab(c["root"], "lab444", LAB_444)
    result = _bdrate(c["db"], "webp", "jpeg", ds, env=third)
    assert isinstance(result.exception, RdbenchError), result.stdout
    text = f"{result.exception} {result.exception.hint}"
    for config_hash, count in c["counts"].items():
        assert config_hash[:8] in text and f"{count} records" in text
    assert "optimize" in text  # the parameter that differs
    assert "jpeg@" in text and "--delete" in text
    # an explicit choice works whatever the current configuration
    chosen = _bdrate(c["db"], "webp", f"jpeg@{c['shipped'][:6]}", ds, env=third)
    assert chosen.returncode == 0, chosen.exception
    row = json.loads(chosen.stdout)["rows"][0]
    assert row["codec"] == f"jpeg@{c['shipped'][:6]}" and row["config"] == c["shipped"][:8]
    same = json.loads(_bdrate(c["db"], "webp", "jpeg", ds, env=_env()).stdout)["rows"][0]
    assert row[ds] == pytest.approx(same[ds], abs=1e-12)
    # as the anchor too
    anchored = _bdrate(c["db"], f"jpeg@{c['other']}", "webp", ds, env=third)
    assert anchored.returncode == 0, anchored.exception
    assert c["other"] in json.loads(anchored.stdout)["anchor_info"]


def test_an_unknown_hash_prefix_is_a_usage_error_listing_the_hashes(two_configs):
    c = two_configs
    result = _bdrate(c["db"], "webp", "jpeg@0000zz", c["dataset"], env=_env())
    assert isinstance(result.exception, UsageError), result.stdout
    text = f"{result.exception} {result.exception.hint}"
    assert c["shipped"][:8] in text and c["other"][:8] in text


def test_an_ambiguous_hash_prefix_is_refused(tmp_path):
    from rdbench.store import Record, Store

    db = tmp_path / "rd.sqlite"
    with Store(db) as store:
        for config_hash in ("abcd000011112222", "abcd999988887777"):
            for q, bpp in (("1", 0.2), ("2", 0.4)):
                store.put(Record("mycodec", config_hash, q, "set", "a.png", "h", bpp=bpp, psnr=30 + 10 * bpp,
                                 mse=1.0, height=8, width=8, num_bytes=2))
    result = rdbench("plot", "--codec", "mycodec@abcd", "--dataset", "set", "--out", tmp_path, "--db", db,
                     in_process=True)
    assert isinstance(result.exception, UsageError)
    assert "abcd0000" in str(result.exception) + str(result.exception.hint)
    assert "abcd9999" in str(result.exception) + str(result.exception.hint)


def test_results_export_and_plot_name_the_configuration(two_configs, tmp_path):
    c, ds = two_configs, two_configs["dataset"]
    rows = _strict_json(rdbench("results", "--codec", "jpeg", "--format", "json", "--db", c["db"],
                                in_process=True, check=True).stdout)
    assert {r["config_hash"] for r in rows} == {c["shipped"], c["other"]}
    assert all("weights" in r and "device" in r for r in rows)
    table = rdbench("results", "--codec", "jpeg", "--db", c["db"], in_process=True, check=True).stdout
    assert c["shipped"][:8] in table and c["other"][:8] in table
    # export: the description and the metadata name the configuration used
    doc = _strict_json(rdbench("export", "--codec", "jpeg", "--dataset", ds, "--db", c["db"], in_process=True,
                               env=_env(), check=True).stdout)
    assert c["shipped"] in doc["description"] and doc["rdbench"]["config_hash"] == c["shipped"]
    assert doc["results"]["quality"] == ["20", "40", "60", "80"]
    other = _strict_json(rdbench("export", "--codec", f"jpeg@{c['other'][:8]}", "--dataset", ds, "--db", c["db"],
                                 in_process=True, check=True).stdout)
    assert other["rdbench"]["config_hash"] == c["other"] and other["results"]["quality"] == ["5", "30", "50", "70"]
    # plot: the legend names the configuration when the store holds several
    rdbench("plot", "--codec", "jpeg,webp", "--dataset", ds, "--ext", "svg", "--out", tmp_path, "--db", c["db"],
            in_process=True, env=_env(), check=True)
    svg = (tmp_path / f"rd_{ds}_psnr.svg").read_text()
    assert f"jpeg [{c['shipped'][:8]}]" in svg and "webp" in svg


def _with_device_copy(src: Path, dst: Path, quality: str, device: str = "cuda", weights: str | None = None,
                      weights_path: str | None = None) -> None:
    """A copy of the store where the jpeg records at ``quality`` also exist with another device / weights."""
    shutil.copy(src, dst)
    conn = sqlite3.connect(dst)
    with conn:
        columns = [r[1] for r in conn.execute("PRAGMA table_info(records)") if r[1] != "id"]
        select = ", ".join(
            "?" if col in ("device", "weights", "extra") else col for col in columns)
        extra = json.dumps({"weights_path": weights_path} if weights_path else {})
        params = [device if col == "device" else (weights or "") if col == "weights" else extra
                  for col in columns if col in ("device", "weights", "extra")]
        conn.execute(f"INSERT INTO records ({', '.join(columns)}) SELECT {select} FROM records "
                     f"WHERE codec = 'jpeg' AND quality = ?", (*params, quality))
    conn.close()


def test_a_quality_measured_on_two_devices_is_refused(base_db, tmp_path):
    db, ds = tmp_path / "rd.sqlite", _dataset(base_db)
    _with_device_copy(base_db, db, "40", device="cuda")
    result = _bdrate(db, "webp", "jpeg", ds, env=_env())
    assert isinstance(result.exception, RdbenchError), result.stdout
    text = f"{result.exception} {result.exception.hint}"
    assert "40" in text and "cpu" in text and "cuda" in text
    assert "--delete" in text and "jpeg@cpu" in text
    chosen = _bdrate(db, "webp", "jpeg@cpu", ds, env=_env())
    assert chosen.returncode == 0, chosen.exception
    plain = json.loads(_bdrate(base_db, "webp", "jpeg", ds, env=_env()).stdout)["rows"][0][ds]
    assert json.loads(chosen.stdout)["rows"][0][ds] == pytest.approx(plain, abs=1e-12)


def test_a_quality_measured_with_two_weights_is_refused(base_db, tmp_path):
    db, ds = tmp_path / "rd.sqlite", _dataset(base_db)
    shutil.copy(base_db, db)
    conn = sqlite3.connect(db)  # pretend jpeg had weights: q20 from two checkpoint files
    with conn:
        conn.execute("UPDATE records SET weights = 'sha256:' || 'aa' || substr(config_hash, 1, 14), "
                     "extra = json_object('weights_path', '/ckpt/a.pth.tar') WHERE codec = 'jpeg'")
    conn.close()
    _with_device_copy(db, tmp_path / "rd2.sqlite", "20", device="cpu", weights="sha256:bb00112233445566",
                      weights_path="/ckpt/b.pth.tar")
    result = _bdrate(tmp_path / "rd2.sqlite", "webp", "jpeg", ds, env=_env())
    assert isinstance(result.exception, RdbenchError), result.stdout
    text = f"{result.exception} {result.exception.hint}"
    assert "bb001122" in text and "/ckpt/b.pth.tar" in text and "/ckpt/a.pth.tar" in text
    assert "--delete" in text


# -- defect 4 (part): deleting records, and --quality on bdrate and plot -------------------------------------------


def test_delete_needs_a_filter_asks_and_counts(two_configs, tmp_path):
    c = two_configs
    db = tmp_path / "rd.sqlite"
    shutil.copy(c["db"], db)
    total = sum(_hashes(db).values()) + sum(_hashes(db, "webp").values())
    refused = rdbench("results", "--delete", "--yes", "--db", db)
    assert refused.returncode == 2 and sum(_hashes(db).values()) + sum(_hashes(db, "webp").values()) == total
    assert "--all" in refused.stderr and "nothing was deleted" in refused.stderr
    # with a filter but without --yes it asks, shows what would go, and deletes nothing unless confirmed
    from click.testing import CliRunner

    from rdbench.cli.main import cli

    asked = CliRunner().invoke(cli, ["results", "--delete", "--codec", "webp", "--db", str(db)], input="n\n")
    assert asked.exit_code != 0 and "12 records" in asked.output and sum(_hashes(db, "webp").values()) == 12
    yes = CliRunner().invoke(cli, ["results", "--delete", "--codec", "webp", "--db", str(db)], input="y\n")
    assert yes.exit_code == 0, yes.output
    assert "deleted 12 records" in yes.output and not _hashes(db, "webp")
    assert sum(_hashes(db).values()) == total - 12


def test_delete_removes_exactly_the_filtered_records(two_configs, tmp_path):
    c = two_configs
    db = tmp_path / "rd.sqlite"
    shutil.copy(c["db"], db)
    out = rdbench("results", "--delete", "--codec", f"jpeg@{c['other'][:8]}", "--quality", "5", "--yes",
                  "--db", db, in_process=True, check=True)
    assert "deleted 3 records" in out.stdout
    assert _hashes(db) == {c["shipped"]: 12, c["other"]: 9}
    # once one configuration is left, its curve needs no choice, whatever the current configuration
    third = _lab(c["root"], "lab444", LAB_444)
    assert isinstance(_bdrate(db, "webp", "jpeg", c["dataset"], env=third).exception, UsageError)
    out = rdbench("results", "--delete", "--codec", f"jpeg@{c['other']}", "--yes", "--db", db, in_process=True,
                  check=True)
    assert "deleted 9 records" in out.stdout and _hashes(db) == {c["shipped"]: 12}
    left = _bdrate(db, "webp", "jpeg", c["dataset"], env=third)
    assert left.returncode == 0, left.exception
    assert json.loads(left.stdout)["rows"][0]["config"] == c["shipped"][:8] and not json.loads(left.stdout)["info"]
    out = rdbench("results", "--delete", "--codec", "webp", "--dataset", c["dataset"], "--yes", "--db", db,
                  in_process=True, check=True)
    assert "deleted 12 records" in out.stdout and not _hashes(db, "webp")
    out = rdbench("results", "--delete", "--all", "--yes", "--db", db, in_process=True, check=True)
    assert "deleted 12 records" in out.stdout and not _hashes(db)


def test_quality_filter_on_bdrate_and_plot(base_db, tmp_path):
    ds = _dataset(base_db)
    # --quality selects the codec's points; the anchor's only --anchor-qualities selects
    result = _bdrate(base_db, "webp", "jpeg", ds, "--quality", "20,40,60", "--anchor-qualities", "20,40,60",
                     env=_env())
    assert result.returncode == 0, result.exception
    webp = _direct_curve(base_db, "webp", _hashes(base_db, "webp").popitem()[0], ds)  # the anchor
    jpeg = _direct_curve(base_db, "jpeg", _hashes(base_db).popitem()[0], ds)[:3]
    assert json.loads(result.stdout)["rows"][0][ds] == pytest.approx(bd_rate(webp[:3], jpeg).value, abs=1e-9)
    result = _bdrate(base_db, "webp", "jpeg", ds, "--quality", "20,40,60", env=_env())
    assert json.loads(result.stdout)["rows"][0][ds] == pytest.approx(bd_rate(webp, jpeg).value, abs=1e-9)
    from rdbench.analysis.curves import curve
    from rdbench.store import Store

    with Store(base_db, readonly=True) as store:
        assert len(curve(store, "jpeg", ds, "psnr", qualities=["20", "80"])) == 2
    rdbench("plot", "--codec", "jpeg", "--quality", "20,80", "--dataset", ds, "--ext", "svg", "--out", tmp_path,
            "--db", base_db, in_process=True, check=True)
    bad = _bdrate(base_db, "webp", "jpeg", ds, "--quality", "21", env=_env())
    assert isinstance(bad.exception, UsageError) and "20, 40, 60, 80" in str(bad.exception) + str(bad.exception.hint)


# -- defect 5: a lossless image (PSNR = inf) -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lossless_db(tmp_path_factory):
    """jpeg and webp on two real Kodak crops and a flat grey image, which JPEG codes exactly (MSE 0)."""
    from PIL import Image

    root = tmp_path_factory.mktemp("lossless")
    folder = kodak_crops(root / "flat", 2)
    Image.fromarray(np.full((176, 176, 3), 128, np.uint8)).save(folder / "grey.png")
    db = root / "rd.sqlite"
    rdbench("run", "--codec", "jpeg,webp", "--dataset", folder, "--quality", "20,40,60,80", "--db", db, "--quiet",
            in_process=True, check=True)
    return db


#: the documented ceiling of a per-image PSNR in derived numbers (docs/measurement.md, "What is measured, and how")
PSNR_CAP_DB = 100.0


def test_lossless_image_is_capped_in_every_derived_number(lossless_db, tmp_path):
    db, ds = lossless_db, _dataset(lossless_db)
    per_image = _strict_json(rdbench("results", "--per-image", "--format", "json", "--db", db, in_process=True,
                                     check=True).stdout)
    grey = [r for r in per_image if r["image"] == "grey.png" and r["codec"] == "jpeg"]
    assert grey and all(r["mse"] == 0 and r["psnr"] == PSNR_CAP_DB and r["psnr_capped"] for r in grey)
    means = _strict_json(rdbench("results", "--format", "json", "--db", db, in_process=True, check=True).stdout)
    for row in (r for r in means if r["codec"] == "jpeg"):
        values = [min(r["psnr"], PSNR_CAP_DB) for r in per_image if r["codec"] == "jpeg"
                  and r["quality"] == row["quality"]]
        assert row["psnr"] == pytest.approx(sum(values) / 3) and row["psnr_capped"] == 1
        assert math.isfinite(row["psnr_pooled"] if row.get("psnr_pooled") is not None else 0.0)
    table = rdbench("results", "--db", db, in_process=True, check=True).stdout
    assert "inf" not in table and "capped" in table
    # bdrate: a finite number from all four points
    result = _bdrate(db, "webp", "jpeg", ds, env=_env())
    assert result.returncode == 0, result.exception
    data = _strict_json(result.stdout)
    assert math.isfinite(data["rows"][0][ds]), data["notes"]
    # plot: every point drawn; the curve has all four qualities
    from rdbench.analysis.curves import curve
    from rdbench.store import Store

    with Store(db, readonly=True) as store:
        assert len(curve(store, "jpeg", ds, "psnr")) == 4
        assert len(curve(store, "jpeg", ds, "ms-ssim")) == 4
    # export is valid JSON and imports back (under another name)
    exported = rdbench("export", "--codec", "jpeg", "--dataset", ds, "--db", db, in_process=True, check=True).stdout
    doc = _strict_json(exported)
    assert doc["rdbench"]["psnr_capped_images"] == [1, 1, 1, 1]
    src = tmp_path / "jpeg.json"
    src.write_text(exported)
    copy = tmp_path / "rd.sqlite"
    shutil.copy(db, copy)
    rdbench("import", src, "--name", "jpeg-exported", "--db", copy, in_process=True, check=True)
    again = _strict_json(_bdrate(copy, "jpeg", "jpeg-exported", ds, env=_env()).stdout)
    assert again["rows"][0][ds] == pytest.approx(0.0, abs=1e-9)
    from rdbench.analysis import aggregate

    assert aggregate.PSNR_CAP_DB == PSNR_CAP_DB


def test_lossless_image_in_the_run_summary_and_aggregate(lossless_db):
    """`rdbench run`'s summary and every other mean come from aggregate(): finite, the grey image at 100 dB."""
    from rdbench.analysis.aggregate import aggregate
    from rdbench.store import Store

    with Store(lossless_db, readonly=True) as store:
        records = store.records(codecs=["jpeg"])
        rows = aggregate(records)
    assert all(math.isfinite(r["psnr"]) and r["psnr"] < PSNR_CAP_DB for r in rows)
    for row in rows:
        values = [min(r.psnr, PSNR_CAP_DB) for r in records if r.quality == row["quality"]]
        assert row["psnr"] == pytest.approx(sum(values) / len(values))
    assert all(r["psnr_capped"] == 1 for r in rows)


# -- typos are usage errors ------------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("args,words", [
    (["bdrate", "--anchor", "jpeg", "--codec", "webbp"], "did you mean 'webp'"),
    (["bdrate", "--anchor", "jpeg", "--codec", "webp", "--dataset", "foo"], "unknown dataset 'foo'"),
    (["bdrate", "--anchor", "jepg", "--codec", "webp"], "did you mean 'jpeg'"),
    (["results", "--codec", "jpg"], "did you mean 'jpeg'"),
    (["results", "--dataset", "foo"], "unknown dataset 'foo'"),
    (["plot", "--anchor", "nonexist", "--codec", "jpeg"], "nonexist"),
    (["plot", "--codec", "webbp"], "did you mean 'webp'"),
    (["export", "--codec", "jpg"], "did you mean 'jpeg'"),
])
def test_typos_are_usage_errors(base_db, tmp_path, args, words):
    if "--dataset" not in args and args[0] in ("bdrate", "plot"):
        args = [*args, "--dataset", _dataset(base_db)]
    if args[0] == "plot":
        args = [*args, "--out", tmp_path]
    result = rdbench(*args, "--db", base_db)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert words in result.stderr
    assert not list(tmp_path.iterdir())


@pytest.mark.slow
def test_plot_on_a_missing_database_is_a_usage_error(base_db, tmp_path):
    result = rdbench("plot", "--codec", "jpeg", "--out", tmp_path / "plots", "--db", base_db.parent / "rd.sqlit")
    assert result.returncode == 2 and "no results database" in result.stderr and "rd.sqlite" in result.stderr
    result = rdbench("plot", "--out", tmp_path / "plots", "--db", tmp_path / "none.sqlite")
    assert result.returncode == 2 and "no results database" in result.stderr
    # published curves alone need no database
    rdbench("plot", "--codec", "mlicpp-paper", "--out", tmp_path / "plots", "--db", tmp_path / "none.sqlite",
            check=True)


def test_a_folder_name_finds_its_dataset(base_db, measured_store):
    """A folder dataset is stored as <folder>-<8 hex>; its folder's name (or path) finds it when unique."""
    ds = _dataset(base_db)
    by_name = _bdrate(base_db, "webp", "jpeg", "crops", env=_env())
    by_path = _bdrate(base_db, "webp", "jpeg", str(measured_store.crops), env=_env())
    exact = _bdrate(base_db, "webp", "jpeg", ds, env=_env())
    for result in (by_name, by_path, exact):
        assert result.returncode == 0, result.exception
        assert math.isfinite(json.loads(result.stdout)["rows"][0][ds])


# -- imported curves: clashes visible, round trips, re-imports -------------------------------------------------------


def test_a_measurement_shadowing_an_imported_curve_is_said(base_db, tmp_path):
    ds = _dataset(base_db)
    db = tmp_path / "rd.sqlite"
    shutil.copy(base_db, db)
    src = tmp_path / "paper.json"
    src.write_text(json.dumps({"bpp": [0.3, 0.6, 1.0, 1.5], "psnr": [27.0, 30.0, 32.5, 35.0]}))
    rdbench("import", src, "--name", "jpeg2", "--dataset", ds, "--db", db, in_process=True, check=True)
    # jpeg2 measured later into the same store (the jpeg records, renamed)
    columns = [r[1] for r in _query(base_db, "PRAGMA table_info(records)") if r[1] != "id"]
    rows = _query(base_db, f"SELECT {', '.join(columns)} FROM records WHERE codec = 'jpeg'")
    conn = sqlite3.connect(db)
    with conn:
        conn.executemany(f"INSERT INTO records ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
                         [tuple("jpeg2" if c == "codec" else v for c, v in zip(columns, row)) for row in rows])
    conn.close()
    result = _bdrate(db, "webp", "jpeg2", ds, env=_env())
    data = json.loads(result.stdout) if result.returncode == 0 else None
    text = (" ".join(data["info"]) if data else f"{result.exception} {result.exception.hint}")
    assert "imported" in text and str(src) in text and "jpeg2@imported" in text
    imported = _bdrate(db, "webp", "jpeg2@imported", ds, env=_env())
    assert imported.returncode == 0, imported.exception
    assert "imported from" in json.loads(imported.stdout)["curves"][-1]["origin"]
    plot = rdbench("plot", "--codec", "jpeg2", "--dataset", ds, "--out", tmp_path, "--db", db, in_process=True)
    assert "imported" in plot.stdout + plot.stderr + str(plot.exception or "")


def test_export_then_import_into_the_same_store(base_db, tmp_path):
    ds = _dataset(base_db)
    db = tmp_path / "rd.sqlite"
    shutil.copy(base_db, db)
    out = tmp_path / "exported"
    rdbench("export", "--out", out, "--db", db, in_process=True, check=True)
    exported = out / f"webp__{ds}.json"
    clash = rdbench("import", exported, "--db", db, in_process=True)
    assert isinstance(clash.exception, UsageError)
    assert "--name webp-exported" in clash.exception.hint
    first = rdbench("import", exported, "--name", "webp-exported", "--db", db, in_process=True, check=True)
    assert first.stdout.startswith("imported webp-exported")
    second = rdbench("import", exported, "--name", "webp-exported", "--db", db, in_process=True, check=True)
    assert "already imported" in second.stdout and "nothing changed" in second.stdout
    assert not second.stdout.startswith("imported")
    table = _strict_json(_bdrate(db, "webp", "webp-exported", ds, env=_env()).stdout)
    assert table["rows"][0][ds] == pytest.approx(0.0, abs=1e-9)


# -- the report notebook ---------------------------------------------------------------------------------------------


def _run_notebook(env: dict[str, str]):
    nbclient = pytest.importorskip("nbclient")
    nbformat = pytest.importorskip("nbformat")
    pytest.importorskip("ipykernel")
    notebooks = Path(__file__).resolve().parents[1] / "notebooks"
    nb = nbformat.read(notebooks / "report.ipynb", as_version=4)
    old = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        client = nbclient.NotebookClient(nb, timeout=120, kernel_name="python3", allow_errors=True,
                                         resources={"metadata": {"path": str(notebooks)}})
        client.execute()
    finally:
        os.environ.clear()
        os.environ.update(old)
    texts, errors = [], []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                errors.append(f"{output['ename']}: {output['evalue']}")
            texts.append(output.get("text", ""))
            texts.append(output.get("data", {}).get("text/markdown", ""))
    return "\n".join(texts), errors


@pytest.mark.slow
def test_report_notebook_two_configurations_imported_curve_and_lossless_image(two_configs, lossless_db, tmp_path):
    c = two_configs
    db = tmp_path / "rd.sqlite"
    shutil.copy(c["db"], db)
    src = tmp_path / "paper.json"
    src.write_text(json.dumps({"bpp": [0.4, 0.8, 1.2, 1.8], "psnr": [28.0, 31.0, 33.0, 35.5]}))
    rdbench("import", src, "--name", "my-paper", "--dataset", c["dataset"], "--db", db, in_process=True, check=True)
    text, errors = _run_notebook(_env(RDBENCH_DB=str(db), RDBENCH_ANCHOR="webp"))
    assert not errors, errors
    assert "| my-paper |" in text  # imported curves are in the table
    assert c["shipped"][:8] in text and c["other"][:8] in text  # the configuration used, and the other one
    # an explicit configuration through RDBENCH_CODECS
    text, errors = _run_notebook(_env(RDBENCH_DB=str(db), RDBENCH_ANCHOR="webp",
                                      RDBENCH_CODECS=f"jpeg@{c['other'][:8]}"))
    assert not errors, errors
    assert f"| jpeg@{c['other'][:8]} |" in text
    # a lossless image does not break the spread table
    text, errors = _run_notebook(_env(RDBENCH_DB=str(lossless_db), RDBENCH_ANCHOR="jpeg"))
    assert not errors, errors
    assert "capped" in text
    # a wrong metric is a clear message, not a KeyError
    text, errors = _run_notebook(_env(RDBENCH_DB=str(db), RDBENCH_ANCHOR="webp", RDBENCH_METRIC="foo"))
    assert errors and not errors[0].startswith("KeyError")  # execution stops at the first error
    assert "RDBENCH_METRIC" in errors[0] and "psnr" in errors[0] and "ms-ssim" in errors[0]
