"""`rdbench bdrate` on shipped published curves: formats, NaN footnotes, missing anchor."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from rdbench.cli.main import cli
from rdbench.errors import RdbenchError

ARGS = ["bdrate", "--anchor", "vtm18-published", "--codec", "mlicpp-paper,compressai-vtm",
        "--dataset", "kodak,tecnick,clic-pro-valid"]


def _run(tmp_path, *extra):
    return CliRunner().invoke(cli, [*ARGS, "--db", str(tmp_path / "none.sqlite"), *extra])


def test_json_table_values_and_reasons(tmp_path):
    result = _run(tmp_path, "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    rows = {r["codec"]: r for r in data["rows"]}
    assert rows["mlicpp-paper"]["kodak"] == pytest.approx(-14.408, abs=0.01)
    assert rows["mlicpp-paper"]["tecnick"] < 0
    assert rows["compressai-vtm"]["tecnick"] is None
    assert any("no psnr curve on clic-pro-valid" in n for n in data["notes"])


@pytest.mark.parametrize("fmt,marker", [("table", "BD-rate"), ("markdown", "|"), ("csv", ","), ("latex", "&")])
def test_text_formats(tmp_path, fmt, marker):
    result = _run(tmp_path, "--format", fmt)
    assert result.exit_code == 0, result.output
    assert "mlicpp-paper" in result.output and marker in result.output


def test_bd_psnr_is_positive_for_better_codec(tmp_path):
    result = _run(tmp_path, "--bd-psnr", "--method", "cubic", "--format", "json")
    rows = {r["codec"]: r for r in json.loads(result.output)["rows"]}
    assert rows["mlicpp-paper"]["kodak"] > 0.3


def test_missing_vtm17_anchor_names_an_alternative(tmp_path):
    result = CliRunner().invoke(cli, ["bdrate", "--anchor", "vtm17", "--db", str(tmp_path / "none.sqlite")])
    assert isinstance(result.exception, RdbenchError)
    assert "vtm17" in str(result.exception) and "vtm18-published" in result.exception.hint
    assert "vtm17-rdbench" in result.exception.hint  # the shipped measured VTM-17.0 curve (Kodak)


@pytest.mark.parametrize("ext,magic", [("png", b"\x89PNG"), ("svg", b"<?xml"), ("pdf", b"%PDF")])
def test_plot_writes_valid_figures(tmp_path, ext, magic):
    result = CliRunner().invoke(cli, ["plot", "--codec", "mlicpp-paper,mlic-paper", "--anchor", "vtm18-published",
                                      "--dataset", "kodak,tecnick", "--ext", ext, "--out", str(tmp_path),
                                      "--db", str(tmp_path / "none.sqlite")])
    assert result.exit_code == 0, result.output
    for dataset in ("kodak", "tecnick"):
        data = (tmp_path / f"rd_{dataset}_psnr.{ext}").read_bytes()
        assert data.startswith(magic) and len(data) > 2000


def test_plot_styles_are_stable():
    from rdbench.analysis.plots import style

    import hashlib

    colour, marker = style("jpeg")
    assert colour.startswith("#") and len(colour) == 7
    assert marker == "osD^v<>ph*X"[(int(hashlib.sha1(b"jpeg").hexdigest(), 16) // 20) % 11]


@pytest.fixture(scope="module")
def measured_db(tmp_path_factory):
    """A real store: jpeg and webp on three Kodak crops at four qualities."""
    from tests.measured_store import build_store

    return build_store(tmp_path_factory.mktemp("analysis"))


def test_bdrate_on_measured_codecs_matches_bjontegaard(measured_db):
    import bjontegaard

    from rdbench.store.sqlite import Store
    from rdbench.analysis.tables import measured_curve

    result = CliRunner().invoke(cli, ["bdrate", "--anchor", "jpeg", "--dataset", "crops", "--format", "json",
                                      "--db", str(measured_db)])
    assert result.exit_code == 0, result.output
    rows = {r["codec"]: r for r in json.loads(result.output)["rows"]}
    assert set(rows) == {"webp"}
    with Store(measured_db, readonly=True) as store:
        (ra, da), (rt, dt) = (zip(*measured_curve(store, c, "crops", "psnr")) for c in ("jpeg", "webp"))
    expected = bjontegaard.bd_rate(list(ra), list(da), list(rt), list(dt), method="pchip", min_overlap=0)
    assert rows["webp"]["crops"] == pytest.approx(expected, abs=1e-6)
