"""`rdbench bdrate`: BD-rate / BD-PSNR table across codecs and datasets, with what each value rests on."""

from __future__ import annotations

import json
import math
import sys
from typing import Any

import click

from rdbench import metric_spec
from rdbench.analysis import bd_format
from rdbench.analysis.anchor_points import DEFAULT_STEPS
from rdbench.analysis.bdrate import METHODS, BdRateError, parse_interval
from rdbench.analysis.bootstrap import (
    DEFAULT_RESAMPLES,
    DEFAULT_SEED,
    MIN_RESAMPLES,
    MIN_TAIL_RESAMPLES,
)
from rdbench.analysis.catalogue import Catalogue
from rdbench.analysis.curve_names import split_name
from rdbench.analysis.dataset_names import resolve_datasets
from rdbench.analysis.metric_average import AVERAGE, average_notes, metric_average
from rdbench.analysis.metrics_paper_table import metrics_paper_table
from rdbench.analysis.name_checks import known_names, listed_once
from rdbench.analysis.paper_table import paper_table
from rdbench.analysis.tables import BdTable, bd_table
from rdbench.cli.formatting import render
from rdbench.cli.options import (
    FORMATS,
    aggregate_option,
    db_option,
    format_option,
    parse_qualities,
    quality_option,
    split_csv,
)
from rdbench.cli.paper_options import paper_options, paper_request
from rdbench.errors import UsageError

SELECTORS_HELP = ("A measured codec may be named NAME@HASH (a configuration hash prefix), NAME@cpu / NAME@cuda "
                  "(a device) or NAME@WEIGHTS (a weights id prefix); NAME@imported is the imported curve of that name.")

EPILOG = SELECTORS_HELP + (
    " What is computed by default and why, and how the options below move the MLIC figures: docs/bd-rate.md.")


def _clean(value: Any) -> Any:
    """JSON-safe copy: NaN -> null, infinities -> "inf"/"-inf", recursively."""
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return value
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


@click.command("bdrate", epilog=EPILOG)
@click.option("--anchor", required=True, help="Codec or published reference to compare against.")
@click.option("--codec", "codecs", default=None, help="Comma-separated codecs [default: all known].")
@click.option("--dataset", "datasets", default="kodak", show_default=True,
              help="Comma-separated datasets (a stored name, a registered dataset, or an image folder).")
@quality_option("only these stored points make the measured codecs' curves, not the anchor's (see "
                "--anchor-qualities) [default: all]")
@click.option("--anchor-qualities", "anchor_qualities", default=None,
              help="Comma-separated qualities (QPs) of the anchor's points to use, e.g. 22,27,32,37: a measured "
                   "anchor, or a shipped curve that carries its QPs (vtm18-published QP 15..50, vtm17-rdbench "
                   "QP 22..47) [default: all its points].")
@click.option("--interval", "interval_text", default=None, metavar="LO:HI",
              help="Integrate only over this quality range (dB; an end may be left out, e.g. 30: ), within each "
                   "pair's overlap. With --bd-psnr: the rates over which the anchor spans it.")
@click.option("--metric", default=metric_spec.DEFAULT, show_default=True, metavar="NAME[,NAME|SET]",
              help="The metric compared (any declared metric: docs/metrics.md); several (comma-separated) or a set "
                   "(jpeg-ai) print one table per metric and the average over metrics of the mean per-image BD-rates, "
                   "as JPEG AI reports it.")
@click.option("--method", type=click.Choice(METHODS), default="pchip", show_default=True)
@click.option("--bd-psnr", "kind", flag_value="quality", default="rate", help="Report BD-PSNR (dB) instead of BD-rate (%).")
@click.option("--per-image", is_flag=True,
              help="Also each image's BD value (that image's curve against the anchor's on it) where codec and "
                   "anchor are measured on the same images, with median and spread per cell.")
