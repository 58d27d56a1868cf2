"""``rdbench.benchmark``: benchmark codecs on a dataset into the results database, from Python.

:func:`benchmark` does what ``rdbench run`` does, option for option (``--quality`` is
``qualities``, ``--timeout`` is ``timeout_s``, ...), and returns the records of the run's selection
as a DataFrame shaped as :func:`rdbench.load_records` shapes them::

    import rdbench
    records = rdbench.benchmark("jpeg,webp", "kodak", {"jpeg": [30, 50, 70], "webp": [40, 60]}, jobs=2)
    records.groupby(["codec", "quality"])[["bpp", "psnr"]].mean()

The command is a thin wrapper over :func:`run_benchmark` (the same run, returning what it did
rather than the records: the command prints a summary and exits 1 when every job failed). The
lines the command prints on stderr (notes, codecs skipped, resuming) go to ``say``; errors are
:class:`rdbench.errors.RdbenchError` (a bad argument a :class:`~rdbench.errors.UsageError`, raised
before anything is stored).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from rdbench import metric_spec
from rdbench.api.feedback import named_records, progress_bar
from rdbench.api.rescore import complete_stored, on_request, outcome_lines
from rdbench.codecs.base import CodecConfig, CodecContext
from rdbench.errors import UsageError, plural
from rdbench.run.execute import Outcome
from rdbench.run.plan import Plan
from rdbench.run.rate_match import DEFAULT_TOLERANCE
from rdbench.run.rescore import RescoreOutcome
from rdbench.run.selection import Qualities
from rdbench.store.record import Record
from rdbench.store.sqlite import DEFAULT_DB, readable_or_none

if TYPE_CHECKING:
    import pandas as pd

    from rdbench.data.datasets import Dataset
    from rdbench.run.executors import Executor
    from rdbench.run.jobs import Job
    from rdbench.run.rate_match import CodecTargets
    from rdbench.run.selection import Selection
    from rdbench.store.sqlite import Store


def to_stderr(line: str) -> None:
    """Where a run's notes go unless the caller takes them (``say``)."""
    print(line, file=sys.stderr, flush=True)


@dataclass
class BenchmarkRun:
    """What one run did: the codec configurations it ran, the dataset, the plan and the outcome."""

    configs: list[CodecConfig]
    dataset: str
    db: Path
    plan: Plan
    outcome: Outcome
    #: the records stored as failed by this run, in the order they finished
    failures: list[Record] = field(default_factory=list)
    #: what adding the ``--metrics`` values to reused stored records did (None: none lacked them)
    rescored: RescoreOutcome | None = None
    #: with ``target_bpp``: each codec's matches (:mod:`rdbench.run.rate_match`); None for a plain run
    targets: list[CodecTargets] | None = None

    def closing_lines(self) -> list[str]:
        """What is said once the run is over: re-timing counts, records not re-timed, failed
        images, qualities left out for want of a checkpoint."""
        plan, outcome, lines = self.plan, self.outcome, []
        if plan.retimes:
            lines.append(f"re-timed {plural(outcome.retimed, 'record')}"
                         + (f"; {len(outcome.refused)} left as stored" if outcome.refused else ""))
        lines += named_records(outcome.refused, "not re-timed", " not re-timed")
        lines += named_records([(record, record.error) for record in self.failures], "failed",
                               "; `rdbench results --failed` lists them all")
        if plan.missing_weights:
            lines.append(f"{plural(len(plan.missing_weights), 'quality', 'qualities')} not run: no checkpoint "
                         f"({', '.join(f'{c} q={q}' for c, q, _ in plan.missing_weights)})")
        if self.rescored is not None:
            lines += [f"stored records reused: {line}" for line in outcome_lines(self.rescored)]
        return lines

    def all_failed(self) -> str | None:
        """``all N jobs failed`` when the run had jobs and none gave a record (or a re-time); else None."""
        if self.plan.jobs and self.outcome.ok + self.outcome.retimed == 0:
            return f"all {plural(self.outcome.failed + len(self.outcome.refused), 'job')} failed"
        return None

    def records(self) -> pd.DataFrame:
        """Every stored record of the run's selection (each codec configuration at each quality on
        each image, measured now or before), ok and failed, as :func:`rdbench.load_records` shapes them;
        for a rate-matched run, the point chosen for each image and target
        (:func:`rdbench.analysis.targets.target_points`)."""
        from rdbench.analysis.dataframes import records_frame
        from rdbench.store.sqlite import Store

        if self.targets is not None:  # a rate-matched run: its choices, one row per image and target
            import pandas as pd

            from rdbench.analysis.targets import shown_point, target_points

            points = []
            with Store(self.db, readonly=True) as store:
                for result in self.targets:
                    images = {(m.image, m.target) for m in result.matches}
                    points += [shown_point(p) for p in target_points(
                        store, selections=[{"codec": result.config.name, "config_hash": result.config.config_hash,
                                            "weights": result.weights, "device": result.device,
                                            "code": result.code}],
                        datasets=[self.dataset], tolerance=result.tolerance)
                        if (p["image"], p["target_bpp"]) in images and p["weights"] == result.weights]
            return pd.DataFrame(points)
        keys = set(self.plan.keys)
        with Store(self.db, readonly=True) as store:
            found = store.find_records(selections=[{"codec": c.name, "config_hash": c.config_hash} for c in self.configs],
                                       datasets=[self.dataset], stale=False)
        return records_frame([r for r in found if r.key in keys])


