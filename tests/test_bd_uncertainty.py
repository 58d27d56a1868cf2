"""BD values you can trust: per-image values, bootstrap intervals, interpolation error, the anchor
protocol (--anchor-qualities, --interval), the sensitivity study and the rate-difference plot.

Correctness is checked against the ``bjontegaard`` package on real per-image curves: JPEG and WebP
measured in this module on five Kodak crops at four qualities (a few seconds).
"""

from __future__ import annotations

import json
import math
import warnings

import bjontegaard
import numpy as np
import pytest
from helpers import kodak_crops, rdbench

from rdbench.analysis.bdrate import bd_rate
from rdbench.analysis.references import load_reference
from rdbench.errors import UsageError

QUALITIES = ["20", "40", "60", "80"]


def _bj(fn, anchor, test, method="pchip", **kwargs):
    (ra, da), (rt, dt) = np.array(sorted(anchor)).T, np.array(sorted(test)).T
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(ra, da, rt, dt, method=method, min_overlap=0, require_matching_points=False, **kwargs)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """jpeg and webp run by rdbench on five real Kodak crops (176 x 176) at qualities 20, 40, 60, 80."""
    root = tmp_path_factory.mktemp("uncertainty")
    crops = kodak_crops(root / "crops", 5, (96, 64, 272, 240))
    db = root / "rd.sqlite"
    rdbench("run", "--codec", "jpeg,webp", "--dataset", crops, "--quality", ",".join(QUALITIES), "--db", db,
            in_process=True, check=True)
    from rdbench.store.sqlite import Store

    with Store(db, readonly=True) as opened:
        (dataset,) = {g["dataset"] for g in opened.record_groups()}
        records = [r for r in opened.find_records() if r.ok]
    per_image: dict[str, dict[str, list]] = {}
    for r in records:
        per_image.setdefault(r.codec, {}).setdefault(r.image, []).append((r.bpp, r.psnr, r.ms_ssim, r.quality))
    return {"db": db, "dataset": dataset, "per_image": per_image, "crops": crops}


def _json(*args, db, status=0):
    result = rdbench("bdrate", *args, "--format", "json", "--db", db, in_process=True)
    assert result.returncode == status, (result.exception, result.stderr)  # 1: every cell is NaN
    return json.loads(result.stdout)


# -- per-image values --------------------------------------------------------------------------------------------------


def test_per_image_values_equal_bjontegaard_on_each_image(store):
    data = _json("--anchor", "jpeg", "--codec", "webp", "--dataset", "crops", "--per-image", db=store["db"])
    values = {e["image"]: e for e in data["per_image"]}
    assert len(values) == 5
    for image, entry in values.items():
        anchor = [(b, p) for b, p, _, _ in store["per_image"]["jpeg"][image]]
        test = [(b, p) for b, p, _, _ in store["per_image"]["webp"][image]]
        assert set(entry) >= {"codec", "dataset", "image", "bd_rate", "overlap"}
        assert entry["codec"] == "webp" and entry["dataset"] == store["dataset"]
        assert entry["bd_rate"] == pytest.approx(_bj(bjontegaard.bd_rate, anchor, test), abs=1e-6), image
        assert 0 < entry["overlap"] <= 1
    (summary,) = data["per_image_summary"]
    finite = sorted(e["bd_rate"] for e in values.values())
    assert summary["images"] == summary["of"] == 5
    assert summary["median"] == pytest.approx(finite[2]) and summary["min"] == finite[0]
    assert summary["q1"] <= summary["median"] <= summary["q3"]
    # BD-PSNR per image too
    data = _json("--anchor", "jpeg", "--codec", "webp", "--dataset", "crops", "--per-image", "--bd-psnr",
                 db=store["db"])
    entry = data["per_image"][0]
    anchor = [(b, p) for b, p, _, _ in store["per_image"]["jpeg"][entry["image"]]]
    test = [(b, p) for b, p, _, _ in store["per_image"]["webp"][entry["image"]]]
    assert entry["bd_psnr"] == pytest.approx(_bj(bjontegaard.bd_psnr, anchor, test), abs=1e-6)


