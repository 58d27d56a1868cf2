"""BD-rate tables: one row per codec (measured or published), one column per dataset.

WHY a separate module: the CLI, the notebook and tests all need the same table, with a cell
that cannot be computed kept as NaN plus a footnote saying why, rather than dropped silently.
Which points a name means is decided by :mod:`rdbench.analysis.curves` alone; the table says
which configuration each measured row used (``config`` column) and carries the notes that
rule produced (another configuration stored, an imported curve shadowed) in ``info``.

Every value comes with what it rests on (docs/bd-rate.md): the interval actually integrated
(quality and rate ends), the anchor's supporting points (``--anchor-qualities`` restricts them),
an interpolation-error estimate (:mod:`rdbench.analysis.interpolation_error`; a value whose
magnitude is below it is flagged), and on request a bootstrap interval over images
(:mod:`rdbench.analysis.bootstrap`), per-image values (:mod:`rdbench.analysis.per_image`) and the
anchor sensitivity study (:mod:`rdbench.analysis.anchor_points`). ``BdTable.cells`` holds one
typed :class:`~rdbench.analysis.bd_cells.BdCell` per (codec, dataset) with all of it; this module
computes them and nothing else: ``rows``/``columns``/``notes``, the wide table for people with its
footnotes, are made from the cells by :mod:`rdbench.analysis.bd_format`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from rdbench import metric_spec
from rdbench.analysis import anchor_points, bd_format
from rdbench.analysis.aggregate import (
    DEFAULT_AGGREGATION,
    aggregation,
    aggregation_note,
    current_aggregation,
)
from rdbench.analysis.bd_cells import WEAK_COVERAGE, BdCell
from rdbench.analysis.bdrate import BdKind, BdRateError, BdResult, bd_value, kind_of
from rdbench.analysis.bootstrap import (
    DEFAULT_RESAMPLES,
    DEFAULT_SEED,
    bootstrap_bd,
    check_resampling,
    paired_images,
)
from rdbench.analysis.catalogue import Catalogue, CatalogueSource
from rdbench.analysis.comparison import Comparison, compare
from rdbench.analysis.curves import (
    CurveInfo,
    describe_anchor,
    resolve_curve,
    vtm_alternatives,
)
from rdbench.analysis.interpolation_error import interpolation_error
from rdbench.analysis.name_checks import check_names, check_qualities, known_names
from rdbench.analysis.per_image import per_image_values, summarize
from rdbench.codecs.quality_choice import QualityChoice
from rdbench.errors import RdbenchError, UsageError, did_you_mean, with_article


def coverage(anchor: list[tuple[float, float]], test: list[tuple[float, float]], kind: BdKind) -> float:
    """The share of the codec's range, along the integrated axis (quality for BD-rate, log rate for
    BD-PSNR), that the anchor's curve also covers: 1 when the value summarises all of the codec's curve."""
    def axis(points: list[tuple[float, float]]) -> list[float]:
        return [math.log10(b) for b, _ in points] if kind == "quality" else [q for _, q in points]

    a, t = axis(anchor), axis(test)
    span = max(t) - min(t)
    if span <= 0:
        return math.nan
    return max(0.0, min(max(a), max(t)) - max(min(a), min(t))) / span


@dataclass(kw_only=True)
class BdTable:
    """The cells of one BD comparison and what a reader must know about them. ``rows``, ``columns``,
    ``marks`` and ``notes`` (the wide table for people, with footnotes) are made from the cells by
    :func:`rdbench.analysis.bd_format.wide_table` when the table is built; nothing else reads them to
    compute a value."""

    anchor: str
    codecs: list[str]
    datasets: list[str]
    kind: BdKind = "rate"
    #: the bootstrap level asked for (adds the ``ci_low``/``ci_high`` columns), None without one
    ci_level: float | None = None
    #: the quality range asked for (``interval=``), None for the whole overlap: what a caption states
    interval: tuple[float | None, float | None] | None = None
    #: one per (codec, dataset), codec-major: the value, overlap, interval, anchor points, interpolation error, CI
    cells: list[BdCell] = field(default_factory=list)
    anchor_info: str = ""
    #: what the curve rule noted: a second configuration stored, an imported curve shadowed, ...
    info: list[str] = field(default_factory=list)
    #: one entry per (name, dataset) with a curve: where its points come from
    curves: list[dict[str, Any]] = field(default_factory=list)
    #: lines saying how the values were computed (anchor points per dataset, interval, error estimate, CI)
    protocol: list[str] = field(default_factory=list)
    #: with ``per_image=True``: one object per (codec, dataset, image), and per (codec, dataset) a summary
    per_image: list[dict[str, Any]] = field(default_factory=list)
    per_image_summary: list[dict[str, Any]] = field(default_factory=list)
    #: with ``sensitivity=True``: one object per (codec, dataset, anchor variant)
    sensitivity: list[dict[str, Any]] = field(default_factory=list)
    #: one dict per codec: ``codec``, ``config`` and per dataset the value and its ``<dataset> <field>``
    rows: list[dict[str, Any]] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)
    #: per row, column -> number of the footnote about that cell (``render(marks=...)``)
    marks: list[dict[str, str]] = field(default_factory=list)
    #: the footnotes, ``[n] reason``, one per distinct reason
    notes: list[str] = field(default_factory=list)
    #: how the measured curves' points aggregate their images (:data:`rdbench.analysis.aggregate.AGGREGATIONS`)
    aggregation: str = "image-mean"

    @property
    def value_key(self) -> str:
        return "bd_psnr" if self.kind == "quality" else "bd_rate"

    def details(self) -> dict[str, Any]:
        """What the table holds beyond the wide view, JSON-ready (cells as their JSON objects): what the
        report shows under a table and a DataFrame keeps in ``attrs``."""
        return {"aggregation": self.aggregation, "cells": [cell.to_json() for cell in self.cells],
                "protocol": self.protocol,
                "per_image": self.per_image, "per_image_summary": self.per_image_summary,
                "sensitivity": self.sensitivity}

    def all_notes(self) -> list[str]:
        """What a reader must know after the table: anchor origin, footnotes, protocol, curve-rule notes."""
        return [self.anchor_info, *self.notes, *self.protocol, *(f"note: {i}" for i in self.info)]


def _check_anchor(catalogue: Catalogue, anchor: str, datasets: list[str]) -> None:
    choice = catalogue.resolve(anchor)  # a bad selector is a usage error naming what is stored
    if anchor in known_names(catalogue) or choice.codec in catalogue.measured_codecs() or choice.imported:
        return
    where = f"the store {catalogue.path}" if catalogue.path is not None else "the store (no database yet)"
    alternatives = ", ".join(vtm_alternatives(catalogue, datasets)) or "vtm18-published"
    hint = (f"measure it with `rdbench run --codec {anchor} --dataset {','.join(datasets)}`, "
            f"or use a published anchor such as {alternatives}")
    if anchor.startswith("vtm17"):
        hint += (" (the MLIC authors published no VTM-17.0 points; vtm17-rdbench is rdbench's own VTM-17.0 "
                 "measurement on Kodak, vtm18-published the closest published anchor)")
    from rdbench.analysis.name_checks import configured_codecs

    if anchor in configured_codecs():
        raise RdbenchError(f"anchor {anchor!r} has no measured runs in {where} and is not a published or imported "
                           "curve", hint=hint)
    choices = catalogue.measured_codecs() + sorted(catalogue.published_names()) + configured_codecs()
    raise UsageError(f"unknown anchor {anchor!r}{did_you_mean(anchor, choices)}: not measured in {where}, not a "
                     "published or imported curve, not a configured codec", hint=hint)


def _curve_entry(found: CurveInfo, catalogue: Catalogue) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": found.name, "dataset": found.dataset, "source": found.source,
                             "origin": found.origin(catalogue), "points": len(found.points)}
    if found.selection is not None:
        entry.update(config_hash=found.selection.config_hash, how=found.selection.how,
                     configurations=found.selection.configurations,
                     qualities=[r["quality"] for r in found.selection.rows],
                     psnr_capped=sum(r.get("psnr_capped", 0) for r in found.selection.rows))
    return entry


def _points_json(points: list[tuple[float, float]], labels: list[str] | None, metric: str) -> list[dict[str, Any]]:
    key = metric_spec.get(metric).key
    order = sorted(range(len(points)), key=lambda i: points[i][0])
    return [{"quality": labels[i] if labels else None, "bpp": points[i][0], key: points[i][1]} for i in order]


def bd_table(catalogue: CatalogueSource, anchor: str, codecs: list[str], datasets: list[str], *,
             aggregate: str | None = None, ci: float | None = None, **options: Any) -> BdTable:
    """:func:`_bd_table` (which documents every other argument) with the measured curves' points made under
    the convention ``aggregate`` (``"image-mean"``, the default, or ``"dataset-mse"``:
    :data:`rdbench.analysis.aggregate.AGGREGATIONS`), stated in ``table.aggregation`` and a protocol line.
    Published and imported curves are what their authors computed (image means), and a note says so."""
    with aggregation(aggregate) as used:
        table = _bd_table(catalogue, anchor, codecs, datasets, ci=ci, **options)
    table.aggregation = used
    table.protocol.append(aggregation_note(used))
    published = sorted({f"{e['name']} on {e['dataset']}" for e in table.curves if e["source"] != "measured"})
    if used != DEFAULT_AGGREGATION and published:
        table.protocol.append(f"published and imported curves keep their authors' aggregation (image means): "
                              f"{', '.join(published)}")
    return table


def _bd_table(catalogue: CatalogueSource, anchor: str, codecs: list[str], datasets: list[str], *,
             metric: str = metric_spec.DEFAULT, method: str = "pchip", kind: BdKind = "rate", psnr_delta: bool | None = None,
             qualities: QualityChoice | Mapping[str, Iterable[str]] | Iterable[str] | None = None,
             anchor_qualities: list[str] | None = None, interval: tuple[float | None, float | None] | None = None, ci: float | None = None,
             resamples: int = DEFAULT_RESAMPLES, seed: int | None = DEFAULT_SEED, per_image: bool = False,
             sensitivity: bool = False, sensitivity_steps: int = anchor_points.DEFAULT_STEPS) -> BdTable:
    """BD-rate (or BD-PSNR) of each codec against ``anchor`` on each dataset, with reasons for NaN cells.

    ``qualities`` restricts measured curves to those quality points: a list for every codec, a
    mapping codec -> list, or a :class:`~rdbench.codecs.quality_choice.QualityChoice` (both). The
    anchor is not restricted by it: only ``anchor_qualities`` selects its points (its QPs or
    qualities, for a measured anchor or a shipped curve that carries them), since a list meant for
    the codecs would leave the anchor with whichever of its points happen to share those numbers.
    A quality a measured codec (or the anchor) does not have is a usage error, as is a codec in the
    mapping that is not in ``codecs``. ``interval=(lo, hi)`` restricts integration to that quality
    range (dB; None leaves an end open). ``ci`` (a level in percent) adds a paired bootstrap interval
    over images (``resamples``, ``seed``) where both curves are measured per image; ``per_image``
    adds each image's value; ``sensitivity`` the anchor-point study. Names may carry ``@`` selectors
    (:mod:`rdbench.analysis.curves`); an unknown name is a usage error, and so (also a ValueError) is a
    level, resample count or seed that cannot give a meaningful interval
    (:func:`rdbench.analysis.bootstrap.check_resampling`). ``kind`` is "rate" (BD-rate, %) or "quality"
    (BD-PSNR, dB); ``psnr_delta=True`` is its deprecated spelling of "quality". ``catalogue``: a
    :class:`~rdbench.analysis.catalogue.Catalogue`, an open store, or None (shipped curves only).
    """
    catalogue = Catalogue.of(catalogue)
    kind = kind_of(psnr_delta, kind)
    if ci is not None:
        check_resampling(ci, resamples, seed)
    choice = QualityChoice.of_value(qualities)
    _check_request(catalogue, anchor, codecs, datasets, metric, choice, anchor_qualities)
    curves = _Curves(catalogue, anchor, metric, choice, anchor_qualities)
    table = BdTable(anchor=anchor, codecs=list(codecs), datasets=list(datasets), kind=kind, ci_level=ci,
                    interval=interval)
    for codec in codecs:
        for dataset in datasets:
            a, t = curves.anchor_curve(dataset), curves.curve(codec, dataset)
            comparison = compare(a, t, metric) if a is not None and t is not None else None
            cell = _value_cell(curves, codec, dataset, a, t, comparison, method=method, kind=kind, interval=interval)
            if ci is not None:
                _add_interval(cell, comparison, kind=kind, interval=interval, level=ci, resamples=resamples,
                              seed=seed)
            if per_image:
                _add_per_image(table, cell, comparison, a, t, kind=kind, interval=interval)
            if sensitivity and comparison is not None:
                table.sensitivity.extend(
                    {"codec": codec, "dataset": dataset, **entry} for entry in anchor_points.sensitivity(
                        comparison.anchor_points, anchor_points.quality_labels(a), comparison.test_points,
                        method=method, kind=kind, interval=interval, steps=sensitivity_steps))
            table.cells.append(cell)
    table.protocol = _protocol_lines(datasets, anchor, curves.anchor_curve, metric, method, kind, anchor_qualities,
                                     interval, ci, resamples, seed)
    table.anchor_info = describe_anchor(catalogue, anchor, datasets, metric, anchor_qualities)
    table.info, table.curves = curves.info, curves.entries
    wide = bd_format.wide_table(table.cells, codecs=table.codecs, datasets=table.datasets, ci=ci is not None,
                                show_config=any(e["source"] != "published" for e in table.curves))
    table.rows, table.columns, table.marks, table.notes = wide.rows, wide.columns, wide.marks, wide.notes
    return table


def _check_request(catalogue: Catalogue, anchor: str, codecs: list[str], datasets: list[str], metric: str,
                   choice: QualityChoice, anchor_qualities: list[str] | None) -> None:
    """Every name, quality and anchor quality exists: a usage error naming what is stored otherwise."""
    _check_anchor(catalogue, anchor, datasets)
    check_names(catalogue, codecs)
    check_qualities(catalogue, codecs, datasets, choice, anchor=anchor)
    anchor_points.check_anchor_qualities(catalogue, anchor, datasets, metric, anchor_qualities)


class _Curves:
    """The curves of one table, each resolved once, with what resolving them noted (``info``), where
    each comes from (``entries``, in the order first asked for) and why the anchor has none on a dataset."""

    def __init__(self, catalogue: Catalogue, anchor: str, metric: str, choice: QualityChoice,
                 anchor_qualities: list[str] | None) -> None:
        self.catalogue, self.anchor, self.metric = catalogue, anchor, metric
        self.choice, self.anchor_qualities = choice, anchor_qualities
        self.info: list[str] = []
        self.entries: list[dict[str, Any]] = []
        self.anchor_reasons: dict[str, str] = {}
        self._found: dict[tuple[str, str, bool], CurveInfo | None] = {}

    def anchor_curve(self, dataset: str) -> CurveInfo | None:
        return self._lookup(self.anchor, dataset, as_anchor=True)

    def curve(self, name: str, dataset: str) -> CurveInfo | None:
        return self._lookup(name, dataset, as_anchor=False)

    def _lookup(self, name: str, dataset: str, as_anchor: bool) -> CurveInfo | None:
        key = (name, dataset, as_anchor)
        if key not in self._found:
            if as_anchor:
                found, why = anchor_points.anchor_curve(self.catalogue, name, dataset, self.metric, self.anchor_qualities)
                if why:
                    self.anchor_reasons[dataset] = why
            else:
                found = resolve_curve(self.catalogue, name, dataset, self.metric, self.choice.of(name))
            self._found[key] = found
            if found is not None:
                self.info.extend(n for n in found.notes if n not in self.info)
                self.entries.append(_curve_entry(found, self.catalogue))
        return self._found[key]


def _value_cell(curves: _Curves, codec: str, dataset: str, a: CurveInfo | None, t: CurveInfo | None,
                comparison: Comparison | None, *, method: str, kind: BdKind,
                interval: tuple[float | None, float | None] | None) -> BdCell:
    """The cell's value with the points it rests on, or the reason it has none."""
    metric = curves.metric
    cell = BdCell(codec=codec, dataset=dataset, anchor=curves.anchor, metric=metric, method=method, kind=kind)
    if t is not None:
        cell.config = t.config
        cell.curve_points = len(t.points)
        points = comparison.test_points if comparison is not None else t.points
        cell.test_points = _points_json(points, anchor_points.quality_labels(t), metric)
    if a is not None:
        points = comparison.anchor_points if comparison is not None else a.points
        cell.anchor_points = _points_json(points, anchor_points.quality_labels(a), metric)
    if comparison is not None:
        cell.images = comparison.images
    cell.reason = _missing_reason(curves, codec, dataset, a, t, comparison)
    if cell.reason is None:
        try:
            result = bd_value(comparison.anchor_points, comparison.test_points, method, kind=kind, interval=interval)
        except BdRateError as exc:
            cell.reason = f"{codec} on {dataset}: {exc}"
        else:
            _add_value(cell, comparison, result)
    return cell


