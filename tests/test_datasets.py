"""Datasets: downloads over real HTTP (a server on 127.0.0.1 serving files the test makes),
checksums, resume, safe extraction, `add` and `verify`, through the real CLI."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import tarfile
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from helpers import rdbench
from PIL import Image

from rdbench.data.datasets import data_root, resolve_dataset
from rdbench.data.download import download, extract
from rdbench.data.install import download_dataset, verify_dataset
from rdbench.errors import DatasetError


class _Handler(BaseHTTPRequestHandler):
    """Serves ``server.files`` (path -> bytes); honours ``Range`` unless ``server.ranges`` is False."""

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        server = self.server
        server.requests.append((self.path, self.headers.get("Range")))  # type: ignore[attr-defined]
        body = server.files.get(self.path)  # type: ignore[attr-defined]
        if body is None:
            self.send_error(404)
            return
        start = 0
        header = self.headers.get("Range")
        if header and server.ranges:  # type: ignore[attr-defined]
            start = int(header.removeprefix("bytes=").split("-")[0])
            if start >= len(body):
                self.send_response(416)
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        self.wfile.write(body[start:])

    def log_message(self, *args: object) -> None:
        return None


@pytest.fixture()
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.files, httpd.requests, httpd.ranges = {}, [], True  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}"  # type: ignore[attr-defined]
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def _png(seed: int, size: tuple[int, int] = (40, 32)) -> bytes:
    rng = np.random.default_rng(seed)
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buffer.getvalue()


@pytest.fixture()
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A manifest folder and a data root of the test's own, for in-process calls and the CLI."""
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    monkeypatch.setenv("RDBENCH_DATASETS_PATH", str(manifests))
    monkeypatch.setenv("RDBENCH_DATA", str(tmp_path / "data"))
    return {**os.environ}


def _manifest(env: dict[str, str], name: str, body: str) -> None:
    Path(env["RDBENCH_DATASETS_PATH"], f"{name}.toml").write_text(f'name = "{name}"\n{body}')


def test_download_files_verify_and_use(server, env) -> None:
    images = {f"img{i}.png": _png(i) for i in range(3)}
    server.files.update({f"/d/{n}": b for n, b in images.items()})
    _manifest(env, "tiny", "count = 3\n" + "".join(
        f'[[files]]\nname = "{n}"\nurl = "{server.url}/d/{n}"\nsha256 = "{_sha(b)}"\n' for n, b in images.items()))
    result = rdbench("datasets", "download", "tiny", "-q", env=env)
    assert result.returncode == 0, result.stderr
    assert "3 images checked" in result.stdout
    folder = Path(env["RDBENCH_DATA"]) / "tiny"
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == images
    dataset = resolve_dataset("tiny")
    assert [ref.name for ref in dataset.images] == sorted(images)
    # A second download fetches nothing: every file is present with its checksum.
    server.requests.clear()
    assert rdbench("datasets", "download", "tiny", "-q", env=env).returncode == 0
    assert server.requests == []
    # Damage one file: verify names it and fails.
    (folder / "img1.png").write_bytes(b"garbage")
    result = rdbench("datasets", "verify", "tiny", "-q", env=env)
    assert result.returncode == 1 and "img1.png: SHA-256" in result.stderr


def test_corrupted_download_is_deleted_and_reported(server, env) -> None:
    good = _png(7)
    server.files["/bad.png"] = good[:-10] + b"0123456789"  # what the server has is not what was published
    _manifest(env, "bad", f'[[files]]\nname = "x.png"\nurl = "{server.url}/bad.png"\nsha256 = "{_sha(good)}"\n')
    result = rdbench("datasets", "download", "bad", "-q", env=env)
    assert result.returncode == 1
    assert "x.png" in result.stderr and "expected" in result.stderr and "deleted" in result.stderr
    folder = Path(env["RDBENCH_DATA"]) / "bad"
    assert not (folder / "x.png").exists() and not (folder / "x.png.part").exists()


def test_download_resumes_with_range_and_restarts_without(server, tmp_path: Path) -> None:
    body = os.urandom(3_000_000)
    server.files["/big.bin"] = body
    dest = tmp_path / "big.bin"
    part = tmp_path / "big.bin.part"
    part.write_bytes(body[:1_234_567])  # what an interrupted download left
    download(f"{server.url}/big.bin", dest, _sha(body))
    assert dest.read_bytes() == body and not part.exists()
    assert server.requests[-1] == ("/big.bin", "bytes=1234567-")
    # A server that ignores Range answers 200 with the whole file: the download restarts cleanly.
    server.ranges = False
    dest.unlink()
    part.write_bytes(b"stale bytes that must not survive")
    download(f"{server.url}/big.bin", dest, _sha(body))
    assert dest.read_bytes() == body


