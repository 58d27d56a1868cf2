"""What ``rdbench report`` shows, gathered from the store into the model of
:mod:`rdbench.analysis.report_model`: the BD tables, the curves drawn (by the one rule of
:mod:`rdbench.analysis.curves`, as ``bdrate`` and ``plot`` use), the per-image spread, complexity
points, failed records and the provenance of every number.

WHY apart from the model and the templates: this is the one module that reads the store and decides
what is compared; the model formats, :mod:`rdbench.analysis.report` lays out.
"""

from __future__ import annotations

import dataclasses
import json
import math
import platform
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from statistics import median, pstdev
from typing import Any

from rdbench import __version__, metric_spec
from rdbench.analysis.aggregate import (
    DEFAULT_AGGREGATION,
    _quality_sort_key,
    aggregation,
    aggregation_note,
    capped_db,
    current_aggregation,
    is_capped,
    shown_uncapped,
)
from rdbench.analysis.anchor_points import anchor_curve
from rdbench.analysis.catalogue import Catalogue
from rdbench.analysis.complexity import complexity_rows, scaling_exponents
from rdbench.analysis.curve_names import SHORT, short_weights, split_name
from rdbench.analysis.curves import FALLBACKS, CurveInfo, resolve_curve
from rdbench.analysis.dataframes import (
    default_names,
    point_labels,
)
from rdbench.analysis.dataset_names import resolve_datasets
from rdbench.analysis.paper_table import paper_table
from rdbench.analysis.plots import styles
from rdbench.analysis.report_metrics import metrics_part, over_metrics
from rdbench.analysis.report_model import (
    BdPart,
    ComplexityPart,
    FailedPart,
    Figure,
    FigureGroup,
    MetricsPart,
    Provenance,
    Report,
    Table,
    bd_part,
    columns_of,
    paper_view,
    table,
)
from rdbench.analysis.svgplot import Series, chart, legend
from rdbench.analysis.tables import BdTable, bd_table
from rdbench.codecs.quality_choice import QualityChoice
from rdbench.store.record import Record
from rdbench.store.sqlite import Store

#: failed records listed one by one (all of them are counted in the summary by codec and error)
MAX_FAILED_ROWS = 1000
#: characters of one error shown (tool output can be long; `rdbench results --failed` has all of it)
MAX_ERROR_CHARS = 4000


# -- the parts of the report ---------------------------------------------------------------------


@dataclasses.dataclass
class Context:
    """What every part of the report is gathered from: the store, the names, and the curves drawn."""

    store: Store
    anchor: str
    names: list[str]
    datasets: list[str]
    metrics: list[str]
    method: str
    #: whether the codecs were named (--codec) rather than every one stored
    explicit: bool = False
    styles: dict[str, tuple[str, str]] = dataclasses.field(default_factory=dict)
    complexity: list[Any] = dataclasses.field(default_factory=list)
    #: (name, dataset, metric) -> the curve drawn and tabulated
    curves: dict[tuple[str, str, str], CurveInfo] = dataclasses.field(default_factory=dict)
    tables: dict[str, BdTable] = dataclasses.field(default_factory=dict)
    #: the metrics the average over metrics takes (None: :func:`rdbench.analysis.report_metrics.over_metrics`' rule)
    averaged: list[str] | None = None
    #: metric -> its BD-rate table with per-image values, for the table over metrics
    per_image: dict[str, BdTable] = dataclasses.field(default_factory=dict)
    figures: int = 0
    #: display names of codecs, datasets and the anchor (``--label``), as the paper tables take them
    labels: dict[str, str] = dataclasses.field(default_factory=dict)

    def figure(self, series: list[Series], caption: str = "", points: Table | None = None, **options: Any) -> Figure:
        """The next numbered figure: ``series`` drawn by :func:`rdbench.analysis.svgplot.chart`."""
        self.figures += 1
        return Figure(self.figures, chart(series, **options), legend(series), caption, points)


def bd_parts(ctx: Context) -> list[BdPart]:
    parts = [bd_part(ctx.tables[m], m, ctx.anchor, ctx.method) for m in ctx.metrics]
    for part in parts:  # the paper view: the cells and labels `rdbench bdrate --format html --label` prints
        bd = ctx.tables[part.metric]
        part.paper, part.paper_notes = paper_view(paper_table(bd, labels=ctx.labels, average=len(bd.datasets) > 1))
    return parts


