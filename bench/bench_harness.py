"""Harness overhead: `rdbench run` for JPEG on Kodak versus the bare loop a researcher would write.

The bare loop does the same work rdbench does per image and quality — read the PNG (once per
image), encode with imagecodecs' libjpeg-turbo at the same settings, decode, MSE and MS-SSIM
with the same functions (:func:`rdbench.run.metrics.distortion`, one call for both, on the threads
rdbench gives it: every core in one process, cores / 2 in each of two) — and nothing
else: no store, no progress bar, no memory high-water mark, no process pool. Both are timed as a
user runs them, as fresh processes (`rdbench run` into a new database, and this script with
`--bare`), so both include interpreter start-up and imports (neither imports torch).

Printed: absolute seconds, the ratios, and the harness's overhead split in two: its fixed cost
(start-up, imports, planning: a run with nothing left to do, against the bare script's own
start-up and imports), and its per-job overhead, ((rdbench - rdbench's fixed cost) - (bare - bare's
start-up)) / jobs, against the time of a job. Target: per-job overhead < 5 % of a job with
--jobs 1; --jobs 2 close to twice as fast as --jobs 1 on a 2-core machine. What "twice" can mean on the machine at hand is measured too:
the bare loop split in two halves run as two processes at once (the most two processes get out
of these cores, with no harness at all); --jobs 2 is compared with that.

The cost of honest memory figures is measured on its own, in process: per job, what
:class:`rdbench.run.measure.PeakRSS` costs (handing freed memory back with ``malloc_trim``,
resetting and reading the high-water mark) and what it adds to the timed encode + decode (the
codec faulting in fresh pages).

Runs are interleaved (bare, rdbench -j1, bare halves, rdbench -j2, and again) and medians are
reported, since the machine may be shared.

    python bench/bench_harness.py [--dataset PATH_OR_NAME] [--repeat 3] [--out bench/results/harness.md]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATASET = REPO.parent / "shared" / "datasets" / "kodak"


def bare_loop(folder: Path, qualities: list[int], shard: tuple[int, int] = (0, 1)) -> None:
    import imagecodecs

    from rdbench import load_image
    from rdbench.run.metrics import distortion

    index, count = shard
    if not qualities:  # start-up only: the imports above, and nothing else
        return
    from rdbench.run.metrics import set_threads

    set_threads(max(1, (os.cpu_count() or 1) // count))  # the metric threads rdbench gives a job
    for path in sorted(folder.glob("*.png"))[index::count]:
        image = load_image(path)
        for q in qualities:
            data = imagecodecs.jpeg8_encode(image, level=q, subsampling="420", optimize=True)
            decoded = imagecodecs.jpeg8_decode(data)
            distortion(image, decoded)


def timed(*commands: list[str]) -> float:
    """Seconds until all ``commands``, started together, have finished."""
    start = time.perf_counter()
    procs = [subprocess.Popen(c, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              env={**os.environ, "OMP_NUM_THREADS": "1"}) for c in commands]
    for proc, command in zip(procs, commands):
        _, err = proc.communicate()
        if proc.returncode:
            raise SystemExit(f"{' '.join(command)} failed:\n{err.decode()[-2000:]}")
    return time.perf_counter() - start


def bare_command(folder: Path, qualities: list[int], shard: str = "0/1", startup_only: bool = False) -> list[str]:
    return [sys.executable, __file__, "--bare", "--dataset", str(folder),
            "--qualities", ",".join(map(str, qualities)), "--shard", shard] + (["--startup-only"] if startup_only else [])


def rdbench_command(folder: Path, qualities: list[int], jobs: int, db: str) -> list[str]:
    return [sys.executable, "-m", "rdbench", "run", "--codec", "jpeg", "--dataset", str(folder),
            "--quality", ",".join(map(str, qualities)), "--jobs", str(jobs), "--db", db, "-q"]


def rdbench_run(folder: Path, qualities: list[int], jobs: int) -> tuple[float, float]:
    """Seconds of a run into a fresh database, and of the same command rerun (nothing left to do:
    start-up, imports, planning and the resume check, i.e. the fixed cost)."""
    with tempfile.TemporaryDirectory() as tmp:
        command = rdbench_command(folder, qualities, jobs, f"{tmp}/b.sqlite")
        return timed(command), timed(command)


def memory_honesty_cost(folder: Path, qualities: list[int]) -> dict[str, float]:
    """Per job, in ms: PeakRSS's own cost, and the encode + decode time with and without freed
    memory handed back before (what PeakRSS adds to the timed block), medians over the jobs."""
    import imagecodecs

    from rdbench import load_image
    from rdbench.run.measure import PeakRSS, release_freed_memory
    from rdbench.run.metrics import distortion

    own, plain, trimmed = [], [], []
    for path in sorted(folder.glob("*.png")):
        image = load_image(path)
        for q in qualities:
            for trim in (False, True):
                if trim:
                    release_freed_memory()
                start = time.perf_counter()
                data = imagecodecs.jpeg8_encode(image, level=q, subsampling="420", optimize=True)
                decoded = imagecodecs.jpeg8_decode(data)
                (trimmed if trim else plain).append(time.perf_counter() - start)
                distortion(image, decoded)  # the metrics' workspace stays allocated, as in a run
            start = time.perf_counter()
            with PeakRSS():
                pass
            own.append(time.perf_counter() - start)
    ms = 1000.0
    return {"peakrss": statistics.median(own) * ms, "codec": statistics.median(plain) * ms,
            "codec_trimmed": statistics.median(trimmed) * ms}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, default=DEFAULT_DATASET, help="folder of images (default: Kodak)")
    parser.add_argument("--qualities", default="10,30,50,70,87")
    parser.add_argument("--repeat", type=int, default=3, help="timings per variant; the median is reported")
    parser.add_argument("--out", type=Path, default=None, help="also write the figures as Markdown here")
    parser.add_argument("--bare", action="store_true", help=argparse.SUPPRESS)  # the timed bare process
    parser.add_argument("--shard", default="0/1", help=argparse.SUPPRESS)  # INDEX/COUNT of the images
    parser.add_argument("--startup-only", action="store_true", help=argparse.SUPPRESS)  # imports, no work
    args = parser.parse_args()
    if not args.dataset.is_dir():
        sys.exit(f"{args.dataset} is not a folder of images (pass --dataset)")
    qualities = [int(q) for q in args.qualities.split(",")]
    if args.bare:
        index, count = (int(x) for x in args.shard.split("/"))
        bare_loop(args.dataset, [] if args.startup_only else qualities, (index, count))
        return
    timed(bare_command(args.dataset, qualities[:1]))  # warm the page cache
    bare, halves, runs1, runs2, startup = [], [], [], [], []
    for _ in range(args.repeat):  # interleaved: a burst of other work hits every variant alike
        startup.append(timed(bare_command(args.dataset, qualities, startup_only=True)))
        bare.append(timed(bare_command(args.dataset, qualities)))
        runs1.append(rdbench_run(args.dataset, qualities, 1))
        halves.append(timed(bare_command(args.dataset, qualities, "0/2"), bare_command(args.dataset, qualities, "1/2")))
        runs2.append(rdbench_run(args.dataset, qualities, 2))
    bare_s, halves_s, bare_fixed = statistics.median(bare), statistics.median(halves), statistics.median(startup)
    one, two = statistics.median(r[0] for r in runs1), statistics.median(r[0] for r in runs2)
    fixed = statistics.median(r[1] for r in runs1 + runs2)
    memory = memory_honesty_cost(args.dataset, qualities)
    n = len(list(args.dataset.glob("*.png"))) * len(qualities)
    per_job = 1000 * (bare_s - bare_fixed) / n
    overhead = 1000 * ((one - fixed) - (bare_s - bare_fixed)) / n
    lines = [
        f"# Harness overhead: JPEG on {args.dataset.name} ({n} encode+decode+metrics jobs)",
        "",
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}; median of {args.repeat} interleaved runs (the machine may be shared). "
        f"Command: `python bench/bench_harness.py --repeat {args.repeat}"
        + (f" --out {args.out}" if args.out else "") + "`; rdbench's command: "
        f"`{' '.join(rdbench_command(Path(args.dataset.name), qualities, 1, 'DB')[1:])}`.",
        "",
        "| variant | seconds | per job (ms) | ratio |",
        "|---|---|---|---|",
        f"| bare loop (imagecodecs + MSE and MS-SSIM by `distortion`; whole process) | {bare_s:.2f} | {per_job:.1f} | 1.00 |",
        f"| `rdbench run --jobs 1` (whole process) | {one:.2f} | {1000 * one / n:.1f} | {one / bare_s:.3f} |",
        f"| bare loop, two halves as two processes at once (the ideal two-process run) | {halves_s:.2f} "
        f"| {1000 * halves_s / n:.1f} | {halves_s / bare_s:.2f} |",
        f"| `rdbench run --jobs 2` (whole process) | {two:.2f} | {1000 * two / n:.1f} | {two / bare_s:.2f} |",
        "",
        f"| rdbench's fixed cost: rerun of the same command (nothing left to do: start-up, imports, planning, "
        f"resume check) | {fixed:.2f} | | |",
        f"| the bare script's fixed cost (start-up and imports, no image) | {bare_fixed:.2f} | | |",
        "",
        f"Whole process, --jobs 1 against the bare loop: {one / bare_s:.3f}x. Of that, rdbench's larger fixed "
        f"cost is {fixed - bare_fixed:.2f} s once per run ({100 * (fixed - bare_fixed) / bare_s:.1f} % of this "
        f"{n}-job run), and its per-job overhead {overhead:.2f} ms = {100 * overhead / per_job:.1f} % of a job "
        f"({per_job:.1f} ms of reading the image, codec and metrics).",
        f"Speed-up of --jobs 2 over --jobs 1: {one / two:.2f}x end to end; "
        f"{(one - fixed) / (two - fixed):.2f}x on the work after start-up (the second run also pays for "
        "starting its worker processes).",
        f"Two processes at once on this machine, with no harness: {bare_s / halves_s:.2f}x over one; "
        f"`--jobs 2` reaches {halves_s / two:.2f} of that ideal.",
        "",
        "Cost of honest memory figures (in process, per job, medians): PeakRSS itself (malloc_trim, "
        f"high-water-mark reset and reads) {memory['peakrss']:.2f} ms; JPEG encode + decode "
        f"{memory['codec']:.2f} ms as is, {memory['codec_trimmed']:.2f} ms after freed memory was handed back "
        f"(+{memory['codec_trimmed'] - memory['codec']:.2f} ms of first-touch page faults, inside the timings). "
        f"Together {100 * (memory['peakrss'] + memory['codec_trimmed'] - memory['codec']) / per_job:.1f} % of a job.",
    ]
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
