"""The fast paths of the analysis side give exactly what the straightforward computations give (issue 23,
item 14): records read without a dict per row, DataFrames built by column, exact means with integers,
per-curve memos, remembered fits and bootstrap preparations, tables rendered by column. Each test computes
the same thing the plain way (``dataclasses.asdict``, ``statistics.mean``, a fresh computation with every
memo off, the cell-by-cell layout) and asks for equality, not closeness. No timing here:
``bench/bench_analysis_speed.py`` measures the speed."""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
import math
import re
import statistics

import numpy as np
import pytest
from helpers import build_store, rdbench
from hypothesis import given, settings
from hypothesis import strategies as st

import rdbench as api
from rdbench.analysis import bdrate, bootstrap
from rdbench.analysis.aggregate import _quality_sort_key, aggregate, exact_mean
from rdbench.store.record import RECORD_FIELDS, Record
from rdbench.store.sqlite import Store

pd = pytest.importorskip("pandas")

IMAGES = [f"im{i}.png" for i in range(6)]
QUALITIES = ["5", "10", "30", "50", "90"]


def _record(codec: str, quality: str, image: str, rng: np.random.Generator, **fields) -> Record:
    level = float(quality) if quality[0].isdigit() else 100.0
    bpp = float(0.05 * math.exp(level / 25) * rng.uniform(0.9, 1.1))
    psnr = float(30 + 4 * math.log2(bpp) + rng.normal(0, 0.2))
    ms_ssim = float(1 - 10 ** (-(12 + 3 * math.log2(bpp)) / 10))
    values = {"codec": codec, "config_hash": hashlib.sha256(codec.encode()).hexdigest()[:16], "quality": quality,
              "dataset": "set", "image": image, "image_hash": hashlib.sha256(image.encode()).hexdigest(),
              "height": 64, "width": 96, "num_bytes": round(bpp * 64 * 96 / 8), "bpp": bpp,
              "mse": 255.0 ** 2 / 10 ** (psnr / 10), "psnr": psnr, "ms_ssim": ms_ssim,
              "ms_ssim_db": -10 * math.log10(1 - ms_ssim), "encode_s": float(rng.uniform(0.01, 0.02)),
              "decode_s": float(rng.uniform(0.01, 0.02)), "peak_mem_bytes": int(rng.integers(1e6, 2e6)),
              "codec_library": "lib", "codec_version": "1", "created_at": "2026-01-02T03:04:05+00:00",
              "extra": {"threads": 1}}
    values.update(fields)
    return Record(**values)


@pytest.fixture(scope="module")
def varied(tmp_path_factory):
    """A real results database with what the fast paths must carry through: four codecs, failed records, a
    lossless image (PSNR inf), missing values, nested extras, two devices and weights, a stale record."""
    rng = np.random.default_rng(3)
    db = tmp_path_factory.mktemp("speed") / "rd.sqlite"
    with Store(db) as store:
        for codec in ("anchor", "b", "c", "d"):
            for image in IMAGES:
                for quality in QUALITIES:
                    store.put(_record(codec, quality, image, rng), {"adapter": "x", "params": {"codec": codec}})
        store.put(_record("c", "70", "im0.png", rng, status="failed", error="boom", bpp=None, psnr=None, mse=None,
                          ms_ssim=None, ms_ssim_db=None, extra={"traceback": "...", "nested": {"a": [1, {"b": 2}]}}))
        store.put(_record("d", "95", "im1.png", rng, psnr=math.inf, mse=0.0, ms_ssim=None, ms_ssim_db=None,
                          weights="sha256:" + "ab" * 32, extra={}))
        store.put(_record("e", "lossless", "im2.png", rng, device="cuda", peak_mem_bytes=None, encode_s=None,
                          extra={"list": [1, 2.5, "x"], "flag": True}))
        store.set_current_images("set", {image: hashlib.sha256(image.encode()).hexdigest() for image in IMAGES})
        stale = _record("b", "10", "im3.png", rng, image_hash="f" * 64)
        store.put(stale)
    return db


