"""Results at target rates: the points rate matching chose (``rdbench run --target-bpp``), per image and as
means per codec and target, and the curves BD-rates take through them (``bdrate --points matched``).

WHY the means go through :func:`rdbench.analysis.aggregate.aggregate`: a target's row is the mean over
images of the chosen records, the same convention (and the same lossless cap, plug-in metrics and timing
rule) as a quality's row; only the grouping differs (by target, not by quality), and the deviation from
the target is added.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from rdbench import metric_spec
from rdbench.analysis.aggregate import aggregate, shown_value
from rdbench.store.record import Record
from rdbench.store.sqlite import Store

if TYPE_CHECKING:
    import pandas as pd

#: The columns of a target's mean row, in order (plug-in metrics follow ``ms_ssim_db``).
#: Tolerance and deviations are in percent of the target, as ``--rate-tolerance`` is (:func:`percent`).
TARGET_COLUMNS = ["codec", "config", "weights", "dataset", "device", "target_bpp", "tolerance_pct", "control", "n", "matched",
                  "nearest", "out_of_range", "failed", "bpp", "deviation_mean_pct", "deviation_abs_mean_pct",
                  "deviation_worst_pct", metric_spec.PSNR.field,
                  metric_spec.MS_SSIM.field, metric_spec.MS_SSIM.curve_field, "encode_s", "decode_s", "tries", "note"]
#: The per-image columns of :func:`shown_point` (and :func:`load_targets`), besides the metrics.
POINT_COLUMNS = ["codec", "config_hash", "weights", "dataset", "device", "image", "target_bpp", "tolerance_pct", "control",
                 "status", "quality", "bpp", "deviation_pct", metric_spec.PSNR.field, metric_spec.MS_SSIM.field,
                 metric_spec.MS_SSIM.curve_field, "below_quality",
                 "below_bpp", "above_quality", "above_bpp", "tries", "reason"]
_OUT = ("below_range", "above_range")
#: What a fixed-model codec's choices are, said in the run's summary and in the note of its rows.
MODELS_NOTE = "fixed models: the nearest model on each side of the target"


#: What identifies one search's choices besides the image and target: a curve of choices is one of these.
CHOICE_GROUP = ("codec", "config_hash", "code", "weights", "device", "dataset")


def percent(fraction: float | None) -> float | None:
    """A tolerance or deviation shown in percent of the target (``100 * fraction``; None stays None).

    WHY: the table ``rate_targets`` keeps fractions (what the search compares), while ``--rate-tolerance``
    and every row a reader sees speak percent, with ``_pct`` in the column's name."""
    return None if fraction is None else 100 * fraction


def target_points(store: Store, *, selections: Iterable[dict[str, Any]] | None = None,
                  datasets: Iterable[str] | None = None, tolerance: float | None = None) -> list[dict[str, Any]]:
    """One row per stored match (image and target): the chosen record's quality, rate and every metric,
    the deviation from the target, the points on either side and the search's reason. ``tolerance`` and
    ``deviation`` are fractions, as stored; :func:`shown_point` gives them in percent.

    ``selections`` select as records are selected (``NAME@SELECTOR``); ``tolerance`` (a fraction) the
    choices searched to it. Without it, each codec configuration, code, weights and device on a dataset
    gives the choices of the tolerance of its latest run (:func:`latest_tolerance`), so a table or a curve
    is never a mix of tolerances. Keys beginning ``_`` are for this module (the record, the tolerances
    left aside): :func:`shown_point` drops them."""
    marks = store.rate_targets(selections=selections, datasets=datasets, tolerance=tolerance)
    rows = []
    for mark, record in (marks if tolerance is not None else latest_tolerance(marks)):
        row = {key: mark[key] for key in (*CHOICE_GROUP, "image", "target_bpp", "tolerance", "control", "status",
                                          "deviation", "tries", "reason")}
        row["_other_tolerances"] = mark.get("other_tolerances", ())
        for side in ("below", "above"):
            neighbour: Record | None = mark[side]
            row[f"{side}_quality"] = neighbour.quality if neighbour else None
            row[f"{side}_bpp"] = neighbour.bpp if neighbour else None
        row.update(quality=record.quality if record else None, bpp=record.bpp if record else None)
        if record is not None:
            row.update({metric_spec.PSNR.field: shown_value(record, metric_spec.PSNR.name),
                        metric_spec.MS_SSIM.field: record.ms_ssim,
                        metric_spec.MS_SSIM.curve_field: shown_value(record, metric_spec.MS_SSIM.name)}, **record.metrics)
        row["_record"] = record
        rows.append(row)
    return rows