def _missing_reason(curves: _Curves, codec: str, dataset: str, a: CurveInfo | None, t: CurveInfo | None,
                    comparison: Comparison | None) -> str | None:
    """Why no value can be computed before trying: a curve missing, or no image both curves share."""
    metric = curves.metric
    if a is None or t is None:
        unavailable = metric_spec.unavailable_note(metric)
        if unavailable:  # nothing measured it, and nothing here can: say why, not that a curve is missing
            return f"{metric} {unavailable}"
    if a is None:
        return curves.anchor_reasons.get(dataset) or f"anchor {curves.anchor} has no {metric} curve on {dataset}"
    if t is None:
        reason = f"{codec} has no {metric} curve on {dataset}"
        if curves.choice.of(codec):
            reason += f" at quality {', '.join(curves.choice.of(codec))}"
        catalogue = curves.catalogue
        if catalogue.store is None and catalogue.resolve(codec).codec not in known_names(catalogue):
            reason += " (no results database)"
        return reason
    empty = comparison.empty_reason()
    return None if empty is None else f"{codec} on {dataset}: {empty}"


def _add_value(cell: BdCell, comparison: Comparison, result: BdResult) -> None:
    """The value and what judges it: overlap, integrated interval, interpolation error, coverage."""
    error = interpolation_error(comparison.anchor_points, comparison.test_points, cell.method, kind=cell.kind,
                                full=result)
    cell.value, cell.overlap, cell.interval = result.value, result.overlap, result.interval_dict()
    cell.interval_text = result.interval_text()
    cell.interp_error, cell.below_interp_error = error.value, error.below(result.value)
    cell.interp_error_reason = error.reason or None
    cell.coverage = coverage(comparison.anchor_points, comparison.test_points, cell.kind)
    cell.weak_overlap = cell.coverage < WEAK_COVERAGE