def test_per_image_reasons_for_published_curves_and_missing_values(store):
    data = _json("--anchor", "jpeg", "--codec", "webp,mlicpp-paper", "--dataset", "crops", "--per-image",
                 db=store["db"])
    summaries = {s["codec"]: s for s in data["per_image_summary"]}
    assert "no psnr curve" in summaries["mlicpp-paper"]["reason"]
    # on Kodak the codec is a published curve: said, not dropped
    data = _json("--anchor", "vtm18-published", "--codec", "mlicpp-paper", "--dataset", "kodak", "--per-image",
                 db=store["db"])
    (summary,) = data["per_image_summary"]
    assert "published curve" in summary["reason"] and summary["images"] == 0


def test_per_image_entry_of_an_image_only_one_side_has_carries_a_reason(store):
    from rdbench.analysis.curves import select_measured
    from rdbench.analysis.per_image import per_image_values
    from rdbench.store.sqlite import Store

    with Store(store["db"], readonly=True) as opened:
        jpeg = select_measured(opened, "jpeg", store["dataset"])
        webp = select_measured(opened, "webp", store["dataset"])
    first = min(store["per_image"]["webp"])
    webp.records = [r for r in webp.records if r.image != first]
    entries = {e["image"]: e for e in per_image_values(jpeg, webp, "psnr")}
    assert math.isnan(entries[first]["value"]) and "measured by the anchor jpeg only" in entries[first]["reason"]
    assert sum(math.isfinite(e["value"]) for e in entries.values()) == 4


# -- bootstrap intervals -----------------------------------------------------------------------------------------------


def _selections(store, metric="psnr"):
    from rdbench.analysis.bootstrap import paired_images
    from rdbench.analysis.curves import select_measured
    from rdbench.store.sqlite import Store

    with Store(store["db"], readonly=True) as opened:
        jpeg = select_measured(opened, "jpeg", store["dataset"])
        webp = select_measured(opened, "webp", store["dataset"])
    return jpeg, webp, paired_images(jpeg, webp, metric)


@pytest.mark.parametrize("metric", ["psnr", "ms-ssim"])
def test_bootstrap_resamples_equal_bjontegaard_on_the_resampled_mean_curves(store, metric):
    """Every resample's value (vectorised) is the bjontegaard BD-rate of the two resampled mean curves,
    and the interval is the percentile interval of those values."""
    from rdbench.analysis.bootstrap import batch_bd, bootstrap_bd, resample_weights

    jpeg, webp, data = _selections(store, metric)
    assert len(data.images) == 5 and not data.left_out
    weights = resample_weights(5, 200, seed=7)
    a_rate, t_rate = weights @ data.anchor_bpp, weights @ data.test_bpp
    a_q = data.mean_quality(weights @ data.anchor_value)
    t_q = data.mean_quality(weights @ data.test_value)
    ours = batch_bd(a_rate, a_q, t_rate, t_q)
    expected = np.array([_bj(bjontegaard.bd_rate, list(zip(a_rate[i], a_q[i])), list(zip(t_rate[i], t_q[i])))
                         for i in range(200)])
    assert np.allclose(ours, expected, atol=1e-6, equal_nan=True)
    result = bootstrap_bd(data, resamples=200, seed=7, level=90)
    assert (result.low, result.high) == pytest.approx(tuple(np.nanpercentile(expected, [5, 95])), abs=1e-6)
    # all weights equal: the mean curves of the table
    full = np.full((1, 5), 1 / 5)
    value = batch_bd(full @ data.anchor_bpp, data.mean_quality(full @ data.anchor_value),
                     full @ data.test_bpp, data.mean_quality(full @ data.test_value))[0]
    assert value == pytest.approx(bd_rate(jpeg.points(metric), webp.points(metric)).value, abs=1e-9)


