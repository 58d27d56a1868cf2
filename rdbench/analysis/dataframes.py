"""Results as pandas DataFrames, for notebooks and scripts: records, curves, BD-rate tables.

* :func:`load_records`: one row per stored record, every record field a column (``extra`` as a
  dict column, or expanded to ``extra.<key>`` columns);
* :func:`load_curves`: one row per point of each name's curve on each dataset, chosen by the one
  curve rule of :mod:`rdbench.analysis.curves` (measured means, imported and shipped published
  curves), with a ``source`` column;
* :func:`bd_frame`: a :class:`rdbench.analysis.tables.BdTable` as a long DataFrame, one row per
  (codec, dataset).

The database is always opened read-only; ``db`` may be a path or an open
:class:`rdbench.store.sqlite.Store` (left open). Records keep their true values (a lossless
image's PSNR is ``inf``); :func:`load_curves` follows the 100 dB convention of every derived number
(:data:`rdbench.analysis.aggregate.PSNR_CAP_DB`), as curves do everywhere::

    import rdbench
    records = rdbench.load_records("results/rdbench.sqlite", datasets=["kodak"])
    records.groupby(["codec", "quality"])[["bpp", "psnr"]].mean()
    curves = rdbench.load_curves("results/rdbench.sqlite", ["jpeg", "mlicpp-paper"], ["kodak"])
    rdbench.bd_frame(table).pivot(index="codec", columns="dataset", values="value")
"""

from __future__ import annotations

import dataclasses
import math
import operator
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from rdbench import metric_spec
from rdbench.analysis.aggregate import _quality_sort_key, aggregation
from rdbench.analysis.catalogue import Catalogue, CatalogueSource
from rdbench.analysis.curves import CurveInfo, resolve_curve
from rdbench.analysis.dataset_names import resolve_datasets
from rdbench.analysis.name_checks import check_names, check_qualities
from rdbench.analysis.paper_table import average_values
from rdbench.codecs.quality_choice import QualityChoice
from rdbench.errors import UsageError
from rdbench.store.record import RECORD_FIELDS, ComplexityPoint, Record
from rdbench.store.sqlite import Store

#: record fields that are whole numbers (nullable: a failed record has none)
_INTEGER_FIELDS = ("height", "width", "num_bytes", "peak_mem_bytes")
#: record fields that are measurements (float; None becomes NaN)
_FLOAT_FIELDS = ("bpp", "mse", *(m.field for m in metric_spec.BUILTIN.values()),
                 *(m.curve_field for m in metric_spec.BUILTIN.values() if m.curve_field), "encode_s", "decode_s")
#: columns of :func:`load_curves`, in order
CURVE_COLUMNS = ["name", "label", "dataset", "metric", "source", "config", "point", "quality", "bpp", "value",
                 "images", "config_hash", "weights", "device", "fallback", "origin"]


def _names(value: str | Iterable[str] | None) -> list[str]:
    """A list of names from ``None``, ``"a,b"`` or an iterable of names."""
    if value is None:
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return [str(v) for v in value]