def over_metrics_part(ctx: Context) -> MetricsPart | None:
    """The table over metrics from ``ctx.per_image`` (None unless two metrics have per-image BD-rates)."""
    if not ctx.per_image:
        return None
    names, averaged = over_metrics(ctx.metrics, ctx.averaged)
    return metrics_part({n: ctx.per_image[n] for n in names}, averaged, ctx.labels)


def _point_tip(found: CurveInfo, metric: str, bpp: float, value: float, quality: str | None, extra: str = "") -> str:
    head = found.label + ("" if found.source == "measured" else f" ({found.source})")
    if quality is not None and quality[:1].isdigit():
        quality = f"quality {quality}"
    lines = [head, quality or "", f"bpp {bpp:.4f}",
             metric_spec.get(metric).value_text(value), extra]
    return "\n".join(line for line in lines if line)


def _point_over(n: int) -> str:
    """What a measured point is of: ``mean of 24 images``, or pooled under ``dataset-mse``."""
    return f"mean of {n} images" if current_aggregation() == DEFAULT_AGGREGATION else f"{n} images pooled"


def figure_aggregation(sources: Iterable[str]) -> str:
    """The sentence an RD figure's caption states its points' aggregation with (the one the tables state),
    naming the published or imported curves drawn beside pooled ones, which keep their authors' image means."""
    text = aggregation_note()
    if current_aggregation() != DEFAULT_AGGREGATION and any(s != "measured" for s in sources):
        text += "; published and imported curves keep their authors' aggregation (image means)"
    return text[:1].upper() + text[1:] + "."


def _curve_points(found: CurveInfo) -> list[tuple[float, float, str | None, str]]:
    """(bpp, value, quality, extra) of a curve's points: measured ones with their quality and images."""
    if found.selection is not None:
        key = metric_spec.get(found.metric).key
        out = []
        for row in found.selection.rows_for(found.metric):
            value = row.get(key)
            if value is not None and not math.isnan(value):
                out.append((row["bpp"], value, row["quality"], _point_over(row["n"])))
        return out
    labels = point_labels(found)
    return [(b, v, labels[i], f"point {i + 1} of {len(found.points)}") for i, (b, v) in enumerate(found.points)]


def curve_groups(ctx: Context) -> list[FigureGroup]:
    """Per dataset, one RD figure per metric with the table of its points."""
    groups = []
    for dataset in ctx.datasets:
        group = FigureGroup(dataset)
        for metric in ctx.metrics:
            found = {n: c for n in [*ctx.names, ctx.anchor] if (c := ctx.curves.get((n, dataset, metric)))}
            missing = [n for n in dict.fromkeys([*ctx.names, ctx.anchor]) if n not in found]
            if not found:
                group.empty.append(f"{dataset}, {metric}: {metric_spec.unavailable_note(metric) or 'no curve to draw'}")
                continue
            label = metric_spec.get(metric).axis_label
            series, rows = [], []
            for name in sorted(found):
                info = found[name]
                colour, marker = ctx.styles[name]
                points = _curve_points(info)
                series.append(Series(
                    label=ctx.labels.get(name, info.label) + (" (anchor)" if name == ctx.anchor else "")
                    + ("" if info.source == "measured" else f", {info.source}"),
                    colour=colour, marker=marker, dashed=info.source != "measured",
                    width=3.0 if name == ctx.anchor else 1.6,
                    points=[(b, v, _point_tip(info, metric, b, v, q, e)) for b, v, q, e in points]))
                rows.extend({"codec": info.label, "source": info.source, "quality": q, "bpp": b, label: v, "note": e}
                            for b, v, q, e in points)
            caption = (f"{dataset}: {label} against bpp. {figure_aggregation(c.source for c in found.values())}"
                       + (f" No {metric} curve: {', '.join(missing)}." if missing else ""))
            points_table = table(rows, ["codec", "source", "quality", "bpp", label, "note"], digits={"bpp": 4, label: 3})
            group.figures.append(ctx.figure(series, caption, points_table, title=f"{dataset}, {metric}",
                                            xlabel="bits per pixel", ylabel=label))
            group.figures[-1].metric = metric
        groups.append(group)
    return groups


