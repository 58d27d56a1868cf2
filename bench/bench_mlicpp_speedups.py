"""Which speed-ups of MLIC++ keep every bit? channels-last memory and torch.compile, measured.

rdbench's MLIC++ writes the official implementation's bitstreams byte for byte
(``bench/results/mlicpp_vs_official_cpu.md``), so a speed-up is only acceptable if the bytes
(and the decoded image) stay exactly the same. For each candidate this script codes Kodak images
with the candidate model and with the plain one (same seeded weights) and reports encode and
decode seconds (fastest of ``--repeat`` after a warm-up, which for torch.compile includes the
compilation) and whether the bitstream and the decoded uint8 image are identical.

    python bench/bench_mlicpp_speedups.py [--images kodim01,kodim23] [--repeat 2] [--threads 2]
        [--out bench/results/mlicpp_speedups_cpu.md]
"""

from __future__ import annotations

import argparse
import os
import platform
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
KODAK = REPO.parent / "shared" / "datasets" / "kodak"


def channels_last(model):
    import torch

    return model.to(memory_format=torch.channels_last)


def compiled_transforms(model):
    import torch

    model.g_a = torch.compile(model.g_a)
    model.g_s = torch.compile(model.g_s)
    return model


CANDIDATES: dict[str, Callable] = {"channels_last": channels_last, "torch.compile(g_a, g_s)": compiled_transforms}


def fastest(run: Callable, repeat: int) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - start)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", default="kodim01,kodim23")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    import torch

    from rdbench import CodecContext, load_adapter, load_image, resolve_codecs

    torch.set_num_threads(args.threads)
    (config,) = resolve_codecs("mlicpp-random")

    def codec_with(transform: Callable | None):
        codec = load_adapter(config.adapter)(config, CodecContext())
        model = codec.torch_model(1)
        if transform is not None:
            changed = transform(model)
            codec._models["1"] = (changed, changed)  # the codec encodes and decodes with the transformed model
        return codec

    rows = []
    plain = codec_with(None)
    for name in args.images.split(","):
        image = load_image(KODAK / f"{name}.png")
        plain.encode(image, 1)  # warm-up
        enc, data = fastest(lambda: plain.encode(image, 1), args.repeat)
        dec, decoded = fastest(lambda: plain.decode(data, 1), args.repeat)
        rows.append((name, "plain (rdbench default)", enc, dec, True, "yes"))
        for label, transform in CANDIDATES.items():
            codec = codec_with(transform)
            start = time.perf_counter()
            codec.decode(codec.encode(image, 1), 1)  # warm-up (compilation for torch.compile)
            warm = time.perf_counter() - start
            c_enc, c_data = fastest(lambda: codec.encode(image, 1), args.repeat)
            c_dec, c_decoded = fastest(lambda: codec.decode(c_data, 1), args.repeat)
            other = codec.decode(data, 1).astype(int)  # the plain bitstream, decoded by the candidate
            differ = int(np.count_nonzero(other != decoded))
            same_image = "yes" if not differ else (
                f"NO: {differ} of {decoded.size} values, max {int(np.abs(other - decoded).max())}")
            rows.append((name, f"{label} (warm-up {warm:.0f} s)", c_enc, c_dec, c_data == data, same_image))
    lines = [
        "# MLIC++ speed-ups that must keep every bit (CPU)",
        "",
        f"`python bench/bench_mlicpp_speedups.py --images {args.images} --repeat {args.repeat} "
        f"--threads {args.threads}`",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, {args.threads} torch threads, torch "
        f"{torch.__version__}; mlicpp-random (seeded weights); fastest of {args.repeat} after a warm-up; "
        f"load average at the end {os.getloadavg()[0]:.2f}.",
        "",
        "| image | model | encode s | decode s | bitstream identical | decoded image identical |",
        "|---|---|---:|---:|---|---|",
        *(f"| {r[0]} | {r[1]} | {r[2]:.2f} | {r[3]:.2f} | {'yes' if r[4] else 'NO'} | {r[5]} |" for r in rows),
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
