"""Bjøntegaard delta rate / PSNR over two rate-distortion curves.

WHY own code: the table and plot commands need one clear error per unusable curve (too few
points, non-monotonic, duplicates, no overlap) instead of NaN plus a warning, and a result that
carries the overlap fraction and the interval actually integrated, so tables can flag weak
comparisons and say what was compared. Formulas follow VCEG-M33 (cubic polynomial fit in
log10-rate) and the JVET CTC spreadsheet (piecewise cubic Hermite, "pchip"); "akima" uses Akima
splines. Integration runs over the overlapping interval only (optionally narrowed to a quality
interval, ``interval=(lo, hi)`` in the quality's unit). Results agree with the ``bjontegaard``
package (tests/test_bdrate.py). :func:`rate_difference` gives the curve a BD-rate averages (the
relative rate difference at each quality, Herglotz et al.'s "relative curve difference"); what
rdbench computes by default and why is in docs/bd-rate.md.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import scipy.interpolate

from rdbench.analysis.memo import Memo
from rdbench.errors import RdbenchError

METHODS = ("pchip", "akima", "cubic")
MIN_POINTS = {"pchip": 2, "akima": 2, "cubic": 4}


#: which Bjøntegaard delta: "rate" (BD-rate, %, integrated over quality) or "quality" (BD-PSNR, or the delta
#: of another metric in its unit, integrated over log10 rate). One name for what was a ``psnr_delta`` flag
#: in seven modules, so a result, a table and a cell say the same thing the same way.
BdKind = Literal["rate", "quality"]


def kind_of(psnr_delta: bool | None, kind: BdKind) -> BdKind:
    """``kind``, or what the deprecated ``psnr_delta`` flag asked for when a caller still passes it."""
    if psnr_delta is None:
        return kind
    return "quality" if psnr_delta else "rate"


class BdRateError(RdbenchError):
    """A pair of curves on which a Bjøntegaard delta cannot be computed."""


@dataclass(frozen=True)
class BdResult:
    """A Bjøntegaard delta, the share of the joint range both curves cover (0..1) on the integrated axis
    (quality for BD-rate, log10 rate for BD-PSNR: ``overlap``), and what was integrated.

    ``kind`` is "rate" (BD-rate, %, integrated over quality) or "quality" (BD-PSNR, or the delta of
    another metric, in its unit, integrated over log10 rate). ``interval`` is the integrated range in its own unit (quality in dB for
    BD-rate, rate in bpp for BD-PSNR); ``anchor_ends`` and ``test_ends`` are each curve's value of
    the other axis at the two ends (rates in bpp for BD-rate, qualities in dB for BD-PSNR).
    """

    value: float
    overlap: float
    method: str
    interval: tuple[float, float] | None = None
    anchor_ends: tuple[float, float] | None = None
    test_ends: tuple[float, float] | None = None
    kind: BdKind = "rate"

    def interval_dict(self) -> dict[str, list[float]] | None:
        """The integrated interval with both axes' ends, as JSON: BD-rate ``{"quality", "anchor_rate",
        "test_rate"}``, BD-PSNR ``{"rate", "anchor_quality", "test_quality"}``."""
        if self.interval is None:
            return None
        axis, other = ("quality", "rate") if self.kind == "rate" else ("rate", "quality")
        return {axis: list(self.interval), f"anchor_{other}": list(self.anchor_ends or ()),
                f"test_{other}": list(self.test_ends or ())}

    def interval_text(self, unit: str = "dB") -> str:
        """``26.14-40.45 dB; anchor 0.048-1.431 bpp`` (BD-rate) or ``0.10-0.84 bpp; anchor 29.2-37.4 dB``."""
        if self.interval is None:
            return ""
        lo, hi = self.interval
        (alo, ahi) = self.anchor_ends or (math.nan, math.nan)
        if self.kind == "rate":
            return f"{lo:.2f}-{hi:.2f} {unit}; anchor {alo:.3g}-{ahi:.3g} bpp"
        return f"{lo:.3g}-{hi:.3g} bpp; anchor {alo:.2f}-{ahi:.2f} {unit}"


class _Polynomial:
    """A fitted polynomial with the interface of scipy's interpolators (call, integrate)."""

    def __init__(self, coefficients: np.ndarray) -> None:
        self.coefficients = coefficients
        self.antiderivative = np.polyint(coefficients)

    def __call__(self, x: Any) -> Any:
        return np.polyval(self.coefficients, x)

    def integrate(self, lo: float, hi: float) -> float:
        return float(np.polyval(self.antiderivative, hi) - np.polyval(self.antiderivative, lo))