def run_benchmark(
    codecs: str | Sequence[str],
    dataset: str | os.PathLike[str],
    qualities: Qualities = None,
    *,
    db: str | os.PathLike[str] = DEFAULT_DB,
    jobs: int = 1,
    threads: int | None = None,
    device: str = "cpu",
    decode_device: str | None = None,
    checkpoint: str | os.PathLike[str] | None = None,
    checkpoint_dir: str | os.PathLike[str] | None = None,
    retry_failed: bool = False,
    force: bool = False,
    retime: bool = False,
    keep_bitstreams: str | os.PathLike[str] | None = None,
    vtm_dir: str | os.PathLike[str] | None = None,
    data_root: str | os.PathLike[str] | None = None,
    timeout_s: float | None = None,
    executor: str = "local",
    scheduler: str | None = None,
    peak_memory: bool = True,
    metrics: str | Sequence[str] | None = None,
    target_bpp: str | float | Sequence[float] | None = None,
    rate_tolerance: float = DEFAULT_TOLERANCE,
    progress: bool = False,
    on_record: Callable[[Record], None] | None = None,
    say: Callable[[str], None] | None = None,
) -> BenchmarkRun:
    """The run of :func:`benchmark`, returning what it did (:class:`BenchmarkRun`) rather than
    the records; :func:`benchmark` documents the arguments. The lines said after the run
    (:meth:`BenchmarkRun.closing_lines`) are left to the caller.

    Its steps, in this order (every check before anything is stored): the options checked, the codecs
    selected, the dataset resolved, the codecs that cannot run here dropped, the jobs planned, executed,
    the rate searches (``target_bpp``) and the reused records completed with the requested metrics."""
    from rdbench.data.datasets import data_root as root_of
    from rdbench.data.install import check_unchanged
    from rdbench.run.executors import make_executor
    from rdbench.run.selection import runnable
    from rdbench.store.sqlite import Store

    say = say or to_stderr
    options = _check_options(qualities, jobs=jobs, threads=threads, device=device, decode_device=decode_device,
                             checkpoint=checkpoint, checkpoint_dir=checkpoint_dir, retime=retime, force=force,
                             keep_bitstreams=keep_bitstreams, vtm_dir=vtm_dir, data_root=data_root,
                             timeout_s=timeout_s, peak_memory=peak_memory, metrics=metrics, target_bpp=target_bpp,
                             rate_tolerance=rate_tolerance, say=say)
    context = options.context
    selection = _selection(codecs, qualities, context, say)
    measured = _dataset(db, dataset, options.data_root, say)
    configs = runnable(selection, context, say).configs
    check_unchanged(measured, root_of(options.data_root))  # a registered dataset's images are the ones its hashes name
    choice = selection.qualities
    if options.targets:  # the first points of every search (each sweep's ends), a plain run's jobs
        from rdbench.run.rate_match import start_qualities

        choice = start_qualities(configs, context)
    runner = make_executor(executor, jobs=jobs, timeout_s=timeout_s, scheduler=scheduler, threads=threads)
    extra = [m.name for m in options.requested if not m.builtin]
    with Store(db) as store:
        plan = _plan(store, configs, measured, context, choice, retry_failed=retry_failed, force=force,
                     keep_bitstreams=options.keep_bitstreams, retime=retime, metrics=extra, say=say)
        failures: list[Record] = []
        outcome = _execute(store, plan.jobs, runner, failures, progress, on_record) if plan.jobs else Outcome()
        matched = None
        if options.targets:
            matched = _match(store, configs, measured, context, options.targets, options.tolerance, runner, failures,
                             progress, on_record, outcome, options.keep_bitstreams, retry_failed, extra)
            for result in matched:
                result.encodes += sum(job.config.name == result.config.name for job in plan.jobs)
        rescored = _complete_reused(store, configs, measured, plan, options.requested, progress, matched)
        if not plan.jobs and rescored is None and not options.targets:
            say("nothing to do: every job is already stored (--force recomputes)")
    return BenchmarkRun(configs, measured.name, Path(db), plan, outcome, failures, rescored, matched)


