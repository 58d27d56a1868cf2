"""Getting a dataset onto this machine and proving it is the right one: download, add, verify.

Every image is checked against the SHA-256 its manifest publishes. Where no hash is
published (images that come out of an archive without per-file hashes, or a lab manifest
that lists none), the hashes are recorded when the dataset is first installed (``download``,
or ``add`` of a local folder: the content first seen is then the reference), in
``<data root>/checksums/<name>.sha256``, so that any later change is detected; the file lives
under the data root, never in a folder the user ``add``-ed, because rdbench writes nothing
outside its own places.

One check, :func:`changed_images`, serves ``rdbench datasets verify`` (:func:`verify_folder`) and
``rdbench run`` (:func:`check_unchanged`, before anything is measured): a registered dataset's
name promises its images, and results stored under it must be of those images.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from rdbench.data.datasets import (
    Dataset,
    Manifest,
    dataset_dir,
    get_manifest,
    list_images,
    register_location,
    registered_locations,
)
from rdbench.data.download import Progress, download, extract
from rdbench.data.images import file_sha256
from rdbench.errors import ChangedDatasetError, DatasetError, plural


@dataclass
class Verification:
    """What ``verify`` found: every problem is one line naming the file and what to do."""

    name: str
    folder: Path
    checked: int = 0
    problems: list[str] = field(default_factory=list)
    #: Files ``download`` wrote into the folder (fetched, or extracted from a fetched archive);
    #: empty when everything was already there, so the command can say which happened.
    fetched: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def recorded_sums_path(root: Path, name: str) -> Path:
    return root / "checksums" / f"{name}.sha256"


def read_recorded_sums(root: Path, name: str) -> dict[str, str]:
    path = recorded_sums_path(root, name)
    if not path.is_file():
        return {}
    sums = {}
    for line in path.read_text().splitlines():
        digest, _, filename = line.partition("  ")
        if digest and filename:
            sums[filename] = digest
    return sums


def write_recorded_sums(root: Path, name: str, sums: dict[str, str]) -> None:
    path = recorded_sums_path(root, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(f"{digest}  {filename}\n" for filename, digest in sorted(sums.items())))
    tmp.replace(path)


def reference_hashes(manifest: Manifest, root: Path) -> dict[str, str]:
    """Image name -> the SHA-256 it must have: the manifest's, else the one recorded at install."""
    return {**read_recorded_sums(root, manifest.name), **manifest.checksums}


@dataclass(frozen=True)
class ChangedImage:
    """An image whose file is not the one its expected SHA-256 names."""

    name: str
    expected: str
    actual: str


def changed_images(manifest: Manifest, root: Path, hashes: dict[str, str]) -> list[ChangedImage]:
    """The images among ``hashes`` (name -> SHA-256 of the file as it is) that differ from the hash
    the dataset expects of them; images with no expected hash are not judged."""
    expected = reference_hashes(manifest, root)
    return [ChangedImage(name, expected[name], actual) for name, actual in hashes.items()
            if name in expected and actual != expected[name]]


def check_unchanged(dataset: Dataset, root: Path) -> None:
    """Refuse to measure a registered dataset one of whose images changed (:class:`ChangedDatasetError`).

    Why before a run: its records would be stored under the dataset's name (``kodak``) and compared
    with everyone's Kodak numbers while measuring other images. Uses ``dataset.image_hashes``, which
    the run then records, so no image is hashed twice.
    """
    if dataset.manifest is None:
        return
    changed = changed_images(dataset.manifest, root, dataset.image_hashes)
    if not changed:
        return
    first = changed[0]
    more = f" (and {plural(len(changed) - 1, 'more changed image')})" if len(changed) > 1 else ""
    raise ChangedDatasetError(
        f"dataset {dataset.name}: {first.name} in {dataset.root} has SHA-256 {first.actual}, expected "
        f"{first.expected}{more}; nothing was measured",
        hint=f"restore it (`rdbench datasets download {dataset.name}` fetches the original where the manifest has "
             f"a URL; `rdbench datasets verify {dataset.name}` lists every change), or to measure the changed images "
             "copy the folder elsewhere and run on the copy: a folder dataset, stored under its own name",
    )


def expected_names(manifest: Manifest, folder: Path) -> list[str]:
    """The image files the dataset consists of: the manifest's list, else what the folder holds."""
    if manifest.lists_all_files:
        return [f.name for f in manifest.files]
    return [ref.name for ref in list_images(folder)] if folder.is_dir() else []