def shown_point(row: dict[str, Any]) -> dict[str, Any]:
    """A :func:`target_points` row as readers see it: without the keys meant for this module (those
    beginning ``_``), tolerance and deviation in percent (``tolerance_pct``, ``deviation_pct``)."""
    names = {"tolerance": "tolerance_pct", "deviation": "deviation_pct"}
    return {names.get(k, k): percent(v) if k in names else v for k, v in row.items() if not k.startswith("_")}


def latest_tolerance(marks: list[tuple[dict[str, Any], Any]]) -> list[tuple[dict[str, Any], Any]]:
    """The marks of the tolerance each choice group (:data:`CHOICE_GROUP`) was last run at (its mark
    written last), each given ``other_tolerances``: the group's tolerances left out.

    WHY the latest rather than all: a rerun at another tolerance keeps the earlier choices (the tolerance
    is part of their key), and means over a mix of tolerances would describe no run."""
    latest: dict[tuple, tuple[int, float]] = {}
    every: dict[tuple, set[float]] = {}
    for mark, _ in marks:
        group = tuple(mark[k] for k in CHOICE_GROUP)
        every.setdefault(group, set()).add(mark["tolerance"])
        if group not in latest or mark["seq"] > latest[group][0]:
            latest[group] = (mark["seq"], mark["tolerance"])
    kept = []
    for mark, record in marks:
        group = tuple(mark[k] for k in CHOICE_GROUP)
        if mark["tolerance"] == latest[group][1]:
            kept.append(({**mark, "other_tolerances": tuple(sorted(every[group] - {mark["tolerance"]}))}, record))
    return kept


def target_rows(store: Store, *, selections: Iterable[dict[str, Any]] | None = None,
                datasets: Iterable[str] | None = None, tolerance: float | None = None) -> list[dict[str, Any]]:
    """One row per choice group (codec configuration, code, weights, device, dataset), tolerance and
    target: the mean over images of the chosen points (bpp and every metric, as
    :func:`~rdbench.analysis.aggregate.aggregate` averages a quality's), the deviation from the target
    (mean, mean magnitude, worst), how the searches ended, and ``n``; tolerance and deviations in percent
    (:func:`percent`). Which tolerances: as :func:`target_points`."""
    return mean_rows(target_points(store, selections=selections, datasets=datasets, tolerance=tolerance))


