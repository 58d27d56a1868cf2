"""`rdbench plot`: RD curves per dataset for measured and published codecs; per-image and complexity views."""

from __future__ import annotations

from pathlib import Path

import click

from rdbench.analysis.curves import (
    curve,
    known_names,
    measured_curve,
    per_image_curves,
    published_names,
)
from rdbench.analysis.plots import plot_per_image, plot_rd
from rdbench.cli.options import db_option, split_csv
from rdbench.errors import UsageError
from rdbench.store.sqlite import Store


@click.command("plot")
@click.option("--codec", "codecs", default=None, help="Comma-separated codecs or references [default: measured].")
@click.option("--dataset", "datasets", default="kodak", show_default=True, help="Comma-separated datasets.")
@click.option("--metric", type=click.Choice(["psnr", "ms-ssim"]), default="psnr", show_default=True)
@click.option("--anchor", default=None, help="Codec drawn highlighted.")
@click.option("--per-image", is_flag=True, help="Per-image RD curves of measured codecs (spread around the mean).")
@click.option("--complexity", is_flag=True,
              help="Time, memory and FLOPs against image size from `rdbench complexity` points in the store.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default="results/plots", show_default=True)
@click.option("--ext", type=click.Choice(["png", "svg", "pdf"]), default="png", show_default=True)
@db_option
def command(codecs, datasets, metric, anchor, per_image, complexity, out_dir, ext, db):
    """One RD figure per dataset: OUT/rd_<dataset>_<metric>.<ext>.

    --per-image writes OUT/rd_<dataset>_<metric>_per_image.<ext>; --complexity writes
    OUT/complexity.<ext>.
    """
    if per_image and complexity:
        raise UsageError("--per-image and --complexity draw different figures", hint="pass one of them per call")
    store = Store(db, readonly=True) if Path(db).exists() else None
    if complexity:
        _complexity(store, split_csv(codecs), Path(out_dir) / f"complexity.{ext}")
        return
    published = set(published_names(store))
    if per_image:
        if store is None:
            raise UsageError(f"no results database at {db}",
                             hint="per-image plots need runs measured with `rdbench run`")
        names = split_csv(codecs) or sorted(known_names(store, split_csv(datasets)) - published)
        for dataset in split_csv(datasets):
            images = {n: c for n in names if (c := per_image_curves(store, n, dataset, metric))}
            means = {n: measured_curve(store, n, dataset, metric) or [] for n in images}
            path = plot_per_image(images, means, Path(out_dir) / f"rd_{dataset}_{metric}_per_image.{ext}",
                                  title=f"{dataset}, per image", metric=metric)
            click.echo(str(path))
        return
    names = split_csv(codecs) or sorted(known_names(store, split_csv(datasets)) - published)
    if anchor and anchor not in names:
        names.append(anchor)
    for dataset in split_csv(datasets):
        curves = {n: c for n in names if (c := curve(store, n, dataset, metric))}
        path = plot_rd(curves, Path(out_dir) / f"rd_{dataset}_{metric}.{ext}", title=dataset, metric=metric,
                       published=published, anchor=anchor)
        click.echo(str(path))


def _complexity(store: Store | None, codecs: list[str], path: Path) -> None:
    from rdbench.analysis.complexity import plot_complexity

    points = store.complexity_points(codecs or None) if store is not None else []
    if not points:
        which = f" for {', '.join(codecs)}" if codecs else ""
        raise UsageError(f"no complexity points in the results database{which}",
                         hint="measure them with `rdbench complexity --codec NAME`")
    path.parent.mkdir(parents=True, exist_ok=True)
    click.echo(str(plot_complexity(points, path)))