def test_good_archive_extracts_only_the_chosen_members(server, env) -> None:
    images = {f"set/RGB/img_{i:03d}.png": _png(i) for i in range(1, 4)}
    archive = _zip({**images, "set/GRAY/img_001.png": _png(99), "set/README.TXT": b"readme"})
    server.files["/set.zip"] = archive
    _manifest(env, "arch", f'count = 3\n[[archives]]\nurl = "{server.url}/set.zip"\nsha256 = "{_sha(archive)}"\n'
                           'members = "*/RGB/*.png"\n')
    result = rdbench("datasets", "download", "arch", "-q", env=env)
    assert result.returncode == 0, result.stderr
    folder = Path(env["RDBENCH_DATA"]) / "arch"
    assert sorted(p.name for p in folder.iterdir()) == ["img_001.png", "img_002.png", "img_003.png"]
    assert (folder / "img_001.png").read_bytes() == images["set/RGB/img_001.png"]
    assert not (Path(env["RDBENCH_DATA"]) / "downloads" / "set.zip").exists()  # removed after extraction
    # No hash was published per image: the ones recorded at download time catch later damage.
    (folder / "img_002.png").write_bytes(_png(5))
    result = rdbench("datasets", "verify", "arch", "-q", env=env)
    assert result.returncode == 1 and "img_002.png: SHA-256" in result.stderr


@pytest.mark.parametrize("kind", ["zip-dotdot", "tar-dotdot", "tar-absolute", "tar-symlink"])
def test_archive_that_escapes_its_target_is_refused(tmp_path: Path, kind: str) -> None:
    archive = tmp_path / ("evil.zip" if kind.startswith("zip") else "evil.tar")
    if kind == "zip-dotdot":
        archive.write_bytes(_zip({"ok.png": _png(1), "../escaped.png": _png(2)}))
    else:
        with tarfile.open(archive, "w") as tf:
            def add(name: str, data: bytes) -> None:
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
            add("ok.png", _png(1))
            if kind == "tar-dotdot":
                add("../escaped.png", _png(2))
            elif kind == "tar-absolute":
                add(str(tmp_path / "escaped.png"), _png(2))
            else:
                link = tarfile.TarInfo("link.png")
                link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
                tf.addfile(link)
    target = tmp_path / "out"
    with pytest.raises(DatasetError, match="refusing to extract anything"):
        extract(archive, target)
    assert not (tmp_path / "escaped.png").exists()
    assert not target.exists() or not any(target.iterdir())  # nothing at all was written


def test_interrupted_dataset_download_resumes(server, env) -> None:
    """A download stopped part-way (the server dies) leaves a .part that the rerun continues."""
    archive = _zip({f"img_{i}.png": _png(i, (300, 300)) for i in range(4)})
    server.files["/set.zip"] = archive
    _manifest(env, "resume", f'count = 4\n[[archives]]\nurl = "{server.url}/set.zip"\nsha256 = "{_sha(archive)}"\n')
    root = data_root()
    part = root / "downloads" / "set.zip.part"
    part.parent.mkdir(parents=True)
    part.write_bytes(archive[: len(archive) // 2])
    result = download_dataset("resume", root)
    assert result.ok and result.checked == 4
    assert ("/set.zip", f"bytes={len(archive) // 2}-") in server.requests


@pytest.mark.slow
def test_add_verifies_before_registering(kodak_dir: Path, env, tmp_path: Path) -> None:
    result = rdbench("datasets", "add", "kodak", str(kodak_dir), "-q", env=env)
    assert result.returncode == 0, result.stderr
    assert "24 images checked" in result.stdout
    assert verify_dataset("kodak", data_root()).ok
    assert len(resolve_dataset("kodak").images) == 24
    # A copy with one altered image is refused and not registered.
    copy = tmp_path / "kodak-copy"
    shutil.copytree(kodak_dir, copy)
    (copy / "kodim05.png").write_bytes((kodak_dir / "kodim06.png").read_bytes())
    env2 = {**env, "RDBENCH_DATA": str(tmp_path / "other-root")}
    result = rdbench("datasets", "add", "kodak", str(copy), "-q", env=env2)
    assert result.returncode == 1 and "kodim05.png: SHA-256" in result.stderr and "not registered" in result.stderr
    assert "not here" in rdbench("datasets", "list", env=env2).stdout.split("kodak", 1)[1].splitlines()[0]


def test_unknown_dataset_suggests_a_name(env) -> None:
    result = rdbench("datasets", "verify", "kodac", env=env)
    assert result.returncode == 2 and "did you mean 'kodak'" in result.stderr
