"""Harness overhead: `rdbench run` for JPEG on Kodak versus the bare loop a researcher would write.

The bare loop does the same work rdbench does per image and quality — read the PNG, encode
with imagecodecs' libjpeg-turbo at the same settings, decode, PSNR and MS-SSIM (pytorch-msssim)
— and nothing else: no store, no progress bar, no memory high-water mark, no process pool.
Both are timed as a user runs them, as fresh processes (`rdbench run` into a new database, and
this script with `--bare`), so both include interpreter start-up and the torch import.

Prints absolute seconds and the ratios; target: --jobs 1 / bare < 1.15, and --jobs 2 close to
twice as fast as --jobs 1 on a 2-core machine. What "twice" can mean on the machine at hand is
measured too: the bare loop split in two halves run as two processes at once (the most two
processes get out of these cores, with no harness at all); --jobs 2 is compared with that.

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
    import torch

    from rdbench import load_image, ms_ssim, psnr

    torch.set_num_threads(1)  # one core, like each `rdbench run` worker
    index, count = shard
    for path in sorted(folder.glob("*.png"))[index::count]:
        image = load_image(path)
        for q in qualities:
            data = imagecodecs.jpeg8_encode(image, level=q, subsampling="420", optimize=True)
            decoded = imagecodecs.jpeg8_decode(data)
            psnr(image, decoded)
            ms_ssim(image, decoded)


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


def bare_command(folder: Path, qualities: list[int], shard: str = "0/1") -> list[str]:
    return [sys.executable, __file__, "--bare", "--dataset", str(folder),
            "--qualities", ",".join(map(str, qualities)), "--shard", shard]


def bare_process(folder: Path, qualities: list[int]) -> float:
    return timed(bare_command(folder, qualities))


def bare_two_halves(folder: Path, qualities: list[int]) -> float:
    """Both halves of the bare loop as two processes at once: the ideal --jobs 2."""
    return timed(bare_command(folder, qualities, "0/2"), bare_command(folder, qualities, "1/2"))


def rdbench_run(folder: Path, qualities: list[int], jobs: int) -> tuple[float, float]:
    """Seconds of a run into a fresh database, and of the same command rerun (nothing left to do:
    start-up, imports, planning and the resume check, i.e. the fixed cost)."""
    with tempfile.TemporaryDirectory() as tmp:
        command = [sys.executable, "-m", "rdbench.cli.main", "run", "--codec", "jpeg", "--dataset", str(folder),
                   "--quality", ",".join(map(str, qualities)), "--jobs", str(jobs), "--db", f"{tmp}/b.sqlite", "-q"]
        return timed(command), timed(command)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, default=DEFAULT_DATASET, help="folder of images (default: Kodak)")
    parser.add_argument("--qualities", default="10,30,50,70,87")
    parser.add_argument("--repeat", type=int, default=3, help="timings per variant; the median is reported")
    parser.add_argument("--out", type=Path, default=None, help="also write the figures as Markdown here")
    parser.add_argument("--bare", action="store_true", help=argparse.SUPPRESS)  # the timed bare process
    parser.add_argument("--shard", default="0/1", help=argparse.SUPPRESS)  # INDEX/COUNT of the images
    args = parser.parse_args()
    if not args.dataset.is_dir():
        sys.exit(f"{args.dataset} is not a folder of images (pass --dataset)")
    qualities = [int(q) for q in args.qualities.split(",")]
    if args.bare:
        index, count = (int(x) for x in args.shard.split("/"))
        bare_loop(args.dataset, qualities, (index, count))
        return
    bare_process(args.dataset, qualities[:1])  # warm the page cache
    bare = statistics.median(bare_process(args.dataset, qualities) for _ in range(args.repeat))
    halves = statistics.median(bare_two_halves(args.dataset, qualities) for _ in range(args.repeat))
    runs1 = [rdbench_run(args.dataset, qualities, 1) for _ in range(args.repeat)]
    runs2 = [rdbench_run(args.dataset, qualities, 2) for _ in range(args.repeat)]
    one, two = statistics.median(r[0] for r in runs1), statistics.median(r[0] for r in runs2)
    fixed = statistics.median(r[1] for r in runs1 + runs2)
    n = len(list(args.dataset.glob("*.png"))) * len(qualities)
    lines = [
        f"# Harness overhead: JPEG on {args.dataset.name} ({n} encode+decode+metrics jobs)",
        "",
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
        f"median of {args.repeat}.",
        "",
        "| variant | seconds | per job (ms) | ratio |",
        "|---|---|---|---|",
        f"| bare loop (imagecodecs + PSNR + MS-SSIM; whole process) | {bare:.2f} | {1000 * bare / n:.1f} | 1.00 |",
        f"| `rdbench run --jobs 1` (whole process) | {one:.2f} | {1000 * one / n:.1f} | {one / bare:.2f} |",
        f"| bare loop, two halves as two processes at once (the ideal two-process run) | {halves:.2f} "
        f"| {1000 * halves / n:.1f} | {halves / bare:.2f} |",
        f"| `rdbench run --jobs 2` (whole process) | {two:.2f} | {1000 * two / n:.1f} | {two / bare:.2f} |",
        "",
        f"| rerun of the same command (all done: start-up + resume check) | {fixed:.2f} | | |",
        "",
        f"Speed-up of --jobs 2 over --jobs 1: {one / two:.2f}x end to end; "
        f"{(one - fixed) / (two - fixed):.2f}x on the work after start-up (the second run also pays for "
        "starting its worker processes, each importing torch).",
        f"Two processes at once on this machine, with no harness: {bare / halves:.2f}x over one; "
        f"`--jobs 2` reaches {halves / two:.2f} of that ideal.",
    ]
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
