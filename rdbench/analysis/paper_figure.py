"""The RD figure as it goes into a paper: axis limits, display names, legend order, one- or two-column
size, a line style per family (measured, published, imported, anchor), an optional zoomed inset over a
rate range, fonts embedded in PDF/SVG. :func:`plot_rd` returns the matplotlib Figure for a notebook to
adapt, or writes it.

WHY apart from :mod:`rdbench.analysis.plots`: that module draws the figures ``rdbench plot`` has always
written, sized and styled one way; a paper figure is the same curves with the choices an author makes,
and ``plots.plot_rd``'s callers (and their files) must not change when those choices are not made. The
points are those of :func:`rdbench.analysis.dataframes.load_curves` (a DataFrame it returned can be
passed as it is) or of the curve rule the CLI resolves: never recomputed here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from matplotlib.axes import Axes
from matplotlib.figure import Figure

from rdbench import metric_spec
from rdbench.analysis import figure_style
from rdbench.analysis.plots import _check_target
from rdbench.analysis.plots import styles as figure_styles
from rdbench.errors import RdbenchError, UsageError

#: the options that make a figure a paper figure (any of them given: :func:`plot_rd` draws one)
PAPER_OPTIONS = ("xlim", "ylim", "order", "size", "inset", "families")


def parse_range(text: str | Sequence[float] | None, what: str) -> tuple[float, float] | None:
    """``"0,1"`` (or a pair) as (low, high), low below high; anything else is a usage error naming ``what``."""
    if text is None:
        return None
    parts = text.split(",") if isinstance(text, str) else list(text)
    try:
        low, high = (float(p) for p in parts)
    except (TypeError, ValueError):
        raise UsageError(f"{what} {text!r} is not LOW,HIGH", hint=f"e.g. {what} 0,1") from None
    if not low < high:
        raise UsageError(f"{what} {text!r}: the low end must be below the high end")
    return low, high


def _from_frame(frame: Any, dataset: str | None, metric: str | None) -> tuple[dict[str, list[tuple[float, float]]],
                                                                          dict[str, str], dict[str, str], str]:
    """A :func:`load_curves` DataFrame as (name -> points, name -> family, name -> label, metric) for one
    dataset and metric (needed when it holds several)."""
    for column, chosen in (("dataset", dataset), ("metric", metric)):
        values = list(dict.fromkeys(frame[column]))
        if chosen is None and len(values) > 1:
            raise UsageError(f"the curves hold several {column}s ({', '.join(map(str, values))})",
                             hint=f"pass {column}= to plot_rd")
        if chosen is not None:
            frame = frame[frame[column] == chosen]
    if not len(frame):
        raise RdbenchError("nothing to plot: no curve for this dataset and metric")
    curves: dict[str, list[tuple[float, float]]] = {}
    families, labels = {}, {}
    for row in frame.itertuples(index=False):
        curves.setdefault(row.name, []).append((float(row.bpp), float(row.value)))
        families[row.name] = row.source
        labels[row.name] = row.label
    return curves, families, labels, str(frame["metric"].iloc[0])


def _ordered(names: Iterable[str], order: Sequence[str] | None) -> list[str]:
    """``order``'s names first, in its order, then the others sorted: the legend's order."""
    names = list(names)
    first = [n for n in (order or []) if n in names]
    return first + sorted(n for n in names if n not in first)


def _between(points: list[tuple[float, float]], low: float, high: float) -> list[float]:
    """The curve's qualities over bpp in [low, high], with the values interpolated at both ends."""
    pts = sorted(points)
    out = [q for b, q in pts if low <= b <= high]
    for x in (low, high):
        for (b0, q0), (b1, q1) in zip(pts, pts[1:]):
            if b0 <= x <= b1 and b1 > b0:
                out.append(q0 + (q1 - q0) * (x - b0) / (b1 - b0))
    return out


def _draw(ax: Axes, names: list[str], curves: Mapping[str, list[tuple[float, float]]], families: Mapping[str, str],
          labels: Mapping[str, str], colours: Mapping[str, tuple[str, str]], marker_size: float,
          legend: bool, gid: str) -> None:
    """Each curve in its family's style; ``gid`` + name identifies its line in an SVG (``<g id=...>``)."""
    for name in names:
        pts = sorted(curves[name])
        style = figure_style.family_style(families.get(name, "measured"))
        colour, marker = colours[name]
        colour = style.get("colour", colour)
        ax.plot([p[0] for p in pts], [p[1] for p in pts], color=colour, marker=marker, markersize=marker_size,
                markerfacecolor=colour if style["fill"] else "white", markeredgecolor=colour,
                markeredgewidth=0.8, linestyle=style["linestyle"], linewidth=style["linewidth"],
                label=labels.get(name, name) if legend else None, zorder=3 if families.get(name) == "anchor" else 2,
                gid=f"{gid}{name}")