def measured_names(ctx: Context) -> list[str]:
    return list(dict.fromkeys(n for n in ctx.names + [ctx.anchor]
                              if any((c := ctx.curves.get((n, d, m))) is not None and c.selection is not None
                                     for d in ctx.datasets for m in ctx.metrics)))


def spread_groups(ctx: Context) -> list[FigureGroup]:
    """Per dataset with measured curves: per-image lines and means per metric, and the spread table."""
    measured = measured_names(ctx)
    groups = []
    for dataset in ctx.datasets:
        selections = {}
        for name in measured:
            info = next((ctx.curves.get((name, dataset, m)) for m in ctx.metrics
                         if ctx.curves.get((name, dataset, m)) is not None), None)
            if info is not None and info.selection is not None:
                selections[name] = info.selection
        if not selections:
            continue
        group = FigureGroup(dataset)
        for metric in ctx.metrics:
            spec = metric_spec.get(metric)
            series, rows = [], []
            for name in sorted(selections):
                selection = selections[name]
                colour, marker = ctx.styles[name]
                per_image = selection.per_image(metric)
                for image, points in sorted(per_image.items()):
                    series.append(Series(label=image, colour=colour, marker=None, width=1.0, opacity=0.45,
                                         tooltip=f"{selection.label}: {image}", legend=False, classes=["thin"],
                                         points=[(b, v, "") for b, v in sorted(points)]))
                mean_rows = selection.rows_for(metric)
                mean_points = [(r["bpp"], r[spec.key], r["quality"], r["n"]) for r in mean_rows
                               if r.get(spec.key) is not None and not math.isnan(r[spec.key])]
                if per_image:
                    series.append(Series(
                        label=f"{selection.label} ({_point_over(len(per_image))})", colour=colour, marker=marker,
                        width=2.4, points=[(b, v, (f"{selection.label}\nquality {q}\nbpp {b:.4f}\n"
                                                   f"{spec.value_text(v)}\n{_point_over(n)}"))
                                           for b, v, q, n in mean_points]))
                values: dict[str, list[tuple[float, str]]] = defaultdict(list)
                capped: dict[str, int] = defaultdict(int)
                averaged = set(selection.image_set(metric).images)
                for record in selection.records:
                    value = shown_uncapped(record, metric)
                    if record.ok and record.image in averaged and value is not None and not math.isnan(value):
                        values[record.quality].append((capped_db(value) if spec.cap_db else value, record.image))
                        capped[record.quality] += spec.cap_db and is_capped(value)
                for row in mean_rows:
                    found = values.get(row["quality"], [])
                    if not found:
                        continue
                    numbers = [v for v, _ in found]
                    low, high = min(found), max(found)
                    rows.append({"codec": selection.label, "quality": row["quality"], "bpp": row["bpp"],
                                 "images": len(numbers), "min": low[0], "median": median(numbers),
                                 "max": high[0], "std": pstdev(numbers), "lowest image": low[1],
                                 "highest image": high[1], "capped": capped[row["quality"]],
                                 "config": selection.config_label})
            if not rows:
                continue
            group.figures.append(ctx.figure(series, f"{dataset}: per-image {spec.axis_label} against bpp, and each "
                                            f"codec's curve. {figure_aggregation(['measured'])}",
                                            title=f"{dataset}, {metric}, per image", xlabel="bits per pixel",
                                            ylabel=spec.axis_label))
            group.figures[-1].metric = metric
            group.tables.append(table(rows, ["codec", "quality", "bpp", "images", "min", "median", "max", "std",
                                             "lowest image", "highest image", "capped", "config"],
                                      caption=f"Per-image {metric} spread on {dataset}", digits={"bpp": 4}))
        groups.append(group)
    return groups


def complexity_points(store: Store, names: list[str], explicit: bool) -> list[Any]:
    """The store's complexity points: of the named codecs when codecs were named, else all."""
    points = store.complexity_points()
    if explicit:
        wanted = {split_name(n)[0] for n in names}
        points = [p for p in points if p.codec in wanted]
    return points


def complexity_label(codec: str, device: str, several_devices: bool) -> str:
    return f"{codec} ({device})" if several_devices else codec


