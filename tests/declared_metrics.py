"""Metrics declared by TOML files for the tests of metrics measured on request (run --metrics, rescore,
BD per metric, aggregation): written into a temporary folder, never shipped.

``psnr-g``: PSNR of the green plane, peak 255, measured on request, pooled as a PSNR (``psnr_peak``);
``l1-dist``: mean absolute difference / 255, lower is better, measured on request (``scale = "one-minus"``);
``sat-db``: 1 - mean absolute difference / 255 shown in dB (``scale = "db"``), measured on request.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

#: the module the TOML files name; its name is unique so that no other test's module shadows it
MODULE = "rdbench_test_opsmetrics"

SOURCE = '''
import numpy as np


def psnr_g(original, reconstruction):
    mse = float(np.mean((original[..., 1].astype(np.float64) - reconstruction[..., 1]) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


def l1_dist(original, reconstruction):
    return float(np.mean(np.abs(original.astype(np.float64) - reconstruction))) / 255.0


def sat(original, reconstruction):
    return 1.0 - l1_dist(original, reconstruction)
'''

TOMLS = {
    "psnr-g": 'name = "psnr-g"\nfunction = "{m}:psnr_g"\nlabel = "PSNR-G"\nunit = "dB"\ncap_db = true\n'
              'on_request = true\npsnr_peak = 255.0\nversion = "g1"\n',
    "l1-dist": 'name = "l1-dist"\nfunction = "{m}:l1_dist"\nlabel = "L1"\nhigher_is_better = false\n'
               'scale = "one-minus"\non_request = true\nversion = "l1"\n',
    "sat-db": 'name = "sat-db"\nfunction = "{m}:sat"\nlabel = "SAT"\nscale = "db"\non_request = true\nversion = "s1"\n',
}


def declare(folder: Path) -> dict[str, str]:
    """Write the module and TOML files into ``folder``, put the module on this process's path, and
    return the environment (this process's, plus ``RDBENCH_METRICS_PATH`` and ``PYTHONPATH``) that
    declares them for ``rdbench`` subprocesses and in-process runs."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{MODULE}.py").write_text(SOURCE)
    for name, text in TOMLS.items():
        (folder / f"{name}.toml").write_text(text.format(m=MODULE))
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
    repo = Path(__file__).resolve().parents[1]
    return {**{k: v for k, v in os.environ.items() if not k.startswith("RDBENCH_")},
            "RDBENCH_METRICS_PATH": str(folder),
            "PYTHONPATH": os.pathsep.join([str(folder), str(repo)])}


def psnr_g(original: np.ndarray, reconstruction: np.ndarray) -> float:
    """The value ``psnr-g`` must have, computed here with numpy (the independent path)."""
    diff = original[..., 1].astype(np.float64) - reconstruction[..., 1].astype(np.float64)
    return float(10 * np.log10(255.0 ** 2 / np.mean(diff ** 2)))


def l1_dist(original: np.ndarray, reconstruction: np.ndarray) -> float:
    return float(np.abs(original.astype(np.float64) - reconstruction.astype(np.float64)).mean() / 255.0)
