"""Complexity points read back: scaling exponents, the figure and flat rows for display.

The exponent of a measure is the slope of log(measure) against log(pixel count): ~1 is
linear, ~2 quadratic; for FLOPs per pixel (the FLOPs exponent minus one) 0 means constant.
Points are measured by :mod:`rdbench.run.complexity` and stored as
:class:`rdbench.store.record.ComplexityPoint`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rdbench.analysis import figure_style
from rdbench.store.record import MEASURES, STATUS_OOM, ComplexityPoint

#: The columns of the points table (:func:`complexity_rows`) that ``rdbench complexity`` prints.
POINT_COLUMNS = ["codec", "size", "status", "encode_ms", "decode_ms", "forward_ms", "peak_mem_mib", "fwd_mem_mib",
                 "kflops_per_px", "decoder_macs_per_px", "bpp"]
#: The columns of the exponents table (:func:`scaling_exponents`) that ``rdbench complexity`` prints.
EXPONENT_COLUMNS = ["codec", "device", "fit_sizes", "encode_s", "decode_s", "forward_s", "peak_mem_bytes",
                    "forward_peak_mem_bytes", "flops", "flops_per_pixel", "fpp_growth"]


def _by_codec_and_device(points: Iterable[ComplexityPoint]) -> dict[tuple[str, str], list[ComplexityPoint]]:
    groups: dict[tuple[str, str], list[ComplexityPoint]] = {}
    for point in points:
        groups.setdefault((point.codec, point.device), []).append(point)
    return groups


def fit_exponent(pixels: Sequence[float], values: Sequence[float | None]) -> float | None:
    """Least-squares slope of log(value) against log(pixels); None with fewer than 2 usable points."""
    pairs = [(p, v) for p, v in zip(pixels, values) if p and v is not None and v > 0]
    if len({p for p, _ in pairs}) < 2:
        return None
    x = np.log([p for p, _ in pairs])
    y = np.log([v for _, v in pairs])
    return float(np.polyfit(x, y, 1)[0])


def scaling_exponents(points: Iterable[ComplexityPoint], min_pixels: int | None = None) -> list[dict[str, Any]]:
    """One row per (codec, device): the exponent of each measure against pixel count.

    Fitted over the larger sizes: those with at least ``min_pixels`` pixels, by default the
    upper half of the sizes measured (the smallest sizes are dominated by fixed costs).
    ``flops_per_pixel`` is the FLOPs exponent minus 1 (0 = constant per pixel); ``fpp_growth``
    is the FLOPs-per-pixel ratio of the largest to the smallest size.
    """
    rows = []
    for (codec, device), group in sorted(_by_codec_and_device(points).items()):
        sizes = sorted({p.pixels for p in group})
        threshold = min_pixels if min_pixels is not None else sizes[(len(sizes) - 1) // 2] if sizes else 0
        row: dict[str, Any] = {"codec": codec, "device": device}
        fitted = [p for p in group if p.pixels >= threshold]
        labels = {p.size_label: p.pixels for p in fitted}
        row["fit_sizes"] = ",".join(sorted(labels, key=lambda label: (labels[label], label)))
        for measure in MEASURES:
            row[measure] = fit_exponent([p.pixels for p in fitted], [getattr(p, measure) for p in fitted])
        row["flops_per_pixel"] = None if row["flops"] is None else row["flops"] - 1.0
        with_flops = sorted((p for p in group if p.flops), key=lambda p: p.pixels)
        row["fpp_growth"] = (with_flops[-1].flops_per_pixel / with_flops[0].flops_per_pixel
                             if len(with_flops) >= 2 else None)
        rows.append(row)
    return rows


def plot_complexity(points: Sequence[ComplexityPoint], path: str | Path) -> Path:
    """Encode/decode/forward time, peak memory and FLOPs/pixel against image side, one line per codec.

    Log-log axes for time and memory (a straight line's slope against pixels is the scaling
    exponent); FLOPs/pixel on a linear axis, where a linear-complexity model is a flat line.
    """
    from matplotlib.figure import (
        Figure,  # a bare Figure: no pyplot, no global backend switch
    )

    groups = _by_codec_and_device(points)
    fig = Figure(figsize=(15, 4.5))
    axes = fig.subplots(1, 3)
    panels = [
        (axes[0], "time (s)", [("encode_s", "-", "enc"), ("decode_s", "--", "dec"), ("forward_s", ":", "fwd")], 1.0),
        (axes[1], "peak memory (MiB)", [("peak_mem_bytes", "-", "enc+dec"), ("forward_peak_mem_bytes", ":", "fwd")],
         1 / 2 ** 20),
    ]
    for index, ((codec, device), group) in enumerate(sorted(groups.items())):
        color = f"C{index % 10}"
        group = sorted(group, key=lambda p: p.pixels)
        label = codec if len({d for _, d in groups}) == 1 else f"{codec} ({device})"
        for ax, _, series, scale in panels:
            for attr, style, what in series:
                pts = [(p.side, getattr(p, attr) * scale) for p in group if getattr(p, attr) is not None]
                if pts:
                    ax.plot(*zip(*pts), style, marker="o", color=color, label=f"{label} {what}")
        fpp = [(p.side, p.flops_per_pixel / 1e3) for p in group if p.flops is not None]
        if fpp:
            axes[2].plot(*zip(*fpp), "-", marker="o", color=color, label=label)
        for p in group:
            if p.status == STATUS_OOM:
                axes[1].axvline(p.side, color=color, alpha=0.3, linestyle=":")
    for ax, ylabel, _, _ in panels:
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_ylabel(ylabel)
    axes[2].set_xscale("log", base=2)
    axes[2].set_ylabel("kFLOPs / pixel (forward)")
    if axes[2].lines:  # from zero: a few percent of growth must not look like a cliff
        axes[2].set_ylim(0, 1.1 * max(max(line.get_ydata()) for line in axes[2].lines))
    for ax in axes:
        if not ax.lines:  # e.g. FLOPs-only points: no empty panels
            ax.set_visible(False)
            continue
        ax.set_xlabel("image side (px; √pixels when not square)")
        ax.grid(True, which="both", alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    fig.tight_layout()
    return figure_style.save(fig, path, dpi=120)


def complexity_rows(points: Iterable[ComplexityPoint]) -> list[dict[str, Any]]:
    """Flat rows for :func:`rdbench.cli.formatting.render`: every field (JSON keeps them all,
    ``decoder_macs_per_px`` included, in MACs as C3 reports them) plus the size and the measures
    in display units (ms, MiB, kFLOPs per pixel)."""
    rows = []
    for p in points:
        row = p.to_json()
        row["size"] = f"{p.width}x{p.height}"
        for name in ("encode", "decode", "forward"):
            seconds = getattr(p, f"{name}_s")
            row[f"{name}_ms"] = None if seconds is None else seconds * 1e3
        row["peak_mem_mib"] = None if p.peak_mem_bytes is None else p.peak_mem_bytes / 2 ** 20
        row["fwd_mem_mib"] = None if p.forward_peak_mem_bytes is None else p.forward_peak_mem_bytes / 2 ** 20
        row["kflops_per_px"] = None if p.flops is None else p.flops / p.pixels / 1e3
        rows.append(row)
    return rows