def _reference_frame(records: list[Record], expand_extra: bool = False) -> pd.DataFrame:
    """load_records the straightforward way: a dict per record from dataclasses.asdict."""
    rows = [dataclasses.asdict(r) for r in records]
    frame = pd.DataFrame(rows, columns=RECORD_FIELDS)
    for column in ("height", "width", "num_bytes", "peak_mem_bytes"):
        frame[column] = pd.array(frame[column].astype(object).where(frame[column].notna(), None), dtype="Int64")
    for column in ("bpp", "mse", "psnr", "ms_ssim", "ms_ssim_db", "encode_s", "decode_s"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("float64")
    frame["created_at"] = pd.to_datetime(frame["created_at"], utc=True, errors="coerce", format="ISO8601")
    numbers = pd.to_numeric(frame["quality"], errors="coerce")  # qualities are numbers when all of them are
    if not numbers.isna().any():
        frame["quality"] = numbers.astype("int64" if (numbers == numbers.round()).all() else "float64")
    order = sorted(range(len(rows)), key=lambda i: (
        rows[i]["codec"], rows[i]["dataset"], rows[i]["config_hash"], rows[i]["device"], rows[i]["weights"],
        _quality_sort_key(rows[i]["quality"]), rows[i]["image"]))
    frame = frame.iloc[order].reset_index(drop=True)
    if expand_extra:
        extras = pd.json_normalize([r["extra"] for r in rows], sep=".").iloc[order].reset_index(drop=True)
        extras.columns = [f"extra.{c}" for c in extras.columns]
        frame = pd.concat([frame.drop(columns="extra"), extras], axis=1)
    return frame


@pytest.mark.parametrize("status", ["ok", "failed", None])
def test_load_records_equals_the_frame_built_from_dataclasses_asdict(varied, status):
    with Store(varied, readonly=True) as store:
        records = store.find_records(status=status, stale=False)
    assert records, status
    pd.testing.assert_frame_equal(api.load_records(varied, status=status), _reference_frame(records))
    pd.testing.assert_frame_equal(api.load_records(varied, status=status, expand_extra=True),
                                  _reference_frame(records, expand_extra=True))
    # one record, and none
    with Store(varied, readonly=True) as store:
        one = store.find_records(selections=[{"codec": "e"}], status=status, stale=False)
    if one:
        pd.testing.assert_frame_equal(api.load_records(varied, codecs="e", status=status), _reference_frame(one))
    else:
        assert api.load_records(varied, codecs="e", status=status).empty


def test_records_read_from_tuples_equal_records_read_row_by_row(varied):
    with Store(varied, readonly=True) as store:
        plain = [Record.from_row(dict(r)) for r in store.conn.execute(
            "SELECT * FROM records ORDER BY codec, dataset, image, id")]
        fast = store.find_records()
        columns = store.record_columns()
    assert fast == plain and len(fast) == 4 * 6 * 5 + 4
    assert columns == {name: [getattr(r, name) for r in plain] for name in RECORD_FIELDS}
    assert fast[0].extra is not fast[1].extra  # every record its own extra, as json.loads gives


def test_record_dicts_equal_dataclasses_asdict_and_copy_extra_deeply(varied):
    with Store(varied, readonly=True) as store:
        records = store.find_records()
    records.append(Record("x", "0" * 16, "1", "set", "a.png", "0" * 64, bpp=math.inf, psnr=-math.inf,
                          extra={"t": (1, [2, {"u": 3}])}))
    for record in records:
        assert record.as_dict() == dataclasses.asdict(record)
        expected = dataclasses.asdict(record)
        for name, value in expected.items():
            if isinstance(value, float) and math.isinf(value):
                expected[name] = "inf" if value > 0 else "-inf"
        assert record.to_json() == expected
    nested = next(r for r in records if "nested" in r.extra)
    out = nested.to_json()
    out["extra"]["nested"]["a"][1]["b"] = 99
    assert nested.extra["nested"]["a"][1]["b"] == 2


_floats = st.floats(allow_nan=True, allow_infinity=True, width=64)


@pytest.mark.slow
@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(_floats, st.floats(min_value=-1e6, max_value=1e6), st.integers(-10, 10)), min_size=1,
                max_size=30))
def test_exact_mean_is_statistics_mean_bit_for_bit(values):
    expected = statistics.mean(values)
    got = exact_mean(values)
    assert type(got) is type(expected)
    assert (math.isnan(got) and math.isnan(expected)) or (got == expected and
                                                           math.copysign(1, got) == math.copysign(1, expected))


