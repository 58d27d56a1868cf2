"""`rdbench report`: one self-contained HTML file with the BD-rate tables, RD curves, per-image spread,
complexity, failures and provenance of a results database."""

from __future__ import annotations

import shlex
import time
from pathlib import Path

import click

from rdbench import metric_spec
from rdbench.analysis.bdrate import METHODS
from rdbench.cli.bdrate import SELECTORS_HELP
from rdbench.cli.options import (
    aggregate_option,
    db_option,
    parse_qualities,
    quality_option,
    split_csv,
)
from rdbench.cli.paper_options import label_options, labels_of
from rdbench.errors import UsageError, did_you_mean
from rdbench.store.sqlite import Store


def _metrics(value: str) -> list[str] | None:
    """The metrics ``--metric`` names, metrics or sets such as ``jpeg-ai`` (None: every measured one,
    :func:`rdbench.analysis.report.build_report`'s default); unknown names are usage errors."""
    if value == "all":
        return None
    if value == "both":
        return list(metric_spec.BUILTIN)
    return [m.name for m in metric_spec.expand(value)]


def _averaged(value: str) -> list[str] | None:
    """The metrics the table over metrics averages: as ``bdrate --metric VALUE`` averages them (a set's
    averaged members, each metric named alone); None for 'all' and 'both', the report's own rule."""
    return None if value in ("all", "both") else metric_spec.averaged(value)


def _open(db: str) -> Store:
    path = Path(db)
    if not path.exists():
        folder = path.parent if str(path.parent) else Path(".")
        siblings = sorted(p.name for p in folder.glob("*") if p.is_file()) if folder.is_dir() else []
        raise UsageError(f"no results database at {db}{did_you_mean(path.name, siblings)}",
                         hint="measure codecs with `rdbench run` first, or pass the right --db")
    return Store(path, readonly=True)


def _command_line(anchor, codecs, datasets, qualities, anchor_qualities, metric, method, ci, out, db) -> str:
    """The command that writes this report again (recorded in its provenance)."""
    words = ["rdbench", "report", "--db", db, "--anchor", anchor]
    for value in qualities:
        words += ["--quality", value]
    for option, value in (("--codec", codecs), ("--dataset", datasets), ("--anchor-qualities", anchor_qualities),
                          ("--metric", metric if metric != "all" else None),
                          ("--method", method if method != "pchip" else None), ("--ci", ci), ("--out", out)):
        if value:
            words += [option, value]
    return " ".join(shlex.quote(str(w)) for w in words)


@click.command("report", epilog=SELECTORS_HELP)
@click.option("--anchor", required=True, help="Codec or published reference the BD-rates are against.")
@click.option("--codec", "codecs", default=None,
              help="Comma-separated codecs or references [default: every measured codec and imported curve].")
@click.option("--dataset", "datasets", default=None,
              help="Comma-separated datasets [default: every dataset in the database].")
@quality_option("only these stored points make the measured codecs' curves, in every table and figure, "
                "not the anchor's (see --anchor-qualities) [default: all]")
@click.option("--anchor-qualities", "anchor_qualities", default=None,
              help="Comma-separated qualities (QPs) of the anchor's points to use, as in `rdbench bdrate` "
                   "[default: all its points].")
@click.option("--metric", default="all", show_default=True,
              help="Comma-separated metrics or sets (jpeg-ai), 'both' (PSNR and MS-SSIM) or 'all' (them and every "
                   "plug-in metric the database has values of). With two or more, the report opens with the table "
                   "over metrics (mean per-image BD-rates and their average, as bdrate --metric a,b).")
@click.option("--method", type=click.Choice(METHODS), default="pchip", show_default=True)
@click.option("--ci", type=click.FloatRange(0, 100, min_open=True, max_open=True), default=None,
              help="Level (%) of the bootstrap interval over images of each BD-rate whose curves are both measured "
                   "per image [default: 95].")
@click.option("--title", default=None, help="Heading of the report [default: datasets and anchor].")
@click.option("--out", type=click.Path(dir_okay=False), default="results/report.html", show_default=True,
              help="The HTML file to write.")
@click.option("--open", "open_browser", is_flag=True, help="Open the report in the default web browser.")
@aggregate_option()
@label_options
@db_option
def command(anchor, codecs, datasets, qualities, anchor_qualities, metric, method, ci, title, out, open_browser, aggregate,
            label_pairs, labels_file, db):
    """Write ONE self-contained HTML report (opens offline; nothing is fetched).

    It holds, with several metrics, the table over metrics (mean per-image BD-rates and their
    average, as `rdbench bdrate --metric a,b`); the BD-rate table per metric (overlap, footnotes), RD curves per dataset and metric
    (hover a point for codec, quality, bpp and value), the per-image spread, complexity figures when
    the database has `rdbench complexity` points, the failed records with their errors, and the
    provenance of every number. Tables sort by a click on a column header. The database is only read.
    """
    from rdbench.analysis.report import build_report, write_report

    started = time.perf_counter()
    choice = parse_qualities(qualities)
    if anchor_qualities is not None and not split_csv(anchor_qualities):
        raise UsageError("--anchor-qualities names no quality", hint="leave it out to use every point of the anchor")
    from rdbench.analysis.aggregate import aggregation

    bd_options: dict = {"aggregate": aggregate, "ci": ci if ci is not None else 95.0}
    labels = labels_of(label_pairs, labels_file)
    store = _open(db)
    try:
        with aggregation(aggregate):  # every curve and table of the report under one convention, stated in each table
            html = build_report(store, anchor, codecs=split_csv(codecs) or None,
                                datasets=split_csv(datasets) or None, metrics=_metrics(metric), method=method,
                                title=title, bd_options=bd_options, qualities=choice,
                                anchor_qualities=split_csv(anchor_qualities) or None,
                                command=_command_line(anchor, codecs, datasets, qualities, anchor_qualities, metric,
                                                      method, ci, out, db) + f" --aggregate {aggregate}"
                                + "".join(f" --label {shlex.quote(p)}" for p in label_pairs)
                                + (f" --labels {shlex.quote(labels_file)}" if labels_file else ""), labels=labels,
                                averaged=_averaged(metric))
    finally:
        store.close()
    path = write_report(out, html)
    size = path.stat().st_size
    click.echo(f"wrote {path} ({size / 1024:.0f} KiB) in {time.perf_counter() - started:.1f} s")
    if open_browser:
        import webbrowser

        if not webbrowser.open(path.resolve().as_uri()):
            click.echo(f"note: no web browser could be started here; open {path.resolve()} yourself", err=True)
