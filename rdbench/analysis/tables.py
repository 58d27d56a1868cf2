"""BD-rate tables: one row per codec (measured or published), one column per dataset.

WHY a separate module: the CLI, the notebook and tests all need the same table, with a cell
that cannot be computed kept as NaN plus a footnote saying why, rather than dropped silently.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from rdbench.analysis.bdrate import BdRateError, bd_psnr, bd_rate
from rdbench.analysis.curves import (
    curve,
    describe_anchor,
    known_names,
    vtm_alternatives,
)
from rdbench.errors import RdbenchError
from rdbench.store.sqlite import Store


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
        alternatives = ", ".join(vtm_alternatives(store, datasets)) or "vtm18-published"
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