def test_exact_mean_raises_what_statistics_mean_raises():
    for bad in ([], [1.0, None]):
        with pytest.raises((statistics.StatisticsError, TypeError)) as ours:
            exact_mean(bad)
        with pytest.raises(type(ours.value)):
            statistics.mean(bad)


def test_selection_memo_gives_fresh_copies_of_a_fresh_computation(varied):
    with Store(varied, readonly=True) as store:
        selection = api.select_measured(store, "c", "set")
    images = selection.image_set("psnr")
    kept = set(images.images)
    expected = sorted((r for r in aggregate(r for r in selection.records if r.image in kept) if r["n"]),
                      key=lambda r: _quality_sort_key(r["quality"]))
    assert selection.rows_for("psnr") == expected == selection.rows_for("psnr", images)
    assert selection.qualities == sorted({r.quality for r in selection.records if r.ok and r.bpp is not None},
                                         key=_quality_sort_key)
    # what a caller changes is its own copy
    selection.rows_for("psnr")[0]["bpp"] = -1.0
    selection.image_set("psnr").left_out["im0.png"] = "changed"
    selection.qualities.append("1000")
    assert selection.rows_for("psnr") == expected and selection.image_set("psnr") == images
    # other records, other answers
    selection.records = [r for r in selection.records if r.image != "im5.png"]
    assert "im5.png" not in selection.image_set("psnr").images
    assert all(row["n"] == 5 for row in selection.rows_for("psnr"))


def _cells(table) -> str:
    """Everything a table holds, as text with NaN spelled out (NaN != NaN would hide nothing here)."""
    return json.dumps([table.rows, table.cells, table.notes, table.per_image, table.per_image_summary,
                       table.sensitivity, table.protocol, table.info], sort_keys=True, default=str)


def _memos_off(monkeypatch) -> None:
    for memo in (bdrate._INTERPOLANTS, bdrate._CURVES, bootstrap._WEIGHTS, bootstrap._PREPARED):
        memo.clear()
        monkeypatch.setattr(memo, "kept", 0)


@pytest.mark.parametrize("psnr_delta", [False, True])
def test_bd_table_is_the_same_with_every_memo_and_without(varied, monkeypatch, psnr_delta):
    options = {"ci": 95, "resamples": 400, "per_image": True, "sensitivity": True, "sensitivity_steps": 1,
               "psnr_delta": psnr_delta}
    with Store(varied, readonly=True) as store:
        warm = api.bd_table(store, "anchor", ["b", "c", "d", "anchor"], ["set"], **options)
        again = api.bd_table(store, "anchor", ["b", "c", "d", "anchor"], ["set"], **options)
        with monkeypatch.context() as patch:
            _memos_off(patch)
            plain = api.bd_table(store, "anchor", ["b", "c", "d", "anchor"], ["set"], **options)
            assert not len(bdrate._INTERPOLANTS) and not len(bootstrap._PREPARED)
    assert _cells(warm) == _cells(again) == _cells(plain)
    values = [c["bd_psnr" if psnr_delta else "bd_rate"] for c in plain.cells]
    assert all(math.isfinite(v) for v in values) and values[-1] == 0
    ci = {c["codec"]: c for c in plain.cells}
    assert all(math.isfinite(ci[codec]["ci_low"]) for codec in ("b", "c", "anchor"))
    assert "at least 3 images" in ci["d"]["ci_reason"]  # d's quality 95 has one image: no interval, a reason


def test_bd_table_of_real_runs_is_the_same_with_every_memo_and_without(tmp_path, monkeypatch):
    db = build_store(tmp_path)
    with Store(db, readonly=True) as store:
        (dataset,) = {g["dataset"] for g in store.record_groups()}
        warm = api.bd_table(store, "jpeg", ["webp"], [dataset], ci=95, resamples=500, per_image=True)
        with monkeypatch.context() as patch:
            _memos_off(patch)
            plain = api.bd_table(store, "jpeg", ["webp"], [dataset], ci=95, resamples=500, per_image=True)
    assert _cells(warm) == _cells(plain)
    assert math.isfinite(plain.cells[0]["bd_rate"]) and plain.cells[0]["n_images"] == 3


