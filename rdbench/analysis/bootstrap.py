"""Bootstrap confidence intervals of a BD value over the images of a dataset.

WHY: a BD-rate on 24 Kodak images is one draw of the images a codec could have been tested on;
how far it would move on another draw is what a confidence interval says. The resampling is
**paired**: one draw of N images (with replacement) is used for both the codec and the anchor,
both mean curves are recomputed from those images (the per-quality mean of per-image bpp and
PSNR, or the dB of the mean MS-SSIM, exactly as :mod:`rdbench.analysis.aggregate` makes a curve)
and the BD value recomputed between them; the interval is the percentile interval of the
resampled values. A codec against itself gives exactly [0, 0]; the same seed gives the same
interval.

Under ``--aggregate dataset-mse`` a curve point is the drawn images pooled as one image, as
:func:`rdbench.analysis.aggregate.aggregate` pools them: the resample's bits over its pixels, a
PSNR-like metric from the pixel-weighted mean of the images' MSEs, any other metric the pixel-weighted
mean of its linear values (an image drawn twice counts twice: its bits and its pixels). The draws are
the same as for image means, so the seed gives the same images under both conventions.

WHY vectorised: 2000 resamples of a cell must take well under a second. One draw is a row of
image counts, so every resampled mean curve is one matrix product (counts x per-image values);
the PCHIP interpolants and their integrals over each resample's overlap are then computed for
all resamples at once with numpy (the same formulas as :class:`scipy.interpolate.PchipInterpolator`,
Fritsch-Carlson slopes with Moler's shape-preserving end slopes; tests/test_bd_uncertainty.py
checks them against the scalar path and the ``bjontegaard`` package). ``akima`` and ``cubic`` run
the scalar code once per resample (slower, same numbers).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rdbench import metric_spec
from rdbench.analysis.aggregate import PSNR_CAP_DB, current_aggregation, pooled_quantity
from rdbench.analysis.bdrate import (
    MIN_POINTS,
    BdKind,
    BdRateError,
    _delta,
    check_method,
    kind_of,
    quality_to_rate_limits,
)
from rdbench.analysis.image_sets import ImageSet, common_images, metric_value
from rdbench.analysis.memo import Memo
from rdbench.errors import UsageError, plural

#: fewest images a bootstrap interval is computed from
MIN_IMAGES = 3
DEFAULT_RESAMPLES = 2000
DEFAULT_SEED = 0
#: fewest resamples of any interval (docs/bd-rate.md, section 4)
MIN_RESAMPLES = 200
#: fewest resamples beyond each end of a percentile interval: an end is read off the resamples beyond it,
#: so with fewer it is the extreme of a handful of draws and moves with the seed (docs/bd-rate.md, section 4)
MIN_TAIL_RESAMPLES = 10


class ResamplingError(UsageError, ValueError):
    """A confidence level, resample count or seed that cannot give a meaningful interval: a usage error
    on the command line (exit 2), a ValueError to library callers."""


def min_resamples(level: float) -> int:
    """Fewest resamples for a ``level`` % percentile interval: :data:`MIN_RESAMPLES`, and enough that
    :data:`MIN_TAIL_RESAMPLES` lie beyond each end (400 at 95 %, 2000 at 99 %)."""
    tail = (100 - level) / 200  # share of the resamples beyond one end
    return max(MIN_RESAMPLES, math.ceil(MIN_TAIL_RESAMPLES / tail - 1e-9))


def check_resampling(level: float, resamples: int, seed: int | None) -> None:
    """Refuse, before anything is computed, a level outside (0, 100), too few resamples for that level
    (:func:`min_resamples`) or a seed that is not a non-negative integer (None: fresh entropy)."""
    if isinstance(level, bool) or not isinstance(level, (int, float)) or not 0 < level < 100:
        raise ResamplingError(f"--ci {level}: the confidence level must lie between 0 and 100 (percent)",
                              hint="e.g. --ci 95")
    need = min_resamples(level)
    if isinstance(resamples, bool) or not isinstance(resamples, int) or resamples < need:
        raise ResamplingError(
            f"--bootstrap {resamples}: an interval at {level:g} % needs at least {need} resamples (at least "
            f"{MIN_RESAMPLES}, and {MIN_TAIL_RESAMPLES} beyond each end of the interval)",
            hint=f"e.g. --bootstrap {max(need, DEFAULT_RESAMPLES)}")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
        raise ResamplingError(f"--seed {seed}: the random seed must be a non-negative integer",
                              hint=f"e.g. --seed {DEFAULT_SEED} (the default)")


@dataclass
class PairedImages:
    """Per-image values of a codec and its anchor on the images both have complete curves on.

    ``*_bpp`` and ``*_value`` are (images x qualities) arrays in the curves' quality order; for
    MS-SSIM ``*_value`` holds the linear MS-SSIM (a mean curve is the dB of the mean, as in
    :func:`rdbench.analysis.aggregate.aggregate`), for PSNR the capped PSNR.

    Pooled (``pixels`` set, ``dataset-mse``): ``*_bpp`` hold each image's bits, ``*_value`` the quantity
    the pooling weighs by pixels (:func:`rdbench.analysis.aggregate.pooled_quantity`: the MSE of a
    PSNR-like metric, else the linear value), and ``pixels`` each image's pixel count (the same content
    on both sides, so one array).
    """

    images: list[str]
    metric: str
    anchor_qualities: list[str]
    test_qualities: list[str]
    anchor_bpp: np.ndarray
    anchor_value: np.ndarray
    test_bpp: np.ndarray
    test_value: np.ndarray
    #: image -> why it is left out (a quality missing on one side, another image content)
    left_out: dict[str, str] = field(default_factory=dict)
    #: each image's pixel count when the curve points pool the images (``dataset-mse``); None: image means
    pixels: np.ndarray | None = None

    def mean_quality(self, values: np.ndarray) -> np.ndarray:
        """Mean curve's quality from (… x qualities) means of the per-image values (pooled: the
        pixel-weighted means of the pooled quantities)."""
        spec = metric_spec.get(self.metric)
        if self.pixels is not None and spec.psnr_peak > 0:
            with np.errstate(divide="ignore"):
                values = 10 * np.log10(spec.psnr_peak ** 2 / values)  # an MSE of 0 (lossless) gives inf
        elif spec.scale == "db":
            with np.errstate(divide="ignore"):
                values = -10 * np.log10(1 - values)
        elif spec.scale == "one-minus":
            values = 1 - values
        return np.minimum(values, PSNR_CAP_DB) if spec.cap_db else values

    def curves(self, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(anchor rate, anchor quality, codec rate, codec quality), each (resamples x qualities), of the
        curves made from the images weighted by ``weights`` (resamples x images; a row of ones over n is
        the table's curves): weighted means of per-image values, or pooled (``pixels``) the weighted
        bits and pooled quantities over the weighted pixels."""
        if self.pixels is None:
            return (weights @ self.anchor_bpp, self.mean_quality(weights @ self.anchor_value),
                    weights @ self.test_bpp, self.mean_quality(weights @ self.test_value))
        pixels = (weights @ self.pixels)[:, None]
        return ((weights @ self.anchor_bpp) / pixels,
                self.mean_quality((weights @ (self.pixels[:, None] * self.anchor_value)) / pixels),
                (weights @ self.test_bpp) / pixels,
                self.mean_quality((weights @ (self.pixels[:, None] * self.test_value)) / pixels))


