"""`rdbench complexity`: time, memory, FLOPs and decoder MACs per pixel of codecs against resolution."""

from __future__ import annotations

import click

from rdbench.cli.options import (
    data_root_option,
    db_option,
    format_option,
    parse_qualities,
    quality_option,
)


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
        EXPONENT_COLUMNS,
        POINT_COLUMNS,
        complexity_rows,
        plot_complexity,
        scaling_exponents,
    )
    from rdbench.api.complexity import measure_complexity
    from rdbench.cli.formatting import render

    points = measure_complexity(codec_names, sizes, parse_qualities(qualities), dataset=dataset_spec, device=device,
                                repeat=repeat, threads=threads, checkpoint=checkpoint, checkpoint_dir=checkpoint_dir,
                                flops_only=flops_only, forward_only=forward_only, in_process=in_process, db=db,
                                store=not no_store, data_root=data_root, say=lambda line: click.echo(line, err=True))

    columns, exp_columns = POINT_COLUMNS, EXPONENT_COLUMNS
    rows = complexity_rows(points)
    exponents = scaling_exponents([p for p in points if p.status == "ok" or p.flops],
                                  fit_min_size * fit_min_size if fit_min_size else None)
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

