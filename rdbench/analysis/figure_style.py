"""How a paper RD figure looks: sizes for one and two columns, line styles per curve family, fonts
that survive into a PDF or SVG.

WHY a module of its own: :mod:`rdbench.analysis.paper_figure` draws, the CLI and notebooks choose a
size or a family by name; the numbers a journal's template fixes (3.5 in and 7 in columns, fonts a
publisher's checker accepts) are written down once here. :func:`save` is how every figure rdbench
writes reaches its file (RD, per-image, rate-difference, complexity and paper figures alike), so each
PDF or SVG carries its fonts.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from rdbench.errors import UsageError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: figure width (inches) of a one-column and a two-column figure, and the height each is drawn at
SIZES = {"one-column": (3.5, 2.8), "two-column": (7.0, 4.2)}
#: font sizes (pt) of axis labels, tick labels and the legend at each size
FONTS = {"one-column": (8, 7, 6), "two-column": (10, 9, 8)}

#: the line of each family of curves: measured (solid, filled markers), published (dashed, open markers),
#: imported (dash-dot, open markers), the anchor (solid, thicker, black, no marker fill)
FAMILIES: dict[str, dict[str, Any]] = {
    "measured": {"linestyle": "-", "linewidth": 1.2, "fill": True},
    "published": {"linestyle": "--", "linewidth": 1.1, "fill": False},
    "imported": {"linestyle": "-.", "linewidth": 1.1, "fill": False},
    "anchor": {"linestyle": "-", "linewidth": 2.0, "fill": False, "colour": "#000000"},
}

#: rcParams that make a vector file carry its fonts: TrueType (Type 42) in PDF and PostScript rather
#: than Type 3 (which publishers' checkers reject and viewers render badly), and SVG text as paths
#: (the glyphs themselves, so the figure looks the same where the font is not installed)
VECTOR_FONTS = {"pdf.fonttype": 42, "ps.fonttype": 42, "svg.fonttype": "path"}


def size_of(name: str) -> tuple[float, float]:
    """``one-column`` -> (3.5, 2.8): a size's width and height in inches; another name is a usage error."""
    if name not in SIZES:
        raise UsageError(f"unknown figure size {name!r}", hint=f"choose {' or '.join(SIZES)}")
    return SIZES[name]


def family_style(family: str) -> dict[str, Any]:
    """The line style of a family (measured, published, imported, anchor)."""
    if family not in FAMILIES:
        raise UsageError(f"unknown curve family {family!r}", hint=f"choose among {', '.join(FAMILIES)}")
    return FAMILIES[family]


def save(fig: Figure, out: str | Path, **savefig: Any) -> Path:
    """Write ``fig`` to ``out`` (PNG, SVG or PDF by the extension; ``savefig`` passed on, e.g. ``dpi``) with
    :data:`VECTOR_FONTS` in force while saving: the caller's matplotlib settings are restored afterwards
    (nothing global changes). Creates the folder; returns the path."""
    import matplotlib

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with matplotlib.rc_context(VECTOR_FONTS):
        fig.savefig(out, **savefig)
    return out