def verify_folder(manifest: Manifest, folder: Path, root: Path, *, progress: Progress | None = None) -> Verification:
    """Check count and every hash (published, else recorded) of the images in ``folder``."""
    result = Verification(manifest.name, folder)
    if not folder.is_dir():
        result.problems.append(f"{folder} does not exist")
        return result
    names = expected_names(manifest, folder)
    if manifest.count is not None and len(names) != manifest.count and not manifest.lists_all_files:
        result.problems.append(f"{folder} holds {len(names)} images, the dataset has {manifest.count}")
    known = reference_hashes(manifest, root)
    hashes = {}
    for index, filename in enumerate(names, 1):
        path = folder / filename
        if not path.is_file():
            result.problems.append(f"{filename}: missing")
            continue
        if filename in known:
            hashes[filename] = file_sha256(path)
        result.checked += 1
        if progress:
            progress(index, len(names), filename)
    result.problems += [f"{c.name}: SHA-256 {c.actual} differs from the expected {c.expected}"
                        for c in changed_images(manifest, root, hashes)]
    return result


def verify_dataset(name: str, root: Path, *, progress: Progress | None = None) -> Verification:
    manifest = get_manifest(name)
    return verify_folder(manifest, dataset_dir(name, root), root, progress=progress)


def record_unpinned_sums(manifest: Manifest, folder: Path, root: Path) -> None:
    """Remember the hash of every image the manifest publishes none for (see module docstring)."""
    pinned = manifest.checksums
    sums = read_recorded_sums(root, manifest.name)
    for filename in expected_names(manifest, folder):
        path = folder / filename
        if filename not in pinned and path.is_file():
            sums[filename] = file_sha256(path)
    if sums:
        write_recorded_sums(root, manifest.name, sums)


def add_dataset(name: str, folder: Path, root: Path, *, progress: Progress | None = None) -> Verification:
    """Register an existing local copy after every checksum it can be checked against matched."""
    manifest = get_manifest(name)
    folder = folder.expanduser().resolve()
    if not folder.is_dir():
        raise DatasetError(f"{folder} is not a folder", hint=f"pass the folder that holds the {name} images")
    result = verify_folder(manifest, folder, root, progress=progress)
    if result.ok:
        register_location(root, name, folder)
        record_unpinned_sums(manifest, folder, root)
    return result


def download_dataset(name: str, root: Path, *, keep_archives: bool = False,
                     progress: Progress | None = None) -> Verification:
    """Fetch every file and archive of the manifest into the dataset folder, then verify it.

    Safe to interrupt and rerun: finished files are skipped, partial ones resume.
    """
    manifest = get_manifest(name)
    if not manifest.archives and not any(f.url for f in manifest.files):
        raise DatasetError(f"the manifest of {name!r} has no download URL",
                           hint=f"get the images yourself, then run `rdbench datasets add {name} PATH`")
    location = registered_locations(root).get(name)
    folder = Path(location) if location else root / name
    noop: Progress = lambda done, total, label: None  # noqa: E731
    report = progress or noop
    fetched = []
    for f in manifest.files:
        if f.url:
            before = _identity(folder / f.name)
            download(f.url, folder / f.name, f.sha256, progress=report)
            if _identity(folder / f.name) != before:  # written now, not found whole and kept
                fetched.append(f.name)
    for archive in manifest.archives:
        if _archive_done(manifest, folder):
            continue
        filename = archive.filename or archive.url.rstrip("/").rsplit("/", 1)[-1]
        archive_path = download(archive.url, root / "downloads" / filename, archive.sha256, progress=report)
        fetched += [path.name for path in extract(archive_path, folder, archive.members, progress=report)]
        if not keep_archives:
            archive_path.unlink()
    result = verify_folder(manifest, folder, root)
    result.fetched = fetched
    if result.ok:
        record_unpinned_sums(manifest, folder, root)
    return result


def _identity(path: Path) -> tuple[int, int] | None:
    """(inode, mtime) of a file, None if absent: changes exactly when a download replaces it."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return (stat.st_ino, stat.st_mtime_ns)


def _archive_done(manifest: Manifest, folder: Path) -> bool:
    """Whether the archive's images are all there already (so a rerun does not fetch it again)."""
    names = expected_names(manifest, folder)
    if manifest.count is not None and len(names) < manifest.count:
        return False
    return bool(names) and all((folder / n).is_file() for n in names)
