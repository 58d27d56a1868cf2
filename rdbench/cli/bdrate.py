"""`rdbench bdrate`: BD-rate / BD-PSNR table against an anchor, measured and published codecs."""

from __future__ import annotations

import json
import math

import click

from rdbench.analysis.bdrate import METHODS
from rdbench.analysis.curves import known_names
from rdbench.analysis.tables import bd_table
from rdbench.cli.formatting import render
from rdbench.cli.options import db_option, format_option, split_csv
from rdbench.store.sqlite import Store


@click.command("bdrate")
@click.option("--anchor", required=True, help="Codec or published reference to compare against.")
@click.option("--codec", "codecs", default=None, help="Comma-separated codecs [default: all known].")
@click.option("--dataset", "datasets", default="kodak", show_default=True, help="Comma-separated datasets.")
@click.option("--metric", type=click.Choice(["psnr", "ms-ssim"]), default="psnr", show_default=True)
@click.option("--method", type=click.Choice(METHODS), default="pchip", show_default=True)
@click.option("--bd-psnr", "psnr_delta", is_flag=True, help="Report BD-PSNR (dB) instead of BD-rate (%).")
@format_option()
@db_option
def command(anchor, codecs, datasets, metric, method, psnr_delta, fmt, db):
    """BD-rate (%) of each codec vs ANCHOR, one column per dataset; NaN cells get a footnote."""
    from pathlib import Path

    store = Store(db, readonly=True) if Path(db).exists() else None
    names = split_csv(codecs) or sorted(known_names(store, split_csv(datasets)) - {anchor})
    table = bd_table(store, anchor, names, split_csv(datasets), metric=metric, method=method, psnr_delta=psnr_delta)
    unit = "BD-PSNR (dB)" if psnr_delta else "BD-rate (%)"
    if fmt == "json":
        rows = [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()} for r in table.rows]
        click.echo(json.dumps({"anchor": anchor, "anchor_info": table.anchor_info, "metric": metric,
                               "method": method, "unit": unit, "rows": rows, "notes": table.notes}, indent=1))
        return
    click.echo(render(table.rows, table.columns, fmt, title=f"{unit} vs {anchor} ({metric}, {method})", digits=3))
    if fmt != "csv":
        click.echo(table.anchor_info)
        for note in table.notes:
            click.echo(note)