@pytest.mark.parametrize("method", ["pchip", "akima", "cubic"])
@pytest.mark.parametrize("psnr_delta", [False, True])
def test_vectorised_bd_equals_the_scalar_code_on_published_curves(method, psnr_delta):
    from rdbench.analysis.bdrate import bd_value
    from rdbench.analysis.bootstrap import batch_bd

    rng = np.random.default_rng(3)
    for anchor, test in [("vtm17-rdbench", "mlicpp-paper"), ("vtm18-published", "mlic-paper")]:
        a, t = load_reference(anchor, "kodak"), load_reference(test, "kodak")
        a_rate = np.array(a["bpp"])[None, :] * rng.uniform(0.97, 1.03, (20, len(a["bpp"])))
        a_q = np.tile(a["psnr"], (20, 1))
        t_rate, t_q = np.tile(t["bpp"], (20, 1)), np.tile(t["psnr"], (20, 1))
        for interval in (None, (30.0, None), (30.5, 36.0)):
            got = batch_bd(a_rate, a_q, t_rate, t_q, method=method, psnr_delta=psnr_delta, interval=interval)
            want = [bd_value(list(zip(a_rate[i], a_q[i])), list(zip(t_rate[i], t_q[i])), method,
                             psnr_delta=psnr_delta, interval=interval).value for i in range(20)]
            assert np.allclose(got, want, atol=1e-9), (anchor, method, interval)


def test_ci_cells_self_interval_is_exactly_zero_and_seed_fixes_the_interval(store):
    args = ("--anchor", "jpeg", "--codec", "webp,jpeg", "--dataset", "crops", "--ci", "95")
    data = _json(*args, db=store["db"])
    cells = {c["codec"]: c for c in data["cells"]}
    assert cells["jpeg"]["ci_low"] == 0.0 and cells["jpeg"]["ci_high"] == 0.0 and cells["jpeg"]["bd_rate"] == 0.0
    webp = cells["webp"]
    assert webp["n_images"] == 5 and webp["resamples"] == 2000 and webp["seed"] == 0 and webp["ci_level"] == 95
    assert webp["ci_low"] < webp["bd_rate"] < webp["ci_high"] < 0
    again = {c["codec"]: c for c in _json(*args, db=store["db"])["cells"]}["webp"]
    assert (again["ci_low"], again["ci_high"]) == (webp["ci_low"], webp["ci_high"])
    other = {c["codec"]: c for c in _json(*args, "--seed", "11", "--bootstrap", "500", db=store["db"])["cells"]}
    assert other["webp"]["resamples"] == 500 and (other["webp"]["ci_low"], other["webp"]["ci_high"]) != (
        webp["ci_low"], webp["ci_high"])
    # the wide table carries them as columns
    row = {r["codec"]: r for r in data["rows"]}["webp"]
    assert row[f"{store['dataset']} ci_low"] == webp["ci_low"]


def test_ci_of_a_published_curve_says_there_are_no_per_image_values(store):
    data = _json("--anchor", "vtm18-published", "--codec", "mlicpp-paper", "--dataset", "kodak", "--ci", "95",
                 db=store["db"])
    (cell,) = data["cells"]
    assert cell["ci_low"] is None and cell["ci_high"] is None
    assert "published curve" in cell["ci_reason"] and "per-image" in cell["ci_reason"]
    assert math.isfinite(cell["bd_rate"])
    text = rdbench("bdrate", "--anchor", "vtm18-published", "--codec", "mlicpp-paper", "--dataset", "kodak",
                   "--ci", "95", "--db", store["db"], in_process=True, check=True).stdout
    assert "no bootstrap interval: the codec mlicpp-paper on kodak is a published curve" in text


