"""Options every command shares, so they are spelled and documented the same everywhere."""

from __future__ import annotations

from collections.abc import Iterable

import click

from rdbench import metric_spec
from rdbench.cli.formatting import FORMATS
from rdbench.codecs.quality_choice import QualityChoice
from rdbench.errors import UsageError
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


class MetricName(click.ParamType):
    """A metric's name, checked against the metrics declared when the command runs (built-ins, entry
    points, ``RDBENCH_METRICS_PATH``), not when the CLI is imported: a plug-in metric is a choice too."""

    name = "metric"

    def get_metavar(self, param: click.Parameter, *args: object, **kwargs: object) -> str:
        return "[" + "|".join(metric_spec.names()) + "]"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> str:
        try:
            return metric_spec.get(str(value)).name
        except UsageError as exc:
            self.fail(str(exc), param, ctx)


def metric_option(help_text: str = "The metric compared (any declared metric: docs/metrics.md).", **kwargs):
    """``--metric NAME``, default the default metric (PSNR)."""
    return click.option("--metric", type=MetricName(), default=metric_spec.DEFAULT, show_default=True,
                        help=help_text, **kwargs)


def split_csv(value: str | None) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()] if value else []


def quality_option(what: str):
    """``--quality``, repeatable, in the one spelling every command shares (:func:`parse_qualities`)."""
    return click.option("--quality", "qualities", multiple=True, metavar="[CODEC=]Q1,Q2,...",
                        help=f"Comma-separated qualities: {what}. CODEC=Q1,Q2 gives one codec its own points "
                             "(repeat the option; a codec's own list replaces the global one for it).")


def parse_qualities(values: Iterable[str]) -> QualityChoice:
    """The ``--quality`` values of one command line (the option repeats): ``Q1,Q2,...`` for every
    codec, ``CODEC=Q1,Q2,...`` for one. An empty list, a codec named twice or two global lists are
    usage errors (one would silently replace the other, or run a whole default sweep)."""
    every: tuple[str, ...] | None = None
    named: dict[str, tuple[str, ...]] = {}
    for raw in values:
        codec, sep, listed = raw.partition("=")
        if not sep:
            codec, listed = "", raw
        codec = codec.strip()
        points = tuple(dict.fromkeys(v.strip() for v in listed.split(",") if v.strip()))
        shown = f"--quality {raw!r}" if raw.strip() else "--quality ''"
        if sep and not codec:
            raise UsageError(f"{shown}: no codec before '='", hint="write CODEC=Q1,Q2 (e.g. jpeg=30,50)")
        if not points:
            raise UsageError(f"{shown} names no quality",
                             hint="write Q1,Q2 (every codec) or CODEC=Q1,Q2, or leave --quality out for every point")
        if not codec:
            if every is not None:
                raise UsageError(f"--quality: two lists for every codec ({', '.join(every)} and {', '.join(points)})",
                                 hint="give one comma-separated list, or CODEC=Q1,Q2 for one codec")
            every = points
        elif codec in named:
            raise UsageError(f"--quality: {codec} is given twice", hint="give one comma-separated list per codec")
        else:
            named[codec] = points
    return QualityChoice(every, tuple(named.items()))



def aggregate_option(dest: str = "aggregate"):
    """``--aggregate``: how a curve point aggregates its images (``rdbench.analysis.aggregate.AGGREGATIONS``)."""
    return click.option("--aggregate", dest, type=click.Choice(["image-mean", "dataset-mse"]),
                        default="image-mean", show_default=True,
                        help="How each curve point aggregates the images: image-mean, the mean of per-image values "
                             "(CompressAI, MLIC papers); dataset-mse, the dataset as one image (CLIC, Cool-chic: all bits "
                             "/ all pixels, PSNR from one MSE over every pixel, other metrics pixel-weighted). "
                             "docs/metrics.md, 'Aggregation over images'.")