def complexity_part(ctx: Context) -> ComplexityPart | None:
    """Scaling exponents, time / memory / FLOPs figures and every point; None without complexity points."""
    points = ctx.complexity
    if not points:
        return None
    exponents = scaling_exponents(points)
    groups: dict[tuple[str, str], list] = defaultdict(list)
    for point in points:
        groups[(point.codec, point.device)].append(point)
    several_devices = len({d for _, d in groups}) > 1
    keys = sorted(groups)
    names = [complexity_label(c, d, several_devices) for c, d in keys]
    palette = {n: ctx.styles.get(n) or style for n, style in styles(names).items()}
    panels = [("time (ms)", "ms", [("encode_s", "", "encode"), ("decode_s", "6 3", "decode"),
                                   ("forward_s", "2 3", "forward")], 1e3, True, None),
              ("peak memory (MiB)", "MiB", [("peak_mem_bytes", "", "encode+decode"),
                                            ("forward_peak_mem_bytes", "2 3", "forward")], 1 / 2 ** 20, True, None),
              ("kFLOPs per pixel (forward)", "kFLOPs/px", [("flops_per_pixel", "", "forward")], 1e-3, False, 0.0)]
    figures = FigureGroup(None)
    for ylabel, unit, measures, scale, ylog, floor in panels:
        series = []
        for (codec, device), name in zip(keys, names):
            colour, marker = palette[name]
            group = sorted(groups[(codec, device)], key=lambda p: p.pixels)
            for attr, dash, what in measures:
                pts = []
                for p in group:
                    value = getattr(p, attr)
                    if value is not None and p.status == "ok":
                        pts.append((p.side, value * scale,
                                    f"{name} {what}\n{p.width}x{p.height} px\n{value * scale:.4g} {unit}"))
                if pts:
                    series.append(Series(label=f"{name} {what}", colour=colour, marker=marker, dashed=dash or False,
                                         width=1.6, points=pts))
        if series:
            figures.figures.append(ctx.figure(series, title=ylabel, xlabel="image side (px; √pixels when not square)",
                                              ylabel=ylabel, xlog=True, xbase=2, ylog=ylog, yfloor=floor,
                                              width=440, height=320))
    columns = ["codec", "device", "quality", "size", "status", "encode_ms", "decode_ms", "forward_ms", "peak_mem_mib",
               "fwd_mem_mib", "kflops_per_px", "decoder_macs_per_px", "bpp", "repeat", "machine", "gpu",
               "rdbench_version", "created_at", "error"]
    return ComplexityPart(
        table(exponents, columns_of(exponents), caption="Scaling exponents against pixel count", digits=2),
        figures, table(complexity_rows(points), columns, caption="Complexity points", digits=2))


def failed_part(failed: list[Record]) -> FailedPart:
    """The failed records: counted by codec, dataset and first error line, then one by one."""
    if not failed:
        return FailedPart(0)
    summary: dict[tuple[str, str, str], int] = defaultdict(int)
    for record in failed:
        first = (record.error or "").strip().splitlines()[0] if (record.error or "").strip() \
            else "(no error recorded)"
        summary[(record.codec, record.dataset, first[:300])] += 1
    rows = []
    for record in failed[:MAX_FAILED_ROWS]:
        error = record.error or ""
        if len(error) > MAX_ERROR_CHARS:
            error = error[:MAX_ERROR_CHARS] + f"\n... ({len(record.error) - MAX_ERROR_CHARS} more characters)"
        rows.append({"codec": record.codec, "config": record.config_hash[:SHORT], "dataset": record.dataset,
                     "quality": record.quality, "image": record.image, "device": record.device,
                     "weights": short_weights(record.weights) if record.weights else None, "error": error,
                     "created_at": record.created_at})
    return FailedPart(
        len(failed),
        table([{"codec": c, "dataset": d, "error": e, "records": n} for (c, d, e), n in sorted(summary.items())],
              ["codec", "dataset", "error", "records"], caption="Failures by codec and error"),
        table(rows, ["codec", "config", "dataset", "quality", "image", "device", "weights", "error", "created_at"],
              caption="Failed records"),
        max(0, len(failed) - MAX_FAILED_ROWS))


def _join(values: Iterable[Any]) -> str | None:
    found = sorted({str(v) for v in values if v not in (None, "")})
    return ", ".join(found) if found else None


