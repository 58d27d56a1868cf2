"""rdbench against CompressAI's own tools, doing the same work: wall time, and the same numbers.

1. Classical sweep: ``rdbench run`` against ``python -m compressai.utils.bench {jpeg,webp}`` on
   Kodak, same qualities, ``--jobs 1`` / ``-j 1`` and ``--jobs 2`` / ``-j 2``. The work is made
   identical: rdbench runs two configurations written for this comparison (Pillow, ``quality=Q``
   and nothing else, as CompressAI's bench calls Pillow), and both compute PSNR and MS-SSIM
   (pytorch_msssim's definition) on the RGB reconstruction.
2. Learned model: ``rdbench run --codec mbt2018-mean-random --quality 1`` against ``python -m
   compressai.utils.eval_model checkpoint DIR -a mbt2018-mean -p CKPT`` on a few Kodak images on
   the CPU, where CKPT holds exactly rdbench's seeded weights (saved from the codec), so both
   code the same model. Both run on one torch thread (eval_model sets it; rdbench through
   OMP_NUM_THREADS=1). rdbench runs twice: as is (honest per-image peak memory, which makes the
   codec fault its memory in again inside its timings) and with ``--no-peak-memory`` (a warm
   loop, as eval_model's).

Runs are interleaved (rdbench, CompressAI, rdbench, ...) since the machine may be shared, every
rdbench run writes a fresh database, and medians are reported. Numbers are compared per quality:
mean bpp, PSNR and MS-SSIM. rdbench's learned bpp counts its 17-byte header (height, width,
latent shape, string lengths), which eval_model does not count (it keeps the shape in memory), so
the payload bpp (header removed) is compared too.

    python bench/bench_vs_compressai.py [--repeat 3] [--qualities 10,30,50,70,90] [--codecs jpeg,webp] [--learned-images 4]
                                        [--out bench/results/vs_compressai.md]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
KODAK = REPO.parent / "shared" / "datasets" / "kodak"

#: rdbench configurations doing exactly what compressai.utils.bench's Pillow codecs do.
CONFIGS = {
    "jpeg": ("compressai-bench-jpeg", "JPEG"),
    "webp": ("compressai-bench-webp", "WEBP"),
}
ZOO_HEADER_BYTES = 17  # rdbench's header of a two-string zoo bitstream (compressai_zoo._HEADER + 2 lengths)


def write_configs(folder: Path) -> None:
    for name, fmt in CONFIGS.values():
        (folder / f"{name}.toml").write_text(
            f'name = "{name}"\nadapter = "pillow"\n'
            f'description = "{fmt} through Pillow with quality=Q only, as compressai.utils.bench calls it"\n'
            f'qualities = [75]\n\n[params]\nformat = "{fmt}"\nquality_arg = "quality"\n')


def run(command: list[str], env: dict[str, str]) -> tuple[float, str]:
    start = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True, env=env)
    elapsed = time.perf_counter() - start
    if proc.returncode:
        raise SystemExit(f"{' '.join(command)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return elapsed, proc.stdout


def rdbench_means(db: Path, env: dict[str, str]) -> dict[str, dict[str, float]]:
    """quality -> mean bpp, psnr, ms_ssim, payload bpp, from the records of ``db``."""
    _, out = run([sys.executable, "-m", "rdbench", "results", "--db", str(db), "--per-image", "--format", "json"], env)
    by_quality: dict[str, list[dict]] = {}
    for record in json.loads(out):
        by_quality.setdefault(record["quality"], []).append(record)
    means = {}
    for quality, records in by_quality.items():
        payload = [8 * (r["num_bytes"] - ZOO_HEADER_BYTES) / (r["height"] * r["width"]) for r in records]
        means[quality] = {"bpp": statistics.fmean(r["bpp"] for r in records),
                          "psnr": statistics.fmean(r["psnr"] for r in records),
                          "ms_ssim": statistics.fmean(r["ms_ssim"] for r in records),
                          "payload_bpp": statistics.fmean(payload),
                          "encode_s": statistics.fmean(r["encode_s"] for r in records),
                          "decode_s": statistics.fmean(r["decode_s"] for r in records)}
    return means


def compressai_means(out: str, qualities: list[str] | None) -> dict[str, dict[str, float]]:
    results = json.loads(out[out.index("{"):])["results"]
    count = len(results["bpp"])
    keys = qualities or [str(i) for i in range(count)]
    return {keys[i]: {"bpp": results["bpp"][i], "psnr": results["psnr-rgb"][i], "ms_ssim": results["ms-ssim-rgb"][i],
                      "encode_s": results["encoding_time"][i], "decode_s": results["decoding_time"][i]}
            for i in range(count)}


def classical(args, env: dict[str, str], work: Path) -> tuple[list[str], list[str]]:
    lines, commands = [], []
    qualities = args.qualities.split(",")
    lines += ["## Classical sweep: Kodak (24 images), qualities " + args.qualities, "",
              "| codec | jobs | rdbench (s) | CompressAI bench (s) | ratio rdbench / CompressAI |",
              "|---|---|---|---|---|"]
    checks = []
    for codec, (config, _) in CONFIGS.items():
        if codec not in args.codecs.split(","):
            continue
        for jobs in (1, 2):
            ours_cmd = [sys.executable, "-m", "rdbench", "run", "--codec", config, "--dataset", str(args.dataset),
                        "--quality", args.qualities, "--jobs", str(jobs), "--db", "DB", "-q"]
            theirs_cmd = [sys.executable, "-m", "compressai.utils.bench", codec, str(args.dataset),
                          "-q", args.qualities, "-j", str(jobs)]
            commands += [" ".join(["RDBENCH_CODECS_PATH=CONFIGS"] + ours_cmd[1:]).replace(sys.executable, "python"),
                         " ".join(theirs_cmd).replace(sys.executable, "python")]
            ours_t, theirs_t = [], []
            for i in range(args.repeat):
                db = work / f"{codec}-{jobs}-{i}.sqlite"
                ours_t.append(run([c if c != "DB" else str(db) for c in ours_cmd], env)[0])
                elapsed, out = run(theirs_cmd, env)
                theirs_t.append(elapsed)
            ours_m, theirs_m = statistics.median(ours_t), statistics.median(theirs_t)
            lines.append(f"| {codec} | {jobs} | {ours_m:.2f} | {theirs_m:.2f} | {ours_m / theirs_m:.2f} |")
            print(lines[-1], file=sys.stderr, flush=True)
            if jobs == 1:
                checks.append((codec, rdbench_means(db, env), compressai_means(out, qualities)))
    lines += ["", "Same numbers (means over the 24 images, per quality; rdbench minus CompressAI):", "",
              "| codec | quality | bpp rdbench | bpp CompressAI | PSNR rdbench | PSNR CompressAI | PSNR diff (dB) "
              "| MS-SSIM diff |", "|---|---|---|---|---|---|---|---|"]
    for codec, ours, theirs in checks:
        for q in qualities:
            a, b = ours[q], theirs[q]
            lines.append(f"| {codec} | {q} | {a['bpp']:.6f} | {b['bpp']:.6f} | {a['psnr']:.6f} | {b['psnr']:.6f} "
                         f"| {a['psnr'] - b['psnr']:.1e} | {a['ms_ssim'] - b['ms_ssim']:.1e} |")
    return lines, commands


def learned(args, env: dict[str, str], work: Path) -> tuple[list[str], list[str]]:
    import torch

    from rdbench.codecs.registry import load_adapter, resolve_codecs

    images = work / "kodak-subset"
    images.mkdir()
    for path in sorted(args.dataset.glob("*.png"))[:args.learned_images]:
        shutil.copy(path, images / path.name)
    config = resolve_codecs("mbt2018-mean-random")[0]
    codec = load_adapter(config.adapter)(config, __import__("rdbench.codecs.base", fromlist=["CodecContext"]).CodecContext())
    checkpoint = work / "mbt2018-mean-seed0-q1.pth.tar"
    torch.save(codec.torch_model(1).state_dict(), checkpoint)  # the seeded weights, entropy tables included
    single = {**env, "OMP_NUM_THREADS": "1"}
    ours_cmd = [sys.executable, "-m", "rdbench", "run", "--codec", "mbt2018-mean-random", "--dataset", str(images),
                "--quality", "1", "--db", "DB", "-q"]
    warm_cmd = ours_cmd + ["--no-peak-memory"]
    theirs_cmd = [sys.executable, "-m", "compressai.utils.eval_model", "checkpoint", str(images),
                  "-a", "mbt2018-mean", "-p", str(checkpoint)]
    ours_t, warm_t, theirs_t = [], [], []
    for i in range(args.repeat):
        db, warm_db = work / f"learned-{i}.sqlite", work / f"learned-warm-{i}.sqlite"
        ours_t.append(run([c if c != "DB" else str(db) for c in ours_cmd], single)[0])
        elapsed, out = run(theirs_cmd, single)
        theirs_t.append(elapsed)
        warm_t.append(run([c if c != "DB" else str(warm_db) for c in warm_cmd], single)[0])
    ours_m, warm_m, theirs_m = statistics.median(ours_t), statistics.median(warm_t), statistics.median(theirs_t)
    a = rdbench_means(db, env)["1"]
    w = rdbench_means(warm_db, env)["1"]
    b = compressai_means(out, ["1"])["1"]
    lines = [f"## Learned model: mbt2018-mean quality 1, seeded weights (seed 0, latent gain 20), "
             f"{args.learned_images} Kodak images, CPU, one torch thread", "",
             "rdbench's encode and decode times cover image in to bytes out and bytes in to image out (the "
             "tensor conversion, padding and rounding included); eval_model times `compress` and `decompress` "
             "only. By default rdbench hands freed memory back to the OS before every image, for honest "
             "per-image peak memory, and the codec then faults its memory in again inside the timings; "
             "`--no-peak-memory` times a warm loop, as eval_model does.", "",
             "| tool | wall (s) | mean encode (s) | mean decode (s) | bpp | payload bpp | PSNR | MS-SSIM |",
             "|---|---|---|---|---|---|---|---|",
             f"| rdbench | {ours_m:.2f} | {a['encode_s']:.3f} | {a['decode_s']:.3f} | {a['bpp']:.6f} "
             f"| {a['payload_bpp']:.6f} | {a['psnr']:.6f} | {a['ms_ssim']:.8f} |",
             f"| rdbench --no-peak-memory | {warm_m:.2f} | {w['encode_s']:.3f} | {w['decode_s']:.3f} | {w['bpp']:.6f} "
             f"| {w['payload_bpp']:.6f} | {w['psnr']:.6f} | {w['ms_ssim']:.8f} |",
             f"| eval_model | {theirs_m:.2f} | {b['encode_s']:.3f} | {b['decode_s']:.3f} | | {b['bpp']:.6f} "
             f"| {b['psnr']:.6f} | {b['ms_ssim']:.8f} |",
             "", f"Ratio rdbench / eval_model (wall): {ours_m / theirs_m:.2f}; with --no-peak-memory "
             f"{warm_m / theirs_m:.2f}. Payload bpp difference {a['payload_bpp'] - b['bpp']:.1e}, PSNR difference "
             f"{a['psnr'] - b['psnr']:.1e} dB (eval_model averages squared errors in float32), MS-SSIM difference "
             f"{a['ms_ssim'] - b['ms_ssim']:.1e} (eval_model: pytorch_msssim in float32)."]
    commands = ["OMP_NUM_THREADS=1 " + " ".join(ours_cmd[1:]),
                "OMP_NUM_THREADS=1 " + " ".join(warm_cmd[1:]),
                "OMP_NUM_THREADS=1 " + " ".join(theirs_cmd).replace(sys.executable, "python")]
    return lines, [c.replace(sys.executable, "python") for c in commands]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, default=KODAK, help="folder of Kodak images")
    parser.add_argument("--qualities", default="10,30,50,70,90", help="classical sweep qualities")
    parser.add_argument("--repeat", type=int, default=3, help="interleaved runs per variant (median)")
    parser.add_argument("--learned-images", type=int, default=4, help="Kodak images for the learned comparison")
    parser.add_argument("--codecs", default=",".join(CONFIGS), help="classical codecs to compare (jpeg,webp)")
    parser.add_argument("--skip-classical", action="store_true")
    parser.add_argument("--skip-learned", action="store_true")
    parser.add_argument("--out", type=Path, default=None, help="also write the report as Markdown here")
    args = parser.parse_args()
    if set(args.codecs.split(",")) - set(CONFIGS):
        parser.error(f"--codecs: choose among {', '.join(CONFIGS)}")
    if not args.dataset.is_dir():
        sys.exit(f"{args.dataset} is not a folder of images (pass --dataset)")
    import compressai  # noqa: F401 - fail early when CompressAI is not installed
    import torch

    from rdbench.run.environment import cpu_name

    blas = f" (OPENBLAS_CORETYPE={os.environ['OPENBLAS_CORETYPE']})" if os.environ.get("OPENBLAS_CORETYPE") else ""
    flags = "".join(f" --{flag}" for flag in ("skip-classical", "skip-learned") if getattr(args, flag.replace("-", "_")))
    lines = ["# rdbench against CompressAI's own tools", "",
             f"Machine: {cpu_name()}, {os.cpu_count()} cores, Python "
             f"{platform.python_version()}{blas}, torch {torch.__version__}, compressai "
             f"{__import__('importlib.metadata', fromlist=['version']).version('compressai')}; "
             f"median of {args.repeat} interleaved runs of each command (the machine may be shared). Wall time "
             "of whole commands, start-up and imports included. Command: `python bench/bench_vs_compressai.py "
             f"--repeat {args.repeat} --qualities {args.qualities} --learned-images {args.learned_images}{flags}"
             f"{'' if args.codecs == ','.join(CONFIGS) else ' --codecs ' + args.codecs}`.", ""]
    commands: list[str] = []
    with tempfile.TemporaryDirectory(prefix="rdbench-vs-compressai-") as tmp:
        work = Path(tmp)
        (work / "configs").mkdir()
        write_configs(work / "configs")
        env = {**os.environ, "RDBENCH_CODECS_PATH": str(work / "configs")}
        if not args.skip_classical:
            part, cmds = classical(args, env, work)
            lines += part + [""]
            commands += cmds
        if not args.skip_learned:
            part, cmds = learned(args, env, work)
            lines += part + [""]
            commands += cmds
    lines += ["Commands (DB: a fresh database per run; CONFIGS: a folder holding the two configurations "
              "`compressai-bench-jpeg` and `compressai-bench-webp`, adapter `pillow`, `[params] format = \"JPEG\"` "
              "or `\"WEBP\"`, `quality_arg = \"quality\"`, nothing else):", ""]
    lines += [f"    {c}" for c in commands]
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
