"""Rendering rows (lists of flat dicts) as table, csv, json, markdown or latex.

Every command that prints results goes through :func:`render`, so ``--format`` means the same
everywhere. ``json`` keeps full precision and stable field names; the others round floats for
people to read (``digits``). In the formats for people (table, markdown, latex) a cell may carry
a footnote marker (``marks``: ``nan [1]``) and the table may be followed by ``notes`` (the
footnotes themselves, where numbers come from): both are laid out here, so a markdown viewer does
not read the notes as more table rows and LaTeX gets its special characters escaped (the escapes
are :mod:`rdbench.analysis.text_escape`'s, the paper tables' own).
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from rdbench.analysis import text_escape
from rdbench.errors import plural

FORMATS = ("table", "csv", "json", "markdown", "latex")

#: A cell's text followed by its footnote marker: "nan [2]".
_MARKED = re.compile(r"^(.*) \[[^\]]+\]$")


def _cell(value: Any, digits: int) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return f"{value:.{digits}f}"
    return str(value)


def _column_texts(values: list[Any], digits: int) -> tuple[list[str], bool | None]:
    """Each value's :func:`_cell` text, and whether all are numbers (None: unknown from the types
    alone, :func:`_is_number` decides from the texts). Columns of one plain type take a fast path: a
    float's text is its fixed-point format (which also writes nan, inf and -inf as :func:`_cell`
    does), a string is itself."""
    kinds = set(map(type, values))
    if kinds <= {str}:
        return list(values), None
    if kinds <= {float}:
        return list(map(f"{{:.{digits}f}}".format, values)), True
    texts = [_cell(v, digits) for v in values]
    # floats, ints and None print as numbers ("-" counts as one); a bool or a string must be read
    return texts, (True if kinds <= {float, int, type(None)} else None)


def _is_number(text: str) -> bool:
    marked = _MARKED.match(text) if text.endswith("]") else None
    if marked:  # "nan [1]" is a number with its footnote marker
        text = marked.group(1)
    if text in ("-", "nan", "inf", "-inf"):
        return True
    try:
        float(text)
    except ValueError:
        return False
    return True


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and (math.isinf(value) or math.isnan(value)):
        return None if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return value


def render(
    rows: Sequence[dict[str, Any]],
    columns: Sequence[str] | None = None,
    fmt: str = "table",
    *,
    title: str | None = None,
    digits: int = 4,
    headers: dict[str, str] | None = None,
    marks: Sequence[Mapping[str, Any]] | None = None,
    notes: Sequence[str] = (),
) -> str:
    """Format ``rows`` restricted to ``columns`` (all keys of the first row by default).

    ``marks`` (one mapping per row, column -> footnote label) appends `` [label]`` to those
    cells, e.g. a NaN BD-rate and the number of the note saying why. ``notes`` are lines printed
    after the table: in markdown after a blank line, each its own paragraph (a line right under a
    table would render as another row); in LaTeX escaped, each its own paragraph after
    ``\\end{tabular}``; in the plain table one per line. Both are for people: ``json`` and
    ``csv`` carry the rows only (a caller that wants the notes there puts them in its own
    structure, as ``rdbench bdrate --format json`` does).
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    columns = list(columns or (rows[0].keys() if rows else []))
    if fmt == "json":
        return json.dumps([{c: _json_safe(r.get(c)) for c in columns} for r in rows], indent=2, default=str)
    return render_columns({c: [r.get(c) for r in rows] for c in columns}, columns, fmt, count=len(rows), title=title,
                          digits=digits, headers=headers, marks=marks, notes=notes)


