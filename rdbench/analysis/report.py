"""One self-contained HTML report of a results database (``rdbench report``).

What it holds: the BD-rate table of every codec against an anchor per metric (with overlap and every
further field :func:`rdbench.analysis.tables.bd_table` gives, NaN cells with their reason), RD curves
per dataset and metric (each point's codec, quality, bpp and metric value on hover), the per-image
spread behind each mean (figure and min / median / max / std table), complexity figures and scaling
exponents when the database holds ``rdbench complexity`` points, the failed records with their
errors, and the provenance of every number (the records' rdbench version and commit, codec
libraries and versions, machines, GPUs and dates; each published or imported curve's source).

WHY one file and nothing else: a report is mailed, archived and opened years later, offline. Styles,
the sorting script and the figures (SVG drawn by :mod:`rdbench.analysis.svgplot`) are inline; a
Content-Security-Policy allows no request at all and only the report's own script and styles (by
hash), so even a string that got past escaping could not run, restyle or load anything. Every string that comes from the
database or an imported file (codec names, descriptions, errors, file names) is escaped.
Curves follow the one rule of :mod:`rdbench.analysis.curves`, as ``bdrate`` and ``plot`` do.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import math
import os
import platform
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from statistics import median, pstdev
from typing import Any

from rdbench import __version__, metric_spec
from rdbench.analysis.aggregate import (
    PSNR_CAP_DB,
    _quality_sort_key,
    capped_db,
    is_capped,
    shown_uncapped,
)
from rdbench.analysis.anchor_points import anchor_curve
from rdbench.analysis.complexity import complexity_rows, scaling_exponents
from rdbench.analysis.curves import (
    FALLBACKS,
    SHORT,
    CurveInfo,
    resolve_curve,
    short_weights,
    split_name,
)
from rdbench.analysis.dataframes import (
    default_names,
    point_labels,
    stored_dataset_names,
)
from rdbench.analysis.dataset_names import resolve_datasets
from rdbench.analysis.plots import styles
from rdbench.analysis.svgplot import Series, chart, esc, legend
from rdbench.analysis.tables import BdTable, bd_table
from rdbench.codecs.quality_choice import QualityChoice
from rdbench.store.record import Record
from rdbench.store.sqlite import Store

#: failed records listed one by one (all of them are counted in the summary by codec and error)
MAX_FAILED_ROWS = 1000
#: characters of one error shown (tool output can be long; `rdbench results --failed` has all of it)
MAX_ERROR_CHARS = 4000


def _asset(name: str) -> str:
    return resources.files("rdbench.analysis").joinpath("report_assets", name).read_text(encoding="utf-8")


# -- cells and tables ----------------------------------------------------------------------------


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _rounded(value: Any) -> Any:
    """Nested lists and dicts with floats at 5 significant digits (what a reader of a nested cell needs)."""
    if isinstance(value, float) and math.isfinite(value):
        return float(f"{value:.5g}")
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_rounded(v) for v in value]
    return value


def _cell(value: Any, digits: int, mark: str | None = None) -> str:
    """One ``<td>``: numbers right-aligned with their exact value for sorting, text escaped."""
    sup = f'<sup class="fn">[{esc(mark)}]</sup>' if mark else ""
    if value is None:
        return f'<td class="num" data-v="">\u2013{sup}</td>'
    if _number(value):
        if isinstance(value, float) and math.isnan(value):
            return f'<td class="num nan" data-v="">nan{sup}</td>'
        if isinstance(value, float) and math.isinf(value):
            sign = "" if value > 0 else "-"
            return f'<td class="num" data-v="{sign}1e308">{sign}inf{sup}</td>'
        text = f"{value:.{digits}f}" if isinstance(value, float) else str(value)
        return f'<td class="num" data-v="{esc(repr(float(value)))}">{esc(text)}{sup}</td>'
    if isinstance(value, bool):
        return f"<td>{'yes' if value else 'no'}{sup}</td>"
    if isinstance(value, (list, tuple, dict)):
        value = _rounded(value)
        text = json.dumps(value, default=str, ensure_ascii=False)
        if isinstance(value, (list, tuple)) and all(isinstance(v, (str, int, float)) for v in value):
            text = ", ".join(str(v) for v in value)
        return f'<td class="wrap">{esc(text)}{sup}</td>'
    text = str(value)
    wrap = ' class="wrap"' if len(text) > 60 or "\n" in text else ""
    return f"<td{wrap}>{esc(text)}{sup}</td>"


def html_table(rows: Sequence[dict[str, Any]], columns: Sequence[str], *, caption: str = "",
               digits: int | dict[str, int] = 3, marks: Sequence[dict[str, str]] | None = None,
               labels: dict[str, str] | None = None, cls: str = "sortable") -> str:
    """A sortable HTML table of ``rows`` (dicts) in ``columns``; ``marks`` per row: column -> footnote."""
    if not rows:
        return f'<p class="empty">{esc(caption + ": " if caption else "")}nothing to show</p>'
    head = "".join(f'<th scope="col">{esc((labels or {}).get(c, c))}</th>' for c in columns)
    body = []
    for index, row in enumerate(rows):
        mark = (marks[index] if marks and index < len(marks) else None) or {}
        cells = "".join(_cell(row.get(c), digits.get(c, 3) if isinstance(digits, dict) else digits, mark.get(c))
                        for c in columns)
        body.append(f"<tr>{cells}</tr>")
    caption_html = f"<caption>{esc(caption)}</caption>" if caption else ""
    return (f'<div class="scroll"><table class="{esc(cls)}">{caption_html}<thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table></div>')


def _notes(lines: Iterable[str], cls: str = "notes") -> str:
    items = [f"<li>{esc(line)}</li>" for line in lines if line]
    return f'<ul class="{cls}">{"".join(items)}</ul>' if items else ""


def _columns(rows: Sequence[dict[str, Any]], first: Sequence[str] = ()) -> list[str]:
    """``first``, then every other key of ``rows`` in order of first appearance."""
    seen = dict.fromkeys(first)
    for row in rows:
        seen.update(dict.fromkeys(row))
    return list(seen)


# -- the parts of the report ---------------------------------------------------------------------


@dataclasses.dataclass
class _Context:
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
    figures: int = 0


def _bd_section(ctx: _Context) -> str:
    parts = ['<h2 id="bdrate">BD-rate</h2>',
             (f'<p class="note">BD-rate (%) of each codec against <b>{esc(ctx.anchor)}</b> ({esc(ctx.method)}): '
              "negative means fewer bits than the anchor at equal quality. <i>overlap</i> is the share of the "
              "joint quality range (dB) both curves cover, the axis a BD-rate is integrated over; a NaN cell has a footnote saying why. Click a column "
              "header to sort.</p>")]
    for metric in ctx.metrics:
        table = ctx.tables[metric]
        columns = _columns(table.rows, table.columns)
        parts.append(f'<h3 id="bdrate-{esc(metric)}">{esc(metric_spec.get(metric).axis_label)}: BD-rate (%) vs '
                     f"{esc(ctx.anchor)}</h3>")
        parts.append(f'<p class="anchor-line">{esc(table.anchor_info)}</p>')
        parts.append(html_table(table.rows, columns, marks=table.marks,
                                caption=f"BD-rate (%) vs {ctx.anchor}, {metric}, {ctx.method}"))
        if table.notes:
            parts.append(_notes(table.notes, "footnotes"))
        if table.info:
            parts.append(_notes([f"note: {line}" for line in table.info]))
        extra = table.details()
        for name, value in extra.items():  # whatever else bd_table reports (intervals, interpolation errors, ...)
            if value is None or (isinstance(value, (list, dict, str)) and not value):
                continue
            if isinstance(value, list) and all(isinstance(v, dict) for v in value):
                parts.append(f"<details><summary>{esc(name)}: {len(value)} "
                             f"{'entry' if len(value) == 1 else 'entries'} (every field bd_table gives)</summary>"
                             + html_table(value, _columns(value), caption=f"{name} ({metric})") + "</details>")
            elif isinstance(value, list):
                parts.append(f'<p class="note"><b>{esc(name)}</b></p>' + _notes(str(v) for v in value))
            else:
                text = value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)
                parts.append(f'<p class="note"><b>{esc(name)}</b>: {esc(text)}</p>')
    return "".join(parts)


def _point_tip(found: CurveInfo, metric: str, bpp: float, value: float, quality: str | None, extra: str = "") -> str:
    head = found.label + ("" if found.source == "measured" else f" ({found.source})")
    if quality is not None and quality[:1].isdigit():
        quality = f"quality {quality}"
    lines = [head, quality or "", f"bpp {bpp:.4f}",
             metric_spec.get(metric).value_text(value), extra]
    return "\n".join(line for line in lines if line)


def _curve_points(found: CurveInfo) -> list[tuple[float, float, str | None, str]]:
    """(bpp, value, quality, extra) of a curve's points: measured ones with their quality and images."""
    if found.selection is not None:
        key = metric_spec.get(found.metric).key
        out = []
        for row in found.selection.rows_for(found.metric):
            value = row.get(key)
            if value is not None and not math.isnan(value):
                out.append((row["bpp"], value, row["quality"], f"mean of {row['n']} images"))
        return out
    labels = point_labels(found)
    return [(b, v, labels[i], f"point {i + 1} of {len(found.points)}") for i, (b, v) in enumerate(found.points)]


