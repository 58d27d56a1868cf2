"""What identifies a rate-matched choice (tolerance, weights), fixed-model codecs, and matched BD-rates of
plug-in metrics: real codecs (JPEG XL, JPEG, CompressAI models with seeded or saved weights) on Kodak crops,
a real results database."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from helpers import kodak_crops, rdbench

from rdbench.analysis.targets import MODELS_NOTE, target_points, target_rows
from rdbench.api.benchmark import run_benchmark
from rdbench.run.rate_match import MODELS_REASON, Points, Space, search
from rdbench.store.sqlite import Store

#: eight seeded random models of the factorized prior (the zoo's sizes: 1-5 and 6-8 share one)
RANDOM_MODELS = """name = "factorized-random-models"
adapter = "compressai"
description = "bmshj2018-factorized, seeded random weights at each of the zoo's eight sizes"
qualities = [1, 2, 3, 4, 5, 6, 7, 8]

[params]
arch = "bmshj2018-factorized"
metric = "mse"
random_seed = 0
latent_gain = 20
"""


def _quiet(line: str) -> None:
    pass


def _points(db: Path, **chosen) -> list[dict]:
    with Store(db, readonly=True) as store:
        return target_points(store, **chosen)


@pytest.fixture(scope="module")
def crops(tmp_path_factory) -> Path:
    return kodak_crops(tmp_path_factory.mktemp("crops") / "c", 2, (0, 0, 128, 128))


@pytest.mark.slow
def test_a_rerun_at_another_tolerance_keeps_the_earlier_choices(crops, tmp_path) -> None:
    """The tolerance is part of a choice's key: a 15 % run stands beside the 1 % one. Tables and curves take
    each codec's latest tolerance unless --rate-tolerance names one, and say which others are stored."""
    db = tmp_path / "rd.sqlite"
    for tolerance in (1.0, 15.0):
        run_benchmark("jpegxl", crops, db=db, target_bpp=[0.5, 1.0], rate_tolerance=tolerance, say=_quiet)
    with Store(db, readonly=True) as store:
        assert sorted({mark["tolerance"] for mark, _ in store.rate_targets()}) == [0.01, 0.15]
        assert len(store.rate_targets()) == 2 * 2 * 2
    assert {p["tolerance"] for p in _points(db)} == {0.15}  # the latest run's
    assert {p["tolerance"] for p in _points(db, tolerance=0.01)} == {0.01}
    strict = {(p["image"], p["target_bpp"]): p for p in _points(db, tolerance=0.01)}
    assert all(abs(p["deviation"]) <= 0.01 for p in strict.values())
    rows = json.loads(rdbench("results", "--targets", "--db", db, "--format", "json", in_process=True,
                              check=True).stdout)
    assert {r["tolerance_pct"] for r in rows} == {15.0}  # percent, as --rate-tolerance; stored as a fraction
    assert all("also stored at tolerance 1 %" in r["note"] for r in rows)
    rows = json.loads(rdbench("results", "--targets", "--rate-tolerance", "1", "--db", db, "--format", "json",
                              in_process=True, check=True).stdout)
    assert {r["tolerance_pct"] for r in rows} == {1.0} and all(r["n"] == 2 for r in rows)
    # a rerun at 1 % makes it the latest again, and changes nothing stored
    run = run_benchmark("jpegxl", crops, db=db, target_bpp=[0.5, 1.0], rate_tolerance=1.0, say=_quiet)
    assert run.targets[0].encodes == 0
    assert {(p["image"], p["target_bpp"]): p["quality"] for p in _points(db)} == \
        {key: p["quality"] for key, p in strict.items()}
    for args in (("results", "--rate-tolerance", "1"), ("results", "--targets", "--rate-tolerance", "0"),
                 ("bdrate", "--anchor", "jpegxl", "--rate-tolerance", "1")):
        result = rdbench(*args, "--db", db)
        assert result.returncode == 2 and result.stderr.startswith("error: "), result.stderr


