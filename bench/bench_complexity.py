"""Complexity versus resolution: MLIC, MLIC+ (quadratic global contexts) against MLIC++ (linear).

Measures, per codec and square size, encode/decode/forward time (median of --repeat after a
warm-up), peak memory (fresh worker process per point) and FLOPs (FlopCounterMode on the
meta device), then fits the scaling exponent of each measure against the pixel count over
the larger sizes. FLOPs are also counted, shapes only, at sizes too large to run here
(--flops-sizes), where the quadratic terms grow: MLIC's intra-slice (L/2)x(L/2) maps, and
MLIC+'s inter-slice LxL maps besides (L latent positions; docs/mlic-fidelity.md section 4.3).

Learned codecs use their ``*-random`` configurations (paper-size architectures with seeded
random weights): complexity does not depend on the weights. Writes a markdown report and a
plot (``plot_complexity``).

    python bench/bench_complexity.py [--sizes 128,256,384,512,768] [--flops-sizes 256,...,4096]
        [--forward-sizes 768,1024,1536,2048] [--codecs mlic-random,mlicplus-random,mlicpp-random,jpeg,webp]
        [--repeat 2] [--threads 1]
        [--device cpu] [--out bench/results/complexity_cpu.md]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

from rdbench import (
    CodecContext,
    complexity_rows,
    load_adapter,
    load_configs,
    measure_point,
    measure_point_fresh,
    plot_complexity,
    render,
    scaling_exponents,
)

REPO = Path(__file__).resolve().parents[1]

#: Decoder MACs per pixel at 768x512 as DeepMind C3's ``baselines/kodak.py`` lists them ("obtained
#: from paper authors, who calculated the numbers using the DeepSpeed library"); MLIC++ has none there.
C3_DECODER_MACS = {"mlic-random": 446_750, "mlicplus-random": 555_340}
KODAK = (768, 512)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="128,256,384,512,768")
    parser.add_argument("--flops-sizes", default="256,512,1024,2048,3072,4096")
    parser.add_argument("--forward-sizes", default="768,1024,1536,2048",
                        help="larger sizes for a model-forward-only sweep of the learned codecs ('' skips it)")
    parser.add_argument("--codecs", default="mlic-random,mlicplus-random,mlicpp-random,jpeg,webp")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1, help="torch threads per worker (1: least noise on a shared machine)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", default=str(REPO / "bench" / "results" / "complexity_cpu.md"))
    args = parser.parse_args()

    sizes = [int(s) for s in args.sizes.split(",")]
    flops_sizes = [int(s) for s in args.flops_sizes.split(",")]
    forward_sizes = [int(s) for s in args.forward_sizes.split(",") if s]
    context = CodecContext(device=args.device, threads=args.threads)
    configs = load_configs()
    missing, points, flops_points, forward_points, decoder_points = [], [], [], [], []
    start = time.perf_counter()
    for name in args.codecs.split(","):
        config = configs.get(name)
        reason = "no such codec configuration" if config is None else \
            load_adapter(config.adapter).unavailable_reason(config, context)
        if reason:
            missing.append(f"{name}: {reason}")
            print(f"skipping {name}: {reason}", flush=True)
            continue
        quality = config.qualities[0]
        for side in sizes:
            p = measure_point_fresh(config, context, quality, side, args.repeat)
            points.append(p)
            print(f"{name} {side}: {p.status} enc={p.encode_s} dec={p.decode_s} fwd={p.forward_s} "
                  f"mem={p.peak_mem_bytes} fwdmem={p.forward_peak_mem_bytes} flops={p.flops} {p.error or ''}", flush=True)
        if points[-1].flops is not None:
            for side in forward_sizes:
                p = measure_point_fresh(config, context, quality, side, 1, forward_only=True)
                forward_points.append(p)
                print(f"{name} {side}: forward {p.status} fwd={p.forward_s} fwdmem={p.forward_peak_mem_bytes} "
                      f"{p.error or ''}", flush=True)
            for side in flops_sizes:
                p = measure_point(config, context, quality, side, 1, flops_only=True)
                flops_points.append(p)
                print(f"{name} {side}: flops {p.flops} ({p.status})", flush=True)
            p = measure_point(config, context, quality, KODAK, 1, flops_only=True)
            decoder_points.append(p)
            print(f"{name} 768x512: decoder {p.decoder_macs_per_px} MACs/px", flush=True)
    elapsed = time.perf_counter() - start

    out = Path(args.out)
    plot = plot_complexity(points, out.with_suffix(".png"))
    fplot = plot_complexity(flops_points, out.with_name(out.stem + "_flops.png")) if flops_points else None
    wplot = plot_complexity(forward_points, out.with_name(out.stem + "_forward.png")) if forward_points else None
    everything = {"points": points, "forward_only": forward_points, "flops_only": flops_points,
                  "decoder_768x512": decoder_points}
    out.with_suffix(".json").write_text(json.dumps(
        {k: [p.to_json() for p in v] for k, v in everything.items()}, indent=1, default=str))
    rows = complexity_rows(points)
    exps = scaling_exponents(points)
    fexps = scaling_exponents(flops_points)
    fpp = {}
    for p in flops_points:
        fpp.setdefault(p.codec, {"codec": p.codec})[str(p.width)] = p.flops_per_pixel / 1e3
    lines = [
        "# Complexity versus resolution (CPU)",
        "",
        f"`python bench/bench_complexity.py --sizes {args.sizes} --flops-sizes {args.flops_sizes} "
        f"--codecs {args.codecs} --repeat {args.repeat} --threads {args.threads} --device {args.device}`",
        "",
        f"Machine: {platform.processor() or platform.machine()}, {args.threads} torch thread(s) per worker, shared "
        f"with other jobs (times are noisy; FLOPs are exact). Total {elapsed:.0f} s. Synthetic {sizes[0]}..{sizes[-1]} px "
        "square images; learned codecs with paper-size architectures (MLIC and MLIC+ as read in "
        "docs/mlic-fidelity.md) and seeded random weights.",
        "",
        *(["Not measured: " + "; ".join(missing), ""] if missing else []),
        render(rows, ["codec", "size", "status", "encode_ms", "decode_ms", "forward_ms", "peak_mem_mib", "fwd_mem_mib",
                      "kflops_per_px", "bpp"], "markdown", title="Measured points (times in ms, memory in MiB)", digits=2),
        "",
        render(exps, ["codec", "fit_sizes", "encode_s", "decode_s", "forward_s", "peak_mem_bytes",
                      "forward_peak_mem_bytes", "flops_per_pixel", "fpp_growth"], "markdown",
               title="Scaling exponents against pixel count (log-log slope over the upper half of the sizes)", digits=2),
        "",
    ]
    if forward_points:
        lines += [render(complexity_rows(forward_points),
                         ["codec", "size", "status", "forward_ms", "fwd_mem_mib", "kflops_per_px"], "markdown",
                         title="Model forward only, larger sizes (1 timed run after the memory pass)", digits=1),
                  "",
                  render(scaling_exponents(forward_points, min_pixels=forward_sizes[1] ** 2),
                         ["codec", "fit_sizes", "forward_s", "forward_peak_mem_bytes", "flops_per_pixel"], "markdown",
                         title="Forward-only exponents (sizes from the second forward size up)", digits=2),
                  ""]
    if fpp:
        lines += [render(list(fpp.values()), ["codec", *[str(s) for s in flops_sizes]], "markdown",
                         title="Forward kFLOPs per pixel, counted on the meta device (no memory needed)", digits=1),
                  "",
                  render(fexps, ["codec", "fit_sizes", "flops", "flops_per_pixel", "fpp_growth"], "markdown",
                         title="FLOPs exponents over the FLOPs-only sizes", digits=3),
                  ""]
    if decoder_points:
        first = decoder_points[0].decoder_macs_per_px
        decoder_rows = [{"codec": p.codec,
                         "decoder_macs_per_px": p.decoder_macs_per_px,
                         "vs_first": p.decoder_macs_per_px / first if first and p.decoder_macs_per_px else None,
                         "c3_authors": C3_DECODER_MACS.get(p.codec),
                         "c3_over_rdbench": (C3_DECODER_MACS[p.codec] / p.decoder_macs_per_px
                                             if p.codec in C3_DECODER_MACS and p.decoder_macs_per_px else None)}
                        for p in decoder_points]
        lines += [render(decoder_rows, ["codec", "decoder_macs_per_px", "vs_first", "c3_authors", "c3_over_rdbench"],
                         "markdown", title="Decoder MACs per pixel at 768x512 (C3's convention: the forward without "
                         "g_a and h_a, z likelihood counted; `rdbench complexity --sizes 768x512 --flops-only`), "
                         "against the authors' figures in DeepMind C3's baselines/kodak.py", digits=3),
                  ""]
    lines += ["Plots: " + ", ".join(f"`{p.name}`" for p in (plot, wplot, fplot) if p)
              + f"; every point in `{out.with_suffix('.json').name}`.", ""]
    out.write_text("\n".join(lines))
    print(out.read_text())


if __name__ == "__main__":
    main()
