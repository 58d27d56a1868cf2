"""The ``rdbench`` command line. Thin: each command lives in its own module of ``rdbench/cli/`` and is
imported only when it runs (so ``rdbench --help`` does not import torch).

Exit codes shared by every command: 0 success (some images may have failed: they are
recorded and reported), 1 nothing could run, 2 usage error.
"""

from __future__ import annotations

import importlib
import sys
import warnings

import click

from rdbench import __version__
from rdbench.errors import RdbenchError

#: command name -> (module in rdbench.cli, one-line help shown by `rdbench --help`)
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("run", "Benchmark codecs on a dataset into the results database."),
    "rescore": ("rescore", "Add metrics to stored records from their kept bitstreams, without encoding again."),
    "results": ("results", "Print stored results (per image or per quality), or list failures."),
    "codecs": ("codecs_cmd", "List codecs: available here, or why not."),
    "metrics": ("metrics_cmd", "List metrics: what each measures, its sets, available here or why not."),
    "datasets": ("datasets_cmd", "List, download, add and verify datasets."),
    "bdrate": ("bdrate", "BD-rate / BD-PSNR table of codecs against an anchor (measured or published)."),
    "plot": ("plot", "RD curve figures (PNG/SVG/PDF) of measured and published codecs per dataset."),
    "report": ("report", "One self-contained HTML report: BD-rates, RD curves, spread, failures, provenance."),
    "complexity": ("complexity", "Time, memory and FLOPs of codecs against resolution, with scaling exponents."),
    "import": ("import_cmd", "Import published RD curves (CompressAI or {bpp, psnr} JSON) for bdrate and plot."),
    "export": ("export_cmd", "Write measured runs as CompressAI result JSON."),
    "budget": ("budget", "Corpus byte budgets (CLIC): one stored quality per image, highest dataset PSNR."),
}


class LazyGroup(click.Group):
    """A click group whose subcommands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module = importlib.import_module(f"rdbench.cli.{COMMANDS[name][0]}")
        return getattr(module, "command")

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][1]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def resolve_command(self, ctx: click.Context, args: list[str]):  # "did you mean" for typos
        name = args[0] if args else None
        if name and name not in COMMANDS and not name.startswith("-"):
            from rdbench.errors import did_you_mean

            raise click.UsageError(f"no command {name!r}{did_you_mean(name, sorted(COMMANDS))}")
        return super().resolve_command(ctx, args)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="rdbench")
def cli() -> None:
    """rdbench: rate-distortion benchmarks for learned and classical image codecs.

    \b
    Typical session:
      rdbench datasets download kodak          # or: rdbench datasets add kodak PATH
      rdbench codecs                           # what can run on this machine
      rdbench run --codec jpeg,webp --dataset kodak --jobs 2
      rdbench results --dataset kodak          # per-quality means, stored in results/rdbench.sqlite
      rdbench bdrate --anchor vtm18-published --codec jpeg,webp,mlicpp-paper --dataset kodak
      rdbench plot --codec jpeg,webp --anchor vtm18-published --dataset kodak
      rdbench report --anchor vtm18-published --out results/report.html --open

    Run `rdbench COMMAND --help` for each command's options.
    """


def main() -> None:
    # compressai's modules call torch.jit.script at import, which torch 2.10+ deprecates: a warning
    # about a dependency's internals that a user of the command line can do nothing about.
    warnings.filterwarnings("ignore", message=r"`torch\.jit\.script` is deprecated", category=FutureWarning)
    try:
        cli.main(standalone_mode=False)
    except RdbenchError as exc:
        click.echo(f"error: {exc}", err=True)
        if exc.hint:
            click.echo(f"hint: {exc.hint}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(2 if isinstance(exc, click.UsageError) else exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("interrupted; rerun the same command to resume", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
