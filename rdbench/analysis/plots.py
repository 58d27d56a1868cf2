"""RD curve figures (bpp vs PSNR or MS-SSIM dB) for measured and published codecs.

WHY these styles: within one figure every curve has its own colour and its own marker
(:func:`styles`), so curves stay apart in grey print and for colour-blind readers; across figures a
name keeps its colour and marker wherever the names present allow it (each name has a preferred
colour and marker, fixed by a hash of the name, :func:`style`; a name whose preference another
curve of the figure already holds takes the next free one, names taken in sorted order). Pass the
same ``styles`` mapping to every figure of a set (``styles(all_names)``) and the names keep their
style across all of them. Published curves are dashed, the anchor is drawn thicker. Sized for one
paper column (3.5 in wide), with the legend under the axes so it never hides a curve.

Figures are :class:`matplotlib.figure.Figure` objects saved straight to a file (``savefig`` picks
the Agg, SVG or PDF canvas from the extension), never pyplot's: importing or plotting changes no
global matplotlib state (the backend a notebook or script chose stays), and no figure is left
open or shown.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.figure import Figure

from rdbench import metric_spec
from rdbench.analysis import figure_style
from rdbench.errors import RdbenchError

MARKERS = "osD^v<>ph*X"
#: Colours distinct on screen, in print and for the common colour-vision deficiencies (Okabe-Ito's
#: eight, then Paul Tol's), none too light to read on white.
PALETTE = ("#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#000000", "#882255",
           "#999933", "#332288", "#661100", "#888888")
FORMATS = (".png", ".svg", ".pdf")


def _digest(name: str) -> int:
    return int(hashlib.sha1(name.encode()).hexdigest(), 16)


def style(name: str) -> tuple[str, str]:
    """The colour and marker a codec name prefers (fixed by the name): what it gets in a figure where
    no other curve holds them. :func:`styles` gives the styles of a whole figure."""
    digest = _digest(name)
    return PALETTE[digest % len(PALETTE)], MARKERS[(digest // 20) % len(MARKERS)]


def _next_free(start: int, size: int, used: dict[int, int]) -> int:
    """The first index from ``start`` (wrapping) used the fewest times so far."""
    fewest = min(used.get(i, 0) for i in range(size))
    return next(i % size for i in range(start, start + size) if used.get(i % size, 0) == fewest)


def styles(names: Iterable[str]) -> dict[str, tuple[str, str]]:
    """Name -> (colour, marker) for the curves of one figure (or of a set of figures drawn together).

    Every name gets a colour no other name has while the palette lasts (12) and a marker no other
    name has while the markers last (11); beyond that no two names share both. A name gets its
    preferred style (:func:`style`) unless a name before it (sorted order) holds it, then the next
    free one, so one name keeps its style in every figure where that is possible.
    """
    colours: dict[int, int] = {}
    markers: dict[int, int] = {}
    pairs: set[tuple[int, int]] = set()
    out: dict[str, tuple[str, str]] = {}
    for name in sorted(set(names)):
        digest = _digest(name)
        colour = _next_free(digest % len(PALETTE), len(PALETTE), colours)
        marker = _next_free((digest // 20) % len(MARKERS), len(MARKERS), markers)
        for step in range(len(MARKERS)):  # beyond both lists: never the same pair twice
            if (colour, (marker + step) % len(MARKERS)) not in pairs:
                marker = (marker + step) % len(MARKERS)
                break
        colours[colour] = colours.get(colour, 0) + 1
        markers[marker] = markers.get(marker, 0) + 1
        pairs.add((colour, marker))
        out[name] = (PALETTE[colour], MARKERS[marker])
    return out


def _check_target(out: Path) -> Path:
    out = Path(out)
    if out.suffix.lower() not in FORMATS:
        raise RdbenchError(f"cannot write a figure as {out.suffix or 'no extension'!r}",
                           hint=f"use one of {', '.join(FORMATS)}")
    return out


def _new_figure() -> tuple[Figure, Axes]:
    fig = Figure(figsize=(3.5, 2.8), dpi=200)
    return fig, fig.add_subplot()


def _finish(fig: Figure, ax: Axes, out: Path, *, title: str, metric: str) -> Path:
    """Axes, legend and size every RD figure shares (readable printed one paper column wide), then save.

    The legend goes under the axes, in two columns when the labels are short, and the figure grows
    in height to hold it: at 3.5 in wide its 6 pt text stays readable and it hides no curve."""
    ax.set_xlabel("bits per pixel", fontsize=8)
    ax.set_ylabel(metric_spec.get(metric).axis_label, fontsize=8)
    ax.set_title(title, fontsize=8)
    ax.grid(alpha=0.3)
    ax.tick_params(labelsize=7)
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        columns = 2 if len(labels) > 3 and max(len(label) for label in labels) <= 28 else 1
        rows = -(-len(labels) // columns)
        fig.set_size_inches(3.5, 2.6 + 0.25 + 0.12 * rows)
        ax.legend(fontsize=6, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=columns, frameon=False,
                  handlelength=2.6, columnspacing=1.0, borderaxespad=0.0)
    fig.tight_layout(pad=0.3)
    return figure_style.save(fig, out)


def plot_rd(curves: dict[str, list[tuple[float, float]]], out: Path, *, title: str = "", metric: str = metric_spec.DEFAULT,
            published: set[str] = frozenset(), anchor: str | None = None,
            labels: dict[str, str] | None = None, styles: Mapping[str, tuple[str, str]] | None = None) -> Path:
    """Write one RD figure; ``curves`` maps codec name to (bpp, quality) points; ``labels`` gives a
    legend label other than the name (e.g. ``jpeg [3fa2b1c0]`` when a configuration had to be chosen);
    ``styles`` the (colour, marker) of each name (default :func:`styles` of the names drawn; pass
    ``styles(all names)`` to keep them across figures)."""
    out = _check_target(out)
    if not curves:
        raise RdbenchError("nothing to plot: no codec has a curve for this dataset and metric")
    labels = labels or {}
    chosen = _styles_for(curves, styles)
    fig, ax = _new_figure()
    for name, points in sorted(curves.items()):
        pts = sorted(points)
        colour, marker = chosen[name]
        label = labels.get(name, name)
        ax.plot([p[0] for p in pts], [p[1] for p in pts], color=colour, marker=marker, markersize=3,
                linestyle="--" if name in published else "-", linewidth=2.2 if name == anchor else 1.0,
                label=f"{label} (anchor)" if name == anchor else label, zorder=3 if name == anchor else 2)
    return _finish(fig, ax, out, title=title, metric=metric)


def _styles_for(names: Iterable[str], given: Mapping[str, tuple[str, str]] | None) -> dict[str, tuple[str, str]]:
    """``given`` where it has every name, else the styles of this figure's names."""
    names = list(names)
    if given is not None and all(n in given for n in names):
        return {n: given[n] for n in names}
    return styles(names)


