"""The average of BD-rates over several metrics, as JPEG AI's reporting computes it.

WHY: JPEG AI's common test conditions rank codecs by one figure, the mean of the BD-rates of seven
metrics (MS-SSIM-Y, VIF, FSIM, NLPD as 1 - NLPD, IW-SSIM, VMAF, PSNR-HVS), each itself the mean over
images of per-image BD-rates (the JPEG AI reference software's
``scripts/acc_train_scripts/report_bdrate_results.py``: ``bd_rate(..., 'pchip')`` per image and
metric, ``np.mean`` over images per metric, then the mean of the seven). That figure is neither the
BD-rate of mean curves nor one metric's; ``rdbench bdrate --metric jpeg-ai`` prints it beside one
table per metric.

What enters, in order (docs/metrics.md, "BD per metric and the JPEG AI average"):

1. per metric, per (codec, dataset): the per-image BD-rates of the metric's table (``per_image``:
   each image's curve against the anchor's on that image, the table's method, pchip by default);
   their mean over images. As in the framework (which then reports the metric as missing), the mean
   is NaN when any image of the comparison has no value, and the reason names how many and why;
2. the average: the mean of those per-metric means over the metrics the set averages
   (:data:`rdbench.metric_spec.AVERAGED`; every metric of a plain list). A metric without a mean
   (not measured, no values stored, an image without a value) is left out of it, named with its
   reason, and counted (``metrics``: averaged / asked); the framework instead gives no average at all
   then, so only a row with every metric (``complete``) is the framework's figure.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from rdbench import metric_spec
from rdbench.analysis.tables import BdTable

#: the column of the average in the rows of :func:`metric_average`
AVERAGE = "average"


def metric_mean(name: str, table: BdTable, codec: str, dataset: str) -> tuple[float, int, str | None]:
    """(mean of the per-image values of one cell, images, why NaN) of metric ``name``'s table; a metric
    that cannot be measured here says so (:func:`rdbench.metric_spec.unavailable_note`) rather than that
    its values are missing. The one place a metric's mean is taken, for the average's rows and the
    paper table (:mod:`rdbench.analysis.metrics_paper_table`)."""
    value, images, reason = _cell_mean(table, codec, dataset)
    if reason is not None:
        reason = metric_spec.unavailable_note(name) or reason
    return value, images, reason


def _cell_mean(table: BdTable, codec: str, dataset: str) -> tuple[float, int, str | None]:
    """(mean of the per-image values of one cell, images, why NaN) of one metric's table."""
    key = table.value_key
    entries = [e for e in table.per_image if e["codec"] == codec and e["dataset"] == dataset]
    if not entries:
        summary = next((s for s in table.per_image_summary if s["codec"] == codec and s["dataset"] == dataset), {})
        return math.nan, 0, summary.get("reason") or "no per-image values"
    values = [e[key] for e in entries]
    missing = [e for e in entries if not (isinstance(e[key], float) and math.isfinite(e[key]))]
    if missing:
        first = missing[0]
        return math.nan, len(entries), (f"{len(missing)} of {len(entries)} images without a per-image value "
                                         f"({first['image']}: {first.get('reason') or 'no value'})")
    return math.fsum(values) / len(values), len(entries), None


def metric_average(tables: Mapping[str, BdTable], averaged: Sequence[str]) -> list[dict[str, Any]]:
    """One row per (codec, dataset) of the tables (one :class:`BdTable` per metric name, each made with
    ``per_image=True``): per metric the mean over images of its per-image values, and :data:`AVERAGE`,
    the mean of those of the ``averaged`` metrics that have one, with ``metrics`` (how many of how many
    it averages), ``complete`` and ``left_out`` (metric -> why, for each averaged metric without a mean)."""
    first = next(iter(tables.values()))
    rows = []
    for codec in first.codecs:
        for dataset in first.datasets:
            row: dict[str, Any] = {"codec": codec, "dataset": dataset}
            left_out: dict[str, str] = {}
            means = []
            for name in averaged:
                table = tables.get(name)
                if table is None:
                    value, images, reason = math.nan, 0, "not asked for"
                else:
                    value, images, reason = metric_mean(name, table, codec, dataset)
                row[name] = value
                row[f"{name} images"] = images
                if reason is None:
                    means.append(value)
                else:
                    left_out[name] = reason
            for name, table in tables.items():
                if name not in averaged:  # shown beside the average, not part of it
                    row[name], row[f"{name} images"], _ = metric_mean(name, table, codec, dataset)
            row[AVERAGE] = math.fsum(means) / len(means) if means else math.nan
            row["metrics"] = f"{len(means)}/{len(averaged)}"
            row["complete"] = len(means) == len(averaged)
            row["left_out"] = left_out
            rows.append(row)
    return rows


def average_notes(rows: Sequence[Mapping[str, Any]], averaged: Sequence[str], method: str) -> list[str]:
    """What a reader must know under the average's table: how it is computed, and every metric left out."""
    notes = [f"{AVERAGE}: the mean over {len(averaged)} metrics ({', '.join(averaged)}) of each metric's mean over "
             f"images of per-image BD-rates ({method}); JPEG AI's reporting computes it so (docs/metrics.md)"]
    for row in rows:
        for name, reason in row["left_out"].items():
            notes.append(f"{row['codec']} on {row['dataset']}: {name} left out of the average ({reason})")
    return notes