def _curves_section(ctx: _Context) -> str:
    parts = ['<h2 id="curves">RD curves</h2>',
             ('<p class="note">Per dataset and metric. Measured curves are solid (mean of per-image values at each '
              "quality), published and imported curves dashed, the anchor thicker. Hover a point for its codec, "
              "quality, bpp and metric; every point is also listed under each figure.</p>")]
    for dataset in ctx.datasets:
        parts.append(f"<h3>{esc(dataset)}</h3>")
        figures = []
        for metric in ctx.metrics:
            found = {n: c for n in [*ctx.names, ctx.anchor] if (c := ctx.curves.get((n, dataset, metric)))}
            missing = [n for n in dict.fromkeys([*ctx.names, ctx.anchor]) if n not in found]
            if not found:
                figures.append(f'<p class="empty">{esc(dataset)}, {esc(metric)}: no curve to draw</p>')
                continue
            series, rows = [], []
            for name in sorted(found):
                info = found[name]
                colour, marker = ctx.styles[name]
                points = _curve_points(info)
                series.append(Series(
                    label=info.label + (" (anchor)" if name == ctx.anchor else "")
                    + ("" if info.source == "measured" else f", {info.source}"),
                    colour=colour, marker=marker, dashed=info.source != "measured",
                    width=3.0 if name == ctx.anchor else 1.6,
                    points=[(b, v, _point_tip(info, metric, b, v, q, e)) for b, v, q, e in points]))
                rows.extend({"codec": info.label, "source": info.source, "quality": q, "bpp": b,
                             metric_spec.get(metric).axis_label: v, "note": e} for b, v, q, e in points)
            ctx.figures += 1
            svg = chart(series, title=f"{dataset}, {metric}", xlabel="bits per pixel", ylabel=metric_spec.get(metric).axis_label)
            caption = (f"{dataset}: {metric_spec.get(metric).axis_label} against bpp."
                       + (f" No {metric} curve: {', '.join(missing)}." if missing else ""))
            figures.append(
                f'<figure id="fig-{ctx.figures}">{svg}{legend(series)}<figcaption>{esc(caption)}</figcaption>'
                f"<details><summary>points ({len(rows)})</summary>"
                + html_table(rows, ["codec", "source", "quality", "bpp", metric_spec.get(metric).axis_label, "note"],
                             digits={"bpp": 4, metric_spec.get(metric).axis_label: 3})
                + "</details></figure>")
        parts.append(f'<div class="figures">{"".join(figures)}</div>')
    return "".join(parts)


