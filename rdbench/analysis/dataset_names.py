"""What a ``--dataset`` value names: one rule for every command (``run``, ``results``, ``bdrate``, ``plot``,
``report``, ``export``, ``import``, ``complexity``) and the notebooks.

Why one rule: records are stored under a dataset *name*, and a folder's name is ``<folder>-<8 hex of its
resolved path>`` (:func:`rdbench.data.datasets.folder_dataset_name`). When commands read a value
differently, ``results --dataset crops`` shows one folder's results while ``bdrate --dataset crops``
compares another folder (with no records: a table of NaN), and ``import --dataset FOLDER`` stores a
curve that is never compared with that folder's measured curves. First match wins:

1. a path (holds a path separator, starts with ``~``, or is ``.`` / ``..``): that folder's dataset, the name
   ``rdbench run`` gives it (a registered dataset's local copy is that dataset); a path that is not a
   folder is a usage error;
2. a registered dataset's name (a manifest: ``kodak``, ``tecnick``, ...), even where a folder of that
   name is in the working directory (``./kodak`` names the folder);
3. a name stored in the database (records or imported curves) or of a shipped published curve;
4. a folder of that name in the working directory: its dataset, unless the database holds results of
   another folder of that name (then ambiguous);
5. a folder's name alone when exactly one stored dataset is a folder of that name (``crops`` ->
   ``crops-3952195e``).

Ambiguity (rule 4 or 5 with several candidates) and no match are usage errors that list the
candidates. ``rdbench import`` alone keeps a name that matches nothing as it is: a published curve may
be for a dataset rdbench does not know.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from rdbench.analysis.catalogue import Catalogue, CatalogueSource
from rdbench.data.datasets import (
    Dataset,
    data_root,
    folder_dataset_name,
    manifests,
    registered_dataset_at,
    resolve_dataset,
)
from rdbench.errors import UsageError, did_you_mean

#: the suffix :func:`folder_dataset_name` gives a folder's name
_FOLDER_SUFFIX = re.compile(r"-[0-9a-f]{8}$")


def _is_path(spec: str) -> bool:
    separators = {os.sep, "/"} | ({os.altsep} if os.altsep else set())
    return any(s in spec for s in separators) or spec.startswith("~") or spec in (".", "..")


def _folder_name(folder: Path, root: str | Path | None) -> str:
    """The name ``rdbench run`` stores a folder's results under (see :func:`resolve_dataset`)."""
    return registered_dataset_at(folder, data_root(root)) or folder_dataset_name(folder)


def dataset_name(catalogue: Catalogue, spec: str, *, root: str | Path | None = None, new_ok: bool = False) -> str:
    """The dataset name ``spec`` stands for, by the module's rule; ``new_ok`` keeps an unmatched
    name as it is (``rdbench import``) instead of refusing it."""
    folder = Path(spec).expanduser()
    if _is_path(spec):
        if not folder.is_dir():
            raise UsageError(f"dataset {spec!r}: no such folder",
                             hint="a value with a path separator names a folder of images")
        return _folder_name(folder, root)
    if spec in manifests():
        return spec
    stored = set(catalogue.measured_datasets()) | catalogue.curve_datasets()
    if spec in stored:
        return spec
    same_name = sorted(d for d in stored if _FOLDER_SUFFIX.search(d) and d[:-9] == spec)
    if folder.is_dir():
        here = _folder_name(folder, root)
        others = [d for d in same_name if d != here]
        if others:
            raise UsageError(f"dataset {spec!r} is ambiguous: the folder ./{spec} here is {here}, and the database "
                             f"holds {', '.join(others)} (another folder named {spec})",
                             hint=f"write ./{spec} for the folder here, or {others[0]} for the stored one")
        return here
    if len(same_name) == 1:
        return same_name[0]
    if same_name:
        raise UsageError(f"dataset {spec!r} is ambiguous: the database holds {', '.join(same_name)}",
                         hint="name one of them, or give the folder's path (a folder dataset is stored as "
                              "<folder>-<hash of its path>)")
    if new_ok:
        return spec
    known = sorted(stored | set(manifests()))
    raise UsageError(f"unknown dataset {spec!r}{did_you_mean(spec, known)}: not a folder, a registered dataset "
                     "nor a name in the database",
                     hint=f"stored in the database: {', '.join(catalogue.measured_datasets()) or 'none'}; "
                          f"registered: {', '.join(sorted(manifests()))}")


def resolve_datasets(catalogue: CatalogueSource, specs: list[str], *, stored_only: bool = False) -> list[str]:
    """Dataset names for ``--dataset`` values (:func:`dataset_name`); ``stored_only`` (commands that list
    records: ``results``, ``export``, ``load_records``) also refuses a dataset without records.
    ``catalogue`` may be a store or None (scripts call this)."""
    catalogue = Catalogue.of(catalogue)
    names = [dataset_name(catalogue, spec) for spec in specs]
    if stored_only:
        stored = catalogue.measured_datasets()
        for spec, name in zip(specs, names):
            if name not in stored:
                what = repr(spec) if spec == name else f"{spec!r} ({name})"
                raise UsageError(f"dataset {what} has no records in the database{did_you_mean(name, stored)}",
                                 hint=f"stored in the database: {', '.join(stored) or 'none'}")
    return names


def dataset_to_measure(catalogue: Catalogue, spec: str, root: str | Path | None = None) -> Dataset:
    """The images a ``--dataset`` value stands for, for commands that read them (``run``, ``complexity``):
    the dataset :func:`dataset_name` names, which must be a registered dataset or a folder here."""
    name = dataset_name(catalogue, spec, root=root)
    if name in manifests():
        return resolve_dataset(name, root)
    folder = Path(spec).expanduser()
    if folder.is_dir() and _folder_name(folder, root) == name:  # rules 1 and 4: the folder's own name
        return resolve_dataset(spec, root)
    raise UsageError(f"dataset {spec!r} is {name} in the database, measured from a folder that is not {spec!r} "
                     "here", hint="give that folder's path to measure it again")
