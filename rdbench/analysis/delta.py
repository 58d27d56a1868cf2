"""Rate-difference curves of codecs against an anchor on one dataset: what ``rdbench plot --delta`` draws.

WHY here and not in the CLI: the curves are a comparison's numbers, so they come from
:func:`rdbench.analysis.comparison.compare` like the BD-rate table's — the same images, the same
points — and the BD-rate in each legend is the table's value.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from rdbench.analysis.anchor_points import anchor_curve
from rdbench.analysis.bdrate import BdRateError, bd_rate, rate_difference
from rdbench.analysis.catalogue import Catalogue, CatalogueSource
from rdbench.analysis.comparison import compare
from rdbench.analysis.curves import resolve_curve
from rdbench.codecs.quality_choice import QualityChoice

Line = tuple[list[float], list[float]]


@dataclass
class DeltaFigure:
    """Per codec: its mean rate-difference line, legend label and, on request, one line per image."""

    deltas: dict[str, Line] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    per_image: dict[str, dict[str, Line]] = field(default_factory=dict)
    #: what was not drawn and why, and the curve rule's notes
    notes: list[str] = field(default_factory=list)


def delta_figure(catalogue: CatalogueSource, anchor: str, names: list[str], dataset: str, metric: str, method: str,
                 qualities: QualityChoice | Mapping[str, Iterable[str]] | Iterable[str] | None = None,
                 per_image: bool = False, anchor_qualities: list[str] | None = None) -> DeltaFigure | None:
    """The lines of the rate-difference figure of ``names`` against ``anchor`` on ``dataset``; None
    when the anchor has no curve there. ``qualities`` selects the codecs' points (as
    :func:`rdbench.analysis.tables.bd_table` takes them), ``anchor_qualities`` the anchor's. ``catalogue``
    may be a store or None (no database: shipped curves only)."""
    catalogue = Catalogue.of(catalogue)
    choice = QualityChoice.of_value(qualities)
    base, _ = anchor_curve(catalogue, anchor, dataset, metric, anchor_qualities)
    if base is None:
        return None
    figure = DeltaFigure()

    def note(line: str) -> None:
        if line not in figure.notes:
            figure.notes.append(line)

    for name in names:
        found = resolve_curve(catalogue, name, dataset, metric, choice.of(name))
        if found is None:
            note(f"{name} has no {metric} curve on {dataset}: not drawn")
            continue
        for line in found.notes:
            note(line)
        comparison = compare(base, found, metric)
        if (empty := comparison.empty_reason()) is not None:
            note(f"{name} on {dataset}: {empty}: not drawn")
            continue
        try:
            q, pct = rate_difference(comparison.anchor_points, comparison.test_points, method)
            value = bd_rate(comparison.anchor_points, comparison.test_points, method).value
        except BdRateError as exc:
            note(f"{name} on {dataset}: {exc}: not drawn")
            continue
        figure.deltas[name] = (list(q), list(pct))
        averaged = f", {len(comparison.images)} images" if comparison.images is not None else ""
        figure.labels[name] = f"{found.label} (BD-rate {value:+.2f} %{averaged})"
        if comparison.images is not None and comparison.images.left_out:
            note(f"{name} on {dataset}: the line averages {comparison.images.describe()}")
        if per_image:
            if not comparison.paired:
                note(f"{name} on {dataset}: no per-image lines ({'it' if found.selection is None else anchor} "
                     "is not measured per image here)")
                continue
            mine = found.selection.per_image(metric, comparison.images)
            theirs = base.selection.per_image(metric, comparison.images)
            lines = {}
            for image in comparison.images.images:
                try:
                    q, pct = rate_difference(theirs[image], mine[image], method)
                except BdRateError as exc:
                    note(f"{name} on {dataset}, {image}: {exc}: no per-image line")
                    continue
                lines[image] = (list(q), list(pct))
            figure.per_image[name] = lines
    return figure