def check_method(method: str) -> None:
    if method not in METHODS:
        raise BdRateError(f"unknown BD method {method!r}", hint=f"use one of {', '.join(METHODS)}")


_check_method = check_method


#: fitted interpolants by method and exact points (:func:`interpolant`)
_INTERPOLANTS: Memo[Any] = Memo(4096)
#: checked curves by their exact points (:func:`_curve`)
_CURVES: Memo[tuple[np.ndarray, np.ndarray]] = Memo(4096)


def interpolant(x: np.ndarray, y: np.ndarray, method: str) -> Any:
    """The interpolating function of ``method`` through (x, y) (x increasing): callable, with ``integrate(lo, hi)``.

    The same points give the same (shared, never modified) object: a BD-rate table fits the anchor's
    curve, and each of its leave-one-out subsets (:mod:`rdbench.analysis.interpolation_error`), once per
    codec row otherwise, and fitting was most of a table's computing. The key is the points' exact bytes,
    so a cached fit is the fit those points would get."""
    x, y = np.array(x, dtype=float), np.array(y, dtype=float)  # own copies: a fit may keep views of them
    return _INTERPOLANTS.get((method, x.shape, y.shape, x.tobytes(), y.tobytes()), lambda: _fit(x, y, method))


def _fit(x: np.ndarray, y: np.ndarray, method: str) -> Any:
    if method == "pchip":
        return scipy.interpolate.PchipInterpolator(x, y)
    if method == "akima":
        if len(x) > 2:
            return scipy.interpolate.Akima1DInterpolator(x, y)
        return scipy.interpolate.make_interp_spline(x, y, k=1)
    if method == "cubic":
        return _Polynomial(np.polyfit(x, y, 3))
    raise BdRateError(f"unknown BD method {method!r}", hint=f"use one of {', '.join(METHODS)}")


def _curve(points: Sequence[Sequence[float]], role: str, method: str) -> tuple[np.ndarray, np.ndarray]:
    """Validate (rate, distortion) points; return log10-rate and distortion sorted by rate (read-only
    arrays, computed once per distinct points: the interpolation error of one value checks each
    curve's leave-one-out subsets, so a table of 140 codecs checks the same points thousands of times)."""
    arr = np.asarray(points, dtype=float)
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise BdRateError(f"{role} curve must be a list of (rate, distortion) pairs")
    if len(arr) < MIN_POINTS[method]:
        raise BdRateError(
            f"{role} curve has {len(arr)} point(s); method {method!r} needs at least {MIN_POINTS[method]}",
            hint="measure more qualities or use --method pchip",
        )
    return _CURVES.get((arr.shape, arr.tobytes()), lambda: _checked_curve(arr, role))