def _protocol_lines(datasets, anchor, anchor_curve, metric, method, kind, anchor_qualities, interval, ci,
                    resamples, seed) -> list[str]:
    lines = []
    for dataset in datasets:
        found = anchor_curve(dataset)
        if found is not None:
            text = anchor_points.describe_points(found.points, anchor_points.quality_labels(found))
            restricted = f" (--anchor-qualities {','.join(anchor_qualities)})" if anchor_qualities else ""
            lines.append(f"anchor points on {dataset}: {text}{restricted}")
    spec = metric_spec.get(metric)
    unit = f"{spec.shown_unit} ({spec.label})" if spec.scale == "db" else spec.shown_unit
    if interval is not None:
        lo, hi = ("" if v is None else f"{v:g}" for v in interval)
        what = "quality" if kind == "rate" else "rates where the anchor's quality lies in"
        lines.append(f"integrated over the overlap of each pair of curves within {what} {lo}:{hi} {unit} "
                     "(`interval` column: the ends actually integrated)")
    else:
        lines.append("integrated over the overlap of each pair of curves (`interval` column: quality ends, "
                     "and the anchor's rates at them)" if kind == "rate" else
                     "integrated over the overlap of each pair of curves in log rate (`interval` column)")
    lines.append(f"`interp`: interpolation-error estimate ({'pp' if kind == 'rate' else 'dB'}), the largest change "
                 f"when one interior supporting point of either curve is left out ({method}; docs/bd-rate.md)")
    if ci is not None:
        again = ("both curves pooled again from the drawn images (bits / pixels, PSNR-like metrics from their "
                 "pixel-weighted MSE, others pixel-weighted)" if current_aggregation() == "dataset-mse"
                 else "both mean curves")
        lines.append(f"`ci_low`/`ci_high`: {ci:g} % paired bootstrap interval over images ({resamples} resamples, "
                     f"seed {seed}): images resampled with replacement, {again} and the value recomputed")
    return lines


