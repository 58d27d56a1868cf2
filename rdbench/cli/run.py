"""`rdbench run`: benchmark codecs on a dataset into the results database."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from rdbench.cli.options import (
    data_root_option,
    db_option,
    parse_qualities,
    quality_option,
)
from rdbench.run.rate_match import DEFAULT_TOLERANCE

if TYPE_CHECKING:
    from rdbench.api.benchmark import BenchmarkRun
    from rdbench.codecs.base import CodecConfig


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
@click.option("--vtm-dir", type=click.Path(exists=True, file_okay=False, resolve_path=True), default=None, help="VTM source tree built with CMake (bin/ and cfg/); else RDBENCH_VTM_DIR. See docs/external-codecs.md (VTM-17.0 anchor).")
@db_option
@data_root_option
@click.option("--timeout", "timeout_s", type=click.FloatRange(min=0, min_open=True), default=None, help="Seconds one job's coding (encode, decode, metrics) may take; set-up (loading the image, building the codec, loading its model) is not counted and has its own limit of 600 s. A job over time is killed and recorded as failed (jobs then run in worker processes).")
@click.option("--executor", type=click.Choice(["local", "dask"]), default="local", show_default=True, help="local: this machine (--jobs processes); dask: a Dask cluster (--scheduler).")
@click.option("--scheduler", default=None, help="Dask scheduler address for --executor dask, e.g. tcp://HOST:8786 (see docs/cluster.md).")
@click.option("--peak-memory/--no-peak-memory", default=True, show_default=True, help="Measure each image's peak resident memory (peak_mem_bytes). Honest figures hand freed memory back to the OS before every image, so the codec faults its memory in again inside its timings (+12-20 % for a learned codec on the CPU); --no-peak-memory times as a warm loop does (as CompressAI's eval_model) and stores no CPU memory figure.")
@click.option("--metrics", default=None, metavar="NAME[,NAME|SET...]", help="Also compute these metrics measured on request (names or sets such as jpeg-ai; see docs/metrics.md) with every job. Stored records this run reuses get them from their kept bitstreams (--keep-bitstreams of the run that made them); a record without one is named with what to do.")
@click.option("--target-bpp", default=None, metavar="BPP1,BPP2,...|jpeg-ai", help="Instead of --quality: search each image's quality for each of these rates (jpeg-ai: 0.06,0.12,0.25,0.5,0.75), storing every point tried; see docs/rate-matching.md.")
@click.option("--rate-tolerance", type=float, default=DEFAULT_TOLERANCE, show_default=True, metavar="PERCENT", help="With --target-bpp: how far (in % of the target) a continuous control's point may be from it.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar and no summary table.")
def command(codec_names, dataset_spec, qualities, jobs, threads, device, decode_device, checkpoint, checkpoint_dir,
            retry_failed, force, retime, keep_bitstreams, vtm_dir, timeout_s, executor, scheduler, db, data_root,
            peak_memory, metrics, target_bpp, rate_tolerance, quiet) -> None:
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
      rdbench run --codec jpeg,webp --dataset kodak --metrics jpeg-ai --keep-bitstreams bitstreams/
      rdbench run --codec jpeg,webp --dataset kodak --quality jpeg=30,50,70 --quality webp=40,60
      rdbench run --codec mlicpp --dataset kodak --checkpoint-dir ckpt/ --device cuda
      rdbench run --codec jpegxl,jpeg --dataset kodak --target-bpp jpeg-ai --jobs 2
      rdbench run --codec mlicpp-random --dataset kodak --device cuda --decode-device cpu
      rdbench run --codec vtm17 --dataset tecnick --timeout 7200 --executor dask --scheduler tcp://HEAD:8786
    """
    from rdbench.api.benchmark import run_benchmark

    def say(line: str) -> None:
        click.echo(line, err=True)

    run = run_benchmark(codec_names, dataset_spec, parse_qualities(qualities), db=db, jobs=jobs, threads=threads,
                        device=device, decode_device=decode_device, checkpoint=checkpoint,
                        checkpoint_dir=checkpoint_dir, retry_failed=retry_failed, force=force, retime=retime,
                        keep_bitstreams=keep_bitstreams, vtm_dir=vtm_dir, data_root=data_root, timeout_s=timeout_s,
                        executor=executor, scheduler=scheduler, peak_memory=peak_memory, metrics=metrics,
                        target_bpp=target_bpp,
                        rate_tolerance=rate_tolerance, progress=not quiet, say=say)
    if run.targets is not None:
        _print_targets(run, quiet)
    elif not quiet:
        _print_summary(run.db, run.configs, run.dataset)
    for line in run.closing_lines():
        say(line)
    if (failed := run.all_failed()) is not None:
        say(f"error: {failed}")
        sys.exit(1)


def _print_summary(db: Path, configs: list[CodecConfig], dataset: str) -> None:
    from rdbench import metric_spec
    from rdbench.analysis.aggregate import aggregate, mixed_timing_note
    from rdbench.cli.formatting import render
    from rdbench.store.sqlite import Store

    wanted = {(c.name, c.config_hash) for c in configs}
    with Store(db, readonly=True) as store:
        records = [r for r in store.records(codecs=[c.name for c in configs], datasets=[dataset])
                   if (r.codec, r.config_hash) in wanted]
    rows = aggregate(records)
    if rows:
        declared = {m.name for m in metric_spec.registered().values() if not m.builtin}
        plugins = sorted(declared & {key for r in rows for key in r})
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


def _print_targets(run: BenchmarkRun, quiet: bool) -> None:
    """The means at each target of the run's codecs, and what the searches cost: encodes per image and target."""
    from rdbench.analysis.targets import MODELS_NOTE, TARGET_COLUMNS, target_rows
    from rdbench.cli.formatting import render
    from rdbench.store.sqlite import Store

    for result in run.targets or []:
        searches = len(result.matches)
        images = len({m.image for m in result.matches})
        per = result.encodes / searches if searches else 0.0
        click.echo(f"{result.config.name}: {result.control} control, {images} images x "
                   f"{searches // max(images, 1)} targets: {result.encodes} encodes ({per:.2f} per image and target)"
                   + (f"; {MODELS_NOTE}" if result.control == "models" else ""), err=True)
    if quiet:
        return
    rows = []
    with Store(run.db, readonly=True) as store:
        for result in run.targets or []:
            targets = {m.target for m in result.matches}
            rows += [row for row in target_rows(store, selections=[
                {"codec": result.config.name, "config_hash": result.config.config_hash, "weights": result.weights,
                 "device": result.device, "code": result.code}], datasets=[run.dataset], tolerance=result.tolerance)
                if row["target_bpp"] in targets and row["weights"] == result.weights]
    if rows:
        columns = [c for c in TARGET_COLUMNS if c not in ("config", "weights", "dataset", "device", "tolerance_pct") and
                   (c != "note" or any(row.get("note") for row in rows))]
        click.echo(render(rows, columns, "table", title=f"\n{run.dataset}: mean over images at each target"))
