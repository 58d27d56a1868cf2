"""The anchor protocol: which of the anchor's supporting points a BD value uses, and how the value
moves when points are dropped.

* :func:`quality_labels`: the quality (QP, codec quality) of each point of a curve — the stored
  quality of a measured curve, the ``quality`` list of a shipped curve that came with its QPs
  (``vtm18-published`` QP 15..50, ``vtm17-rdbench`` QP 47..22), else None.
* :func:`restrict` keeps the points at given qualities (``--anchor-qualities 22,27,32,37``).
* :func:`sensitivity`: the BD value as the anchor's lowest-rate points, then its highest-rate
  points, are dropped one at a time, and under the JVET common test conditions' QPs
  (22, 27, 32, 37) when the anchor's points carry QPs (``rdbench bdrate --sensitivity``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

from rdbench import metric_spec
from rdbench.analysis.aggregate import _quality_sort_key
from rdbench.analysis.bdrate import MIN_POINTS, BdKind, BdRateError, bd_value
from rdbench.analysis.catalogue import Catalogue
from rdbench.analysis.curves import CurveInfo, resolve_curve
from rdbench.errors import UsageError, with_article

#: the QPs of the JVET common test conditions (all intra): the usual 4-point VTM anchor
JVET_QPS = ("22", "27", "32", "37")
#: points dropped from each end by default in a sensitivity study (fewer when the anchor has fewer to spare)
DEFAULT_STEPS = 4


def label(value: Any) -> str:
    """A quality as text: 22 -> "22", 22.0 -> "22", 0.5 -> "0.5"."""
    if isinstance(value, str):
        return value
    number = float(value)
    return str(int(number)) if number.is_integer() else f"{number:g}"


def same_quality(a: str, b: str) -> bool:
    return _quality_sort_key(a) == _quality_sort_key(b)


def quality_labels(found: CurveInfo) -> list[str] | None:
    """The quality of each of ``found.points`` in order, or None when the curve carries none."""
    if found.selection is not None:
        key = metric_spec.get(found.metric).key
        return [r["quality"] for r in found.selection.rows_for(found.metric)
                if r.get(key) is not None and not math.isnan(r[key])]
    labels = (found.reference or {}).get("quality")
    if not labels or len(labels) != len(found.points):
        return None
    return [label(q) for q in labels]


def restrict(found: CurveInfo, qualities: list[str]) -> tuple[CurveInfo | None, str | None]:
    """``found`` keeping only the points at ``qualities``; (None, reason) when it has no labels or none match."""
    labels = quality_labels(found)
    if labels is None:
        return None, (f"{found.name} on {found.dataset} is {with_article(found.source)} curve without quality labels: "
                      "--anchor-qualities needs a measured anchor or a shipped curve that carries its QPs "
                      "(vtm18-published, vtm17-rdbench)")
    kept = [(p, q) for p, q in zip(found.points, labels) if any(same_quality(q, w) for w in qualities)]
    if not kept:
        return None, (f"{found.name} on {found.dataset} has no point at quality {', '.join(qualities)} "
                      f"(it has {', '.join(labels)})")
    points = [p for p, _ in kept]
    reference = dict(found.reference or {}, quality=[q for _, q in kept]) if found.reference is not None else None
    return replace(found, points=points, reference=reference), None


def anchor_curve(catalogue: Catalogue, anchor: str, dataset: str, metric: str,
                 qualities: list[str] | None) -> tuple[CurveInfo | None, str | None]:
    """The anchor's curve on ``dataset`` with only its points at ``qualities`` (``--anchor-qualities``;
    None: every point), or (None, why not) when it has none there."""
    found = resolve_curve(catalogue, anchor, dataset, metric, qualities)
    if qualities is None:
        return found, None
    if found is not None and found.selection is None:  # a shipped or imported curve: its labels decide
        found.notes = [n for n in found.notes if "--quality selects measured qualities only" not in n]
        return restrict(found, qualities)
    if found is None and resolve_curve(catalogue, anchor, dataset, metric, None) is not None:
        return None, f"anchor {anchor} has no point at quality {', '.join(qualities)} on {dataset}"
    return found, None


def check_anchor_qualities(catalogue: Catalogue, anchor: str, datasets: list[str], metric: str,
                           qualities: list[str] | None) -> None:
    """Refuse ``--anchor-qualities`` naming a point the anchor does not have on a dataset where its
    points carry qualities: the value would rest on fewer points than asked, without a word (the
    JVET variant of :func:`sensitivity` refuses a missing QP for the same reason). Where the anchor
    has no curve, or points without qualities, the table's cell says so."""
    if not qualities:
        return
    for dataset in datasets:
        found = resolve_curve(catalogue, anchor, dataset, metric, None)
        labels = quality_labels(found) if found is not None else None
        if not labels:
            continue
        missing = [q for q in qualities if not any(same_quality(q, have) for have in labels)]
        if missing:
            raise UsageError(f"--anchor-qualities: anchor {anchor} has no point at quality {', '.join(missing)} "
                             f"on {dataset}", hint=f"its points there: quality {', '.join(labels)}")