def _per_image_table(selection: Any, metric: str) -> dict[str, dict[str, tuple[float, float]]]:
    """image -> quality -> (bpp, value) of a selection's ok records with a value of ``metric`` (made once
    per selection: the anchor's is the same for every cell of a column)."""
    def compute() -> dict[str, dict[str, tuple[float, float]]]:
        table: dict[str, dict[str, tuple[float, float]]] = {}
        for record in selection.records:
            value = metric_value(record, metric)
            if value is not None:
                table.setdefault(record.image, {})[record.quality] = (float(record.bpp), value)
        return table

    return selection.cached(("per_image_table", metric), compute)


def _pooled_table(selection: Any, metric: str) -> tuple[dict[str, dict[str, tuple[float, float]]], dict[str, int]]:
    """image -> quality -> (bits, pooled quantity) of a selection's ok records with a value of ``metric``,
    and image -> pixel count (``dataset-mse``; made once per selection, like :func:`_per_image_table`)."""
    def compute() -> tuple[dict[str, dict[str, tuple[float, float]]], dict[str, int]]:
        table: dict[str, dict[str, tuple[float, float]]] = {}
        pixels: dict[str, int] = {}
        for record in selection.records:
            value = pooled_quantity(record, metric) if metric_value(record, metric) is not None else None
            if value is not None and not math.isnan(value):
                table.setdefault(record.image, {})[record.quality] = (8.0 * record.num_bytes, float(value))
                pixels[record.image] = record.height * record.width
        return table, pixels

    return selection.cached(("pooled_table", metric), compute)


