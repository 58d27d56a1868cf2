"""Distortion and rate measures, computed as the learned-compression literature does, fast.

One module per job:

* :mod:`.formulas`: bpp, MSE, PSNR, MS-SSIM in dB, and MS-SSIM's constants; imports neither
  torch nor the engine, so analysis code that converts stored values stays light;
* :mod:`.engine`: MS-SSIM (with the MSE) on the CPU, pytorch_msssim's definition in float64;
* :mod:`.device`: the same definition with torch on a reconstruction's GPU;
* :mod:`.dispatch`: :func:`distortion` and :func:`ms_ssim`, measured where the reconstruction is;
* :mod:`.reference`: pytorch_msssim itself, the reference for tests and benchmarks;
* :mod:`.threads`: the threads the engine shares a scale's strips among;
* :mod:`.blas`: OpenBLAS's thread count (through ``threadpoolctl``), one during the metrics.

How MS-SSIM is computed and why it is the same number: ``docs/metrics-engine.md``; its speed:
``bench/results/metrics_cpu.md``. The names below resolve lazily (on first use), so importing
one module of this package, or this package for a formula, loads only what that needs.
"""

from __future__ import annotations

import importlib
from typing import Any

#: public name -> module of this package that defines it
_PUBLIC: dict[str, str] = {
    **dict.fromkeys(("bpp", "mse", "psnr", "psnr_from_mse", "ms_ssim_db", "MS_SSIM_MIN_SIDE", "GAUSSIAN_WINDOW",
                     "MS_SSIM_WEIGHTS", "DATA_RANGE", "C1", "C2"), "formulas"),
    **dict.fromkeys(("distortion", "ms_ssim"), "dispatch"),
    **dict.fromkeys(("distortion_torch", "ms_ssim_torch"), "device"),
    "ms_ssim_reference": "reference",
    "release_workspaces": "engine",
    **dict.fromkeys(("set_threads", "get_threads"), "threads"),
    **dict.fromkeys(("blas_threads", "set_blas_threads", "single_threaded_blas"), "blas"),
}

__all__ = list(_PUBLIC)


def __getattr__(name: str) -> Any:
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_PUBLIC))
