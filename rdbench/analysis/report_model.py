"""The report's data model: what ``rdbench report`` shows, with every number already formatted
(:mod:`rdbench.analysis.report_gather` fills it from the store, :mod:`rdbench.analysis.report`
renders it through Jinja2 templates).

WHY a model apart from the markup: the numbers, their footnotes and their provenance are decided
here, in Python a test can read; the templates only lay them out, and autoescape makes every string
from the database or an imported file (codec names, descriptions, errors, file names) text, with no
opt-in escaping to forget. Figures are SVG drawn by :mod:`rdbench.analysis.svgplot`, which escapes
every text it writes; they are the only markup the model carries.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Iterable, Sequence
from typing import Any

from rdbench import metric_spec
from rdbench.analysis.paper_table import PaperTable
from rdbench.analysis.tables import BdTable

# -- cells and tables ----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Cell:
    """One table cell as shown: its text, the number it sorts by (``data-v``; "" sorts last), its CSS
    classes and the footnotes it points to."""

    text: str
    sort: str | None = None
    cls: str = ""
    marks: tuple[str, ...] = ()


@dataclasses.dataclass
class Table:
    """A sortable table of formatted cells; no rows shows "nothing to show"."""

    columns: list[str]
    rows: list[list[Cell]]
    caption: str = ""
    cls: str = "sortable"


@dataclasses.dataclass
class Figure:
    """An SVG chart and its legend (markup from :mod:`rdbench.analysis.svgplot`, text escaped there),
    its caption and the table of its points."""

    number: int
    svg: str
    legend: str
    caption: str = ""
    points: Table | None = None
    #: the metric it shows ("" when it is not one metric's): what the report's metric selector shows or hides
    metric: str = ""


@dataclasses.dataclass
class FigureGroup:
    """Figures under one heading (a dataset), lines saying what could not be drawn, tables after them."""

    heading: str | None
    figures: list[Figure] = dataclasses.field(default_factory=list)
    empty: list[str] = dataclasses.field(default_factory=list)
    tables: list[Table] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class Extra:
    """A further field of :class:`rdbench.analysis.tables.BdTable` shown as it comes: a table of its
    entries, a list of lines, or one text."""

    name: str
    table: Table | None = None
    lines: list[str] = dataclasses.field(default_factory=list)
    text: str = ""


@dataclasses.dataclass
class BdPart:
    """The BD table of one metric: one cell per codec and dataset (value with its interval), the
    supporting numbers (overlap, interpolation error, integration interval) per codec and dataset,
    footnotes, notes and whatever else ``bd_table`` gives."""

    metric: str
    label: str
    anchor_line: str
    table: Table
    details: Table
    footnotes: list[str]
    info: list[str]
    extras: list[Extra]
    #: the paper view (display names, value [low, high], average, best in bold; :mod:`rdbench.analysis.paper_table`)
    paper: Table | None = None
    #: its footnotes, lettered (a, b, ...) apart from the numbered ones of ``table``
    paper_notes: list[str] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class MetricsPart:
    """The table over metrics (:func:`rdbench.analysis.metrics_paper_table.metrics_paper_table`): a row per
    codec, per metric the mean over images of per-image BD-rates, and the average over the averaged
    metrics, as report cells (:func:`paper_view`) with its lettered footnotes."""

    table: Table
    notes: list[str]


@dataclasses.dataclass
class ComplexityPart:
    exponents: Table
    figures: FigureGroup
    points: Table


@dataclasses.dataclass
class FailedPart:
    count: int
    summary: Table | None = None
    records: Table | None = None
    more: int = 0


@dataclasses.dataclass
class Provenance:
    about: dict[str, str]
    runs: Table
    curves: Table


@dataclasses.dataclass
class Report:
    """Everything one report shows, in order; :func:`rdbench.analysis.report.render` lays it out."""

    heading: str
    summary: dict[str, str]
    contents: list[tuple[str, str]]
    anchor: str
    method: str
    bd: list[BdPart]
    curves: list[FigureGroup]
    spread: list[FigureGroup]
    failed: FailedPart
    provenance: Provenance
    complexity: ComplexityPart | None = None
    #: the table over metrics, before the per-metric BD parts (None: fewer than two metrics with per-image values)
    metrics: MetricsPart | None = None
    #: no measured codec: per-image values exist for measured codecs only
    spread_empty: bool = False


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _rounded(value: Any) -> Any:
    """Nested lists and dicts with floats at 5 significant digits (what a reader of a nested cell needs)."""
    if isinstance(value, float) and math.isfinite(value):
        return float(f"{value:.5g}")
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_rounded(v) for v in value]
    return value


def cell(value: Any, digits: int = 3, marks: Iterable[str] = ()) -> Cell:
    """A value as a cell: numbers with ``digits`` decimals and their exact value to sort by, NaN and
    missing values sorting last, lists joined, nested values as JSON, long text wrapped."""
    marks = tuple(m for m in marks if m)
    if value is None:
        return Cell("\u2013", "", "num", marks)
    if _number(value):
        if isinstance(value, float) and math.isnan(value):
            return Cell("nan", "", "num nan", marks)
        if isinstance(value, float) and math.isinf(value):
            sign = "" if value > 0 else "-"
            return Cell(f"{sign}inf", f"{sign}1e308", "num", marks)
        text = f"{value:.{digits}f}" if isinstance(value, float) else str(value)
        return Cell(text, repr(float(value)), "num", marks)
    if isinstance(value, bool):
        return Cell("yes" if value else "no", None, "", marks)
    if isinstance(value, (list, tuple, dict)):
        value = _rounded(value)
        text = json.dumps(value, default=str, ensure_ascii=False)
        if isinstance(value, (list, tuple)) and all(isinstance(v, (str, int, float)) for v in value):
            text = ", ".join(str(v) for v in value)
        return Cell(text, None, "wrap", marks)
    text = str(value)
    return Cell(text, None, "wrap" if len(text) > 60 or "\n" in text else "", marks)


def table(rows: Sequence[dict[str, Any]], columns: Sequence[str], *, caption: str = "",
          digits: int | dict[str, int] = 3, marks: Sequence[dict[str, str]] | None = None) -> Table:
    """``rows`` (dicts) in ``columns`` as formatted cells; ``marks`` per row: column -> footnote."""
    out = []
    for index, row in enumerate(rows):
        mark = (marks[index] if marks and index < len(marks) else None) or {}
        out.append([cell(row.get(c), digits.get(c, 3) if isinstance(digits, dict) else digits, [mark.get(c, "")])
                    for c in columns])
    return Table(list(columns), out, caption)


def columns_of(rows: Sequence[dict[str, Any]], first: Sequence[str] = ()) -> list[str]:
    """``first``, then every other key of ``rows`` in order of first appearance."""
    seen = dict.fromkeys(first)
    for row in rows:
        seen.update(dict.fromkeys(row))
    return list(seen)


# -- BD tables -----------------------------------------------------------------------------------


def bd_text(value: float, low: float | None, high: float | None, unit: str) -> str:
    """A BD value as read: "-36.69 % [-39.37, -34.48]" (with its interval when it has one), "nan" when
    there is no value (a footnote says why)."""
    if not math.isfinite(value):
        return "nan"
    digits = 2 if unit == "%" else 3
    text = f"{value:.{digits}f} {unit}"
    if low is not None and high is not None and math.isfinite(low) and math.isfinite(high):
        text += f" [{low:.{digits}f}, {high:.{digits}f}]"
    return text


def _bd_datasets(bd: BdTable) -> list[str]:
    """The datasets of a BD table, in its order: the columns that have an overlap column beside them."""
    return [c for c in bd.columns if f"{c} overlap" in bd.columns]


def bd_part(bd: BdTable, metric: str, anchor: str, method: str) -> BdPart:
    unit = "dB" if bd.value_key == "bd_psnr" else "%"
    datasets = _bd_datasets(bd)
    lead = [c for c in bd.columns if c in ("codec", "config")]
    rows, details = [], []
    for row, mark in zip(bd.rows, bd.marks or [{}] * len(bd.rows)):
        cells = [cell(row.get(c), marks=[mark.get(c, "")]) for c in lead]
        for dataset in datasets:
            value = row.get(dataset)
            value = value if _number(value) else math.nan
            marks = dict.fromkeys(m for m in (mark.get(dataset), mark.get(f"{dataset} ci_low")) if m)
            cells.append(Cell(bd_text(value, row.get(f"{dataset} ci_low"), row.get(f"{dataset} ci_high"), unit),
                              repr(value) if math.isfinite(value) else "",
                              "num" if math.isfinite(value) else "num nan", tuple(marks)))
            details.append([cell(row.get("codec")), cell(dataset),
                            *(cell(row.get(f"{dataset} {c}"), marks=[mark.get(f"{dataset} {c}", "")])
                              for c in ("overlap", "interp", "interval"))])
        rows.append(cells)
    extras = []
    for name, value in bd.details().items():  # whatever else bd_table reports (intervals, interpolation errors, ...)
        if value is None or (isinstance(value, (list, dict, str)) and not value):
            continue
        if isinstance(value, list) and all(isinstance(v, dict) for v in value):
            extras.append(Extra(name, table=table(value, columns_of(value), caption=f"{name} ({metric})")))
        elif isinstance(value, list):
            extras.append(Extra(name, lines=[str(v) for v in value]))
        else:
            extras.append(Extra(name, text=value if isinstance(value, str)
                                else json.dumps(value, default=str, ensure_ascii=False)))
    label = metric_spec.get(metric).axis_label
    return BdPart(
        metric, label, bd.anchor_info,
        Table([*lead, *datasets], rows, f"{'BD-rate (%)' if unit == '%' else 'BD-PSNR (dB)'} vs {anchor}, {metric}, {method}"),
        Table(["codec", "dataset", "overlap", "interp", "interval"], details,
              f"What each BD value of {metric} rests on"),
        [n for n in bd.notes if n], [f"note: {line}" for line in bd.info if line], extras)


def paper_view(paper: PaperTable) -> tuple[Table, list[str]]:
    """A paper table (:func:`rdbench.analysis.paper_table.paper_table`) as report cells: the same texts,
    the best of each column with class ``best`` (bold), its footnotes lettered so they do not read as the
    numbered footnotes of the full table beside it."""
    letter = {n[1:n.index("]")]: chr(ord("a") + i) for i, n in enumerate(paper.notes)}
    columns = [paper.stub] + [name if len(sub) == 1 else f"{name} {s}" for name, sub in paper.groups for s in sub]
    rows = []
    for row in paper.rows:
        cells = [Cell(row[0].text, None, "", tuple(letter[m] for m in row[0].marks))]
        for c in row[1:]:
            number = c.number if c.number is not None and math.isfinite(c.number) else None
            cls = ("num" if c.numeric else "num nan" if c.text == "\u2013" else "") + (" best" if c.best else "")
            cells.append(Cell(c.text, repr(number) if number is not None else "", cls.strip(),
                              tuple(letter[m] for m in c.marks)))
        rows.append(cells)
    notes = [f"[{letter[n[1:n.index(']')]]}] {n[n.index(']') + 2:]}" for n in paper.notes]
    return Table(columns, rows, paper.caption, "sortable paper"), notes