def describe_points(points: list[tuple[float, float]], labels: list[str] | None, *, prefix: str = "quality") -> str:
    """``6 points, quality 47, 42, 37, 32, 27, 22 (0.0483-1.43 bpp)``: the supporting points in one phrase."""
    if not points:
        return "no points"
    rates = [p[0] for p in points]
    text = f"{len(points)} point{'s' * (len(points) != 1)}"
    if labels:
        order = sorted(range(len(points)), key=lambda i: rates[i])
        shown = [labels[i] for i in order]
        if len(shown) > 8:
            shown = shown[:3] + ["..."] + shown[-3:]
        text += f", {prefix} {', '.join(shown)}"
    return text + f" ({min(rates):.3g}-{max(rates):.3g} bpp)"


@dataclass(frozen=True)
class Variant:
    """One anchor protocol of a sensitivity study: a subset of the anchor's points."""

    label: str
    points: list[tuple[float, float]]
    qualities: list[str] | None
    reason: str | None = None


def variants(points: list[tuple[float, float]], qualities: list[str] | None, *, method: str = "pchip",
             steps: int = DEFAULT_STEPS) -> list[Variant]:
    """All points; then without the 1..k lowest-rate points; without the 1..k highest-rate points
    (k = ``steps``, fewer when the method's minimum would not be left); then the JVET QPs."""
    order = sorted(range(len(points)), key=lambda i: points[i][0])
    pts = [points[i] for i in order]
    labels = [qualities[i] for i in order] if qualities else None
    out = [Variant("all points", pts, labels)]
    spare = min(steps, len(pts) - MIN_POINTS[method])

    def named(k: int, end: str, dropped: list[str] | None) -> str:
        what = f"the {k} {end}-rate points" if k > 1 else f"the {end}-rate point"
        return f"without {what}" + (f" (quality {', '.join(dropped)})" if dropped else "")

    for k in range(1, spare + 1):
        out.append(Variant(named(k, "lowest", labels[:k] if labels else None), pts[k:], labels[k:] if labels else None))
    for k in range(1, spare + 1):
        out.append(Variant(named(k, "highest", labels[-k:][::-1] if labels else None), pts[:-k],
                           labels[:-k] if labels else None))
    jvet = f"JVET QP {', '.join(JVET_QPS)}"
    if labels is None:
        out.append(Variant(jvet, [], None, "the anchor's points carry no QPs"))
    else:
        kept = [i for i, q in enumerate(labels) if any(same_quality(q, j) for j in JVET_QPS)]
        if len(kept) < len(JVET_QPS):
            have = ", ".join(labels)
            out.append(Variant(jvet, [], None, f"the anchor has no point at some of QP {', '.join(JVET_QPS)} "
                                               f"(it has {have})"))
        else:
            out.append(Variant(jvet, [pts[i] for i in kept], [labels[i] for i in kept]))
    return out


def sensitivity(anchor: list[tuple[float, float]], anchor_qualities: list[str] | None,
                test: list[tuple[float, float]], *, method: str = "pchip", kind: BdKind = "rate",
                interval: tuple[float | None, float | None] | None = None,
                steps: int = DEFAULT_STEPS) -> list[dict[str, Any]]:
    """One entry per :func:`variants` of the anchor: its points, the BD value, its change from the
    all-points value, and the interval integrated (or the reason there is no value)."""
    rows: list[dict[str, Any]] = []
    base = math.nan
    for variant in variants(anchor, anchor_qualities, method=method, steps=steps):
        row: dict[str, Any] = {"variant": variant.label,
                               "anchor_points": describe_points(variant.points, variant.qualities, prefix="quality")
                               if variant.points else "-",
                               "anchor_qualities": variant.qualities, "value": math.nan, "change": math.nan,
                               "overlap": math.nan, "interval": None, "interval_text": "", "reason": variant.reason}
        if variant.reason is None:
            try:
                result = bd_value(variant.points, test, method, kind=kind, interval=interval)
            except BdRateError as exc:
                row["reason"] = str(exc)
            else:
                row.update(value=result.value, overlap=result.overlap, interval=result.interval_dict(),
                           interval_text=result.interval_text())
                if variant.label == "all points":
                    base = result.value
                row["change"] = result.value - base
        rows.append(row)
    return rows
