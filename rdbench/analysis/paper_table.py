"""A BD table as it goes into a paper: chosen columns, display names, ``value [low, high]`` cells, an
average over datasets, the best value per column marked, and a caption stating the protocol; written
as booktabs LaTeX, markdown or HTML.

WHY apart from :mod:`rdbench.analysis.bd_format`: that module makes the wide table a reader checks
(every supporting number, configuration hashes, footnotes on every caveat), and its output is fixed
(``tests/golden/bd_cells.json``). A paper table shows fewer columns under names a reader of the paper
knows, and says in its caption how the numbers were made. It is computed from the same typed cells
(:class:`~rdbench.analysis.bd_cells.BdCell`), so a number in the paper is the number in the JSON:
only its rounding differs. Every string is escaped for its format (:mod:`rdbench.analysis.text_escape`).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from rdbench import metric_spec
from rdbench.analysis import text_escape
from rdbench.analysis.anchor_points import describe_points
from rdbench.analysis.bd_cells import BdCell
from rdbench.analysis.bd_format import BELOW_INTERP_ERROR, value_label
from rdbench.analysis.tables import BdTable
from rdbench.errors import UsageError, plural

#: the columns a dataset may show, in the order they are laid out
COLUMNS = ("value", "ci", "overlap", "interp", "n", "interval")
#: what each column holds, for help texts and docs
COLUMN_HELP = {"value": "the BD value", "ci": "its bootstrap interval (needs --ci)",
               "overlap": "share of the joint range both curves cover", "interp": "interpolation-error estimate",
               "n": "images both mean curves average", "interval": "the quality range integrated"}
FORMATS = ("latex", "markdown", "html")
AVERAGE = "Average"
MISSING = "\u2013"


def parse_columns(text: str | Iterable[str] | None, *, ci: bool) -> tuple[str, ...]:
    """The columns asked for (``"value,ci"`` or a list), checked; default ``value`` (with ``ci`` when
    the table has a bootstrap interval). An unknown or repeated column is a usage error."""
    if text is None:
        return ("value", "ci") if ci else ("value",)
    names = [c.strip() for c in (text.split(",") if isinstance(text, str) else text) if c.strip()]
    if not names:
        raise UsageError("--columns names no column", hint=f"choose among {', '.join(COLUMNS)}")
    for name in names:
        if name not in COLUMNS:
            raise UsageError(f"unknown column {name!r}", hint=f"choose among {', '.join(COLUMNS)}")
    if len(set(names)) != len(names):
        raise UsageError(f"a column is named twice in {', '.join(names)}")
    if "ci" in names and not ci:
        raise UsageError("the ci column shows the bootstrap interval", hint="add --ci 95 (or another level)")
    return tuple(c for c in COLUMNS if c in names)


def parse_labels(pairs: Iterable[str]) -> dict[str, str]:
    """``["mlicpp-paper=MLIC++", ...]`` (each ``NAME=Display name``) as a mapping; a pair without
    ``=`` or with an empty side is a usage error."""
    out: dict[str, str] = {}
    for pair in pairs:
        name, sep, shown = pair.partition("=")
        if not sep or not name.strip() or not shown.strip():
            raise UsageError(f"--label {pair!r} is not NAME=\"Display name\"", hint='e.g. --label mlicpp-paper="MLIC++"')
        out[name.strip()] = shown.strip()
    return out


def load_labels(path: str | Path) -> dict[str, str]:
    """A labels file: a TOML (``.toml``) or JSON table of name -> display name (codecs, datasets, the
    anchor). Anything else (a missing file, bad syntax, a non-string value) is a usage error."""
    import tomllib  # Python 3.11+, as the codec and metric files read it

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read the labels file {path}: {exc.strerror or exc}") from None
    try:
        data = tomllib.loads(text) if path.suffix.lower() == ".toml" else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        kind = "TOML" if path.suffix.lower() == ".toml" else "JSON"
        raise UsageError(f"the labels file {path} is not valid {kind}: {exc}") from None
    if not isinstance(data, dict) or not all(isinstance(v, str) and v.strip() for v in data.values()):
        raise UsageError(f"the labels file {path} must map each name to a display name (a non-empty string)",
                         hint='e.g. mlicpp-paper = "MLIC++" (TOML) or {"mlicpp-paper": "MLIC++"} (JSON)')
    return {str(k): v.strip() for k, v in data.items()}


@dataclass(frozen=True)
class PaperCell:
    """One shown cell: ``text`` (plain, escaped by each renderer), the value it shows where it is one
    (``number``: what the best mark and the tests read), whether it is the best of its column, and the
    footnotes it points to. ``numeric`` texts are rdbench's own digits (never escaped for markdown)."""

    text: str
    number: float | None = None
    low: float | None = None
    high: float | None = None
    best: bool = False
    marks: tuple[str, ...] = ()
    numeric: bool = False


