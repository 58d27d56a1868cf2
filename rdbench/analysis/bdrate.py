"""Bjøntegaard delta rate / PSNR over two rate-distortion curves.

WHY own code: the table and plot commands need one clear error per unusable curve (too few
points, non-monotonic, duplicates, no overlap) instead of NaN plus a warning, and a result that
carries the overlap fraction so tables can flag weak comparisons. Formulas follow VCEG-M33
(cubic polynomial fit in log10-rate) and the JVET CTC spreadsheet (piecewise cubic Hermite,
"pchip"); "akima" uses Akima splines. Integration runs over the overlapping interval only.
Results agree with the ``bjontegaard`` package (tests/test_bdrate.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import scipy.interpolate

from rdbench.errors import RdbenchError

METHODS = ("pchip", "akima", "cubic")
MIN_POINTS = {"pchip": 2, "akima": 2, "cubic": 4}


class BdRateError(RdbenchError):
    """A pair of curves on which a Bjøntegaard delta cannot be computed."""


@dataclass(frozen=True)
class BdResult:
    """A Bjøntegaard delta and the share of the joint range both curves cover (0..1)."""

    value: float
    overlap: float
    method: str


def _curve(points: Sequence[Sequence[float]], role: str, method: str) -> tuple[np.ndarray, np.ndarray]:
    """Validate (rate, distortion) points; return log10-rate and distortion sorted by rate."""
    arr = np.asarray(points, dtype=float)
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise BdRateError(f"{role} curve must be a list of (rate, distortion) pairs")
    if len(arr) < MIN_POINTS[method]:
        raise BdRateError(
            f"{role} curve has {len(arr)} point(s); method {method!r} needs at least {MIN_POINTS[method]}",
            hint="measure more qualities or use --method pchip",
        )
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
    return np.log10(rate), dist


def _integral(x: np.ndarray, y: np.ndarray, method: str, lo: float, hi: float) -> float:
    if method == "pchip":
        return float(scipy.interpolate.PchipInterpolator(x, y).integrate(lo, hi))
    if method == "akima":
        if len(x) > 2:
            return float(scipy.interpolate.Akima1DInterpolator(x, y).integrate(lo, hi))
        return float(scipy.interpolate.make_interp_spline(x, y, k=1).integrate(lo, hi))
    if method == "cubic":
        antiderivative = np.polyint(np.polyfit(x, y, 3))
        return float(np.polyval(antiderivative, hi) - np.polyval(antiderivative, lo))
    raise BdRateError(f"unknown BD method {method!r}", hint=f"use one of {', '.join(METHODS)}")


def _delta(xa: np.ndarray, ya: np.ndarray, xt: np.ndarray, yt: np.ndarray, method: str) -> tuple[float, float]:
    """Mean of (test - anchor) over the overlap of the x ranges, and the overlap fraction."""
    lo, hi = max(xa.min(), xt.min()), min(xa.max(), xt.max())
    total = max(xa.max(), xt.max()) - min(xa.min(), xt.min())
    if hi <= lo:
        raise BdRateError("curves do not overlap", hint="pick an anchor measured over the same range")
    avg = (_integral(xt, yt, method, lo, hi) - _integral(xa, ya, method, lo, hi)) / (hi - lo)
    return float(avg), float((hi - lo) / total)


def _check_method(method: str) -> None:
    if method not in METHODS:
        raise BdRateError(f"unknown BD method {method!r}", hint=f"use one of {', '.join(METHODS)}")


def bd_rate(anchor: Sequence[Sequence[float]], test: Sequence[Sequence[float]], method: str = "pchip") -> BdResult:
    """Average rate difference of ``test`` vs ``anchor`` at equal quality, in percent (negative = saves bits)."""
    _check_method(method)
    la, da = _curve(anchor, "anchor", method)
    lt, dt = _curve(test, "test", method)
    avg, overlap = _delta(da, la, dt, lt, method)
    return BdResult(float((10**avg - 1) * 100), overlap, method)


def bd_psnr(anchor: Sequence[Sequence[float]], test: Sequence[Sequence[float]], method: str = "pchip") -> BdResult:
    """Average quality difference of ``test`` vs ``anchor`` at equal rate (dB; positive = better)."""
    _check_method(method)
    la, da = _curve(anchor, "anchor", method)
    lt, dt = _curve(test, "test", method)
    avg, overlap = _delta(la, da, lt, dt, method)
    return BdResult(avg, overlap, method)
