"""BD-rate tables: one row per codec (measured or published), one column per dataset.

WHY a separate module: the CLI, the notebook and tests all need the same table, with a cell
that cannot be computed kept as NaN plus a footnote saying why, rather than dropped silently.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rdbench.aggregate import aggregate
from rdbench.bdrate import BdRateError, bd_psnr, bd_rate
from rdbench.errors import RdbenchError
from rdbench.references import list_references, load_reference
from rdbench.store import Store

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


def curve(store: Store | None, name: str, dataset: str, metric: str) -> list[tuple[float, float]] | None:
    """A codec's curve: measured in the store first, else a shipped published reference."""
    found = measured_curve(store, name, dataset, metric)
    if found is not None:
        return found
    if dataset in list_references().get(name, []):
        ref = load_reference(name, dataset)
        key = METRIC_KEYS[metric]
        return list(zip(ref["bpp"], ref[key])) if key in ref else None
    return None


def known_names(store: Store | None, datasets: list[str] | None = None) -> set[str]:
    """Measured codecs and published references, restricted to those with a curve on ``datasets``."""
    wanted = set(datasets) if datasets else None
    names = {n for n, ds in list_references().items() if wanted is None or wanted & set(ds)}
    if store is not None:
        names |= {codec for codec, dataset, _ in store.iter_codecs() if wanted is None or dataset in wanted}
    return names


@dataclass
class BdTable:
    rows: list[dict[str, Any]]
    columns: list[str]
    notes: list[str] = field(default_factory=list)


def bd_table(store: Store | None, anchor: str, codecs: list[str], datasets: list[str], *,
             metric: str = "psnr", method: str = "pchip", psnr_delta: bool = False) -> BdTable:
    """BD-rate (or BD-PSNR) of each codec against ``anchor`` on each dataset, with reasons for NaN cells."""
    names = known_names(store)
    if anchor not in names:
        hint = "measure it with `rdbench run`, or use a published anchor such as vtm18-published"
        raise RdbenchError(f"anchor {anchor!r} has no measured runs in the store and is not a published reference",
                           hint=hint)
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
                notes.append(f"[{len(notes) + 1}] {reason}")
        rows.append(row)
    columns = ["codec"] + [c for d in datasets for c in (d, f"{d} overlap")]
    return BdTable(rows, columns, notes)