def _checkpoints(folder: Path, seed: int, qualities=(1, 2)) -> Path:
    """Real compressai checkpoints of the factorized prior (seeded weights, latents scaled so that real
    symbols are coded), named as codecs/bmshj2018-factorized-mse.toml expects them."""
    import torch
    from compressai.zoo import bmshj2018_factorized

    from rdbench.codecs.learned.base import apply_latent_gain

    folder.mkdir(parents=True)
    for quality in qualities:
        torch.manual_seed(seed + quality)
        model = apply_latent_gain(bmshj2018_factorized(quality=quality, metric="mse", pretrained=False), 20.0)
        torch.save(model.state_dict(), folder / f"bmshj2018-factorized-mse_q{quality}.pth.tar")
    return folder


@pytest.mark.slow
def test_two_checkpoint_folders_keep_their_own_choices(tmp_path) -> None:
    """Two folders of checkpoints for one learned configuration: their choices stand side by side (the
    weights are part of the key), and NAME@WEIGHTS of any of a folder's models selects that folder's."""
    pytest.importorskip("compressai")
    crop = kodak_crops(tmp_path / "crop", 1, (0, 0, 64, 64))
    db = tmp_path / "rd.sqlite"
    folders = {name: _checkpoints(tmp_path / name, seed) for name, seed in (("a", 10), ("b", 20))}
    runs = {name: run_benchmark("bmshj2018-factorized-mse", crop, db=db, target_bpp=[1.0], checkpoint_dir=folder,
                                say=_quiet).targets[0] for name, folder in folders.items()}
    assert runs["a"].weights.startswith("models:") and runs["a"].weights != runs["b"].weights
    points = _points(db)
    assert sorted(p["weights"] for p in points) == sorted(r.weights for r in runs.values())
    with Store(db, readonly=True) as store:
        weights_b = {r.quality: r.weights for r in store.find_records() if r.weights in
                     json.loads(next(m["models"] for m, _ in store.rate_targets() if m["weights"] == runs["b"].weights))}
    selector = weights_b["2"].split(":", 1)[1][:10]
    (chosen,) = _points(db, selections=[{"codec": "bmshj2018-factorized-mse", "weights": weights_b["2"]}])
    assert chosen["weights"] == runs["b"].weights
    out = json.loads(rdbench("results", "--targets", "--codec", f"bmshj2018-factorized-mse@{selector}", "--db", db,
                             "--format", "json", in_process=True, check=True).stdout)
    assert [r["weights"] for r in out] == [runs["b"].weights]
    # bdrate needs one curve per name: two folders are refused until one is named
    result = rdbench("bdrate", "--points", "matched", "--anchor", "bmshj2018-factorized-mse", "--codec",
                     "bmshj2018-factorized-mse", "--db", db, "--dataset", points[0]["dataset"])
    assert result.returncode == 2 and "NAME@WEIGHTS" in result.stderr


@pytest.mark.slow
def test_fixed_models_choose_the_nearest_model_on_each_side(tmp_path, monkeypatch) -> None:
    """Seeded random models (eight, with the zoo's sizes) on a 64x64 crop: every model is coded, the nearest
    rate on each side of each target is taken, checked against a plain sweep of every model; the summary and
    the rows say it is a fixed-model choice."""
    pytest.importorskip("compressai")
    codecs = tmp_path / "codecs"
    codecs.mkdir()
    (codecs / "models.toml").write_text(RANDOM_MODELS)
    monkeypatch.setenv("RDBENCH_CODECS_PATH", str(codecs))
    crop = kodak_crops(tmp_path / "crop", 1, (0, 0, 64, 64))
    sweep_db, db = tmp_path / "sweep.sqlite", tmp_path / "rd.sqlite"
    run_benchmark("factorized-random-models", crop, db=sweep_db, say=_quiet)
    with Store(sweep_db, readonly=True) as store:
        rates = {r.quality: r.bpp for r in store.find_records()}
    assert len(rates) == 8
    low, high = min(rates.values()), max(rates.values())
    middle = (low + high) / 2
    targets = [low / 2, middle, high * 2]
    out = rdbench("run", "--codec", "factorized-random-models", "--dataset", crop, "--db", db, "--target-bpp",
                  ",".join(f"{t:.6g}" for t in targets), in_process=True, check=True)
    assert "models control, 1 images x 3 targets: 8 encodes" in out.stderr and MODELS_NOTE in out.stderr
    points = {round(p["target_bpp"], 4): p for p in _points(db)}
    below_q = max((bpp, int(q)) for q, bpp in rates.items() if bpp < middle)
    above_q = min((bpp, int(q)) for q, bpp in rates.items() if bpp >= middle)
    inside = points[round(float(f"{middle:.6g}"), 4)]
    assert (int(inside["below_quality"]), int(inside["above_quality"])) == (below_q[1], above_q[1])
    assert inside["bpp"] == min(below_q[0], above_q[0], key=lambda b: abs(b / middle - 1))
    assert inside["status"] == "nearest" and inside["reason"].startswith(MODELS_REASON)
    assert points[round(float(f"{low / 2:.6g}"), 4)]["status"] == "below_range"
    assert points[round(float(f"{high * 2:.6g}"), 4)]["status"] == "above_range"
    with Store(db, readonly=True) as store:
        assert all(MODELS_NOTE in row["note"] for row in target_rows(store))
        stored = {r.quality: r.bpp for r in store.find_records()}
    assert stored == rates  # the same points as a plain sweep of every model


