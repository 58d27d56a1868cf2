"""Planning and running a benchmark: (codecs x qualities x images) -> jobs -> records -> store.

The runner alone writes the store, one committed record per finished job, so an interrupted
run resumes where it stopped: planning skips every job whose record already exists (status
``ok``, and ``failed`` too unless ``retry_failed``), ``force`` recomputes everything.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from rdbench.codecs.base import CodecConfig, CodecContext, format_quality, parse_quality
from rdbench.data.datasets import Dataset
from rdbench.run.environment import cpu_name, git_commit, gpu_name, rdbench_version
from rdbench.errors import UsageError
from rdbench.data.images import file_sha256
from rdbench.run.jobs import Job
from rdbench.store.record import STATUS_FAILED, STATUS_OK, Record
from rdbench.store.sqlite import Store


@dataclass
class Plan:
    jobs: list[Job] = field(default_factory=list)
    skipped_ok: int = 0
    skipped_failed: int = 0


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
    qualities: Iterable[str] | None = None,
    retry_failed: bool = False,
    force: bool = False,
    keep_bitstreams: str | None = None,
) -> Plan:
    """Every job not already in the store, ordered codec -> quality -> image."""
    hashes = {ref.name: file_sha256(ref.path) if ref.path.is_file() else "missing" for ref in dataset.images}
    plan = Plan()
    quality_list = list(qualities) if qualities else None
    for config in configs:
        done = store.statuses(config.name, config.config_hash, dataset.name)
        for quality in qualities_for(config, quality_list):
            for ref in dataset.images:
                status = done.get((quality, ref.name, hashes[ref.name]))
                if not force and status == STATUS_OK:
                    plan.skipped_ok += 1
                    continue
                if not force and status == STATUS_FAILED and not retry_failed:
                    plan.skipped_failed += 1
                    continue
                plan.jobs.append(Job(config=config, context=context, quality=quality, dataset=dataset.name,
                                     image_name=ref.name, image_path=str(ref.path), image_hash=hashes[ref.name],
                                     keep_bitstreams=keep_bitstreams))
    return plan


def stamp(record: Record, device: str) -> Record:
    """Add the facts of where and with what the record was made."""
    record.rdbench_version = rdbench_version()
    record.git_commit = git_commit()
    record.machine = cpu_name()
    record.gpu = gpu_name(device)
    return record


def execute(
    store: Store,
    jobs: list[Job],
    executor,
    on_record: Callable[[Record], None] | None = None,
) -> tuple[int, int]:
    """Run ``jobs`` on ``executor``, committing each record as it arrives. Returns (ok, failed)."""
    ok = failed = 0
    configs = {job.config.config_hash: job.config.to_dict() for job in jobs}
    for record in executor.run(jobs):
        stamp(record, record.device)
        store.put(record, configs.get(record.config_hash))
        if record.ok:
            ok += 1
        else:
            failed += 1
        if on_record:
            on_record(record)
    return ok, failed
