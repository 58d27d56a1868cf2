"""`rdbench codecs`: what can run here, and why the rest cannot."""

from __future__ import annotations

import click

from rdbench.cli.options import format_option


@click.command(name="codecs")
@click.option("--all", "show_all", is_flag=True, help="Also show the adapter and the configuration file.")
@format_option()
def command(show_all, fmt) -> None:
    """List every configured codec with its quality sweep and whether it can run on this machine.

    Codecs come from the shipped codecs/*.toml, from folders in RDBENCH_CODECS_PATH and from packages
    that register adapters in the `rdbench.codecs` entry-point group.
    """
    from rdbench.cli.formatting import render, unavailable_lines
    from rdbench.codecs.base import CodecContext
    from rdbench.codecs.registry import load_adapter, load_configs
    from rdbench.errors import RdbenchError

    rows = []
    context = CodecContext()
    for name, config in sorted(load_configs().items()):
        try:
            reason = load_adapter(config.adapter).unavailable_reason(config, context)
        except RdbenchError as exc:
            reason = str(exc)
        rows.append({
            "codec": name,
            "available": "yes" if reason is None else "no",
            "qualities": ",".join(str(q) for q in config.qualities),
            "quality_label": config.quality_label,
            "description": config.description,
            "why_not": reason or "",
            "adapter": config.adapter,
            "source": config.source or "entry point",
        })
    if fmt in ("json", "csv"):
        columns = ["codec", "available", "adapter", "quality_label", "qualities", "description", "why_not", "source"]
        click.echo(render(rows, columns, fmt))
        return
    columns = ["codec", "available", "qualities", "description"]
    if show_all:
        columns = ["codec", "available", "adapter", "quality_label", "qualities", "description", "source"]
    click.echo(render(rows, columns, fmt))
    for line in unavailable_lines(rows, "codec"):
        click.echo(line)
