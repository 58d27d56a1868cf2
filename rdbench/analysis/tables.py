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
object per (codec, dataset) with all of it; ``rows``/``columns`` are the wide table for people.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from rdbench import metric_spec
from rdbench.analysis import anchor_points
from rdbench.analysis.bdrate import BdKind, BdRateError, bd_value, kind_of
from rdbench.analysis.bootstrap import (
    DEFAULT_RESAMPLES,
    DEFAULT_SEED,
    bootstrap_bd,
    check_resampling,
    paired_images,
)
from rdbench.analysis.comparison import compare
from rdbench.analysis.curves import (
    CurveInfo,
    check_names,
    check_qualities,
    describe_anchor,
    known_names,
    resolve_curve,
    resolve_name,
    stored_codecs,
    vtm_alternatives,
)
from rdbench.analysis.interpolation_error import interpolation_error
from rdbench.analysis.per_image import per_image_values, summarize
from rdbench.codecs.quality_choice import QualityChoice
from rdbench.errors import RdbenchError, UsageError, did_you_mean, plural, with_article
from rdbench.store.sqlite import Store

#: Coverage (:func:`coverage`) below which a value is flagged as a weak comparison. The number is the
#: ``bjontegaard`` package's ``min_overlap`` default; it is applied to the codec's own range rather than to
#: the joint range (the ``overlap`` column) because a value is read as a summary of the codec's curve: an
#: anchor measured over a wider range (VTM's 36 published QPs) leaves the joint overlap small although the
#: value covers all of the codec's curve, while an anchor that meets the codec's curve only at one end
#: (docs/bd-rate.md) is flagged either way.
WEAK_COVERAGE = 0.75


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


@dataclass
class BdTable:
    rows: list[dict[str, Any]]
    columns: list[str]
    notes: list[str] = field(default_factory=list)
    anchor_info: str = ""
    #: what the curve rule noted: a second configuration stored, an imported curve shadowed, ...
    info: list[str] = field(default_factory=list)
    #: one entry per (name, dataset) with a curve: where its points come from
    curves: list[dict[str, Any]] = field(default_factory=list)
    #: per row, column -> number of the footnote saying why that cell is NaN (``render(marks=...)``)
    marks: list[dict[str, str]] = field(default_factory=list)
    #: one object per (codec, dataset): the value, overlap, interval, anchor points, interpolation error, CI
    cells: list[dict[str, Any]] = field(default_factory=list)
    #: lines saying how the values were computed (anchor points per dataset, interval, error estimate, CI)
    protocol: list[str] = field(default_factory=list)
    #: with ``per_image=True``: one object per (codec, dataset, image), and per (codec, dataset) a summary
    per_image: list[dict[str, Any]] = field(default_factory=list)
    per_image_summary: list[dict[str, Any]] = field(default_factory=list)
    #: with ``sensitivity=True``: one object per (codec, dataset, anchor variant)
    sensitivity: list[dict[str, Any]] = field(default_factory=list)

    @property
    def value_key(self) -> str:
        return "bd_psnr" if self.cells and "bd_psnr" in self.cells[0] else "bd_rate"

    def all_notes(self) -> list[str]:
        """What a reader must know after the table: anchor origin, footnotes, protocol, curve-rule notes."""
        return [self.anchor_info, *self.notes, *self.protocol, *(f"note: {i}" for i in self.info)]


def _check_anchor(store: Store | None, anchor: str, datasets: list[str]) -> None:
    choice = resolve_name(store, anchor)  # a bad selector is a usage error naming what is stored
    if anchor in known_names(store) or choice.codec in stored_codecs(store) or choice.imported:
        return
    where = f"the store {store.path}" if store is not None else "the store (no database yet)"
    alternatives = ", ".join(vtm_alternatives(store, datasets)) or "vtm18-published"
    hint = (f"measure it with `rdbench run --codec {anchor} --dataset {','.join(datasets)}`, "
            f"or use a published anchor such as {alternatives}")
    if anchor.startswith("vtm17"):
        hint += (" (the MLIC authors published no VTM-17.0 points; vtm17-rdbench is rdbench's own VTM-17.0 "
                 "measurement on Kodak, vtm18-published the closest published anchor)")
    from rdbench.analysis.curves import configured_codecs, published_names

    if anchor in configured_codecs():
        raise RdbenchError(f"anchor {anchor!r} has no measured runs in {where} and is not a published or imported "
                           "curve", hint=hint)
    choices = stored_codecs(store) + sorted(published_names(store)) + configured_codecs()
    raise UsageError(f"unknown anchor {anchor!r}{did_you_mean(anchor, choices)}: not measured in {where}, not a "
                     "published or imported curve, not a configured codec", hint=hint)


