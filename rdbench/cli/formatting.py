"""Rendering rows (lists of flat dicts) as table, csv, json, markdown or latex.

Every command that prints results goes through :func:`render`, so ``--format`` means the same
everywhere. ``json`` keeps full precision and stable field names; the others round floats for
people to read (``digits``).
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence
from typing import Any

FORMATS = ("table", "csv", "json", "markdown", "latex")


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


def _is_number(text: str) -> bool:
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
) -> str:
    """Format ``rows`` restricted to ``columns`` (all keys of the first row by default)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    columns = list(columns or (rows[0].keys() if rows else []))
    headers = headers or {}
    names = [headers.get(c, c) for c in columns]
    if fmt == "json":
        return json.dumps([{c: _json_safe(r.get(c)) for c in columns} for r in rows], indent=2, default=str)
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(columns)
        for r in rows:
            writer.writerow(["" if r.get(c) is None else r.get(c) for c in columns])
        return buffer.getvalue()
    cells = [[_cell(r.get(c), digits) for c in columns] for r in rows]
    if fmt == "markdown":
        lines = ["| " + " | ".join(names) + " |", "|" + "|".join("---" for _ in names) + "|"]
        lines += ["| " + " | ".join(row) + " |" for row in cells]
        return ((f"**{title}**\n\n" if title else "") + "\n".join(lines))
    if fmt == "latex":
        def esc(text: str) -> str:
            return text.replace("\\", r"\textbackslash{}").replace("_", r"\_").replace("%", r"\%").replace("&", r"\&")

        lines = [r"\begin{tabular}{l" + "r" * (len(names) - 1) + "}", r"\toprule",
                 " & ".join(esc(n) for n in names) + r" \\", r"\midrule"]
        lines += [" & ".join(esc(c) for c in row) + r" \\" for row in cells]
        lines += [r"\bottomrule", r"\end{tabular}"]
        return "\n".join(lines)
    # plain table for terminals, aligned, no colour so it pastes anywhere
    widths = [max(len(n), *(len(row[i]) for row in cells)) if cells else len(n) for i, n in enumerate(names)]
    numeric = [bool(cells) and all(_is_number(row[i]) for row in cells) for i in range(len(names))]

    def line(values: Sequence[str]) -> str:
        return "  ".join(v.rjust(w) if right else v.ljust(w) for v, w, right in zip(values, widths, numeric)).rstrip()
    out = ([title] if title else []) + [line(names), line(["-" * w for w in widths])] + [line(r) for r in cells]
    return "\n".join(out)
