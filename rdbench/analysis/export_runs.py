"""Export measured runs in CompressAI's result schema, so other tools (and ``rdbench import``) read them.

WHY CompressAI's schema: it is what learned-compression papers and repositories exchange
(``{"name", "description", "results": {"psnr-rgb", "ms-ssim-rgb", "bpp", "encoding_time",
"decoding_time"}}``). Values are the mean of per-image values at each quality (CompressAI's
convention); the extra keys ``dataset`` and ``results.quality`` let a round trip through
``rdbench import`` find the dataset without asking.
"""

from __future__ import annotations

from typing import Any

from rdbench import __version__
from rdbench.analysis.aggregate import aggregate
from rdbench.errors import RdbenchError


def compressai_results(store: Any, codec: str, dataset: str) -> dict[str, Any]:
    """One codec on one dataset as a CompressAI result dict (first stored configuration of the codec)."""
    rows = [r for r in aggregate(store.records(codecs=[codec], datasets=[dataset])) if r["n"]]
    if not rows:
        raise RdbenchError(f"no successful records of {codec!r} on {dataset!r} in {store.path}",
                           hint="see what is stored with `rdbench results`")
    config_hash = rows[0]["config_hash"]
    rows = [r for r in rows if r["config_hash"] == config_hash]
    results: dict[str, list[Any]] = {
        "quality": [r["quality"] for r in rows],
        "bpp": [r["bpp"] for r in rows],
        "psnr-rgb": [r["psnr"] for r in rows],
    }
    if all(r["ms_ssim"] is not None for r in rows):
        results["ms-ssim-rgb"] = [r["ms_ssim"] for r in rows]
    for key, column in (("encoding_time", "encode_s"), ("decoding_time", "decode_s")):
        if all(r[column] is not None for r in rows):
            results[key] = [r[column] for r in rows]
    images = max(r["n"] for r in rows)
    return {
        "name": codec,
        "description": f"{codec} measured by rdbench {__version__} on {dataset} ({images} images, "
                       f"configuration {config_hash}); mean of per-image values per quality",
        "dataset": dataset,
        "results": results,
    }


def exportable(store: Any, codecs: list[str], datasets: list[str]) -> list[tuple[str, str]]:
    """(codec, dataset) pairs with successful records, restricted to the given names when non-empty."""
    return [(c, d) for c, d, n in store.iter_codecs()
            if n and (not codecs or c in codecs) and (not datasets or d in datasets)]
