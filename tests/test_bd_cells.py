"""BD values as typed cells (issue 24, item 3): ``bd_table`` computes :class:`BdCell` objects with
keyword-only fields and a ``kind`` instead of a ``psnr_delta`` flag; :mod:`rdbench.analysis.bd_format`
makes the columns, footnotes and readable strings. The split must not change a byte of what
``rdbench bdrate`` prints: the golden file ``tests/golden/bd_cells.json`` was written by the code before
the split (commit a690fdb) from the store :func:`_store` builds, for every format, with ``--ci`` and
``--per-image``. Regenerate it only for a deliberate change of the output:
``RDBENCH_WRITE_GOLDEN=1 python3 -m pytest tests/test_bd_cells.py -k golden``."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
from pathlib import Path

import numpy as np
import pytest
from helpers import rdbench

import rdbench as api
from rdbench.analysis import bd_format
from rdbench.analysis.bd_cells import BdCell
from rdbench.analysis.tables import BdTable
from rdbench.store.record import Record
from rdbench.store.sqlite import Store

GOLDEN = Path(__file__).parent / "golden" / "bd_cells.json"
IMAGES = [f"im{i}.png" for i in range(5)]
QUALITIES = ["10", "30", "50", "70", "90"]
FORMATS = ("table", "markdown", "json", "csv", "latex")
#: what the golden file holds: each with every format
CASES = {
    "ci-per-image": ["--anchor", "anchor", "--dataset", "set", "--codec", "b,c,narrow", "--ci", "95", "--per-image"],
    "bd-psnr-ci": ["--anchor", "anchor", "--dataset", "set", "--codec", "b,c", "--bd-psnr", "--ci", "95", "--bootstrap", "500"],
    "published-anchor": ["--anchor", "vtm18-published", "--codec", "b,mlicpp-paper", "--dataset", "set,kodak",
                         "--ci", "95", "--per-image"],
    "weak-anchor": ["--anchor", "narrow", "--codec", "b,c", "--dataset", "set", "--ci", "95"],
    "sensitivity": ["--anchor", "anchor", "--dataset", "set", "--codec", "b", "--sensitivity", "--metric", "ms-ssim"],
}


def _record(codec: str, quality: str, image: str, rng: np.random.Generator, shift: float) -> Record:
    bpp = float(0.05 * math.exp(float(quality) / 25) * rng.uniform(0.9, 1.1))
    psnr = float(30 + shift + 4 * math.log2(bpp) + rng.normal(0, 0.3))
    ms_ssim = float(1 - 10 ** (-(12 + shift + 3 * math.log2(bpp)) / 10))
    return Record(codec=codec, config_hash=hashlib.sha256(codec.encode()).hexdigest()[:16], quality=quality,
                  dataset="set", image=image, image_hash=hashlib.sha256(image.encode()).hexdigest(), height=64,
                  width=96, num_bytes=round(bpp * 64 * 96 / 8), bpp=bpp, mse=255.0 ** 2 / 10 ** (psnr / 10),
                  psnr=psnr, ms_ssim=ms_ssim, ms_ssim_db=-10 * math.log10(1 - ms_ssim), encode_s=0.01, decode_s=0.01,
                  peak_mem_bytes=1_000_000, codec_library="lib", codec_version="1",
                  created_at="2026-01-02T03:04:05+00:00", extra={})


def _store(db: Path) -> Path:
    """Four codecs on five images: ``c`` lacks one image at one quality (a left-out image), ``narrow`` spans
    only the top of the anchor's range (a weak comparison)."""
    rng = np.random.default_rng(24)
    with Store(db) as store:
        for codec, shift, qualities in (("anchor", 0.0, QUALITIES), ("b", 0.8, QUALITIES), ("c", -0.4, QUALITIES),
                                        ("narrow", 0.5, ["70", "80", "90"])):
            for image in IMAGES:
                for quality in qualities:
                    if (codec, image, quality) != ("c", "im4.png", "30"):
                        store.put(_record(codec, quality, image, rng, shift), {"adapter": "x", "params": {}})
        store.set_current_images("set", {image: hashlib.sha256(image.encode()).hexdigest() for image in IMAGES})
    return db


def _without(text: str, db: Path) -> str:
    """``text`` with the database's path (as printed, and as LaTeX escapes it) spelled ``<db>``."""
    return text.replace(str(db), "<db>").replace(str(db).replace("_", "\\_"), "<db>")


