"""The GPU measurements in one command (under 8 minutes on one GPU): coding, metrics, cross-device, complexity.

1. **Coding**: encode and decode time and peak ``torch.cuda.max_memory_allocated`` of MLIC++,
   MLIC, MLIC+ and two CompressAI models (seeded weights: ``*-random``) on every Kodak image at one
   quality, measured by rdbench's own :func:`rdbench.run.measure.measure` (timings followed by
   ``torch.cuda.synchronize``; peak memory per image above what was allocated before it), after
   one untimed warm-up encode + decode of the first image per codec. Also the bpp, PSNR and
   whether every decoder rebuilt its encoder's latent.
2. **Metric speed** on the device: MSE + MS-SSIM of a reconstruction that is a device tensor
   (:func:`rdbench.run.metrics.distortion`, what ``rdbench run`` does for a learned codec on the
   GPU: the image never leaves the device), against the CPU path and against pytorch_msssim in
   float32 on the device, for Kodak, Tecnick and CLIC sizes; and the values against the definition.
3. **Cross-device decoding**: encode on one device and decode on the other (``--device cuda
   --decode-device cpu`` and the reverse), against both on the GPU: did the decoder rebuild the
   encoder's latent, and what PSNR came out.
4. **Complexity**: what ``rdbench complexity --forward-only`` measures, for the MLIC family up to 4096x4096
   (:func:`rdbench.api.complexity.measure_complexity`, in this process).
5. **The JPEG AI metric set on the device** (run after section 2): every ``jpeg-ai`` metric measurable
   here, of a reconstruction that is a device tensor (``Metric.device``: the conversion and the metrics'
   torch ops on the device, PSNR-HVS's one Y' plane copied to the host for ``psnr_hvsm``), against the
   numpy path on the host, for Kodak, Tecnick and CLIC sizes: the whole set's time both ways, each
   metric's device time, the 10-bit codes compared bit for bit, and each value against the numpy path's
   within the documented agreement (``rdbench.run.metrics.jpegai.AGREEMENT``); on CUDA also with TF32
   off, since cuDNN convolutions (piq's) run in TF32 by default. The section stops taking new images
   after ``--jpegai-budget`` seconds, so it cannot eat the lease.

Writes ``OUT/gpu_suite_<device>.md`` (GPU name, versions, the exact commands) and prints it. The
file is rewritten after every section, so a run stopped by a time limit still leaves the sections
it finished (the file then says which are missing; ``--skip`` reruns only those).
``--device cpu --tiny`` runs every section end to end on the CPU in well under a minute (the
tests do); the figures are then meaningless, the plumbing is what is checked.

    python bench/gpu_suite.py                                  # on a GPU machine: bench/results/gpu_suite_cuda.md
    python bench/gpu_suite.py --device cpu --tiny --out /tmp/suite

On this project's lent GPU machine (the ``device`` tool: no network, its own Python with torch
but without compressai, no ``../shared``), ``python bench/prepare_gpu_carry.py`` packs what the
suite needs into ``.gpu-carry/`` and prints the one call to make.
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import statistics
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "datasets"
CODING_CODECS = "mlicpp-random,mlic-random,mlicplus-random,bmshj2018-hyperprior-random,mbt2018-mean-random"
FAMILY = "mlicpp-random,mlic-random,mlicplus-random"
CROSS_CODECS = "mlicpp-random,mbt2018-mean-random"
#: The metric section's images: (label, folder argument, file name).
METRIC_IMAGES = [("Kodak", "dataset", "kodim01.png"),
                 ("Tecnick", "samples", "RGB_OR_1200x1200_001.png"),
                 ("CLIC", "samples", "alberto-montalesi-176097.png")]
#: In the order they run: the slowest and least certain (MLIC+'s quadratic maps at 4096 px) last, so a
#: run cut short by the lease's time limit loses as little as possible.
SECTIONS = ("coding", "metrics", "jpegai", "cross", "complexity")


def sync(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize(device)


def kodak_images(args) -> list[tuple[str, np.ndarray]]:
    from rdbench.data.images import load_image

    paths = sorted(Path(args.dataset).glob("*.png"))[:args.images]
    if not paths:
        raise SystemExit(f"no PNG images in {args.dataset} (pass --dataset)")
    images = []
    for path in paths:
        image = load_image(path)
        if args.crop:
            image = np.ascontiguousarray(image[:args.crop, :args.crop])
        images.append((path.name, image))
    return images


def make_codec(name: str, device: str, decode_device: str | None = None):
    from rdbench.codecs.base import CodecContext
    from rdbench.codecs.registry import load_adapter, resolve_codecs

    config = resolve_codecs(name)[0]
    return load_adapter(config.adapter)(config, CodecContext(device=device, decode_device=decode_device))


def coding(args, images) -> list[str]:
    from rdbench.run.measure import measure

    lines = [f"## 1. Coding: {len(images)} Kodak images, quality {args.quality}, device {args.device}", "",
             "Per image: encode and decode wall time (each followed by a device synchronisation), median and "
             "mean over the images after one untimed warm-up; peak device memory (CUDA allocator, per image, "
             "above what was allocated before it; on the CPU the resident-memory rise), the largest over the "
             "images.", "",
             "| codec | encode median (s) | encode mean (s) | decode median (s) | decode mean (s) | peak memory (MiB) "
             "| bpp | PSNR (dB) | decoder rebuilt the latent |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name in args.codecs.split(","):
        start = time.perf_counter()
        codec = make_codec(name, args.device)
        codec.prepare(args.quality)
        codec.decode_pixels(codec.encode(images[0][1], args.quality), args.quality)  # warm-up, untimed
        sync(args.device)
        results = [measure(codec, image, args.quality) for _, image in images]
        peaks = [r.notes.get("gpu_peak_mem_bytes", r.peak_mem_bytes) for r in results]
        peak = max((p for p in peaks if p is not None), default=None)
        matches = [r.notes.get("decoder_matches_encoder") for r in results]
        enc, dec = [r.encode_s for r in results], [r.decode_s for r in results]
        lines.append(f"| {name} | {statistics.median(enc):.4f} | {statistics.fmean(enc):.4f} | {statistics.median(dec):.4f} "
                     f"| {statistics.fmean(dec):.4f} | {'' if peak is None else f'{peak / 2**20:.0f}'} "
                     f"| {statistics.fmean(r.bpp for r in results):.4f} | {statistics.fmean(r.psnr for r in results):.3f} "
                     f"| {sum(m is True for m in matches)} of {len(matches)} |")
        codec.close()
        del codec
        if args.device.startswith("cuda"):
            import torch

            torch.cuda.empty_cache()
        print(f"coding {name}: {time.perf_counter() - start:.1f} s", file=sys.stderr, flush=True)
    lines += ["", "Same measurement through the command line (records in a database): "
              f"`rdbench run --codec {args.codecs} --dataset kodak --quality {args.quality} --device {args.device}` "
              "(its first image includes the warm-up).", ""]
    return lines


def complexity(args) -> tuple[list[str], str]:
    from rdbench.analysis.complexity import (
        EXPONENT_COLUMNS,
        POINT_COLUMNS,
        complexity_rows,
        scaling_exponents,
    )
    from rdbench.api.complexity import measure_complexity
    from rdbench.cli.formatting import render
    from rdbench.errors import RdbenchError

    # CUDA peaks are reset per point; a fresh process per point only costs time
    in_process = args.device.startswith("cuda") or args.tiny
    options = ["--codec", args.family, "--device", args.device, "--sizes", args.complexity_sizes, "--forward-only",
               "--repeat", str(args.repeat), "--no-store", "--format", "markdown"] + (["--in-process"] if in_process else [])
    shown = " ".join(["rdbench", "complexity"] + [shlex.quote(c) for c in options])
    start = time.perf_counter()
    points, error = [], None
    try:
        points = measure_complexity(args.family, args.complexity_sizes, device=args.device, forward_only=True,
                                    repeat=args.repeat, store=False, in_process=in_process)
    except RdbenchError as exc:
        error = str(exc)
    lines = [f"## 4. Complexity: model forward of the MLIC family, sizes {args.complexity_sizes}, device {args.device}",
             "", f"`{shown}` ({time.perf_counter() - start:.0f} s):", ""]
    if error is not None:
        lines += ["failed:", "", "```", error, "```", ""]
    else:
        exponents = scaling_exponents([p for p in points if p.status == "ok" or p.flops])
        lines += [render(complexity_rows(points), POINT_COLUMNS, "markdown", title="complexity points", digits=2), "",
                  render(exponents, EXPONENT_COLUMNS, "markdown",
                         title="scaling exponents vs pixel count (log-log slope)", digits=2), ""]
    print(f"complexity: {time.perf_counter() - start:.1f} s", file=sys.stderr, flush=True)
    return lines, shown


def jpeg_round_trip(image: np.ndarray, quality: int) -> np.ndarray:
    """A JPEG reconstruction of ``image`` (Pillow), the distorted image the metrics are timed on."""
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=quality)
    with Image.open(buffer) as img:
        return np.asarray(img.convert("RGB"))


def metric_speed(args) -> list[str]:
    import torch
    from pytorch_msssim import ms_ssim as reference

    from rdbench.data.images import load_image
    from rdbench.run import metrics

    device = args.device
    lines = [f"## 2. Metric speed: MSE + MS-SSIM of a reconstruction on {device}", "",
             f"Milliseconds per image, median of {args.metric_repeat} after a warm-up, device synchronised. "
             f"*device*: `distortion(original as numpy, reconstruction as a {device} tensor)`, what `rdbench run` "
             "does for a learned codec there (the original is moved to the device inside the timing; one value "
             "comes back); *CPU*: the numpy path with the reconstruction on the host; *pytorch_msssim*: "
             "`ms_ssim(data_range=255)` in float32 on the device (what CompressAI's evaluation calls). The "
             "difference is to pytorch_msssim in float64 on the CPU (the definition).", "",
             "| image | size | device (ms) | CPU (ms) | pytorch_msssim on device (ms) | device - definition "
             "| pytorch_msssim float32 - definition |", "|---|---|---|---|---|---|---|"]
    for label, folder, name in METRIC_IMAGES:
        path = Path(getattr(args, folder)) / name
        if not path.is_file():
            lines.append(f"| {label} | absent ({path}) | | | | | |")
            continue
        a = load_image(path)
        if args.tiny:
            a = np.ascontiguousarray(a[:200, :240])
        b = jpeg_round_trip(a, 30)
        on_device = torch.from_numpy(b).to(device)
        x32 = torch.from_numpy(a).to(device).permute(2, 0, 1)[None].float()
        y32 = on_device.permute(2, 0, 1)[None].float()

        def timed(fn):
            fn()
            sync(device)
            samples = []
            for _ in range(args.metric_repeat):
                start = time.perf_counter()
                fn()
                sync(device)
                samples.append(time.perf_counter() - start)
            return statistics.median(samples) * 1000

        t_device = timed(lambda: metrics.distortion(a, on_device))
        t_cpu = timed(lambda: metrics.distortion(a, b))
        with torch.inference_mode():
            t_ref = timed(lambda: float(reference(x32, y32, data_range=255.0)))
            ref32 = float(reference(x32, y32, data_range=255.0))
            x64 = torch.from_numpy(a).permute(2, 0, 1)[None].double()
            y64 = torch.from_numpy(b).permute(2, 0, 1)[None].double()
            exact = float(reference(x64, y64, data_range=255.0))
        value = metrics.distortion(a, on_device)[1]
        lines.append(f"| {label} | {a.shape[1]}x{a.shape[0]} | {t_device:.2f} | {t_cpu:.2f} | {t_ref:.2f} "
                     f"| {value - exact:.1e} | {ref32 - exact:.1e} |")
    lines.append("")
    return lines


def _median_ms(fn, repeat: int, device: str) -> float:
    """Median wall time of ``fn()`` in milliseconds over ``repeat`` runs after one warm-up, synchronised."""
    fn()
    sync(device)
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        sync(device)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1000


def _relative(a: float, b: float) -> float:
    return abs(a - b) / max(abs(b), 1e-12)


def jpegai_metrics(args) -> list[str]:
    """Section 5: the ``jpeg-ai`` set on a device tensor against the numpy path (module docstring)."""
    import torch

    from rdbench import metric_spec
    from rdbench.data.images import load_image
    from rdbench.run.metrics.jpegai import AGREEMENT, colour

    device = args.device
    names = [n for n in metric_spec.SETS["jpeg-ai"] if metric_spec.get(n).unavailable_reason() is None]
    left_out = [n for n in metric_spec.SETS["jpeg-ai"] if n not in names]
    functions = {n: metric_spec.get(n).load() for n in names}

    def whole_set(original, reconstruction) -> dict[str, float]:
        colour.clear_cache()  # as for every new pair: the conversion is part of the set's time
        return {n: float(f(original, reconstruction)) for n, f in functions.items()}

    cuda = device.startswith("cuda")
    lines = [f"## 5. JPEG AI metric set on {device}", "",
             f"Metrics: {', '.join(names)}" + (f" ({', '.join(left_out)} unavailable here)" if left_out else "")
             + f". Reconstruction: Pillow JPEG quality 30 of each image. *device*: every metric with the "
             f"reconstruction a {device} tensor and the original a numpy array (what `rdbench run --metrics "
             "jpeg-ai` does for a learned codec decoding there), median of "
             f"{args.jpegai_repeat} after a warm-up; *numpy*: the same functions on host arrays, "
             f"{args.jpegai_cpu_repeat} timed run(s) after a warm-up (torch on {torch.get_num_threads()} CPU "
             "threads); both include the 10-bit conversion (cache emptied per run). *codes*: the device's "
             "10-bit RGB, Y', Cb, Cr codes equal to the host's bit for bit. Differences are relative, device "
             "against numpy; *agreement*: each metric within `AGREEMENT` (the golden tolerance against the "
             "framework, docs/metrics.md)."
             + (f" TF32: cuDNN {torch.backends.cudnn.allow_tf32}, matmul {torch.backends.cuda.matmul.allow_tf32};"
                " *TF32 off* repeats the device values with both off." if cuda else ""), "",
             "| image | size | device (ms) | numpy (ms) | speed-up | codes | largest difference | agreement |",
             "|---|---|---|---|---|---|---|---|"]
    per_metric = ["", "Per metric (device ms: one metric's call with the pair's 10-bit conversion already made, as "
                  "for every metric after the first in a run):", "",
                  "| image | metric | device (ms) | difference | tolerance | within" + (" | TF32 off |" if cuda else " |"),
                  "|---|---|---|---|---|---" + ("|---|" if cuda else "|")]
    started = time.perf_counter()
    for label, folder, name in METRIC_IMAGES:
        path = Path(getattr(args, folder)) / name
        if not path.is_file():
            lines.append(f"| {label} | absent ({path}) | | | | | | |")
            continue
        if time.perf_counter() - started > args.jpegai_budget:
            lines.append(f"| {label} | skipped: the section's {args.jpegai_budget:.0f} s were spent | | | | | | |")
            continue
        a = load_image(path)
        if args.tiny:
            a = np.ascontiguousarray(a[:200, :240])
        b = jpeg_round_trip(a, 30)
        on_device = torch.from_numpy(b).to(device)
        expected = whole_set(a, b)
        t_cpu = _median_ms(lambda: whole_set(a, b), args.jpegai_cpu_repeat, "cpu")
        t_device = _median_ms(lambda: whole_set(a, on_device), args.jpegai_repeat, device)
        values = whole_set(a, on_device)
        host, there = colour.convert(b), colour.convert_tensor(on_device)
        codes = all(np.array_equal(getattr(there, f).cpu().numpy(), getattr(host, f)) for f in ("rgb", "y", "u", "v"))
        without_tf32 = {}
        if cuda:
            saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
            torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
            try:
                without_tf32 = whole_set(a, on_device)
            finally:
                torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved
        differences = {n: _relative(values[n], expected[n]) for n in names}
        worst = max(names, key=lambda n: differences[n] / AGREEMENT.get(n, 1e-6))
        within = [n for n in names if differences[n] <= AGREEMENT.get(n, 1e-6)]
        lines.append(f"| {label} | {a.shape[1]}x{a.shape[0]} | {t_device:.1f} | {t_cpu:.1f} | {t_cpu / t_device:.1f}x "
                     f"| {'identical' if codes else 'DIFFER'} | {differences[worst]:.1e} ({worst}) "
                     f"| {len(within)} of {len(names)} |")
        for n in names:
            colour.clear_cache()
            t_metric = _median_ms(lambda f=functions[n]: f(a, on_device), args.jpegai_repeat, device)
            row = (f"| {label} | {n} | {t_metric:.2f} | {differences[n]:.1e} | {AGREEMENT.get(n, 1e-6):.0e} "
                   f"| {'yes' if n in within else 'NO'} |")
            if cuda:
                row += f" {_relative(without_tf32[n], expected[n]):.1e} |"
            per_metric.append(row)
        print(f"jpeg-ai metrics {label}: {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)
    return lines + per_metric + [""]


def cross_device(args, images) -> tuple[list[str], list[str]]:
    from rdbench.run.measure import measure

    gpu = args.device
    pairs = [(gpu, None), (gpu, "cpu"), ("cpu", gpu)]  # on the GPU alone, then across to the CPU and back
    lines = [f"## 3. Cross-device decoding: {len(images[:args.cross_images])} Kodak images, quality {args.quality}",
             "", "Encoded on the first device, decoded on the second (`--device D1 --decode-device D2`; stored as "
             "device `D1-to-D2`). *rebuilt*: images whose decoder reproduced the encoder's quantised latent exactly "
             "(`extra.decoder_matches_encoder`); PSNR of the decoded images; *same pixels*: images decoded to "
             "exactly the pixels of the same-device run.", "",
             "| codec | encode | decode | rebuilt | PSNR (dB) | max latent difference | same pixels as same-device |",
             "|---|---|---|---|---|---|---|"]
    commands = []
    for name in args.cross_codecs.split(","):
        baseline = None
        for encode_on, decode_on in pairs:
            codec = make_codec(name, encode_on, decode_on)
            results, pixels = [], []
            for _, image in images[:args.cross_images]:
                result = measure(codec, image, args.quality)
                results.append(result)
                pixels.append(codec.decode(result.bitstream, args.quality))
            if baseline is None:
                baseline = pixels
            rebuilt = sum(r.notes.get("decoder_matches_encoder") is True for r in results)
            diffs = [r.notes.get("decoder_max_abs_diff") for r in results if "decoder_max_abs_diff" in r.notes]
            same = sum(np.array_equal(p, q) for p, q in zip(pixels, baseline))
            lines.append(f"| {name} | {encode_on} | {decode_on or encode_on} | {rebuilt} of {len(results)} "
                         f"| {statistics.fmean(r.psnr for r in results):.3f} | {max(diffs) if diffs else 0} "
                         f"| {same} of {len(results)} |")
            codec.close()
            if decode_on:
                commands.append(f"rdbench run --codec {name} --dataset kodak --quality {args.quality} "
                                f"--device {encode_on} --decode-device {decode_on}")
        print(f"cross-device {name} done", file=sys.stderr, flush=True)
    lines += ["", "The same through the command line, then `rdbench results --mismatches` lists any record whose "
              "decoder did not rebuild the latent:", ""] + [f"    {c}" for c in commands] + [""]
    return lines, commands


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", help="cuda, cuda:N, or cpu (for a check of the plumbing)")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results", help="folder for gpu_suite_<device>.md")
    parser.add_argument("--dataset", type=Path, default=SHARED / "kodak", help="folder of Kodak images")
    parser.add_argument("--samples", type=Path, default=SHARED / "samples",
                        help="folder holding the Tecnick and CLIC samples of the metric section")
    parser.add_argument("--images", type=int, default=24, help="images for the coding section")
    parser.add_argument("--crop", type=int, default=0, help="crop images to SIDE x SIDE (0: whole images)")
    parser.add_argument("--quality", type=int, default=1)
    parser.add_argument("--codecs", default=CODING_CODECS)
    parser.add_argument("--family", default=FAMILY, help="codecs of the complexity section")
    parser.add_argument("--complexity-sizes", default="512,1024,2048,3072,4096")
    parser.add_argument("--repeat", type=int, default=2, help="timed forwards per complexity point")
    parser.add_argument("--metric-repeat", type=int, default=10)
    parser.add_argument("--jpegai-repeat", type=int, default=3, help="timed device runs per jpeg-ai measurement")
    parser.add_argument("--jpegai-cpu-repeat", type=int, default=1, help="timed numpy-path runs of the jpeg-ai set")
    parser.add_argument("--jpegai-budget", type=float, default=90.0,
                        help="seconds after which the jpeg-ai section starts no further image")
    parser.add_argument("--cross-codecs", default=CROSS_CODECS)
    parser.add_argument("--cross-images", type=int, default=3)
    parser.add_argument("--tiny", action="store_true",
                        help="smaller defaults that run on a CPU in well under a minute (tests); options given win")
    parser.add_argument("--skip", default="", help=f"comma-separated sections to skip: {','.join(SECTIONS)}")
    if parser.parse_known_args()[0].tiny:  # smaller defaults; options given explicitly still win
        parser.set_defaults(images=2, crop=64, codecs="mlicpp-random,bmshj2018-hyperprior-random",
                            family="mlicpp-random", complexity_sizes="64,128", repeat=1, metric_repeat=2,
                            cross_codecs="bmshj2018-hyperprior-random", cross_images=1, jpegai_repeat=1)
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    if skip - set(SECTIONS):
        parser.error(f"--skip: unknown section(s) {', '.join(sorted(skip - set(SECTIONS)))}; "
                     f"the sections are {', '.join(SECTIONS)}")
    import torch

    from rdbench.run.checks import check_device
    from rdbench.run.environment import cpu_name, gpu_name

    check_device(args.device, [type("Learned", (), {"wants_gpu": True})])
    torch.manual_seed(0)
    started = time.perf_counter()
    images = kodak_images(args)
    command = "python bench/gpu_suite.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    device_name = gpu_name(args.device) or cpu_name()
    lines = [f"# GPU suite on {args.device}: {device_name}", "",
             f"Machine: {device_name}; host CPU {cpu_name()}, {os.cpu_count()} cores; Python {platform.python_version()}, "
             f"torch {torch.__version__} (CUDA {torch.version.cuda}), compressai "
             f"{__import__('importlib.metadata', fromlist=['version']).version('compressai')}.", "",
             f"Command: `{command.strip()}`" + (" (tiny configuration: a check of the plumbing, not figures)"
                                                if args.tiny else ""), ""]
    args.out.mkdir(parents=True, exist_ok=True)
    target = args.out / f"gpu_suite_{args.device.replace(':', '')}.md"
    run_sections = [name for name in SECTIONS if name not in skip]
    steps = {"coding": lambda: coding(args, images), "complexity": lambda: complexity(args)[0],
             "metrics": lambda: metric_speed(args), "jpegai": lambda: jpegai_metrics(args),
             "cross": lambda: cross_device(args, images)[0]}
    for done, name in enumerate(run_sections):
        lines += run_section(name, steps[name])
        left = run_sections[done + 1:]
        if left:  # a run stopped by a time limit still leaves what it measured
            target.write_text("\n".join(lines + [f"_Incomplete so far: sections {', '.join(left)} not run yet "
                                                  f"({time.perf_counter() - started:.0f} s)._", ""]))
    lines.append(f"Total: {time.perf_counter() - started:.0f} s.")
    text = "\n".join(lines)
    print(text)
    target.write_text(text + "\n")
    print(f"wrote {target}", file=sys.stderr)


def run_section(name: str, step) -> list[str]:
    """The section's lines; if it raises, the error's last lines instead, and the suite goes on (a
    GPU lease is too short to lose the other sections to one failure)."""
    try:
        return step()
    except Exception:  # noqa: BLE001 - reported in the file, then the next section
        import traceback

        print(f"section {name} failed", file=sys.stderr, flush=True)
        return [f"## {name}: failed", "", "```", traceback.format_exc()[-3000:].strip(), "```", ""]


if __name__ == "__main__":
    main()