def render_columns(
    values: Mapping[str, Sequence[Any]],
    columns: Sequence[str],
    fmt: str = "table",
    *,
    count: int,
    title: str | None = None,
    digits: int = 4,
    headers: dict[str, str] | None = None,
    marks: Sequence[Mapping[str, Any]] | None = None,
    notes: Sequence[str] = (),
) -> str:
    """:func:`render` of ``count`` rows given as one sequence of values per column (``values[c][i]`` is
    row i's value of column c, None where it has none): the same text, without a dict per row, for a
    caller that holds columns (``rdbench results --per-image`` prints 30,000 rows)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    columns = list(columns)
    headers = headers or {}
    names = [headers.get(c, c) for c in columns]
    lists = [values[c] for c in columns]
    if fmt == "json":
        return json.dumps([{c: _json_safe(v) for c, v in zip(columns, row)} for row in zip(*lists)]
                          if columns else [{} for _ in range(count)], indent=2, default=str)
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(columns)
        for row in (zip(*lists) if columns else ([] for _ in range(count))):
            writer.writerow(["" if v is None else v for v in row])
        return buffer.getvalue()
    marks = marks or [{} for _ in range(count)]
    if len(marks) != count:
        raise ValueError(f"marks has {plural(len(marks), 'entry', 'entries')} for {plural(count, 'row')}")
    # cells are made column by column: `results --per-image` prints half a million of them
    texts, numeric = [], []
    for c, column_values in zip(columns, lists):
        column, is_number = _column_texts(list(column_values), digits)
        if fmt == "markdown":  # escaped before the marker: "nan [1]" keeps its plain brackets
            column = [text_escape.markdown(text) for text in column]
        for i, m in enumerate(marks):
            if m and m.get(c) is not None:
                column[i] += f" [{m[c]}]"
                is_number = None  # a marked cell is checked by its text
        texts.append(column)
        numeric.append(bool(count) and (is_number if is_number is not None else all(map(_is_number, column))))
    cells = [list(row) for row in zip(*texts)] if columns else [[] for _ in range(count)]
    if fmt == "markdown":
        lines = ["| " + " | ".join(map(text_escape.markdown, names)) + " |", "|" + "|".join("---" for _ in names) + "|"]
        lines += ["| " + " | ".join(row) + " |" for row in cells]
        return "\n\n".join([f"**{title}**"] * bool(title) + ["\n".join(lines)] + list(notes))
    if fmt == "latex":
        lines = [r"\begin{tabular}{l" + "r" * (len(names) - 1) + "}", r"\toprule",
                 " & ".join(map(text_escape.latex, names)) + r" \\", r"\midrule"]
        lines += [" & ".join(map(text_escape.latex, row)) + r" \\" for row in cells]
        lines += [r"\bottomrule", r"\end{tabular}"]
        # the title (it carries the unit) as a comment: a bare tabular has no caption to hold it
        head = ["% " + " ".join(title.split())] if title else []
        return "\n".join(head + lines) + "".join("\n\n" + text_escape.latex(note) for note in notes)
    # plain table for terminals, aligned, no colour so it pastes anywhere
    widths = [max(len(n), max(map(len, column), default=0)) for n, column in zip(names, texts)]

    def line(values: Sequence[str]) -> str:
        return "  ".join(v.rjust(w) if right else v.ljust(w) for v, w, right in zip(values, widths, numeric)).rstrip()
    padded = [[t.rjust(w) for t in column] if right else [t.ljust(w) for t in column]
              for column, w, right in zip(texts, widths, numeric)]
    body = ["  ".join(row).rstrip() for row in zip(*padded)] if columns else [""] * count
    out = ([title] if title else []) + [line(names), line(["-" * w for w in widths])] + body
    return "\n".join(out + list(notes))


def unavailable_lines(rows: Sequence[Mapping[str, Any]], name: str) -> list[str]:
    """The lines under a listing of what can run here (``rdbench codecs``, ``rdbench metrics``): each row
    with a ``why_not`` named by its ``name`` column, with the reason. The reasons are long (what to
    install, where to put weights): below the table, one per line, the table stays readable."""
    missing = [row for row in rows if row["why_not"]]
    if not missing:
        return []
    return [f"\nNot available here ({len(missing)}):", *(f"  {row[name]}: {row['why_not']}" for row in missing)]
