"""Issue 23, data side: images deeper than 8 bits in any format, one dataset-name rule for every
command, and registered datasets checked against their hashes before a run measures them.

Everything runs the real CLI on real Kodak images (crops, or a copy of the set) and real files.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
from helpers import kodak_crops, rdbench
from PIL import Image

from rdbench.data.images import load_image
from rdbench.errors import RdbenchError
from rdbench.store.sqlite import Store


def _rgb16_tiff(image: np.ndarray) -> bytes:
    """A baseline little-endian TIFF with 16 bits per RGB sample (Pillow cannot write one), built by hand."""
    h, w, _ = image.shape
    pixels = (image.astype("<u2") * 257).tobytes()
    entries = [  # (tag, type, count, value); type 3 = SHORT, 4 = LONG
        (256, 4, 1, w), (257, 4, 1, h), (258, 3, 3, None), (259, 3, 1, 1), (262, 3, 1, 2),
        (273, 4, 1, None), (277, 3, 1, 3), (278, 4, 1, h), (279, 4, 1, len(pixels)), (284, 3, 1, 1),
    ]
    ifd_size = 2 + 12 * len(entries) + 4
    bits_at = 8 + ifd_size
    pixels_at = bits_at + 6
    ifd = struct.pack("<H", len(entries))
    for tag, kind, count, value in entries:
        value = {258: bits_at, 273: pixels_at}.get(tag, value)
        ifd += struct.pack("<HHI", tag, kind, count) + (struct.pack("<HH", value, 0) if kind == 3 and count == 1
                                                         else struct.pack("<I", value))
    return b"II*\0" + struct.pack("<I", 8) + ifd + struct.pack("<I", 0) + struct.pack("<3H", 16, 16, 16) + pixels


def _ppm16(image: np.ndarray, maxval: int = 65535) -> bytes:
    """A binary PPM (P6) with two bytes per sample, as the Netpbm format defines for maxval > 255."""
    h, w, _ = image.shape
    samples = (image.astype(np.uint32) * maxval // 255).astype(">u2")
    return f"P6\n# 16-bit test image\n{w} {h}\n{maxval}\n".encode() + samples.tobytes()


def test_images_deeper_than_8_bits_are_refused_in_every_format(tmp_path: Path) -> None:
    crops = kodak_crops(tmp_path / "crops", 1, (0, 0, 48, 40))
    image = load_image(next(crops.iterdir()))
    folder = tmp_path / "deep"
    folder.mkdir()
    Image.fromarray(image).save(folder / "a_good.png")
    (folder / "rgb16.tif").write_bytes(_rgb16_tiff(image))
    Image.fromarray(image[:, :, 0].astype(np.uint16) * 257).save(folder / "gray16.tif")  # Pillow's I;16
    (folder / "rgb16.ppm").write_bytes(_ppm16(image))
    (folder / "rgb10.ppm").write_bytes(_ppm16(image, maxval=1023))
    gray = (image[:, :, 1].astype(">u2") * 257).tobytes()
    (folder / "gray16.pnm").write_bytes(f"P5 {image.shape[1]} {image.shape[0]} 65535\n".encode() + gray)
    deep = {"rgb16.tif": "16-bit TIFF", "gray16.tif": "16-bit TIFF", "rgb16.ppm": "16-bit PPM",
            "rgb10.ppm": "10-bit PPM", "gray16.pnm": "16-bit PPM"}
    assert Image.open(folder / "rgb16.tif").mode == "RGB"  # what Pillow would silently reduce to 8 bits

    db = tmp_path / "rd.sqlite"
    result = rdbench("run", "--codec", "jpeg", "--quality", "50", "--dataset", folder, "--db", db, "-q")
    assert result.returncode == 0, result.stderr  # the good image is measured, as with a 16-bit PNG
    with Store(db, readonly=True) as store:
        records = {r.image: r for r in store.records()}
    assert records["a_good.png"].status == "ok"
    for name, words in deep.items():
        record = records[name]
        assert record.status == "failed" and record.bpp is None, name
        assert words in record.error and "rdbench measures 8-bit RGB" in record.error, (name, record.error)
        assert "\n" not in record.error


def _outcome(result) -> tuple[int, str]:
    """(exit status, what the user reads) of an in-process command: an error it raised is what ``rdbench``
    prints (``error: message``, the hint) and exits with (the error's ``exit_code``)."""
    error = result.exception
    if isinstance(error, RdbenchError):
        return error.exit_code, f"error: {error}\n{error.hint or ''}"
    assert error is None, repr(error)
    return result.returncode, result.stdout + result.stderr


def _stored_names(db: Path) -> set[str]:
    with Store(db, readonly=True) as store:
        return {r.dataset for r in store.records()}


@pytest.fixture()
def two_crops_folders(tmp_path: Path) -> tuple[Path, Path, Path, str]:
    """``a/crops`` measured (jpeg, webp) into a database, and ``b/crops`` (other crops, not measured):
    two folders of one name. Returns (a/crops, b/crops, db, the stored name of a/crops)."""
    first = kodak_crops(tmp_path / "a" / "crops", 2, (0, 0, 64, 64))
    second = kodak_crops(tmp_path / "b" / "crops", 2, (64, 64, 128, 128))
    db = tmp_path / "rd.sqlite"
    rdbench("run", "--codec", "jpeg,webp", "--quality", "20,40,60,80", "--dataset", first, "--db", db, "-q",
            in_process=True, check=True)
    (stored,) = _stored_names(db)
    return first, second, db, stored


def test_every_command_reads_a_dataset_name_by_one_rule(two_crops_folders, monkeypatch: pytest.MonkeyPatch) -> None:
    first, second, db, stored = two_crops_folders
    bdrate = ("bdrate", "--anchor", "jpeg", "--codec", "webp", "--db", db, "--format", "json")
    (second.parent.parent / "curve.json").write_text('{"bpp": [0.4, 0.8], "psnr": [27.0, 30.0]}')
    # Beside a folder `crops` other than the measured one, the bare name is ambiguous for every command.
    monkeypatch.chdir(second.parent)
    for args in (("results", "--db", db), bdrate, ("export", "--codec", "webp", "--db", db),
                 ("plot", "--anchor", "jpeg", "--codec", "webp", "--db", db, "--out", second.parent / "figs"),
                 ("run", "--codec", "jpeg", "--quality", "50", "--db", db),
                 ("report", "--anchor", "jpeg", "--db", db, "--out", second.parent / "report.html"),
                 ("complexity", "--codec", "jpeg", "--sizes", "64", "--db", db),
                 ("import", second.parent.parent / "curve.json", "--db", db)):
        status, said = _outcome(rdbench(*args, "--dataset", "crops", in_process=True))
        assert status == 2, (args[0], said)
        assert "ambiguous" in said and stored in said and "./crops" in said, (args[0], said)
    assert _stored_names(db) == {stored}  # the refused run stored nothing
    # `./crops` is the folder here for every command: no records (results refuses, bdrate exits 1) ...
    status, said = _outcome(rdbench("results", "--db", db, "--dataset", "./crops", in_process=True))
    assert status == 2 and "has no records" in said
    status, said = _outcome(rdbench(*bdrate, "--dataset", "./crops", in_process=True))
    assert status == 1 and "every cell is NaN" in said
    # ... and the stored name, or the folder's path, is the measured folder for every command.
    for spec in (stored, str(first)):
        listed = rdbench("results", "--db", db, "--dataset", spec, "--format", "json", in_process=True, check=True)
        assert stored in listed.stdout
        table = rdbench(*bdrate, "--dataset", spec, in_process=True, check=True)
        assert '"bd_rate": null' not in table.stdout
    # Away from any folder of that name, the bare name is the one stored folder dataset called `crops`.
    monkeypatch.chdir(first.parent.parent)
    assert rdbench("results", "--db", db, "--dataset", "crops", in_process=True, check=True).returncode == 0
    rdbench(*bdrate, "--dataset", "crops", in_process=True, check=True)


def test_an_all_nan_bd_table_exits_1(two_crops_folders) -> None:
    first, second, db, _ = two_crops_folders
    rdbench("run", "--codec", "webp", "--quality", "20,40,60,80", "--dataset", second, "--db", db, "-q",
            in_process=True, check=True)
    # the anchor is measured on the first folder only: nothing can be compared on the second
    for fmt in ("table", "json", "csv"):
        result = rdbench("bdrate", "--anchor", "jpeg", "--codec", "webp", "--dataset", second, "--db", db,
                         "--format", fmt, in_process=True)
        assert result.returncode == 1, (fmt, result.stdout, result.stderr)
        assert "every cell is NaN" in result.stderr and "anchor jpeg has no psnr curve" in result.stdout + result.stderr
    both = rdbench("bdrate", "--anchor", "jpeg", "--codec", "webp", "--dataset", f"{first},{second}", "--db", db,
                   in_process=True)
    assert both.returncode == 0, both.stderr  # one value is a result; its NaN neighbour has its footnote


def test_import_dataset_folder_stores_under_the_name_run_gives_it(two_crops_folders, tmp_path: Path) -> None:
    first, _, db, stored = two_crops_folders
    curve = tmp_path / "curve.json"
    curve.write_text('{"bpp": [0.4, 0.8, 1.2, 1.6], "psnr": [27.0, 30.0, 32.0, 33.5]}')
    result = rdbench("import", curve, "--name", "paper", "--dataset", first, "--db", db, in_process=True, check=True)
    assert f"on {stored}" in result.stdout
    with Store(db, readonly=True) as store:
        assert store.imported_curve_names() == {"paper": [stored]}
    table = rdbench("bdrate", "--anchor", "jpeg", "--codec", "paper,webp", "--dataset", first, "--db", db,
                    "--format", "json", in_process=True, check=True)
    assert '"bd_rate": null' not in table.stdout  # compared with the folder's measured curves


@pytest.fixture()
def data_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A data root and a manifest folder of the test's own (as tests/test_datasets.py isolates them)."""
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    monkeypatch.setenv("RDBENCH_DATASETS_PATH", str(manifests))
    monkeypatch.setenv("RDBENCH_DATA", str(tmp_path / "data"))
    return manifests


def _alter_one_pixel(path: Path) -> None:
    """Change one pixel and save: still a valid image, but another one."""
    pixels = np.asarray(Image.open(path).convert("RGB")).copy()
    pixels[0, 0] = 255 - pixels[0, 0]
    Image.fromarray(pixels).save(path)


def _count(db: Path) -> int:
    if not db.exists():
        return 0
    with Store(db, readonly=True) as store:
        return store.count()


def _refused_run(name: str, changed: Path, expected: str, db: Path) -> None:
    """`rdbench run` on dataset ``name`` is refused naming ``changed``, its expected and actual hash; nothing stored."""
    from rdbench.data.images import file_sha256

    before = _count(db)
    status, said = _outcome(rdbench("run", "--codec", "jpeg", "--quality", "60", "--dataset", name, "--db", db, "-q",
                                    in_process=True))
    assert status == 2, said
    assert changed.name in said and expected in said and file_sha256(changed) in said, said
    assert "restore it" in said and "folder dataset" in said and "nothing was measured" in said
    assert _count(db) == before
    # `datasets verify` applies the same check and finds the same file, with the same two hashes
    verify = rdbench("datasets", "verify", name, "-q", in_process=True)
    assert verify.returncode == 1
    assert f"{changed.name}: SHA-256 {file_sha256(changed)} differs from the expected {expected}" in verify.stderr


@pytest.mark.slow
def test_a_run_on_a_registered_dataset_refuses_a_changed_image(kodak_dir: Path, data_env: Path, tmp_path: Path) -> None:
    import shutil

    from rdbench.data.datasets import get_manifest

    copy = tmp_path / "kodak-copy"
    shutil.copytree(kodak_dir, copy)
    rdbench("datasets", "add", "kodak", copy, "-q", in_process=True, check=True)
    db = tmp_path / "rd.sqlite"
    rdbench("run", "--codec", "jpeg", "--quality", "50", "--dataset", "kodak", "--db", db, "-q",
            in_process=True, check=True)
    published = get_manifest("kodak").checksums
    with Store(db, readonly=True) as store:
        assert {r.image: r.image_hash for r in store.records()} == published  # the hashes the check used
    _alter_one_pixel(copy / "kodim05.png")
    _refused_run("kodak", copy / "kodim05.png", published["kodim05.png"], db)


def test_hashes_first_seen_at_add_or_download_are_the_reference(data_env: Path, tmp_path: Path) -> None:
    """Manifests without per-image hashes (Tecnick's and CLIC's archives, a lab's list): `datasets add` and
    `datasets download` record the hashes of what they installed, and a run checks against those."""
    import threading
    import zipfile
    from functools import partial
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    from rdbench.data.images import file_sha256

    # added from a local folder, with a manifest that lists file names but no hash
    lab = kodak_crops(tmp_path / "lab", 2, (0, 0, 48, 48))
    names = sorted(p.name for p in lab.iterdir())
    (data_env / "lab.toml").write_text('name = "lab"\ncount = 2\n' + "".join(f'[[files]]\nname = "{n}"\n' for n in names))
    rdbench("datasets", "add", "lab", lab, "-q", in_process=True, check=True)
    first_seen = file_sha256(lab / names[1])
    _alter_one_pixel(lab / names[1])
    _refused_run("lab", lab / names[1], first_seen, tmp_path / "rd.sqlite")

    # downloaded as an archive whose images have no published hash
    served = tmp_path / "served"
    served.mkdir()
    with zipfile.ZipFile(served / "set.zip", "w") as archive:
        for name in names:
            archive.write(lab / name, f"set/{name}")
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(SimpleHTTPRequestHandler, directory=str(served)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        (data_env / "arch.toml").write_text(
            f'name = "arch"\ncount = 2\n[[archives]]\nurl = "http://127.0.0.1:{server.server_address[1]}/set.zip"\n'
            'members = "*.png"\n')
        rdbench("datasets", "download", "arch", "-q", in_process=True, check=True)
    finally:
        server.shutdown()
        server.server_close()
    folder = tmp_path / "data" / "arch"
    rdbench("run", "--codec", "jpeg", "--quality", "60", "--dataset", "arch", "--db", tmp_path / "arch.sqlite", "-q",
            in_process=True, check=True)  # intact: measured
    downloaded = file_sha256(folder / names[0])
    _alter_one_pixel(folder / names[0])
    _refused_run("arch", folder / names[0], downloaded, tmp_path / "arch.sqlite")
