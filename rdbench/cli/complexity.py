"""`rdbench complexity`: time, memory, FLOPs and decoder MACs per pixel of codecs against resolution."""

from __future__ import annotations

from contextlib import nullcontext

import click

from rdbench.cli.options import (
    checked_qualities,
    data_root_option,
    db_option,
    format_option,
    parse_qualities,
    quality_option,
    split_csv,
)

#: Smallest side --sizes accepts, in pixels.
MIN_SIDE = 16


def parse_sizes(text: str) -> list[int | tuple[int, int]]:
    """``--sizes``: square sides (``512``) and WIDTHxHEIGHT sizes (``768x512``), in pixel order."""
    from rdbench.errors import UsageError

    sizes: list[int | tuple[int, int]] = []
    too_small: list[str] = []
    for token in split_csv(text):
        parts = token.lower().split("x")
        if len(parts) > 2 or not all(part.isdigit() for part in parts):
            raise UsageError(f"--sizes takes square sides or WIDTHxHEIGHT in pixels, e.g. 512 or 768x512; "
                             f"got {token!r}")
        sides = [int(part) for part in parts]
        if min(sides) < MIN_SIDE:
            too_small.append(token)
            continue
        size = sides[0] if len(sides) == 1 or sides[0] == sides[1] else (sides[0], sides[1])
        if size not in sizes:
            sizes.append(size)
    if too_small:
        raise UsageError(f"--sizes {','.join(too_small)}: sides under {MIN_SIDE} px are too small to measure; drop "
                         f"{'it' if len(too_small) == 1 else 'them'}, e.g. --sizes 256,512")
    if not sizes:
        raise UsageError("--sizes names no size; give square sides or WIDTHxHEIGHT in pixels, e.g. --sizes 256,512")
    return sorted(sizes, key=lambda s: (s * s, s) if isinstance(s, int) else (s[0] * s[1], s[0]))


@click.command(name="complexity")
@click.option("--codec", "codec_names", required=True, help="Comma-separated codec names (see `rdbench codecs`).")
@click.option("--sizes", default="256,512,768,1024", show_default=True,
              help="Comma-separated image sizes in pixels: a square side (512) or WIDTHxHEIGHT (768x512, "
                   "Kodak's size, at which C3 and the MLIC papers give decoder complexity).")
@quality_option("one point for every codec, or CODEC=Q for one [default: the first of its sweep]")
@click.option("--dataset", "dataset_spec", default=None,
              help="Resize the first image of this dataset (or folder) to each size [default: a synthetic image].")
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda or cuda:N for learned codecs.")
@click.option("--repeat", default=3, show_default=True, type=click.IntRange(1), help="Timed runs per measure (median).")
@click.option("--threads", type=click.IntRange(1), default=None, help="torch threads in each worker.")
@click.option("--checkpoint", type=click.Path(exists=True, dir_okay=False), default=None, help="Learned codecs: one checkpoint.")
@click.option("--checkpoint-dir", type=click.Path(exists=True, file_okay=False), default=None,
              help="Learned codecs: folder of checkpoints, mapped to qualities by the codec's checkpoint_pattern.")
@click.option("--flops-only", is_flag=True,
              help="Count FLOPs and decoder MACs only (shapes on the meta device): no timing, any size.")
@click.option("--forward-only", is_flag=True,
              help="Learned codecs: time, memory and FLOPs of the model forward only (no entropy coding).")
@click.option("--in-process", is_flag=True,
              help="Measure in this process instead of a fresh worker per point (faster; CPU peak memory then less clean).")
@click.option("--fit-min-size", type=click.IntRange(1), default=None,
              help="Fit exponents over sizes >= this side [default: the upper half of the sizes].")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False), default=None, help="Also write the plot (PNG/PDF/SVG).")