@click.option("--ci", "ci", type=float, default=None, metavar="LEVEL",
              help="Add a LEVEL % bootstrap confidence interval (e.g. 95): images resampled with replacement, "
                   "paired between codec and anchor, both mean curves and the value recomputed.")
@click.option("--bootstrap", "resamples", type=int, default=None,
              help=f"Resamples of --ci [default: {DEFAULT_RESAMPLES}; at least {MIN_RESAMPLES}, and "
                   f"{MIN_TAIL_RESAMPLES} beyond each end of the interval: 400 at --ci 95, 2000 at --ci 99].")
@click.option("--seed", type=int, default=None,
              help=f"Random seed of --ci, a non-negative integer [default: {DEFAULT_SEED}, fixed].")
@click.option("--sensitivity", is_flag=True,
              help="Also how each value moves as the anchor's lowest-rate and highest-rate points are dropped one "
                   "at a time, and under the JVET QPs 22,27,32,37.")
@click.option("--sensitivity-steps", "steps", type=click.IntRange(1, 50), default=None,
              help=f"Points dropped from each end by --sensitivity [default: {DEFAULT_STEPS}, fewer when the anchor "
                   "has fewer to spare].")
@click.option("--points", type=click.Choice(["sweep", "matched"]), default="sweep", show_default=True,
              help="sweep: each codec's curve through its qualities' means; matched: through its means at the "
                   "target rates of `rdbench run --target-bpp` (docs/rate-matching.md).")
@click.option("--rate-tolerance", type=float, default=None, metavar="PERCENT",
              help="With --points matched: the choices searched to this tolerance (default: each codec's latest).")
@aggregate_option()
@format_option(choices=(*FORMATS, "html"))
@paper_options
@click.option("--per-metric", "per_metric", is_flag=True,
              help="Paper table of several metrics: also each metric's own paper table (BD-rate between mean "
                   "curves, with --columns and --average), after the table over metrics.")
