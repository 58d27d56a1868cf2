"""The report's table over metrics: which metrics it shows and averages, and its cells.

WHY apart from :mod:`rdbench.analysis.report_gather`: that module reads the store; this one only
decides, from the report's metrics, what the table JPEG AI papers print holds (the same rule as
``rdbench bdrate --metric``: :func:`rdbench.metric_spec.averaged`), and makes it with
:func:`rdbench.analysis.metrics_paper_table.metrics_paper_table`, so that its numbers are the ones
``bdrate --format json`` prints as ``average`` rows and the paper table prints, with no second copy
of how they are computed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from rdbench import metric_spec
from rdbench.analysis.metrics_paper_table import metrics_paper_table
from rdbench.analysis.report_model import MetricsPart, paper_view
from rdbench.analysis.tables import BdTable


def over_metrics(metrics: Sequence[str], averaged: Sequence[str] | None = None) -> tuple[list[str], list[str]]:
    """(the metrics of the table over metrics, those its average takes) for a report of ``metrics``.

    ``averaged``: the metrics the average takes, as given (``rdbench report --metric WORDS`` passes
    :func:`rdbench.metric_spec.averaged` of its words, as ``bdrate --metric WORDS`` averages). Without it
    (every measured metric): where the metrics hold two or more members of a set with an average
    (:data:`rdbench.metric_spec.AVERAGED`, ``jpeg-ai``), that set's averaged members; else every metric.
    An averaged metric the report does not show is added as a column, so that the average's footnote
    names it and why it is missing (VMAF unavailable here)."""
    metrics = list(metrics)
    if averaged is not None:
        averaged = [metric_spec.get(m).name for m in averaged]
    else:
        averaged = next((list(members) for members in metric_spec.AVERAGED.values()
                         if sum(m in metrics for m in members) >= 2), metrics)
    return [*metrics, *(m for m in averaged if m not in metrics)], averaged


def has_per_image(table: BdTable) -> bool:
    """Whether a table made with ``per_image=True`` holds any per-image BD-rate (a measured codec's)."""
    values = (entry.get(table.value_key) for entry in table.per_image)
    return any(isinstance(v, float) and math.isfinite(v) for v in values)


def metrics_part(tables: Mapping[str, BdTable], averaged: Sequence[str],
                 labels: Mapping[str, str] | None = None) -> MetricsPart | None:
    """The table over ``tables`` (metric -> BD-rate table made with ``per_image=True``) as report cells;
    None unless two metrics or more have per-image BD-rates (one metric has its own BD part)."""
    if sum(has_per_image(t) for t in tables.values()) < 2 or next(iter(tables.values())).kind != "rate":
        return None
    table, notes = paper_view(metrics_paper_table(tables, averaged, labels=labels))
    return MetricsPart(table, notes)
