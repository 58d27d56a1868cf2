"""The code that made a record is part of its identity (issue 27, items 1 and 2).

A plug-in codec (a module on PYTHONPATH, registered by a TOML in RDBENCH_CODECS_PATH) is run,
its code changed, and run again: the second run measures again instead of reusing, both versions'
records stay, no mean mixes them, and the curve uses the current code and says the other exists.
Every check reads the real database with sqlite3 and recomputes the means itself.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from helpers import kodak_crops, rdbench

from rdbench.codecs.code_identity import code_identity, short_code, source_hash

ADAPTER = '''
"""A lab's toy codec: drops the low bits of every pixel (quality = bits dropped)."""
import zlib

import numpy as np

from rdbench.codecs.base import Codec, QualityDomain


class Quant(Codec):
    quality_domain = QualityDomain("int", 1, 4, meaning="low bits dropped")

    def encode(self, image, quality):
        h, w, _ = image.shape
        return h.to_bytes(2, "big") + w.to_bytes(2, "big") + zlib.compress((image >> int(quality)).tobytes())

    def decode(self, data, quality):
        h, w = int.from_bytes(data[:2], "big"), int.from_bytes(data[2:4], "big")
        q = np.frombuffer(zlib.decompress(data[4:]), np.uint8).reshape(h, w, 3).astype(np.int32)
        return np.clip((q << int(quality)) + OFFSET, 0, 255).astype(np.uint8)

    def library(self):
        return ("labquant", "1.0")


