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


def checked_qualities(configs, override: list[str] | None) -> list[str] | None:
    """The quality points a command will use, checked before anything is stored.

    ``override`` (the ``--quality`` values) is checked against every codec's declared range
    (:meth:`rdbench.codecs.base.Codec.checked_qualities`) and returned as stored texts, one per
    point (``50,50.0`` is one point); without it, each configuration's own sweep is checked and
    None is returned (each codec then runs its sweep). Raises UsageError naming the codec, the
    value and the valid range.
    """
    from rdbench.codecs.registry import load_adapter

    points: list[str] = []
    for config in configs:
        texts = load_adapter(config.adapter).checked_qualities(config, override or None)
        points += [t for t in texts if t not in points]
    return points if override else None