@db_option
def command(anchor, codecs, datasets, qualities, anchor_qualities, interval_text, metric, method, kind,
            per_image, ci, resamples, seed, sensitivity, steps, points, rate_tolerance, aggregate, fmt, columns,
            label_pairs, labels_file, average, per_metric, db):
    """BD-rate (%) of each codec vs ANCHOR, one column per dataset; NaN cells get a footnote.

    Exit status 1 when every cell is NaN (nothing could be compared: the footnotes say why), 2 on a
    usage error.

    Next to each value: `overlap` (share of the joint range both curves cover on the integrated
    axis: quality for BD-rate, log rate for --bd-psnr), `interp` (an interpolation-error
    estimate; a value whose magnitude is below it is flagged) and `interval`
    (the quality range actually integrated and the anchor's rates at its ends, and the codec's
    number of points); the anchor's supporting points are listed under the table. The `config`
    column says which stored configuration made each measured curve (rule: the only one stored,
    else the codec's current one, else refused; see docs/analysis.md).

    \b
    --format json: one object with `cells` (one per codec and dataset: value, overlap, interval,
    anchor_points, interp_error, and with --ci ci_low, ci_high, n_images), the wide `rows`, and
    with --per-image / --sensitivity the `per_image`, `per_image_summary` and `sensitivity` lists.
    --format csv prints one table: the wide one, or the per-image or sensitivity rows when asked.

    \b
    Paper tables (docs/paper-output.md): --columns, --label, --labels or --average (and --format html)
    print the table as it goes into a paper, in latex (booktabs), markdown or html: display names,
    "value [low, high]" cells, the best value per column in bold, a caption with the protocol. With
    several metrics: one table, a column per metric and the average over metrics (--per-metric: and
    each metric's table after it).
    """
    _check_options(ci, resamples, seed, steps, sensitivity, per_image, fmt, rate_tolerance, points)
    paper = paper_request(fmt, columns, label_pairs, labels_file, average, per_image, sensitivity)
    chosen = [m.name for m in metric_spec.expand(metric)]
    several = len(chosen) > 1
    _check_per_metric(paper, several, per_metric, columns, ci, kind)
    if points == "matched":
        _matched(anchor, codecs, datasets, metric, method, kind, rate_tolerance, fmt, db,
                 other=qualities or anchor_qualities or interval_text or per_image or ci is not None or sensitivity
                 or paper is not None or aggregate != "image-mean" or "," in metric or metric in metric_spec.SETS)
        return
    try:
        interval = parse_interval(interval_text)
    except BdRateError as exc:
        raise UsageError(str(exc), hint=exc.hint) from None
    catalogue = Catalogue.open(db)
    wanted = resolve_datasets(catalogue, split_csv(datasets))
    choice = parse_qualities(qualities)
    if anchor_qualities is not None and not split_csv(anchor_qualities):
        raise UsageError("--anchor-qualities names no quality", hint="leave it out to use every point of the anchor")
    anchor_list = split_csv(anchor_qualities) or None
    names = split_csv(codecs) or sorted(listed_once(catalogue, known_names(catalogue, wanted), anchor) - {anchor, split_name(anchor)[0]})

    def table_of(name: str) -> BdTable:
        return bd_table(catalogue, anchor, names, wanted, metric=name, method=method, kind=kind,
                        qualities=choice, anchor_qualities=anchor_list, interval=interval, ci=ci,
                        resamples=DEFAULT_RESAMPLES if resamples is None else resamples,
                        seed=DEFAULT_SEED if seed is None else seed, per_image=per_image or several,
                        sensitivity=sensitivity, sensitivity_steps=DEFAULT_STEPS if steps is None else steps,
                        aggregate=aggregate)

    tables = {name: table_of(name) for name in chosen}
    averaged = metric_spec.averaged(metric) if several else []
    over_metrics = metric_average(tables, averaged) if several and kind == "rate" else []
    unit = bd_format.value_label(kind)
    if paper is not None:
        click.echo(_paper_output(tables, averaged, paper, fmt, average, per_metric or not over_metrics))
    elif fmt == "json":
        outs = [_json_of(table, anchor, name, method, unit, choice, anchor_list, interval, per_image, sensitivity)
                for name, table in tables.items()]
        document = outs[0] if not several else _several_json(outs, anchor, chosen, method, unit, aggregate,
                                                               averaged, over_metrics)
        click.echo(json.dumps(_clean(document), indent=1, allow_nan=False))
    else:
        for index, (name, table) in enumerate(tables.items()):
            title = bd_format.title(table, name, method, choice.describe() if choice else None, anchor_list, interval,
                                    interval_text) + ("" if aggregate == "image-mean" else f", aggregate {aggregate}")
            if index:
                click.echo("")
            _print_text(table, fmt, title, per_image, sensitivity)
        if over_metrics:
            _print_average(over_metrics, averaged, [n for n in chosen if n not in averaged], method, anchor, fmt)
    if all(table.cells and all(math.isnan(cell.value) for cell in table.cells) for table in tables.values()):
        # exit 0 would let a script take a table of NaN for a result; the footnotes above say why each is NaN
        click.echo(f"error: no {unit} could be computed: every cell is NaN (see the reasons above)", err=True)
        sys.exit(1)


def _check_options(ci: float | None, resamples: int | None, seed: int | None, steps: int | None,
                   sensitivity: bool, per_image: bool, fmt: str, rate_tolerance: float | None, points: str) -> None:
    """Options that only make sense with another one, refused before anything is read."""
    if ci is None and (resamples is not None or seed is not None):
        raise UsageError("--bootstrap and --seed set the resampling of a confidence interval",
                         hint="add --ci 95 (or another level in percent)")
    if steps is not None and not sensitivity:
        raise UsageError("--sensitivity-steps sets the study of --sensitivity", hint="add --sensitivity")
    if fmt == "csv" and per_image and sensitivity:
        raise UsageError("--format csv prints one table: ask for --per-image or --sensitivity",
                         hint="or use --format json, which holds both")
    if rate_tolerance is not None and points != "matched":
        raise UsageError("--rate-tolerance chooses among matched points", hint="add --points matched")


