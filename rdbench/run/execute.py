"""Running planned jobs: executor -> records -> store, one committed record per finished job.

Only this loop writes the store (never a worker), so a killed run loses at most the jobs in
flight and every executor gets the same resume and de-duplication guarantees. It also stamps
every record with the conditions its times were measured under (``extra["timing"]``,
:mod:`rdbench.run.conditions`) and, for ``--retime`` jobs, writes the new times into the stored
record while keeping its quality figures (:func:`retimed`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rdbench import metric_spec
from rdbench.run.conditions import run_conditions
from rdbench.run.environment import cpu_name, git_commit, gpu_name, rdbench_version
from rdbench.run.executors import Executor
from rdbench.run.jobs import Job
from rdbench.store.record import Record
from rdbench.store.sqlite import Store

#: What ``--retime`` replaces in a stored record: times and memory, measured again. Everything
#: else (bytes, bpp, MSE, PSNR, MS-SSIM, who made it) stays as stored.
RETIMED_FIELDS = ("encode_s", "decode_s", "peak_mem_bytes")
#: The quality figures a re-time compares with the stored ones (kept; a difference is noted).
QUALITY_FIELDS = tuple(m.field for m in metric_spec.BUILTIN.values())
#: Notes of ``extra`` that belong to the memory measurement and are replaced with it.
RETIMED_NOTES = ("peak_mem_bytes", "gpu_peak_mem_bytes")


@dataclass
class Outcome:
    """What a run did: records stored ok or failed, stored records re-timed, and the re-times
    refused (the stored record, untouched, and why)."""

    ok: int = 0
    failed: int = 0
    retimed: int = 0
    refused: list[tuple[Record, str]] = field(default_factory=list)


def stamp(record: Record, device: str) -> Record:
    """Add the facts of where and with what the record was made."""
    record.rdbench_version = rdbench_version()
    record.git_commit = git_commit()
    record.machine = cpu_name()
    record.gpu = gpu_name(device)
    return record


def retimed(stored: Record, fresh: Record) -> tuple[Record | None, str | None]:
    """``stored`` with the times of ``fresh`` (a re-measure of the same job), or None and why not.

    The quality figures stay those stored: a re-measure is for times, and a curve's points must
    not move because it was timed again. It is refused unless the re-encode gave the stored
    bitstream (same length, and the same SHA-256 where the record has one: records from before
    rdbench stored it are checked by length only), since times of another bitstream are not the
    stored result's times. Where the bytes agree and the re-measured PSNR or MS-SSIM does not
    (a learned codec decoding with another thread count, docs/guarantees.md), the stored figures
    are kept and the difference is noted in ``extra["timing"]["quality_differs"]``.
    ``extra["quality_timing"]`` keeps the conditions the quality figures were measured under.
    """
    if not stored.ok:
        return None, "the stored record failed: nothing to re-time (--retry-failed measures it)"
    if not fresh.ok:
        return None, f"re-measuring failed: {fresh.error}"
    if fresh.num_bytes != stored.num_bytes:
        return None, (f"the re-encode gave another bitstream ({fresh.num_bytes} bytes, stored {stored.num_bytes}): "
                      "times of other bytes are not this record's; `--force` measures it again whole")
    digest = stored.extra.get("bitstream_sha256")
    if digest is not None and digest != fresh.extra.get("bitstream_sha256"):
        return None, ("the re-encode gave other bytes of the same length (SHA-256 differs): times of other bytes "
                      "are not this record's; `--force` measures it again whole")
    record = dataclasses.replace(stored, extra=dict(stored.extra))
    for name in RETIMED_FIELDS:
        setattr(record, name, getattr(fresh, name))
    for note in RETIMED_NOTES:
        record.extra.pop(note, None)
        if note in fresh.extra:
            record.extra[note] = fresh.extra[note]
    record.extra.setdefault("quality_timing", stored.extra.get("timing"))
    timing: dict[str, Any] = dict(fresh.extra.get("timing") or {})
    timing["retimed_at"] = fresh.created_at
    if digest is None:
        timing["bitstream_checked"] = "by length only (record stored before rdbench kept its SHA-256)"
    differs = {name: getattr(fresh, name) - getattr(stored, name) for name in QUALITY_FIELDS
               if getattr(fresh, name) is not None and getattr(stored, name) is not None
               and getattr(fresh, name) != getattr(stored, name)}
    if differs:
        timing["quality_differs"] = differs
    record.extra["timing"] = timing
    return record, None


def execute(
    store: Store,
    jobs: list[Job],
    executor: Executor,
    on_record: Callable[[Record], None] | None = None,
) -> Outcome:
    """Run ``jobs`` on ``executor``, committing each record as it arrives.

    Every record gets the run's conditions (:func:`rdbench.run.conditions.run_conditions`, one
    ``run_id`` and load average per call) merged into ``extra["timing"]``; a ``retime`` job's
    record replaces the stored one's times only (:func:`retimed`). ``on_record`` sees each
    record as stored (a refused re-time: the stored record, unchanged).
    """
    outcome = Outcome()
    configs = {job.config.config_hash: job.config.to_dict() for job in jobs}
    by_key = {job.key: job for job in jobs}
    peak_memory = {bool(job.context.peak_memory) for job in jobs}
    conditions = run_conditions(**executor.conditions(jobs),
                                peak_memory=peak_memory.pop() if len(peak_memory) == 1 else None)
    for record in executor.run(jobs):
        record.extra["timing"] = {**conditions, **(record.extra.get("timing") or {})}
        job = by_key.get(record.key)
        stored = _stored(store, record) if job is not None and job.retime else None
        if stored is not None:  # (a record deleted since planning is stored whole, below)
            merged, reason = retimed(stored, stamp(record, record.device))
            if merged is None:
                outcome.refused.append((stored, reason or ""))
            else:
                store.put(merged)
                outcome.retimed += 1
            if on_record:
                on_record(merged or stored)
            continue
        stamp(record, record.device)
        store.put(record, configs.get(record.config_hash))
        if record.ok:
            outcome.ok += 1
        else:
            outcome.failed += 1
        if on_record:
            on_record(record)
    return outcome


def _stored(store: Store, record: Record) -> Record | None:
    """The stored record with ``record``'s identity, if any."""
    found = store.find_records(
        selections=[{"codec": record.codec, "config_hash": record.config_hash, "weights": record.weights,
                     "device": record.device}],
        datasets=[record.dataset], qualities=[record.quality], images=[record.image])
    return next((r for r in found if r.key == record.key), None)