@dataclass
class PaperTable:
    """The table as laid out: ``groups`` (one heading per dataset, and the average, each over its
    ``subcolumns``), one row per codec (its display name first), the caption and the footnotes."""

    groups: list[tuple[str, list[str]]]
    rows: list[list[PaperCell]]
    caption: str
    notes: list[str]
    digits: int = 2
    label: str = "tab:bd"
    #: the first column's heading
    stub: str = "Codec"

    def render(self, fmt: str) -> str:
        """The table as ``latex``, ``markdown`` or ``html``."""
        if fmt not in FORMATS:
            raise UsageError(f"a paper table is written as {', '.join(FORMATS)}, not {fmt!r}")
        return {"latex": self.latex, "markdown": self.markdown, "html": self.html}[fmt]()

    # -- LaTeX ---------------------------------------------------------------------------------

    def latex(self) -> str:
        """A ``table`` float with a booktabs ``tabular`` (needs ``\\usepackage{booktabs}``), the caption
        with the protocol above it, the footnotes under it; numbers in math mode (a true minus sign),
        the best of each column bold."""
        e = text_escape.latex
        width = sum(len(sub) for _, sub in self.groups)
        lines = ["% rdbench paper table; needs \\usepackage{booktabs}", r"\begin{table}[t]", r"\centering",
                 rf"\caption{{{e(self.caption)}}}", rf"\label{{{e(self.label)}}}",
                 r"\begin{tabular}{l" + "r" * width + "}", r"\toprule"]
        two_rows = any(len(sub) > 1 for _, sub in self.groups)
        if two_rows:
            heads, rules, start = [""], [], 2
            for name, sub in self.groups:
                heads.append(rf"\multicolumn{{{len(sub)}}}{{c}}{{{e(name)}}}" if len(sub) > 1 else e(name))
                if len(sub) > 1:
                    rules.append(rf"\cmidrule(lr){{{start}-{start + len(sub) - 1}}}")
                start += len(sub)
            lines.append(" & ".join(heads) + r" \\")
            if rules:
                lines.append(" ".join(rules))
            lines.append(" & ".join([e(self.stub), *(e(s) for _, sub in self.groups for s in sub)]) + r" \\")
        else:
            lines.append(" & ".join([e(self.stub), *(e(name) for name, _ in self.groups)]) + r" \\")
        lines.append(r"\midrule")
        for row in self.rows:
            lines.append(" & ".join(_latex_cell(c, self.digits) for c in row) + r" \\")
        lines += [r"\bottomrule", r"\end{tabular}"]
        if self.notes:
            lines.append(r"\par\smallskip\footnotesize")
            lines += [rf"\textsuperscript{{{e(n)}}}~{e(t)}\\" if i < len(self.notes) - 1
                      else rf"\textsuperscript{{{e(n)}}}~{e(t)}" for i, (n, t) in enumerate(_split_notes(self.notes))]
        lines.append(r"\end{table}")
        return "\n".join(lines)

    # -- markdown ------------------------------------------------------------------------------

    def markdown(self) -> str:
        """A pipe table (one heading row: ``dataset`` or ``dataset subcolumn``), the best of each column
        in bold, the caption above it and the footnotes under it."""
        m = text_escape.markdown
        heads = [self.stub] + [name if len(sub) == 1 else f"{name} {s}" for name, sub in self.groups for s in sub]
        lines = [f"**{m(self.caption)}**", "", "| " + " | ".join(m(h) for h in heads) + " |",
                 "|" + "|".join(["---"] + ["---:"] * (len(heads) - 1)) + "|"]
        for row in self.rows:
            texts = []
            for c in row:
                text = c.text if c.numeric else m(c.text)
                text = f"**{text}**" if c.best else text
                texts.append(text + "".join(f"<sup>{m(x)}</sup>" for x in c.marks))
            lines.append("| " + " | ".join(texts) + " |")
        notes = [f"<sup>{m(n)}</sup> {m(t)}" for n, t in _split_notes(self.notes)]
        return "\n".join(lines) + ("\n\n" + "  \n".join(notes) if notes else "")

    # -- HTML ----------------------------------------------------------------------------------

    def html(self) -> str:
        """A ``<table>`` with its caption, grouped headings, the best of each column in ``<b>`` and the
        footnotes in a list under it; every text escaped."""
        h = text_escape.html
        two_rows = any(len(sub) > 1 for _, sub in self.groups)
        out = ['<table class="bd-paper">', f"<caption>{h(self.caption)}</caption>", "<thead>"]
        if two_rows:
            out.append("<tr><th></th>" + "".join(f'<th colspan="{len(sub)}" scope="colgroup">{h(name)}</th>'
                                               for name, sub in self.groups) + "</tr>")
            out.append(f'<tr><th scope="col">{h(self.stub)}</th>'
                       + "".join(f'<th scope="col">{h(s)}</th>' for _, sub in self.groups for s in sub) + "</tr>")
        else:
            out.append(f'<tr><th scope="col">{h(self.stub)}</th>'
                       + "".join(f'<th scope="col">{h(name)}</th>' for name, _ in self.groups) + "</tr>")
        out.append("</thead><tbody>")
        for row in self.rows:
            cells = []
            for index, c in enumerate(row):
                text = f"<b>{h(c.text)}</b>" if c.best else h(c.text)
                text += "".join(f'<sup class="fn">{h(x)}</sup>' for x in c.marks)
                tag = "th" if index == 0 else "td"
                attrs = ' scope="row"' if index == 0 else ' class="num"' if c.numeric else ""
                cells.append(f"<{tag}{attrs}>{text}</{tag}>")
            out.append("<tr>" + "".join(cells) + "</tr>")
        out.append("</tbody></table>")
        if self.notes:
            out.append('<ol class="footnotes">' + "".join(f"<li>{h(t)}</li>" for _, t in _split_notes(self.notes))
                       + "</ol>")
        return "\n".join(out)


