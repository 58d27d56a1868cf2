"""How long a bootstrap confidence interval of one BD-rate cell takes (2000 resamples, 24 Kodak images).

Measures JPEG and WebP on the 24 Kodak images with :func:`rdbench.benchmark` (a throw-away database,
default sweeps of both codecs), then times, for the cell "webp against jpeg on Kodak":

* ``bootstrap_bd`` alone (the vectorised resampling and PCHIP integration), median of repeats,
  for pchip (vectorised) and akima (one scalar BD computation per resample, for comparison);
* the whole ``rdbench bdrate --ci 95`` command in process (store reading, curve rule, table).

    python bench/bench_bdrate.py [--dataset ../shared/datasets/kodak] [--repeat 7] \
        [--out bench/results/bdrate.md]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

from rdbench.run.environment import cpu_name

REPO = Path(__file__).resolve().parents[1]


def _median_time(fn, repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default=str(REPO.parent / "shared" / "datasets" / "kodak"))
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--resamples", type=int, default=2000)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    from click.testing import CliRunner

    from rdbench.analysis.bootstrap import bootstrap_bd, paired_images
    from rdbench.analysis.curves import select_measured
    from rdbench.analysis.dataset_names import resolve_datasets
    from rdbench.api.benchmark import benchmark
    from rdbench.cli.main import cli
    from rdbench.store.sqlite import Store

    with tempfile.TemporaryDirectory() as tmp:
        db = f"{tmp}/bdrate.sqlite"
        benchmark("jpeg,webp", args.dataset, db=db, jobs=os.cpu_count() or 1)
        with Store(db, readonly=True) as store:
            (dataset,) = resolve_datasets(store, [args.dataset])
            jpeg, webp = select_measured(store, "jpeg", dataset), select_measured(store, "webp", dataset)
            data = paired_images(jpeg, webp, "psnr")
            lines = []
            for method in ("pchip", "akima"):
                repeat = args.repeat if method == "pchip" else max(1, args.repeat // 3)
                seconds, result = _median_time(
                    lambda m=method: bootstrap_bd(data, method=m, resamples=args.resamples), repeat)
                lines.append(f"| `bootstrap_bd`, {method} | {len(data.images)} | {len(data.anchor_qualities)} / "
                             f"{len(data.test_qualities)} | {args.resamples} | {seconds * 1000:.1f} ms | "
                             f"[{result.low:.2f}, {result.high:.2f}] % |")
        runner = CliRunner()
        argv = ["bdrate", "--anchor", "jpeg", "--codec", "webp", "--dataset", args.dataset, "--ci", "95",
                "--bootstrap", str(args.resamples), "--format", "json", "--db", db]
        seconds, ran = _median_time(lambda: runner.invoke(cli, argv), args.repeat)
        if ran.exit_code != 0:
            raise SystemExit(ran.output)
        lines.append(f"| `rdbench bdrate --ci 95` (whole command, in process) | {len(data.images)} | "
                     f"{len(data.anchor_qualities)} / {len(data.test_qualities)} | {args.resamples} | "
                     f"{seconds * 1000:.0f} ms | |")
        import json

        shown = json.loads(runner.invoke(cli, [*argv, "--per-image"]).output)
        cell, summary = shown["cells"][0], shown["per_image_summary"][0]
        values = (f"BD-rate of the mean curves {cell['bd_rate']:.2f} %, 95 % interval [{cell['ci_low']:.2f}, "
                  f"{cell['ci_high']:.2f}] over {cell['n_images']} images, interpolation error "
                  f"{cell['interp_error']:.2f} pp; per image: median {summary['median']:.2f} %, quartiles "
                  f"[{summary['q1']:.2f}, {summary['q3']:.2f}], range [{summary['min']:.2f}, {summary['max']:.2f}] "
                  f"({summary['images']} of {summary['of']} images).")
    command = "python bench/bench_bdrate.py" + (f" --out {args.out}" if args.out else "")
    text = "\n".join([
        "# Bootstrap interval of one BD-rate cell",
        "",
        f"`{command}`",
        "",
        f"Machine: {cpu_name()}, {os.cpu_count()} cores, {platform.system()}; Python {platform.python_version()}. "
        f"Cell: webp against jpeg on {Path(args.dataset).name} (default sweeps of both codecs, RGB PSNR), "
        f"{args.resamples} paired resamples of the images, seed 0; median of {args.repeat} runs "
        f"({max(1, args.repeat // 3)} for akima).",
        "",
        "| what | images | qualities (anchor / codec) | resamples | time | 95 % interval |",
        "|---|---|---|---|---|---|",
        *lines,
        "",
        f"The cell itself (`rdbench bdrate --anchor jpeg --codec webp --ci 95 --per-image`): {values}",
        "",
    ])
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
