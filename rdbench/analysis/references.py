"""Published RD curves shipped with rdbench (``reference_curves/<name>__<dataset>.json``, package data).

WHY: BD-rate tables need anchors nobody can re-measure here (VTM-18.0, paper curves). Each curve
is one small JSON file carrying its provenance (source repository, file, what the numbers are) so
a table can always say where a figure came from. :func:`list_references` and
:func:`load_reference` read them; ``scripts/build_references.py`` (not part of the package)
regenerates them from the raw published files.
"""

from __future__ import annotations

import json
from pathlib import Path

from rdbench.errors import RdbenchError, did_you_mean

#: Shipped curves: package data, installed with the wheel.
REFERENCE_DIR = Path(__file__).resolve().parent / "reference_curves"


def list_references(folder: Path = REFERENCE_DIR) -> dict[str, list[str]]:
    """Reference name -> datasets it has a curve for."""
    found: dict[str, list[str]] = {}
    for path in sorted(folder.glob("*__*.json")):
        name, dataset = path.stem.split("__", 1)
        found.setdefault(name, []).append(dataset)
    return found


def load_reference(name: str, dataset: str, folder: Path = REFERENCE_DIR) -> dict:
    """The stored curve ``name`` on ``dataset`` (keys bpp, psnr, optional ms_ssim_db, provenance)."""
    path = folder / f"{name}__{dataset}.json"
    if not path.exists():
        known = list_references(folder)
        if name in known:
            raise RdbenchError(f"reference {name!r} has no {dataset!r} curve",
                               hint=f"available datasets: {', '.join(known[name])}")
        raise RdbenchError(f"unknown reference {name!r}{did_you_mean(name, list(known))}",
                           hint=f"known references: {', '.join(known)}")
    return json.loads(path.read_text())