def _spread_section(ctx: _Context) -> str:
    parts = ['<h2 id="spread">Per-image spread</h2>',
             ('<p class="note">What each mean hides: thin lines are single images (hover one for its name), '
              "thick lines the dataset means; the table gives the spread of the per-image metric at each "
              f"quality. A lossless image counts as {PSNR_CAP_DB:g} dB, as in every mean.</p>")]
    measured = [n for n in ctx.names + [ctx.anchor]
                if any((c := ctx.curves.get((n, d, m))) is not None and c.selection is not None
                       for d in ctx.datasets for m in ctx.metrics)]
    measured = list(dict.fromkeys(measured))
    if not measured:
        return "".join(parts) + ('<p class="empty">no measured codec: per-image values exist for measured codecs '
                                 "only</p>")
    for dataset in ctx.datasets:
        selections = {}
        for name in measured:
            info = next((ctx.curves.get((name, dataset, m)) for m in ctx.metrics
                         if ctx.curves.get((name, dataset, m)) is not None), None)
            if info is not None and info.selection is not None:
                selections[name] = info.selection
        if not selections:
            continue
        parts.append(f"<h3>{esc(dataset)}</h3>")
        figures, tables = [], []
        for metric in ctx.metrics:
            key = metric_spec.get(metric).key
            series, rows = [], []
            for name in sorted(selections):
                selection = selections[name]
                colour, marker = ctx.styles[name]
                per_image = selection.per_image(metric)
                for image, points in sorted(per_image.items()):
                    pts = sorted(points)
                    series.append(Series(label=image, colour=colour, marker=None, width=1.0, opacity=0.45,
                                         tooltip=f"{selection.label}: {image}", legend=False, classes=["thin"],
                                         points=[(b, v, "") for b, v in pts]))
                mean_rows = selection.rows_for(metric)
                mean_points = [(r["bpp"], r[key], r["quality"], r["n"]) for r in mean_rows
                               if r.get(key) is not None and not math.isnan(r[key])]
                if per_image:
                    series.append(Series(
                        label=f"{selection.label} (mean of {len(per_image)} images)", colour=colour, marker=marker,
                        width=2.4, points=[(b, v, (f"{selection.label}\nquality {q}\nbpp {b:.4f}\n"
                                                   f"{metric_spec.get(metric).value_text(v)}\n"
                                                   f"mean of {n} images")) for b, v, q, n in mean_points]))
                values: dict[str, list[tuple[float, str]]] = defaultdict(list)
                capped: dict[str, int] = defaultdict(int)
                averaged = set(selection.image_set(metric).images)
                cap = metric_spec.get(metric).cap_db
                for record in selection.records:
                    value = shown_uncapped(record, metric)
                    if record.ok and record.image in averaged and value is not None and not math.isnan(value):
                        values[record.quality].append((capped_db(value) if cap else value, record.image))
                        capped[record.quality] += cap and is_capped(value)
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
            ctx.figures += 1
            svg = chart(series, title=f"{dataset}, {metric}, per image", xlabel="bits per pixel",
                        ylabel=metric_spec.get(metric).axis_label)
            figures.append(f'<figure id="fig-{ctx.figures}">{svg}{legend(series)}<figcaption>'
                           f"{esc(dataset)}: per-image {esc(metric_spec.get(metric).axis_label)} against bpp</figcaption></figure>")
            tables.append(html_table(rows, ["codec", "quality", "bpp", "images", "min", "median", "max", "std",
                                            "lowest image", "highest image", "capped", "config"],
                                     caption=f"Per-image {metric} spread on {dataset}", digits={"bpp": 4}))
        parts.append(f'<div class="figures">{"".join(figures)}</div>{"".join(tables)}')
    return "".join(parts)


