"""Metric speed: rdbench's MSE + MS-SSIM against what it computed before (pytorch_msssim), per image size.

"Before" is exactly the previous ``rdbench.run.metrics`` code: PSNR's MSE through int32 arrays,
and ``pytorch_msssim.ms_ssim(data_range=255)`` on float32 tensors made from the uint8 arrays
(:func:`rdbench.run.metrics.ms_ssim_reference`), with torch on 1 thread (as in every ``--jobs N``
worker) and, separately, on torch's default thread count (as ``rdbench run --jobs 1`` ran it in
process). "Now" is :func:`rdbench.run.metrics.distortion` (MSE and MS-SSIM in one pass), on one
thread and on as many as torch's default (as ``rdbench run --jobs 1`` gives it). Images: a Kodak image in both orientations (768x512, 512x768), the Tecnick sample
(1200x1200) and the CLIC sample (2048x1365) from ../shared/datasets/samples, each against its
JPEG (quality 30) reconstruction.

Runs are interleaved (before, now, before, now, ...) and the median of each is reported, as wall
time and as this process's CPU time (less sensitive to other work on a shared machine). Each is
timed twice: back to back ("warm": freed memory stays in the process, the best case), and as in
``rdbench run`` ("in a run": before every image, :class:`rdbench.run.measure.PeakRSS` hands freed
memory back to the OS, so code that allocates fresh temporaries page-faults them in again;
rdbench's workspace is kept). Values are checked too: |now - pytorch_msssim in float64| (the
definition) and |now - float32 reference|.

With ``--previous FILE`` (an earlier ``rdbench/run/metrics.py``, e.g. ``git show
REV:rdbench/run/metrics.py > /tmp/previous_metrics.py``), that version is timed too, on one
thread, interleaved with the others, and compared with now in a table of its own.

    python bench/bench_metrics.py [--rounds 7] [--previous FILE] [--out bench/results/metrics_cpu.md]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "datasets"
IMAGES = [
    ("Kodak kodim01", SHARED / "kodak" / "kodim01.png"),
    ("Kodak kodim04", SHARED / "kodak" / "kodim04.png"),
    ("Tecnick sample", SHARED / "samples" / "RGB_OR_1200x1200_001.png"),
    ("CLIC sample", SHARED / "samples" / "alberto-montalesi-176097.png"),
]


def old_mse(a: np.ndarray, b: np.ndarray) -> float:
    """The previous rdbench MSE, verbatim."""
    diff = a.astype(np.int32) - b.astype(np.int32)
    return float(np.mean(diff * diff, dtype=np.float64))


def openblas_kernels() -> str:
    """The kernel set numpy's OpenBLAS picked when it loaded ("Haswell", "Cooperlake", ...): from
    the CPU, unless ``OPENBLAS_CORETYPE`` forces one (this project's machines force Haswell). The
    metrics' two BLAS passes run faster with AVX-512 kernels, so the figures depend on it."""
    from threadpoolctl import threadpool_info

    found = [lib.get("architecture") for lib in threadpool_info() if lib["internal_api"] == "openblas"]
    return next((name for name in found if name), "unknown")


def load_module(path: Path):
    """An earlier version of ``rdbench/run/metrics.py``, imported from its file."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("previous_metrics", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def timed(fn, in_run: bool = False) -> tuple[float, float]:
    if in_run:
        from rdbench.run.measure import release_freed_memory

        release_freed_memory()  # what PeakRSS does before every image of a run
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7, help="interleaved rounds per image (median reported)")
    parser.add_argument("--out", type=Path, default=None, help="also write the table as Markdown here")
    parser.add_argument("--previous", type=Path, default=None,
                        help="an earlier rdbench/run/metrics.py to time against now (one thread)")
    args = parser.parse_args()

    import imagecodecs
    import torch
    from pytorch_msssim import ms_ssim as reference

    from rdbench.data.images import load_image
    from rdbench.run import metrics
    from rdbench.run.environment import cpu_name

    previous = load_module(args.previous) if args.previous else None
    default_threads = torch.get_num_threads()
    rows = []
    for label, path in IMAGES:
        if not path.is_file():
            print(f"skipping {label}: {path} is absent", file=sys.stderr)
            continue
        a = load_image(path)
        b = imagecodecs.jpeg8_decode(imagecodecs.jpeg8_encode(a, level=30))
        x64 = torch.from_numpy(a.astype(np.float64)).permute(2, 0, 1)[None]
        y64 = torch.from_numpy(b.astype(np.float64)).permute(2, 0, 1)[None]
        exact = float(reference(x64, y64, data_range=255.0))
        now_value = metrics.distortion(a, b)  # first call of a size builds its workspace: not timed
        before_value = metrics.ms_ssim_reference(a, b)
        samples: dict[str, list[tuple[float, float]]] = {
            f"{k}{r}": [] for k in ("before-1", "before-default", "now", "now-default", "previous")
            for r in ("", "-run")}
        if previous is not None:
            previous.distortion(a, b)  # its workspace too
        for _ in range(args.rounds):
            for run in (False, True):
                suffix = "-run" if run else ""
                torch.set_num_threads(1)
                samples["before-1" + suffix].append(
                    timed(lambda: (old_mse(a, b), metrics.ms_ssim_reference(a, b)), run))
                metrics.set_threads(1)
                samples["now" + suffix].append(timed(lambda: metrics.distortion(a, b), run))
                if previous is not None:
                    samples["previous" + suffix].append(timed(lambda: previous.distortion(a, b), run))
                metrics.set_threads(default_threads)
                samples["now-default" + suffix].append(timed(lambda: metrics.distortion(a, b), run))
                metrics.set_threads(1)
                torch.set_num_threads(default_threads)
                samples["before-default" + suffix].append(
                    timed(lambda: (old_mse(a, b), metrics.ms_ssim_reference(a, b)), run))
                time.sleep(0.5)  # torch's idle OpenMP threads spin a while: let them sleep before the next timing
        psnr_before = statistics.median(timed(lambda: old_mse(a, b))[1] for _ in range(20))
        psnr_now = statistics.median(timed(lambda: metrics.mse(a, b))[1] for _ in range(20))
        med = {k: (statistics.median(w for w, _ in v), statistics.median(c for _, c in v))
               for k, v in samples.items() if v}
        rows.append((label, f"{a.shape[1]}x{a.shape[0]}", med, exact, now_value[1], before_value,
                     psnr_before, psnr_now, old_mse(a, b) == now_value[0]))
        print(label, {k: f"{v[0] * 1000:.1f}/{v[1] * 1000:.1f} ms" for k, v in med.items()}, file=sys.stderr,
              flush=True)

    lines = [
        "# Metric speed: MSE + MS-SSIM per image, before (pytorch_msssim) and now (rdbench.run.metrics)",
        "",
        f"Machine: {cpu_name()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, numpy {np.__version__} (OpenBLAS {openblas_kernels()} kernels"
        + (f", OPENBLAS_CORETYPE={os.environ['OPENBLAS_CORETYPE']}" if os.environ.get("OPENBLAS_CORETYPE") else "")
        + f"), torch {torch.__version__} (default "
        f"{default_threads} threads); {args.rounds} interleaved rounds, medians. Command: "
        "`python bench/bench_metrics.py" + (f" --rounds {args.rounds}" if args.rounds != 7 else "")
        + (f" --previous {args.previous}" if args.previous else "") + (f" --out {args.out}" if args.out else "")
        + "`.",
        "",
        "Wall times in ms. *1 thread*: before, the previous rdbench code as every `--jobs N` worker ran it; now, "
        f"the metrics on one thread. *{default_threads} threads*: as `rdbench run --jobs 1` runs them in process "
        f"(before: torch's {default_threads} threads; now: {default_threads} metric threads, "
        "`rdbench.run.metrics.set_threads`). *warm*: calls back to back; *in a run*: freed memory handed back to "
        "the OS before each call, as `rdbench run` does before every image. The CPU-time speed-up (1 thread) is "
        "less sensitive to other work on the machine.",
        "",
        f"| image | size | timing | before, 1 thread | now, 1 thread | speed-up | speed-up (CPU time) "
        f"| before, {default_threads} threads | now, {default_threads} threads | speed-up |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for label, size, med, exact, now, before, psnr_before, psnr_now, same_mse in rows:
        for suffix, timing in (("", "warm"), ("-run", "in a run")):
            b1, bd = med["before-1" + suffix], med["before-default" + suffix]
            n1, nd = med["now" + suffix], med["now-default" + suffix]
            lines.append(f"| {label} | {size} | {timing} | {b1[0] * 1e3:.1f} | {n1[0] * 1e3:.1f} | {b1[0] / n1[0]:.1f}x "
                         f"| {b1[1] / n1[1]:.1f}x | {bd[0] * 1e3:.1f} | {nd[0] * 1e3:.1f} | {bd[0] / nd[0]:.1f}x |")
    if previous is not None:
        lines += ["", f"Against the previous fast path (`{args.previous}`), one thread, ms (wall; speed-up also in CPU "
                  "time):", "", "| image | timing | previous | now | speed-up | speed-up (CPU time) |",
                  "|---|---|---|---|---|---|"]
        for label, size, med, *_ in rows:
            for suffix, timing in (("", "warm"), ("-run", "in a run")):
                p1, n1 = med["previous" + suffix], med["now" + suffix]
                lines.append(f"| {label} | {timing} | {p1[0] * 1e3:.1f} | {n1[0] * 1e3:.1f} | {p1[0] / n1[0]:.2f}x "
                             f"| {p1[1] / n1[1]:.2f}x |")
    lines += ["", "PSNR alone (its MSE; CPU ms, warm): before (int32 arrays) / now (int16 differences, exact "
              "float64 dot products in cache-sized chunks); now is also exactly the value before:", "",
              "| image | before | now | speed-up | same MSE |", "|---|---|---|---|---|"]
    for label, size, med, exact, now, before, psnr_before, psnr_now, same_mse in rows:
        lines.append(f"| {label} | {psnr_before * 1e3:.2f} | {psnr_now * 1e3:.2f} | {psnr_before / psnr_now:.1f}x "
                     f"| {same_mse} |")
    lines += ["", "Values (MS-SSIM of the JPEG q30 reconstruction):", "",
              "| image | pytorch_msssim float64 (definition) | now | now - definition | float32 reference - definition |",
              "|---|---|---|---|---|"]
    for label, _, _, exact, now, before, *_ in rows:
        lines.append(f"| {label} | {exact:.12f} | {now:.12f} | {now - exact:.1e} | {before - exact:.1e} |")
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
