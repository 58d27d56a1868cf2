"""Per-quality dataset aggregates of per-image records, under both conventions in use.

* **mean** (CompressAI's and the MLIC papers' convention, the default everywhere): the
  arithmetic mean over images of each per-image value — bpp, PSNR, MS-SSIM, times, memory.
  ``ms_ssim_db`` is the dB value of the mean MS-SSIM.
* **pooled** (pixel-weighted): ``bpp_pooled`` = total bits / total pixels and
  ``psnr_pooled`` = PSNR of the pixel-weighted mean MSE. On datasets whose images differ in
  size (CLIC) the two conventions differ; rdbench labels which is which.

Only records with status ``ok`` are aggregated; ``n`` counts them and ``failed`` counts the rest.
Rows are per (codec, configuration, dataset, quality, weights, device): records of another
configuration, other weights or another device are other numbers and never share a mean.

**Timings from one set of conditions.** A record's times depend on the conditions it was measured
under (thread counts, ``--jobs``, executor, machine: :func:`rdbench.run.conditions.timing_key`),
and a resumed run may have measured a row's images under different ones. ``encode_s`` and
``decode_s`` are then the means over the records of one set only: the set with the most records
(ties: the one measured last); ``n_timed`` counts them and ``timing_sets`` says how many sets the
row's records have (1: nothing mixed; records stored before rdbench kept conditions form one set
of their own, "unknown"). ``rdbench run --retime`` re-measures every record's times under one.

**Lossless images** (MSE 0, so PSNR = inf; MS-SSIM 1, so MS-SSIM dB = inf): every derived number
(means, pooled figures, curves, BD-rates, exports, per-image plots and tables) counts a per-image
PSNR or MS-SSIM dB above :data:`PSNR_CAP_DB` (100 dB) as 100 dB, the ceiling common practice uses
(:func:`capped_db`, the one place the convention lives). The records keep the true value; each row
says how many of its images were capped (``psnr_capped``).
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from itertools import repeat
from statistics import mean
from typing import Any

from rdbench import metric_spec
from rdbench.errors import UsageError
from rdbench.metric_spec import Metric
from rdbench.run.conditions import timing_key
from rdbench.run.metrics.formulas import ms_ssim_db, psnr_from_mse
from rdbench.store.record import Record

#: How a curve point aggregates its images (``--aggregate``): ``image-mean``, the mean of per-image values
#: (CompressAI, the MLIC papers; the default), or ``dataset-mse``, the dataset as one image (CLIC,
#: Cool-chic): bpp = all bits / all pixels, a PSNR-like metric (``psnr_peak`` > 0; the built-in PSNR from
#: each record's MSE) from one MSE over every pixel, any other metric as the pixel-weighted mean.
AGGREGATIONS = ("image-mean", "dataset-mse")
DEFAULT_AGGREGATION = AGGREGATIONS[0]
#: the convention the curves of the current command or library call are made under (:func:`aggregation`)
_AGGREGATION: ContextVar[str] = ContextVar("rdbench_aggregation", default=DEFAULT_AGGREGATION)


def check_aggregation(name: str) -> str:
    """``name`` when it is one of :data:`AGGREGATIONS`, else a usage error naming them."""
    if name not in AGGREGATIONS:
        raise UsageError(f"unknown aggregation {name!r}: use {' or '.join(AGGREGATIONS)}")
    return name


@contextmanager
def aggregation(name: str | None) -> Iterator[str]:
    """Make every curve point inside the block under the convention ``name`` (None: the default).

    WHY a context rather than an argument of every function: a curve point is made deep under a table,
    a plot, the report and the DataFrames (curve rule -> selection -> rows), and every entry point
    takes ``aggregate=`` and sets it here once, so no function in between changes."""
    token = _AGGREGATION.set(check_aggregation(name or DEFAULT_AGGREGATION))
    try:
        yield _AGGREGATION.get()
    finally:
        _AGGREGATION.reset(token)


def current_aggregation() -> str:
    """The convention curve points are made under now (:func:`aggregation`)."""
    return _AGGREGATION.get()


def aggregation_note(name: str | None = None) -> str:
    """The sentence every table and figure states its convention with."""
    name = name or current_aggregation()
    if name == "dataset-mse":
        return ("aggregate dataset-mse: per quality all bits / all pixels; PSNR-like metrics from one MSE over every "
                "pixel of the dataset; other metrics the pixel-weighted mean (CLIC, Cool-chic)")
    return "aggregate image-mean: per quality the mean over images of per-image values (CompressAI, MLIC papers)"


def _quality_sort_key(quality: str) -> tuple[int, float | str]:
    try:
        return (0, float(quality))
    except ValueError:
        return (1, quality)


#: Ceiling (dB) of a per-image PSNR or MS-SSIM dB in every derived number: a lossless image (MSE 0,
#: PSNR = inf) counts as this many dB. 100 dB is an MSE of 6.5e-6 (one 8-bit level wrong in about
#: 150,000 samples); any coding loss a benchmark cares about is far below it.
PSNR_CAP_DB = 100.0


def capped_db(value: float | None) -> float | None:
    """A per-image PSNR or MS-SSIM dB under the convention: above :data:`PSNR_CAP_DB` (inf for a
    lossless image) counts as :data:`PSNR_CAP_DB`; None stays None."""
    if value is None or math.isnan(value):
        return value
    return min(value, PSNR_CAP_DB)


def is_capped(value: float | None) -> bool:
    """Whether the convention changes this per-image value (lossless, or above the ceiling)."""
    return value is not None and not math.isnan(value) and value > PSNR_CAP_DB


def exact_mean(values: Iterable[float]) -> float:
    """``statistics.mean(values)``, bit for bit, several times faster on floats.

    WHY: every mean of every curve goes through here (a BD-rate table over 140 codecs makes tens of
    thousands), and ``statistics.mean`` sums through ``Fraction`` objects. Its result is the exact mean
    rounded once; for finite floats that is computed here with integers and one correctly rounded
    integer division, the same rounding ``Fraction`` to ``float`` does: every float is an integer times
    a power of two no smaller than 2**(e - 53) for the smallest exponent e among them, so scaled by
    2**(53 - e) all are integers, summed exactly. Anything else (ints, infinities, NaN, None, zero,
    exponents too far apart to scale, empty) goes to ``statistics.mean`` itself, so results and errors
    are always its own.
    """
    values = list(values)
    if not values or set(map(type, values)) != {float}:
        return mean(values)
    try:
        smallest = min(map(abs, values))
        if not smallest:  # a zero has no exponent to scale by
            return mean(values)
        scale = 53 - math.frexp(smallest)[1]
        if math.frexp(max(map(abs, values)))[1] + scale > 1020:  # would overflow once scaled
            return mean(values)
        total = sum(map(int, map(math.ldexp, values, repeat(scale))))
    except (OverflowError, ValueError):  # inf, NaN
        return mean(values)
    if scale >= 0:
        return total / (len(values) << scale)
    return (total << -scale) / len(values)


def per_image_value(record: Record, metric: str | Metric) -> float | None:
    """The per-image value of ``metric`` a mean curve averages (None or NaN when the record has none):
    a dB value capped (:func:`capped_db`) where the metric says so, a metric shown in dB (MS-SSIM) as
    its linear value, whose mean the dB is taken of."""
    spec = metric_spec.get(metric)
    value = spec.record_value(record)
    return capped_db(value) if spec.cap_db and spec.scale == "value" else value


def shown_uncapped(record: Record, metric: str | Metric) -> float | None:
    """The per-image value of ``metric`` as tables and figures show it (MS-SSIM in dB), before the cap."""
    spec = metric_spec.get(metric)
    if spec.curve_field:
        return getattr(record, spec.curve_field)
    value = spec.record_value(record)
    return spec.shown(value)


def shown_value(record: Record, metric: str | Metric) -> float | None:
    """:func:`shown_uncapped`, capped (:func:`capped_db`) where the metric says so."""
    value = shown_uncapped(record, metric)
    return capped_db(value) if metric_spec.get(metric).cap_db else value


def metric_mean(values: Iterable[float | None], metric: str | Metric) -> float | None:
    """The shown aggregate of per-image values (:func:`per_image_value`) of ``metric``: their mean,
    in dB of the mean where the metric is shown in dB, capped where it says so; None without values."""
    spec = metric_spec.get(metric)
    present = [v for v in values if v is not None and not math.isnan(v)]
    if not present:
        return None
    value = exact_mean(present)
    value = spec.shown(value)
    return capped_db(value) if spec.cap_db else value


def _plugin_means(records: list[Record], pooled: bool = False) -> dict[str, float | None]:
    """Plug-in metric name -> the mean of its per-image values over ``records`` (``pooled``: over the
    records' pixels, :func:`pooled_mean`); a metric stored but no longer declared (its package
    uninstalled) is averaged plainly."""
    found: dict[str, float | None] = {}
    declared = metric_spec.registered() if any(r.metrics for r in records) else {}
    for name in sorted({name for r in records for name in r.metrics}):
        spec = declared.get(name) or Metric(name=name, function=":")
        found[name] = pooled_mean(records, spec) if pooled else metric_mean(
            [per_image_value(r, spec) for r in records], spec)
    return found


def pooled_quantity(record: Record, metric: str | Metric) -> float | None:
    """The per-image quantity ``dataset-mse`` weighs by the image's pixels (None or NaN when the record
    has no value): for a PSNR-like metric (``psnr_peak`` > 0) its MSE, the record's ``mse`` for the built-in
    PSNR, peak² 10^(-value/10) for a plug-in (0 for a lossless image); for any other metric its linear value.

    WHY one function: the pooled curve points (:func:`pooled_mean`) and the pooled bootstrap
    (:mod:`rdbench.analysis.bootstrap`) must pool the same numbers."""
    spec = metric_spec.get(metric)
    value = spec.record_value(record)
    if value is None or math.isnan(value) or spec.psnr_peak <= 0:
        return value
    if spec.field and record.mse is not None:
        return record.mse
    return 0.0 if math.isinf(value) else spec.psnr_peak ** 2 * 10 ** (-value / 10)


def pooled_mean(records: list[Record], metric: str | Metric) -> float | None:
    """The shown aggregate of ``metric`` over ``records`` taken as one image (``dataset-mse``): the
    pixel-weighted mean of :func:`pooled_quantity`, for a PSNR-like metric (``psnr_peak`` > 0) the PSNR
    of that MSE; shown and capped as :func:`metric_mean`. Records without a value are left out (None when
    none has one)."""
    spec = metric_spec.get(metric)
    pairs = []
    for record in records:
        value = pooled_quantity(record, spec)
        if value is not None and not math.isnan(value):
            pairs.append((value, record.height * record.width))
    if not pairs:
        return None
    weighted = math.fsum(v * p for v, p in pairs) / sum(p for _, p in pairs)
    if spec.psnr_peak > 0:
        shown = psnr_from_mse(weighted, spec.psnr_peak)
    else:
        shown = spec.shown(weighted)
    return capped_db(shown) if spec.cap_db else shown


def _mean(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return exact_mean(present) if present else None


def timed_records(records: list[Record]) -> tuple[list[Record], int]:
    """The records whose times a row reports: those of the set of timing conditions with the most
    records (ties: the set of the latest record), and how many sets ``records`` have."""
    keys = [timing_key(r.extra) for r in records]
    counts = Counter(keys)
    if len(counts) <= 1:
        return records, len(counts)
    latest = {key: max(r.created_at or "" for r, k in zip(records, keys) if k == key) for key in counts}
    chosen = max(counts, key=lambda key: (counts[key], latest[key]))
    return [r for r, key in zip(records, keys) if key == chosen], len(counts)


def aggregate(records: Iterable[Record]) -> list[dict[str, Any]]:
    """One row per (codec, config_hash, dataset, quality, weights, device, code), sorted by codec,
    dataset, configuration, device, quality and weights: records of two versions of a codec's code
    never share a mean. PSNR and MS-SSIM dB follow the lossless convention (module docstring);
    ``psnr_capped`` counts the images it capped; times come from one set of timing conditions
    (module docstring: ``n_timed``, ``timing_sets``)."""
    groups: dict[tuple[str, ...], list[Record]] = defaultdict(list)
    for record in records:
        groups[(record.codec, record.config_hash, record.dataset, record.quality, record.weights,
                record.device, record.code)].append(record)
    rows = []
    for (codec, config_hash, dataset, quality, weights, device, code), members in groups.items():
        ok = [r for r in members if r.ok]
        row: dict[str, Any] = {
            "codec": codec, "config_hash": config_hash, "dataset": dataset, "quality": quality,
            "weights": weights, "device": device, "code": code, "n": len(ok), "failed": len(members) - len(ok),
        }
        if ok:
            pixels = [r.height * r.width for r in ok]
            mean_ms_ssim = _mean([r.ms_ssim for r in ok])
            total_pixels = sum(pixels)
            timed, timing_sets = timed_records(ok)
            pooled_mse = sum(r.mse * p for r, p in zip(ok, pixels)) / total_pixels
            row.update(
                bpp=exact_mean([r.bpp for r in ok]),
                psnr=exact_mean([capped_db(r.psnr) for r in ok]),
                ms_ssim=mean_ms_ssim,
                ms_ssim_db=capped_db(ms_ssim_db(mean_ms_ssim)),
                bpp_pooled=8.0 * sum(r.num_bytes for r in ok) / total_pixels,
                psnr_pooled=capped_db(psnr_from_mse(pooled_mse)),
                encode_s=_mean([r.encode_s for r in timed]),
                decode_s=_mean([r.decode_s for r in timed]),
                n_timed=len(timed),
                timing_sets=timing_sets,
                peak_mem_bytes=max((r.peak_mem_bytes or 0) for r in ok) or None,
                psnr_capped=sum(is_capped(r.psnr) for r in ok),
                n_ms_ssim=sum(r.ms_ssim is not None and not math.isnan(r.ms_ssim) for r in ok),
            )
            row.update(_plugin_means(ok))
            row["aggregation"] = current_aggregation()
            if row["aggregation"] == "dataset-mse":  # the dataset as one image (AGGREGATIONS)
                ms_ssim_spec = metric_spec.MS_SSIM
                pooled_ms_ssim = pooled_mean(ok, dataclasses.replace(ms_ssim_spec, scale="value", cap_db=False))
                row.update(bpp=row["bpp_pooled"], psnr=row["psnr_pooled"], ms_ssim=pooled_ms_ssim,
                           ms_ssim_db=capped_db(ms_ssim_db(pooled_ms_ssim)))
                row.update(_plugin_means(ok, pooled=True))
        rows.append(row)
    rows.sort(key=lambda r: (r["codec"], r["dataset"], r["config_hash"], r["device"], _quality_sort_key(r["quality"]),
                             r["weights"], r["code"]))
    return rows


def mixed_timing_note(rows: list[dict[str, Any]]) -> str | None:
    """A sentence for output whose rows' records were timed under several sets of conditions
    (None when none were): which rows, and that their times are from one set only."""
    mixed = [r for r in rows if r.get("timing_sets", 1) > 1]
    if not mixed:
        return None
    names = ", ".join(f"{r['codec']} q={r['quality']}" for r in mixed[:5]) + (", ..." if len(mixed) > 5 else "")
    return (f"timings mix conditions in {len(mixed)} row(s) ({names}): their records were timed under "
            f"different threads, --jobs, executors or machines; encode_s and decode_s are the means of the "
            f"n_timed records of the largest set only (`rdbench run ... --retime` re-times them all under one)")


def uneven_images(rows: list[dict[str, Any]]) -> list[str]:
    """Say where the qualities of one curve hold different numbers of images (rows of
    :func:`aggregate`): the rows are per-quality means of what is stored, while curves average only
    the images measured at every quality."""
    groups: dict[tuple[str, ...], dict[str, int]] = defaultdict(dict)
    for row in rows:
        groups[(row["codec"], row["config_hash"], row["dataset"], row["device"], row["code"])][row["quality"]] = row["n"]
    notes = []
    for (codec, config_hash, dataset, _, _), counts in groups.items():
        if len(set(counts.values())) > 1:
            shown = ", ".join(f"quality {q}: {n}" for q, n in counts.items())
            notes.append(f"{codec} [{config_hash[:8]}] on {dataset} has different numbers of images per quality "
                         f"({shown}); its curve in bdrate, plot, report and export averages only the images "
                         "measured at every quality (docs/guarantees.md, 'What a number averages')")
    return notes
