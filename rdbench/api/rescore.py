"""``rdbench.rescore``: add metrics to stored records from their kept bitstreams, from Python.

What ``rdbench rescore`` does (the command is a thin wrapper), and what ``rdbench run --metrics``
does for the stored records it reuses (:func:`complete_stored`). The decoding, the checks and the
storing are :mod:`rdbench.run.rescore`'s; this module chooses the records (the codecs' and
dataset's names as every command reads them), reports progress and says what was refused.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

from rdbench import metric_spec
from rdbench.api.feedback import named_records, progress_bar
from rdbench.errors import RdbenchError, UsageError, plural
from rdbench.run.rescore import RescoreOutcome, missing_metrics, rescore_records
from rdbench.store.record import STATUS_OK, Record
from rdbench.store.sqlite import DEFAULT_DB, Store


def on_request(metrics: str | Sequence[str] | None,
               say: Callable[[str], None] | None = None) -> list[metric_spec.Metric]:
    """The metrics ``--metrics`` names (names or sets, comma-separated) that can be measured here,
    checked before anything is stored; [] for None. One that cannot (VMAF without a libvmaf) is left
    out and named to ``say`` with the reason, as a codec without its binary is."""
    chosen = [] if metrics is None else metric_spec.expand(metrics)
    usable = []
    for metric in chosen:
        reason = metric.unavailable_reason()
        if reason is None:
            usable.append(metric)
        elif say is not None:
            say(f"note: metric {metric.name} is unavailable here and not measured: {reason}")
    return usable


def outcome_lines(outcome: RescoreOutcome) -> list[str]:
    """What is said after a rescore: values added, images too small, and each refused record with why."""
    names = ", ".join(outcome.metrics)
    lines = [f"rescored {plural(outcome.rescored, 'record')} ({plural(outcome.values, 'value')} of {names} added)"]
    if outcome.too_small:
        lines.append(f"{plural(len(outcome.too_small), 'value')} not computed: image smaller than the metric's "
                     f"min_size ({', '.join(sorted({m for _, m in outcome.too_small}))})")
    return lines + named_records(outcome.refused, "refused", " refused")


def complete_stored(store: Store, records: Sequence[Record], metrics: Sequence[metric_spec.Metric],
                    images: dict[str, tuple[Path, str]], *, force: bool = False,
                    progress: bool = False) -> RescoreOutcome:
    """Add the values of ``metrics`` each of ``records`` lacks, from kept bitstreams (records refused
    are in the outcome, with why)."""
    wanted = [r for r in records if r.ok and missing_metrics(r, metrics, force)]
    with progress_bar(len(wanted), progress, "rescoring", prefix="rescoring ") as advance:
        return rescore_records(store, wanted, metrics, images, force=force, on_record=advance)


def rescore(metrics: str | Sequence[str], codecs: str | Sequence[str], dataset: str | os.PathLike[str], *,
            db: str | os.PathLike[str] = DEFAULT_DB, qualities: Sequence[object] | None = None, force: bool = False,
            data_root: str | os.PathLike[str] | None = None, progress: bool = False,
            say: Callable[[str], None] | None = None) -> RescoreOutcome:
    """Add ``metrics`` (names or sets, e.g. ``"jpeg-ai"`` or ``["psnr-y", "vif"]``) to the stored ``ok``
    records of ``codecs`` (``NAME`` or ``NAME@SELECTOR``) on ``dataset`` (at ``qualities`` when given)
    that lack them, or have a value of another version of the metric's implementation (all with
    ``force``), decoding each record's kept bitstream again (:mod:`rdbench.run.rescore` says what is
    checked). Records that cannot be rescored are refused with the reason (``outcome.refused``); none
    is measured again. A bad name raises :class:`~rdbench.errors.UsageError` before anything is stored.
    """
    from rdbench.analysis.catalogue import Catalogue
    from rdbench.analysis.dataset_names import dataset_to_measure
    from rdbench.analysis.name_checks import check_names
    from rdbench.codecs.base import format_quality, parse_quality

    say = say or (lambda line: None)
    chosen = on_request(metrics, say)
    names = [n.strip() for n in codecs.split(",")] if isinstance(codecs, str) else list(codecs)
    if not names or not all(names):
        raise UsageError("--codec: name the measured codecs to rescore")
    if not Path(db).is_file():
        raise UsageError(f"no results database at {os.fspath(db)}", hint="pass --db with the database to rescore")
    with Store(db) as store:
        catalogue = Catalogue(store)
        check_names(catalogue, names, measured_only=True)
        measured = dataset_to_measure(catalogue, os.fspath(dataset), None if data_root is None else os.fspath(data_root))
        wanted = None if qualities is None else [format_quality(parse_quality(str(q))) for q in qualities]
        selections = [catalogue.resolve(name).selection() for name in names]
        records = store.find_records(selections=selections, datasets=[measured.name], qualities=wanted,
                                     status=STATUS_OK, stale=False)
        if not records:
            raise UsageError(f"no successful records of {', '.join(names)} on {measured.name}"
                             + (f" at quality {', '.join(wanted)}" if wanted else ""),
                             hint="`rdbench results` lists what is stored")
        builtins = [m.name for m in chosen if m.builtin]
        if builtins:
            say(f"note: {', '.join(builtins)} {'is' if len(builtins) == 1 else 'are'} measured by every run; "
                "nothing to add")
        images = {ref.name: (ref.path, measured.image_hashes[ref.name]) for ref in measured.images}
        outcome = complete_stored(store, records, chosen, images, force=force, progress=progress)
    if outcome.rescored == 0 and outcome.refused:
        raise RdbenchError(f"no record rescored: {outcome.refused[0][1]} ({outcome.refused[0][0].codec} "
                           f"q={outcome.refused[0][0].quality} {outcome.refused[0][0].image}"
                           + (f", and {len(outcome.refused) - 1} more" if len(outcome.refused) > 1 else "") + ")")
    return outcome
