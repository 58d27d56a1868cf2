"""`rdbench import`: add published RD curves (CompressAI or {bpp, psnr} JSON) to the results database."""

from __future__ import annotations

import click

from rdbench.cli.options import db_option, split_csv
from rdbench.errors import plural


@click.command("import")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--name", default=None,
              help="Name to address the curve by [default: the file's name field, else its stem].")
@click.option("--dataset", default=None, help="Dataset the points are for [default: the file's dataset field].")
@click.option("--metric", "metrics", default=None,
              help="Comma-separated metrics to keep: psnr, ms-ssim [default: all the file has].")
@click.option("--replace", is_flag=True,
              help="Overwrite a curve of the same name and dataset imported from another file.")
@db_option
def command(files, name, dataset, metrics, replace, db):
    """Import FILES as published curves usable by `bdrate` and `plot`, with their provenance.

    \b
    Accepted JSON:
      CompressAI  {"name", "description", "results": {"bpp", "psnr-rgb", "ms-ssim-rgb", ...}}
      simple      {"bpp": [...], "psnr": [...]}  or  [{"bpp": 0.2, "psnr": 30.1}, ...]
    """
    from rdbench.analysis.import_curves import import_curves
    from rdbench.store.sqlite import Store

    with Store(db) as store:
        done = import_curves(store, list(files), name=name, dataset=dataset, metrics=split_csv(metrics) or None,
                             replace=replace)
    for row in done:
        if row["status"] == "unchanged":
            click.echo(f"already imported {row['name']} on {row['dataset']} from {row['source_file']} "
                       f"sha256 {row['sha256'][:12]}: nothing changed")
            continue
        verb = "imported" if row["status"] == "imported" else f"replaced (was from {row['previous_source']})"
        click.echo(f"{verb} {row['name']} on {row['dataset']}: {plural(row['points'], 'point')} "
                   f"({', '.join(row['metrics'])}) from {row['source_file']} sha256 {row['sha256'][:12]}")