def _split_notes(notes: list[str]) -> list[tuple[str, str]]:
    """``"[2] reason"`` -> ``("2", "reason")``."""
    return [(n[1:n.index("]")], n[n.index("]") + 2:]) for n in notes]


def _latex_number(value: float, digits: int, bold: bool = False) -> str:
    text = f"{value:.{digits}f}"
    return rf"$\mathbf{{{text}}}$" if bold else f"${text}$"


def _latex_cell(cell: PaperCell, digits: int) -> str:
    """A cell in LaTeX: a value (and interval) in math mode, bold when best; other text escaped."""
    if cell.number is not None and cell.numeric:
        text = _latex_number(cell.number, digits, cell.best)
        if cell.low is not None and cell.high is not None:
            text += rf" [{_latex_number(cell.low, max(digits - 1, 0))}, {_latex_number(cell.high, max(digits - 1, 0))}]"
    elif cell.low is not None and cell.high is not None:
        text = rf"[{_latex_number(cell.low, max(digits - 1, 0))}, {_latex_number(cell.high, max(digits - 1, 0))}]"
    elif cell.text == MISSING:
        text = "--"
    else:
        text = text_escape.latex(cell.text)
        text = rf"\textbf{{{text}}}" if cell.best else text
    return text + "".join(rf"\textsuperscript{{{text_escape.latex(m)}}}" for m in cell.marks)


# -- building the table from the cells ---------------------------------------------------------