def load_records(db: str | Path | Store, codecs: str | Iterable[str] | None = None,
                 datasets: str | Iterable[str] | None = None, status: str | None = "ok", *,
                 expand_extra: bool = False) -> pd.DataFrame:
    """The stored records as a DataFrame, one row per record, every record field a column.

    ``codecs``: names (``NAME@SELECTOR`` chooses a configuration, device or weights as everywhere);
    a name without any record in the database is a usage error, as an unknown dataset is;
    ``datasets``: stored dataset names (a folder's name works as in ``--dataset``); ``status``:
    ``"ok"`` (default), ``"failed"``, or None for every record. Columns: the fields of
    :class:`rdbench.store.record.Record` (codec, config_hash, quality (a number: int64, or float64
    when some point is fractional; the stored text only when a quality is not a number), dataset,
    image, image_hash, weights, height, width, num_bytes, bpp, mse, psnr, ms_ssim, ms_ssim_db,
    encode_s, decode_s, peak_mem_bytes, device, status, error, rdbench_version, codec_library,
    codec_version, git_commit, machine, gpu, created_at (UTC timestamps), extra (a dict)); with
    ``expand_extra`` the ``extra`` dicts become ``extra.<key>`` columns (nested keys joined by dots)
    instead. Rows are sorted by codec, dataset, configuration, quality (numerically) and image.
    Stale records (an image's earlier content, ``rdbench results --stale``) are not included.
    Values are the records' own: a lossless image's PSNR is ``inf``
    (``df.psnr.clip(upper=rdbench.PSNR_CAP_DB)`` applies the convention of derived numbers).
    """
    if status not in (None, "ok", "failed"):
        raise UsageError(f"status {status!r}: use 'ok', 'failed' or None (every record)")
    with Catalogue.opened(db) as catalogue:
        store = catalogue.store
        if store is None:
            raise UsageError("load_records needs a results database")
        selections = None
        names = _names(codecs)
        if names:
            # a name with no record at all is a typo or another database: an empty frame would hide it
            check_names(catalogue, [n for n in names if not catalogue.resolve(n).imported], measured_only=True)
            selections = []
            for name in names:
                choice = catalogue.resolve(name)
                if choice.imported:
                    raise UsageError(f"{name!r} is an imported curve: it has no records (load_curves reads it)")
                selections.append(choice.selection())
        wanted = resolve_datasets(catalogue, _names(datasets), stored_only=True) or None
        filters = {"selections": selections, "datasets": wanted, "status": status, "stale": False}
        columns = store.record_columns(**filters)
        plugin_columns = store.metric_columns(store.metric_names(), **filters)
    return _records_table(columns, plugin_columns, expand_extra)


def records_frame(records: Iterable[Record], *, expand_extra: bool = False) -> pd.DataFrame:
    """``records`` as the DataFrame :func:`load_records` returns (its columns, types and row order):
    one shape for every table of records, whether read back by selection or returned by a run."""
    records = list(records)
    plugins = sorted({name for r in records for name in r.metrics})
    return _records_table({name: [getattr(r, name) for r in records] for name in RECORD_FIELDS},
                          {name: [r.metrics.get(name) for r in records] for name in plugins}, expand_extra)


def _records_table(columns: dict[str, list[Any]], plugin_columns: dict[str, list[Any]],
                   expand_extra: bool) -> pd.DataFrame:
    """The records DataFrame from one list per record field (extra as dicts) and per plug-in metric,
    in :func:`_record_order`."""
    order = _record_order(columns)
    # built column by column, in the final order: a dict per record (dataclasses.asdict) took most of the time
    reorder = operator.itemgetter(*order) if len(order) > 1 else (lambda values: [values[i] for i in order])
    frame = pd.DataFrame({name: list(reorder(values)) for name, values in columns.items()}, columns=RECORD_FIELDS)
    for name, values in plugin_columns.items():  # plug-in metrics' values, after the records' own columns
        frame[name] = pd.Series(list(reorder(values)) if order else [], dtype="float64")
    for column in _INTEGER_FIELDS:
        frame[column] = pd.array(frame[column].astype(object).where(frame[column].notna(), None), dtype="Int64")
    for column in _FLOAT_FIELDS:
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("float64")
    frame["created_at"] = pd.to_datetime(frame["created_at"], utc=True, errors="coerce", format="ISO8601")
    frame["quality"] = _numeric_qualities(frame["quality"])
    if expand_extra:
        # normalised in stored order, then reordered: the extra.* columns come in the order keys are first met
        extras = pd.json_normalize(columns["extra"], sep=".") if order else pd.DataFrame()
        if order:
            extras = extras.iloc[order].reset_index(drop=True)
        extras.columns = [f"extra.{c}" for c in extras.columns]
        frame = pd.concat([frame.drop(columns="extra"), extras], axis=1)
    return frame


