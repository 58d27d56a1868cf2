"""The table JPEG AI papers print, as a paper table: one row per codec, one column per metric's BD-rate
(the mean over images of per-image BD-rates) and the average over the metrics.

WHY apart from :mod:`rdbench.analysis.paper_table`: that table lays out one metric's BD values between
mean curves, one column per dataset. The figure JPEG AI ranks codecs by is another number
(:mod:`rdbench.analysis.metric_average`: per image and metric a BD-rate, their mean over images, the
mean of those over the metrics), and papers print it with one column per metric. The numbers here are
:func:`~rdbench.analysis.metric_average.metric_average`'s rows, the ones ``bdrate --format json``
prints as ``average``; the layout, escaping and rendering are :class:`~rdbench.analysis.paper_table.PaperTable`'s.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from rdbench import metric_spec
from rdbench.analysis.metric_average import AVERAGE as AVERAGE_KEY
from rdbench.analysis.metric_average import metric_average, metric_mean
from rdbench.analysis.paper_table import (
    AVERAGE,
    MISSING,
    Notes,
    PaperCell,
    PaperTable,
    mark_best,
    namer,
)
from rdbench.analysis.tables import BdTable
from rdbench.errors import UsageError, plural


def _metric_label(name: str, labels: Mapping[str, str] | None) -> str:
    """A metric's heading: its display name where ``labels`` gives one, else its declared label (``NLPD``,
    not ``1 - NLPD``: the column is the metric's BD-rate; the caption says it is integrated as 1 - NLPD)."""
    if labels and name in labels:
        return labels[name]
    spec = metric_spec.get(name)
    return spec.label or spec.name


def _check(tables: Mapping[str, BdTable], averaged: Sequence[str]) -> None:
    """The tables must be BD-rate tables of the same comparison, each made with ``per_image=True``, and
    every averaged metric one of them: anything else is a usage error, not a table of dashes."""
    if len(tables) < 2:
        raise UsageError("a table over metrics needs the tables of two metrics or more",
                         hint="for one metric use rdbench.paper_table")
    first = next(iter(tables.values()))
    for name, table in tables.items():
        if table.kind != "rate":
            raise UsageError(f"the table of {name} holds BD-PSNR: JPEG AI averages BD-rates",
                             hint="make the tables with kind='rate' (rdbench bdrate without --bd-psnr)")
        if (table.anchor, table.codecs, table.datasets) != (first.anchor, first.codecs, first.datasets):
            raise UsageError(f"the table of {name} compares other codecs, datasets or another anchor than the first")
        if table.cells and not table.per_image_summary:
            raise UsageError(f"the table of {name} has no per-image BD-rates, which the average takes",
                             hint="make each table with bd_table(..., per_image=True)")
    unknown = [n for n in averaged if n not in tables]
    if unknown:
        raise UsageError(f"averaged metric {', '.join(unknown)} has no table")


def _images(rows: list[dict[str, Any]], names: Sequence[str], dataset: str) -> str:
    """How many images the per-metric means of ``dataset`` average (a range where they differ)."""
    sizes = sorted({row[f"{n} images"] for row in rows if row["dataset"] == dataset for n in names
                    if row[f"{n} images"] and math.isfinite(row[n])})
    if not sizes:
        return "no images"
    return plural(sizes[0], "image") if len(sizes) == 1 else f"{sizes[0]}-{sizes[-1]} images"


