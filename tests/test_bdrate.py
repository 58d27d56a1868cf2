"""BD-rate / BD-PSNR: agreement with the ``bjontegaard`` package and clear errors."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import bjontegaard
import numpy as np
import pytest

from rdbench.analysis.bdrate import BdRateError, bd_psnr, bd_rate

ANCHOR = [(0.1, 28.0), (0.25, 31.0), (0.5, 33.5), (1.0, 36.2), (1.6, 38.0)]
TEST = [(0.08, 28.4), (0.2, 31.5), (0.42, 34.0), (0.85, 36.9), (1.4, 38.9)]


def _reference(fn, anchor, test, method):
    ra, da = np.array(anchor).T
    rt, dt = np.array(test).T
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(ra, da, rt, dt, method=method, min_overlap=0, require_matching_points=False)


@pytest.mark.parametrize("method", ["pchip", "akima", "cubic"])
def test_agrees_with_bjontegaard_on_synthetic_curves(method):
    assert bd_rate(ANCHOR, TEST, method).value == pytest.approx(
        _reference(bjontegaard.bd_rate, ANCHOR, TEST, method), abs=1e-6)
    assert bd_psnr(ANCHOR, TEST, method).value == pytest.approx(
        _reference(bjontegaard.bd_psnr, ANCHOR, TEST, method), abs=1e-6)


def test_better_curve_saves_bits_and_overlap_is_reported():
    result = bd_rate(ANCHOR, TEST)
    assert result.value < 0
    assert 0 < result.overlap <= 1
    assert bd_rate(ANCHOR, ANCHOR).value == pytest.approx(0.0, abs=1e-12)


def _compressai_curve(path):
    data = json.loads(path.read_text())["results"]
    return list(zip(data["bpp"], data["psnr-rgb"]))


@pytest.mark.parametrize("method", ["pchip", "akima", "cubic"])
def test_agrees_with_bjontegaard_on_published_compressai_curves(reference_dir, method):
    folder = reference_dir / "compressai_results" / "8bit-decoded" / "kodak"
    files = sorted(folder.glob("*.json"))
    vtm = [f for f in files if "vtm" in f.name.lower()]
    anchor = _compressai_curve(vtm[0] if vtm else files[0])
    checked = 0
    for path in files:
        curve = _compressai_curve(path)
        if len(curve) < 4:
            continue
        try:
            ours = bd_rate(anchor, curve, method).value
        except BdRateError:
            continue
        assert ours == pytest.approx(_reference(bjontegaard.bd_rate, anchor, curve, method), abs=1e-6), path.name
        checked += 1
    assert checked >= 3


@pytest.mark.parametrize(
    "anchor,test,method,words",
    [
        (ANCHOR[:3], TEST, "cubic", "needs at least 4"),
        (ANCHOR[:1], TEST, "pchip", "needs at least 2"),
        ([(0.1, 30.0), (0.2, 29.0), (0.4, 33.0)], TEST, "pchip", "not monotonic"),
        ([(0.1, 30.0), (0.1, 31.0), (0.4, 33.0)], TEST, "pchip", "duplicate"),
        ([(5.0, 40.0), (6.0, 41.0), (7.0, 42.0)], [(0.1, 20.0), (0.2, 21.0)], "pchip", "do not overlap"),
        (ANCHOR, TEST, "linear", "unknown BD method"),
    ],
)
def test_clear_errors(anchor, test, method, words):
    with pytest.raises(BdRateError, match=words):
        bd_rate(anchor, test, method)


def test_mlicpp_vs_vtm18_on_kodak_matches_published_figure(reference_dir):
    """MLIC++ (JiangWeibeta/MLIC results) vs VTM-18.0 (duanzhiihao/lossy-vae) on Kodak: about -14.41 %."""
    rd = reference_dir / "rd"
    mlic = json.loads((rd / "JiangWeibeta_MLIC/results/kodak/mlicplusplus_mse.json").read_text())
    vtm = json.loads((rd / "duanzhiihao_lossy-vae/results/kodak/kodak-vtm18.0.json").read_text())
    anchor, test = list(zip(vtm["bpp"], vtm["psnr"])), list(zip(mlic["bpp"], mlic["psnr"]))
    result = bd_rate(anchor, test)
    assert isinstance(result.value, float)
    assert result.value == pytest.approx(-14.41, abs=0.01)
    assert result.value == pytest.approx(_reference(bjontegaard.bd_rate, anchor, test, "pchip"), abs=1e-6)
    assert 0.3 < result.overlap < 0.5


def test_shipped_references_load_and_carry_provenance():
    from rdbench.analysis.references import list_references, load_reference

    known = list_references()
    assert {"mlicpp-paper", "vtm18-published", "compressai-vtm", "compressai-mbt2018-mean"} <= set(known)
    assert set(known["mlic-paper"]) == {"kodak", "tecnick", "clic-pro-valid"}
    curve = load_reference("mlicpp-paper", "kodak")
    assert len(curve["bpp"]) == len(curve["psnr"]) == 6
    assert curve["source_repository"].startswith("JiangWeibeta/MLIC")
    with pytest.raises(Exception, match="no 'clic-pro-valid' curve"):
        load_reference("vtm18-published", "clic-pro-valid")
    with pytest.raises(Exception, match="did you mean"):
        load_reference("mlicpp-papr", "kodak")


def test_shipped_references_match_a_fresh_conversion(reference_dir, tmp_path, capsys):
    """scripts/build_references.py (a maintenance script, loaded by path) rebuilds the shipped files."""
    import importlib.util

    from rdbench.analysis.references import REFERENCE_DIR

    script = Path(__file__).resolve().parents[1] / "scripts" / "build_references.py"
    spec = importlib.util.spec_from_file_location("build_references", script)
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
    build.main([str(reference_dir), "--out", str(tmp_path)])
    written = [Path(line) for line in capsys.readouterr().out.splitlines()]
    assert len(written) > 20 and {p.parent for p in written} == {tmp_path}
    for path in written:
        assert json.loads(path.read_text()) == json.loads((REFERENCE_DIR / path.name).read_text()), path.name


@pytest.mark.parametrize("method", ["pchip", "akima", "cubic"])
@pytest.mark.parametrize("anchor", ["vtm18-published", "compressai-vtm"])
def test_published_table_matches_bjontegaard_cell_by_cell(reference_dir, tmp_path, method, anchor):
    """Acceptance: `rdbench bdrate` over every shipped published curve equals the bjontegaard package."""
    from helpers import rdbench

    from rdbench.analysis.references import load_reference

    datasets = ["kodak", "tecnick", "clic-pro-valid"]
    result = rdbench("bdrate", "--anchor", anchor, "--dataset", ",".join(datasets), "--method", method,
                     "--format", "json", "--db", tmp_path / "none.sqlite", in_process=True, check=True)
    table = json.loads(result.stdout)
    checked = 0
    for row in table["rows"]:
        for dataset in datasets:
            value = row[dataset]
            if value is None:  # a NaN cell always carries its reason
                assert any(row["codec"] in n or f"anchor {anchor}" in n for n in table["notes"]), row
                continue
            a, t = load_reference(anchor, dataset), load_reference(row["codec"], dataset)
            expected = _reference(bjontegaard.bd_rate, list(zip(a["bpp"], a["psnr"])),
                                  list(zip(t["bpp"], t["psnr"])), method)
            assert value == pytest.approx(expected, abs=1e-6), (row["codec"], dataset)
            checked += 1
    assert checked >= 30


@pytest.mark.parametrize("curve", ["mlic-paper", "mlicplus-paper", "mlicpp-paper"])
def test_measured_vtm17_anchor_agrees_with_published_vtm18(curve):
    """rdbench's own VTM-17.0 Kodak run (shipped as vtm17-rdbench, bench/results/vtm17_kodak.md) and the
    independently published VTM-18.0 intra curve give the MLIC curves the same BD-rate to 0.1 pp:
    the VTM adapter's colour conversion, cfg and QPs are set up as the field's anchors are."""
    from rdbench.analysis.references import load_reference

    def points(name):
        ref = load_reference(name, "kodak")
        return list(zip(ref["bpp"], ref["psnr"]))

    ours = bd_rate(points("vtm17-rdbench"), points(curve)).value
    published = bd_rate(points("vtm18-published"), points(curve)).value
    assert ours == pytest.approx(published, abs=0.1) and ours < -8
