"""BD-rate tables: one row per codec (measured or published), one column per dataset.

WHY a separate module: the CLI, the notebook and tests all need the same table, with a cell
that cannot be computed kept as NaN plus a footnote saying why, rather than dropped silently.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from rdbench.analysis.aggregate import aggregate
from rdbench.analysis.bdrate import BdRateError, bd_psnr, bd_rate
from rdbench.analysis.import_curves import imported_names, load_imported
from rdbench.errors import RdbenchError
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
        found = load_imported(store, name, dataset)
        if found is not None:
            return found
    if dataset in list_references().get(name, []):
        return load_reference(name, dataset)
    return None


def published_names(store: Store | None) -> dict[str, list[str]]:
    """Published curve name -> datasets: shipped references plus curves imported into the store."""
    names = dict(list_references())
    if store is not None:
        for name, datasets in imported_names(store).items():
            names.setdefault(name, []).extend(datasets)
    return names


def known_names(store: Store | None, datasets: list[str] | None = None) -> set[str]:
    """Measured codecs and published references, restricted to those with a curve on ``datasets``."""
    wanted = set(datasets) if datasets else None
    names = {n for n, ds in published_names(store).items() if wanted is None or wanted & set(ds)}
    if store is not None:
        names |= {codec for codec, dataset, _ in store.iter_codecs() if wanted is None or dataset in wanted}
    return names


@dataclass
class BdTable:
    rows: list[dict[str, Any]]
    columns: list[str]
    notes: list[str] = field(default_factory=list)
    anchor_info: str = ""


def bd_table(store: Store | None, anchor: str, codecs: list[str], datasets: list[str], *,
             metric: str = "psnr", method: str = "pchip", psnr_delta: bool = False) -> BdTable:
    """BD-rate (or BD-PSNR) of each codec against ``anchor`` on each dataset, with reasons for NaN cells."""
    names = known_names(store)
    if anchor not in names:
        where = f"the store {store.path}" if store is not None else "the store (no database yet)"
        alternatives = ", ".join(_vtm_alternatives(store, datasets)) or "vtm18-published"
        hint = (f"measure it with `rdbench run --codec {anchor} --dataset {','.join(datasets)}`, "
                f"or use a published anchor such as {alternatives}")
        if anchor.startswith("vtm17"):
            hint += (" (the MLIC authors published no VTM-17.0 points; vtm17-rdbench is rdbench's own VTM-17.0 "
                     "measurement on Kodak, vtm18-published the closest published anchor)")
        raise RdbenchError(f"anchor {anchor!r} has no measured runs in {where} and is not a published or imported "
                           "curve", hint=hint)
    fn = bd_psnr if psnr_delta else bd_rate
    notes: list[str] = []
    rows = []
    for codec in codecs:
        row: dict[str, Any] = {"codec": codec}
        for dataset in datasets:
            reason = None
            a, t = curve(store, anchor, dataset, metric), curve(store, codec, dataset, metric)
            if a is None:
                reason = f"anchor {anchor} has no {metric} curve on {dataset}"
            elif t is None:
                reason = f"{codec} has no {metric} curve on {dataset}"
            else:
                try:
                    result = fn(a, t, method)
                    row[dataset] = result.value
                    row[f"{dataset} overlap"] = result.overlap
                except BdRateError as exc:
                    reason = f"{codec} on {dataset}: {exc}"
            if reason:
                row[dataset] = math.nan
                row[f"{dataset} overlap"] = math.nan
                if not any(n.endswith(f"] {reason}") for n in notes):  # one footnote per distinct reason
                    notes.append(f"[{len(notes) + 1}] {reason}")
        rows.append(row)
    columns = ["codec"] + [c for d in datasets for c in (d, f"{d} overlap")]
    return BdTable(rows, columns, notes, describe_anchor(store, anchor, datasets, metric))


def _vtm_alternatives(store: Store | None, datasets: list[str]) -> list[str]:
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
        alternatives = [n for n in _vtm_alternatives(store, missing) if n != anchor]
        if alternatives:
            line += f"; published alternative: {', '.join(alternatives)}"
    return line
