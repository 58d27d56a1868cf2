"""`rdbench datasets list | download | add | verify`."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

import click

from rdbench.cli.options import data_root_option, format_option
from rdbench.errors import plural


@click.group(name="datasets")
def command() -> None:
    """Datasets rdbench knows (manifests in datasets/ and $RDBENCH_DATASETS_PATH) and their local copies.

    \b
    rdbench datasets list                      what is known and what is on this machine
    rdbench datasets download kodak            fetch, check every SHA-256, extract safely
    rdbench datasets add kodak ~/data/kodak    register a copy you already have (verified)
    rdbench datasets verify kodak              re-check every file of a local copy

    Anywhere a dataset is expected, a folder of images works too: --dataset path/to/folder.
    """


@command.command(name="list")
@data_root_option
@format_option()
def list_cmd(data_root, fmt) -> None:
    """List known datasets, their size, and where (or whether) they are on this machine."""
    from rdbench.cli.formatting import render
    from rdbench.data.datasets import data_root as resolve_root
    from rdbench.data.datasets import dataset_dir, manifests

    root = resolve_root(data_root)
    rows = []
    for name, manifest in sorted(manifests().items()):
        folder = dataset_dir(name, root)
        rows.append({
            "dataset": name,
            "images": manifest.count if manifest.count is not None else len(manifest.files),
            "local": str(folder) if folder.is_dir() else "not here (rdbench datasets download " + name + ")",
            "description": manifest.description,
        })
    click.echo(render(rows, ["dataset", "images", "local", "description"], fmt))


@command.command(name="download")
@click.argument("name")
@click.option("--keep-archives", is_flag=True, help="Keep downloaded archives after extraction.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
@data_root_option
def download_cmd(name, keep_archives, quiet, data_root) -> None:
    """Download dataset NAME into the data root, verifying every checksum.

    Interrupted downloads resume where they stopped when the command is run again; a file
    whose checksum does not match is deleted and reported.
    """
    from rdbench.data.datasets import data_root as resolve_root
    from rdbench.data.install import download_dataset

    root = resolve_root(data_root)
    with _progress(f"downloading {name}", quiet, unit="bytes") as report:
        result = download_dataset(name, root, keep_archives=keep_archives, progress=report)
    if result.fetched:  # say what happened: a rerun on a complete copy fetches nothing
        count = len(result.fetched)
        success = (f"downloaded {count} file{'s' if count != 1 else ''} into {result.folder}: "
                   f"{result.checked} images checked")
    else:
        success = f"{name} already present at {result.folder}: nothing downloaded, {result.checked} images checked"
    _report(result, success)


@command.command(name="add")
@click.argument("name")
@click.argument("path", type=click.Path(exists=True, file_okay=False))
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
@data_root_option
def add_cmd(name, path, quiet, data_root) -> None:
    """Register PATH as the local copy of dataset NAME, after checking every file.

    Where the manifest publishes no hash of an image, the SHA-256 of the file as it is now is recorded
    (in the data root): `verify` and every `rdbench run` on NAME then refuse a later change to it.
    """
    from pathlib import Path

    from rdbench.data.datasets import data_root as resolve_root
    from rdbench.data.install import add_dataset

    root = resolve_root(data_root)
    with _progress(f"checking {name}", quiet) as report:
        result = add_dataset(name, Path(path), root, progress=report)
    _report(result, f"registered {result.folder} as {name}: {result.checked} images checked",
            f"{name} was not registered; fix or complete the folder, or run `rdbench datasets download {name}`")


@command.command(name="verify")
@click.argument("name")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
@data_root_option
def verify_cmd(name, quiet, data_root) -> None:
    """Check that every image of dataset NAME is present and has its SHA-256."""
    from rdbench.data.datasets import data_root as resolve_root
    from rdbench.data.install import verify_dataset

    root = resolve_root(data_root)
    with _progress(f"verifying {name}", quiet) as report:
        result = verify_dataset(name, root, progress=report)
    _report(result, f"{name} is complete and intact: {result.checked} images checked in {result.folder}")


def _report(result, success: str, remedy: str | None = None) -> None:
    """Print ``success`` if every check passed; else every problem, the remedy, and exit 1."""
    if result.ok:
        click.echo(success)
        return
    for problem in result.problems[:20]:
        click.echo(f"problem: {problem}", err=True)
    if len(result.problems) > 20:
        click.echo(f"... and {len(result.problems) - 20} more", err=True)
    remedy = remedy or f"run `rdbench datasets download {result.name}` to repair it"
    click.echo(f"error: {result.name} in {result.folder} failed verification ({plural(len(result.problems), 'problem')}); "
               f"{remedy}", err=True)
    sys.exit(1)


@contextmanager
def _progress(description: str, quiet: bool, unit: str = "files") -> Iterator:
    """A rich progress bar fed by (done, total, label) callbacks counting bytes or files."""
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    counter = DownloadColumn() if unit == "bytes" else MofNCompleteColumn()
    progress = Progress(TextColumn("{task.description}"), BarColumn(), counter, TimeRemainingColumn(),
                        disable=quiet, transient=True)
    with progress:
        task = progress.add_task(description, total=None)

        def report(done: int, total: int | None, label: str) -> None:
            progress.update(task, completed=done, total=total, description=f"{description}: {label}")

        yield report