def complexity_frame(points: Iterable[ComplexityPoint]) -> pd.DataFrame:
    """Complexity points (:func:`rdbench.complexity`) as a DataFrame: one row per point, every field
    of :class:`rdbench.store.record.ComplexityPoint` a column (``extra`` a dict), and
    ``flops_per_pixel``, in the order given."""
    columns = [f.name for f in dataclasses.fields(ComplexityPoint)]
    rows = [{**dataclasses.asdict(p), "flops_per_pixel": p.flops_per_pixel} for p in points]
    return pd.DataFrame(rows, columns=[*columns, "flops_per_pixel"])


def _numeric_qualities(stored: pd.Series) -> pd.Series:
    """The stored quality texts as numbers, so that sorting and pivots order 2 before 10.

    Records store a quality as its canonical text (``"27"``, ``"0.5"``); a DataFrame user sorts,
    pivots and plots it, and text puts ``"10"`` before ``"2"``. Whole numbers become ``int64``,
    others ``float64``; a column holding a quality that is not a number (an adapter without a
    :class:`~rdbench.codecs.base.QualityDomain` may take any text) is left as the stored text,
    since no numeric order exists for it.
    """
    numbers = pd.to_numeric(stored, errors="coerce")
    if numbers.isna().any():
        return stored
    if (numbers == numbers.round()).all():
        return numbers.astype("int64")
    return numbers.astype("float64")


def _record_order(columns: dict[str, list[Any]]) -> list[int]:
    """Row order of :func:`load_records`: codec, dataset, configuration, device, weights, quality
    (numerically) and image, ties in stored order."""
    quality_keys = {q: _quality_sort_key(q) for q in set(columns["quality"])}
    keys = list(zip(columns["codec"], columns["dataset"], columns["config_hash"], columns["device"],
                    columns["weights"], [quality_keys[q] for q in columns["quality"]], columns["image"]))
    return sorted(range(len(keys)), key=keys.__getitem__)


def _metrics(metric: str | Iterable[str]) -> list[str]:
    metrics = _names(metric)
    for m in metrics:
        known = metric_spec.names()
        if m not in known:
            raise UsageError(f"metric {m!r}: use one of {', '.join(known)}, or a list of several",
                             hint=f"e.g. metric={known[:2]}")
    return metrics


def default_names(catalogue: Catalogue, datasets: list[str]) -> list[str]:
    """Every measured codec (with an ok record) and imported curve on ``datasets``: what a report
    shows when no names are given."""
    if catalogue.store is None:
        return []
    measured = {g["codec"] for g in catalogue.store.record_groups(datasets=datasets or None, status="ok")}
    imported = {n for n, ds in catalogue.imported_names().items() if not datasets or set(ds) & set(datasets)}
    return sorted(measured | imported)


def point_labels(found: CurveInfo) -> list[str | None]:
    """What each point of a published or imported curve is, where the curve says: ``QP 37`` (a QP
    list), the quality, or the lambda; None per point otherwise."""
    ref = found.reference or {}
    for key, prefix in (("qp", "QP "), ("quality", ""), ("lambda", "lambda ")):
        values = ref.get(key)
        if isinstance(values, list) and len(values) == len(found.points):
            return [f"{prefix}{v}" for v in values]
    return [None] * len(found.points)


def curve_rows(found: CurveInfo, catalogue: Catalogue) -> list[dict[str, Any]]:
    """The points of one resolved curve as :data:`CURVE_COLUMNS` rows (measured: one per quality)."""
    base = {"name": found.name, "label": found.label, "dataset": found.dataset, "metric": found.metric,
            "source": found.source, "config": found.config, "fallback": found.fallback,
            "origin": found.origin(catalogue)}
    rows = []
    if found.selection is not None:
        key = metric_spec.get(found.metric).key
        selection = found.selection
        for row in selection.rows_for(found.metric):
            value = row.get(key)
            if value is None or math.isnan(value):
                continue
            rows.append({**base, "point": len(rows), "quality": row["quality"], "bpp": row["bpp"], "value": value,
                         "images": row["n"], "config_hash": selection.config_hash, "weights": row["weights"],
                         "device": row["device"]})
        return rows
    labels = point_labels(found)
    for index, (bpp, value) in enumerate(found.points):
        rows.append({**base, "point": index, "quality": labels[index],
                     "bpp": bpp, "value": value, "images": None, "config_hash": None, "weights": None,
                     "device": None})
    return rows


