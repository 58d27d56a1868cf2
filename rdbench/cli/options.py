"""Options every command shares, so they are spelled and documented the same everywhere."""

from __future__ import annotations

import click

from rdbench.cli.formatting import FORMATS
from rdbench.store.sqlite import DEFAULT_DB

db_option = click.option(
    "--db", type=click.Path(dir_okay=False), default=str(DEFAULT_DB), show_default=True,
    help="Results database (SQLite).",
)
data_root_option = click.option(
    "--data-root", type=click.Path(file_okay=False), default=None, envvar="RDBENCH_DATA",
    help="Where datasets live [default: $RDBENCH_DATA or ~/.local/share/rdbench/data].",
)


def format_option(default: str = "table", choices: tuple[str, ...] = FORMATS):
    return click.option("--format", "fmt", type=click.Choice(choices), default=default, show_default=True,
                        help="Output format.")


def split_csv(value: str | None) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()] if value else []
