"""Export measured runs in CompressAI's result schema, so other tools (and ``rdbench import``) read them.

WHY CompressAI's schema: it is what learned-compression papers and repositories exchange
(``{"name", "description", "results": {"psnr-rgb", "ms-ssim-rgb", "bpp", "encoding_time",
"decoding_time"}}``). Values are the mean of per-image values at each quality (CompressAI's
convention); the extra keys ``dataset`` and ``results.quality`` let a round trip through
``rdbench import`` find the dataset without asking, and ``rdbench`` says which records made the
curve (configuration, weights, device, lossless images capped). Which records: the one rule of
:func:`rdbench.analysis.curves.select_measured`.
"""

from __future__ import annotations

from typing import Any

from rdbench import __version__, metric_spec
from rdbench.analysis.aggregate import (
    PSNR_CAP_DB,
    exact_mean,
    mixed_timing_note,
    per_image_value,
)
from rdbench.analysis.catalogue import Catalogue
from rdbench.analysis.curves import select_measured
from rdbench.analysis.dataset_names import resolve_datasets
from rdbench.analysis.name_checks import check_names
from rdbench.errors import RdbenchError, UsageError

#: CompressAI's result keys of the built-in metrics (the metric's name and "-rgb")
PSNR_KEY, MS_SSIM_KEY = f"{metric_spec.PSNR.name}-rgb", f"{metric_spec.MS_SSIM.name}-rgb"


def compressai_results(store: Any, codec: str, dataset: str) -> dict[str, Any]:
    """One codec (``NAME`` or ``NAME@SELECTOR``) on one dataset as a CompressAI result dict."""
    selection = select_measured(store, codec, dataset)
    if selection is None:
        raise RdbenchError(f"no successful records of {codec!r} on {dataset!r} in {store.path}",
                           hint="see what is stored with `rdbench results`")
    psnr, ms_ssim = metric_spec.PSNR, metric_spec.MS_SSIM
    images = selection.image_set(psnr.name)
    rows = selection.rows_for(psnr.name, images)
    results: dict[str, list[Any]] = {
        "quality": [r["quality"] for r in rows],
        "bpp": [r["bpp"] for r in rows],
        PSNR_KEY: [r[psnr.field] for r in rows],
    }
    # one file, one image set: MS-SSIM only when every image of the PSNR curve has it at every quality
    with_ms_ssim = selection.image_set(ms_ssim.name)
    if with_ms_ssim.images == images.images:
        results[MS_SSIM_KEY] = [r[ms_ssim.field] for r in rows]
    left_out = _plugin_results(selection, images, rows, results)
    for key, column in (("encoding_time", "encode_s"), ("decoding_time", "decode_s")):
        if all(r[column] is not None for r in rows):
            results[key] = [r[column] for r in rows]
    capped = [r.get("psnr_capped", 0) for r in rows]
    description = (f"{selection.codec} measured by rdbench {__version__} on {dataset} "
                   f"({selection.describe(psnr.name)}); mean of per-image values per quality over the same images")
    if MS_SSIM_KEY not in results and with_ms_ssim.images:
        description += (f"; MS-SSIM not exported: {len(images) - len(with_ms_ssim)} of the images have no MS-SSIM "
                        "value at every quality")
    if left_out:
        description += f"; not exported: {'; '.join(left_out)}"
    mixed = mixed_timing_note(rows)
    if mixed and ("encoding_time" in results or "decoding_time" in results):
        description += f"; {mixed}"
    if any(capped):
        description += (f"; {sum(capped)} per-image PSNR values above {PSNR_CAP_DB:g} dB (lossless images) "
                        f"counted as {PSNR_CAP_DB:g} dB")
    if len(selection.configurations) > 1:
        others = ", ".join(h for h in selection.configurations if h != selection.config_hash)
        description += f"; other configurations stored and not exported: {others}"
    return {
        "name": selection.codec,
        "description": description,
        "dataset": dataset,
        "results": results,
        "rdbench": {
            "version": __version__,
            "config_hash": selection.config_hash,
            "config": store.config(selection.codec, selection.config_hash),
            "chosen": selection.how,
            "weights": [r["weights"] for r in rows],
            "device": [r["device"] for r in rows],
            "images": [r["n"] for r in rows],
            "image_names": list(images.images),
            "left_out": dict(images.left_out),
            "psnr_cap_db": PSNR_CAP_DB,
            "psnr_capped_images": capped,
            "notes": selection.notes,
        },
    }


def _plugin_results(selection: Any, images: Any, rows: list[dict[str, Any]], results: dict[str, list[Any]]) -> list[str]:
    """Add each plug-in metric the curve's records have values of to ``results`` under its name: per
    quality the mean of its per-image values over the file's images, as measured (linear, like
    ``ms-ssim-rgb``: not on the scale tables show it on), when every image of the file has a value at
    every quality (one file, one image set); returns why each other one is left out."""
    names = sorted({name for r in selection.records if r.ok for name in r.metrics})
    declared = metric_spec.registered() if names else {}
    left_out = []
    for name in names:
        if name not in declared:
            left_out.append(f"{name} (no longer declared here)")
        elif selection.image_set(name).images != images.images:
            left_out.append(f"{name} ({len(images) - len(selection.image_set(name))} of the images have no value at "
                            "every quality)")
        else:
            kept = set(images.images)
            results[name] = [exact_mean([per_image_value(rec, declared[name]) for rec in selection.records
                                         if rec.ok and rec.image in kept and rec.quality == row["quality"]])
                             for row in rows]
    return left_out


def exportable(store: Any, codecs: list[str], datasets: list[str]) -> list[tuple[str, str]]:
    """(codec, dataset) pairs with successful records, restricted to the given names when non-empty.

    Codec names may carry ``@`` selectors; an unknown codec or dataset is a usage error."""
    catalogue = Catalogue(store)
    check_names(catalogue, codecs, measured_only=True)
    wanted = resolve_datasets(catalogue, datasets, stored_only=True) if datasets else []
    stored = [(c, d) for c, d, n in catalogue.codec_datasets() if n and (not wanted or d in wanted)]
    if not codecs:
        return stored
    pairs = []
    for name in codecs:
        choice = catalogue.resolve(name)
        if choice.imported:
            raise UsageError(f"{name!r} is an imported curve; export writes measured runs")
        pairs += [(name, d) for c, d in stored if c == choice.codec
                  and store.record_groups(selections=[choice.selection()], datasets=[d], status="ok")]
    return pairs