def load_curves(db: str | Path | CatalogueSource, names: str | Iterable[str] | None = None,
                datasets: str | Iterable[str] | None = None, metric: str | Iterable[str] = metric_spec.DEFAULT, *,
                qualities: QualityChoice | Mapping[str, Iterable[str]] | Iterable[str] | None = None,
                aggregate: str | None = None) -> pd.DataFrame:
    """Curves as a DataFrame, one row per point, for each name on each dataset that has one; measured
    points made under the convention ``aggregate`` (``"image-mean"``, the default, or ``"dataset-mse"``;
    ``df.attrs["aggregation"]`` says which; published curves keep their authors' image means).

    Which points a name means is the one rule of :mod:`rdbench.analysis.curves` (what ``bdrate``
    and ``plot`` use): measured means of the chosen configuration, else an imported curve, else a
    shipped published one (``source``: ``measured``, ``imported`` or ``published``). ``names``
    default to every measured codec and imported curve on ``datasets``, which default to every
    dataset in the store; ``db`` (a path, an open store or a :class:`~rdbench.analysis.catalogue.Catalogue`)
    None means shipped curves only (names and datasets then needed).
    ``metric``: ``"psnr"``, ``"ms-ssim"`` or both (a list); ``qualities`` keeps only those points
    of measured curves (a list for every name, or a mapping name -> its list); a quality a measured
    name does not have is a usage error. Columns (:data:`CURVE_COLUMNS`): ``value`` is the metric's value in dB,
    ``quality`` the measured quality (or a published curve's QP where it lists one), ``images`` the
    number of images of a measured mean, ``origin`` where the points come from. ``df.attrs`` holds
    the curve rule's ``notes`` and the ``missing`` (name, dataset, metric) without a curve.
    """
    metrics = _metrics(metric)
    choice = QualityChoice.of_value(qualities)
    with Catalogue.opened(db) as catalogue, aggregation(aggregate) as used:
        wanted = resolve_datasets(catalogue, _names(datasets)) or catalogue.dataset_names()
        chosen = _names(names) or default_names(catalogue, wanted)
        if not wanted or not chosen:
            raise UsageError("load_curves needs names and datasets when the database holds none")
        check_names(catalogue, chosen)
        check_qualities(catalogue, chosen, wanted, choice)
        rows: list[dict[str, Any]] = []
        notes: list[str] = []
        missing: list[tuple[str, str, str]] = []
        for m in metrics:
            for dataset in wanted:
                for name in chosen:
                    found = resolve_curve(catalogue, name, dataset, m, choice.of(name))
                    if found is None:
                        missing.append((name, dataset, m))
                        continue
                    notes.extend(n for n in found.notes if n not in notes)
                    rows.extend(curve_rows(found, catalogue))
    frame = pd.DataFrame(rows, columns=CURVE_COLUMNS)
    frame["images"] = pd.array(frame["images"].astype(object).where(frame["images"].notna(), None), dtype="Int64")
    frame["bpp"] = frame["bpp"].astype("float64")
    frame["value"] = frame["value"].astype("float64")
    frame.attrs["notes"] = notes
    frame.attrs["missing"] = missing
    frame.attrs["aggregation"] = used
    return frame


def table_datasets(columns: list[str]) -> list[str]:
    """The dataset columns of a BD-rate table's ``columns``: those that are neither ``codec`` nor
    ``config`` nor ``"<another column> <field>"`` (``kodak overlap``)."""
    candidates = [c for c in columns if c not in ("codec", "config")]
    return [c for c in candidates if not any(c != d and c.startswith(f"{d} ") for d in candidates)]


