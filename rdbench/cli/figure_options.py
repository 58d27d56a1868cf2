"""`rdbench plot`'s paper-figure options (docs/paper-output.md): axis limits, display names, legend
order, size, a zoomed inset; parsed here and handed to :func:`rdbench.analysis.paper_figure.plot_rd`.

WHY a module of its own: `plot` has grown one option group per view (per image, delta, complexity);
the paper options and their checks stay together, and what they draw is the library's function, so
a notebook calling ``rdbench.plot_rd`` gets the same figure.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from rdbench.analysis.figure_style import SIZES
from rdbench.analysis.paper_figure import parse_range, plot_rd
from rdbench.cli.options import split_csv
from rdbench.cli.paper_options import label_options, labels_of
from rdbench.errors import UsageError


def figure_options(function):
    """``--xlim``, ``--ylim``, ``--label``/``--labels``, ``--order``, ``--size``, ``--inset``."""
    function = click.option("--inset", default=None, metavar="LOW,HIGH",
                            help="Paper figure: a zoomed inset over this bpp range, e.g. 0.1,0.4.")(function)
    function = click.option("--size", type=click.Choice(list(SIZES)), default=None,
                            help="Paper figure: one-column (3.5 in wide) or two-column (7 in).")(function)
    function = click.option("--order", default=None, metavar="NAME,...",
                            help="Paper figure: legend order (names not listed follow, sorted).")(function)
    function = label_options(function)
    function = click.option("--ylim", default=None, metavar="LOW,HIGH",
                            help="Paper figure: quality axis limits, e.g. 28,40.")(function)
    return click.option("--xlim", default=None, metavar="LOW,HIGH",
                        help="Paper figure: bpp axis limits, e.g. 0,1.")(function)


def figure_request(xlim: str | None, ylim: str | None, label_pairs: tuple[str, ...], labels_file: str | None,
                   order: str | None, size: str | None, inset: str | None, per_image: bool, delta: bool,
                   complexity: bool) -> dict[str, Any] | None:
    """The paper figure's options when any is given, else None (`plot` draws what it always drew); they
    apply to the RD figure only."""
    if all(v is None for v in (xlim, ylim, labels_file, order, size, inset)) and not label_pairs:
        return None
    if per_image or delta or complexity:
        raise UsageError("--xlim, --ylim, --label, --labels, --order, --size and --inset draw the paper RD figure",
                         hint="leave out --per-image, --delta and --complexity")
    return {"xlim": parse_range(xlim, "--xlim"), "ylim": parse_range(ylim, "--ylim"),
            "inset": parse_range(inset, "--inset"), "labels": labels_of(label_pairs, labels_file),
            "order": split_csv(order) or None, "size": size or "one-column"}


def paper_rd(found: dict[str, Any], anchor: str | None, out: Path, metric: str, paper: dict[str, Any]) -> Path:
    """Write one paper RD figure of the resolved curves ``found`` (name -> CurveInfo)."""
    families = {n: "anchor" if n == anchor else c.source for n, c in found.items()}
    labels = {**{n: c.label for n, c in found.items()}, **paper["labels"]}
    return plot_rd({n: c.points for n, c in found.items()}, out, metric=metric, families=families, labels=labels,
                   order=paper["order"], xlim=paper["xlim"], ylim=paper["ylim"], size=paper["size"],
                   inset=paper["inset"])
