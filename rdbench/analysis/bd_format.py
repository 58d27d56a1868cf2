"""BD cells as text for people: the wide table's columns and rows, its footnotes, readable cells.

WHY a module of its own: :func:`rdbench.analysis.tables.bd_table` computes typed cells
(:class:`~rdbench.analysis.tables.BdCell`) and says nothing about how they are shown; the CLI, the
report and the DataFrame export read the same columns and footnotes from here, so a column name or
a footnote's wording is decided once, and changing it cannot change a value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Protocol

from rdbench.analysis.bd_cells import WEAK_COVERAGE, BdCell
from rdbench.analysis.bdrate import BdKind
from rdbench.errors import plural


class _Table(Protocol):
    """What the text helpers read of a :class:`rdbench.analysis.tables.BdTable` (named by its fields, not
    imported: the table module builds its wide view with this one)."""

    anchor: str
    kind: BdKind
    per_image: list[dict[str, Any]]
    per_image_summary: list[dict[str, Any]]
    sensitivity: list[dict[str, Any]]

    @property
    def value_key(self) -> str: ...

BELOW_INTERP_ERROR = ("|value| below its interpolation error (leave-one-out subset error, docs/bd-rate.md): no "
                      "conclusion should be drawn from it")
CI_EXCLUDES_VALUE = ("the interval excludes the value itself: the resampled mean curves are skewed (few images, or one "
                     "image far from the others); read the per-image values (--per-image) before the interval")

PER_IMAGE_COLUMNS = ["codec", "dataset", "image", "value", "overlap", "interval", "reason"]
SUMMARY_COLUMNS = ["codec", "dataset", "images", "of", "median", "q1", "q3", "min", "max", "mean_curve", "reason"]
SENSITIVITY_COLUMNS = ["codec", "dataset", "variant", "anchor points", "value", "change", "interval", "reason"]


def value_label(kind: BdKind) -> str:
    """``BD-rate (%)`` or ``BD-PSNR (dB)``: the name of a value of that kind, with its unit."""
    return "BD-PSNR (dB)" if kind == "quality" else "BD-rate (%)"


def format_cell(cell: BdCell, digits: int = 2) -> str:
    """``-36.69 % [-39.37, -34.48]``: the value with its unit and, where the cell has one, its bootstrap
    interval; ``n/a`` for a cell without a value (its ``reason`` says why)."""
    if math.isnan(cell.value):
        return "n/a"
    unit = "dB" if cell.kind == "quality" else "%"
    text = f"{cell.value:.{digits}f} {unit}"
    if math.isfinite(cell.ci_low) and math.isfinite(cell.ci_high):
        text += f" [{cell.ci_low:.{digits}f}, {cell.ci_high:.{digits}f}]"
    return text


@dataclass(kw_only=True, frozen=True)
class WideTable:
    """One row per codec, one group of columns per dataset, and the footnotes the cells refer to."""

    rows: list[dict[str, Any]]
    columns: list[str]
    #: per row, column -> number of the footnote about that cell
    marks: list[dict[str, str]]
    #: ``[n] reason``, one per distinct reason, numbered in the order the cells first need them
    notes: list[str]


class _Footnotes:
    def __init__(self) -> None:
        self.notes: list[str] = []

    def number(self, reason: str) -> str:
        """The number of the footnote saying ``reason``, added at the end the first time."""
        number = next((n[1:n.index("]")] for n in self.notes if n.endswith(f"] {reason}")), None)
        if number is None:
            number = str(len(self.notes) + 1)
            self.notes.append(f"[{number}] {reason}")
        return number


def dataset_columns(dataset: str, ci: bool) -> list[str]:
    """The columns one dataset adds: value, ``overlap``, ``interp``, with a CI ``ci_low``/``ci_high``, ``interval``."""
    return [dataset, f"{dataset} overlap", f"{dataset} interp",
            *((f"{dataset} ci_low", f"{dataset} ci_high") if ci else ()), f"{dataset} interval"]


def wide_table(cells: list[BdCell], *, codecs: list[str], datasets: list[str], ci: bool,
               show_config: bool) -> WideTable:
    """One row per codec of ``cells`` (codec-major, one per dataset), with a footnote for every NaN cell
    and every caveat; ``show_config`` adds the column saying which configuration made each curve."""
    footnotes = _Footnotes()
    rows, marks = [], []
    width = len(datasets)
    for index, codec in enumerate(codecs):
        row: dict[str, Any] = {"codec": codec}
        mark: dict[str, str] = {}
        for cell in cells[index * width:(index + 1) * width]:
            _cell_columns(cell, row, mark, footnotes, ci)
        row["config"] = _config_label(cells[index * width:(index + 1) * width])
        rows.append(row)
        marks.append(mark)
    columns = ["codec"] + ["config"] * show_config + [c for d in datasets for c in dataset_columns(d, ci)]
    return WideTable(rows=rows, columns=columns, marks=marks, notes=footnotes.notes)


def _cell_columns(cell: BdCell, row: dict[str, Any], mark: dict[str, str], footnotes: _Footnotes, ci: bool) -> None:
    """One cell's columns of its codec's row, and the footnotes they need."""
    d = cell.dataset
    if cell.reason is None:
        row[d], row[f"{d} overlap"], row[f"{d} interp"] = cell.value, cell.overlap, cell.interp_error
        row[f"{d} interval"] = f"{cell.interval_text}; {cell.curve_points} pts"
        if cell.interp_error_reason:
            mark[f"{d} interp"] = footnotes.number(f"interpolation error: {cell.interp_error_reason}")
        elif cell.below_interp_error:
            mark[d] = footnotes.number(BELOW_INTERP_ERROR)
        if cell.weak_overlap:
            axis = "quality" if cell.kind == "rate" else "log-rate"
            mark[f"{d} overlap"] = footnotes.number(
                f"weak comparison: the anchor's curve covers less than {WEAK_COVERAGE:.0%} of the codec's {axis} "
                "range, so the value describes only that part of the codec's curve (coverage in JSON; docs/bd-rate.md)")
        if cell.images is not None:
            row[f"{d} interval"] += f"; {plural(len(cell.images), 'image')}"
            if cell.images.left_out:
                mark[f"{d} interval"] = footnotes.number(
                    f"{cell.codec} on {d}: every number of this cell averages {cell.images.describe()}")
    else:
        for column in dataset_columns(d, ci):
            row[column] = math.nan
            mark[column] = footnotes.number(cell.reason)
    if ci:
        if cell.ci_excludes_value:
            mark[f"{d} ci_low"] = mark[f"{d} ci_high"] = footnotes.number(CI_EXCLUDES_VALUE)
        row[f"{d} ci_low"], row[f"{d} ci_high"] = cell.ci_low, cell.ci_high
        if cell.ci_reason:
            mark[f"{d} ci_low"] = mark[f"{d} ci_high"] = footnotes.number(cell.ci_reason)


def _config_label(cells: list[BdCell]) -> str | None:
    """The configuration of a codec's curves: one label, or ``dataset: label`` per dataset when they differ."""
    configs = {cell.dataset: cell.config for cell in cells if cell.config is not None}
    labels = sorted(set(configs.values()))
    if len(labels) == 1:
        return labels[0]
    return "; ".join(f"{d}: {c}" for d, c in configs.items()) if labels else None