def test_too_few_images_or_points_for_an_interval_get_a_specific_message(store):
    from dataclasses import replace

    from rdbench.analysis.bootstrap import bootstrap_bd

    _, _, data = _selections(store)
    two = replace(data, images=data.images[:2], anchor_bpp=data.anchor_bpp[:2], anchor_value=data.anchor_value[:2],
                  test_bpp=data.test_bpp[:2], test_value=data.test_value[:2])
    result = bootstrap_bd(two)
    assert math.isnan(result.low) and "at least 3 images" in result.reason and "there are 2" in result.reason
    three = replace(data, anchor_qualities=data.anchor_qualities[:3], anchor_bpp=data.anchor_bpp[:, :3],
                    anchor_value=data.anchor_value[:, :3])
    result = bootstrap_bd(three, method="cubic")
    assert "anchor has 3 qualities per image" in result.reason and "at least 4" in result.reason
    # through the command line: one quality left, the cell itself says why
    data = _json("--anchor", "jpeg", "--codec", "webp", "--dataset", "crops", "--quality", "40", "--ci", "95",
                 db=store["db"], status=1)
    (cell,) = data["cells"]
    assert cell["bd_rate"] is None and "needs at least 2" in cell["reason"]


def test_bootstrap_of_2000_resamples_is_fast_enough_to_run_per_cell(store):
    """Not a timing test: checks the vectorised path is the one taken (no per-resample Python loop)."""
    from unittest import mock

    from rdbench.analysis import bootstrap

    _, _, data = _selections(store)
    with mock.patch.object(bootstrap, "_batch_scalar", side_effect=AssertionError("scalar path")):
        result = bootstrap.bootstrap_bd(data, resamples=2000)
    assert result.n_images == 5 and result.low < result.high


# -- interpolation error -----------------------------------------------------------------------------------------------


def test_interpolation_error_is_the_largest_leave_one_out_change_as_bjontegaard_computes_it():
    from rdbench.analysis.interpolation_error import interpolation_error

    a = list(zip(*(load_reference("vtm17-rdbench", "kodak")[k] for k in ("bpp", "psnr"))))
    t = list(zip(*(load_reference("mlicpp-paper", "kodak")[k] for k in ("bpp", "psnr"))))
    full = _bj(bjontegaard.bd_rate, a, t)
    changes = [abs(_bj(bjontegaard.bd_rate, a[:k] + a[k + 1:], t) - full) for k in range(1, len(a) - 1)]
    changes += [abs(_bj(bjontegaard.bd_rate, a, t[:k] + t[k + 1:]) - full) for k in range(1, len(t) - 1)]
    error = interpolation_error(a, t)
    assert error.value == pytest.approx(max(changes), abs=1e-6) and error.subsets == 8
    too_few = interpolation_error(a[2:4], t[2:4])
    assert math.isnan(too_few.value) and "at least 3 points" in too_few.reason


def test_values_below_their_interpolation_error_are_flagged(store):
    data = _json("--anchor", "jpeg", "--codec", "webp,jpeg", "--dataset", "crops", db=store["db"])
    cells = {c["codec"]: c for c in data["cells"]}
    assert cells["jpeg"]["below_interp_error"] is True and cells["jpeg"]["interp_error"] > 0
    webp = cells["webp"]
    assert webp["below_interp_error"] is False and abs(webp["bd_rate"]) > webp["interp_error"]
    text = rdbench("bdrate", "--anchor", "jpeg", "--codec", "webp,jpeg", "--dataset", "crops", "--format", "markdown",
                   "--db", store["db"], in_process=True, check=True).stdout
    assert "below its interpolation error" in text
    row = next(line for line in text.splitlines() if line.startswith("| jpeg |"))
    assert "0.000 [" in row


# -- the anchor protocol -----------------------------------------------------------------------------------------------


def test_shipped_vtm_curves_carry_their_qps():
    kodak, tecnick = load_reference("vtm18-published", "kodak"), load_reference("vtm18-published", "tecnick")
    assert kodak["quality"] == tecnick["quality"] == list(range(15, 51))
    assert load_reference("vtm17-rdbench", "kodak")["quality"] == [47, 42, 37, 32, 27, 22]