class Notes:
    """Footnotes numbered in the order cells first need them, one per distinct text; each written with
    the display names (``labels``) the table shows, so a footnote names the codec as its row does."""

    def __init__(self, labels: Mapping[str, str] | None = None) -> None:
        self.texts: list[str] = []
        self.relabel = _relabeller(labels)

    def mark(self, text: str) -> str:
        text = self.relabel(text)
        if text not in self.texts:
            self.texts.append(text)
        return str(self.texts.index(text) + 1)

    def lines(self) -> list[str]:
        return [f"[{i}] {t}" for i, t in enumerate(self.texts, 1)]


def _interval_text(cell: BdCell, digits: int) -> str:
    return f"[{cell.ci_low:.{max(digits - 1, 0)}f}, {cell.ci_high:.{max(digits - 1, 0)}f}]"


def _value_cell(cell: BdCell, columns: Sequence[str], digits: int, notes: Notes) -> PaperCell:
    """The value (with its interval when ``ci`` is shown): ``-13.39 [-14.1, -12.7]``, or a dash with the
    reason as a footnote."""
    if cell.reason is not None or not math.isfinite(cell.value):
        return PaperCell(MISSING, marks=(notes.mark(cell.reason or "no value"),))
    marks = []
    if cell.below_interp_error:
        marks.append(notes.mark(BELOW_INTERP_ERROR))
    text = f"{cell.value:.{digits}f}"
    low = high = None
    if "ci" in columns:
        if math.isfinite(cell.ci_low) and math.isfinite(cell.ci_high):
            low, high = cell.ci_low, cell.ci_high
            text += " " + _interval_text(cell, digits)
        elif cell.ci_reason:
            marks.append(notes.mark(cell.ci_reason))
    return PaperCell(text, cell.value, low, high, marks=tuple(marks), numeric=True)


def _other_cell(cell: BdCell, column: str, digits: int, notes: Notes) -> PaperCell:
    """A cell of a column other than the value: interval alone, overlap, interp, n, interval."""
    if cell.reason is not None:
        return PaperCell(MISSING)
    if column == "ci":
        if math.isfinite(cell.ci_low) and math.isfinite(cell.ci_high):
            return PaperCell(_interval_text(cell, digits), low=cell.ci_low, high=cell.ci_high, numeric=True)
        return PaperCell(MISSING, marks=(notes.mark(cell.ci_reason),) if cell.ci_reason else ())
    if column == "overlap":
        return PaperCell(f"{cell.overlap:.2f}", numeric=True)
    if column == "interp":
        if math.isfinite(cell.interp_error):
            return PaperCell(f"{cell.interp_error:.{digits}f}", numeric=True)
        return PaperCell(MISSING, marks=(notes.mark(f"interpolation error: {cell.interp_error_reason}"),)
                         if cell.interp_error_reason else ())
    if column == "n":
        return PaperCell(str(len(cell.images)), numeric=True) if cell.images is not None else PaperCell("pub.")
    return PaperCell(cell.interval_text)


def _subcolumns(columns: Sequence[str], kind: str, level: float | None) -> list[str]:
    """The headings of one dataset's columns (value and ci share one)."""
    unit = "%" if kind == "rate" else "dB"
    names = {"value": f"BD ({unit})", "overlap": "overlap", "interp": f"interp. ({'pp' if kind == 'rate' else 'dB'})",
             "n": "images", "interval": "interval"}
    out = []
    for column in columns:
        if column == "ci":
            if "value" not in columns:
                out.append(f"{level:g} % CI" if level else "CI")
            elif out:
                out[0] = f"BD ({unit}) [{level:g} % CI]" if level else out[0]
            continue
        out.append(names[column])
    return out


def mark_best(rows: list[list[PaperCell]], kind: str) -> list[list[PaperCell]]:
    """Each column's best value bold (lowest BD-rate, highest BD-PSNR; ties all), where a column has two
    values or more to choose from."""
    if not rows:
        return rows
    rows = [list(r) for r in rows]
    for index in range(1, len(rows[0])):
        values = [r[index].number for r in rows if r[index].number is not None and r[index].numeric]
        if len(values) < 2:
            continue
        best = min(values) if kind == "rate" else max(values)
        for r in rows:
            c = r[index]
            if c.number is not None and c.numeric and c.number == best:
                r[index] = PaperCell(c.text, c.number, c.low, c.high, True, c.marks, c.numeric)
    return rows