@dataclass(frozen=True)
class _Options:
    """A run's options once checked: the codecs' context, the on-request metrics, the rate targets."""

    context: CodecContext
    requested: list[metric_spec.Metric]
    targets: tuple[float, ...]
    tolerance: float
    data_root: str | None
    keep_bitstreams: str | None


def _check_options(qualities: Qualities, *, jobs: int, threads: int | None, device: str, decode_device: str | None,
                   checkpoint: str | os.PathLike[str] | None, checkpoint_dir: str | os.PathLike[str] | None,
                   retime: bool, force: bool, keep_bitstreams: str | os.PathLike[str] | None,
                   vtm_dir: str | os.PathLike[str] | None, data_root: str | os.PathLike[str] | None,
                   timeout_s: float | None, peak_memory: bool, metrics: str | Sequence[str] | None,
                   target_bpp: str | float | Sequence[float] | None, rate_tolerance: float,
                   say: Callable[[str], None]) -> _Options:
    """Every option that can be checked alone (counts, paths, timeout, re-time, metric names, targets):
    a usage error before anything is read or stored."""
    from rdbench.run.checks import check_retime, check_timeout

    targets, tolerance = _targets(target_bpp, rate_tolerance, qualities, retime, force)
    check_count("jobs", jobs)
    if threads is not None:
        check_count("threads", threads)
    checkpoint = existing_path(checkpoint, "--checkpoint", folder=False)
    checkpoint_dir = existing_path(checkpoint_dir, "--checkpoint-dir", folder=True)
    vtm_dir = existing_path(vtm_dir, "--vtm-dir", folder=True)
    check_timeout(timeout_s)
    check_retime(retime, force)
    requested = on_request(metrics, say)  # unknown names are refused before anything is stored
    context = CodecContext(device=device, decode_device=decode_device, checkpoint=checkpoint,
                           checkpoint_dir=checkpoint_dir,
                           tool_dirs=(("vtm", str(Path(vtm_dir).expanduser().resolve())),) if vtm_dir else (),
                           timeout_s=timeout_s, peak_memory=peak_memory)
    return _Options(context, requested, targets, tolerance, _text(data_root), _text(keep_bitstreams))


