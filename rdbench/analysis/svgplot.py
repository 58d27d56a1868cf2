"""Small line charts as inline SVG for the HTML report (:mod:`rdbench.analysis.report`).

WHY not matplotlib's SVG: the report must open offline as one file, say what each point is when
the reader hovers over it, and stay small. Drawn here, every point is one element with a
``<title>`` (the browser shows it as a tooltip: codec, quality, bpp, metric), every text is
escaped, and a figure of a few hundred points is a few tens of kilobytes.
Markers are the shapes of matplotlib's marker letters (``osD^v<>ph*X``), so a curve looks the same
in the report and in ``rdbench plot``'s figures (:func:`rdbench.analysis.plots.styles`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from rdbench.analysis.text_escape import html as esc


@dataclass
class Series:
    """One line of a chart: its points (x, y, tooltip), style and legend label."""

    label: str
    colour: str
    points: list[tuple[float, float, str]]
    marker: str | None = "o"
    dashed: bool | str = False
    width: float = 1.5
    opacity: float = 1.0
    #: tooltip of the line itself (hovering a thin per-image line names its image)
    tooltip: str = ""
    legend: bool = True
    classes: list[str] = field(default_factory=list)


def _n(value: float) -> str:
    """A coordinate with one decimal, no trailing zeros: small files."""
    return f"{value:.1f}".removesuffix(".0")


def _polygon(cx: float, cy: float, corners: list[tuple[float, float]]) -> str:
    return "M" + "L".join(f"{_n(cx + x)},{_n(cy + y)}" for x, y in corners) + "Z"


def _regular(count: int, radius: float, inner: float | None = None, turn: float = -math.pi / 2):
    steps = count * (2 if inner else 1)
    corners = []
    for i in range(steps):
        r = inner if inner and i % 2 else radius
        angle = turn + 2 * math.pi * i / steps
        corners.append((r * math.cos(angle), r * math.sin(angle)))
    return corners


def _cross(r: float) -> list[tuple[float, float]]:
    w = r * 0.32
    plus = [(-w, -r), (w, -r), (w, -w), (r, -w), (r, w), (w, w), (w, r), (-w, r), (-w, w), (-r, w), (-r, -w), (-w, -w)]
    c = math.sqrt(0.5)
    return [((x - y) * c, (x + y) * c) for x, y in plus]


def marker_shape(marker: str, x: float, y: float, r: float = 4.0) -> str:
    """The SVG element (without closing tag content) of a marker at (x, y): ``<circle ...`` or ``<path ...``."""
    if marker == "o":
        return f'<circle cx="{_n(x)}" cy="{_n(y)}" r="{_n(r)}"'
    shapes = {
        "s": [(-r * 0.85, -r * 0.85), (r * 0.85, -r * 0.85), (r * 0.85, r * 0.85), (-r * 0.85, r * 0.85)],
        "D": [(0, -r * 1.15), (r * 0.9, 0), (0, r * 1.15), (-r * 0.9, 0)],
        "^": [(0, -r * 1.15), (r, r * 0.8), (-r, r * 0.8)],
        "v": [(0, r * 1.15), (r, -r * 0.8), (-r, -r * 0.8)],
        "<": [(-r * 1.15, 0), (r * 0.8, -r), (r * 0.8, r)],
        ">": [(r * 1.15, 0), (-r * 0.8, -r), (-r * 0.8, r)],
        "p": _regular(5, r * 1.1),
        "h": _regular(6, r * 1.05),
        "*": _regular(5, r * 1.35, inner=r * 0.55),
        "X": _cross(r * 1.1),
    }
    corners = shapes.get(marker, shapes["s"])
    return f'<path d="{_polygon(x, y, corners)}"'


def nice_ticks(low: float, high: float, count: int = 6) -> list[float]:
    """Round tick values covering [low, high] (steps of 1, 2, 2.5 or 5 times a power of ten)."""
    span = high - low
    if span <= 0:
        return [low]
    raw = span / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    first = math.ceil(low / step - 1e-9) * step
    ticks = []
    value = first
    while value <= high + step * 1e-9:
        ticks.append(round(value, 12))
        value += step
    return ticks


def log_ticks(low: float, high: float, base: float) -> list[float]:
    """Powers of ``base`` in [low, high]; for a range under two decades (base 10) also 2x and 5x."""
    start, stop = math.floor(math.log(low, base) - 1e-9), math.ceil(math.log(high, base) + 1e-9)
    ticks = [base ** e for e in range(start, stop + 1)]
    if base == 10 and stop - start <= 2:
        ticks = sorted(t * m for t in ticks for m in (1, 2, 5))
    return [t for t in ticks if low * (1 - 1e-9) <= t <= high * (1 + 1e-9)]


def _label(value: float, step: float | None) -> str:
    if step is None:  # log axis
        return f"{value:g}"
    decimals = max(0, -math.floor(math.log10(step) + 1e-9)) + (1 if round(step / 10 ** math.floor(
        math.log10(step) + 1e-9), 6) == 2.5 else 0)
    return f"{value:.{decimals}f}"


class _Axis:
    def __init__(self, values: list[float], start: float, stop: float, log: bool, base: float,
                 floor: float | None = None) -> None:
        self.log, self.base, self.start, self.stop = log, base, start, stop
        values = [v for v in values if math.isfinite(v) and (v > 0 or not log)]
        if not values:
            values = [1.0]
        low, high = min(values), max(values)
        if floor is not None:
            low = min(low, floor)
        if log:
            a, b = math.log(low, base), math.log(high, base)
            if b - a < 1e-9:
                a, b = a - 0.5, b + 0.5
            pad = (b - a) * 0.05
            self.low, self.high = base ** (a - pad), base ** (b + pad)
            self.ticks = log_ticks(self.low, self.high, base) or [low, high]
            self.step = None
        else:
            if high - low < 1e-12:
                low, high = low - 1, high + 1
            pad = (high - low) * 0.05
            self.low = low if floor is not None and low == floor else low - pad
            self.high = high + pad
            self.ticks = nice_ticks(self.low, self.high)
            self.step = self.ticks[1] - self.ticks[0] if len(self.ticks) > 1 else None

    def __call__(self, value: float) -> float:
        if self.log:
            a, b, v = math.log(self.low, self.base), math.log(self.high, self.base), math.log(value, self.base)
        else:
            a, b, v = self.low, self.high, value
        return self.start + (v - a) / (b - a) * (self.stop - self.start)

    def label(self, value: float) -> str:
        return _label(value, self.step)


def chart(series: list[Series], *, title: str, xlabel: str, ylabel: str, xlog: bool = False, ylog: bool = False,
          xbase: float = 10, ybase: float = 10, yfloor: float | None = None, width: int = 560,
          height: int = 360) -> str:
    """An inline ``<svg>`` line chart of ``series``; each marker carries its point's tooltip."""
    left, right, top, bottom = 58, 14, 26, 44
    xs = [p[0] for s in series for p in s.points]
    ys = [p[1] for s in series for p in s.points]
    x = _Axis(xs, left, width - right, xlog, xbase)
    y = _Axis(ys, height - bottom, top, ylog, ybase, floor=yfloor)
    out = [(f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {width} {height}" '
            f'width="{width}" height="{height}" role="img"><title>{esc(title)}</title>'),
           (f'<rect x="{left}" y="{top}" width="{width - left - right}" height="{height - top - bottom}" '
            'class="plotarea"/>')]
    for tick in x.ticks:
        px = x(tick)
        out.append(f'<line x1="{_n(px)}" x2="{_n(px)}" y1="{top}" y2="{height - bottom}" class="grid"/>'
                   f'<text x="{_n(px)}" y="{height - bottom + 14}" class="tick" text-anchor="middle">'
                   f'{esc(x.label(tick))}</text>')
    for tick in y.ticks:
        py = y(tick)
        out.append(f'<line x1="{left}" x2="{width - right}" y1="{_n(py)}" y2="{_n(py)}" class="grid"/>'
                   f'<text x="{left - 5}" y="{_n(py + 3.5)}" class="tick" text-anchor="end">'
                   f"{esc(y.label(tick))}</text>")
    out.append(f'<text x="{_n((left + width - right) / 2)}" y="{height - 8}" class="axis" text-anchor="middle">'
               f'{esc(xlabel)}</text>'
               f'<text transform="translate(14 {_n((top + height - bottom) / 2)}) rotate(-90)" class="axis" '
               f'text-anchor="middle">{esc(ylabel)}</text>'
               f'<text x="{_n((left + width - right) / 2)}" y="16" class="title" text-anchor="middle">'
               f"{esc(title)}</text>")
    for s in series:
        pts = [(px, py, tip) for px, py, tip in s.points
               if math.isfinite(px) and math.isfinite(py) and (px > 0 or not xlog) and (py > 0 or not ylog)]
        if not pts:
            continue
        dash = s.dashed if isinstance(s.dashed, str) else ("6 3" if s.dashed else "")
        classes = " ".join(["series", *s.classes])
        out.append(f'<g class="{esc(classes)}" stroke="{esc(s.colour)}" fill="{esc(s.colour)}"'
                   + (f' opacity="{s.opacity}"' if s.opacity != 1 else "") + ">")
        line = " ".join(f"{_n(x(px))},{_n(y(py))}" for px, py, _ in pts)
        out.append(f'<polyline points="{line}" fill="none" stroke-width="{s.width}"'
                   + (f' stroke-dasharray="{dash}"' if dash else "") + ">"
                   + (f"<title>{esc(s.tooltip)}</title>" if s.tooltip else "") + "</polyline>")
        if s.marker:
            for px, py, tip in pts:
                shape = marker_shape(s.marker, x(px), y(py))
                end = "</circle>" if s.marker == "o" else "</path>"
                out.append(f'{shape} class="pt"><title>{esc(tip)}</title>{end}')
        out.append("</g>")
    out.append("</svg>")
    return "".join(out)


def legend(series: list[Series]) -> str:
    """An HTML list of the series' swatches (line, dash and marker) and labels, under a chart."""
    items = []
    for s in series:
        if not s.legend:
            continue
        dash = s.dashed if isinstance(s.dashed, str) else ("6 3" if s.dashed else "")
        swatch = (f'<svg class="swatch" viewBox="0 0 34 14" width="34" height="14" aria-hidden="true">'
                  f'<g stroke="{esc(s.colour)}" fill="{esc(s.colour)}"><line x1="1" x2="33" y1="7" y2="7" '
                  f'stroke-width="{min(s.width, 3)}"' + (f' stroke-dasharray="{dash}"' if dash else "") + "/>"
                  + (f"{marker_shape(s.marker, 17, 7, 3.4)}/>" if s.marker else "") + "</g></svg>")
        items.append(f"<li>{swatch}<span>{esc(s.label)}</span></li>")
    return f'<ul class="legend">{"".join(items)}</ul>' if items else ""
