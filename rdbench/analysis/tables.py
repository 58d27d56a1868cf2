"""BD-rate tables: one row per codec (measured or published), one column per dataset.

WHY a separate module: the CLI, the notebook and tests all need the same table, with a cell
that cannot be computed kept as NaN plus a footnote saying why, rather than dropped silently.
Which points a name means is decided by :mod:`rdbench.analysis.curves` alone; the table says
which configuration each measured row used (``config`` column) and carries the notes that
rule produced (another configuration stored, an imported curve shadowed) in ``info``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from rdbench.analysis.bdrate import BdRateError, bd_psnr, bd_rate
from rdbench.analysis.curves import (
    CurveInfo,
    check_names,
    describe_anchor,
    known_names,
    resolve_curve,
    resolve_name,
    stored_codecs,
    vtm_alternatives,
)
from rdbench.errors import RdbenchError, UsageError, did_you_mean
from rdbench.store.sqlite import Store


@dataclass
class BdTable:
    rows: list[dict[str, Any]]
    columns: list[str]
    notes: list[str] = field(default_factory=list)
    anchor_info: str = ""
    #: what the curve rule noted: a second configuration stored, an imported curve shadowed, ...
    info: list[str] = field(default_factory=list)
    #: one entry per (name, dataset) with a curve: where its points come from
    curves: list[dict[str, Any]] = field(default_factory=list)
    #: per row, column -> number of the footnote saying why that cell is NaN (``render(marks=...)``)
    marks: list[dict[str, str]] = field(default_factory=list)


def _check_anchor(store: Store | None, anchor: str, datasets: list[str]) -> None:
    choice = resolve_name(store, anchor)  # a bad selector is a usage error naming what is stored
    if anchor in known_names(store) or choice.codec in stored_codecs(store) or choice.imported:
        return
    where = f"the store {store.path}" if store is not None else "the store (no database yet)"
    alternatives = ", ".join(vtm_alternatives(store, datasets)) or "vtm18-published"
    hint = (f"measure it with `rdbench run --codec {anchor} --dataset {','.join(datasets)}`, "
            f"or use a published anchor such as {alternatives}")
    if anchor.startswith("vtm17"):
        hint += (" (the MLIC authors published no VTM-17.0 points; vtm17-rdbench is rdbench's own VTM-17.0 "
                 "measurement on Kodak, vtm18-published the closest published anchor)")
    from rdbench.analysis.curves import configured_codecs, published_names

    if anchor in configured_codecs():
        raise RdbenchError(f"anchor {anchor!r} has no measured runs in {where} and is not a published or imported "
                           "curve", hint=hint)
    choices = stored_codecs(store) + sorted(published_names(store)) + configured_codecs()
    raise UsageError(f"unknown anchor {anchor!r}{did_you_mean(anchor, choices)}: not measured in {where}, not a "
                     "published or imported curve, not a configured codec", hint=hint)


def _curve_entry(found: CurveInfo, store: Store | None) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": found.name, "dataset": found.dataset, "source": found.source,
                             "origin": found.origin(store), "points": len(found.points)}
    if found.selection is not None:
        entry.update(config_hash=found.selection.config_hash, how=found.selection.how,
                     configurations=found.selection.configurations,
                     qualities=[r["quality"] for r in found.selection.rows],
                     psnr_capped=sum(r.get("psnr_capped", 0) for r in found.selection.rows))
    return entry


def bd_table(store: Store | None, anchor: str, codecs: list[str], datasets: list[str], *,
             metric: str = "psnr", method: str = "pchip", psnr_delta: bool = False,
             qualities: list[str] | None = None) -> BdTable:
    """BD-rate (or BD-PSNR) of each codec against ``anchor`` on each dataset, with reasons for NaN cells.

    ``qualities`` restricts measured curves to those quality points. Names may carry ``@`` selectors
    (:mod:`rdbench.analysis.curves`); an unknown name is a usage error.
    """
    _check_anchor(store, anchor, datasets)
    check_names(store, codecs)
    fn = bd_psnr if psnr_delta else bd_rate
    notes: list[str] = []
    info: list[str] = []
    entries: list[dict[str, Any]] = []
    resolved: dict[tuple[str, str], CurveInfo | None] = {}

    def lookup(name: str, dataset: str) -> CurveInfo | None:
        if (name, dataset) not in resolved:
            found = resolve_curve(store, name, dataset, metric, qualities)
            resolved[(name, dataset)] = found
            if found is not None:
                info.extend(n for n in found.notes if n not in info)
                entries.append(_curve_entry(found, store))
        return resolved[(name, dataset)]

    rows, marks = [], []
    for codec in codecs:
        row: dict[str, Any] = {"codec": codec}
        mark: dict[str, str] = {}
        configs: dict[str, str] = {}
        for dataset in datasets:
            reason = None
            a, t = lookup(anchor, dataset), lookup(codec, dataset)
            if t is not None:
                configs[dataset] = t.config
            if a is None:
                reason = f"anchor {anchor} has no {metric} curve on {dataset}"
            elif t is None:
                reason = f"{codec} has no {metric} curve on {dataset}"
                if qualities:
                    reason += f" at quality {', '.join(qualities)}"
                if store is None and resolve_name(store, codec).codec not in known_names(None):
                    reason += " (no results database)"
            else:
                try:
                    result = fn(a.points, t.points, method)
                    row[dataset] = result.value
                    row[f"{dataset} overlap"] = result.overlap
                except BdRateError as exc:
                    reason = f"{codec} on {dataset}: {exc}"
            if reason:
                row[dataset] = math.nan
                row[f"{dataset} overlap"] = math.nan
                number = next((n[1:n.index("]")] for n in notes if n.endswith(f"] {reason}")), None)
                if number is None:  # one footnote per distinct reason
                    number = str(len(notes) + 1)
                    notes.append(f"[{number}] {reason}")
                mark[dataset] = mark[f"{dataset} overlap"] = number
        labels = sorted(set(configs.values()))
        row["config"] = (labels[0] if len(labels) == 1
                         else "; ".join(f"{d}: {c}" for d, c in configs.items()) if labels else None)
        rows.append(row)
        marks.append(mark)
    # which configuration made each curve: shown when any curve is measured or imported
    shown = any(e["source"] != "published" for e in entries)
    columns = ["codec"] + ["config"] * shown + [c for d in datasets for c in (d, f"{d} overlap")]
    return BdTable(rows, columns, notes, describe_anchor(store, anchor, datasets, metric, qualities), info, entries,
                   marks)