def _selection(codecs: str | Sequence[str], qualities: Qualities, context: CodecContext,
               say: Callable[[str], None]) -> Selection:
    """The named codecs at their qualities (each codec's valid range checked before anything is stored),
    the checkpoint options checked against them, and the qualities each checkpoint folder holds."""
    from rdbench.run.checks import check_device, check_weight_options, checkpoint_sweeps
    from rdbench.run.selection import Selection, select_codecs

    selection = select_codecs(codecs, qualities, context.device)
    choice = selection.qualities
    if context.checkpoint and any(len(choice.of(config.name) or ()) != 1 for config in selection.configs):
        raise UsageError("--checkpoint is one file for one quality: add --quality Q (or use --checkpoint-dir)")
    adapters = selection.adapters
    if context.decode_device is not None:
        if not any(adapter.wants_gpu for adapter in adapters):
            raise UsageError("--decode-device is for learned codecs; the selected codecs decode where they encode "
                             "(drop --decode-device)")
        try:
            check_device(context.decode_device, adapters)
        except UsageError as exc:
            raise UsageError(str(exc).replace("--device", "--decode-device"), hint=exc.hint) from None
    for note in check_weight_options(selection.configs, adapters, context):
        say(f"note: {note}")
    configs, found = checkpoint_sweeps(selection.configs, adapters, context, choice)
    for note in found:
        say(note)
    return Selection(configs, adapters, choice)


def _dataset(db: str | os.PathLike[str], dataset: str | os.PathLike[str], data_root: str | None,
             say: Callable[[str], None]) -> Dataset:
    """The dataset to measure (a registered name, or a folder, named as the store names its results)."""
    from rdbench.analysis.catalogue import Catalogue
    from rdbench.analysis.dataset_names import dataset_to_measure

    with readable_or_none(db) as stored:
        measured = dataset_to_measure(Catalogue(stored), os.fspath(dataset), data_root)
    if measured.manifest is None:  # a folder: say the name its results are stored under
        say(measured.describe())
    return measured


def _plan(store: Store, configs: list[CodecConfig], dataset: Dataset, context: CodecContext, choice: Qualities, *,
          retry_failed: bool, force: bool, keep_bitstreams: str | None, retime: bool, metrics: list[str],
          say: Callable[[str], None]) -> Plan:
    """The jobs not stored yet (:func:`rdbench.run.plan.plan_jobs`), and what the plan says: re-timing,
    resuming, its notes and what it cannot run."""
    from rdbench.run.plan import plan_jobs

    plan = plan_jobs(store, configs, dataset, context, qualities=choice, retry_failed=retry_failed,
                     force=force, keep_bitstreams=keep_bitstreams, retime=retime, metrics=metrics)
    if plan.retimes:
        say(f"re-timing {plural(plan.retimes, 'stored record')} (their bpp, PSNR and MS-SSIM are kept)")
    if plan.skipped_ok or plan.skipped_failed:
        say(f"resuming: {plural(plan.skipped_ok, 'record')} already stored"
            + (f", {plural(plan.skipped_failed, 'failed one')} skipped (--retry-failed reruns them)"
               if plan.skipped_failed else ""))
    for note in plan.notes:
        say(f"note: {note}")
    for line in plan.missing_lines():
        say(line)
    return plan


def _targets(target_bpp: str | float | Sequence[float] | None, rate_tolerance: float, qualities: Qualities,
             retime: bool, force: bool) -> tuple[tuple[float, ...], float]:
    """The checked targets and tolerance (a fraction) of a rate-matched run, or ``((), 0.0)`` for a plain
    one; the options a search chooses for itself are refused with it."""
    from rdbench.run.rate_match import check_tolerance, parse_targets

    tolerance = check_tolerance(rate_tolerance)
    if target_bpp is None:
        if rate_tolerance != DEFAULT_TOLERANCE:
            raise UsageError("--rate-tolerance goes with --target-bpp")
        return (), 0.0
    targets = parse_targets(target_bpp)
    if qualities:
        raise UsageError("--target-bpp searches each image's quality itself: drop --quality")
    if retime or force:
        raise UsageError(f"--{'retime' if retime else 'force'} does not combine with --target-bpp",
                         hint="rerun the points as a plain run (--quality), then match again")
    return targets, tolerance


