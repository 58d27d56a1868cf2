"""`rdbench bdrate` on shipped published curves: formats, NaN footnotes, missing anchor."""

from __future__ import annotations

import json

import pytest
from helpers import rdbench

ARGS = ["bdrate", "--anchor", "vtm18-published", "--codec", "mlicpp-paper,compressai-vtm",
        "--dataset", "kodak,tecnick,clic-pro-valid"]


def test_json_table_values_and_reasons(tmp_path):
    result = rdbench(*ARGS, "--db", tmp_path / "none.sqlite", "--format", "json", in_process=True, check=True)
    data = json.loads(result.stdout)
    rows = {r["codec"]: r for r in data["rows"]}
    assert rows["mlicpp-paper"]["kodak"] == pytest.approx(-14.408, abs=0.01)
    assert rows["mlicpp-paper"]["tecnick"] < 0
    assert rows["compressai-vtm"]["tecnick"] is None
    assert any("no psnr curve on clic-pro-valid" in n for n in data["notes"])


@pytest.mark.parametrize("fmt,marker", [("table", "BD-rate"), ("markdown", "|"), ("csv", ","), ("latex", "&")])
def test_text_formats(tmp_path, fmt, marker):
    result = rdbench(*ARGS, "--db", tmp_path / "none.sqlite", "--format", fmt, in_process=True, check=True)
    assert "mlicpp-paper" in result.stdout and marker in result.stdout


def test_bd_psnr_is_positive_for_better_codec(tmp_path):
    result = rdbench(*ARGS, "--db", tmp_path / "none.sqlite", "--bd-psnr", "--method", "cubic", "--format", "json",
                     in_process=True)
    rows = {r["codec"]: r for r in json.loads(result.stdout)["rows"]}
    assert rows["mlicpp-paper"]["kodak"] > 0.3


def test_vtm17_anchor_without_a_measured_vtm17_uses_the_shipped_one(tmp_path):
    result = rdbench("bdrate", "--anchor", "vtm17", "--codec", "mlicpp-paper", "--dataset", "kodak,tecnick",
                     "--format", "json", "--db", tmp_path / "none.sqlite", in_process=True, check=True)
    table = json.loads(result.stdout)
    assert "kodak: rdbench's shipped vtm17-rdbench, as no vtm17 is measured on kodak" in table["anchor_info"]
    assert "MISSING on tecnick" in table["anchor_info"] and "vtm18-published" in table["anchor_info"]
    assert table["rows"][0]["kodak"] == pytest.approx(-14.42, abs=0.01)


@pytest.mark.parametrize("ext,magic", [("png", b"\x89PNG"), ("svg", b"<?xml"), ("pdf", b"%PDF")])
def test_plot_writes_valid_figures(tmp_path, ext, magic):
    """Every figure, not only a paper one, carries its fonts (figure_style.save): TrueType in a PDF, no Type 3;
    SVG text drawn as paths; the caller's rcParams untouched."""
    import matplotlib

    before = matplotlib.rcParams["pdf.fonttype"], matplotlib.rcParams["svg.fonttype"]
    rdbench("plot", "--codec", "mlicpp-paper,mlic-paper", "--anchor", "vtm18-published", "--dataset", "kodak,tecnick",
            "--ext", ext, "--out", tmp_path, "--db", tmp_path / "none.sqlite", in_process=True, check=True)
    for dataset in ("kodak", "tecnick"):
        data = (tmp_path / f"rd_{dataset}_psnr.{ext}").read_bytes()
        assert data.startswith(magic) and len(data) > 2000
        if ext == "pdf":
            assert b"/FontFile2" in data and b"/Subtype /Type3" not in data
        if ext == "svg":
            assert b"<text" not in data and b"mlicpp-paper" in data  # the legend's words, as a comment
    assert (matplotlib.rcParams["pdf.fonttype"], matplotlib.rcParams["svg.fonttype"]) == before


def test_plot_styles_are_stable():
    import hashlib

    from rdbench.analysis.plots import style

    colour, marker = style("jpeg")
    assert colour.startswith("#") and len(colour) == 7
    assert marker == "osD^v<>ph*X"[(int(hashlib.sha1(b"jpeg").hexdigest(), 16) // 20) % 11]


def test_plotting_leaves_matplotlib_global_state_alone(tmp_path):
    """Importing and plotting neither switches the backend a caller chose nor opens pyplot figures."""
    import subprocess
    import sys

    code = ("import sys, matplotlib; matplotlib.use('svg'); from rdbench.analysis import plots; "
            f"plots.plot_rd({{'jpeg': [(0.2, 30.0), (0.6, 35.0)]}}, {str(tmp_path / 'rd.png')!r}); "
            "assert matplotlib.get_backend() == 'svg', matplotlib.get_backend(); "
            "assert 'matplotlib.pyplot' not in sys.modules")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "rd.png").read_bytes().startswith(b"\x89PNG")


@pytest.fixture(scope="module")
def measured_db(measured_store):
    """A real store: jpeg and webp on three Kodak crops at four qualities."""
    return measured_store.db


def test_bdrate_on_measured_codecs_matches_bjontegaard(measured_db):
    import bjontegaard

    from rdbench.analysis.curves import measured_curve
    from rdbench.store.sqlite import Store

    result = rdbench("bdrate", "--anchor", "jpeg", "--dataset", "crops", "--format", "json", "--db", measured_db,
                     in_process=True, check=True)
    rows = {r["codec"]: r for r in json.loads(result.stdout)["rows"]}
    assert set(rows) == {"webp"}
    dataset = _stored_dataset(measured_db)  # "crops" (the folder's name) found it
    with Store(measured_db, readonly=True) as store:
        (ra, da), (rt, dt) = (zip(*measured_curve(store, c, dataset, "psnr")) for c in ("jpeg", "webp"))
    expected = bjontegaard.bd_rate(list(ra), list(da), list(rt), list(dt), method="pchip", min_overlap=0)
    assert rows["webp"][dataset] == pytest.approx(expected, abs=1e-6)


def _stored_dataset(db) -> str:
    """The one dataset of a store built by build_store: the crops folder, stored as crops-<8 hex of its path>."""
    from rdbench.store.sqlite import Store

    with Store(db, readonly=True) as store:
        (name,) = {g["dataset"] for g in store.record_groups()}
    assert name.startswith("crops")
    return name