def _cell_note(mark: dict[str, str], dataset: str, footnotes: dict[str, str]) -> str | None:
    """Why a (codec, dataset) row has NaN in it: the value's footnote, then the bootstrap
    interval's (``ci_low``/``ci_high`` NaN while the value is not, or an interval that excludes the
    value), joined by ``; ``; None when neither has one. A frame user reads this column, not the
    table's ``cells``, so the interval's reason must be here too."""
    numbers = dict.fromkeys(n for n in (mark.get(dataset), mark.get(f"{dataset} ci_low")) if n)
    reasons = [footnotes[n] for n in numbers if n in footnotes]
    return "; ".join(reasons) or None


def bd_frame(table: Any, datasets: list[str] | None = None, *, labels: Mapping[str, str] | None = None,
             average: bool = False) -> pd.DataFrame:
    """A BD-rate table (:func:`rdbench.analysis.tables.bd_table`) as a long DataFrame: one row per
    (codec, dataset) with ``value`` (the BD-rate in %, or BD-PSNR in dB), every per-dataset field the
    table carries (``kodak overlap`` -> column ``overlap``, and any other ``kodak <field>``), the
    row's ``config`` and other row fields, and ``note``: why a NaN cell is NaN (its footnote), with
    the reason a bootstrap interval (``ci_low``/``ci_high``) is NaN or excludes the value.

    ``labels`` (name -> display name, as ``rdbench bdrate --label``) adds a ``label`` column for codecs
    and ``dataset_label`` for datasets; ``average`` adds one row per codec with dataset ``average``: its
    mean over the datasets, NaN with the reason in ``note`` where it lacks a value on one
    (:func:`rdbench.analysis.paper_table.average_values`, as the paper table's average column).

    ``datasets`` defaults to the table's dataset columns (:func:`table_datasets`). ``attrs`` holds the
    table's ``anchor_info``, ``notes``, ``info``, ``curves`` and its :meth:`~BdTable.details`. A wide view:
    ``bd_frame(t).pivot(index="codec", columns="dataset", values="value")``.
    """
    datasets = datasets or table_datasets(list(table.columns))
    footnotes = {}
    for note in table.notes:
        if note.startswith("[") and "] " in note:
            number, reason = note[1:].split("] ", 1)
            footnotes[number] = reason
    marks = list(getattr(table, "marks", None) or [])
    keys = dict.fromkeys(key for row in table.rows for key in row)
    per_dataset = {key for key in keys for d in datasets if key.startswith(f"{d} ")}
    rows = []
    for index, row in enumerate(table.rows):
        mark = marks[index] if index < len(marks) else {}
        shared = {k: v for k, v in row.items() if k not in datasets and k not in per_dataset}
        for dataset in datasets:
            out: dict[str, Any] = {"codec": row.get("codec"), "dataset": dataset, "value": row.get(dataset)}
            for key, value in row.items():
                if key.startswith(f"{dataset} ") and key in per_dataset:
                    out[key[len(dataset) + 1:]] = value
            out.update({k: v for k, v in shared.items() if k != "codec"})
            out["note"] = _cell_note(mark, dataset, footnotes)
            rows.append(out)
    if average:
        rows += _average_rows(table)
    frame = pd.DataFrame(rows)
    if len(frame):
        frame["value"] = pd.to_numeric(frame["value"], errors="coerce").astype("float64")
    if labels is not None and len(frame):
        frame["label"] = [labels.get(c, c) for c in frame["codec"]]
        frame["dataset_label"] = [labels.get(d, d) for d in frame["dataset"]]
    for name in ("anchor_info", "notes", "info", "curves"):
        frame.attrs[name] = getattr(table, name, None)
    details = getattr(table, "details", None)  # a BdTable's; a table-like object may have none
    if details is not None:
        frame.attrs.update(details())
    return frame


def _average_rows(table: Any) -> list[dict[str, Any]]:
    """One row per codec: its mean over the datasets (dataset ``average``), or NaN and why."""
    return [{"codec": codec, "dataset": "average", "value": math.nan if value is None else value, "note": why}
            for codec, (value, why) in average_values(table).items()]