def _complexity_points(store: Store, names: list[str], explicit: bool) -> list[Any]:
    """The store's complexity points: of the named codecs when codecs were named, else all."""
    points = store.complexity_points()
    if explicit:
        wanted = {split_name(n)[0] for n in names}
        points = [p for p in points if p.codec in wanted]
    return points


def _complexity_label(codec: str, device: str, several_devices: bool) -> str:
    return f"{codec} ({device})" if several_devices else codec


def _complexity_section(ctx: _Context) -> str:
    points = ctx.complexity
    if not points:
        return ""
    parts = ['<h2 id="complexity">Complexity</h2>',
             ('<p class="note">Points measured by <code>rdbench complexity</code>: time, peak memory and forward '
              "FLOPs per pixel against the side of a square image (log-log axes for time and memory: the slope "
              "against pixel count is the scaling exponent, 1 linear and 2 quadratic).</p>")]
    exponents = scaling_exponents(points)
    parts.append(html_table(exponents, _columns(exponents), caption="Scaling exponents against pixel count",
                            digits=2))
    groups: dict[tuple[str, str], list] = defaultdict(list)
    for point in points:
        groups[(point.codec, point.device)].append(point)
    several_devices = len({d for _, d in groups}) > 1
    keys = sorted(groups)
    names = [_complexity_label(c, d, several_devices) for c, d in keys]
    palette = {n: ctx.styles.get(n) or style for n, style in styles(names).items()}
    panels = [("time (ms)", "ms", [("encode_s", "", "encode"), ("decode_s", "6 3", "decode"),
                                   ("forward_s", "2 3", "forward")], 1e3, True, None),
              ("peak memory (MiB)", "MiB", [("peak_mem_bytes", "", "encode+decode"),
                                            ("forward_peak_mem_bytes", "2 3", "forward")], 1 / 2 ** 20, True, None),
              ("kFLOPs per pixel (forward)", "kFLOPs/px", [("flops_per_pixel", "", "forward")], 1e-3, False, 0.0)]
    figures = []
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
            ctx.figures += 1
            svg = chart(series, title=ylabel, xlabel="image side (px; √pixels when not square)", ylabel=ylabel, xlog=True, xbase=2,
                        ylog=ylog, yfloor=floor, width=440, height=320)
            figures.append(f'<figure id="fig-{ctx.figures}">{svg}{legend(series)}</figure>')
    parts.append(f'<div class="figures">{"".join(figures)}</div>')
    rows = complexity_rows(points)
    columns = ["codec", "device", "quality", "size", "status", "encode_ms", "decode_ms", "forward_ms", "peak_mem_mib",
               "fwd_mem_mib", "kflops_per_px", "decoder_macs_per_px", "bpp", "repeat", "machine", "gpu", "rdbench_version", "created_at",
               "error"]
    parts.append(html_table(rows, columns, caption="Complexity points", digits=2))
    return "".join(parts)


