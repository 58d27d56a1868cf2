"""`rdbench export`: measured runs as CompressAI result JSON (round-trips through `rdbench import`)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from rdbench.cli.options import db_option, split_csv
from rdbench.errors import UsageError


@click.command("export")
@click.option("--codec", "codecs", default=None,
              help="Comma-separated measured codecs, NAME or NAME@HASH / NAME@DEVICE [default: all].")
@click.option("--dataset", "datasets", default=None, help="Comma-separated datasets [default: all].")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None,
              help="Write OUT/<codec>__<dataset>.json for every pair [default: print the single pair to stdout].")
@db_option
def command(codecs, datasets, out_dir, db):
    """Write measured codecs in CompressAI's schema: mean of per-image values per quality.

    Which records make each curve follows the rule of `rdbench bdrate` (the only configuration
    stored, else the codec's current one, else refused); the file's description and its
    "rdbench" entry name the configuration, weights and device.
    """
    from rdbench.analysis.export_runs import compressai_results, exportable
    from rdbench.store.sqlite import Store

    with Store(db, readonly=True) as store:
        pairs = exportable(store, split_csv(codecs), split_csv(datasets))
        if not pairs:
            raise UsageError("no measured codec matches --codec/--dataset",
                             hint="see what is stored with `rdbench results`")
        if out_dir is None and len(pairs) > 1:
            raise UsageError(f"{len(pairs)} codec/dataset pairs match; stdout takes one",
                             hint="narrow --codec and --dataset, or pass --out DIR")
        docs = [(c, d, compressai_results(store, c, d)) for c, d in pairs]
    for _, _, doc in docs:
        for note in doc["rdbench"]["notes"]:
            click.echo(f"note: {note}", err=True)
    if out_dir is None:
        click.echo(json.dumps(docs[0][2], indent=1, allow_nan=False))
        return
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    for codec, dataset, doc in docs:
        path = Path(out_dir) / f"{codec}__{dataset}.json"
        path.write_text(json.dumps(doc, indent=1, allow_nan=False) + "\n")
        click.echo(str(path))