@click.option("--no-store", is_flag=True, help="Print only; do not write the points to the database.")
@db_option
@data_root_option
@format_option()
def command(codec_names, sizes, qualities, dataset_spec, device, repeat, threads, checkpoint, checkpoint_dir,
            flops_only, forward_only, in_process, fit_min_size, plot_path, no_store, db, data_root, fmt) -> None:
    """Measure encode, decode and forward time, peak memory and FLOPs at each image size.

    Learned codecs also get decoder MACs per pixel (decoder_macs_per_px): the multiply-accumulates
    of the forward outside the analysis transforms g_a and h_a, per pixel, as DeepMind C3 counts
    them. C3's figures are at Kodak's 768x512; these points are square, which changes nothing
    for convolution-only models but does for MLIC and MLIC+ (their attention grows with size).

    Each point runs in a fresh worker process (so peak memory is that point's own), is stored
    in the `complexity` table of the results database, and a point that runs out of memory is
    recorded as `oom` while the sweep goes on. The scaling exponent of each measure against the
    pixel count (log-log slope over the larger sizes) is printed after the points: ~1 is linear,
    ~2 quadratic; for FLOPs/pixel 0 means constant.

    \b
    Examples:
      rdbench complexity --codec mlic-random,mlicplus-random,mlicpp-random --sizes 128,256,512,768
      rdbench complexity --codec mlic-random --sizes 512,1024,2048,4096 --flops-only
      rdbench complexity --codec mlic-random,mlicplus-random --sizes 768x512 --flops-only   # C3's decoder MACs
      rdbench complexity --codec jpeg,webp --sizes 256,512,1024,2048 --repeat 5 --format markdown
    """
    from rdbench.analysis.complexity import (
        complexity_rows,
        plot_complexity,
        scaling_exponents,
    )
    from rdbench.cli.formatting import render
    from rdbench.codecs.base import CodecContext, parse_quality
    from rdbench.codecs.learned.base import LearnedCodec
    from rdbench.codecs.registry import load_adapter, resolve_codecs
    from rdbench.errors import RdbenchError, UsageError
    from rdbench.run import complexity
    from rdbench.run.checks import check_device
    from rdbench.store.sqlite import Store

    size_list = parse_sizes(sizes)
    if checkpoint and not qualities:
        raise UsageError("--checkpoint is one file for one quality: add --quality Q (or use --checkpoint-dir)")
    selected = resolve_codecs(codec_names)
    check_device(device, [load_adapter(config.adapter) for config in selected])
    choice = checked_qualities(selected, parse_qualities(qualities))  # each codec's valid range, before anything is stored
    for config in selected:
        chosen = choice.of(config.name) or []
        if len(chosen) > 1:
            raise UsageError(f"--quality takes one point per codec, not {', '.join(chosen)} for {config.name}: "
                             "run one sweep per quality")
    image_path = None
    if dataset_spec:
        from pathlib import Path

        from rdbench.analysis.dataset_names import dataset_to_measure

        with (Store(db, readonly=True) if Path(db).exists() else nullcontext()) as stored:
            image_path = str(dataset_to_measure(stored, dataset_spec, data_root).images[0].path)
    context = CodecContext(device=device, checkpoint=checkpoint, checkpoint_dir=checkpoint_dir, threads=threads)
    jobs = []
    for config in selected:
        adapter = load_adapter(config.adapter)
        if flops_only and not issubclass(adapter, LearnedCodec):
            click.echo(f"skipping {config.name}: --flops-only counts the FLOPs of a torch model's forward, and "
                       f"{config.name} is not one", err=True)
            continue
        reason = adapter.unavailable_reason(config, context)
        if reason:
            click.echo(f"skipping {config.name}: {reason}", err=True)
            continue
        chosen = choice.of(config.name)
        q = parse_quality(chosen[0]) if chosen else (config.qualities[0] if config.qualities else None)
        if q is None:
            raise UsageError(f"{config.name} has no default quality; pass --quality")
        jobs.append((config, q))
    if not jobs and flops_only:
        raise UsageError("--flops-only needs a learned codec (a torch model), e.g. --codec mlicpp-random")
    if not jobs:
        raise RdbenchError("no codec can run on this machine", hint="`rdbench codecs` says what each one needs")

    measure = complexity.measure_point if in_process else complexity.measure_point_fresh
    # Each point is stored as soon as it is measured: a large sweep takes hours, and an
    # interrupted one keeps every point it finished. FLOPs-only points too (status ok, times and
    # memory None): `rdbench plot --complexity` draws them, and a stored point keeps its times.
    store = Store(db) if not no_store else None
    points = []
    try:
        for config, q in jobs:
            for size in size_list:
                point = measure(config, context, q, size, repeat, image_path, flops_only, forward_only)
                points.append(point)
                if store is not None:
                    store.add_complexity_points([point])
                click.echo(f"{config.name} {point.width}x{point.height}: {_progress_line(point)}", err=True)
    finally:
        if store is not None:
            store.close()

    columns = ["codec", "size", "status", "encode_ms", "decode_ms", "forward_ms", "peak_mem_mib", "fwd_mem_mib",
               "kflops_per_px", "decoder_macs_per_px", "bpp"]
    rows = complexity_rows(points)
    exponents = scaling_exponents([p for p in points if p.status == "ok" or p.flops],
                                  fit_min_size * fit_min_size if fit_min_size else None)
    exp_columns = ["codec", "device", "fit_sizes", "encode_s", "decode_s", "forward_s", "peak_mem_bytes",
                   "forward_peak_mem_bytes", "flops", "flops_per_pixel", "fpp_growth"]
    if fmt in ("json", "csv"):
        click.echo(render(rows, None if fmt == "json" else columns + ["pixels", "flops", "error"], fmt))
        click.echo(render(exponents, exp_columns, "table", title="scaling exponents vs pixels"), err=True)
    else:
        click.echo(render(rows, columns, fmt, title="complexity points", digits=2))
        click.echo()
        click.echo(render(exponents, exp_columns, fmt, title="scaling exponents vs pixel count (log-log slope)",
                          digits=2))
    for p in points:
        if p.error:
            click.echo(f"{p.status}: {p.codec} {p.width}x{p.height}: {p.error}", err=True)
    if plot_path:
        click.echo(f"plot: {plot_complexity(points, plot_path)}", err=True)


def _progress_line(point) -> str:
    """What a finished point measured, in one line (times, then peak memory, then FLOPs)."""
    if point.status != "ok":
        return point.status
    parts = [f"{name} {getattr(point, name + '_s'):.3f}s" for name in ("encode", "decode", "forward")
             if getattr(point, name + "_s") is not None]
    for label, value in (("peak", point.peak_mem_bytes), ("forward peak", point.forward_peak_mem_bytes)):
        if value is not None:
            parts.append(f"{label} {value / 2**20:.0f} MiB")
    if point.flops is not None:
        parts.append(f"{point.flops_per_pixel / 1e3:.0f} kFLOPs/px")
    if point.decoder_macs_per_px is not None:
        parts.append(f"decoder {point.decoder_macs_per_px:,.0f} MACs/px")
    return " ".join(parts) or "ok"
