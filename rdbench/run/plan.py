"""Planning a benchmark: (codecs x qualities x images) -> the jobs not yet in the store.

Planning is what makes an interrupted run resume where it stopped: it skips every job whose
record already exists (status ``ok``, and ``failed`` too unless ``retry_failed``); ``force``
recomputes everything.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from rdbench.codecs.base import CodecConfig, CodecContext, format_quality, parse_quality
from rdbench.data.datasets import Dataset
from rdbench.data.images import file_sha256
from rdbench.errors import UsageError
from rdbench.run.jobs import Job
from rdbench.store.record import STATUS_FAILED, STATUS_OK
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