def _add_interval(cell: BdCell, comparison: Comparison | None, *, kind: BdKind,
                  interval: tuple[float | None, float | None] | None, level: float, resamples: int,
                  seed: int | None) -> None:
    """The paired bootstrap interval over images, or the reason there is none (a cell without a value
    has its own reason and no interval)."""
    cell.ci_level, cell.resamples, cell.seed = level, resamples, seed
    if cell.reason is not None:
        return
    a, t = comparison.anchor, comparison.test
    if t.selection is None or a.selection is None:
        which = t if t.selection is None else a
        role = "codec" if which is t else "anchor"
        cell.ci_reason = (f"no bootstrap interval: the {role} {which.name} on {cell.dataset} is "
                          f"{with_article(which.source)} curve, with no per-image values (a bootstrap needs both "
                          "curves measured per image)")
        return
    data = paired_images(a.selection, t.selection, comparison.metric, comparison.images)
    boot = bootstrap_bd(data, method=cell.method, kind=kind, interval=interval, level=level, resamples=resamples,
                        seed=seed)
    cell.ci_low, cell.ci_high, cell.n_images, cell.ci_failed = boot.low, boot.high, boot.n_images, boot.failed
    cell.ci_left_out = data.left_out or None
    if boot.reason:
        cell.ci_reason = f"no bootstrap interval for {cell.codec} on {cell.dataset}: {boot.reason}"
        return
    if boot.failed:
        cell.ci_note = f"{boot.failed} of {resamples} resamples gave no value and are left out"
    cell.ci_excludes_value = not boot.low <= cell.value <= boot.high