def _checked_curve(arr: np.ndarray, role: str) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_curve` once per distinct set of points: the checks, the sort by rate, the log of the rate
    (read-only: shared by every caller with these points)."""
    if not np.all(np.isfinite(arr)) or np.any(arr[:, 0] <= 0):
        raise BdRateError(f"{role} curve has non-finite values or non-positive rates")
    arr = arr[np.argsort(arr[:, 0], kind="stable")]
    rate, dist = arr[:, 0], arr[:, 1]
    if np.any(np.diff(rate) == 0) or np.any(np.diff(dist) == 0):
        raise BdRateError(f"{role} curve has duplicate rate or distortion values")
    if np.any(np.diff(dist) < 0):
        raise BdRateError(
            f"{role} curve is not monotonic: distortion quality falls as rate rises",
            hint="drop the outlier qualities before computing BD figures",
        )
    out = (np.log10(rate), dist)
    for array in out:
        array.flags.writeable = False
    return out


def _limits(xa: np.ndarray, xt: np.ndarray, limits: tuple[float | None, float | None] | None,
            unit: str) -> tuple[float, float, float]:
    """The integration range (overlap of the x ranges, narrowed to ``limits``) and the overlap fraction."""
    lo, hi = max(xa.min(), xt.min()), min(xa.max(), xt.max())
    total = max(xa.max(), xt.max()) - min(xa.min(), xt.min())
    if hi <= lo:
        raise BdRateError("curves do not overlap", hint="pick an anchor measured over the same range")
    overlap = float((hi - lo) / total)
    if limits is not None:
        want_lo = -math.inf if limits[0] is None else limits[0]
        want_hi = math.inf if limits[1] is None else limits[1]
        if min(hi, want_hi) <= max(lo, want_lo):
            shown = (f"{_show(want_lo, unit)}:{_show(want_hi, unit)}")
            raise BdRateError(f"the interval {shown} does not meet the overlap of the curves "
                              f"({_show(lo, unit)}:{_show(hi, unit)})",
                              hint="choose an --interval inside the range both curves cover")
        lo, hi = max(lo, want_lo), min(hi, want_hi)
    return float(lo), float(hi), overlap


def _show(value: float, unit: str) -> str:
    if math.isinf(value):
        return ""
    return f"{10 ** value:.4g}" if unit == "log10 bpp" else f"{value:.4g}"


def _delta(xa: np.ndarray, ya: np.ndarray, xt: np.ndarray, yt: np.ndarray, method: str,
           limits: tuple[float | None, float | None] | None = None, unit: str = "dB", *, ends: bool = True):
    """Mean of (test - anchor) over the overlap of the x ranges (within ``limits``), the overlap
    fraction, the integrated range and each interpolant's values at its ends (None for both without
    ``ends``: a value recomputed on a subset of the points needs only the mean)."""
    lo, hi, overlap = _limits(xa, xt, limits, unit)
    fa, ft = interpolant(xa, ya, method), interpolant(xt, yt, method)
    avg = (float(ft.integrate(lo, hi)) - float(fa.integrate(lo, hi))) / (hi - lo)
    if not ends:
        return float(avg), overlap, (lo, hi), None, None
    return (float(avg), overlap, (lo, hi), (float(fa(lo)), float(fa(hi))), (float(ft(lo)), float(ft(hi))))


def bd_rate(anchor: Sequence[Sequence[float]], test: Sequence[Sequence[float]], method: str = "pchip", *,
            interval: tuple[float | None, float | None] | None = None) -> BdResult:
    """Average rate difference of ``test`` vs ``anchor`` at equal quality, in percent (negative = saves bits).

    ``interval=(lo, hi)`` narrows integration to that quality range (dB; None for an open end).
    """
    check_method(method)
    la, da = _curve(anchor, "anchor", method)
    lt, dt = _curve(test, "test", method)
    avg, overlap, ends, a_ends, t_ends = _delta(da, la, dt, lt, method, interval, "dB")
    return BdResult(float((10**avg - 1) * 100), overlap, method, ends,
                    (10 ** a_ends[0], 10 ** a_ends[1]), (10 ** t_ends[0], 10 ** t_ends[1]), "rate")


def bd_psnr(anchor: Sequence[Sequence[float]], test: Sequence[Sequence[float]], method: str = "pchip", *,
            interval: tuple[float | None, float | None] | None = None) -> BdResult:
    """Average quality difference of ``test`` vs ``anchor`` at equal rate (dB; positive = better).

    ``interval=(lo, hi)`` is a quality range (dB): integration is narrowed to the rates over which
    the anchor's interpolated curve spans it.
    """
    check_method(method)
    la, da = _curve(anchor, "anchor", method)
    lt, dt = _curve(test, "test", method)
    limits = None
    if interval is not None:
        limits = quality_to_rate_limits(la, da, interval, method)
    avg, overlap, ends, a_ends, t_ends = _delta(la, da, lt, dt, method, limits, "log10 bpp")
    return BdResult(avg, overlap, method, (10 ** ends[0], 10 ** ends[1]), a_ends, t_ends, "quality")


def quality_to_rate_limits(log_rate: np.ndarray, quality: np.ndarray, interval: tuple[float | None, float | None],
                           method: str) -> tuple[float | None, float | None]:
    """The log10-rate range over which a curve's interpolated quality spans ``interval`` (dB):
    each end is the curve's log-rate at that quality (clipped to the curve's quality range)."""
    inverse = interpolant(quality, log_rate, method)
    out: list[float | None] = []
    for end in interval:
        if end is None:
            out.append(None)
        else:
            out.append(float(inverse(min(max(end, quality.min()), quality.max()))))
    return out[0], out[1]


def rate_difference(anchor: Sequence[Sequence[float]], test: Sequence[Sequence[float]], method: str = "pchip", *,
                    interval: tuple[float | None, float | None] | None = None,
                    samples: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """The rate difference (%) of ``test`` against ``anchor`` at each quality over their overlap:
    ``100 * (R_test(q) / R_anchor(q) - 1)`` with both log-rates interpolated as functions of quality
    by ``method`` — the curve whose average (in the log domain) BD-rate is. Returns (qualities, percent)."""
    check_method(method)
    la, da = _curve(anchor, "anchor", method)
    lt, dt = _curve(test, "test", method)
    lo, hi, _ = _limits(da, dt, interval, "dB")
    q = np.linspace(lo, hi, samples)
    fa, ft = interpolant(da, la, method), interpolant(dt, lt, method)
    return q, (10 ** (ft(q) - fa(q)) - 1) * 100


def bd_between(anchor: Sequence[Sequence[float]], test: Sequence[Sequence[float]], method: str, *, kind: BdKind,
               ends: tuple[float, float]) -> float:
    """The BD value integrated over exactly ``ends`` in the integrated axis's own unit (quality in dB
    for BD-rate, rate in bpp for BD-PSNR), as a :class:`BdResult` of another computation reports
    it in ``interval``: recomputing a value on other points over the same interval. Only the value
    (what :func:`bd_rate` / :func:`bd_psnr` give as ``value``): the interpolation error asks for
    thousands of them in a large table."""
    check_method(method)
    la, da = _curve(anchor, "anchor", method)
    lt, dt = _curve(test, "test", method)
    if kind == "quality":
        limits = (math.log10(ends[0]), math.log10(ends[1]))
        return _delta(la, da, lt, dt, method, limits, "log10 bpp", ends=False)[0]
    avg = _delta(da, la, dt, lt, method, ends, "dB", ends=False)[0]
    return float((10**avg - 1) * 100)


def bd_value(anchor: Sequence[Sequence[float]], test: Sequence[Sequence[float]], method: str = "pchip", *,
             kind: BdKind = "rate", interval: tuple[float | None, float | None] | None = None,
             psnr_delta: bool | None = None) -> BdResult:
    """:func:`bd_psnr` for ``kind="quality"``, else :func:`bd_rate`; ``psnr_delta`` is the deprecated
    spelling of ``kind`` (True: "quality"), kept for callers written before it."""
    return (bd_psnr if kind_of(psnr_delta, kind) == "quality" else bd_rate)(anchor, test, method, interval=interval)


def parse_interval(text: str | None) -> tuple[float | None, float | None] | None:
    """``"30:38"`` -> (30.0, 38.0); ``"30:"`` and ``":38"`` leave an end open; None stays None."""
    if text is None or not text.strip():
        return None
    lo_text, sep, hi_text = text.partition(":")
    if not sep:
        raise BdRateError(f"--interval {text!r} is not LO:HI",
                          hint="e.g. --interval 30:38 (dB; an end may be left out)")
    try:
        lo = float(lo_text) if lo_text.strip() else None
        hi = float(hi_text) if hi_text.strip() else None
    except ValueError:
        raise BdRateError(f"--interval {text!r} is not LO:HI with numbers", hint="e.g. --interval 30:38") from None
    if lo is not None and hi is not None and hi <= lo:
        raise BdRateError(f"--interval {text!r}: the upper end must exceed the lower", hint="e.g. --interval 30:38")
    if lo is None and hi is None:
        return None
    return lo, hi
