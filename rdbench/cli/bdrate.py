"""`rdbench bdrate`: BD-rate / BD-PSNR table against an anchor, measured and published codecs."""

from __future__ import annotations

import json
import math

import click

from rdbench.analysis.bdrate import METHODS
from rdbench.analysis.curves import (
    check_qualities,
    known_names,
    resolve_datasets,
    split_name,
)
from rdbench.analysis.tables import bd_table
from rdbench.cli.formatting import render
from rdbench.cli.options import db_option, format_option, split_csv
from rdbench.store.sqlite import Store

SELECTORS_HELP = ("A measured codec may be named NAME@HASH (a configuration hash prefix), NAME@cpu / NAME@cuda "
                  "(a device) or NAME@WEIGHTS (a weights id prefix); NAME@imported is the imported curve of that name.")


@click.command("bdrate", epilog=SELECTORS_HELP)
@click.option("--anchor", required=True, help="Codec or published reference to compare against.")
@click.option("--codec", "codecs", default=None, help="Comma-separated codecs [default: all known].")
@click.option("--dataset", "datasets", default="kodak", show_default=True,
              help="Comma-separated datasets (a stored name, a registered dataset, or an image folder).")
@click.option("--quality", "qualities", default=None,
              help="Comma-separated qualities: only these points make measured curves [default: all].")
@click.option("--metric", type=click.Choice(["psnr", "ms-ssim"]), default="psnr", show_default=True)
@click.option("--method", type=click.Choice(METHODS), default="pchip", show_default=True)
@click.option("--bd-psnr", "psnr_delta", is_flag=True, help="Report BD-PSNR (dB) instead of BD-rate (%).")
@format_option()
@db_option
def command(anchor, codecs, datasets, qualities, metric, method, psnr_delta, fmt, db):
    """BD-rate (%) of each codec vs ANCHOR, one column per dataset; NaN cells get a footnote.

    The `config` column says which stored configuration made each measured curve (rule: the
    only one stored, else the codec's current one, else refused; see README "Analysis").
    """
    from pathlib import Path

    store = Store(db, readonly=True) if Path(db).exists() else None
    wanted = resolve_datasets(store, split_csv(datasets))
    quality_list = split_csv(qualities) or None
    names = split_csv(codecs) or sorted(known_names(store, wanted) - {anchor, split_name(anchor)[0]})
    if quality_list:
        check_qualities(store, [*names, anchor], wanted, quality_list)
    table = bd_table(store, anchor, names, wanted, metric=metric, method=method, psnr_delta=psnr_delta,
                     qualities=quality_list)
    unit = "BD-PSNR (dB)" if psnr_delta else "BD-rate (%)"
    if fmt == "json":
        rows = [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()} for r in table.rows]
        click.echo(json.dumps({"anchor": anchor, "anchor_info": table.anchor_info, "metric": metric,
                               "method": method, "unit": unit, "qualities": quality_list, "rows": rows,
                               "notes": table.notes, "info": table.info, "curves": table.curves},
                              indent=1, allow_nan=False))
        return
    title = f"{unit} vs {anchor} ({metric}, {method})" + (f", quality {', '.join(quality_list)}" if quality_list else "")
    if fmt == "csv":  # rows only; what a reader must know goes to stderr
        click.echo(render(table.rows, table.columns, fmt))
        for line in [table.anchor_info, *table.notes, *(f"note: {i}" for i in table.info)]:
            click.echo(line, err=True)
        return
    click.echo(render(table.rows, table.columns, fmt, title=title, digits=3, marks=table.marks,
                      notes=[table.anchor_info, *table.notes, *(f"note: {i}" for i in table.info)]))
