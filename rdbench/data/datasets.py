"""Datasets: manifests (``datasets/*.toml`` at the top level, shipped with the wheel), local copies under the data root, plain folders.

A manifest names a dataset's official source and, per image, the file name and SHA-256::

    name = "kodak"
    description = "..."
    homepage = "..."
    count = 24
    [[files]]                  # files downloaded one by one ...
    name = "kodim01.png"
    url = "https://..."
    sha256 = "..."
    [[archives]]               # ... and/or archives whose members are the images
    url = "https://..."
    sha256 = "..."             # optional where no official hash is published
    members = "*/RGB_OR_1200x1200_*.png"  # glob of the members to extract (flat, by base name)

A ``[[files]]`` entry without ``url`` pins the hash of an image that comes from an archive.
When the ``[[files]]`` list is complete (``count`` entries) it is the dataset's image list;
otherwise (no published file list, e.g. CLIC) the images are the image files of the folder.
Manifests are read from the shipped folder (the checkout's top-level ``datasets/``, installed with the
wheel; :func:`rdbench.shipped.shipped_dir`) and from every folder in ``RDBENCH_DATASETS_PATH`` (``os.pathsep``-separated; later folders win), so a lab can add its
own datasets without editing rdbench.

A registered dataset lives in ``<data root>/<name>/`` (``--data-root``, else ``RDBENCH_DATA``,
else ``~/.local/share/rdbench/data``), or wherever ``rdbench datasets add NAME PATH`` pointed it
(kept in ``<data root>/locations.json`` after every checksum matched). ``--dataset`` also takes
a folder: every image file directly inside it, sorted by name, stored under the name
:func:`folder_dataset_name` gives it (``<folder name>-<8 hex>``; see there why).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import tomllib

from rdbench.data.images import IMAGE_SUFFIXES, file_sha256
from rdbench.errors import DatasetError, UsageError, did_you_mean
from rdbench.shipped import shipped_dir

#: rdbench's own manifests: the top-level ``datasets/`` of a checkout, or its copy in the wheel.
SHIPPED_MANIFESTS_DIR = shipped_dir("datasets")


@dataclass(frozen=True)
class ManifestFile:
    name: str
    url: str | None = None
    sha256: str | None = None


@dataclass(frozen=True)
class ManifestArchive:
    url: str
    sha256: str | None = None
    members: str = "*"
    filename: str | None = None


@dataclass(frozen=True)
class Manifest:
    name: str
    description: str = ""
    homepage: str = ""
    license: str = ""
    count: int | None = None
    files: tuple[ManifestFile, ...] = ()
    archives: tuple[ManifestArchive, ...] = ()
    source: str | None = None

    @property
    def checksums(self) -> dict[str, str]:
        return {f.name: f.sha256 for f in self.files if f.sha256}

    @property
    def lists_all_files(self) -> bool:
        """Whether ``files`` is the complete image list (else the folder's images are)."""
        return bool(self.files) and (self.count is None or len(self.files) == self.count)


@dataclass(frozen=True)
class ImageRef:
    """One image of a dataset: the name records use and where the file is."""

    name: str
    path: Path


@dataclass
class Dataset:
    name: str
    root: Path
    images: list[ImageRef] = field(default_factory=list)
    manifest: Manifest | None = None

    @cached_property
    def image_hashes(self) -> dict[str, str]:
        """Image name -> SHA-256 of its file (``"missing"`` where there is none), read once per dataset:
        a run checks a registered dataset's files against their expected hashes and records the same
        values as each record's ``image_hash``, so each image is hashed once."""
        return {ref.name: file_sha256(ref.path) if ref.path.is_file() else "missing" for ref in self.images}

    def describe(self) -> str:
        """One line saying what the dataset is and the name its results are stored under."""
        count = f"{len(self.images)} image{'s' if len(self.images) != 1 else ''}"
        if self.manifest is not None:
            return f"dataset {self.name}: {count} in {self.root}"
        return (f"dataset {self.name}: the {count} in the folder {self.root.resolve()} "
                f"(results are stored under this name; a folder dataset is named by its folder and path)")


def data_root(explicit: str | Path | None = None) -> Path:
    if explicit:
        return Path(explicit).expanduser()
    env = os.environ.get("RDBENCH_DATA")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".local" / "share" / "rdbench" / "data"


def load_manifest(path: Path) -> Manifest:
    try:
        data: dict[str, Any] = tomllib.loads(path.read_text())
        return _manifest_from(data, path)
    except (tomllib.TOMLDecodeError, TypeError) as exc:
        raise DatasetError(f"{path}: malformed dataset manifest ({exc})") from exc


def _manifest_from(data: dict[str, Any], path: Path) -> Manifest:
    return Manifest(
        name=data.get("name", path.stem),
        description=data.get("description", ""),
        homepage=data.get("homepage", ""),
        license=data.get("license", ""),
        count=data.get("count"),
        files=tuple(ManifestFile(**f) for f in data.get("files", [])),
        archives=tuple(ManifestArchive(**a) for a in data.get("archives", [])),
        source=str(path),
    )


def manifest_dirs() -> list[Path]:
    extra = [Path(p) for p in os.environ.get("RDBENCH_DATASETS_PATH", "").split(os.pathsep) if p]
    return [SHIPPED_MANIFESTS_DIR, *extra]


def manifests() -> dict[str, Manifest]:
    """Every dataset manifest (shipped ``datasets/`` and ``RDBENCH_DATASETS_PATH``), by name."""
    found = {}
    for folder in manifest_dirs():
        for path in sorted(folder.glob("*.toml")):
            manifest = load_manifest(path)
            found[manifest.name] = manifest
    return found


def get_manifest(name: str) -> Manifest:
    known = manifests()
    if name not in known:
        raise UsageError(f"unknown dataset {name!r}{did_you_mean(name, sorted(known))}; "
                         f"known: {', '.join(sorted(known))}, or pass a folder of images")
    return known[name]


def _locations_file(root: Path) -> Path:
    return root / "locations.json"


def registered_locations(root: Path) -> dict[str, str]:
    path = _locations_file(root)
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{path} is corrupt ({exc}); delete it and re-run `rdbench datasets add`") from exc


def register_location(root: Path, name: str, folder: Path) -> None:
    locations = registered_locations(root)
    locations[name] = str(folder.resolve())
    root.mkdir(parents=True, exist_ok=True)
    tmp = _locations_file(root).with_suffix(".tmp")
    tmp.write_text(json.dumps(locations, indent=2, sort_keys=True))
    tmp.replace(_locations_file(root))


def dataset_dir(name: str, root: Path) -> Path:
    """Where a registered dataset's images are (``add``-ed location, else ``<root>/<name>``)."""
    return Path(registered_locations(root).get(name, root / name))


def list_images(folder: Path) -> list[ImageRef]:
    """Image files directly inside ``folder``, sorted by name."""
    return [
        ImageRef(name=p.name, path=p)
        for p in sorted(folder.iterdir())
        if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")
    ]


def folder_dataset_name(folder: str | Path) -> str:
    """The dataset name of a folder of images: ``<folder name>-<first 8 hex of the SHA-256 of its
    resolved absolute path>``, e.g. ``kodak-3f2a9c1b`` for ``/some/where/kodak``.

    Why not the folder's name alone: records are stored and aggregated by dataset name, so
    ``/some/where/kodak`` (one crop named kodim01.png) would merge into the registered Kodak
    results (n 25, every mean and BD-rate moved, no warning), and two unrelated ``imgs`` folders
    into one dataset. The suffix keeps the folder's name readable and makes the name the
    folder's own: no two folders share it, and a registered dataset (a manifest's name) has no
    such suffix. A folder that is a registered dataset's local copy is that dataset instead
    (:func:`resolve_dataset`).

    Why the path and not the content: the path names the same dataset while the folder is
    worked on: adding images to it, or rerunning after an interruption, resumes under the same
    name, and each record carries its image's own SHA-256, so an image changed in place is
    measured again as a new record, never taken for the old one. A content hash would rename
    the dataset (orphaning every stored result) whenever one image was added or replaced, and
    would need every image read before anything else could happen. The price of the path: a
    moved or copied folder is a new dataset (measured again, never mixed up). Symbolic links,
    ``..`` and relative spellings resolve to the same absolute path, hence the same name.
    """
    resolved = Path(folder).expanduser().resolve()
    digest = hashlib.sha256(os.fsencode(resolved)).hexdigest()[:8]
    return f"{resolved.name or 'root'}-{digest}"


def registered_dataset_at(folder: Path, root: Path) -> str | None:
    """The registered dataset whose local copy ``folder`` is (``add``-ed or under the data root), or None."""
    resolved = folder.expanduser().resolve()
    for name in manifests():
        if dataset_dir(name, root).expanduser().resolve() == resolved:
            return name
    return None


def resolve_dataset(spec: str, root: str | Path | None = None) -> Dataset:
    """A registered dataset name or a folder of images -> :class:`Dataset` with its images.

    Registered datasets list exactly the manifest's files (a missing one is an error that
    says how to fetch it); folders list every image file in them. A folder that is the
    local copy of a registered dataset (``rdbench datasets add NAME PATH``, or
    ``<data root>/NAME``) is that dataset; any other folder is named by
    :func:`folder_dataset_name`, never by a registered dataset's name nor by another folder's.
    """
    base = data_root(root)
    known = manifests()
    if spec not in known:
        folder = Path(spec).expanduser()
        if not folder.is_dir():
            raise UsageError(f"unknown dataset {spec!r}{did_you_mean(spec, sorted(known))}: not a registered "
                             f"name ({', '.join(sorted(known))}) nor a folder")
        registered = registered_dataset_at(folder, base)
        if registered is None:
            images = list_images(folder)
            if not images:
                raise DatasetError(f"{folder} has no image files ({', '.join(IMAGE_SUFFIXES)})")
            return Dataset(name=folder_dataset_name(folder), root=folder, images=images)
        spec = registered
    manifest = known[spec]
    folder = dataset_dir(spec, base)
    if not folder.is_dir():
        raise DatasetError(
            f"dataset {spec!r} is not on this machine (looked in {folder})",
            hint=f"run `rdbench datasets download {spec}` or `rdbench datasets add {spec} PATH`",
        )
    if manifest.lists_all_files:
        images = [ImageRef(f.name, folder / f.name) for f in manifest.files]
        missing = [ref.name for ref in images if not ref.path.is_file()]
        if missing:
            raise DatasetError(
                f"dataset {spec!r} in {folder} lacks {len(missing)} of {len(images)} images "
                f"(first: {missing[0]})",
                hint=f"run `rdbench datasets download {spec}` to complete it",
            )
    else:
        images = list_images(folder)
        if manifest.count is not None and len(images) != manifest.count:
            raise DatasetError(
                f"dataset {spec!r} in {folder} has {len(images)} images, expected {manifest.count}",
                hint=f"run `rdbench datasets verify {spec}`, then `rdbench datasets download {spec}`",
            )
    return Dataset(name=spec, root=folder, images=images, manifest=manifest)
