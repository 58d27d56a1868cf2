"""`rdbench run`: benchmark codecs on a dataset into the results database."""

from __future__ import annotations

import sys
from contextlib import nullcontext
from typing import TYPE_CHECKING

import click

from rdbench.cli.options import (
    checked_qualities,
    data_root_option,
    db_option,
    parse_qualities,
    quality_option,
)
from rdbench.errors import plural

if TYPE_CHECKING:
    from rdbench.run.execute import Outcome


@click.command(name="run")
@click.option("--codec", "codec_names", required=True, help="Comma-separated codec names (see `rdbench codecs`).")
@click.option("--dataset", "dataset_spec", required=True, help="Registered dataset (kodak, tecnick, clic-pro-valid) or a folder of images.")
@quality_option("the points to run (JPEG quality, VTM QP, model index), each in the codec's range [default: each codec's sweep]")
@click.option("--jobs", "-j", default=1, show_default=True, type=click.IntRange(1), help="Worker processes for CPU codecs.")
@click.option("--threads", type=click.IntRange(1), default=None, help="torch, OpenMP/BLAS and metric threads of every job (default: cores // --jobs). A learned codec's PSNR can differ in the 4th decimal between thread counts (torch's summation order); the same --threads gives the same numbers under any --jobs. Stored with each record (extra.timing).")
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda or cuda:N for learned codecs.")
@click.option("--decode-device", default=None, help="Learned codecs: decode on this device instead of --device (e.g. --device cuda --decode-device cpu), to check a bitstream decodes elsewhere; records store the device as ENCODE-to-DECODE (cuda-to-cpu) with extra.decoder_matches_encoder.")
@click.option("--checkpoint", type=click.Path(exists=True, dir_okay=False), default=None, help="Learned codecs: one checkpoint (needs a single --quality).")
@click.option("--checkpoint-dir", type=click.Path(exists=True, file_okay=False), default=None, help="Learned codecs: folder of checkpoints, mapped to qualities by the codec's checkpoint_pattern; without --quality every quality it holds a file for runs, and a named quality without one is reported and left out.")
@click.option("--retry-failed", is_flag=True, help="Rerun jobs whose stored record failed.")
@click.option("--force", is_flag=True, help="Recompute jobs that are already stored.")
@click.option("--retime", is_flag=True, help="Also re-measure the encode/decode times (and peak memory) of the stored records of this selection under this run's conditions, keeping their bpp, PSNR and MS-SSIM; a record whose re-encode gives other bytes is left as it was and reported.")
@click.option("--keep-bitstreams", type=click.Path(file_okay=False), default=None, help="Save every bitstream as DIR/<dataset>/<codec>-<config hash>[-w<weights>][-<device>]/<quality>/<image file name>.<image hash>.bin (-w<weights>: 8 hex of the SHA-256 of the weights id, codecs with weights only; -<device>: not for cpu; one file per record, its path in the record's extra.bitstream).")
@click.option("--vtm-dir", type=click.Path(exists=True, file_okay=False, resolve_path=True), default=None, help="VTM source tree built with CMake (bin/ and cfg/); else RDBENCH_VTM_DIR. See the README's VTM-17.0 section.")
@db_option
@data_root_option
@click.option("--timeout", "timeout_s", type=click.FloatRange(min=0, min_open=True), default=None, help="Seconds one job's coding (encode, decode, metrics) may take; set-up (loading the image, building the codec, loading its model) is not counted and has its own limit of 600 s. A job over time is killed and recorded as failed (jobs then run in worker processes).")
@click.option("--executor", type=click.Choice(["local", "dask"]), default="local", show_default=True, help="local: this machine (--jobs processes); dask: a Dask cluster (--scheduler).")
@click.option("--scheduler", default=None, help="Dask scheduler address for --executor dask, e.g. tcp://HOST:8786 (see docs/cluster.md).")
@click.option("--peak-memory/--no-peak-memory", default=True, show_default=True, help="Measure each image's peak resident memory (peak_mem_bytes). Honest figures hand freed memory back to the OS before every image, so the codec faults its memory in again inside its timings (+12-20 % for a learned codec on the CPU); --no-peak-memory times as a warm loop does (as CompressAI's eval_model) and stores no CPU memory figure.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar and no summary table.")
def command(codec_names, dataset_spec, qualities, jobs, threads, device, decode_device, checkpoint, checkpoint_dir,
            retry_failed, force, retime, keep_bitstreams, vtm_dir, timeout_s, executor, scheduler, db, data_root,
            peak_memory, quiet) -> None:
    """Benchmark codecs on a dataset: encode, decode and measure every image at every quality.

    Each record is committed as soon as it is measured; rerunning the same command resumes,
    skipping what is stored (--retime re-measures the stored records' times, keeping their quality
    figures, so that a curve's timings come from one set of conditions). Exit status 0 when
    anything ran (failed images are recorded and listed; a quality whose checkpoint is missing is
    named and counted, the others run), 1 when nothing could run, 2 on a usage error. With
    --checkpoint-dir and no --quality, a learned codec codes every quality the folder holds a
    checkpoint for.

    \b
    Examples:
      rdbench run --codec jpeg,webp --dataset kodak --jobs 2
      rdbench run --codec jpeg --dataset ~/pictures --quality 50,75,90
      rdbench run --codec jpeg,webp --dataset kodak --quality jpeg=30,50,70 --quality webp=40,60
      rdbench run --codec mlicpp --dataset kodak --checkpoint-dir ckpt/ --device cuda
      rdbench run --codec mlicpp-random --dataset kodak --device cuda --decode-device cpu
      rdbench run --codec vtm17 --dataset tecnick --timeout 7200 --executor dask --scheduler tcp://HEAD:8786
    """
    from pathlib import Path

    from rdbench.analysis.dataset_names import dataset_to_measure
    from rdbench.codecs.base import CodecContext
    from rdbench.codecs.registry import load_adapter, resolve_codecs
    from rdbench.data.datasets import data_root as root_of
    from rdbench.data.install import check_unchanged
    from rdbench.errors import RdbenchError, UsageError
    from rdbench.run.checks import (
        check_device,
        check_timeout,
        check_weight_options,
        checkpoint_sweeps,
        for_qualities,
    )
    from rdbench.run.execute import Outcome
    from rdbench.run.executors import make_executor
    from rdbench.run.plan import plan_jobs
    from rdbench.store.sqlite import Store

    check_timeout(timeout_s)
    if retime and force:
        raise UsageError("--retime keeps the stored quality figures and --force replaces them: choose one")
    choice = parse_qualities(qualities)
    context = CodecContext(device=device, decode_device=decode_device, checkpoint=checkpoint,
                           checkpoint_dir=checkpoint_dir, tool_dirs=(("vtm", vtm_dir),) if vtm_dir else (),
                           timeout_s=timeout_s, peak_memory=peak_memory)
    selected = resolve_codecs(codec_names)
    choice = checked_qualities(selected, choice)  # each codec's valid range, before anything is stored
    if checkpoint and any(len(choice.of(config.name) or ()) != 1 for config in selected):
        raise UsageError("--checkpoint is one file for one quality: add --quality Q (or use --checkpoint-dir)")
    adapters = [load_adapter(config.adapter) for config in selected]
    check_device(device, adapters)
    if decode_device is not None:
        if not any(adapter.wants_gpu for adapter in adapters):
            raise UsageError("--decode-device is for learned codecs; the selected codecs decode where they encode "
                             "(drop --decode-device)")
        try:
            check_device(decode_device, adapters)
        except UsageError as exc:
            raise UsageError(str(exc).replace("--device", "--decode-device"), hint=exc.hint) from None
    for note in check_weight_options(selected, adapters, context):
        click.echo(f"note: {note}", err=True)
    selected, found = checkpoint_sweeps(selected, adapters, context, choice)
    for note in found:
        click.echo(note, err=True)
    with (Store(db, readonly=True) if Path(db).exists() else nullcontext()) as stored:
        dataset = dataset_to_measure(stored, dataset_spec, data_root)
    if dataset.manifest is None:  # a folder: say the name its results are stored under
        click.echo(dataset.describe(), err=True)
    configs = []
    for config, adapter in zip(selected, adapters):
        reason = adapter.unavailable_reason(for_qualities(config, choice.of(config.name)), context)
        if reason:
            click.echo(f"skipping {config.name}: {reason}", err=True)
        else:
            configs.append(config)
    if not configs:
        raise RdbenchError("no codec can run on this machine", hint="`rdbench codecs` says what each one needs")
    check_unchanged(dataset, root_of(data_root))  # a registered dataset's images are the ones its hashes name

    runner = make_executor(executor, jobs=jobs, timeout_s=timeout_s, scheduler=scheduler, threads=threads)
    with Store(db) as store:
        plan = plan_jobs(store, configs, dataset, context, qualities=choice, retry_failed=retry_failed,
                         force=force, keep_bitstreams=keep_bitstreams, retime=retime)
        if plan.retimes:
            click.echo(f"re-timing {plural(plan.retimes, 'stored record')} (their bpp, PSNR and MS-SSIM are kept)",
                       err=True)
        if plan.skipped_ok or plan.skipped_failed:
            click.echo(f"resuming: {plural(plan.skipped_ok, 'record')} already stored"
                       + (f", {plural(plan.skipped_failed, 'failed one')} skipped (--retry-failed reruns them)" if plan.skipped_failed else ""),
                       err=True)
        for note in plan.notes:
            click.echo(f"note: {note}", err=True)
        for line in plan.missing_lines():
            click.echo(line, err=True)
        failures = []
        if plan.jobs:
            outcome = _run_with_progress(store, plan.jobs, runner, failures, quiet)
        else:
            outcome = Outcome()
            click.echo("nothing to do: every job is already stored (--force recomputes)", err=True)
        if not quiet:
            _print_summary(store, configs, dataset.name)
    if plan.retimes:
        click.echo(f"re-timed {plural(outcome.retimed, 'record')}"
                   + (f"; {len(outcome.refused)} left as stored" if outcome.refused else ""), err=True)
    for record, reason in outcome.refused[:20]:
        click.echo(f"not re-timed: {record.codec} q={record.quality} {record.image}: {reason}", err=True)
    if len(outcome.refused) > 20:
        click.echo(f"... and {len(outcome.refused) - 20} more not re-timed", err=True)
    for record in failures[:20]:
        click.echo(f"failed: {record.codec} q={record.quality} {record.image}: {record.error}", err=True)
    if len(failures) > 20:
        click.echo(f"... and {len(failures) - 20} more; `rdbench results --failed` lists them all", err=True)
    if plan.missing_weights:
        click.echo(f"{plural(len(plan.missing_weights), 'quality', 'qualities')} not run: no checkpoint "
                   f"({', '.join(f'{c} q={q}' for c, q, _ in plan.missing_weights)})", err=True)
    if plan.jobs and outcome.ok + outcome.retimed == 0:
        click.echo(f"error: all {plural(outcome.failed + len(outcome.refused), 'job')} failed", err=True)
        sys.exit(1)