def provenance(ctx: Context, records: list[Record], about: dict[str, str]) -> Provenance:
    """This report's own facts, every stored configuration's runs, and each curve's origin."""
    groups: dict[tuple[str, ...], list[Record]] = defaultdict(list)
    for record in records:
        groups[(record.codec, record.config_hash, record.dataset, record.device, record.weights,
                record.code)].append(record)
    used = {(c.selection.codec, c.selection.config_hash, c.dataset, r.code) for c in ctx.curves.values()
            if c.selection is not None for r in c.selection.records}
    configs: dict[tuple[str, str], Any] = {}
    rows = []
    for (codec, config_hash, dataset, device, weights, code), members in sorted(groups.items()):
        if (codec, config_hash) not in configs:
            configs[(codec, config_hash)] = ctx.store.config(codec, config_hash)
        config = configs[(codec, config_hash)] or {}
        ok = [r for r in members if r.ok]
        dates = sorted(r.created_at for r in members if r.created_at)
        libraries = _join(f"{r.codec_library} {r.codec_version or ''}".strip() for r in members if r.codec_library)
        rows.append({
            "codec": codec, "config": config_hash[:SHORT], "dataset": dataset, "device": device,
            "weights": short_weights(weights) if weights else None, "code": code or "not recorded",
            "in curves": "yes" if (codec, config_hash, dataset, code) in used else "no",
            "ok": len(ok), "failed": len(members) - len(ok), "images": len({r.image for r in members}),
            "qualities": ", ".join(sorted({r.quality for r in members}, key=_quality_sort_key)),
            "rdbench": _join(r.rdbench_version for r in members), "git commit": _join(r.git_commit for r in members),
            "codec library": libraries, "machine": _join(r.machine for r in members),
            "gpu": _join(r.gpu for r in members), "first": dates[0] if dates else None,
            "last": dates[-1] if dates else None,
            "parameters": json.dumps({"adapter": config.get("adapter"), **(config.get("params") or {})},
                                     sort_keys=True, default=str) if config else "configuration not recorded",
            "description": config.get("description") or None,
        })
    curve_rows = []
    seen = set()
    for (name, dataset, _), info in sorted(ctx.curves.items()):
        if (name, dataset) in seen:
            continue
        seen.add((name, dataset))
        ref = info.reference or {}
        row = {"name": name, "dataset": dataset, "source": info.source, "configuration": info.config,
               "origin": info.origin(ctx.store)}
        if info.selection is None:
            row.update({"shipped stand-in": info.fallback,
                        "source repository": ref.get("source_repository"), "source file": ref.get("source_file"),
                        "sha256": ref.get("sha256"), "imported at": ref.get("imported_at"),
                        "description": ref.get("description")})
        curve_rows.append(row)
    return Provenance(
        about,
        table(rows, columns_of(rows), caption="Measured runs (every stored configuration of these codecs on these "
                                            "datasets; 'in curves' says which the curves use)"),
        table(curve_rows, columns_of(curve_rows), caption="Curves drawn and compared"))


# -- the whole report ----------------------------------------------------------------------------


def gather_report(store: Store, anchor: str, *, codecs: Sequence[str] | None = None,
                  datasets: Sequence[str] | None = None, metrics: Sequence[str] | None = None,
                  method: str = "pchip", title: str | None = None, command: str | None = None,
                  bd_options: dict[str, Any] | None = None,
                  qualities: QualityChoice | Mapping[str, Iterable[str]] | Iterable[str] | None = None,
                  anchor_qualities: list[str] | None = None,
                  labels: Mapping[str, str] | None = None, averaged: Sequence[str] | None = None) -> Report:
    """What the report shows, gathered from ``store``. ``codecs`` default to every measured codec and
    imported curve on ``datasets``, which default to every dataset in the store; names and datasets are
    checked as ``rdbench bdrate`` checks them (usage errors with "did you mean"). ``qualities`` and
    ``anchor_qualities`` select the points of every table and figure as in
    :func:`rdbench.analysis.tables.bd_table` (the codecs', per codec or for all; the anchor's).
    ``bd_options`` go to :func:`rdbench.analysis.tables.bd_table` as they are (e.g. ``{"ci": 95}`` for
    bootstrap intervals); their ``aggregate`` (default: the aggregation in force,
    :func:`rdbench.analysis.aggregate.aggregation`) makes every table's and figure's points, and each
    states it. ``labels`` gives display names (codecs, datasets, anchor) to the paper view of each BD
    table and the figures' legends. ``averaged``: the metrics the table over metrics averages
    (:func:`rdbench.analysis.report_metrics.over_metrics`, which says the default)."""
    with aggregation((bd_options or {}).get("aggregate") or current_aggregation()):
        started = datetime.now(timezone.utc)
        catalogue = Catalogue(store)
        ctx = report_context(store, catalogue, anchor, codecs, datasets, metrics, method, labels)
        choice = QualityChoice.of_value(qualities)
        ctx.averaged = None if averaged is None else list(averaged)
        gather_tables(ctx, catalogue, choice, anchor_qualities, bd_options)
        gather_per_image(ctx, catalogue, choice, anchor_qualities, bd_options)
        gather_curves(ctx, catalogue, choice, anchor_qualities)
        records = report_records(ctx)
        about = report_about(ctx, started, command, choice, anchor_qualities)
        return assemble_report(ctx, records, about, title)