def _check_per_metric(paper: dict[str, Any] | None, several: bool, per_metric: bool, columns: str | None,
                      ci: float | None, kind: str) -> None:
    """The table over metrics shows one value per metric and codec, the mean of per-image BD-rates: the
    columns and interval of the per-metric tables belong to those (``--per-metric``)."""
    if per_metric and (paper is None or not several):
        raise UsageError("--per-metric adds each metric's paper table to the table over several metrics",
                         hint="name several metrics (--metric a,b or a set) with --format latex|markdown|html")
    if paper is None or not several or per_metric or kind != "rate":
        return
    if columns is not None and [c.strip() for c in columns.split(",") if c.strip()] != ["value"]:
        raise UsageError("the table over metrics shows one value per metric (the mean of per-image BD-rates), "
                         f"not --columns {columns}", hint="add --per-metric to print each metric's table with them")
    if ci is not None:
        raise UsageError("the table over metrics has no bootstrap interval (--ci)",
                         hint="add --per-metric to print each metric's table with it")


def _paper_output(tables: dict[str, BdTable], averaged: list[str], paper: dict[str, Any], fmt: str,
                  average: bool, per_metric: bool) -> str:
    """The paper tables: over several metrics the table JPEG AI papers print (a column per metric and
    the average), then, where asked (or with one metric, or BD-PSNR), each metric's own table."""
    blocks = []
    if len(tables) > 1 and next(iter(tables.values())).kind == "rate":
        blocks.append(metrics_paper_table(tables, averaged, labels=paper["labels"]).render(fmt))
    if per_metric:
        blocks += [paper_table(table, columns=paper["columns"], labels=paper["labels"], average=average,
                               label=f"tab:bd-{name}" if len(tables) > 1 else "tab:bd").render(fmt)
                   for name, table in tables.items()]
    return "\n\n".join(blocks)


def _several_json(outs: list[dict[str, Any]], anchor: str, chosen: list[str], method: str, unit: str,
                  aggregate: str, averaged: list[str], over_metrics: list[dict[str, Any]]) -> dict[str, Any]:
    """The JSON document of several metrics' tables (``--metric a,b`` or a set), with their average."""
    document: dict[str, Any] = {"anchor": anchor, "metrics": chosen, "method": method, "unit": unit,
                                "aggregation": aggregate, "tables": outs}
    if over_metrics:
        document.update(averaged=averaged, average=over_metrics,
                        average_notes=average_notes(over_metrics, averaged, method))
    return document


def _json_of(table: BdTable, anchor: str, metric: str, method: str, unit: str, choice: Any,
             anchor_list: list[str] | None, interval: Any, per_image: bool, sensitivity: bool) -> dict[str, Any]:
    """One metric's table as the JSON document ``--format json`` prints for it."""
    out: dict[str, Any] = {
        "anchor": anchor, "anchor_info": table.anchor_info, "metric": metric, "method": method, "unit": unit,
        "aggregation": table.aggregation, "qualities": list(choice.every) if choice.every else None,
        "qualities_per_codec": dict(choice.named), "anchor_qualities": anchor_list,
        "interval": list(interval) if interval else None, "cells": [c.to_json() for c in table.cells],
        "rows": table.rows, "protocol": table.protocol, "notes": table.notes, "info": table.info,
        "curves": table.curves}
    if per_image:
        out.update(per_image=table.per_image, per_image_summary=table.per_image_summary)
    if sensitivity:
        out["sensitivity"] = table.sensitivity
    return out