def plot_per_image(per_image: dict[str, dict[str, list[tuple[float, float]]]],
                   means: dict[str, list[tuple[float, float]]], out: Path, *, title: str = "",
                   metric: str = metric_spec.DEFAULT, labels: dict[str, str] | None = None,
                   styles: Mapping[str, tuple[str, str]] | None = None) -> Path:
    """Per-image RD curves: a thin line per image in the codec's colour, the dataset mean on top.

    ``per_image`` maps codec -> image -> (bpp, quality) points and ``means`` codec -> its mean
    curve. The spread of the thin lines shows what a dataset mean hides (content-dependent
    gains, outlier images).
    """
    out = _check_target(out)
    if not any(per_image.values()):
        raise RdbenchError("nothing to plot: no measured codec has per-image records for this dataset",
                           hint="per-image plots need codecs measured with `rdbench run`")
    chosen = _styles_for(per_image, styles)
    fig, ax = _new_figure()
    for name, images in sorted(per_image.items()):
        colour, marker = chosen[name]
        for points in images.values():
            pts = sorted(points)
            ax.plot([p[0] for p in pts], [p[1] for p in pts], color=colour, linewidth=0.6, alpha=0.5, zorder=1)
        mean = sorted(means.get(name, []))
        ax.plot([m[0] for m in mean], [m[1] for m in mean], color=colour, marker=marker, markersize=3,
                linewidth=1.4, label=f"{(labels or {}).get(name, name)} (mean of {len(images)} images)", zorder=2)
    return _finish(fig, ax, out, title=title, metric=metric)


def plot_delta(deltas: dict[str, tuple[list[float], list[float]]], out: Path, *, anchor: str, title: str = "",
               metric: str = metric_spec.DEFAULT, per_image: dict[str, dict[str, tuple[list[float], list[float]]]] | None = None,
               labels: dict[str, str] | None = None) -> Path:
    """Rate difference (%) of each codec against ``anchor`` as a function of quality, over the overlap.

    ``deltas`` maps codec -> (qualities, rate differences in %) of its mean curve
    (:func:`rdbench.analysis.bdrate.rate_difference`): what a BD-rate averages, drawn so a reader
    sees where along the quality axis a codec gains or loses (Herglotz et al.'s relative curve
    difference). ``per_image`` (codec -> image -> (qualities, %)) adds a thin line per image in the
    codec's colour; ``labels`` gives legend labels (e.g. with the BD-rate). Below 0: fewer bits than
    the anchor at that quality.
    """
    out = _check_target(out)
    if not deltas and not any((per_image or {}).values()):
        raise RdbenchError(f"nothing to plot: no codec has a rate difference against {anchor} here",
                           hint="the curves must overlap in quality; `rdbench bdrate` says why a pair has none")
    labels = labels or {}
    names = sorted(set(deltas) | set(per_image or {}))
    chosen = styles(names)
    fig, ax = _new_figure()
    ax.axhline(0.0, color="#444444", linewidth=0.8, zorder=1)
    for name in names:
        colour, marker = chosen[name]
        for q, pct in (per_image or {}).get(name, {}).values():
            ax.plot(q, pct, color=colour, linewidth=0.5, alpha=0.45, zorder=1)
        if name in deltas:
            q, pct = deltas[name]
            ax.plot(q, pct, color=colour, linewidth=1.4, label=labels.get(name, name), zorder=3,
                    marker=marker, markevery=max(1, len(q) // 6), markersize=3)
    ax.set_xlabel(metric_spec.get(metric).axis_label, fontsize=8)
    ax.set_ylabel(f"rate difference vs {anchor} (%)", fontsize=8)
    ax.set_title(title, fontsize=8)
    ax.grid(alpha=0.3)
    ax.tick_params(labelsize=7)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=6, loc="best", frameon=False)
    fig.tight_layout(pad=0.3)
    return figure_style.save(fig, out)
