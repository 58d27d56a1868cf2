"""`rdbench metrics`: every metric a command accepts, what it measures, and whether it can be measured here."""

from __future__ import annotations

import click

from rdbench.cli.options import format_option

COLUMNS = ["metric", "available", "label", "unit", "better", "shown_as", "measured", "sets", "version", "description"]


@click.command(name="metrics")
@format_option()
def command(fmt) -> None:
    """List every metric: rdbench's own (psnr, ms-ssim, measured by every run), the JPEG AI set it ships
    (measured on request: `rdbench run --metrics NAME|SET`, `rdbench rescore`), and plug-ins declared by
    an entry point in group `rdbench.metrics` or a TOML file in a folder of RDBENCH_METRICS_PATH.

    A metric that cannot be measured here is listed with the reason below the table (as `rdbench
    codecs` does for codecs); the sets are the words `--metrics` and `--metric` accept for several.
    """
    from rdbench import metric_spec
    from rdbench.cli.formatting import render, unavailable_lines

    rows = []
    for metric in metric_spec.registered().values():
        reason = metric.unavailable_reason()
        rows.append({
            "metric": metric.name,
            "available": "yes" if reason is None else "no",
            "label": metric.label or metric.name,
            "unit": metric.unit,
            "better": "higher" if metric.higher_is_better else "lower",
            "shown_as": metric.axis_label,  # how tables, figures and BD integrals show it
            "measured": "on request" if metric.on_request else "every run",
            "sets": ",".join(name for name, members in metric_spec.SETS.items() if metric.name in members),
            "version": metric.version,
            "description": metric.description,
            "why_not": reason or "",
        })
    if fmt in ("json", "csv"):
        click.echo(render(rows, [*COLUMNS, "why_not"], fmt))
        return
    click.echo(render(rows, COLUMNS, fmt))
    for line in unavailable_lines(rows, "metric"):
        click.echo(line)