def _failed_section(ctx: _Context, failed: list[Record]) -> str:
    parts = ['<h2 id="failed">Failed records</h2>']
    if not failed:
        return "".join(parts) + '<p class="empty">none: every stored record of these codecs and datasets is ok</p>'
    summary: dict[tuple[str, str, str], int] = defaultdict(int)
    for record in failed:
        first = (record.error or "(no error recorded)").strip().splitlines()[0] if (record.error or "").strip() \
            else "(no error recorded)"
        summary[(record.codec, record.dataset, first[:300])] += 1
    parts.append(f'<p class="note">{len(failed)} failed record{"s" if len(failed) != 1 else ""}; '
                 "rerun them with <code>rdbench run --retry-failed</code>, list them with "
                 "<code>rdbench results --failed</code>.</p>")
    parts.append(html_table([{"codec": c, "dataset": d, "error": e, "records": n}
                             for (c, d, e), n in sorted(summary.items())],
                            ["codec", "dataset", "error", "records"], caption="Failures by codec and error"))
    rows = []
    for record in failed[:MAX_FAILED_ROWS]:
        error = record.error or ""
        if len(error) > MAX_ERROR_CHARS:
            error = error[:MAX_ERROR_CHARS] + f"\n... ({len(record.error) - MAX_ERROR_CHARS} more characters)"
        rows.append({"codec": record.codec, "config": record.config_hash[:SHORT], "dataset": record.dataset,
                     "quality": record.quality, "image": record.image, "device": record.device,
                     "weights": short_weights(record.weights) if record.weights else None, "error": error,
                     "created_at": record.created_at})
    parts.append(html_table(rows, ["codec", "config", "dataset", "quality", "image", "device", "weights", "error",
                                   "created_at"], caption="Failed records"))
    if len(failed) > MAX_FAILED_ROWS:
        parts.append(f'<p class="note">{len(failed) - MAX_FAILED_ROWS} more not listed here '
                     "(<code>rdbench results --failed</code> lists all).</p>")
    return "".join(parts)