def paired_images(anchor: Any, test: Any, metric: str, images: ImageSet | None = None,
                  pooled: bool | None = None) -> PairedImages:
    """The per-image matrices of two measured selections (:class:`rdbench.analysis.curves.Selection`)
    over ``images`` (default: :func:`rdbench.analysis.image_sets.common_images`, the images the
    comparison's mean curves average), with every other image left out and why. ``pooled`` (default:
    whether the aggregation in force is ``dataset-mse``) gives the bits, pooled quantities and pixel
    counts a pooled resample needs."""
    if images is None:
        images = common_images(anchor, test, metric)
    if pooled is None:
        pooled = current_aggregation() == "dataset-mse"
    pixels: dict[str, int] = {}
    if pooled:
        (a_table, _), (t_table, pixels) = _pooled_table(anchor, metric), _pooled_table(test, metric)
    else:
        a_table, t_table = _per_image_table(anchor, metric), _per_image_table(test, metric)
    a_q, t_q = anchor.qualities, test.qualities
    kept = list(images.images)

    def matrix(table: dict, qualities: list[str], column: int) -> np.ndarray:
        return np.array([[table[i][q][column] for q in qualities] for i in kept], dtype=float).reshape(
            len(kept), len(qualities))

    return PairedImages(kept, metric, a_q, t_q, matrix(a_table, a_q, 0), matrix(a_table, a_q, 1),
                        matrix(t_table, t_q, 0), matrix(t_table, t_q, 1), dict(images.left_out),
                        np.array([pixels[i] for i in kept], dtype=float) if pooled else None)


@dataclass(frozen=True)
class BootstrapResult:
    """A percentile interval of a BD value over resampled images (NaN ends with ``reason`` when none)."""

    low: float
    high: float
    level: float
    n_images: int
    resamples: int
    seed: int | None
    #: resamples whose mean curves gave no BD value (non-monotonic, no overlap): left out
    failed: int = 0
    reason: str | None = None


def bootstrap_bd(data: PairedImages, *, method: str = "pchip", kind: BdKind = "rate",
                 interval: tuple[float | None, float | None] | None = None, level: float = 95.0,
                 resamples: int = DEFAULT_RESAMPLES, seed: int | None = DEFAULT_SEED) -> BootstrapResult:
    """Paired bootstrap interval (``level`` %) of the BD value between the mean curves of ``data``."""
    check_method(method)
    check_resampling(level, resamples, seed)
    n = len(data.images)
    need = MIN_POINTS[method]
    if n < MIN_IMAGES:
        why = "; ".join(f"{i}: {r}" for i, r in sorted(data.left_out.items())[:3])
        return BootstrapResult(math.nan, math.nan, level, n, resamples, seed, reason=(
            f"a bootstrap interval needs at least {MIN_IMAGES} images with complete curves of both the codec and "
            f"the anchor; there {'is' if n == 1 else 'are'} {n}" + (f" (left out: {why})" if why else "")))
    for role, qualities in (("anchor", data.anchor_qualities), ("codec", data.test_qualities)):
        if len(qualities) < need:
            return BootstrapResult(math.nan, math.nan, level, n, resamples, seed, reason=(
                f"the {role} has {plural(len(qualities), 'quality', 'qualities')} per image; method {method!r} "
                f"needs at least {need} points for a bootstrap interval"))
    a_rate, a_q, t_rate, t_q = data.curves(resample_weights(n, resamples, seed))
    values = batch_bd(a_rate, a_q, t_rate, t_q, method=method, kind=kind, interval=interval)
    good = values[np.isfinite(values)]
    failed = int(resamples - good.size)
    if good.size == 0:
        return BootstrapResult(math.nan, math.nan, level, n, resamples, seed, failed,
                               reason="no resample gave a BD value (the resampled mean curves are not monotonic or "
                                      "do not overlap)")
    tail = (100 - level) / 2
    low, high = np.percentile(good, [tail, 100 - tail])
    return BootstrapResult(float(low), float(high), level, n, resamples, seed, failed)