def _run_with_progress(store, jobs, executor, failures, quiet) -> Outcome:
    from rdbench.run.execute import execute

    if quiet:  # no progress bar: rich is not even imported (a fixed cost of every quiet run)
        def on_failure(record) -> None:
            if not record.ok:
                failures.append(record)

        return execute(store, jobs, executor, on_failure)

    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), TimeRemainingColumn(), transient=False)
    with progress:
        task = progress.add_task("running", total=len(jobs))

        def on_record(record) -> None:
            if not record.ok:
                failures.append(record)
            progress.update(task, advance=1, description=f"{record.codec} q={record.quality} {record.image}")

        return execute(store, jobs, executor, on_record)


def _print_summary(store, configs, dataset: str) -> None:
    from rdbench import metric_spec
    from rdbench.analysis.aggregate import aggregate, mixed_timing_note
    from rdbench.cli.formatting import render

    wanted = {(c.name, c.config_hash) for c in configs}
    records = [r for r in store.records(codecs=[c.name for c in configs], datasets=[dataset])
               if (r.codec, r.config_hash) in wanted]
    rows = aggregate(records)
    if rows:
        plugins = sorted({m.name for m in metric_spec.plugins()} & {key for r in rows for key in r})
        columns = ["codec", "quality", "n", "failed", "bpp", metric_spec.PSNR.field, metric_spec.MS_SSIM.field,
                   *plugins, "encode_s", "decode_s"]
        if any(r.get("psnr_capped") for r in rows):
            columns.insert(columns.index(metric_spec.PSNR.field) + 1, "psnr_capped")
        if len({r["device"] for r in rows}) > 1:
            columns.insert(2, "device")
        note = mixed_timing_note(rows)
        if note:
            columns.append("n_timed")
        click.echo(render(rows, columns, "table", title=f"\n{dataset}: mean over images"))
        if note:
            click.echo(f"note: {note}", err=True)
