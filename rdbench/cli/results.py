"""`rdbench results`: print what the results database holds."""

from __future__ import annotations

import click

from rdbench.cli.options import db_option, format_option, split_csv

PER_IMAGE_COLUMNS = ["codec", "quality", "dataset", "image", "height", "width", "bpp", "psnr", "ms_ssim",
                     "ms_ssim_db", "encode_s", "decode_s", "peak_mem_bytes", "status", "error"]
FAILED_COLUMNS = ["codec", "quality", "dataset", "image", "error", "created_at"]


@click.command(name="results")
@click.option("--codec", default=None, help="Comma-separated codec names (default: all).")
@click.option("--dataset", default=None, help="Comma-separated dataset names (default: all).")
@click.option("--per-image", is_flag=True, help="One row per image instead of per-quality means.")
@click.option("--pooled", is_flag=True, help="Add pixel-weighted aggregates (bits/pixels, PSNR of pooled MSE).")
@click.option("--failed", is_flag=True, help="List failed records with their errors.")
@format_option()
@db_option
def command(codec, dataset, per_image, pooled, failed, fmt, db) -> None:
    """Print stored results: per-quality dataset means (default), per image, or failures.

    Means follow CompressAI's and the MLIC papers' convention (average of per-image values);
    --pooled adds the pixel-weighted figures. `--format json` gives flat records with stable
    field names (codec, quality, dataset, image, height, width, bpp, psnr, ms_ssim,
    ms_ssim_db, encode_s, decode_s, peak_mem_bytes, status, error, ...).
    """
    from rdbench.analysis.aggregate import aggregate
    from rdbench.cli.formatting import render
    from rdbench.store.record import RECORD_FIELDS, STATUS_FAILED
    from rdbench.store.sqlite import Store

    with Store(db, readonly=True) as store:
        records = store.records(codecs=split_csv(codec), datasets=split_csv(dataset),
                                status=STATUS_FAILED if failed else None)
    if not records:
        click.echo("no matching records" + (" (no failures)" if failed else ""), err=True)
        return
    if failed:
        click.echo(render([r.to_json() for r in records], FAILED_COLUMNS, fmt))
    elif per_image:
        columns = RECORD_FIELDS if fmt == "json" else PER_IMAGE_COLUMNS
        click.echo(render([r.to_json() for r in records], columns, fmt))
    else:
        columns = ["codec", "dataset", "quality", "n", "failed", "bpp", "psnr", "ms_ssim", "ms_ssim_db", "encode_s", "decode_s"]
        if pooled:
            columns += ["bpp_pooled", "psnr_pooled"]
        click.echo(render(aggregate(records), columns, fmt))
