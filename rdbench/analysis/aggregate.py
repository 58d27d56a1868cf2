"""Per-quality dataset aggregates of per-image records, under both conventions in use.

* **mean** (CompressAI's and the MLIC papers' convention, the default everywhere): the
  arithmetic mean over images of each per-image value — bpp, PSNR, MS-SSIM, times, memory.
  ``ms_ssim_db`` is the dB value of the mean MS-SSIM.
* **pooled** (pixel-weighted): ``bpp_pooled`` = total bits / total pixels and
  ``psnr_pooled`` = PSNR of the pixel-weighted mean MSE. On datasets whose images differ in
  size (CLIC) the two conventions differ; rdbench labels which is which.

Only records with status ``ok`` are aggregated; ``n`` counts them and ``failed`` counts the rest.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from statistics import mean
from typing import Any

from rdbench.run.metrics import ms_ssim_db, psnr_from_mse
from rdbench.store.record import Record


def _quality_sort_key(quality: str) -> tuple[int, float | str]:
    try:
        return (0, float(quality))
    except ValueError:
        return (1, quality)


def _mean(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return mean(present) if present else None


def aggregate(records: Iterable[Record]) -> list[dict[str, Any]]:
    """One row per (codec, config_hash, dataset, quality), sorted by codec, dataset, quality."""
    groups: dict[tuple[str, str, str, str], list[Record]] = defaultdict(list)
    for record in records:
        groups[(record.codec, record.config_hash, record.dataset, record.quality)].append(record)
    rows = []
    for (codec, config_hash, dataset, quality), members in groups.items():
        ok = [r for r in members if r.ok]
        row: dict[str, Any] = {
            "codec": codec, "config_hash": config_hash, "dataset": dataset, "quality": quality,
            "n": len(ok), "failed": len(members) - len(ok),
        }
        if ok:
            pixels = [r.height * r.width for r in ok]
            mean_ms_ssim = _mean([r.ms_ssim for r in ok])
            total_pixels = sum(pixels)
            pooled_mse = sum(r.mse * p for r, p in zip(ok, pixels)) / total_pixels
            row.update(
                bpp=mean(r.bpp for r in ok),
                psnr=mean(r.psnr for r in ok) if all(math.isfinite(r.psnr) for r in ok) else math.inf,
                ms_ssim=mean_ms_ssim,
                ms_ssim_db=ms_ssim_db(mean_ms_ssim),
                bpp_pooled=8.0 * sum(r.num_bytes for r in ok) / total_pixels,
                psnr_pooled=psnr_from_mse(pooled_mse),
                encode_s=_mean([r.encode_s for r in ok]),
                decode_s=_mean([r.decode_s for r in ok]),
                peak_mem_bytes=max((r.peak_mem_bytes or 0) for r in ok) or None,
            )
        rows.append(row)
    rows.sort(key=lambda r: (r["codec"], r["dataset"], _quality_sort_key(r["quality"])))
    return rows