def _outputs(db: Path) -> dict[str, dict[str, object]]:
    out = {}
    for name, args in CASES.items():
        for fmt in FORMATS:
            ran = rdbench("bdrate", *args, "--db", db, "--format", fmt, in_process=True)
            assert ran.exception is None, ran.exception
            out[f"{name} {fmt}"] = {"rc": ran.returncode, "stdout": _without(ran.stdout, db),
                                    "stderr": _without(ran.stderr, db)}
    return out


@pytest.fixture(scope="module")
def db(tmp_path_factory) -> Path:
    return _store(tmp_path_factory.mktemp("bdcells") / "rd.sqlite")


def test_bdrate_prints_what_it_printed_before_the_split(db):
    got = _outputs(db)
    if os.environ.get("RDBENCH_WRITE_GOLDEN"):
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(json.dumps(got, indent=1, sort_keys=True) + "\n")
    want = json.loads(GOLDEN.read_text())
    assert sorted(got) == sorted(want)
    for key in want:
        assert got[key] == want[key], key
    # the store exercises what the footnotes are for
    assert "left out" in want["ci-per-image table"]["stdout"]
    assert "weak comparison" in want["weak-anchor table"]["stdout"]


def test_cells_are_typed_and_keyword_only(db):
    with Store(db, readonly=True) as store:
        table = api.bd_table(store, "anchor", ["b", "c"], ["set"], ci=95)
    assert all(isinstance(cell, BdCell) for cell in table.cells) and table.kind == "rate"
    for cls in (BdCell, BdTable):
        assert all(f.kw_only for f in dataclasses.fields(cls)), cls
    with pytest.raises(TypeError):
        BdCell("b", "set", "anchor", "psnr", "pchip", "rate")  # type: ignore[misc]
    b = table.cells[0]
    assert (b.codec, b.dataset, b.config) == ("b", "set", hashlib.sha256(b"b").hexdigest()[:8])
    assert b.value < 0 and b.ci_low <= b.value <= b.ci_high and b.n_images == 5 and b.reason is None
    assert b["bd_rate"] == b.value and b.to_json()["ci_low"] == b.ci_low  # read like its JSON object
    c = table.cells[1]
    assert c.images is not None and set(c.images.left_out) == {"im4.png"} and c.to_json()["left_out"] == 1


def test_kind_replaces_psnr_delta_and_the_old_spelling_still_works(db):
    with Store(db, readonly=True) as store:
        quality = api.bd_table(store, "anchor", ["b"], ["set"], kind="quality")
        old = api.bd_table(store, "anchor", ["b"], ["set"], psnr_delta=True)
    assert quality.kind == old.kind == "quality" and quality.value_key == "bd_psnr"
    assert quality.cells[0].value == old.cells[0].value > 0 and "bd_psnr" in quality.cells[0].to_json()


def test_format_cell_reads_like_a_sentence():
    cell = BdCell(codec="b", dataset="kodak", anchor="vtm", metric="psnr", method="pchip", kind="rate",
                  value=-36.6912, ci_level=95, ci_low=-39.3741, ci_high=-34.4812)
    assert bd_format.format_cell(cell) == "-36.69 % [-39.37, -34.48]"
    assert bd_format.format_cell(dataclasses.replace(cell, ci_level=None, ci_low=math.nan,
                                                     ci_high=math.nan)) == "-36.69 %"
    assert bd_format.format_cell(dataclasses.replace(cell, kind="quality", value=0.5234, ci_low=0.4, ci_high=0.61),
                                 digits=3) == "0.523 dB [0.400, 0.610]"
    assert bd_format.format_cell(dataclasses.replace(cell, value=math.nan, reason="no curve")) == "n/a"
    assert bd_format.value_label("rate") == "BD-rate (%)" and bd_format.value_label("quality") == "BD-PSNR (dB)"
    assert api.format_cell is bd_format.format_cell and api.BdCell is BdCell  # public names


def test_the_wide_table_is_made_from_the_cells(db):
    """Columns and footnotes come from the cells alone: a NaN cell's columns all point at its reason."""
    with Store(db, readonly=True) as store:
        table = api.bd_table(store, "anchor", ["b", "mlicpp-paper"], ["set"], ci=95)
    wide = bd_format.wide_table(table.cells, codecs=table.codecs, datasets=table.datasets, ci=True, show_config=True)
    assert wide.columns == ["codec", "config", *bd_format.dataset_columns("set", ci=True)]
    assert wide.rows[0]["set"] == table.cells[0].value and wide.rows == table.rows
    assert wide.notes == table.notes and wide.marks == table.marks
    reason = table.cells[1].reason
    assert reason and all(wide.notes[int(n) - 1] == f"[{n}] {reason}" for n in wide.marks[1].values())
