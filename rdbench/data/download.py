"""Downloads that can be trusted: resumable, checksummed, and archives extracted safely.

Why each rule:
- A file is fetched into ``NAME.part`` and renamed only after its SHA-256 matched, so a file
  with the final name is always complete and correct, and an interrupted download leaves
  only a ``.part`` that the next attempt continues with an HTTP ``Range`` request (a server
  that ignores ``Range`` answers 200, and the download restarts from zero).
- A checksum mismatch deletes the bad bytes: keeping them would make every retry resume a
  corrupt file.
- Archive members are checked before anything is written: absolute names, ``..`` components,
  links and device files are refused, so no archive can write outside its target folder.
"""

from __future__ import annotations

import fnmatch
import os
import shutil
import stat
import tarfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

from rdbench.data.images import file_sha256
from rdbench.errors import DatasetError

CHUNK = 1 << 20
#: progress(bytes_done, bytes_total or None, label): called after every chunk.
Progress = Callable[[int, int | None, str], None]


def _no_progress(done: int, total: int | None, label: str) -> None:
    return None


def download(url: str, dest: Path, sha256: str | None = None, *, progress: Progress = _no_progress,
             timeout_s: float = 60.0) -> Path:
    """Fetch ``url`` to ``dest`` (resuming ``dest.part``) and verify ``sha256`` when given.

    A ``dest`` that already exists with the right checksum is not fetched again.
    """
    if dest.is_file() and (sha256 is None or file_sha256(dest) == sha256):
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    offset = part.stat().st_size if part.is_file() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "rdbench"})
    if offset:
        request.add_header("Range", f"bytes={offset}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout_s)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and offset:  # the .part is already whole (or longer than the file)
            return _finish(part, dest, sha256, url)
        raise DatasetError(f"download of {url} failed: HTTP {exc.code} {exc.reason}",
                           hint="check the URL and your connection, then run the same command again") from exc
    except (urllib.error.URLError, OSError) as exc:
        raise DatasetError(f"download of {url} failed: {getattr(exc, 'reason', exc)}",
                           hint="check your connection, then run the same command again (it resumes)") from exc
    with response:
        resumed = offset and response.status == 206
        if not resumed:
            offset = 0
        length = response.headers.get("Content-Length")
        total = offset + int(length) if length is not None else None
        done = offset
        try:
            with open(part, "ab" if resumed else "wb") as out:
                while chunk := response.read(CHUNK):
                    out.write(chunk)
                    done += len(chunk)
                    progress(done, total, dest.name)
        except OSError as exc:
            raise DatasetError(f"download of {url} was interrupted after {done} bytes: {exc}",
                               hint="run the same command again: it resumes where it stopped") from exc
    if total is not None and done < total:
        raise DatasetError(f"download of {url} stopped at {done} of {total} bytes",
                           hint="run the same command again: it resumes where it stopped")
    return _finish(part, dest, sha256, url)


def _finish(part: Path, dest: Path, sha256: str | None, url: str) -> Path:
    if sha256 is not None:
        actual = file_sha256(part)
        if actual != sha256:
            part.unlink()
            raise DatasetError(
                f"{dest.name} from {url} has SHA-256 {actual[:16]}..., expected {sha256[:16]}...; "
                "the corrupt file was deleted",
                hint="run the command again; if it fails the same way the file on the server changed",
            )
    os.replace(part, dest)
    return dest


@dataclass(frozen=True)
class Member:
    """One regular file of an archive, after its name passed the safety checks."""

    name: str  # the member's path inside the archive (posix)
    size: int


class _Archive:
    """A zip or tar file opened for reading, with every member checked on opening.

    All members are validated before the first byte is extracted: one unsafe member refuses
    the whole archive, so a malicious archive never leaves a partial extraction behind.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._zip: zipfile.ZipFile | None = None
        self._tar: tarfile.TarFile | None = None
        self.members: list[tuple[Member, object]] = []
        if zipfile.is_zipfile(path):
            self._zip = zipfile.ZipFile(path)
            for info in self._zip.infolist():
                self._check(info.filename, is_link=stat.S_ISLNK(info.external_attr >> 16), is_special=False)
                if not info.is_dir():
                    self.members.append((Member(_posix(info.filename), info.file_size), info))
            return
        try:
            self._tar = tarfile.open(path)
        except tarfile.TarError as exc:
            raise DatasetError(f"{path.name} is neither a zip nor a tar archive ({exc})",
                               hint="delete it and download it again") from exc
        for tinfo in self._tar.getmembers():
            self._check(tinfo.name, is_link=tinfo.issym() or tinfo.islnk(),
                        is_special=tinfo.isdev() or tinfo.isfifo())
            if tinfo.isfile():
                self.members.append((Member(_posix(tinfo.name), tinfo.size), tinfo))

    def _check(self, name: str, *, is_link: bool, is_special: bool) -> None:
        path = PurePosixPath(_posix(name))
        if path.is_absolute() or ".." in path.parts or (path.parts and ":" in path.parts[0]):
            why = "would be written outside the target folder"
        elif is_link:
            why = "is a link"
        elif is_special:
            why = "is a device or fifo"
        else:
            return
        self.close()
        raise DatasetError(f"{self.path.name}: member {name!r} {why}; refusing to extract anything from it",
                           hint="the archive is malformed or malicious: delete it and download it again")

    def open(self, handle: object) -> IO[bytes]:
        if self._zip is not None:
            return self._zip.open(handle)  # type: ignore[arg-type]
        assert self._tar is not None
        stream = self._tar.extractfile(handle)  # type: ignore[arg-type]
        assert stream is not None  # regular files always have a stream
        return stream

    def close(self) -> None:
        for handle in (self._zip, self._tar):
            if handle is not None:
                handle.close()

    def __enter__(self) -> "_Archive":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _posix(name: str) -> str:
    return name.replace("\\", "/")


def extract(archive: Path, target: Path, pattern: str = "*", *, progress: Progress = _no_progress) -> list[Path]:
    """Extract the regular files matching ``pattern`` (a glob on the member path) flat into ``target``.

    Members are written under their base name only (datasets are flat folders); two members
    with the same base name are an error rather than a silent overwrite. Each file is written
    to a hidden temporary name and renamed, so a killed extraction leaves no half image.
    """
    with _Archive(archive) as arc:
        chosen = [(m, h) for m, h in arc.members if fnmatch.fnmatch(m.name, pattern)]
        if not chosen:
            raise DatasetError(f"{archive.name} has no member matching {pattern!r}",
                               hint="the archive layout changed: check the dataset manifest")
        names = [PurePosixPath(m.name).name for m, _ in chosen]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise DatasetError(f"{archive.name}: several members are named {duplicates[0]!r}")
        target.mkdir(parents=True, exist_ok=True)
        total = sum(m.size for m, _ in chosen)
        done = 0
        written = []
        for (member, handle), name in zip(chosen, names):
            tmp = target / f".{name}.part"
            with arc.open(handle) as src, open(tmp, "wb") as out:
                shutil.copyfileobj(src, out, CHUNK)
            os.replace(tmp, target / name)
            done += member.size
            progress(done, total, name)
            written.append(target / name)
    return written