def test_anchor_qualities_interval_and_json_cells(store):
    ref = load_reference("vtm18-published", "kodak")
    jvet = [(b, p) for b, p, q in zip(ref["bpp"], ref["psnr"], ref["quality"]) if q in (22, 27, 32, 37)]
    test = list(zip(*(load_reference("mlicpp-paper", "kodak")[k] for k in ("bpp", "psnr"))))
    data = _json("--anchor", "vtm18-published", "--codec", "mlicpp-paper", "--dataset", "kodak",
                 "--anchor-qualities", "22,27,32,37", db=store["db"])
    (cell,) = data["cells"]
    assert set(cell) >= {"codec", "dataset", "anchor", "metric", "method", "bd_rate", "overlap", "interval",
                         "anchor_points", "interp_error"}
    assert cell["bd_rate"] == pytest.approx(_bj(bjontegaard.bd_rate, jvet, test), abs=1e-6)
    assert [p["quality"] for p in cell["anchor_points"]] == ["37", "32", "27", "22"]
    lo, hi = cell["interval"]["quality"]
    assert lo == pytest.approx(31.2642, abs=1e-3) and hi == pytest.approx(max(p for _, p in test))
    assert cell["interval"]["anchor_rate"][0] == pytest.approx(0.2476, abs=1e-4)
    assert any("anchor points on kodak: 4 points, quality 37, 32, 27, 22" in line for line in data["protocol"])
    # --interval: the integral over 30..36 dB of the same interpolants bjontegaard builds
    data = _json("--anchor", "vtm17-rdbench", "--codec", "mlicpp-paper", "--dataset", "kodak", "--interval", "30:36",
                 db=store["db"])
    (cell,) = data["cells"]
    anchor = list(zip(*(load_reference("vtm17-rdbench", "kodak")[k] for k in ("bpp", "psnr"))))
    _, fa, ft = _bj(bjontegaard.bd_rate, anchor, test, interpolators=True)
    expected = (10 ** ((ft.integrate(30, 36) - fa.integrate(30, 36)) / 6) - 1) * 100
    assert cell["bd_rate"] == pytest.approx(expected, abs=1e-6) and cell["interval"]["quality"] == [30.0, 36.0]


def test_anchor_qualities_a_curve_cannot_honour_get_a_reason(store):
    data = _json("--anchor", "compressai-vtm", "--codec", "mlicpp-paper", "--dataset", "kodak",
                 "--anchor-qualities", "22,27", db=store["db"], status=1)
    assert "without quality labels" in data["cells"][0]["reason"]
    # QPs the anchor's labelled points do not have: a usage error, not a value on fewer points
    missing = rdbench("bdrate", "--anchor", "vtm17-rdbench", "--codec", "mlicpp-paper", "--dataset", "kodak",
                      "--anchor-qualities", "22,12,13", "--db", store["db"], in_process=True)
    assert isinstance(missing.exception, UsageError) and "no point at quality 12, 13" in str(missing.exception)
    bad = rdbench("bdrate", "--anchor", "jpeg", "--interval", "36:30", "--db", store["db"], in_process=True)
    assert isinstance(bad.exception, UsageError) and "upper end" in str(bad.exception)
    outside = _json("--anchor", "jpeg", "--codec", "webp", "--dataset", "crops", "--interval", "50:60", db=store["db"],
                    status=1)
    assert "does not meet the overlap" in outside["cells"][0]["reason"]


def test_measured_anchor_restricted_to_its_qualities_matches_bjontegaard(store):
    data = _json("--anchor", "jpeg", "--codec", "webp", "--dataset", "crops", "--anchor-qualities", "20,40,60",
                 db=store["db"])
    (cell,) = data["cells"]
    assert [p["quality"] for p in cell["anchor_points"]] == ["20", "40", "60"]
    full = _json("--anchor", "jpeg", "--codec", "webp", "--dataset", "crops", db=store["db"])["cells"][0]
    anchor = [(p["bpp"], p["psnr"]) for p in full["anchor_points"] if p["quality"] != "80"]
    test = [(p["bpp"], p["psnr"]) for p in full["test_points"]]
    assert cell["bd_rate"] == pytest.approx(_bj(bjontegaard.bd_rate, anchor, test), abs=1e-6)


