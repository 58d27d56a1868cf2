"""`rdbench rescore`: add metrics to stored records from their kept bitstreams, without encoding again."""

from __future__ import annotations

import sys

import click

from rdbench.cli.options import data_root_option, db_option


@click.command(name="rescore")
@click.option("--metrics", required=True, metavar="NAME[,NAME|SET...]", help="Metrics to add (names or sets such as jpeg-ai).")
@click.option("--codec", "codec_names", required=True, help="Comma-separated measured codecs (NAME or NAME@SELECTOR).")
@click.option("--dataset", "dataset_spec", required=True, help="The dataset the records were measured on (a registered dataset or the folder).")
@click.option("--quality", "qualities", default=None, help="Only these qualities (comma-separated).")
@click.option("--force", is_flag=True, help="Compute the values again even where the record has them (same version).")
@db_option
@data_root_option
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def command(metrics, codec_names, dataset_spec, qualities, force, db, data_root, quiet) -> None:
    """Add metrics to stored records without encoding again: each record's kept bitstream
    (`rdbench run --keep-bitstreams DIR`) is decoded again, checked against the stored bpp and PSNR,
    and the metrics' values (with their implementation's version) are added to the record.

    Records without a kept bitstream, or whose bitstream or image does not match, are refused and
    named with the reason; nothing else of a record changes. Exit status 0 when any record was
    rescored (or none lacked the metrics), 1 when every record was refused, 2 on a usage error.

    \b
    Examples:
      rdbench rescore --metrics jpeg-ai --codec jpeg,webp --dataset kodak
      rdbench rescore --metrics psnr-y,vif --codec mlicpp@cuda --dataset kodak --quality 1,3
    """
    from rdbench.api.rescore import outcome_lines, rescore

    def say(line: str) -> None:
        click.echo(line, err=True)

    outcome = rescore(metrics, codec_names, dataset_spec, db=db, force=force, data_root=data_root,
                      qualities=None if qualities is None else [q for q in qualities.split(",") if q.strip()],
                      progress=not quiet, say=say)
    for line in outcome_lines(outcome):
        say(line)
    if outcome.refused and not outcome.rescored:
        sys.exit(1)