def test_models_whose_rates_are_not_monotonic_are_chosen_by_rate() -> None:
    """Models drawn or trained one by one need not give rates growing with their index: the choice is by
    rate over every model, and the reason says the order was not monotonic."""
    space = Space("models", 0, 3, (1, 2, 3, 4), start=("1", "4"))
    rates = {"1": 0.4, "2": 1.6, "3": 0.9, "4": 1.2}
    points = Points()
    running = search(space, 1.0, 0.01, points, "x.png")
    try:
        while True:
            quality = next(running)
            points.bpp[quality] = rates[quality]
    except StopIteration as stop:
        match = stop.value
    assert (match.below, match.above) == (("3", 0.9), ("4", 1.2))
    assert match.quality == "3" and match.status == "nearest"
    assert "not monotonic" in match.reason
    assert match.tries == 4


@pytest.mark.slow
def test_matched_bdrate_of_a_lower_is_better_plugin_metric_uses_its_shown_values(crops, tmp_path) -> None:
    """NLPD (lower is better, shown as 1 - NLPD): the matched curve goes through the mean of the shown
    values, as a sweep's does; an image without the value at every target is left out, saying so."""
    import numpy as np

    from rdbench.analysis.bdrate import bd_rate

    db = tmp_path / "rd.sqlite"
    run_benchmark("jpeg,jpegxl", crops, db=db, target_bpp=[0.75, 1.0, 1.5], metrics="nlpd", say=_quiet)

    def curve(codec: str, images: set[str]) -> list[tuple[float, float]]:
        points = [p for p in _points(db, selections=[{"codec": codec}]) if p["image"] in images]
        targets = sorted({p["target_bpp"] for p in points})
        return [(np.mean([p["bpp"] for p in points if p["target_bpp"] == t]),
                 1 - np.mean([p["nlpd"] for p in points if p["target_bpp"] == t])) for t in targets]

    every = {p["image"] for p in _points(db)}
    (dataset,) = {p["dataset"] for p in _points(db)}
    args = ("bdrate", "--points", "matched", "--anchor", "jpeg", "--codec", "jpegxl", "--dataset", dataset,
            "--metric", "nlpd", "--db", db, "--format", "json")
    (row,) = json.loads(rdbench(*args, in_process=True, check=True).stdout)["rows"]
    assert row["value"] == pytest.approx(bd_rate(curve("jpeg", every), curve("jpegxl", every)).value)
    # one image of jpegxl loses its value at one target (a record stored before --metrics nlpd was asked)
    dropped = next(p for p in _points(db, selections=[{"codec": "jpegxl"}]) if p["target_bpp"] == 1.0)
    conn = sqlite3.connect(db)
    with conn:
        conn.execute("DELETE FROM metric_values WHERE metric = 'nlpd' AND record_id = (SELECT record_id FROM "
                     "rate_targets WHERE codec = 'jpegxl' AND image = ? AND target_bpp = 1.0)", (dropped["image"],))
    conn.close()
    (row,) = json.loads(rdbench(*args, in_process=True, check=True).stdout)["rows"]
    assert "jpegxl: 1 image(s) without a nlpd value at every target left out" in row["note"]
    assert row["value"] == pytest.approx(bd_rate(curve("jpeg", every),
                                                 curve("jpegxl", every - {dropped["image"]})).value)