def resample_weights(n: int, resamples: int, seed: int | None) -> np.ndarray:
    """(resamples x n) weights of the images in each resample: how often a draw of n images with
    replacement took each image, over n. A resample's mean curve is ``weights @ per-image values``.

    With a seed the draws are a function of (n, resamples, seed), made once and shared read-only:
    a ``--ci`` table draws the same weights for every cell of the same number of images."""
    if seed is None:
        return _draw_weights(n, resamples, None)
    return _WEIGHTS.get((n, resamples, seed), lambda: _draw_weights(n, resamples, seed, shared=True))


_WEIGHTS: Memo[np.ndarray] = Memo(8)


def _draw_weights(n: int, resamples: int, seed: int | None, shared: bool = False) -> np.ndarray:
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, n, size=(resamples, n))
    counts = np.bincount((draws + n * np.arange(resamples)[:, None]).ravel(), minlength=resamples * n)
    weights = counts.reshape(resamples, n) / n
    weights.flags.writeable = not shared
    return weights


# -- BD values of many curve pairs at once -------------------------------------------------------------------------


def batch_bd(anchor_rate: np.ndarray, anchor_q: np.ndarray, test_rate: np.ndarray, test_q: np.ndarray, *,
             method: str = "pchip", kind: BdKind = "rate",
             interval: tuple[float | None, float | None] | None = None, psnr_delta: bool | None = None) -> np.ndarray:
    """BD-rate (%) or BD-PSNR (dB) of each row pair of (rows x points) rate and quality arrays; NaN
    for a row whose curves are unusable (duplicate or non-monotonic points, no overlap). Each row
    is what :func:`rdbench.analysis.bdrate.bd_rate` / ``bd_psnr`` give for the same points.
    ``psnr_delta`` is the deprecated spelling of ``kind`` (True: "quality")."""
    kind = kind_of(psnr_delta, kind)
    anchor_rate, anchor_q = np.atleast_2d(anchor_rate), np.atleast_2d(anchor_q)
    test_rate, test_q = np.atleast_2d(test_rate), np.atleast_2d(test_q)
    if method != "pchip":
        return _batch_scalar(anchor_rate, anchor_q, test_rate, test_q, method, kind, interval)
    a, t = _hermite_rows(anchor_rate, anchor_q, kind), _hermite_rows(test_rate, test_q, kind)
    ok = a.ok & t.ok
    xa, xt = a.x, t.x
    if kind == "quality":
        limits = None
        if interval is not None:  # the quality interval as the anchor's rates (per row)
            limits = _rate_limits_rows(a.x, a.y, interval)
    else:
        limits = (np.full(len(xa), -np.inf if interval is None or interval[0] is None else interval[0]),
                  np.full(len(xa), np.inf if interval is None or interval[1] is None else interval[1]))
    lo = np.maximum(xa[:, 0], xt[:, 0])
    hi = np.minimum(xa[:, -1], xt[:, -1])
    if limits is not None:
        lo, hi = np.maximum(lo, limits[0]), np.minimum(hi, limits[1])
    ok &= hi > lo
    with np.errstate(invalid="ignore", divide="ignore"):
        avg = (t.integral(lo, hi) - a.integral(lo, hi)) / (hi - lo)
    out = avg if kind == "quality" else (10 ** avg - 1) * 100
    return np.where(ok, out, np.nan)


