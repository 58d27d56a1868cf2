"""`rdbench budget`: the CLIC protocol's corpus budgets, allocated over each codec's stored per-image points."""

from __future__ import annotations

import json

import click

from rdbench import metric_spec
from rdbench.analysis.budget import CLIC_BUDGETS
from rdbench.cli.options import db_option, format_option, split_csv

SUMMARY_COLUMNS = ["codec", "corpus_bpp", "images", "budget_bytes", "lagrangian_bytes", "lagrangian_psnr", "bytes",
                   "leftover_bytes", "bpp", metric_spec.PSNR.field, "psnr_bound", "exact", "note"]


@click.command(name="budget")
@click.option("--corpus-bpp", default=",".join(f"{b:g}" for b in CLIC_BUDGETS), show_default=True,
              metavar="BPP1,BPP2,...", help="Budgets in bits per pixel over the whole dataset (CLIC 2021-2024: "
              "0.075, 0.15, 0.3).")
@click.option("--codec", "codecs", required=True, help="Comma-separated codecs (NAME@HASH selects a configuration): "
              "several are compared at equal budgets.")
@click.option("--dataset", required=True, help="A stored dataset name.")
@format_option()
@db_option
def command(corpus_bpp, codecs, dataset, fmt, db) -> None:
    """Choose one stored quality per image so that the dataset's bytes fit each budget and its PSNR (from the
    total MSE over all pixels, as CLIC computes it) is highest: a Lagrangian allocation over each image's
    convex hull of measured points (docs/rate-matching.md). Run a dense sweep first (rdbench run).

    Prints, per codec and budget, the bytes against the budget: those of the Lagrangian allocation and its
    PSNR, then those of the final one (the bytes the Lagrangian walk left spent on smaller moves that still
    fit) with its bpp and PSNR (psnr_bound: no choice of the measured points does better at this budget;
    exact: the allocation is the best one), then the quality chosen for each image. --format json gives
    both, with each image's bytes and PSNR.
    """
    from rdbench.analysis.budget import corpus_budget
    from rdbench.analysis.catalogue import Catalogue
    from rdbench.analysis.dataset_names import resolve_datasets
    from rdbench.cli.formatting import render
    from rdbench.store.sqlite import Store

    with Store(db, readonly=True) as store:
        (name,) = resolve_datasets(Catalogue(store), [dataset], stored_only=True)
        allocations = corpus_budget(store, split_csv(codecs), name, split_csv(corpus_bpp))
    summary = [a.summary() for a in allocations]
    if fmt == "json":
        click.echo(json.dumps({"dataset": name, "summary": summary,
                               "allocation": [row for a in allocations for row in a.rows()]}, indent=1))
        return
    columns = [c for c in SUMMARY_COLUMNS if c != "note" or any(row["note"] for row in summary)]
    click.echo(render(summary, columns, fmt, title=f"{name}: corpus budgets", digits=4))
    wide: dict[str, dict[str, object]] = {}
    for allocation in allocations:
        for row in allocation.rows():
            wide.setdefault(row["image"], {"image": row["image"]})[
                f"{allocation.codec} @ {allocation.corpus_bpp:g}"] = row["quality"]
    heads = ["image", *(f"{a.codec} @ {a.corpus_bpp:g}" for a in allocations)]
    click.echo(render(list(wide.values()), heads, fmt, title="\nquality chosen per image (codec @ corpus bpp)"))
