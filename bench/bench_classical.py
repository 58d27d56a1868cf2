"""The default sweeps of the classical codecs on a dataset: does each span ~0.1-2 bpp, and how fast is it?

Runs :func:`rdbench.benchmark` (what `rdbench run` does, into a throw-away database) for every
classical codec and prints the per-quality dataset means (CompressAI's convention,
:func:`rdbench.aggregate`) as Markdown, with encode/decode times.

    python bench/bench_classical.py [--dataset kodak|FOLDER] [--codec jpeg,webp,...] [--jobs 2] \
        [--out bench/results/classical_kodak.md]
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CLASSICAL = "jpeg,jpeg444,webp,jpeg2000,jpegxl,avif"
#: the columns of the table, one row per codec and quality
COLUMNS = ["codec", "dataset", "quality", "n", "failed", "bpp", "psnr", "ms_ssim", "ms_ssim_db", "encode_s", "decode_s"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default=str(REPO.parent / "shared" / "datasets" / "kodak"))
    parser.add_argument("--codec", default=CLASSICAL)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    import rdbench

    with tempfile.TemporaryDirectory() as tmp:
        db = f"{tmp}/classical.sqlite"
        rdbench.benchmark(args.codec, args.dataset, db=db, jobs=args.jobs)
        with rdbench.Store(db, readonly=True) as store:
            table = rdbench.render(rdbench.aggregate(store.records()), COLUMNS, "markdown")
    text = (f"# Classical codecs, default sweeps, on {Path(args.dataset).name}\n\n"
            f"Machine: {platform.machine()}, {os.cpu_count()} cores; `--jobs {args.jobs}`; means over images "
            "(CompressAI's convention); times in seconds per image.\n\n" + table)
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
