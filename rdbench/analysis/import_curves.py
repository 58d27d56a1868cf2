"""Import published RD curves (CompressAI result JSON or simple ``{bpp, psnr}`` JSON) into a store.

WHY in the results database (table ``imported_curves``) rather than beside the shipped files:
an imported curve belongs to the user's study, travels with the ``--db`` it was imported into,
and never mixes with the curves rdbench ships in ``rdbench/analysis/reference_curves/``. Each row keeps its
provenance (source file, SHA-256 of its bytes, import time, the file's own description) so a
table can always say where a figure came from. Once imported, the name works in ``bdrate`` and
``plot`` exactly like a shipped reference.

Accepted shapes (MS-SSIM given linear in 0..1 is stored in dB, -10 log10(1 - x); a value of exactly 1,
a lossless point, is stored as the ceiling every analysis uses, ``PSNR_CAP_DB`` = 100 dB):

* CompressAI: ``{"name", "description", "results": {"bpp", "psnr-rgb", "ms-ssim-rgb", ...}}``
* simple: ``{"bpp": [...], "psnr": [...]}`` or ``[{"bpp": b, "psnr": p}, ...]``
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from rdbench import metric_spec
from rdbench.analysis.aggregate import capped_db
from rdbench.analysis.catalogue import Catalogue
from rdbench.analysis.dataset_names import dataset_name
from rdbench.codecs.base import CODEC_NAME_RULE, is_codec_name
from rdbench.errors import RdbenchError, UsageError, did_you_mean
from rdbench.run.metrics.formulas import ms_ssim_db
from rdbench.store.record import ImportedCurve
from rdbench.store.sqlite import Store


def _aliases() -> dict[str, tuple[str, bool]]:
    """Accepted keys -> (stored metric, True when the values are on the metric's own scale and are
    converted to the dB it is shown in): each built-in metric by its name and record field, alone and
    with CompressAI's ``-rgb`` (``_rgb``) suffix, and a metric shown in dB also by its dB field (``ms_ssim_db``)."""
    found: dict[str, tuple[str, bool]] = {}
    for metric in metric_spec.BUILTIN.values():
        for key in dict.fromkeys([f"{metric.name}-rgb", metric.name, metric.field, f"{metric.field}_rgb"]):
            found[key] = (metric.name, metric.scale == "db")
        if metric.curve_field:
            found[metric.curve_field.replace("_", "-")] = found[metric.curve_field] = (metric.name, False)
    return found


#: accepted keys -> (stored metric, True when the values are linear MS-SSIM to convert to dB)
METRIC_ALIASES: dict[str, tuple[str, bool]] = _aliases()
#: the metrics an imported curve may hold (the imported_curves table has a column for each)
METRICS = tuple(metric_spec.BUILTIN)


@dataclass
class ParsedCurve:
    """What one file holds: points per metric plus the name, dataset and description it declares."""

    bpp: list[float]
    metrics: dict[str, list[float]]
    name: str | None
    dataset: str | None
    description: str
    #: written by `rdbench export` (has its "rdbench" entry)
    from_rdbench: bool = False


def _columns(data: Any, path: Path) -> dict[str, list[Any]]:
    """Column lists from either a dict of lists or a list of point dicts."""
    if isinstance(data, list):
        if not data or not all(isinstance(p, dict) for p in data):
            raise RdbenchError(f"{path}: a list must hold point objects like {{\"bpp\": 0.2, \"psnr\": 30.1}}")
        keys = set().union(*data)
        return {k: [p.get(k) for p in data] for k in keys}
    if isinstance(data, dict):
        return {k: v for k, v in data.items() if isinstance(v, list)}
    raise RdbenchError(f"{path}: expected a JSON object or list, found {type(data).__name__}")


def _numbers(values: list[Any], key: str, path: Path) -> list[float]:
    try:
        out = [float(v) for v in values]
    except (TypeError, ValueError):
        raise RdbenchError(f"{path}: {key!r} holds a value that is not a number") from None
    if not all(math.isfinite(v) for v in out):
        raise RdbenchError(f"{path}: {key!r} holds a non-finite value")
    return out


