"""How much a BD value owes to the interpolation between supporting points.

Herglotz et al. ("The Bjøntegaard Bible", arXiv 2304.12852) recommend not drawing conclusions
from a BD value whose magnitude is below its interpolation error, and estimate that error from
*subsets of the supporting points* (their "subset error": BD values computed on disjoint subsets
of the points, compared). rdbench's estimate, on every BD value it prints, is a subset error too:

**Leave-one-out subset error** (:func:`interpolation_error`): each interior supporting point of
the anchor, then of the test curve, is left out in turn (the other curve complete) and the BD
value recomputed over the *same* interval as the full value; the estimate is the largest change,
``max |BD(subset) - BD(all points)|`` (percentage points for BD-rate, dB for BD-PSNR). End points
are never left out, so the interval does not move and only the interpolation between points is
measured. It needs a curve with an interior point to drop (3 points; 5 for ``cubic``, which fits
at least 4).

WHY not the paper's halves literally: the paper splits 8 points into two subsets of 4 (standard
and intermediate QPs). Published learned-codec curves have 6 points: halves of 3 points cover
different ranges, and the range difference (learned codecs gain most at low rates) dominates
what such a comparison measures (2.8 pp for MLIC++ against the 6-point VTM curves on Kodak, where
the interpolation error measured against the 36-point VTM-18.0 curve is 0.04 pp).
:func:`halves_subset_error` computes the paper's halves form for comparison; docs/bd-rate.md
compares both with interpolation errors measured on the densely sampled published VTM-18.0
curves: the leave-one-out estimate is conservative (larger than the measured error in 14 of 16
cases, typically several times it).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from rdbench.analysis.bdrate import (
    MIN_POINTS,
    BdKind,
    BdRateError,
    BdResult,
    bd_between,
    bd_value,
)

Points = Sequence[Sequence[float]]


@dataclass(frozen=True)
class InterpolationError:
    """An interpolation-error estimate of a BD value: NaN with ``reason`` when it cannot be estimated."""

    value: float
    #: how many subsets were evaluated
    subsets: int = 0
    #: which left-out point moved the value most ("anchor point at 0.246 bpp")
    worst: str | None = None
    reason: str | None = None

    def below(self, bd: float) -> bool:
        """Whether ``bd``'s magnitude is below this error (no conclusion should be drawn from it)."""
        return math.isfinite(self.value) and math.isfinite(bd) and abs(bd) < self.value


def _sorted(points: Points) -> list[tuple[float, float]]:
    return sorted((float(r), float(q)) for r, q in points)


def interpolation_error(anchor: Points, test: Points, method: str = "pchip", *, kind: BdKind = "rate",
                        full: BdResult | None = None,
                        interval: tuple[float | None, float | None] | None = None) -> InterpolationError:
    """Leave-one-out subset error of the BD value of ``test`` against ``anchor`` (module docstring).

    ``full`` is the value already computed on all points (its interval is kept); without it the
    value is computed here with ``interval``.
    """
    if full is None:
        full = bd_value(anchor, test, method, kind=kind, interval=interval)
    a, t = _sorted(anchor), _sorted(test)
    need = MIN_POINTS[method] + 1
    if len(a) < max(need, 3) and len(t) < max(need, 3):
        return InterpolationError(math.nan, reason=(
            f"no subset to compare: leaving out a supporting point needs a curve with at least {max(need, 3)} "
            f"points (method {method!r}); the anchor has {len(a)}, the test curve {len(t)}"))
    worst, largest, count = None, 0.0, 0
    for role, curve in (("anchor", a), ("test", t)):
        if len(curve) < max(need, 3):
            continue
        for k in range(1, len(curve) - 1):
            subset = curve[:k] + curve[k + 1:]
            pair = (subset, t) if role == "anchor" else (a, subset)
            try:
                value = bd_between(*pair, method, kind=kind, ends=full.interval)
            except BdRateError:
                continue
            count += 1
            change = abs(value - full.value)
            if change > largest or worst is None:
                largest, worst = change, f"{role} point at {curve[k][0]:.4g} bpp"
    if not count:
        return InterpolationError(math.nan, reason="no subset of the supporting points gave a BD value")
    return InterpolationError(largest, count, worst)


def halves_subset_error(anchor: Points, test: Points, method: str = "pchip", *, kind: BdKind = "rate") -> float:
    """The paper's form of the subset error on interleaved halves: |BD(even-ranked points of both
    curves) - BD(odd-ranked points)|, each an ordinary BD value over its own overlap (points
    ranked by rate). For comparison with :func:`interpolation_error` (docs/bd-rate.md)."""
    a, t = _sorted(anchor), _sorted(test)
    even = bd_value(a[0::2], t[0::2], method, kind=kind).value
    odd = bd_value(a[1::2], t[1::2], method, kind=kind).value
    return abs(even - odd)