def title(table: _Table, metric: str, method: str, qualities: str | None, anchor_qualities: list[str] | None,
          interval: Any, interval_text: str | None) -> str:
    """``BD-rate (%) vs jpeg (psnr, pchip), quality 20,40, interval 30: dB``: what the table holds."""
    return (f"{value_label(table.kind)} vs {table.anchor} ({metric}, {method})"
            + (f", quality {qualities}" if qualities else "")
            + (f", anchor quality {', '.join(anchor_qualities)}" if anchor_qualities else "")
            + (f", interval {interval_text.strip()} dB" if interval else ""))


def per_image_rows(table: _Table) -> list[dict[str, Any]]:
    """The per-image values as rows of :data:`PER_IMAGE_COLUMNS` (one row saying there are none)."""
    key = table.value_key
    return [{"codec": r["codec"], "dataset": r["dataset"], "image": r["image"], "value": r[key],
             "overlap": r["overlap"], "interval": r["interval_text"], "reason": r.get("reason")}
            for r in table.per_image] or [{"reason": "no per-image values (see the summary)"}]


def summary_rows(table: _Table) -> list[dict[str, Any]]:
    """The per-image summaries as rows of :data:`SUMMARY_COLUMNS`."""
    return [dict(s) for s in table.per_image_summary]


def sensitivity_rows(table: _Table) -> list[dict[str, Any]]:
    """The anchor-point study as rows of :data:`SENSITIVITY_COLUMNS`."""
    return [{"codec": r["codec"], "dataset": r["dataset"], "variant": r["variant"],
             "anchor points": r["anchor_points"], "value": r["value"], "change": r["change"],
             "interval": r["interval_text"], "reason": r["reason"]} for r in table.sensitivity]
