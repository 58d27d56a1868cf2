"""Pack what ``bench/gpu_suite.py`` needs on this project's lent GPU machine, and print the one call to make.

That machine (the ``device`` tool) starts bare, reaches no network, runs its own Python (3.12,
with torch, numpy, pandas, scipy, matplotlib and Pillow, but not compressai or pytorch_msssim)
and receives only the repository: the ``../shared`` folder beside it stays behind. A lease is
short (15 minutes of device time, the machine's start included), so the suite must run at the
first try. This script writes an ignored folder ``.gpu-carry/`` in the repository:

* ``kodak/``: the 24 Kodak images (the coding and cross-device sections);
* ``samples/``: the Tecnick and CLIC samples (the metric section);
* ``wheels/``: compressai (the installed version, built for the device's Python), pytorch_msssim,
  and for the JPEG AI metric section piq (pure Python; its torchvision is on the device) and
  psnr_hvsm (C++), installed there into ``/tmp/site`` without dependencies (the device has them).

and prints the ``device`` tool's ``run`` arguments: the command (install the wheels, run the
suite under a time limit that leaves room for a rerun, keep its log) and ``carry``. Results come
back in ``$OUT``: ``gpu_suite_cuda.md`` (rewritten after every section, so a run cut short keeps
what it finished) and the log; copy the report to ``bench/results/``.

    python bench/prepare_gpu_carry.py [--folder .gpu-carry] [--python-version 3.12] [--no-wheels]
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "datasets"
#: The samples of the suite's metric section (``gpu_suite.METRIC_IMAGES``).
SAMPLES = ("RGB_OR_1200x1200_001.png", "alberto-montalesi-176097.png")
#: Platforms pip may pick the device's wheels for (its Python is a manylinux x86-64 one).
PLATFORMS = ("manylinux_2_34_x86_64", "manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64")
#: The packages the suite needs that the device's Python lacks (its KINDS.md lists what it holds): the
#: coding sections' compressai and pytorch_msssim, the JPEG AI metrics' piq and psnr_hvsm.
WHEELS = ("compressai", "pytorch-msssim", "piq", "psnr_hvsm")
#: What the device's run tool takes at most (its limits): a command of 2,000 characters, 64 MiB travelling.
COMMAND_LIMIT = 2000
TRAVEL_LIMIT = 64 << 20
#: Seconds the suite may run there. It is sized for under 8 minutes (3-5 expected on an H200, the
#: JPEG AI metric section about half a minute of it, never more than its ``--jpegai-budget`` of 90 s
#: plus one image); the rest of a 15-minute lease is the machine's start and, if needed, a rerun of
#: the sections that did not finish (``--skip`` the others).
SUITE_LIMIT_S = 420


def device_command(folder: str) -> str:
    """The shell command for the device's ``run``: one line, under its length limit."""
    return (f"set -o pipefail; python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir "
            f"--target /tmp/site {folder}/wheels/*.whl || exit 1; export PYTHONPATH=/tmp/site:$PWD "
            f"PYTHONUNBUFFERED=1; nvidia-smi > $OUT/nvidia-smi.txt 2>&1; timeout {SUITE_LIMIT_S} python3 "
            f"bench/gpu_suite.py --dataset {folder}/kodak --samples {folder}/samples --out $OUT 2>&1 "
            f"| tee $OUT/gpu_suite.log")


def copy_images(kodak: Path, samples: Path, target: Path) -> int:
    """Copy the Kodak PNGs and the two samples; the bytes copied."""
    total = 0
    kodak_pngs = sorted(kodak.glob("kodim*.png"))
    if len(kodak_pngs) != 24:
        raise SystemExit(f"{kodak}: expected the 24 Kodak PNGs, found {len(kodak_pngs)} (pass --kodak)")
    for folder, files in ((target / "kodak", kodak_pngs), (target / "samples", [samples / n for n in SAMPLES])):
        folder.mkdir(parents=True, exist_ok=True)
        for path in files:
            if not path.is_file():
                raise SystemExit(f"{path}: missing (pass --samples)")
            shutil.copyfile(path, folder / path.name)
            total += path.stat().st_size
    return total


def download_wheels(target: Path, python_version: str) -> int:
    """pip-download this machine's versions of :data:`WHEELS`, built for ``python_version``."""
    target.mkdir(parents=True, exist_ok=True)
    pins = [f"{name}=={importlib.metadata.version(name)}" for name in WHEELS]
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--implementation", "cp",
               "--python-version", python_version, "-d", str(target), *pins]
    for platform in PLATFORMS:
        command += ["--platform", platform]
    proc = subprocess.run(command, capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit(f"pip download failed for {' '.join(pins)}: {proc.stderr.strip().splitlines()[-1]}")
    return sum(p.stat().st_size for p in target.glob("*.whl"))


def tracked_bytes() -> int:
    """Bytes of the files that travel anyway (tracked or untracked and not ignored)."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                            capture_output=True, check=True).stdout.split(b"\0")
    return sum((REPO / name.decode()).stat().st_size for name in listed if name and (REPO / name.decode()).is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", default=".gpu-carry", help="folder in the repository to write (git-ignored)")
    parser.add_argument("--kodak", type=Path, default=SHARED / "kodak")
    parser.add_argument("--samples", type=Path, default=SHARED / "samples")
    parser.add_argument("--python-version", default="3.12", help="the device's Python (its KINDS.md says 3.12)")
    parser.add_argument("--no-wheels", action="store_true", help="copy the images only")
    args = parser.parse_args()
    target = (REPO / args.folder).resolve()
    if REPO not in target.parents:
        raise SystemExit(f"{args.folder}: must be a folder inside the repository (only the repository travels)")
    probe = f"{args.folder.rstrip('/')}/kodak"  # a path inside: a folder pattern matches it before the folder exists
    ignored = subprocess.run(["git", "check-ignore", "-q", probe], cwd=REPO).returncode == 0
    if not ignored:
        raise SystemExit(f"{args.folder} is not ignored by git: add /{args.folder}/ to .gitignore first")
    if target.exists():
        shutil.rmtree(target)
    size = copy_images(args.kodak, args.samples, target)
    if not args.no_wheels:
        size += download_wheels(target / "wheels", args.python_version)
    travelling = size + tracked_bytes()
    command = device_command(args.folder)
    if len(command) > COMMAND_LIMIT:
        raise SystemExit(f"the device command is {len(command)} characters, over the tool's {COMMAND_LIMIT}")
    if travelling > TRAVEL_LIMIT:
        raise SystemExit(f"{travelling / 2**20:.1f} MiB would travel, over the tool's {TRAVEL_LIMIT >> 20} MiB")
    print(f"wrote {target} ({size / 2**20:.1f} MiB; {travelling / 2**20:.1f} MiB travel with the repository)",
          file=sys.stderr)
    print(json.dumps({"command": command, "carry": [args.folder], "timeout_s": SUITE_LIMIT_S + 90}, indent=2))


if __name__ == "__main__":
    main()
