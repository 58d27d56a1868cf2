"""`rdbench plot`: RD curves per dataset for measured and published codecs."""

from __future__ import annotations

from pathlib import Path

import click

from rdbench.commands.options import db_option, split_csv
from rdbench.plots import plot_rd
from rdbench.references import list_references
from rdbench.store import Store
from rdbench.tables import curve, known_names


@click.command("plot")
@click.option("--codec", "codecs", default=None, help="Comma-separated codecs or references [default: measured].")
@click.option("--dataset", "datasets", default="kodak", show_default=True, help="Comma-separated datasets.")
@click.option("--metric", type=click.Choice(["psnr", "ms-ssim"]), default="psnr", show_default=True)
@click.option("--anchor", default=None, help="Codec drawn highlighted.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default="results/plots", show_default=True)
@click.option("--ext", type=click.Choice(["png", "svg", "pdf"]), default="png", show_default=True)
@db_option
def command(codecs, datasets, metric, anchor, out_dir, ext, db):
    """One RD figure per dataset: OUT/rd_<dataset>_<metric>.<ext>."""
    store = Store(db, readonly=True) if Path(db).exists() else None
    published = set(list_references())
    names = split_csv(codecs) or sorted(known_names(store, split_csv(datasets)) - published)
    if anchor and anchor not in names:
        names.append(anchor)
    for dataset in split_csv(datasets):
        curves = {n: c for n in names if (c := curve(store, n, dataset, metric))}
        path = plot_rd(curves, Path(out_dir) / f"rd_{dataset}_{metric}.{ext}", title=dataset, metric=metric,
                       published=published, anchor=anchor)
        click.echo(str(path))