def test_sensitivity_drops_anchor_points_from_each_end_and_tries_the_jvet_qps(store):
    data = _json("--anchor", "vtm17-rdbench", "--codec", "mlicpp-paper", "--dataset", "kodak", "--sensitivity",
                 db=store["db"])
    rows = {r["variant"]: r for r in data["sensitivity"]}
    ref = load_reference("vtm17-rdbench", "kodak")
    anchor = sorted(zip(ref["bpp"], ref["psnr"]))
    test = list(zip(*(load_reference("mlicpp-paper", "kodak")[k] for k in ("bpp", "psnr"))))
    assert rows["all points"]["value"] == pytest.approx(data["cells"][0]["bd_rate"], abs=1e-12)
    dropped = rows["without the lowest-rate point (quality 47)"]
    assert dropped["value"] == pytest.approx(_bj(bjontegaard.bd_rate, anchor[1:], test), abs=1e-6)
    two = rows["without the 2 highest-rate points (quality 22, 27)"]
    assert two["value"] == pytest.approx(_bj(bjontegaard.bd_rate, anchor[:-2], test), abs=1e-6)
    assert two["change"] == pytest.approx(two["value"] - rows["all points"]["value"])
    assert rows["JVET QP 22, 27, 32, 37"]["value"] == pytest.approx(_bj(bjontegaard.bd_rate, anchor[2:], test),
                                                                    abs=1e-6)
    assert "do not overlap" in rows["without the 4 lowest-rate points (quality 47, 42, 37, 32)"]["reason"]
    csv_text = rdbench("bdrate", "--anchor", "vtm17-rdbench", "--codec", "mlicpp-paper", "--dataset", "kodak",
                       "--sensitivity", "--format", "csv", "--db", store["db"], in_process=True, check=True).stdout
    assert csv_text.splitlines()[0] == "codec,dataset,variant,anchor points,value,change,interval,reason"


def test_new_options_are_in_the_help():
    text = rdbench("bdrate", "--help", in_process=True, check=True).stdout
    for option in ("--per-image", "--ci", "--bootstrap", "--seed", "--anchor-qualities", "--interval",
                   "--sensitivity"):
        assert option in text, option
    assert "--delta" in rdbench("plot", "--help", in_process=True, check=True).stdout
    wrong = rdbench("bdrate", "--anchor", "jpeg", "--seed", "3", in_process=True)
    assert isinstance(wrong.exception, UsageError) and "--ci" in wrong.exception.hint


# -- the rate-difference plot ------------------------------------------------------------------------------------------


def test_rate_difference_averages_to_the_bd_rate_and_plot_delta_writes_figures(store, tmp_path):
    from rdbench.analysis.bdrate import rate_difference

    a = list(zip(*(load_reference("vtm17-rdbench", "kodak")[k] for k in ("bpp", "psnr"))))
    t = list(zip(*(load_reference("mlicpp-paper", "kodak")[k] for k in ("bpp", "psnr"))))
    q, pct = rate_difference(a, t, samples=4001)
    log_mean = np.trapz(np.log10(1 + pct / 100), q) / (q[-1] - q[0])  # BD-rate averages in the log domain
    assert (10 ** log_mean - 1) * 100 == pytest.approx(bd_rate(a, t).value, abs=1e-4)
    out = tmp_path / "plots"
    result = rdbench("plot", "--delta", "--anchor", "jpeg", "--codec", "webp", "--dataset", "crops", "--per-image",
                     "--out", out, "--db", store["db"], in_process=True, check=True)
    path = out / f"delta_{store['dataset']}_psnr_per_image.png"
    assert result.stdout.strip() == str(path) and path.read_bytes().startswith(b"\x89PNG")
    rdbench("plot", "--delta", "--anchor", "vtm17-rdbench", "--codec", "mlic-paper,mlicpp-paper", "--dataset",
            "kodak", "--ext", "svg", "--out", out, "--db", tmp_path / "none.sqlite", in_process=True, check=True)
    assert (out / "delta_kodak_psnr.svg").read_bytes().startswith(b"<?xml")
    refused = rdbench("plot", "--delta", "--codec", "webp", "--db", store["db"], in_process=True)
    assert isinstance(refused.exception, UsageError) and "--anchor" in refused.exception.hint