def _join(values: Iterable[Any]) -> str | None:
    found = sorted({str(v) for v in values if v not in (None, "")})
    return ", ".join(found) if found else None


def _provenance_section(ctx: _Context, records: list[Record], about: dict[str, Any]) -> str:
    parts = ['<h2 id="provenance">Provenance</h2>',
             ('<p class="note">Where every number comes from: the measured runs (what rdbench, commit, codec '
              "library, machine and GPU produced them, and when) and each published or imported curve's source. "
              "The curve rule (docs/analysis.md) decides which configuration makes each measured "
              "curve.</p>")]
    parts.append("<h3>This report</h3>" + "<dl class=\"summary\">" + "".join(
        f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in about.items()) + "</dl>")
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
    parts.append(html_table(rows, _columns(rows), caption="Measured runs (every stored configuration of these codecs "
                                                          "on these datasets; 'in curves' says which the curves use)"))
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
    parts.append(html_table(curve_rows, _columns(curve_rows), caption="Curves drawn and compared"))
    return "".join(parts)


# -- the whole report ----------------------------------------------------------------------------


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii") + "'"


def _csp(script: str, style: str) -> str:
    """No request of any kind; only the report's own script and style block (by hash) apply."""
    return (f"default-src 'none'; img-src data:; style-src {_sha256(style)}; script-src {_sha256(script)}; "
            "base-uri 'none'; form-action 'none'")