def rd_figure(curves: Mapping[str, list[tuple[float, float]]], *, metric: str = metric_spec.DEFAULT,
              families: Mapping[str, str] | None = None, labels: Mapping[str, str] | None = None,
              order: Sequence[str] | None = None, xlim: tuple[float, float] | None = None,
              ylim: tuple[float, float] | None = None, size: str = "one-column",
              inset: tuple[float, float] | None = None, title: str = "",
              styles: Mapping[str, tuple[str, str]] | None = None) -> Figure:
    """The figure of ``curves`` (name -> (bpp, value) points): each name in its family's line style
    (:data:`rdbench.analysis.figure_style.FAMILIES`; default measured), named by ``labels``, the legend
    in ``order`` (then the rest sorted), ``xlim``/``ylim`` fixing the axes, ``size`` one-column (3.5 in)
    or two-column (7 in), and with ``inset=(low, high)`` a zoomed view of that bpp range in the lower
    right, its frame marked on the main axes. Colours and markers are :func:`rdbench.analysis.plots.styles`'s."""
    if not curves:
        raise RdbenchError("nothing to plot: no codec has a curve for this dataset and metric")
    families = dict(families or {})
    labels = dict(labels or {})
    width, height = figure_style.size_of(size)
    label_pt, tick_pt, legend_pt = figure_style.FONTS[size]
    names = _ordered(curves, order)
    colours = dict(styles) if styles is not None and all(n in styles for n in names) else figure_styles(names)
    fig = Figure(figsize=(width, height), dpi=200)
    ax = fig.add_subplot()
    marker_size = 3 if size == "one-column" else 4
    _draw(ax, names, curves, families, labels, colours, marker_size, legend=True, gid="rd-curve:")
    ax.set_xlabel("bits per pixel (bpp)", fontsize=label_pt)
    ax.set_ylabel(metric_spec.get(metric).axis_label, fontsize=label_pt)
    if title:
        ax.set_title(title, fontsize=label_pt)
    ax.tick_params(labelsize=tick_pt)
    ax.grid(alpha=0.3, linewidth=0.5)
    if xlim:
        ax.set_xlim(*xlim)
    if ylim:
        ax.set_ylim(*ylim)
    if inset:
        _inset(ax, names, curves, families, labels, colours, inset, tick_pt)
    ax.legend(fontsize=legend_pt, loc="upper left", frameon=True, framealpha=0.9, edgecolor="#cccccc",
              handlelength=2.6, borderaxespad=0.4)
    fig.tight_layout(pad=0.3)
    return fig


def _inset(ax: Axes, names: list[str], curves: Mapping[str, list[tuple[float, float]]], families: Mapping[str, str],
           labels: Mapping[str, str], colours: Mapping[str, tuple[str, str]], rates: tuple[float, float],
           tick_pt: float) -> Axes:
    """A zoomed copy of the curves over the bpp range ``rates`` in the lower right of ``ax``."""
    values = [v for n in names for v in _between(curves[n], *rates)]
    if not values:
        raise UsageError(f"--inset {rates[0]:g},{rates[1]:g}: no curve has points in that bpp range",
                         hint="choose a range the curves cover")
    inner = ax.inset_axes([0.52, 0.08, 0.45, 0.45])
    _draw(inner, names, curves, families, labels, colours, 2.5, legend=False, gid="rd-inset:")
    pad = 0.05 * (max(values) - min(values) or 1.0)
    inner.set_xlim(*rates)
    inner.set_ylim(min(values) - pad, max(values) + pad)
    inner.tick_params(labelsize=tick_pt - 1)
    inner.grid(alpha=0.3, linewidth=0.5)
    ax.indicate_inset_zoom(inner, edgecolor="#555555")
    return inner


def save_figure(fig: Figure, out: str | Path) -> Path:
    """Write ``fig`` (PNG, SVG or PDF by the extension) with its fonts embedded
    (:func:`rdbench.analysis.figure_style.save`); returns the path."""
    return figure_style.save(fig, _check_target(Path(out)))


def plot_rd(curves: Any, out: str | Path | None = None, *, dataset: str | None = None, metric: str | None = None,
            title: str = "", published: Iterable[str] = frozenset(), anchor: str | None = None,
            labels: Mapping[str, str] | None = None, styles: Mapping[str, tuple[str, str]] | None = None,
            families: Mapping[str, str] | None = None, order: Sequence[str] | None = None,
            xlim: tuple[float, float] | str | None = None, ylim: tuple[float, float] | str | None = None,
            size: str | None = None, inset: tuple[float, float] | str | None = None) -> Figure | Path:
    """An RD figure: returned as a matplotlib Figure (``out`` None), or written to ``out`` (its path returned).

    ``curves``: a mapping name -> (bpp, value) points, or a :func:`rdbench.load_curves` DataFrame (its
    ``source`` gives each curve's family, its ``label`` the legend; ``dataset``/``metric`` pick one
    when it holds several). ``published`` names drawn as published, ``anchor`` the anchor's family;
    ``families`` sets any name's family (measured, published, imported, anchor). ``labels``: display
    names; ``order``: legend order; ``xlim``/``ylim``/``inset``: ``(low, high)`` or ``"low,high"``;
    ``size``: ``one-column`` (default) or ``two-column`` (:func:`rd_figure`).

    Called as before (``plot_rd(points, path, title=..., published=..., anchor=..., labels=...)``, with
    none of the paper options) it writes the figure ``rdbench plot`` always wrote
    (:func:`rdbench.analysis.plots.plot_rd`).
    """
    paper = any(v is not None for v in (order, xlim, ylim, size, inset, families)) or out is None
    if not paper and isinstance(curves, Mapping):
        from rdbench.analysis import plots

        return plots.plot_rd(dict(curves), Path(out), title=title, metric=metric or metric_spec.DEFAULT,
                             published=set(published), anchor=anchor, labels=dict(labels or {}) or None, styles=styles)
    given_labels = dict(labels or {})
    if isinstance(curves, Mapping):
        points, kinds, shown = dict(curves), {}, {}
        metric = metric or metric_spec.DEFAULT
    else:
        points, kinds, shown, metric = _from_frame(curves, dataset, metric)
    kinds.update({n: "published" for n in published})
    if anchor is not None:
        kinds[anchor] = "anchor"
    kinds.update(families or {})
    fig = rd_figure(points, metric=metric, families=kinds, labels={**shown, **given_labels}, order=order,
                    xlim=parse_range(xlim, "xlim"), ylim=parse_range(ylim, "ylim"), size=size or "one-column",
                    inset=parse_range(inset, "inset"), title=title, styles=styles)
    return fig if out is None else save_figure(fig, out)