def test_batch_bd_prepared_rows_equal_the_plain_formulas(monkeypatch):
    """Rows in rate order (no sort), shuffled rows (sorted), a reused anchor: the same numbers as the
    Hermite formulas written out per call with every memo off."""
    rng = np.random.default_rng(5)
    rate = np.sort(rng.uniform(0.1, 2, (50, 6)), axis=1)
    anchor_q = 30 + 5 * np.log2(rate)
    test_rate, test_q = rate * rng.uniform(0.8, 1.0, (50, 1)), anchor_q + rng.normal(0, 0.01, (50, 6))
    shuffled = rng.permuted(np.tile(np.arange(6), (50, 1)), axis=1)
    test_q[3, 2] = test_q[3, 1]  # a row that is no curve: NaN
    cases = [(rate, anchor_q, test_rate, test_q),
             (np.take_along_axis(rate, shuffled, 1), np.take_along_axis(anchor_q, shuffled, 1), test_rate, test_q)]
    for psnr_delta in (False, True):
        for interval in (None, (31.0, 36.0)):
            warm = [bootstrap.batch_bd(*case, psnr_delta=psnr_delta, interval=interval) for case in cases * 2]
            with monkeypatch.context() as patch:
                _memos_off(patch)
                plain = [_plain_batch_bd(*case, psnr_delta=psnr_delta, interval=interval) for case in cases]
            for got, expected in zip(warm, plain * 2):
                np.testing.assert_array_equal(got, expected)
            assert np.isnan(warm[0][3]) and np.isfinite(warm[0][:3]).all()


def _plain_batch_bd(anchor_rate, anchor_q, test_rate, test_q, *, psnr_delta, interval):
    """batch_bd's pchip path as it was written before the prepared rows (sort, slopes, integral per call)."""
    def primitive(x, y, d, at):
        h = np.diff(x, axis=1)
        y0, y1, d0, d1 = y[:, :-1], y[:, 1:], d[:, :-1] * h, d[:, 1:] * h
        whole = h * ((y0 + y1) / 2 + (d0 - d1) / 12)
        before = np.concatenate([np.zeros((len(x), 1)), np.cumsum(whole, axis=1)], axis=1)
        k = bootstrap._segment(x, at)
        rows = np.arange(len(x))
        s = (at - x[rows, k]) / h[rows, k]
        b00, b10 = s - s**3 + s**4 / 2, s**2 / 2 - 2 * s**3 / 3 + s**4 / 4
        b01, b11 = s**3 - s**4 / 2, s**4 / 4 - s**3 / 3
        return before[rows, k] + h[rows, k] * (y0[rows, k] * b00 + d0[rows, k] * b10 + y1[rows, k] * b01
                                               + d1[rows, k] * b11)

    def sorted_rows(rate, quality):
        order = np.argsort(rate, axis=1, kind="stable")
        r, q = np.take_along_axis(rate, order, axis=1), np.take_along_axis(quality, order, axis=1)
        ok = (np.all(np.isfinite(r) & np.isfinite(q), axis=1) & np.all(r > 0, axis=1)
              & np.all(np.diff(r, axis=1) > 0, axis=1) & np.all(np.diff(q, axis=1) > 0, axis=1))
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log10(r), q, ok

    la, qa, ok_a = sorted_rows(anchor_rate, anchor_q)
    lt, qt, ok_t = sorted_rows(test_rate, test_q)
    ok = ok_a & ok_t
    if psnr_delta:
        xa, ya, xt, yt = la, qa, lt, qt
        limits = bootstrap._rate_limits_rows(la, qa, interval) if interval is not None else None
    else:
        xa, ya, xt, yt = qa, la, qt, lt
        limits = (np.full(len(xa), -np.inf if interval is None else interval[0]),
                  np.full(len(xa), np.inf if interval is None else interval[1]))
    lo, hi = np.maximum(xa[:, 0], xt[:, 0]), np.minimum(xa[:, -1], xt[:, -1])
    if limits is not None:
        lo, hi = np.maximum(lo, limits[0]), np.minimum(hi, limits[1])
    ok &= hi > lo
    with np.errstate(invalid="ignore", divide="ignore"):
        da, dt = bootstrap._pchip_slopes(xa, ya), bootstrap._pchip_slopes(xt, yt)
        avg = ((primitive(xt, yt, dt, hi) - primitive(xt, yt, dt, lo))
               - (primitive(xa, ya, da, hi) - primitive(xa, ya, da, lo))) / (hi - lo)
    return np.where(ok, avg if psnr_delta else (10 ** avg - 1) * 100, np.nan)


