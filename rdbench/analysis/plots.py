"""RD curve figures (bpp vs PSNR or MS-SSIM dB) for measured and published codecs.

WHY stable styles: a codec keeps the same colour and marker in every figure (hash of its name),
so figures from different runs and papers can be compared side by side. Published curves are
dashed, the anchor is drawn thicker. Sized for one paper column (3.5 in wide).

Figures are :class:`matplotlib.figure.Figure` objects saved straight to a file (``savefig`` picks
the Agg, SVG or PDF canvas from the extension), never pyplot's: importing or plotting changes no
global matplotlib state (the backend a notebook or script chose stays), and no figure is left
open or shown.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import matplotlib
import matplotlib.colors
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from rdbench.errors import RdbenchError

MARKERS = "osD^v<>ph*X"
FORMATS = (".png", ".svg", ".pdf")
YLABELS = {"psnr": "PSNR (dB)", "ms-ssim": "MS-SSIM (dB)"}


def style(name: str) -> tuple[str, str]:
    """Colour and marker fixed by the codec name."""
    digest = int(hashlib.sha1(name.encode()).hexdigest(), 16)
    colours = matplotlib.colormaps["tab20"].colors
    return matplotlib.colors.to_hex(colours[digest % len(colours)]), MARKERS[(digest // 20) % len(MARKERS)]


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
    """Axes, legend and size every RD figure shares (readable at a paper's column width), then save."""
    ax.set_xlabel("bits per pixel")
    ax.set_ylabel(YLABELS[metric])
    ax.set_title(title, fontsize=8)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=5, loc="lower right")
    ax.tick_params(labelsize=7)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    return out


def plot_rd(curves: dict[str, list[tuple[float, float]]], out: Path, *, title: str = "", metric: str = "psnr",
            published: set[str] = frozenset(), anchor: str | None = None,
            labels: dict[str, str] | None = None) -> Path:
    """Write one RD figure; ``curves`` maps codec name to (bpp, quality) points; ``labels`` gives a
    legend label other than the name (e.g. ``jpeg [3fa2b1c0]`` when a configuration had to be chosen)."""
    out = _check_target(out)
    if not curves:
        raise RdbenchError("nothing to plot: no codec has a curve for this dataset and metric")
    labels = labels or {}
    fig, ax = _new_figure()
    for name, points in sorted(curves.items()):
        pts = sorted(points)
        colour, marker = style(name)
        label = labels.get(name, name)
        ax.plot([p[0] for p in pts], [p[1] for p in pts], color=colour, marker=marker, markersize=3,
                linestyle="--" if name in published else "-", linewidth=2.2 if name == anchor else 1.0,
                label=f"{label} (anchor)" if name == anchor else label, zorder=3 if name == anchor else 2)
    return _finish(fig, ax, out, title=title, metric=metric)


def plot_per_image(per_image: dict[str, dict[str, list[tuple[float, float]]]],
                   means: dict[str, list[tuple[float, float]]], out: Path, *, title: str = "",
                   metric: str = "psnr", labels: dict[str, str] | None = None) -> Path:
    """Per-image RD curves: a thin line per image in the codec's colour, the dataset mean on top.

    ``per_image`` maps codec -> image -> (bpp, quality) points and ``means`` codec -> its mean
    curve. The spread of the thin lines shows what a dataset mean hides (content-dependent
    gains, outlier images).
    """
    out = _check_target(out)
    if not any(per_image.values()):
        raise RdbenchError("nothing to plot: no measured codec has per-image records for this dataset",
                           hint="per-image plots need codecs measured with `rdbench run`")
    fig, ax = _new_figure()
    for name, images in sorted(per_image.items()):
        colour, marker = style(name)
        for points in images.values():
            pts = sorted(points)
            ax.plot([p[0] for p in pts], [p[1] for p in pts], color=colour, linewidth=0.6, alpha=0.5, zorder=1)
        mean = sorted(means.get(name, []))
        ax.plot([m[0] for m in mean], [m[1] for m in mean], color=colour, marker=marker, markersize=3,
                linewidth=1.4, label=f"{(labels or {}).get(name, name)} (mean of {len(images)} images)", zorder=2)
    return _finish(fig, ax, out, title=title, metric=metric)