def _print_average(rows: list[dict[str, Any]], averaged: list[str], others: list[str], method: str, anchor: str,
                   fmt: str) -> None:
    """The average over metrics (:mod:`rdbench.analysis.metric_average`), with what it leaves out."""
    columns = ["codec", "dataset", AVERAGE, "metrics", *averaged, *others]
    notes = average_notes(rows, averaged, method)
    if fmt == "csv":
        click.echo(render(rows, columns, fmt))
        for line in notes:
            click.echo(line, err=True)
        return
    click.echo("")
    click.echo(render(rows, columns, fmt, digits=3, notes=notes,
                      title=f"BD-rate (%) vs {anchor}: average over metrics of the mean per-image BD-rates"))


def _print_text(table: BdTable, fmt: str, title: str, per_image: bool, sensitivity: bool) -> None:
    """The table (or csv) and what a reader must know under it."""
    unit = bd_format.value_label(table.kind)
    if fmt == "csv":  # one table; what a reader must know goes to stderr
        if per_image:
            click.echo(render(bd_format.per_image_rows(table), bd_format.PER_IMAGE_COLUMNS, fmt))
        elif sensitivity:
            click.echo(render(bd_format.sensitivity_rows(table), bd_format.SENSITIVITY_COLUMNS, fmt))
        else:
            click.echo(render(table.rows, table.columns, fmt))
        for line in table.all_notes():
            click.echo(line, err=True)
        return
    blocks = [render(table.rows, table.columns, fmt, title=title, digits=3, marks=table.marks,
                     notes=table.all_notes())]
    if per_image:
        blocks.append(render(bd_format.per_image_rows(table), bd_format.PER_IMAGE_COLUMNS, fmt, digits=3,
                             title=f"{unit} per image (each image's curve vs the anchor's on that image)"))
        blocks.append(render(bd_format.summary_rows(table), bd_format.SUMMARY_COLUMNS, fmt, digits=3,
                             title=f"{unit} per image: median and spread (quartiles q1, q3) per codec and dataset; "
                                   "mean curve: the value of the table above"))
    if sensitivity:
        blocks.append(render(bd_format.sensitivity_rows(table), bd_format.SENSITIVITY_COLUMNS, fmt, digits=3,
                             title=f"{unit}: sensitivity to the anchor's points (change: pp against all points)"))
    click.echo("\n\n".join(blocks))


def _matched(anchor: str, codecs: str | None, datasets: str, metric: str, method: str, kind: str,
             rate_tolerance: float | None, fmt: str, db: str, other: bool) -> None:
    """``--points matched``: BD values through the means at the target rates."""
    from pathlib import Path

    from rdbench.analysis.targets import (
        MATCHED_BD_COLUMNS,
        matched_bd_rows,
        target_rows,
    )
    from rdbench.run.rate_match import check_tolerance
    from rdbench.store.sqlite import Store

    if other:
        raise UsageError("--points matched takes --anchor, --codec, --dataset, one --metric, --method, --bd-psnr and "
                         "--rate-tolerance only")
    tolerance = None if rate_tolerance is None else check_tolerance(rate_tolerance)
    if not Path(db).exists():
        raise UsageError(f"no results database at {db}")
    with Store(db, readonly=True) as store:
        wanted = resolve_datasets(Catalogue(store), split_csv(datasets), stored_only=True)
        names = split_csv(codecs) or sorted({row["codec"] for row in target_rows(store)} - {anchor})
        rows = matched_bd_rows(store, anchor, names, wanted, metric=metric, method=method, kind=kind,
                               tolerance=tolerance)
    if fmt == "json":
        click.echo(json.dumps(_clean({"anchor": anchor, "points": "matched", "metric": metric, "method": method,
                                      "unit": bd_format.value_label(kind), "rows": rows}), indent=1, allow_nan=False))
    else:
        click.echo(render(rows, MATCHED_BD_COLUMNS, fmt, digits=3,
                          title=f"{bd_format.value_label(kind)} vs {anchor} through the matched points ({metric})"))
    if rows and all(math.isnan(row["value"]) for row in rows):
        click.echo("error: no value could be computed (see the notes above)", err=True)
        sys.exit(1)