def average_values(table: BdTable) -> dict[str, tuple[float | None, str | None]]:
    """Per codec, the mean of its values over the table's datasets, or None and why: a codec without a
    value on every dataset has no average (a mean over fewer datasets would compare codecs on different
    sets). The one place the average is computed, for the paper table, the report and ``bd_frame``."""
    width = len(table.datasets)
    out: dict[str, tuple[float | None, str | None]] = {}
    for index, codec in enumerate(table.codecs):
        cells = table.cells[index * width:(index + 1) * width]
        missing = [c.dataset for c in cells if c.reason is not None or not math.isfinite(c.value)]
        if missing:
            out[codec] = (None, f"{codec}: no average, no value on {', '.join(missing)} (the average is taken only "
                                "over codecs with a value on every dataset)")
        else:
            out[codec] = (sum(c.value for c in cells) / width, None)
    return out


def paper_table(table: BdTable, *, columns: str | Iterable[str] | None = None,
                labels: Mapping[str, str] | None = None, average: bool = False, best: bool = True,
                digits: int = 2, label: str = "tab:bd") -> PaperTable:
    """The paper view of ``table`` (:func:`rdbench.analysis.tables.bd_table`'s result).

    ``columns``: which of :data:`COLUMNS` each dataset shows (default ``value``, with ``ci`` when the
    table has a bootstrap interval; ``value`` and ``ci`` share a cell, ``-13.39 [-14.1, -12.7]``, the
    interval one digit shorter). ``labels`` maps codec, dataset and anchor names to display names.
    ``average`` adds a column with each codec's mean over the datasets (:func:`average_values`).
    ``best`` makes each column's best value bold. ``digits``: decimals of the values. ``label``: the
    LaTeX ``\\label``. The caption states the protocol (:func:`protocol_caption`).
    """
    chosen = parse_columns(columns, ci=table.ci_level is not None)
    name = namer(labels)
    notes = Notes(labels)
    sub = _subcolumns(chosen, table.kind, table.ci_level)
    groups = [(name(d), sub) for d in table.datasets]
    averages = average_values(table) if average else {}
    if average:
        groups.append((AVERAGE, [sub[0] if "value" in chosen else f"BD ({'%' if table.kind == 'rate' else 'dB'})"]))
    width = len(table.datasets)
    rows = []
    for index, codec in enumerate(table.codecs):
        row = [PaperCell(name(codec))]
        for cell in table.cells[index * width:(index + 1) * width]:
            if "value" in chosen:
                row.append(_value_cell(cell, chosen, digits, notes))
            row += [_other_cell(cell, c, digits, notes) for c in chosen if c not in ("value",)
                    and not (c == "ci" and "value" in chosen)]
        if average:
            value, why = averages[codec]
            row.append(PaperCell(f"{value:.{digits}f}", value, numeric=True) if value is not None
                       else PaperCell(MISSING, marks=(notes.mark(why),)))
        rows.append(row)
    if best:
        rows = mark_best(rows, table.kind)
    caption = protocol_caption(table, labels=labels, average=average, best=best)
    return PaperTable(groups, rows, caption, notes.lines(), digits=digits, label=label)


# -- the caption -------------------------------------------------------------------------------


def namer(labels: Mapping[str, str] | None):
    """name -> its display name (the name itself where ``labels`` has none)."""
    shown = dict(labels or {})
    return lambda name: shown.get(name, name)


def _relabeller(labels: Mapping[str, str] | None) -> Callable[[str], str]:
    """A reason's text with each labelled name (codec, dataset, anchor) written as its display name.

    WHY a pass over the text: the reasons are sentences made where the cell was computed
    (:mod:`rdbench.analysis.tables`: ``"b has no psnr curve on kodak"``), and the wide table prints them
    with the names a reader types. A name is replaced only as a whole token, never inside a longer name,
    a path or a file name (``kodak`` is left in ``kodak-crops`` and ``/data/kodak/``); the longest first."""
    shown = {k: v for k, v in (labels or {}).items() if k and k != v}
    if not shown:
        return lambda text: text
    names = "|".join(re.escape(k) for k in sorted(shown, key=len, reverse=True))
    token = re.compile(rf"(?<![\w@/.+-])(?:{names})(?![\w@/+-]|\.\w)")
    return lambda text: token.sub(lambda m: shown[m.group(0)], text)