def metrics_caption(tables: Mapping[str, BdTable], averaged: Sequence[str], rows: list[dict[str, Any]], *,
                    labels: Mapping[str, str] | None = None, best: bool = True) -> str:
    """What the numbers are, exactly: per image and metric the BD-rate against the anchor (method,
    interval, one-minus metrics), the mean over images, the mean over the averaged metrics (named), the
    images per dataset, the aggregation (per image: none enters) and the bold mark."""
    name = namer(labels)
    first = next(iter(tables.values()))
    method = first.cells[0].method if first.cells else "pchip"
    one_minus = [_metric_label(n, labels) for n in tables if metric_spec.get(n).scale == "one-minus"]
    parts = [f"BD-rate (%) against {name(first.anchor)} per metric, as JPEG AI reports it: for each image and "
             f"metric the BD-rate of that image's curve against the anchor's curve on the same image ({method} "
             "interpolation"
             + "".join(f", {shown} integrated as 1 - {shown}" for shown in one_minus)
             + "; negative: fewer bits at equal quality), then per metric the mean of these BD-rates over the images"]
    if first.interval:
        lo, hi = ("" if v is None else f"{v:g}" for v in first.interval)
        parts.append(f"Each per-image BD-rate integrated over its overlap within the shown values {lo}:{hi}")
    else:
        parts.append("Each per-image BD-rate integrated over the whole overlap of the two curves")
    shown = ", ".join(_metric_label(n, labels) for n in averaged)
    sentence = (f"{AVERAGE}: the mean of these means over the {plural(len(averaged), 'metric')} ({shown}), only for "
                "codecs with a mean for each of them")
    others = [_metric_label(n, labels) for n in tables if n not in averaged]
    if others:
        sentence += f"; {', '.join(others)} shown, not averaged"
    parts.append(sentence)
    parts.append("Images: " + "; ".join(f"{name(d)}: {_images(rows, list(tables), d)}" for d in first.datasets))
    parts.append("Aggregation: none, each image's own curve (the per-image BD-rates do not depend on how curves "
                 f"pool images; the mean curves here are {first.aggregation})")
    if best:
        parts.append("Best value per column in bold")
    return ". ".join(parts) + "."


def metrics_paper_table(tables: Mapping[str, BdTable], averaged: Sequence[str] | None = None, *,
                        labels: Mapping[str, str] | None = None, best: bool = True, digits: int = 2,
                        label: str = "tab:bd-metrics") -> PaperTable:
    """The table over metrics of ``tables`` (metric name -> :func:`rdbench.analysis.tables.bd_table`'s
    BD-rate table of the same comparison, each made with ``per_image=True``).

    Rows: the codecs (display names from ``labels``, which may also name metrics and datasets); columns:
    per dataset (a heading per dataset where there are several), each metric's mean over images of
    per-image BD-rates, then :data:`~rdbench.analysis.paper_table.AVERAGE`, the mean over ``averaged``
    (default: every metric of ``tables``; :func:`rdbench.metric_spec.averaged` gives a set's) only where
    the codec has a mean for each of them; otherwise a dash whose footnote names the missing metrics and
    why. A missing mean is a dash with its reason too. ``best``: each column's lowest value bold."""
    averaged = list(tables) if averaged is None else list(averaged)
    _check(tables, averaged)
    rows = metric_average(tables, averaged)
    first = next(iter(tables.values()))
    name = namer(labels)
    notes = Notes(labels)
    heads = [_metric_label(n, labels) for n in tables] + [AVERAGE]
    groups = ([(name(d), heads) for d in first.datasets] if len(first.datasets) > 1
              else [(head, [head]) for head in heads])
    by_cell = {(row["codec"], row["dataset"]): row for row in rows}
    body = []
    for codec in first.codecs:
        cells = [PaperCell(name(codec))]
        for dataset in first.datasets:
            row = by_cell[(codec, dataset)]
            for metric, table in tables.items():
                value, _, reason = metric_mean(metric, table, codec, dataset)
                cells.append(PaperCell(f"{value:.{digits}f}", value, numeric=True) if reason is None
                             else PaperCell(MISSING, marks=(notes.mark(f"{_metric_label(metric, labels)}: {reason}"),)))
            if row["complete"]:
                cells.append(PaperCell(f"{row[AVERAGE_KEY]:.{digits}f}", row[AVERAGE_KEY], numeric=True))
            else:
                missing = "; ".join(f"{_metric_label(m, labels)} ({why})" for m, why in row["left_out"].items())
                cells.append(PaperCell(MISSING, marks=(notes.mark(
                    f"no average over the {plural(len(averaged), 'metric')}: without {missing}"),)))
        body.append(cells)
    if best:
        body = mark_best(body, "rate")
    caption = metrics_caption(tables, averaged, rows, labels=labels, best=best)
    return PaperTable(groups, body, caption, notes.lines(), digits=digits, label=label)