def build_report(store: Store, anchor: str, *, codecs: Sequence[str] | None = None,
                 datasets: Sequence[str] | None = None, metrics: Sequence[str] | None = None,
                 method: str = "pchip", title: str | None = None, command: str | None = None,
                 bd_options: dict[str, Any] | None = None,
                 qualities: QualityChoice | Mapping[str, Iterable[str]] | Iterable[str] | None = None,
                 anchor_qualities: list[str] | None = None) -> str:
    """The report as one HTML document (a string). ``codecs`` default to every measured codec and
    imported curve on ``datasets``, which default to every dataset in the store; names and datasets are
    checked as ``rdbench bdrate`` checks them (usage errors with "did you mean"). ``qualities`` and
    ``anchor_qualities`` select the points of every table and figure as in
    :func:`rdbench.analysis.tables.bd_table` (the codecs', per codec or for all; the anchor's).
    ``bd_options`` go to :func:`rdbench.analysis.tables.bd_table` as they are (e.g. ``{"ci": 95}`` for
    bootstrap intervals)."""
    started = datetime.now(timezone.utc)
    wanted = resolve_datasets(store, list(datasets or [])) or stored_dataset_names(store)
    names = list(codecs) if codecs else default_names(store, wanted)
    names = [n for n in dict.fromkeys(names) if n != anchor]
    if not codecs:
        names = [n for n in names if n != split_name(anchor)[0]]
    choice = QualityChoice.of_value(qualities)
    if metrics is None:  # the built-ins and every declared plug-in metric the database has values of
        declared = metric_spec.registered()
        metrics = [*metric_spec.BUILTIN, *(m for m in store.metric_names() if m in declared)]
    ctx = _Context(store, anchor, names, wanted, [metric_spec.get(m).name for m in metrics], method,
                   explicit=bool(codecs))
    for metric in ctx.metrics:
        ctx.tables[metric] = bd_table(store, anchor, names, wanted, metric=metric, method=method, qualities=choice,
                                      anchor_qualities=anchor_qualities, **(bd_options or {}))
    drawn = {anchor}
    for metric in ctx.metrics:
        for dataset in wanted:
            for name in dict.fromkeys([*names, anchor]):
                found = (anchor_curve(store, name, dataset, metric, anchor_qualities)[0] if name == anchor
                         else resolve_curve(store, name, dataset, metric, choice.of(name)))
                if found is not None:
                    ctx.curves[(name, dataset, metric)] = found
                    drawn.add(name)
    ctx.complexity = _complexity_points(store, names, ctx.explicit)
    several_devices = len({p.device for p in ctx.complexity}) > 1
    # one assignment for every figure of the report: a codec has one colour and marker throughout
    ctx.styles = styles(drawn | {_complexity_label(p.codec, p.device, several_devices) for p in ctx.complexity})

    if ctx.explicit:
        stored = {g["codec"] for g in store.record_groups(datasets=wanted)}
        selections = [{"codec": n} for n in sorted({split_name(n)[0] for n in [*names, anchor]}) if n in stored]
        records = store.find_records(selections=selections, datasets=wanted) if selections else []
    else:
        records = store.find_records(datasets=wanted)
    failed = [r for r in records if not r.ok]
    from rdbench.run.environment import git_commit

    about = {
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
        "codecs": ", ".join(names) or "none",
        "datasets": ", ".join(wanted),
        "metrics": ", ".join(ctx.metrics),
        "qualities": choice.describe() or "all stored",
        "anchor qualities": ", ".join(anchor_qualities) if anchor_qualities else "all its points",
        "BD method": method,
    }
    body = [_bd_section(ctx), _curves_section(ctx), _spread_section(ctx)]
    complexity = _complexity_section(ctx)
    body.append(complexity)
    body.append(_failed_section(ctx, failed))
    body.append(_provenance_section(ctx, records, about))

    ok = sum(r.ok for r in records)
    heading = title or f"rdbench report: {', '.join(wanted)} vs {anchor}"
    contents = [("bdrate", "BD-rate"), ("curves", "RD curves"), ("spread", "Per-image spread")]
    if complexity:
        contents.append(("complexity", "Complexity"))
    contents += [("failed", f"Failed records ({len(failed)})"), ("provenance", "Provenance")]
    summary = {"database": str(store.path), "anchor": about["anchor"], "datasets": about["datasets"],
               "codecs": about["codecs"], "records": f"{ok} ok, {len(failed)} failed",
               "generated": f"{about['generated']} by {about['by']}"}
    script, style = _asset("report.js"), _asset("report.css")
    page = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{esc(_csp(script, style))}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta name="referrer" content="no-referrer">',
        f'<meta name="generator" content="rdbench {esc(__version__)}">',
        f"<title>{esc(heading)}</title>",
        f"<style>{style}</style></head><body>",
        f"<header><h1>{esc(heading)}</h1>",
        '<dl class="summary">' + "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in summary.items()) + "</dl>",
        "<nav><b>Contents</b><ol>" + "".join(f'<li><a href="#{i}">{esc(t)}</a></li>' for i, t in contents)
        + "</ol></nav></header>",
        "<main>", *body, "</main>",
        f"<script>{script}</script>",
        "</body></html>",
    ]
    return "\n".join(page)


def write_report(path: str | Path, html: str) -> Path:
    """Write the report atomically (a reader never sees half a file); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(html, encoding="utf-8")
    temporary.replace(path)
    return path