def report_context(store: Store, catalogue: Catalogue, anchor: str, codecs: Sequence[str] | None,
                   datasets: Sequence[str] | None, metrics: Sequence[str] | None, method: str,
                   labels: Mapping[str, str] | None) -> Context:
    """The names and datasets compared, and the metrics: named ones checked as ``bdrate`` checks them,
    else every codec and dataset stored (the anchor's codec left out of the default names) and the
    built-in metrics with every declared plug-in metric the database has values of."""
    wanted = resolve_datasets(catalogue, list(datasets or [])) or catalogue.dataset_names()
    names = list(codecs) if codecs else default_names(catalogue, wanted)
    names = [n for n in dict.fromkeys(names) if n != anchor]
    if not codecs:
        names = [n for n in names if n != split_name(anchor)[0]]
    if metrics is None:
        declared = metric_spec.registered()
        metrics = [*metric_spec.BUILTIN, *(m for m in store.metric_names() if m in declared)]
    return Context(store, anchor, names, wanted, [metric_spec.get(m).name for m in metrics], method,
                   explicit=bool(codecs), labels=dict(labels or {}))


def gather_tables(ctx: Context, catalogue: Catalogue, choice: QualityChoice, anchor_qualities: list[str] | None,
                  bd_options: dict[str, Any] | None) -> None:
    """One BD table per metric into ``ctx.tables``."""
    for metric in ctx.metrics:
        ctx.tables[metric] = bd_table(catalogue, ctx.anchor, ctx.names, ctx.datasets, metric=metric,
                                      method=ctx.method, qualities=choice, anchor_qualities=anchor_qualities,
                                      **(bd_options or {}))


def gather_per_image(ctx: Context, catalogue: Catalogue, choice: QualityChoice, anchor_qualities: list[str] | None,
                     bd_options: dict[str, Any] | None) -> None:
    """With two metrics or more, each one's BD-rate table with per-image values into ``ctx.per_image``
    (and those of averaged metrics the report does not show), made as ``rdbench bdrate --metric a,b``
    makes them: the report's options without the bootstrap interval, which the table over metrics has not.
    WHY tables apart from ``ctx.tables``: every field of those is shown under its BD part, and a list
    of every image's BD-rate per metric there would bury it."""
    options = {k: v for k, v in (bd_options or {}).items() if k not in ("ci", "resamples", "seed")}
    if len(ctx.metrics) < 2 or options.get("kind", "rate") != "rate":
        return
    for metric in over_metrics(ctx.metrics, ctx.averaged)[0]:
        ctx.per_image[metric] = bd_table(catalogue, ctx.anchor, ctx.names, ctx.datasets, metric=metric,
                                         method=ctx.method, qualities=choice, anchor_qualities=anchor_qualities,
                                         **{**options, "per_image": True})