OFFSET = 0
'''


def _setup(root: Path) -> dict[str, str]:
    (root / "code").mkdir()
    (root / "code" / "labquant.py").write_text(ADAPTER)
    (root / "codecs").mkdir()
    (root / "codecs" / "lab.toml").write_text('adapter = "labquant:Quant"\nqualities = [1, 2, 3]\n')
    env = dict(os.environ)
    env["RDBENCH_CODECS_PATH"] = str(root / "codecs")
    env["PYTHONPATH"] = os.pathsep.join([str(root / "code"), *filter(None, [env.get("PYTHONPATH")])])
    return env


def _rows(db: Path, sql: str, params: tuple = ()) -> list[tuple]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def _curve(db: Path, name: str, dataset: str, env: dict[str, str]) -> dict:
    """The curve rdbench draws for ``name``, computed in a fresh process (which imports the current code)."""
    script = textwrap.dedent(f"""
        import json, rdbench
        with rdbench.Store({str(db)!r}, readonly=True) as store:
            s = rdbench.select_measured(store, {name!r}, {dataset!r})
            print(json.dumps({{"points": s.points("psnr"), "notes": s.notes, "images": s.image_set(None).images,
                               "codes": sorted({{r.code for r in s.records}})}}))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _means(db: Path, code: str) -> list[tuple[float, float]]:
    rows = _rows(db, "SELECT quality, AVG(bpp), AVG(psnr) FROM records WHERE codec = 'lab' AND code = ? "
                     "AND status = 'ok' GROUP BY quality ORDER BY CAST(quality AS REAL)", (code,))
    return [v for _, bpp, psnr in rows for v in (bpp, psnr)]


@pytest.mark.slow
def test_a_changed_plugin_is_measured_again_and_both_versions_are_kept(tmp_path: Path) -> None:
    env = _setup(tmp_path)
    crops = kodak_crops(tmp_path / "crops", 2, (0, 0, 96, 96))
    db = tmp_path / "rd.sqlite"
    rdbench("run", "--codec", "lab", "--dataset", crops, "--db", db, env=env, check=True)
    (v1,) = {c for (c,) in _rows(db, "SELECT code FROM records")}
    assert v1.startswith("labquant src:"), v1

    # documentation and comments are not code: the stored records are reused
    module = tmp_path / "code" / "labquant.py"
    module.write_text(module.read_text().replace('"""A lab', '"""Edited docs. A lab') + "# a comment\n")
    again = rdbench("run", "--codec", "lab", "--dataset", crops, "--db", db, env=env, check=True)
    assert "nothing to do" in again.stderr + again.stdout
    assert _rows(db, "SELECT COUNT(*) FROM records")[0][0] == 6

    # a code change (and a new image): measured again, the old records stay beside the new ones
    module.write_text(module.read_text().replace("OFFSET = 0", "OFFSET = 1"))
    kodak_crops(tmp_path / "crops", 3, (0, 0, 96, 96))
    second = rdbench("run", "--codec", "lab", "--dataset", crops, "--db", db, env=env, check=True)
    assert "code changed" in second.stderr, second.stderr
    counts = dict(_rows(db, "SELECT code, COUNT(*) FROM records GROUP BY code"))
    (v2,) = set(counts) - {v1}
    assert counts == {v1: 6, v2: 9}
    old = dict(_rows(db, "SELECT quality || image, psnr FROM records WHERE code = ?", (v1,)))
    new = dict(_rows(db, "SELECT quality || image, psnr FROM records WHERE code = ?", (v2,)))
    assert all(old[k] != new[k] for k in old)  # the two versions really differ

    dataset = _rows(db, "SELECT DISTINCT dataset FROM records")[0][0]
    curve = _curve(db, "lab", dataset, env)
    assert curve["codes"] == [v2] and len(curve["images"]) == 3
    assert [v for p in curve["points"] for v in p] == pytest.approx(_means(db, v2), rel=1e-12)
    assert any("versions of its code" in n and short_code(v1) in n for n in curve["notes"])

    # the old version stays selectable by its code
    old_curve = _curve(db, f"lab@{short_code(v1)}", dataset, env)
    assert old_curve["codes"] == [v1] and len(old_curve["images"]) == 2
    assert [v for p in old_curve["points"] for v in p] == pytest.approx(_means(db, v1), rel=1e-12)

    # results lists the versions apart: no mean mixes them
    listed = json.loads(rdbench("results", "--codec", "lab", "--format", "json", "--db", db, env=env,
                                check=True).stdout)
    assert {(r["code"], r["quality"], r["n"]) for r in listed} == {(c, q, n) for c, n in ((v1, 2), (v2, 3))
                                                                    for q in ("1", "2", "3")}
    table = rdbench("results", "--codec", "lab", "--db", db, env=env, check=True).stdout
    assert short_code(v1) in table and short_code(v2) in table


@pytest.mark.slow
def test_several_codes_and_none_current_is_refused(tmp_path: Path) -> None:
    env = _setup(tmp_path)
    crops = kodak_crops(tmp_path / "crops", 1, (0, 0, 64, 64))
    db = tmp_path / "rd.sqlite"
    module = tmp_path / "code" / "labquant.py"
    for offset in (1, 2):
        module.write_text(ADAPTER.replace("OFFSET = 0", f"OFFSET = {offset}"))
        rdbench("run", "--codec", "lab", "--dataset", crops, "--db", db, env=env, check=True)
    module.write_text(ADAPTER.replace("OFFSET = 0", "OFFSET = 3"))
    dataset = _rows(db, "SELECT DISTINCT dataset FROM records")[0][0]
    refused = rdbench("bdrate", "--anchor", "lab", "--codec", "lab", "--dataset", dataset, "--db", db, env=env)
    assert refused.returncode == 2 and "none is current" in refused.stderr, refused.stderr
    assert "Traceback" not in refused.stderr


def test_identity_ignores_documentation_and_follows_imports(tmp_path: Path) -> None:
    package = tmp_path / "idpkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "helper.py").write_text("def f():\n    return 1\n")
    (package / "codec.py").write_text('"""Doc."""\nfrom .helper import f\n\n\nclass C:\n    x = f()\n')
    sys.path.insert(0, str(tmp_path))
    try:
        import idpkg.codec

        first = source_hash.__wrapped__(("idpkg.codec",))
        (package / "codec.py").write_text('"""Other doc."""\n# note\nfrom .helper import f\n\n\nclass C:\n'
                                          '    """Class doc."""\n    x = f()\n')
        assert source_hash.__wrapped__(("idpkg.codec",)) == first
        (package / "helper.py").write_text("def f():\n    return 2\n")
        assert source_hash.__wrapped__(("idpkg.codec",)) != first
        assert code_identity(idpkg.codec.C).startswith("idpkg src:")
    finally:
        sys.path.remove(str(tmp_path))
        for name in [m for m in sys.modules if m.startswith("idpkg")]:
            del sys.modules[name]


def test_an_adapter_can_declare_its_code_version() -> None:
    from rdbench.codecs.base import Codec

    class Wrapped(Codec):
        code_version = "vtm-wrapper 3"

        def encode(self, image, quality):  # pragma: no cover - never called
            raise NotImplementedError

        def decode(self, data, quality):  # pragma: no cover - never called
            raise NotImplementedError

    assert code_identity(Wrapped) == "declared vtm-wrapper 3"
    assert short_code(code_identity(Wrapped)) == "vtm-wrapper 3"


@pytest.mark.slow
def test_records_stored_before_code_identities_are_adopted_once(tmp_path: Path) -> None:
    """A database of schema 6 (no code column) is upgraded; its records are reused by the next run,
    which says so, and take the current code."""
    from rdbench.store.sqlite import MIGRATIONS

    crops = kodak_crops(tmp_path / "crops", 1, (0, 0, 64, 64))
    db = tmp_path / "rd.sqlite"
    rdbench("run", "--codec", "jpeg", "--dataset", crops, "--quality", "50", "--db", db, check=True)
    conn = sqlite3.connect(db)  # back to schema 6 as an older rdbench wrote it
    rows = conn.execute("SELECT * FROM records").fetchall()
    columns = [d[0] for d in conn.execute("SELECT * FROM records").description]
    conn.executescript("DROP TABLE rate_targets; DROP TABLE metric_values; DROP TABLE records; DROP TABLE codec_configs; "
                       "DROP TABLE complexity; DROP TABLE imported_curves; DROP TABLE current_images;")
    conn.execute("PRAGMA user_version = 0")
    for step in MIGRATIONS[:6]:
        conn.executescript(step)
    conn.execute("PRAGMA user_version = 6")
    kept = [c for c in columns if c != "code"]
    conn.executemany(f"INSERT INTO records ({', '.join(kept)}) VALUES ({', '.join('?' * len(kept))})",
                     [tuple(v for c, v in zip(columns, row) if c != "code") for row in rows])
    conn.commit()
    conn.close()
    again = rdbench("run", "--codec", "jpeg", "--dataset", crops, "--quality", "50", "--db", db, check=True)
    assert "predate code identities" in again.stderr
    assert "nothing to do" in again.stderr + again.stdout
    (code,) = {c for (c,) in _rows(db, "SELECT code FROM records")}
    assert code.startswith("rdbench src:")