def mean_rows(points: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows of :func:`target_rows` from :func:`target_points` rows (all of them or a subset)."""
    groups: dict[tuple, list[dict[str, Any]]] = defaultdict(list)
    for point in points:
        groups[(*(point[k] for k in CHOICE_GROUP), point["tolerance"], point["target_bpp"])].append(point)
    rows = []
    for (codec, config_hash, code, _, device, dataset, tolerance_of, target), points in groups.items():
        chosen = [p for p in points if p["_record"] is not None and p["_record"].ok]
        # one group for aggregate(): the target stands for the quality, and a learned codec's models
        # (other weights per image) are one row
        as_target = [dataclasses.replace(p["_record"], quality=f"{target:g}", weights="", code="") for p in chosen]
        means = aggregate(as_target)[0] if as_target else {"n": 0}
        deviations = [p["deviation"] for p in chosen if p["deviation"] is not None]
        controls = sorted({p["control"] for p in points})
        row = {**means, "codec": codec, "config_hash": config_hash, "config": config_hash[:8], "code": code,
               "weights": points[0]["weights"], "dataset": dataset,
               "device": device, "target_bpp": target, "tolerance_pct": percent(tolerance_of),
               "control": ",".join(controls),
               "matched": sum(p["status"] == "matched" for p in points),
               "nearest": sum(p["status"] == "nearest" for p in points),
               "out_of_range": sum(p["status"] in _OUT for p in points),
               "failed": sum(p["status"] == "failed" for p in points),
               "deviation_mean_pct": percent(sum(deviations) / len(deviations)) if deviations else None,
               "deviation_abs_mean_pct": percent(sum(abs(d) for d in deviations) / len(deviations)) if deviations else None,
               "deviation_worst_pct": percent(max(deviations, key=abs)) if deviations else None,
               "tries": sum(p["tries"] or 0 for p in points) / len(points),
               "note": _note(controls, points)}
        row.pop("quality", None)
        rows.append(row)
    rows.sort(key=lambda r: (r["codec"], r["dataset"], r["config_hash"], r["code"], r["weights"], r["device"],
                             r["tolerance_pct"], r["target_bpp"]))
    return rows


def _note(controls: list[str], points: list[dict[str, Any]]) -> str:
    """What a reader of a target's row must know: fixed models, or targets out of the codec's range."""
    notes = []
    if "models" in controls:
        notes.append(MODELS_NOTE)
    out = sum(p["status"] in _OUT for p in points)
    if out:
        notes.append(f"{out} image(s) out of the codec's range: its end point")
    others = sorted({t for p in points for t in p["_other_tolerances"]})
    if others:
        notes.append(f"also stored at tolerance {', '.join(f'{100 * t:g}' for t in others)} % (--rate-tolerance)")
    return "; ".join(notes)


def matched_curve(rows: list[dict[str, Any]], metric: str = metric_spec.DEFAULT) -> list[tuple[float, float]]:
    """The (mean bpp, mean ``metric``) of each target of one codec's :func:`target_rows`, by rate: the
    curve a BD-rate takes through the matched points."""
    key = metric_spec.get(metric).key
    return sorted((r["bpp"], r[key]) for r in rows if r.get("bpp") is not None and r.get(key) is not None)


#: The columns of :func:`matched_bd_rows`.
MATCHED_BD_COLUMNS = ["codec", "dataset", "value", "targets", "note"]


def matched_bd_rows(store: Store, anchor: str, names: Iterable[str], datasets: Iterable[str], *,
                    metric: str = metric_spec.DEFAULT, method: str = "pchip", kind: str = "rate",
                    tolerance: float | None = None) -> list[dict[str, Any]]:
    """BD-rate (or BD-PSNR, ``kind="quality"``) of each codec of ``names`` against ``anchor`` through their
    matched points (``bdrate --points matched``): one curve point per target, the mean over images, on the
    targets both codecs reached on every image (a target some image could not reach stands at the range's
    end, a point of another rate, and is left out, saying so). NaN with the reason where no value can be
    computed. ``tolerance``: as :func:`target_points` (each codec's latest when None).

    The curve of ``metric`` is that of its shown values (:func:`~rdbench.analysis.aggregate.shown_value`:
    MS-SSIM in dB, a lower-is-better metric as 1 - x), over the images with a value of it at every target,
    as a sweep's curve is over the images with a value at every quality."""
    import math

    from rdbench.analysis.bdrate import BdRateError, bd_value
    from rdbench.analysis.catalogue import Catalogue
    from rdbench.errors import UsageError

    catalogue = Catalogue(store)  # one per call: it reads each name list once

    def points_of(name: str, dataset: str) -> list[dict[str, Any]]:
        found = target_points(store, selections=[catalogue.resolve(name).selection()], datasets=[dataset],
                              tolerance=tolerance)
        configs = {(p["config_hash"], p["code"], p["weights"], p["device"]) for p in found}
        if len(configs) > 1:
            raise UsageError(f"{name} has matched points of {len(configs)} configurations, code versions, weights "
                             f"or devices on {dataset}", hint="name one as NAME@HASH, NAME@CODE, NAME@WEIGHTS or "
                                                              "NAME@DEVICE (rdbench results --targets lists them)")
        return found

    def curve(name: str, points: list[dict[str, Any]], targets: list[float]) -> tuple[list[tuple[float, float]], str]:
        """The matched curve of ``metric`` over the images with a value of it at every target (as a sweep's
        curve takes the images with a value at every quality), and what was left out."""
        has: dict[str, set[float]] = defaultdict(set)
        for point in points:
            record = point["_record"]
            value = shown_value(record, metric) if record is not None and record.ok else None
            if value is not None and not math.isnan(value):
                has[point["image"]].add(point["target_bpp"])
        images = {p["image"] for p in points}
        kept = {image for image in images if has[image] >= set(targets)}
        rows = {r["target_bpp"]: r for r in mean_rows(p for p in points if p["image"] in kept)}
        missing = len(images) - len(kept)
        note = f"{name}: {missing} image(s) without a {metric} value at every target left out" if missing else ""
        return matched_curve([rows[t] for t in targets if t in rows], metric), note

    out = []
    for dataset in datasets:
        base_points = points_of(anchor, dataset)
        base = {r["target_bpp"]: r for r in mean_rows(base_points)}
        for name in names:
            test_points = points_of(name, dataset)
            test = {r["target_bpp"]: r for r in mean_rows(test_points)}
            common = sorted(t for t in set(base) & set(test)
                            if not base[t]["out_of_range"] and not test[t]["out_of_range"])
            left_out = sorted((set(base) & set(test)) - set(common))
            notes = [f"left out (out of range on some image): {', '.join(f'{t:g}' for t in left_out)}"
                     if left_out else ""]
            value = math.nan
            try:
                if not base or not test:
                    raise BdRateError(f"no matched points of {anchor if not base else name} on {dataset}")
                (anchor_curve, anchor_note), (test_curve, test_note) = (curve(anchor, base_points, common),
                                                                        curve(name, test_points, common))
                notes += [anchor_note, test_note]
                value = bd_value(anchor_curve, test_curve, method, kind=kind).value
            except BdRateError as exc:
                notes.append(str(exc))
            out.append({"codec": name, "dataset": dataset, "value": value,
                        "targets": ",".join(f"{t:g}" for t in common), "note": "; ".join(filter(None, notes))})
    return out


def load_targets(db: str | Store, codecs: str | Iterable[str] | None = None,
                 datasets: str | Iterable[str] | None = None, *, per_image: bool = False,
                 rate_tolerance: float | None = None) -> pd.DataFrame:
    """The matched points of ``db`` as a DataFrame: one row per codec, dataset and target (means, as
    ``rdbench results --targets``), or with ``per_image`` one row per image and target. ``codecs`` are
    ``NAME[@SELECTOR...]``; ``rate_tolerance`` (percent) picks the choices searched to it, else each
    codec's latest (:func:`target_points`). Tolerance and deviations are in percent (``tolerance_pct``,
    ``deviation_*_pct``)."""
    import pandas as pd

    from rdbench.analysis.catalogue import Catalogue
    from rdbench.run.rate_match import check_tolerance

    tolerance = None if rate_tolerance is None else check_tolerance(rate_tolerance)

    def names(value: str | Iterable[str] | None) -> list[str] | None:
        if value is None:
            return None
        return [v.strip() for v in value.split(",") if v.strip()] if isinstance(value, str) else list(value)

    codec_names = names(codecs)
    opened = db if isinstance(db, Store) else Store(db, readonly=True)
    try:
        catalogue = Catalogue(opened)
        selections = [catalogue.resolve(name).selection() for name in codec_names] if codec_names else None
        chosen = {"selections": selections, "datasets": names(datasets), "tolerance": tolerance}
        if per_image:
            rows = [shown_point(row) for row in target_points(opened, **chosen)]
        else:
            rows = target_rows(opened, **chosen)
    finally:
        if opened is not db:
            opened.close()
    return pd.DataFrame(rows)
