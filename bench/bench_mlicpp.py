"""MLIC++ speed: encode / decode seconds per 768x512 Kodak image and peak memory, vs a plain forward.

Uses the ``mlicpp-random`` configuration (paper-size model, seeded weights: speed does not
depend on the weights, only the bitstream size does). Per image, after one untimed warm-up,
the fastest of ``--repeat`` runs of each phase (the least disturbed by other processes):

* encode: ``codec.encode`` (pad, analysis, hyperprior, 10 slices x 2 passes, rANS) + synchronize;
* decode: ``codec.decode`` (rANS, the same context networks, synthesis, crop) + synchronize;
* forward: ``model(x)`` on the same padded tensor under ``torch.inference_mode`` (no entropy
  coding: the floor the codec's network work cannot go below).

Peak memory is the rise of the process's resident set (CPU) or of the allocated device memory
(CUDA) over each phase. Writes a markdown table with the machine, thread count and load.

    python bench/bench_mlicpp.py [--images 4] [--threads 2] [--repeat 2] [--device cpu]
        [--out bench/results/mlicpp_cpu.md]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
KODAK = REPO.parent / "shared" / "datasets" / "kodak"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=4, help="first N landscape (768x512) Kodak images")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=2, help="runs per phase and image; the fastest is kept")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--kodak", default=str(KODAK))
    parser.add_argument("--out", default=str(REPO / "bench" / "results" / "mlicpp_cpu.md"))
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from rdbench import CodecContext, load_image, resolve_codecs
    from rdbench.codecs.learned.mlicpp import MLICPlusPlusCodec
    from rdbench.run.measure import PeakRSS

    cuda = args.device.startswith("cuda")
    codec = MLICPlusPlusCodec(resolve_codecs("mlicpp-random")[0], CodecContext(device=args.device))
    load_start = time.perf_counter()
    codec.prepare(1)
    load_s = time.perf_counter() - load_start
    model = codec.torch_model(1)
    paths = [p for p in sorted(Path(args.kodak).glob("kodim*.png")) if load_image(p).shape[:2] == (512, 768)]
    if not paths:
        raise SystemExit(f"no 768x512 Kodak images under {args.kodak}")
    paths = paths[: args.images]

    def timed(fn):
        """(result, fastest seconds of --repeat runs, largest peak memory)."""
        runs = [timed_once(fn) for _ in range(args.repeat)]
        return runs[-1][0], min(r[1] for r in runs), max((r[2] for r in runs if r[2] is not None), default=None)

    def timed_once(fn):
        if cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            base = torch.cuda.memory_allocated()
        with PeakRSS() as rss:
            start = time.perf_counter()
            out = fn()
            codec.synchronize()
            seconds = time.perf_counter() - start
        peak = (torch.cuda.max_memory_allocated() - base) if cuda else rss.peak
        return out, seconds, peak

    def forward(image):
        with torch.inference_mode():
            return model(codec.forward_input(image))["x_hat"]

    warm = load_image(paths[0])
    codec.decode(codec.encode(warm, 1), 1)  # warm-up: allocator, kernels, attention masks
    forward(warm)
    rows = []
    for path in paths:
        image = load_image(path)
        data, enc_s, enc_mem = timed(lambda: codec.encode(image, 1))
        _, dec_s, dec_mem = timed(lambda: codec.decode(data, 1))
        _, fwd_s, fwd_mem = timed(lambda: forward(image))
        rows.append({"image": path.name, "bytes": len(data), "encode_s": enc_s, "decode_s": dec_s, "forward_s": fwd_s,
                     "enc_mem": enc_mem, "dec_mem": dec_mem, "fwd_mem": fwd_mem,
                     "match": codec.notes.get("decoder_matches_encoder")})
        print(f"{path.name}: encode {enc_s:.2f} s, decode {dec_s:.2f} s, forward {fwd_s:.2f} s, {len(data)} bytes")

    def mib(value):
        return "n/a" if value is None else f"{value / 2**20:.0f}"

    med = {k: statistics.median(r[k] for r in rows) for k in ("encode_s", "decode_s", "forward_s")}
    peak = {k: max((r[k] for r in rows if r[k] is not None), default=None) for k in ("enc_mem", "dec_mem", "fwd_mem")}
    load = os.getloadavg()
    device_name = torch.cuda.get_device_name() if cuda else (platform.processor() or platform.machine())
    lines = [
        f"# MLIC++ speed on {args.device} ({device_name})",
        "",
        f"`python bench/bench_mlicpp.py --images {args.images} --threads {args.threads} --repeat {args.repeat} "
        f"--device {args.device}`: "
        f"mlicpp-random (N=192, M=320, 10 slices, current architecture, seeded weights), "
        f"{len(rows)} Kodak 768x512 images, one warm-up first, fastest of {args.repeat} runs per phase; "
        f"torch {torch.__version__}, "
        f"{args.threads} torch threads, model load {load_s:.1f} s (not timed below). "
        f"Load average at the end: {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f} on {os.cpu_count()} cores"
        + (" (other processes were sharing the CPU: figures are upper bounds)." if load[1] > 0.5 * (os.cpu_count() or 1) - 0.5
           else "."),
        "",
        "| image | bytes | encode s | decode s | forward s | encode peak MiB | decode peak MiB | forward peak MiB | decoder = encoder |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        lines.append(f"| {r['image']} | {r['bytes']} | {r['encode_s']:.2f} | {r['decode_s']:.2f} | {r['forward_s']:.2f} | "
                     f"{mib(r['enc_mem'])} | {mib(r['dec_mem'])} | {mib(r['fwd_mem'])} | {r['match']} |")
    lines += [
        f"| **median / max** | | **{med['encode_s']:.2f}** | **{med['decode_s']:.2f}** | **{med['forward_s']:.2f}** | "
        f"{mib(peak['enc_mem'])} | {mib(peak['dec_mem'])} | {mib(peak['fwd_mem'])} | |",
        "",
        f"Encode / forward = {med['encode_s'] / med['forward_s']:.2f}, decode / forward = "
        f"{med['decode_s'] / med['forward_s']:.2f}. The forward pass runs every network once (analysis, "
        "hyperprior, the context and parameter networks of both checkerboard passes, synthesis); encode "
        "skips the synthesis and decode the analysis, and both add the entropy coding (symbol lists, rANS).",
        "Peak memory: rise of the resident set over the phase (CPU), or of allocated device memory (CUDA).",
    ]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
