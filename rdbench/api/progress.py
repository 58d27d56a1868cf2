"""The progress bar of a run and of a rescore: one bar over the records a call stores.

WHY a module of its own: ``rdbench run`` and ``rdbench rescore`` show the same bar (records done of
total, elapsed, remaining, the record that finished last), and a quiet call must not even import
``rich`` (a fixed cost of every run without ``--progress``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rdbench.store.record import Record


@contextmanager
def progress_bar(total: int, show: bool, what: str, *, prefix: str = "") -> Iterator[Callable[[Record], None]]:
    """A callback advancing a bar on stdout over ``total`` records, titled ``what`` until the first one
    finishes, then ``prefix`` and the record (``jpeg q=50 kodim01.png``); a callback that does nothing
    when not ``show`` or there is nothing to do."""
    if not show or total == 0:
        yield lambda record: None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   TimeRemainingColumn(), transient=False)
    with bar:
        task = bar.add_task(what, total=total)
        yield lambda record: bar.update(task, advance=1,
                                        description=f"{prefix}{record.codec} q={record.quality} {record.image}")
