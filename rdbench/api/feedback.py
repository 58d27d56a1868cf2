"""What a run and a rescore tell the person running them about the records they store: a progress bar
while they run, and the records that failed or were refused, named, afterwards.

WHY a module of its own: ``rdbench run`` and ``rdbench rescore`` (and their library calls) show the same
bar (records done of total, elapsed, remaining, the record that finished last) and name records the same
way, up to :data:`SHOWN` of them; a quiet call must not even import ``rich`` (a fixed cost of every run
without ``--progress``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from rdbench.store.record import Record

#: How many failed, refused or not re-timed records a run names one by one before it counts the rest.
SHOWN = 20


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


def named_records(entries: Sequence[tuple[Record, str]], what: str, more: str) -> list[str]:
    """``what: jpeg q=50 kodim01.png: why`` for the first :data:`SHOWN` of ``entries`` (record, why), then
    ``... and N more`` followed by ``more`` for the rest."""
    lines = [f"{what}: {record.codec} q={record.quality} {record.image}: {why}" for record, why in entries[:SHOWN]]
    if len(entries) > SHOWN:
        lines.append(f"... and {len(entries) - SHOWN} more{more}")
    return lines
