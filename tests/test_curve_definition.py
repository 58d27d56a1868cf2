"""Issue 23: a curve is a defined object (docs/guarantees.md, "What a number averages").

Each wrong-number case of the issue is rebuilt on real Kodak crops and its BD value checked against
an independent computation: the records read straight from SQLite, the mean curves made with numpy
over the images the rule keeps, and the ``bjontegaard`` package.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import bjontegaard
import numpy as np
import pytest
from helpers import kodak_crops, rdbench


def _bdrate_json(db: Path, *args: object) -> dict:
    result = rdbench("bdrate", *args, "--format", "json", "--db", db, in_process=True)
    assert result.returncode == 0, (result.stdout, result.stderr, result.exception)
    return json.loads(result.stdout)


def _independent_bd_rate(db: Path, anchor: str, test: str, images: list[str], metric: str = "psnr") -> float:
    """BD-rate of ``test`` against ``anchor`` with both mean curves over ``images``, from the raw rows."""
    conn = sqlite3.connect(db)

    def curve(codec: str) -> tuple[list[float], list[float]]:
        rows = conn.execute(
            f"SELECT quality, bpp, psnr, ms_ssim FROM records WHERE codec = ? AND status = 'ok' AND image IN "
            f"({','.join('?' * len(images))})", (codec, *images)).fetchall()
        by_quality: dict[str, list[tuple[float, float, float]]] = {}
        for quality, bpp, psnr, ms_ssim in rows:
            by_quality.setdefault(quality, []).append((bpp, psnr, ms_ssim))
        rates, values = [], []
        for found in by_quality.values():
            assert len(found) == len(images)
            rates.append(float(np.mean([f[0] for f in found])))
            if metric == "psnr":
                values.append(float(np.mean([f[1] for f in found])))
            else:
                values.append(float(-10 * np.log10(1 - np.mean([f[2] for f in found]))))
        order = np.argsort(rates)
        return [rates[i] for i in order], [values[i] for i in order]

    ra, da = curve(anchor)
    rt, dt = curve(test)
    conn.close()
    return float(bjontegaard.bd_rate(ra, da, rt, dt, method="pchip", min_overlap=0))


@pytest.fixture(scope="module")
def grown(tmp_path_factory) -> dict:
    """Item 1: jpeg and webp on 3 images, 3 images added, jpeg at one quality and webp everywhere rerun."""
    root = tmp_path_factory.mktemp("grow")
    folder = root / "grow"
    kodak_crops(root / "all", 6)
    folder.mkdir()
    first = sorted((root / "all").iterdir())[:3]
    for path in first:
        path.rename(folder / path.name)
    db = root / "rd.sqlite"
    qualities = "10,30,50,70,90"
    rdbench("run", "--codec", "jpeg,webp", "--dataset", folder, "--quality", qualities, "--db", db,
            in_process=True, check=True)
    for path in sorted((root / "all").iterdir()):
        path.rename(folder / path.name)
    rdbench("run", "--codec", "jpeg", "--dataset", folder, "--quality", "90", "--db", db, in_process=True, check=True)
    rdbench("run", "--codec", "webp", "--dataset", folder, "--quality", qualities, "--db", db, in_process=True,
            check=True)
    return {"db": db, "folder": folder, "first": sorted(p.name for p in first),
            "added": sorted(p.name for p in folder.iterdir() if p.name not in {q.name for q in first})}


def test_images_added_between_runs_leave_the_comparison_on_the_common_images(grown):
    table = _bdrate_json(grown["db"], "--anchor", "jpeg", "--codec", "webp", "--dataset", grown["folder"],
                         "--ci", "95", "--per-image")
    [cell] = table["cells"]
    expected = _independent_bd_rate(grown["db"], "jpeg", "webp", grown["first"])
    assert cell["bd_rate"] == pytest.approx(expected, abs=1e-9)
    # the headline, its interval and the per-image values rest on the same three images
    assert cell["images"] == 3 and cell["n_images"] == 3
    assert sorted(cell["left_out_images"]) == grown["added"]
    assert all("anchor jpeg: no psnr value at quality 10, 30, 50, 70" in why
               for why in cell["left_out_images"].values())
    assert cell["ci_low"] <= cell["bd_rate"] <= cell["ci_high"]
    valued = [e for e in table["per_image"] if e["bd_rate"] is not None]
    assert sorted(e["image"] for e in valued) == grown["first"]
    # the table says it: the interval column counts the images, a footnote names what was left out
    text = rdbench("bdrate", "--anchor", "jpeg", "--codec", "webp", "--dataset", grown["folder"], "--db",
                   grown["db"], in_process=True, check=True).stdout
    assert "; 3 images [" in text and "3 left out: " in text


def test_a_curve_averages_the_images_measured_at_every_quality(grown):
    from rdbench.analysis.curves import resolve_curve
    from rdbench.analysis.dataset_names import resolve_datasets
    from rdbench.store.sqlite import Store

    with Store(grown["db"], readonly=True) as store:
        [dataset] = resolve_datasets(store, [str(grown["folder"])])
        found = resolve_curve(store, "jpeg", dataset, "psnr")
    assert [r["n"] for r in found.selection.rows] == [3] * 5
    assert sorted(found.selection.image_set("psnr").left_out) == grown["added"]
    assert any("the curve averages 3 images (3 left out" in note for note in found.notes)
    # `results` shows the stored per-quality counts and says that curves average fewer
    shown = rdbench("results", "--codec", "jpeg", "--dataset", grown["folder"], "--db", grown["db"],
                    in_process=True, check=True)
    assert "different numbers of images per quality" in shown.stderr


def test_the_delta_figure_and_the_export_use_the_same_images(grown, tmp_path):
    from rdbench.analysis.dataset_names import resolve_datasets
    from rdbench.analysis.delta import delta_figure
    from rdbench.store.sqlite import Store

    expected = _independent_bd_rate(grown["db"], "jpeg", "webp", grown["first"])
    result = rdbench("plot", "--delta", "--anchor", "jpeg", "--codec", "webp", "--dataset", grown["folder"],
                     "--out", tmp_path, "--ext", "svg", "--db", grown["db"], in_process=True, check=True)
    assert "the line averages 3 images (3 left out" in result.stderr
    with Store(grown["db"], readonly=True) as store:
        [dataset] = resolve_datasets(store, [str(grown["folder"])])
        figure = delta_figure(store, "jpeg", ["webp"], dataset, "psnr", "pchip", per_image=True)
    assert figure.labels["webp"].endswith(f"(BD-rate {expected:+.2f} %, 3 images)")
    assert sorted(figure.per_image["webp"]) == grown["first"]
    data = json.loads(rdbench("export", "--codec", "jpeg", "--dataset", grown["folder"], "--db", grown["db"],
                              in_process=True, check=True).stdout)
    assert data["rdbench"]["image_names"] == grown["first"]
    assert data["rdbench"]["images"] == [3] * 5
    assert sorted(data["rdbench"]["left_out"]) == grown["added"]


def test_a_codec_failing_on_one_image_at_one_quality_removes_that_image_everywhere(grown, tmp_path):
    import shutil

    db = tmp_path / "failed.sqlite"
    shutil.copy(grown["db"], db)
    victim = grown["first"][0]
    conn = sqlite3.connect(db)
    conn.execute("UPDATE records SET status = 'failed', error = 'crashed' WHERE codec = 'webp' AND quality = '50' "
                 "AND image = ?", (victim,))
    conn.commit()
    conn.close()
    [cell] = _bdrate_json(db, "--anchor", "jpeg", "--codec", "webp", "--dataset", grown["folder"])["cells"]
    kept = grown["first"][1:]
    assert cell["images"] == 2
    assert cell["left_out_images"][victim] == "webp: no psnr value at quality 50"
    assert cell["bd_rate"] == pytest.approx(_independent_bd_rate(db, "jpeg", "webp", kept), abs=1e-9)


@pytest.fixture(scope="module")
def mixed_sizes(tmp_path_factory) -> dict:
    """Item 3: two 256 px crops and one 120x100 crop (too small for MS-SSIM)."""
    root = tmp_path_factory.mktemp("sizes")
    folder = kodak_crops(root / "sizes", 2, (0, 0, 256, 256))
    small = kodak_crops(root / "small", 3, (0, 0, 120, 100))
    name = sorted(small.iterdir())[2]
    name.rename(folder / name.name)
    db = root / "rd.sqlite"
    rdbench("run", "--codec", "jpeg,webp", "--dataset", folder, "--quality", "20,40,60,80", "--db", db,
            in_process=True, check=True)
    return {"db": db, "folder": folder, "big": sorted(p.name for p in folder.iterdir() if p != folder / name.name),
            "small": name.name}


def test_an_image_without_ms_ssim_is_left_out_of_the_ms_ssim_comparison(mixed_sizes):
    [cell] = _bdrate_json(mixed_sizes["db"], "--anchor", "jpeg", "--codec", "webp", "--dataset",
                          mixed_sizes["folder"], "--metric", "ms-ssim")["cells"]
    assert cell["images"] == 2 and list(cell["left_out_images"]) == [mixed_sizes["small"]]
    expected = _independent_bd_rate(mixed_sizes["db"], "jpeg", "webp", mixed_sizes["big"], metric="ms-ssim")
    assert cell["bd_rate"] == pytest.approx(expected, abs=1e-9)
    # PSNR still averages all three
    [cell] = _bdrate_json(mixed_sizes["db"], "--anchor", "jpeg", "--codec", "webp", "--dataset",
                          mixed_sizes["folder"])["cells"]
    assert cell["images"] == 3
    # results counts the MS-SSIM values apart where they differ from n
    shown = rdbench("results", "--codec", "jpeg", "--db", mixed_sizes["db"], in_process=True, check=True).stdout
    assert "n_ms_ssim" in shown


def test_a_tiny_overlap_is_flagged(tmp_path):
    folder = kodak_crops(tmp_path / "crops", 3)
    db = tmp_path / "rd.sqlite"
    rdbench("run", "--codec", "jpeg", "--dataset", folder, "--quality", "5,10,20,25", "--db", db, in_process=True,
            check=True)
    rdbench("run", "--codec", "webp", "--dataset", folder, "--quality", "10,20,50,90", "--db", db, in_process=True,
            check=True)
    table = _bdrate_json(db, "--anchor", "jpeg", "--codec", "webp", "--dataset", folder)
    [cell] = table["cells"]
    assert cell["weak_overlap"] is True and cell["coverage"] < 0.75
    assert any("weak comparison" in note for note in table["notes"])
    # the same pair the other way round over the full range is not flagged
    table = _bdrate_json(db, "--anchor", "webp", "--codec", "webp", "--dataset", folder)
    assert "weak_overlap" not in table["cells"][0]


@pytest.mark.slow
def test_a_curve_measured_on_two_devices_across_qualities_is_refused(tmp_path):
    folder = kodak_crops(tmp_path / "crops", 3)
    db = tmp_path / "rd.sqlite"
    rdbench("run", "--codec", "jpeg,webp", "--dataset", folder, "--quality", "20,40,60,80", "--db", db,
            in_process=True, check=True)
    conn = sqlite3.connect(db)
    conn.execute("UPDATE records SET device = 'cuda' WHERE codec = 'webp' AND quality IN ('20', '40')")
    conn.commit()
    conn.close()
    result = rdbench("bdrate", "--anchor", "jpeg", "--codec", "webp", "--dataset", folder, "--db", db)
    assert result.returncode == 2
    assert "mixes devices across its qualities (cpu at quality 60, 80; cuda at quality 20, 40)" in result.stderr
    assert "webp@cpu or webp@cuda" in result.stderr
    # choosing one device is a curve of that device only
    cells = _bdrate_json(db, "--anchor", "jpeg", "--codec", "webp@cpu", "--dataset", folder)["cells"]
    assert cells[0]["test_points"] and len(cells[0]["test_points"]) == 2


def test_an_image_changed_in_place_makes_its_old_records_stale(tmp_path):
    from PIL import Image

    folder = kodak_crops(tmp_path / "crops", 3)
    db = tmp_path / "rd.sqlite"
    rdbench("run", "--codec", "jpeg", "--dataset", folder, "--quality", "20,50,80", "--db", db, in_process=True,
            check=True)
    victim = sorted(folder.iterdir())[1]
    Image.open(victim).rotate(90).save(victim)
    ran = rdbench("run", "--codec", "jpeg", "--dataset", folder, "--quality", "20,50,80", "--db", db,
                  in_process=True, check=True)
    assert f"1 image of {folder.name}-" in ran.stderr and "3 stored records of the old content are stale" in ran.stderr
    means = json.loads(rdbench("results", "--format", "json", "--db", db, in_process=True, check=True).stdout)
    assert [row["n"] for row in means] == [3, 3, 3]
    per_image = json.loads(rdbench("results", "--per-image", "--format", "json", "--db", db, in_process=True,
                                   check=True).stdout)
    assert len(per_image) == 9
    stale = json.loads(rdbench("results", "--stale", "--per-image", "--format", "json", "--db", db,
                               in_process=True, check=True).stdout)
    assert {r["image"] for r in stale} == {victim.name} and len(stale) == 3
    from rdbench.analysis.curves import resolve_curve
    from rdbench.analysis.dataset_names import resolve_datasets
    from rdbench.store.sqlite import Store

    with Store(db, readonly=True) as store:
        [dataset] = resolve_datasets(store, [str(folder)])
        found = resolve_curve(store, "jpeg", dataset, "psnr")
        assert all(len(points) == 3 for points in found.selection.per_image("psnr").values())
        assert any("3 stale records left out" in note for note in found.notes)
    # stale records are deleted by themselves; an image's records of every content by --image
    deleted = rdbench("results", "--delete", "--stale", "--yes", "--db", db, in_process=True, check=True)
    assert "deleted 3 records" in deleted.stdout
    assert json.loads(rdbench("results", "--stale", "--format", "json", "--db", db, in_process=True).stdout or "[]") == []
    gone = rdbench("results", "--delete", "--image", victim.name, "--yes", "--db", db, in_process=True, check=True)
    assert "deleted 3 records" in gone.stdout
    unknown = rdbench("results", "--image", "nosuch.png", "--db", db)
    assert unknown.returncode == 2 and "no record of image 'nosuch.png'" in unknown.stderr


def test_a_database_from_before_knows_the_newest_content_of_each_image(tmp_path):
    """The migration fills the current contents from the newest record of each image name."""
    from rdbench.store.sqlite import MIGRATIONS, Store

    db = tmp_path / "old.sqlite"
    conn = sqlite3.connect(db)
    for step in MIGRATIONS[:5]:  # the schema before current_images (migration 6)
        for statement in step.split(";"):
            if statement.strip():
                conn.execute(statement)
    conn.execute("PRAGMA user_version = 5")
    for created, digest in (("2026-01-01T00:00:00", "a" * 64), ("2026-02-01T00:00:00", "b" * 64)):
        conn.execute("INSERT INTO records (codec, config_hash, quality, dataset, image, image_hash, status, "
                     "created_at, bpp, psnr) VALUES ('jpeg', 'h', '50', 'd', 'x.png', ?, 'ok', ?, 1.0, 30.0)",
                     (digest, created))
    conn.commit()
    conn.close()
    with Store(db) as store:
        assert store.current_images("d") == {"x.png": "b" * 64}
        assert [r.image_hash for r in store.find_records(stale=True)] == ["a" * 64]
