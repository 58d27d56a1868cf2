"""Planning a benchmark: (codecs x qualities x images) -> the jobs not yet in the store.

Planning is what makes an interrupted run resume where it stopped: it skips every job whose
record already exists (status ``ok``, and ``failed`` too unless ``retry_failed``); ``force``
recomputes everything; ``retime`` plans the stored ``ok`` jobs again to re-measure their times only
(:func:`rdbench.run.execute.retimed`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from rdbench.codecs.base import (
    Codec,
    CodecConfig,
    CodecContext,
    format_quality,
    parse_quality,
)
from rdbench.codecs.code_identity import code_identity, short_code
from rdbench.codecs.quality_choice import QualityChoice
from rdbench.codecs.registry import load_adapter
from rdbench.data.datasets import Dataset
from rdbench.errors import UsageError, plural
from rdbench.run.checks import check_retime
from rdbench.run.jobs import Job
from rdbench.store.record import STATUS_FAILED, STATUS_OK
from rdbench.store.sqlite import Store

#: How :meth:`rdbench.codecs.base.Codec.weights_identity` names weights whose file is not there.
MISSING_WEIGHTS = "missing:"


@dataclass
class Plan:
    jobs: list[Job] = field(default_factory=list)
    skipped_ok: int = 0
    skipped_failed: int = 0
    #: Jobs planned to re-measure the times of a stored record (``retime``).
    retimes: int = 0
    #: What the user must know about reused records (e.g. made by another codec library version).
    notes: list[str] = field(default_factory=list)
    #: (codec, quality, path) of each quality asked for whose checkpoint file is not there: its
    #: jobs are not planned (nothing can be measured, and nothing is stored), the others run.
    missing_weights: list[tuple[str, str, str]] = field(default_factory=list)
    #: The record key (:attr:`rdbench.store.record.Record.key`) of every job of the selection, planned
    #: or skipped as stored: which records a run's results are (:func:`rdbench.api.benchmark.benchmark`).
    keys: list[tuple[str, ...]] = field(default_factory=list)

    def missing_lines(self) -> list[str]:
        """One line per quality left out for want of its checkpoint."""
        return [f"{codec} quality {quality}: checkpoint {path} is missing; not run (add the file and rerun)"
                for codec, quality, path in self.missing_weights]


def qualities_for(config: CodecConfig, override: Iterable[str] | None) -> list[str]:
    values = [parse_quality(q) for q in override] if override else list(config.qualities)
    if not values:
        raise UsageError(f"codec {config.name!r} has no default qualities; pass --quality")
    return [format_quality(q) for q in values]


def plan_jobs(
    store: Store,
    configs: list[CodecConfig],
    dataset: Dataset,
    context: CodecContext,
    *,
    qualities: QualityChoice | Mapping[str, Iterable[str]] | Iterable[str] | None = None,
    retry_failed: bool = False,
    force: bool = False,
    keep_bitstreams: str | None = None,
    retime: bool = False,
    metrics: Iterable[str] = (),
) -> Plan:
    """Every job not already in the store, ordered codec -> quality -> image; with ``retime``
    also a re-timing job for every stored ``ok`` record of the selection.

    ``qualities``: the points of every codec (a list), of each codec (a mapping codec name ->
    list, or a :class:`~rdbench.codecs.quality_choice.QualityChoice`); a codec without any runs
    its configuration's sweep.

    A quality whose named checkpoint does not exist (weights identity ``missing:<path>``) gets no
    jobs and an entry in :attr:`Plan.missing_weights`: a checkpoint folder holding some of the
    qualities asked for runs those, and says which it could not.

    ``metrics``: names of on-request metrics every planned job computes too (``--metrics``); stored
    records lacking them are not planned again (:mod:`rdbench.run.rescore` adds their values).
    """
    check_retime(retime, force)
    hashes = dataset.image_hashes
    plan = Plan()
    changed = store.set_current_images(dataset.name, {n: h for n, h in hashes.items() if h != "missing"})
    if changed:
        plan.notes.append(
            f"{plural(len(changed), 'image')} of {dataset.name} changed content since measured "
            f"({', '.join(sorted(changed)[:5])}{', ...' if len(changed) > 5 else ''}): "
            f"{plural(sum(changed.values()), 'stored record')} of the old content are stale, kept but left out "
            f"of every curve (`rdbench results --stale` lists them, `rdbench results --delete --stale` deletes them)")
    choice = QualityChoice.of_value(qualities)
    for config in configs:
        adapter = load_adapter(config.adapter)
        codec_context = job_context(adapter, context)
        code = code_identity(adapter)
        plan.notes += _code_notes(store, config, dataset.name, code)
        done = store.statuses(config.name, config.config_hash, dataset.name)
        skipped_before = plan.skipped_ok
        for quality in qualities_for(config, choice.of(config.name)):
            weights, weights_path = adapter.weights_identity(config, codec_context, parse_quality(quality))
            if weights.startswith(MISSING_WEIGHTS):
                plan.missing_weights.append((config.name, quality, weights_path or weights[len(MISSING_WEIGHTS):]))
                continue
            for ref in dataset.images:
                plan.keys.append((config.name, config.config_hash, quality, dataset.name, ref.name, hashes[ref.name],
                                  weights, codec_context.label, code))
                status = done.get((quality, ref.name, hashes[ref.name], weights, codec_context.label, code))
                retiming = retime and status == STATUS_OK
                if not force and status == STATUS_OK and not retiming:
                    plan.skipped_ok += 1
                    continue
                if not force and status == STATUS_FAILED and not retry_failed:
                    plan.skipped_failed += 1
                    continue
                plan.jobs.append(Job(config=config, context=codec_context, quality=quality, dataset=dataset.name,
                                     image_name=ref.name, image_path=str(ref.path), image_hash=hashes[ref.name],
                                     keep_bitstreams=None if retiming else keep_bitstreams, weights=weights,
                                     weights_path=weights_path, code=code, retime=retiming,
                                     metrics=() if retiming else tuple(metrics)))
                plan.retimes += retiming
        if plan.skipped_ok > skipped_before:
            plan.notes += _other_versions(store, config, adapter, codec_context, dataset.name)
    return plan


def _code_notes(store: Store, config: CodecConfig, dataset: str, code: str) -> list[str]:
    """Adopt records stored before rdbench recorded code identities, and say that records of other
    code exist: they are kept, not reused, and no curve mixes them with this code's (the curve rule
    of :mod:`rdbench.analysis.curves` takes the current code)."""
    notes = []
    adopted = store.adopt_legacy_code(config.name, config.config_hash, dataset, code)
    if adopted:
        notes.append(f"{plural(adopted, 'stored record')} of {config.name} on {dataset} predate code identities; "
                     f"they are taken as made by the current code ({code}); `rdbench run --force` remeasures them")
    others = {c: n for c, n in store.codes(config.name, config.config_hash, dataset).items() if c not in (code, "")}
    if others:
        listed = "; ".join(f"{c} ({plural(n, 'record')}, {config.name}@{short_code(c)})" for c, n in sorted(others.items()))
        notes.append(f"{config.name} on {dataset}: the codec's code changed since some records were made ({listed}); "
                     f"they are kept but not reused, this run measures the current code ({code})")
    return notes


def _other_versions(store: Store, config: CodecConfig, adapter: type[Codec], context: CodecContext,
                    dataset: str) -> list[str]:
    """Say so when reused records were made by another version of the codec's library.

    The library version is not part of a record's identity (a libjpeg-turbo update rarely
    changes a bitstream, and re-measuring every upgrade would defeat resuming), but a curve that
    mixes versions must not pass unnoticed: the user is told, and ``--force`` recomputes.
    """
    codec = adapter(config, context)
    try:
        current = codec.library()
    except Exception:  # noqa: BLE001 - a codec that cannot say its version cannot be compared
        return []
    finally:
        codec.close()
    notes = []
    for (library, version), count in sorted(store.codec_versions(config.name, config.config_hash, dataset).items()):
        if (library, version) != tuple(current) and version is not None:
            notes.append(f"{plural(count, 'stored record')} of {config.name} on {dataset} were measured with {library} "
                         f"{version}, this run has {current[0]} {current[1]}; they are reused as they are "
                         "(--force recomputes them)")
    return notes


def job_context(adapter: type[Codec], context: CodecContext) -> CodecContext:
    """The context a codec's jobs run with: ``--device`` and ``--decode-device`` only for adapters
    that use a device (``wants_gpu``); every other codec runs, and is recorded, on the CPU
    whatever was asked.

    The device is part of a record's identity (a learned codec's numbers can differ between
    devices), so it must say where the codec really ran.
    """
    return context if adapter.wants_gpu else dataclasses.replace(context, device="cpu", decode_device=None)
