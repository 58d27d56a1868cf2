"""How long the analysis side takes on a large results database (issue 23, item 14).

Builds a synthetic but real database through the :class:`rdbench.store.sqlite.Store` API (every
record a :class:`rdbench.store.record.Record` stored with ``Store.put``, as ``rdbench run`` stores
them): 140 codecs x 24 Kodak image names x 9 qualities = 30,240 records with plausible bpp, PSNR,
MS-SSIM and timings from a fixed seed, the images' current content recorded as a run records it.
It then times, in process (the commands' own ``main`` with output captured), the median of
``--repeat`` runs after one warm-up run (which pays the imports; the cold start of a fresh
interpreter is timed separately):

* ``rdbench.load_records(db)``: every record as a DataFrame;
* ``rdbench results``: per-quality means;
* ``rdbench results --per-image``: one row per record;
* ``rdbench bdrate --anchor c000 --dataset kodak``: every known curve on Kodak (139 measured codecs
  and the shipped published curves) against one measured anchor;
* the same with ``--ci 95`` (2000 bootstrap resamples per cell).

``--save-outputs DIR`` writes each command's output there, so that two versions of rdbench can be
checked to print the same numbers (``diff -r``). The script uses only rdbench's public API and
command line, so it also times an older checkout: ``PYTHONPATH=OLD/checkout python
bench/bench_analysis_speed.py --times-out before.json``, then ``--baseline before.json`` here prints
each figure's speed-up against those (default: the figures measured at e66084c, :data:`BASELINE`).

    python bench/bench_analysis_speed.py [--repeat 5] [--save-outputs DIR] [--db PATH] \
        [--times-out FILE] [--baseline FILE]
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

CODECS = 140
IMAGES = 24
QUALITIES = (10, 20, 30, 40, 50, 60, 70, 80, 90)
DATASET = "kodak"
ANCHOR = "c000"
HEIGHT, WIDTH = 512, 768

#: seconds measured on the 2-core machine of bench/results/analysis_speed.md before the speed-up (the code at
#: e66084c), the lower median of two runs (3 and 5 repeats; the machine is shared, so figures move by tens of
#: per cent); the table prints each figure's speed-up against these
BASELINE: dict[str, float] = {
    "rdbench.load_records(db)": 1.899,
    "rdbench results": 0.902,
    "rdbench results --per-image": 2.092,
    f"rdbench bdrate --anchor {ANCHOR} --dataset {DATASET}": 3.691,
    f"rdbench bdrate --anchor {ANCHOR} --dataset {DATASET} --ci 95": 4.424,
}


def build_database(path: Path, seed: int = 0) -> int:
    """Store CODECS x IMAGES x QUALITIES records through Store.put; returns how many."""
    from rdbench.store.record import Record
    from rdbench.store.sqlite import Store

    rng = np.random.default_rng(seed)
    images = [f"kodim{i + 1:02d}.png" for i in range(IMAGES)]
    hashes = {image: hashlib.sha256(image.encode()).hexdigest() for image in images}
    # how hard each image is to code: scales its rate, lowers its quality
    difficulty = rng.uniform(0.6, 1.6, IMAGES)
    count = 0
    with Store(path) as store:
        store.set_current_images(DATASET, hashes)
        for c in range(CODECS):
            codec = f"c{c:03d}"
            config_hash = hashlib.sha256(codec.encode()).hexdigest()[:16]
            config = {"adapter": "synthetic", "params": {"codec": codec, "efficiency": c}}
            efficiency = rng.uniform(-3.0, 3.0)  # dB better than the anchor at equal rate
            for i, image in enumerate(images):
                for q in QUALITIES:
                    bpp = float(difficulty[i] * 0.08 * math.exp(q / 22.0) * rng.uniform(0.97, 1.03))
                    psnr = float(34.0 + 4.5 * math.log2(bpp) - 2.0 * (difficulty[i] - 1) + efficiency
                                 + rng.normal(0, 0.15))
                    mse = 255.0 ** 2 / 10 ** (psnr / 10)
                    ms_ssim = float(1 - 10 ** (-(14.0 + 4.0 * math.log2(bpp) + efficiency + rng.normal(0, 0.2)) / 10))
                    num_bytes = round(bpp * HEIGHT * WIDTH / 8)
                    record = Record(
                        codec=codec, config_hash=config_hash, quality=str(q), dataset=DATASET, image=image,
                        image_hash=hashes[image], height=HEIGHT, width=WIDTH, num_bytes=num_bytes,
                        bpp=num_bytes * 8 / (HEIGHT * WIDTH), mse=mse, psnr=psnr, ms_ssim=ms_ssim,
                        ms_ssim_db=-10 * math.log10(1 - ms_ssim), encode_s=float(rng.uniform(0.005, 0.05)),
                        decode_s=float(rng.uniform(0.003, 0.03)), peak_mem_bytes=int(rng.integers(1e7, 5e7)),
                        rdbench_version="0.1.0", codec_library="synthetic", codec_version="1.0",
                        git_commit="0" * 40, machine="bench", created_at=f"2026-01-01T00:{c % 60:02d}:00+00:00",
                        extra={"colorspace": "rgb", "threads": 1})
                    store.put(record, config)
                    count += 1
    return count


def run_cli(argv: list[str]) -> str:
    """``rdbench ARGV`` in process; returns what it printed (stdout, then stderr)."""
    from rdbench.cli.main import cli

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            cli.main(argv, prog_name="rdbench", standalone_mode=False)
        except SystemExit as exc:
            if exc.code not in (0, None):
                raise RuntimeError(f"rdbench {' '.join(argv)} exited {exc.code}: {err.getvalue()[-2000:]}") from exc
    return out.getvalue() + err.getvalue()


def timed(fn: Callable[[], object], repeat: int) -> tuple[float, float, float, object]:
    """(first run's seconds, median wall seconds and median CPU seconds of ``repeat`` further runs,
    last result). CPU time (this process's) moves less than wall time on a machine others share."""
    start = time.perf_counter()
    result = fn()
    first = time.perf_counter() - start
    times, cpu = [], []
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        result = fn()
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return first, statistics.median(times), statistics.median(cpu), result


def cold_start(argv: list[str]) -> float:
    """Seconds of ``python -m rdbench ARGV`` in a fresh interpreter (imports included)."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "rdbench", *argv], check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--db", type=Path, default=None,
                        help="use (and keep) this database; built there when missing")
    parser.add_argument("--save-outputs", type=Path, default=None)
    parser.add_argument("--times-out", type=Path, default=None, help="write the median times as JSON")
    parser.add_argument("--baseline", type=Path, default=None,
                        help="median times (JSON of --times-out) to compare with [default: BASELINE]")
    args = parser.parse_args()
    baseline = json.loads(args.baseline.read_text()) if args.baseline else BASELINE

    import rdbench

    with tempfile.TemporaryDirectory() as tmp:
        db = args.db or Path(tmp) / "analysis.sqlite"
        if not db.exists():
            start = time.perf_counter()
            n = build_database(db)
            print(f"built {db}: {n} records in {time.perf_counter() - start:.1f} s", file=sys.stderr)
        cases: list[tuple[str, Callable[[], object]]] = [
            ("rdbench.load_records(db)", lambda: rdbench.load_records(db)),
            ("rdbench results", lambda: run_cli(["results", "--db", str(db)])),
            ("rdbench results --per-image", lambda: run_cli(["results", "--per-image", "--db", str(db)])),
            (f"rdbench bdrate --anchor {ANCHOR} --dataset {DATASET}",
             lambda: run_cli(["bdrate", "--anchor", ANCHOR, "--dataset", DATASET, "--db", str(db)])),
            (f"rdbench bdrate --anchor {ANCHOR} --dataset {DATASET} --ci 95",
             lambda: run_cli(["bdrate", "--anchor", ANCHOR, "--dataset", DATASET, "--ci", "95", "--db", str(db)])),
        ]
        rows = []
        for index, (name, fn) in enumerate(cases):
            first, median, cpu, result = timed(fn, args.repeat)
            rows.append((name, first, median, cpu))
            if args.save_outputs:
                args.save_outputs.mkdir(parents=True, exist_ok=True)
                text = result.to_csv(index=False) if hasattr(result, "to_csv") else str(result)
                (args.save_outputs / f"{index}.txt").write_text(text)
        cold = cold_start(["results", "--db", str(db), "--format", "json"])
        cold_version = cold_start(["--version"])

    print(f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, {platform.system()}; "
          f"Python {platform.python_version()}; {CODECS} codecs x {IMAGES} images x {len(QUALITIES)} qualities "
          f"= {CODECS * IMAGES * len(QUALITIES)} records; median of {args.repeat} runs after one warm-up; rdbench from "
          f"{Path(rdbench.__file__).parent}.\n")
    print("| what | first run (s) | median (s) | median CPU (s) | before (s) | speed-up |")
    print("|---|---|---|---|---|---|")
    for name, first, median, cpu in rows:
        before = baseline.get(name)
        ratio = f"{before / median:.1f}x" if before else ""
        print(f"| `{name}` | {first:.3f} | {median:.3f} | {cpu:.3f} | {before if before else ''} | {ratio} |")
    if args.times_out:
        args.times_out.write_text(json.dumps({name: round(median, 3) for name, _, median, _ in rows}, indent=1))
    print(f"\nCold start (fresh interpreter): `python -m rdbench --version` {cold_version:.2f} s; "
          f"`python -m rdbench results --format json` {cold:.2f} s.")


if __name__ == "__main__":
    main()