def _add_per_image(table: BdTable, cell: BdCell, comparison: Comparison | None, a: CurveInfo | None,
                   t: CurveInfo | None, *, kind: BdKind, interval: tuple[float | None, float | None] | None) -> None:
    """Each image's value (that image's curve against the anchor's on it) and their summary, or the
    reason there are none (a curve missing or published)."""
    codec, dataset, metric = cell.codec, cell.dataset, cell.metric
    summary: dict[str, Any] = {"codec": codec, "dataset": dataset, "images": 0, "of": 0, "mean_curve": cell.value}
    if a is None or t is None or a.selection is None or t.selection is None:
        reason = ""
        for role, name, found in (("codec", codec, t), ("anchor", cell.anchor, a)):
            if found is None:
                reason = f"no per-image values: the {role} {name} has no {metric} curve on {dataset}"
                break
            if found.selection is None:
                reason = (f"no per-image values: the {role} {name} on {dataset} is {with_article(found.source)} curve "
                          "(per-image BD values need both curves measured on the same images)")
                break
        summary.update(summarize([]), reason=reason)
        summary["images"] = summary.pop("n")
        table.per_image_summary.append(summary)
        return
    entries = per_image_values(a.selection, t.selection, metric, method=cell.method, kind=kind,
                               interval=interval, images=comparison.images)
    for entry in entries:
        record = {"codec": codec, "dataset": dataset, "image": entry["image"], cell.value_key: entry["value"],
                  "overlap": entry["overlap"], "interval": entry["interval"], "interval_text": entry["interval_text"]}
        if entry["reason"]:
            record["reason"] = entry["reason"]
        table.per_image.append(record)
    summary.update(summarize([e["value"] for e in entries]), of=len(entries))
    summary["images"] = summary.pop("n")
    table.per_image_summary.append(summary)