def _curve_entry(found: CurveInfo, store: Store | None) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": found.name, "dataset": found.dataset, "source": found.source,
                             "origin": found.origin(store), "points": len(found.points)}
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


def bd_table(store: Store | None, anchor: str, codecs: list[str], datasets: list[str], *,
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
    (:func:`rdbench.analysis.bootstrap.check_resampling`).
    """
    if ci is not None:
        check_resampling(ci, resamples, seed)
    _check_anchor(store, anchor, datasets)
    check_names(store, codecs)
    choice = QualityChoice.of_value(qualities)
    check_qualities(store, codecs, datasets, choice, anchor=anchor)
    anchor_points.check_anchor_qualities(store, anchor, datasets, metric, anchor_qualities)
    kind = kind_of(psnr_delta, kind)
    value_key = "bd_psnr" if kind == "quality" else "bd_rate"
    notes: list[str] = []
    info: list[str] = []
    entries: list[dict[str, Any]] = []
    resolved: dict[tuple[str, str, bool], CurveInfo | None] = {}
    anchor_reasons: dict[str, str] = {}

    def lookup(name: str, dataset: str, as_anchor: bool = False) -> CurveInfo | None:
        key = (name, dataset, as_anchor)
        if key not in resolved:
            if as_anchor:
                found, why = anchor_points.anchor_curve(store, name, dataset, metric, anchor_qualities)
                if why:
                    anchor_reasons[dataset] = why
            else:
                found = resolve_curve(store, name, dataset, metric, choice.of(name))
            resolved[key] = found
            if found is not None:
                info.extend(n for n in found.notes if n not in info)
                entries.append(_curve_entry(found, store))
        return resolved[key]

    def footnote(reason: str) -> str:
        number = next((n[1:n.index("]")] for n in notes if n.endswith(f"] {reason}")), None)
        if number is None:  # one footnote per distinct reason
            number = str(len(notes) + 1)
            notes.append(f"[{number}] {reason}")
        return number

    ci_columns = ["ci_low", "ci_high"] if ci is not None else []
    rows, marks, cells, per_image_rows, summaries, sensitivity_rows = [], [], [], [], [], []
    for codec in codecs:
        row: dict[str, Any] = {"codec": codec}
        mark: dict[str, str] = {}
        configs: dict[str, str] = {}
        for dataset in datasets:
            reason = None
            a, t = lookup(anchor, dataset, as_anchor=True), lookup(codec, dataset)
            cell: dict[str, Any] = {"codec": codec, "dataset": dataset, "anchor": anchor, "metric": metric,
                                    "method": method, value_key: math.nan, "overlap": math.nan, "interval": None,
                                    "anchor_points": None, "test_points": None, "interp_error": math.nan,
                                    "below_interp_error": False}
            comparison = compare(a, t, metric) if a is not None and t is not None else None
            if t is not None:
                configs[dataset] = t.config
                cell["config"] = t.config
                points = comparison.test_points if comparison is not None else t.points
                cell["test_points"] = _points_json(points, anchor_points.quality_labels(t), metric)
            if a is not None:
                points = comparison.anchor_points if comparison is not None else a.points
                cell["anchor_points"] = _points_json(points, anchor_points.quality_labels(a), metric)
            if comparison is not None and comparison.images is not None:
                cell.update(comparison.images.to_json())
            result = None
            if a is None:
                reason = anchor_reasons.get(dataset) or f"anchor {anchor} has no {metric} curve on {dataset}"
            elif t is None:
                reason = f"{codec} has no {metric} curve on {dataset}"
                if choice.of(codec):
                    reason += f" at quality {', '.join(choice.of(codec))}"
                if store is None and resolve_name(store, codec).codec not in known_names(None):
                    reason += " (no results database)"
            elif (empty := comparison.empty_reason()) is not None:
                reason = f"{codec} on {dataset}: {empty}"
            else:
                try:
                    result = bd_value(comparison.anchor_points, comparison.test_points, method, kind=kind,
                                      interval=interval)
                except BdRateError as exc:
                    reason = f"{codec} on {dataset}: {exc}"
            columns_of = [dataset, f"{dataset} overlap", f"{dataset} interp",
                          *(f"{dataset} {c}" for c in ci_columns), f"{dataset} interval"]
            if result is not None:
                error = interpolation_error(comparison.anchor_points, comparison.test_points, method,
                                            kind=kind, full=result)
                row[dataset], row[f"{dataset} overlap"] = result.value, result.overlap
                row[f"{dataset} interp"] = error.value
                row[f"{dataset} interval"] = f"{result.interval_text()}; {len(t.points)} pts"
                cell.update({value_key: result.value, "overlap": result.overlap, "interval": result.interval_dict(),
                             "interp_error": error.value, "below_interp_error": error.below(result.value)})
                if error.reason:
                    cell["interp_error_reason"] = error.reason
                    mark[f"{dataset} interp"] = footnote(f"interpolation error: {error.reason}")
                elif error.below(result.value):
                    mark[dataset] = footnote("|value| below its interpolation error (leave-one-out subset error, "
                                             "docs/bd-rate.md): no conclusion should be drawn from it")
                cell["coverage"] = coverage(comparison.anchor_points, comparison.test_points, kind)
                if cell["coverage"] < WEAK_COVERAGE:
                    cell["weak_overlap"] = True
                    mark[f"{dataset} overlap"] = footnote(
                        f"weak comparison: the anchor's curve covers less than {WEAK_COVERAGE:.0%} of the codec's "
                        f"{'quality' if kind == 'rate' else 'log-rate'} range, so the value describes only that part "
                        "of the codec's curve (coverage in JSON; docs/bd-rate.md)")
                if comparison.images is not None:
                    row[f"{dataset} interval"] += f"; {plural(len(comparison.images), 'image')}"
                    if comparison.images.left_out:
                        mark[f"{dataset} interval"] = footnote(
                            f"{codec} on {dataset}: every number of this cell averages {comparison.images.describe()}")
            else:
                for column in columns_of:
                    row[column] = math.nan
                    mark[column] = footnote(reason)
                cell["reason"] = reason
            if ci is not None:
                _add_interval(cell, row, mark, footnote, comparison, result, codec, dataset, method, kind,
                              interval, ci, resamples, seed)
            if per_image:
                _add_per_image(per_image_rows, summaries, comparison, a, t, codec, dataset, metric, method,
                               kind, interval, value_key, cell)
            if sensitivity and comparison is not None:
                for entry in anchor_points.sensitivity(comparison.anchor_points, anchor_points.quality_labels(a),
                                                       comparison.test_points,
                                                       method=method, kind=kind, interval=interval,
                                                       steps=sensitivity_steps):
                    sensitivity_rows.append({"codec": codec, "dataset": dataset, **entry})
            cells.append(cell)
        labels = sorted(set(configs.values()))
        row["config"] = (labels[0] if len(labels) == 1
                         else "; ".join(f"{d}: {c}" for d, c in configs.items()) if labels else None)
        rows.append(row)
        marks.append(mark)
    # which configuration made each curve: shown when any curve is measured or imported
    shown = any(e["source"] != "published" for e in entries)
    columns = ["codec"] + ["config"] * shown + [c for d in datasets for c in (
        d, f"{d} overlap", f"{d} interp", *(f"{d} {x}" for x in ci_columns), f"{d} interval")]
    protocol = _protocol_lines(datasets, anchor, lambda d: lookup(anchor, d, as_anchor=True), metric, method,
                               kind, anchor_qualities, interval, ci, resamples, seed)
    anchor_line = describe_anchor(store, anchor, datasets, metric, anchor_qualities)
    return BdTable(rows, columns, notes, anchor_line, info, entries, marks, cells, protocol, per_image_rows,
                   summaries, sensitivity_rows)


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
        lines.append(f"`ci_low`/`ci_high`: {ci:g} % paired bootstrap interval over images ({resamples} resamples, "
                     f"seed {seed}): images resampled with replacement, both mean curves and the value recomputed")
    return lines


def _add_interval(cell, row, mark, footnote, comparison, result, codec, dataset, method, kind, interval,
                  level, resamples, seed) -> None:
    cell.update(ci_level=level, ci_low=math.nan, ci_high=math.nan, n_images=0, resamples=resamples, seed=seed)
    reason = None
    a, t = (comparison.anchor, comparison.test) if comparison is not None else (None, None)
    if result is None:
        reason = None  # the cell's own footnote says why
    elif t.selection is None or a.selection is None:
        which = t if t.selection is None else a
        role = "codec" if which is t else "anchor"
        reason = (f"no bootstrap interval: the {role} {which.name} on {dataset} is {with_article(which.source)} curve, with no "
                  "per-image values (a bootstrap needs both curves measured per image)")
    else:
        data = paired_images(a.selection, t.selection, comparison.metric, comparison.images)
        boot = bootstrap_bd(data, method=method, kind=kind, interval=interval, level=level,
                            resamples=resamples, seed=seed)
        cell.update(ci_low=boot.low, ci_high=boot.high, n_images=boot.n_images, ci_failed=boot.failed)
        if data.left_out:
            cell["ci_left_out"] = data.left_out
        if boot.reason:
            reason = f"no bootstrap interval for {codec} on {dataset}: {boot.reason}"
        elif boot.failed:
            cell["ci_note"] = f"{boot.failed} of {resamples} resamples gave no value and are left out"
        if not reason and not boot.low <= result.value <= boot.high:
            cell["ci_excludes_value"] = True
            mark[f"{dataset} ci_low"] = mark[f"{dataset} ci_high"] = footnote(
                "the interval excludes the value itself: the resampled mean curves are skewed (few images, or one "
                "image far from the others); read the per-image values (--per-image) before the interval")
    row[f"{dataset} ci_low"], row[f"{dataset} ci_high"] = cell["ci_low"], cell["ci_high"]
    if reason:
        cell["ci_reason"] = reason
        mark[f"{dataset} ci_low"] = mark[f"{dataset} ci_high"] = footnote(reason)


def _add_per_image(out, summaries, comparison, a, t, codec, dataset, metric, method, kind, interval,
                   value_key, cell) -> None:
    summary: dict[str, Any] = {"codec": codec, "dataset": dataset, "images": 0, "of": 0,
                               "mean_curve": cell.get(value_key, math.nan)}
    if a is None or t is None or a.selection is None or t.selection is None:
        reason = ""
        for role, name, found in (("codec", codec, t), ("anchor", cell["anchor"], a)):
            if found is None:
                reason = f"no per-image values: the {role} {name} has no {metric} curve on {dataset}"
                break
            if found.selection is None:
                reason = (f"no per-image values: the {role} {name} on {dataset} is {with_article(found.source)} curve "
                          "(per-image BD values need both curves measured on the same images)")
                break
        summary.update(summarize([]), reason=reason)
        summary["images"] = summary.pop("n")
        summaries.append(summary)
        return
    entries = per_image_values(a.selection, t.selection, metric, method=method, kind=kind,
                               interval=interval, images=comparison.images)
    for entry in entries:
        record = {"codec": codec, "dataset": dataset, "image": entry["image"], value_key: entry["value"],
                  "overlap": entry["overlap"], "interval": entry["interval"], "interval_text": entry["interval_text"]}
        if entry["reason"]:
            record["reason"] = entry["reason"]
        out.append(record)
    summary.update(summarize([e["value"] for e in entries]), of=len(entries))
    summary["images"] = summary.pop("n")
    summaries.append(summary)