def parse_curve_file(path: str | Path) -> ParsedCurve:
    """Read one CompressAI or simple JSON file; every metric found is returned (MS-SSIM in dB)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise UsageError(f"no such file: {path}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RdbenchError(f"{path} is not valid JSON ({exc})",
                           hint="import takes CompressAI or {bpp, psnr} JSON") from None
    meta = data if isinstance(data, dict) else {}
    body = meta["results"] if isinstance(meta.get("results"), (dict, list)) else data
    columns = _columns(body, path)
    if "bpp" not in columns:
        raise RdbenchError(f"{path} has no 'bpp' values",
                           hint="expected CompressAI JSON or {\"bpp\": [...], \"psnr\": [...]}")
    bpp = _numbers(columns["bpp"], "bpp", path)
    if not bpp or any(v <= 0 for v in bpp):
        raise RdbenchError(f"{path}: 'bpp' must be a non-empty list of positive rates")
    metrics: dict[str, list[float]] = {}
    for key, (metric, linear) in METRIC_ALIASES.items():
        if key not in columns or metric in metrics:
            continue
        values = _numbers(columns[key], key, path)
        if len(values) != len(bpp):
            raise RdbenchError(f"{path}: {len(bpp)} bpp values but {len(values)} {key!r} values")
        if linear:
            if not all(0 < v <= 1 for v in values):
                raise RdbenchError(f"{path}: {key!r} must lie in (0, 1) (linear MS-SSIM, or exactly 1 for a "
                                   "lossless point); use 'ms_ssim_db' for dB")
            values = [capped_db(ms_ssim_db(v)) for v in values]  # 1 (lossless): the capped dB of aggregate
        metrics[metric] = values
    if not metrics:
        raise RdbenchError(f"{path} has bpp but no quality values",
                           hint=f"name them one of: {', '.join(METRIC_ALIASES)}")
    name = meta.get("name") if isinstance(meta.get("name"), str) else None
    dataset = meta.get("dataset") if isinstance(meta.get("dataset"), str) else None
    return ParsedCurve(bpp, metrics, name, dataset, str(meta.get("description") or ""),
                       from_rdbench=isinstance(meta.get("rdbench"), dict))


def normalise_name(raw: str) -> str:
    """A curve name usable on the command line: lower case, spaces as dashes."""
    name = "-".join(raw.strip().lower().split())
    if not is_codec_name(name):
        raise UsageError(f"{raw!r} is not a usable curve name",
                         hint=f"pass --name with {CODEC_NAME_RULE} (the rule for codec names too)")
    return name


def _taken(store: Store, name: str) -> str | None:
    """Why ``name`` cannot be used for an imported curve, or None."""
    from rdbench.analysis.references import list_references

    if name in list_references():
        return "is a curve shipped with rdbench"
    if any(codec == name for codec, _, _ in store.iter_codecs()):
        return "is a codec measured in this database"
    return None


def import_curves(store: Store, paths: list[str | Path], *, name: str | None = None, dataset: str | None = None,
                  metrics: list[str] | None = None, replace: bool = False) -> list[dict[str, Any]]:
    """Parse every file first, then store them all in one transaction; returns one summary per file.

    A curve is named ``name``, else the file's ``name`` field, else (also when several of the files
    declare the same name) the file's stem. ``dataset`` (``--dataset``) is read by the rule every command
    uses (:func:`rdbench.analysis.dataset_names.dataset_name`), so a folder's curve is stored under the
    name ``rdbench run`` gives that folder and is compared with its measured curves; a name that matches
    nothing is kept as it is, as is the file's own ``dataset`` field.
    """
    if name and len(paths) > 1:
        raise UsageError("--name applies to a single file", hint="import the files one at a time to name each")
    for metric in metrics or []:
        if metric not in METRICS:
            raise UsageError(f"unknown metric {metric!r}{did_you_mean(metric, list(METRICS))}")
    parsed_files = [parse_curve_file(path) for path in paths]
    if dataset:
        dataset = dataset_name(Catalogue(store), dataset, new_ok=True)
    declared = [p.name for p in parsed_files]
    curves: list[ImportedCurve] = []
    summaries: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    for path, parsed in zip(paths, parsed_files):
        # several files declaring one name (CompressAI's cpu/cuda, mse/ms-ssim variants): their stems tell them apart
        own = parsed.name if parsed.name and declared.count(parsed.name) == 1 else None
        curve_name = normalise_name(name or own or Path(path).stem)
        curve_dataset = dataset or parsed.dataset
        if not curve_dataset:
            raise UsageError(f"{path} does not say which dataset its points are for",
                             hint="pass --dataset kodak (or the right one)")
        wanted = metrics or list(parsed.metrics)
        missing = [m for m in wanted if m not in parsed.metrics]
        if missing:
            raise RdbenchError(f"{path} has no {', '.join(missing)} values",
                               hint=f"it has: {', '.join(parsed.metrics)}")
        if why := _taken(store, curve_name):
            other = f"{curve_name}-exported" if parsed.from_rdbench else f"{curve_name}-imported"
            raise UsageError(f"{curve_name!r} {why}",
                             hint=f"import it under another name: `rdbench import {path} --name {other}"
                                  f"{'' if parsed.dataset else f' --dataset {curve_dataset}'}`")
        key = (curve_name, curve_dataset)
        if key in seen:
            raise UsageError(f"two files would both be imported as {curve_name!r} on {curve_dataset!r}")
        seen.add(key)
        existing = store.imported_curve(*key)
        digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
        if existing and existing["sha256"] != digest and not replace:
            raise UsageError(f"{curve_name!r} on {curve_dataset!r} was already imported from {existing['source_file']}",
                             hint="pass --replace to overwrite it, or --name to keep both")
        psnr, ms_ssim = (parsed.metrics[m.name] if m.name in wanted else None
                         for m in (metric_spec.PSNR, metric_spec.MS_SSIM))
        unchanged = (existing is not None and existing["sha256"] == digest and existing["bpp"] == parsed.bpp
                     and existing.get(metric_spec.PSNR.key) == psnr and existing.get(metric_spec.MS_SSIM.key) == ms_ssim)
        summary = {"name": curve_name, "dataset": curve_dataset, "points": len(parsed.bpp), "metrics": wanted,
                   "source_file": str(Path(path).resolve()), "sha256": digest,
                   "status": "unchanged" if unchanged else "replaced" if existing else "imported",
                   "previous_source": existing["source_file"] if existing else None}
        summaries.append(summary)
        if unchanged:
            continue
        curves.append(ImportedCurve(
            name=curve_name, dataset=curve_dataset, bpp=parsed.bpp,
            psnr=psnr, ms_ssim_db=ms_ssim,
            description=parsed.description, source_file=str(Path(path).resolve()), sha256=digest,
            imported_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        ))
    if curves:
        store.put_imported_curves(curves)
    return summaries