def gather_curves(ctx: Context, catalogue: Catalogue, choice: QualityChoice,
                  anchor_qualities: list[str] | None) -> None:
    """The curve of each name per dataset and metric (the figures'), the complexity points, and one style
    per codec for every figure of the report, so that a codec has one colour and marker throughout."""
    drawn = {ctx.anchor}
    for metric in ctx.metrics:
        for dataset in ctx.datasets:
            for name in dict.fromkeys([*ctx.names, ctx.anchor]):
                found = (anchor_curve(catalogue, name, dataset, metric, anchor_qualities)[0] if name == ctx.anchor
                         else resolve_curve(catalogue, name, dataset, metric, choice.of(name)))
                if found is not None:
                    ctx.curves[(name, dataset, metric)] = found
                    drawn.add(name)
    ctx.complexity = complexity_points(ctx.store, ctx.names, ctx.explicit)
    several_devices = len({p.device for p in ctx.complexity}) > 1
    ctx.styles = styles(drawn | {complexity_label(p.codec, p.device, several_devices) for p in ctx.complexity})


def report_records(ctx: Context) -> list[Record]:
    """The stored records the provenance and failures describe: of the named codecs (and the anchor's
    codec) when codecs were named, else every record on the datasets."""
    if not ctx.explicit:
        return ctx.store.find_records(datasets=ctx.datasets)
    stored = {g["codec"] for g in ctx.store.record_groups(datasets=ctx.datasets)}
    selections = [{"codec": n} for n in sorted({split_name(n)[0] for n in [*ctx.names, ctx.anchor]}) if n in stored]
    return ctx.store.find_records(selections=selections, datasets=ctx.datasets) if selections else []


def report_about(ctx: Context, started: datetime, command: str | None, choice: QualityChoice,
                 anchor_qualities: list[str] | None) -> dict[str, str]:
    """The report's own provenance: when and by what it was made, from which database, and what it
    compares how."""
    from rdbench.run.environment import git_commit

    store, anchor = ctx.store, ctx.anchor
    return {
        "generated": started.strftime("%Y-%m-%d %H:%M:%S UTC"),
        "by": f"rdbench {__version__}" + (f", commit {git_commit()}" if git_commit() else ""),
        "python": f"{platform.python_version()} on {platform.system()} {platform.machine()}",
        "command": command or "",
        "database": str(store.path.resolve()),
        "database size": f"{store.path.stat().st_size:,} bytes" if store.path.exists() else "",
        "database modified": (datetime.fromtimestamp(store.path.stat().st_mtime, timezone.utc)
                              .strftime("%Y-%m-%d %H:%M:%S UTC") if store.path.exists() else ""),
        "anchor": anchor + (f" (falls back to the shipped {FALLBACKS[anchor]} where it is not measured)"
                            if anchor in FALLBACKS else ""),
        "codecs": ", ".join(ctx.names) or "none",
        "datasets": ", ".join(ctx.datasets),
        "metrics": ", ".join(ctx.metrics),
        "qualities": choice.describe() or "all stored",
        "anchor qualities": ", ".join(anchor_qualities) if anchor_qualities else "all its points",
        "BD method": ctx.method,
        "aggregation": aggregation_note(),
    }


def assemble_report(ctx: Context, records: list[Record], about: dict[str, str], title: str | None) -> Report:
    """The report's parts from the gathered context. The complexity part is built first, so its figures
    are numbered before the RD curves' (the numbering reports have always had)."""
    failed = [r for r in records if not r.ok]
    complexity = complexity_part(ctx)
    metrics = over_metrics_part(ctx)
    contents = [("bdrate", "BD-rate"), ("curves", "RD curves"), ("spread", "Per-image spread")]
    if complexity is not None:
        contents.append(("complexity", "Complexity"))
    contents += [("failed", f"Failed records ({len(failed)})"), ("provenance", "Provenance")]
    summary = {"database": str(ctx.store.path), "anchor": about["anchor"], "datasets": about["datasets"],
               "codecs": about["codecs"], "records": f"{len(records) - len(failed)} ok, {len(failed)} failed",
               "generated": f"{about['generated']} by {about['by']}"}
    return Report(
        heading=title or f"rdbench report: {', '.join(ctx.datasets)} vs {ctx.anchor}", summary=summary,
        contents=contents, anchor=ctx.anchor, method=ctx.method, bd=bd_parts(ctx), curves=curve_groups(ctx),
        spread=spread_groups(ctx), failed=failed_part(failed), provenance=provenance(ctx, records, about),
        complexity=complexity, spread_empty=not measured_names(ctx), metrics=metrics)
