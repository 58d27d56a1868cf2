"""Curves: what (bpp, quality) points a codec name stands for on a dataset.

A name is looked up as a measured codec in the store first (per-quality means of its records),
else as a curve imported into the store (``rdbench import``), else as a curve shipped with
rdbench. Every command that draws, tabulates or exports a curve asks here, so one rule decides
which points a name means.
"""

from __future__ import annotations

import math
from typing import Any

from rdbench.analysis.aggregate import aggregate
from rdbench.analysis.references import list_references, load_reference
from rdbench.store.sqlite import Store

METRIC_KEYS = {"psnr": "psnr", "ms-ssim": "ms_ssim_db"}


def measured_curve(store: Store | None, codec: str, dataset: str, metric: str) -> list[tuple[float, float]] | None:
    """Per-quality mean (bpp, metric) of a codec stored in the DB; None when it has no records."""
    if store is None:
        return None
    rows = [r for r in aggregate(store.records(codecs=[codec], datasets=[dataset])) if r["n"]]
    if not rows:
        return None
    first_hash = rows[0]["config_hash"]
    key = METRIC_KEYS[metric]
    return [(r["bpp"], r[key]) for r in rows
            if r["config_hash"] == first_hash and r.get(key) is not None and math.isfinite(r[key])]


def per_image_curves(store: Store, codec: str, dataset: str, metric: str) -> dict[str, list[tuple[float, float]]]:
    """Image -> (bpp, metric) points of a measured codec, same configuration as :func:`measured_curve`."""
    rows = [r for r in aggregate(store.records(codecs=[codec], datasets=[dataset])) if r["n"]]
    if not rows:
        return {}
    key = METRIC_KEYS[metric]
    found: dict[str, list[tuple[float, float]]] = {}
    for record in store.records(codecs=[codec], datasets=[dataset], config_hash=rows[0]["config_hash"]):
        value = getattr(record, key)
        if record.ok and value is not None and math.isfinite(value):
            found.setdefault(record.image, []).append((record.bpp, value))
    return found


def curve(store: Store | None, name: str, dataset: str, metric: str) -> list[tuple[float, float]] | None:
    """A codec's curve: measured in the store first, else an imported or shipped published curve."""
    found = measured_curve(store, name, dataset, metric)
    if found is not None:
        return found
    ref = published_curve(store, name, dataset)
    key = METRIC_KEYS[metric]
    return list(zip(ref["bpp"], ref[key])) if ref is not None and key in ref else None


def published_curve(store: Store | None, name: str, dataset: str) -> dict[str, Any] | None:
    """A curve imported into the store (``rdbench import``) or shipped with rdbench, with its provenance."""
    if store is not None:
        found = store.imported_curve(name, dataset)
        if found is not None:
            return found
    if dataset in list_references().get(name, []):
        return load_reference(name, dataset)
    return None


def published_names(store: Store | None) -> dict[str, list[str]]:
    """Published curve name -> datasets: shipped references plus curves imported into the store."""
    names = dict(list_references())
    if store is not None:
        for name, datasets in store.imported_curve_names().items():
            names.setdefault(name, []).extend(datasets)
    return names


def known_names(store: Store | None, datasets: list[str] | None = None) -> set[str]:
    """Measured codecs and published references, restricted to those with a curve on ``datasets``."""
    wanted = set(datasets) if datasets else None
    names = {n for n, ds in published_names(store).items() if wanted is None or wanted & set(ds)}
    if store is not None:
        names |= {codec for codec, dataset, _ in store.iter_codecs() if wanted is None or dataset in wanted}
    return names


def vtm_alternatives(store: Store | None, datasets: list[str]) -> list[str]:
    """Published VTM curves covering any of ``datasets`` (what to offer when a VTM anchor is missing)."""
    return sorted(n for n, ds in published_names(store).items() if "vtm" in n and set(ds) & set(datasets))


def describe_anchor(store: Store | None, anchor: str, datasets: list[str], metric: str) -> str:
    """One line saying where the anchor's curve on each dataset comes from, and where it is missing."""
    parts, missing = [], []
    for dataset in datasets:
        rows = []
        if store is not None:
            rows = [r for r in aggregate(store.records(codecs=[anchor], datasets=[dataset])) if r["n"]]
        if rows:
            first = [r for r in rows if r["config_hash"] == rows[0]["config_hash"]]
            parts.append(f"{dataset}: measured in {store.path} ({max(r['n'] for r in first)} images, "
                         f"{len(first)} qualities, configuration {first[0]['config_hash']})")
            continue
        ref = published_curve(store, anchor, dataset)
        if ref is not None and METRIC_KEYS[metric] in ref:
            origin = (f"imported from {ref['source_file']}" if "sha256" in ref
                      else f"published, {ref.get('source_repository', '?')} {ref.get('source_file', '')}".rstrip())
            parts.append(f"{dataset}: {origin}")
        else:
            missing.append(dataset)
    line = f"anchor {anchor}: " + ("; ".join(parts) if parts else "no curve on the requested datasets")
    if missing:
        line += f"; MISSING on {', '.join(missing)} ({metric})"
        alternatives = [n for n in vtm_alternatives(store, missing) if n != anchor]
        if alternatives:
            line += f"; published alternative: {', '.join(alternatives)}"
    return line