class _HermiteRows:
    """The PCHIP interpolants of many rows (each a curve sorted by rate) along the integrated axis,
    ready for integrals: ``x``, ``y``, slopes, and each segment's integral summed up to each point."""

    def __init__(self, rate: np.ndarray, quality: np.ndarray, kind: BdKind) -> None:
        log_rate, q, self.ok = _sorted_rows(rate, quality)
        # BD-PSNR integrates quality over log rate, BD-rate log rate over quality
        self.x, self.y = (log_rate, q) if kind == "quality" else (q, log_rate)
        with np.errstate(invalid="ignore", divide="ignore"):
            d = _pchip_slopes(self.x, self.y)
            self.h = np.diff(self.x, axis=1)
            self.y0, self.y1, self.d0, self.d1 = self.y[:, :-1], self.y[:, 1:], d[:, :-1] * self.h, d[:, 1:] * self.h
            whole = self.h * ((self.y0 + self.y1) / 2 + (self.d0 - self.d1) / 12)  # each full segment's integral
        self.before = np.concatenate([np.zeros((len(self.x), 1)), np.cumsum(whole, axis=1)], axis=1)

    def integral(self, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """Integral of each row's cubic Hermite interpolant from ``lo`` to ``hi``: the primitive at both
        ends evaluated in one pass (every operation is per element, so the values are those of two)."""
        n = len(self.x)
        both = self._primitive(np.concatenate([hi, lo]), np.concatenate([np.arange(n), np.arange(n)]))
        return both[:n] - both[n:]

    def _primitive(self, at: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Integral of the interpolant of row ``rows[i]`` from its first point to ``at[i]``."""
        x = self.x[rows]
        k = _segment(x, at)
        h = self.h[rows, k]
        s = (at - x[np.arange(len(rows)), k]) / h
        s2, s3, s4 = s**2, s**3, s**4
        # integrals of the four Hermite basis functions from 0 to s
        b00 = s - s3 + s4 / 2
        b10 = s2 / 2 - 2 * s3 / 3 + s4 / 4
        b01 = s3 - s4 / 2
        b11 = s4 / 4 - s3 / 3
        part = h * (self.y0[rows, k] * b00 + self.d0[rows, k] * b10 + self.y1[rows, k] * b01 + self.d1[rows, k] * b11)
        return self.before[rows, k] + part


#: prepared rows by their exact inputs (:func:`_hermite_rows`)
_PREPARED: Memo[_HermiteRows] = Memo(8)


def _hermite_rows(rate: np.ndarray, quality: np.ndarray, kind: BdKind) -> _HermiteRows:
    """:class:`_HermiteRows` of these rows, made once for the same inputs.

    WHY: every cell of a ``--ci`` table resamples its anchor with the same draws (the same seed), so
    the anchor's resampled mean curves are the same for every codec of a column: they are prepared
    once per table instead of once per cell."""
    rate, quality = np.asarray(rate, dtype=float), np.asarray(quality, dtype=float)
    return _PREPARED.get((kind, rate.shape, quality.shape, rate.tobytes(), quality.tobytes()),
                         lambda: _HermiteRows(rate.copy(), quality.copy(), kind))  # copies: they are kept


def _sorted_rows(rate: np.ndarray, quality: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """log10-rate and quality of each row sorted by rate, and whether the row is a usable curve."""
    if np.all(np.diff(rate, axis=1) > 0):  # every row already in rate order (mean curves are): the sort keeps it
        r, q = rate, quality
    else:
        order = np.argsort(rate, axis=1, kind="stable")
        r = np.take_along_axis(rate, order, axis=1)
        q = np.take_along_axis(quality, order, axis=1)
    ok = (np.all(np.isfinite(r) & np.isfinite(q), axis=1) & np.all(r > 0, axis=1)
          & np.all(np.diff(r, axis=1) > 0, axis=1) & np.all(np.diff(q, axis=1) > 0, axis=1))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log10(r), q, ok


def _rate_limits_rows(la: np.ndarray, qa: np.ndarray,
                      interval: tuple[float | None, float | None]) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the anchor's log-rate at the interval's quality ends (clipped to its range)."""
    slopes = _pchip_slopes(qa, la)
    ends = []
    for end, default in zip(interval, (-np.inf, np.inf)):
        if end is None:
            ends.append(np.full(len(la), default))
        else:
            at = np.clip(end, qa[:, 0], qa[:, -1])
            ends.append(_hermite_value(qa, la, slopes, at))
    return ends[0], ends[1]


def _pchip_slopes(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """PCHIP derivatives at the points of each row (rows x n, x increasing): weighted harmonic
    means of the neighbouring secant slopes inside (0 where they differ in sign or one is 0), the
    one-sided three-point estimate made shape-preserving at the ends; secant slopes for n = 2."""
    h = np.diff(x, axis=1)
    m = np.diff(y, axis=1) / h
    d = np.zeros_like(y)
    if y.shape[1] == 2:
        d[:, 0] = d[:, 1] = m[:, 0]
        return d
    w1 = 2 * h[:, 1:] + h[:, :-1]
    w2 = h[:, 1:] + 2 * h[:, :-1]
    flat = (np.sign(m[:, 1:]) != np.sign(m[:, :-1])) | (m[:, 1:] == 0) | (m[:, :-1] == 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        inner = (w1 + w2) / (w1 / m[:, :-1] + w2 / m[:, 1:])
    d[:, 1:-1] = np.where(flat, 0.0, inner)
    d[:, 0] = _end_slope(h[:, 0], h[:, 1], m[:, 0], m[:, 1])
    d[:, -1] = _end_slope(h[:, -1], h[:, -2], m[:, -1], m[:, -2])
    return d


def _end_slope(h0: np.ndarray, h1: np.ndarray, m0: np.ndarray, m1: np.ndarray) -> np.ndarray:
    d = ((2 * h0 + h1) * m0 - h0 * m1) / (h0 + h1)
    wrong_sign = np.sign(d) != np.sign(m0)
    too_steep = (np.sign(m0) != np.sign(m1)) & (np.abs(d) > 3 * np.abs(m0))
    return np.where(wrong_sign, 0.0, np.where(too_steep, 3 * m0, d))


def _segment(x: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Index of the segment of each row holding ``at`` (clipped to the first and last segment)."""
    inside = (x[:, 1:-1] <= at[:, None]).sum(axis=1)
    return np.clip(inside, 0, x.shape[1] - 2)


def _hermite_value(x: np.ndarray, y: np.ndarray, d: np.ndarray, at: np.ndarray) -> np.ndarray:
    k = _segment(x, at)
    rows = np.arange(len(x))
    x0, h = x[rows, k], x[rows, k + 1] - x[rows, k]
    s = (at - x0) / h
    y0, y1, d0, d1 = y[rows, k], y[rows, k + 1], d[rows, k] * h, d[rows, k + 1] * h
    return (y0 * (2 * s**3 - 3 * s**2 + 1) + d0 * (s**3 - 2 * s**2 + s) + y1 * (-2 * s**3 + 3 * s**2)
            + d1 * (s**3 - s**2))


def _batch_scalar(anchor_rate: np.ndarray, anchor_q: np.ndarray, test_rate: np.ndarray, test_q: np.ndarray,
                  method: str, kind: BdKind, interval: tuple[float | None, float | None] | None) -> np.ndarray:
    """The scalar BD code once per row (methods without a vectorised path)."""
    out = np.full(len(anchor_rate), np.nan)
    for i in range(len(anchor_rate)):
        try:
            la, qa, ok_a = _sorted_rows(anchor_rate[i:i + 1], anchor_q[i:i + 1])
            lt, qt, ok_t = _sorted_rows(test_rate[i:i + 1], test_q[i:i + 1])
            if not (ok_a[0] and ok_t[0]):
                continue
            if kind == "quality":
                limits = quality_to_rate_limits(la[0], qa[0], interval, method) if interval is not None else None
                avg = _delta(la[0], qa[0], lt[0], qt[0], method, limits, "log10 bpp")[0]
                out[i] = avg
            else:
                avg = _delta(qa[0], la[0], qt[0], lt[0], method, interval, "dB")[0]
                out[i] = (10 ** avg - 1) * 100
        except (BdRateError, ValueError, np.linalg.LinAlgError):
            continue
    return out