def _match(store: Store, configs: list[CodecConfig], dataset: Dataset, context: CodecContext,
           targets: tuple[float, ...], tolerance: float, runner: Executor, failures: list[Record], progress: bool,
           on_record: Callable[[Record], None] | None, outcome: Outcome, keep_bitstreams: str | None,
           retry_failed: bool, metrics: list[str]) -> list[CodecTargets]:
    """The searches of a rate-matched run, each round's points coded by the run's executor (and added to
    ``outcome``)."""
    from rdbench.run.rate_match import match

    def run(jobs: list[Job]) -> list[Record]:
        records: list[Record] = []

        def seen(record: Record) -> None:
            records.append(record)
            if on_record is not None:
                on_record(record)

        done = _execute(store, jobs, runner, failures, progress, seen)
        outcome.ok += done.ok
        outcome.failed += done.failed
        return records

    return match(store, configs, dataset, context, targets, tolerance, run, keep_bitstreams=keep_bitstreams,
                 retry_failed=retry_failed, metrics=metrics)


def benchmark(
    codecs: str | Sequence[str],
    dataset: str | os.PathLike[str],
    qualities: Qualities = None,
    *,
    db: str | os.PathLike[str] = DEFAULT_DB,
    jobs: int = 1,
    threads: int | None = None,
    device: str = "cpu",
    decode_device: str | None = None,
    checkpoint: str | os.PathLike[str] | None = None,
    checkpoint_dir: str | os.PathLike[str] | None = None,
    retry_failed: bool = False,
    force: bool = False,
    retime: bool = False,
    keep_bitstreams: str | os.PathLike[str] | None = None,
    vtm_dir: str | os.PathLike[str] | None = None,
    data_root: str | os.PathLike[str] | None = None,
    timeout_s: float | None = None,
    executor: str = "local",
    scheduler: str | None = None,
    peak_memory: bool = True,
    metrics: str | Sequence[str] | None = None,
    target_bpp: str | float | Sequence[float] | None = None,
    rate_tolerance: float = DEFAULT_TOLERANCE,
    progress: bool = False,
    on_record: Callable[[Record], None] | None = None,
    say: Callable[[str], None] | None = None,
) -> pd.DataFrame:
    """Benchmark ``codecs`` on ``dataset``: encode, decode and measure every image at every quality,
    committing each record to ``db`` as it is measured, and return the records.

    What ``rdbench run`` does, with the same checks, resume and re-time rules (its ``--help`` says
    more on each option). A second call with the same arguments resumes: it measures only what
    is not stored yet, and returns the same rows.

    ``codecs``: names (``"jpeg,webp"`` or a list; ``rdbench codecs`` lists them). ``dataset``: a
    registered dataset (``"kodak"``), or a folder of images (a path). ``qualities``: the points
    of every codec (a list), of each codec (a mapping codec -> list), or a
    :class:`rdbench.codecs.quality_choice.QualityChoice`; None: each codec's sweep.
    ``jobs``: worker processes for CPU codecs; ``threads``: torch, OpenMP/BLAS and metric threads
    of every job (default cores // jobs). ``device`` / ``decode_device``: ``cpu``, ``cuda`` or
    ``cuda:N`` for learned codecs (decode on another device to check a bitstream decodes there).
    ``checkpoint`` (one file, one quality) / ``checkpoint_dir``: learned codecs' weights.
    ``retry_failed``: rerun stored failures; ``force``: recompute stored jobs; ``retime``: re-measure
    the stored records' times only. ``keep_bitstreams``: a folder to save every bitstream in.
    ``vtm_dir``: a built VTM tree (else ``RDBENCH_VTM_DIR``). ``data_root``: where datasets live.
    ``timeout_s``: seconds one job's coding may take. ``executor``: ``"local"`` or ``"dask"``
    (with ``scheduler``, e.g. ``"tcp://HOST:8786"``). ``peak_memory``: measure each image's peak
    resident memory (honest, slower) or time as a warm loop does. ``metrics``: metrics measured on
    request (names or sets, ``"jpeg-ai"`` or a list), computed with every job; stored records of the
    selection that lack them get them from their kept bitstreams (:func:`rdbench.api.rescore.rescore`),
    and a record without one is named with what to do (docs/metrics.md). ``target_bpp``: rates (a list, or
    ``"0.12,0.25"``, or ``"jpeg-ai"`` for 0.06, 0.12, 0.25, 0.5, 0.75) to search each image's quality for
    instead of coding ``qualities``, within ``rate_tolerance`` percent (docs/rate-matching.md); the
    records returned are then the matched points.

    ``progress``: show a progress bar; ``on_record``: called with each record as it is stored;
    ``say``: takes each line the run has to say (notes, codecs skipped, resuming, failures;
    default: printed on stderr).

    Returns every stored record of the selection (each codec configuration at each quality on each
    image of the dataset, on this device, whether measured by this call or before it), ok and
    failed (the ``status`` column), one row per record with the columns of
    :func:`rdbench.load_records`. Raises :class:`~rdbench.errors.UsageError` on a bad argument
    (nothing stored) and :class:`~rdbench.errors.RdbenchError` when no codec can run here.
    """
    run = run_benchmark(codecs, dataset, qualities, db=db, jobs=jobs, threads=threads, device=device,
                        decode_device=decode_device, checkpoint=checkpoint, checkpoint_dir=checkpoint_dir,
                        retry_failed=retry_failed, force=force, retime=retime, keep_bitstreams=keep_bitstreams,
                        vtm_dir=vtm_dir, data_root=data_root, timeout_s=timeout_s, executor=executor,
                        scheduler=scheduler, peak_memory=peak_memory, target_bpp=target_bpp,
                        rate_tolerance=rate_tolerance, metrics=metrics, progress=progress, on_record=on_record, say=say)
    say = say or to_stderr
    for line in run.closing_lines():
        say(line)
    if (failed := run.all_failed()) is not None:
        say(failed)
    return run.records()