def _aggregation(metric: str, aggregation: str) -> str:
    """How the measured curves' points were made (``table.aggregation``), in the caption's words."""
    spec = metric_spec.get(metric)
    shown = spec.label or spec.name
    if aggregation == "dataset-mse":
        of = (f"{shown} from one MSE over every pixel" if spec.psnr_peak
              else f"the pixel-weighted mean {shown}")
        return f"each measured curve is, per quality, all bits over all pixels of the dataset and {of}"
    of = {"db": f"{shown} in dB of the mean {shown}", "one-minus": f"{spec.shown_label} of the mean {shown}"}.get(
        spec.scale, f"per-image {shown}")
    return f"each measured curve is, per quality, the mean over images of per-image bpp and {of}"


def protocol_caption(table: BdTable, *, labels: Mapping[str, str] | None = None, average: bool = False,
                     best: bool = True) -> str:
    """One paragraph saying how the numbers were made: anchor, metric, method, the anchor's points per
    dataset, the interval integrated, the aggregation, the images, the interval's resampling, the
    average and the bold mark."""
    name = namer(labels)
    cells = table.cells
    metric = cells[0].metric if cells else metric_spec.DEFAULT
    method = cells[0].method if cells else "pchip"
    spec = metric_spec.get(metric)
    parts = [f"{value_label(table.kind)} against {name(table.anchor)} ({spec.shown_label}, "
             f"{method} interpolation"
             + ("; negative: fewer bits at equal quality)" if table.kind == "rate" else "; positive: higher quality "
                "at equal rate)")]
    requested = getattr(table, "interval", None)
    if requested:
        lo, hi = ("" if v is None else f"{v:g}" for v in requested)
        parts.append(f"Integrated over the overlap of each pair of curves within {spec.shown_label} "
                     f"{lo}:{hi} {spec.shown_unit}".rstrip())
    else:
        parts.append("Integrated over the whole overlap of each pair of curves")
    anchor_points = []
    for dataset in table.datasets:
        cell = next((c for c in cells if c.dataset == dataset and c.anchor_points), None)
        if cell is not None:
            points = [(p["bpp"], p[spec.key]) for p in cell.anchor_points]
            qualities = [p["quality"] for p in cell.anchor_points]
            text = describe_points(points, qualities if all(q is not None for q in qualities) else None)
            anchor_points.append(f"{name(dataset)}: {text}")
    if anchor_points:
        parts.append("Anchor points: " + "; ".join(anchor_points))
    counts = sorted({c.curve_points for c in cells if c.curve_points})
    if counts:
        parts.append("Codec curves: " + (f"{counts[0]}" if len(counts) == 1 else f"{counts[0]}-{counts[-1]}")
                     + " points each")
    images = []
    for dataset in table.datasets:
        sizes = sorted({len(c.images) for c in cells if c.dataset == dataset and c.images is not None})
        if sizes:
            images.append(f"{name(dataset)}: {plural(sizes[-1], 'image')}" if len(sizes) == 1
                          else f"{name(dataset)}: {sizes[0]}-{sizes[-1]} images")
    published = any(c.images is None and c.reason is None for c in cells)
    if images:
        sentence = _aggregation(metric, table.aggregation)
        parts.append(sentence[0].upper() + sentence[1:]
                     + ("; published curves as published" if published else ""))
        parts.append("Images: " + "; ".join(images))
    elif published:
        parts.append("All curves are published points (no per-image data)")
    level = table.ci_level
    with_ci = next((c for c in cells if c.ci_level is not None), None)
    if level is not None and with_ci is not None:
        parts.append(f"Brackets: {level:g} % paired bootstrap interval over images ({with_ci.resamples} resamples, "
                     f"seed {with_ci.seed})")
    if average:
        parts.append(f"{AVERAGE}: mean over the {plural(len(table.datasets), 'dataset')}, only for codecs with a "
                     "value on every dataset")
    if best:
        parts.append("Best value per column in bold")
    return ". ".join(parts) + "."