def test_shared_fits_and_curves_cannot_be_changed_by_a_caller():
    points = [(0.1, 30.0), (0.3, 33.0), (0.9, 36.5), (2.0, 40.0)]
    log_rate, quality = bdrate._curve(points, "anchor", "pchip")
    for array in (log_rate, quality):
        with pytest.raises(ValueError):
            array[0] = 0.0
    weights = bootstrap.resample_weights(4, 10, seed=1)
    with pytest.raises(ValueError):
        weights[0, 0] = 1.0
    assert bootstrap.resample_weights(4, 10, seed=None).flags.writeable


_MARKED = re.compile(r"^(.*) \[[^\]]+\]$")


def _plain_table(rows, columns, digits, marks) -> str:
    """render's plain table as it was written cell by cell."""
    def cell(value):
        if value is None:
            return "-"
        if isinstance(value, float):
            if math.isnan(value):
                return "nan"
            if math.isinf(value):
                return "inf" if value > 0 else "-inf"
            return f"{value:.{digits}f}"
        return str(value)

    def is_number(text):
        marked = _MARKED.match(text)
        text = marked.group(1) if marked else text
        if text in ("-", "nan", "inf", "-inf"):
            return True
        try:
            float(text)
        except ValueError:
            return False
        return True

    cells = [[cell(r.get(c)) + (f" [{m[c]}]" if m.get(c) is not None else "") for c in columns]
             for r, m in zip(rows, marks)]
    widths = [max(len(n), *(len(row[i]) for row in cells)) if cells else len(n) for i, n in enumerate(columns)]
    numeric = [bool(cells) and all(is_number(row[i]) for row in cells) for i in range(len(columns))]

    def line(values):
        return "  ".join(v.rjust(w) if right else v.ljust(w) for v, w, right in zip(values, widths, numeric)).rstrip()
    return "\n".join([line(columns), line(["-" * w for w in widths])] + [line(r) for r in cells])


def test_render_by_column_equals_the_cell_by_cell_table():
    from rdbench.cli.formatting import render

    rows = [{"f": 1.5, "n": None, "i": 3, "s": "abc", "q": "10", "b": True, "m": 2.0, "x": np.float64(0.25),
             "mixed": 1.0, "neg": -0.0},
            {"f": math.nan, "n": None, "i": -4, "s": "a longer text", "q": "5", "b": False, "m": math.nan,
             "x": np.float64(math.inf), "mixed": "inf", "neg": -math.inf},
            {"f": math.inf, "n": None, "i": 10 ** 30, "s": "", "q": "lossless", "b": True, "m": 1.0,
             "x": np.float64(-1.0), "mixed": None, "neg": 2.0}]
    columns = list(rows[0])
    for marks in ([{}, {}, {}], [{"m": "1"}, {"m": "2", "s": "3"}, {"f": "1"}]):
        for digits in (2, 4):
            expected = _plain_table(rows, columns, digits, marks)
            assert render(rows, columns, "table", digits=digits, marks=marks) == expected
    assert render([], ["a", "b"], "table") == _plain_table([], ["a", "b"], 4, [])


def test_results_per_image_prints_what_the_json_rows_print(varied):
    """The per-image table, csv and markdown equal a render of the full JSON rows (with the short weights id),
    the rows every format was made from before."""
    from rdbench.cli.formatting import render
    from rdbench.cli.results import PER_IMAGE_COLUMNS, _per_image_row

    with Store(varied, readonly=True) as store:
        records = store.find_records(stale=False)
    rows = [_per_image_row(r) for r in records]
    for row in rows:
        row["weights"] = row["weights_short"]
    for fmt in ("table", "csv", "markdown"):
        shown = rdbench("results", "--per-image", "--format", fmt, "--db", varied, in_process=True, check=True)
        assert shown.stdout.startswith(render(rows, PER_IMAGE_COLUMNS, fmt)), fmt
    table = list(csv.DictReader(io.StringIO(
        rdbench("results", "--per-image", "--format", "csv", "--db", varied, in_process=True, check=True).stdout)))
    assert {r["psnr"] for r in table if r["quality"] == "95"} == {"100.0"}  # the lossless image, capped
    assert any(r["weights"] == "abababab" for r in table)