def _complete_reused(store: Store, configs: list[CodecConfig], dataset: Dataset, plan: Plan,
                     requested: list[metric_spec.Metric], progress: bool,
                     matched: list[CodecTargets] | None = None) -> RescoreOutcome | None:
    """Add the requested on-request metrics to the stored ok records the run reuses (planned jobs
    compute them anyway), and to the points its rate searches chose, from their kept bitstreams;
    None when no such record lacks one."""
    from rdbench.run.rescore import missing_metrics

    wanted = [m for m in requested if not m.builtin]
    if not wanted:
        return None
    reused = set(plan.keys) - {job.key for job in plan.jobs if not job.retime}
    found = store.find_records(selections=[{"codec": c.name, "config_hash": c.config_hash} for c in configs],
                               datasets=[dataset.name], stale=False)
    chosen = {(t.config.name, t.config.config_hash, m.image, m.quality)
              for t in matched or [] for m in t.matches if m.quality is not None}
    lacking = [r for r in found if r.ok and (r.key in reused or (r.codec, r.config_hash, r.image, r.quality) in chosen)
               and missing_metrics(r, wanted)]
    if not lacking:
        return None
    images = {ref.name: (ref.path, dataset.image_hashes[ref.name]) for ref in dataset.images}
    return complete_stored(store, lacking, wanted, images, progress=progress)


def check_count(name: str, value: object) -> None:
    """``jobs`` and ``threads`` are whole numbers from 1 (the command line's range)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise UsageError(f"--{name} {value!r}: give a whole number of at least 1")


def _text(value: str | os.PathLike[str] | None) -> str | None:
    return None if value is None else os.fspath(value)


def existing_path(value: str | os.PathLike[str] | None, option: str, *, folder: bool) -> str | None:
    """A file or folder a run reads, which must exist (the command line's check, for callers of the
    library)."""
    if value is None:
        return None
    path = Path(value).expanduser()
    if not (path.is_dir() if folder else path.is_file()):
        raise UsageError(f"{option} {os.fspath(value)}: no such {'folder' if folder else 'file'}")
    return os.fspath(value)


def _execute(store: Store, jobs: list[Job], executor: Executor, failures: list[Record], progress: bool,
             on_record: Callable[[Record], None] | None) -> Outcome:
    """Run the planned jobs, collecting failed records in ``failures``; with ``progress`` a bar on
    stdout names the job that finished last."""
    from rdbench.run.execute import execute

    with progress_bar(len(jobs), progress, "running") as advance:
        def seen(record: Record) -> None:
            if not record.ok:
                failures.append(record)
            if on_record is not None:
                on_record(record)
            advance(record)

        return execute(store, jobs, executor, seen)
