"""The library entry points: ``rdbench.benchmark`` does what ``rdbench run`` does and returns the
records, ``rdbench.complexity`` what ``rdbench complexity`` does; the commands wrap them.

Real JPEG on real Kodak crops, real SQLite stores: the rows the library returns are the rows the
command stores in another database, a second call resumes, bad input stores nothing.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pandas as pd
import pytest
from helpers import kodak_crops, rdbench

import rdbench as lib
from rdbench.errors import RdbenchError, UsageError

#: what identifies a record, and the measured figures that must agree between the two runs
KEY = ["codec", "config_hash", "quality", "dataset", "image", "image_hash", "weights", "device", "code"]
FIGURES = ["height", "width", "num_bytes", "bpp", "mse", "psnr", "ms_ssim", "ms_ssim_db", "status"]


@pytest.fixture()
def crops(tmp_path: Path) -> Path:
    return kodak_crops(tmp_path / "crops", 2)


def _stored_rows(db: Path) -> pd.DataFrame:
    with sqlite3.connect(db) as conn:
        return pd.read_sql_query(f"SELECT {', '.join(KEY + FIGURES)} FROM records", conn)


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame[KEY + FIGURES].copy()
    frame["quality"] = frame["quality"].astype(str)
    return frame.sort_values(["quality", "image"]).reset_index(drop=True)


def test_benchmark_returns_what_run_stores_and_resumes(crops: Path, tmp_path: Path) -> None:
    said: list[str] = []
    seen = []
    frame = lib.benchmark("jpeg", crops, [30, 70], db=tmp_path / "lib.sqlite", say=said.append, on_record=seen.append)
    assert isinstance(frame, pd.DataFrame) and len(frame) == 4 and len(seen) == 4
    assert list(frame.columns) == list(lib.load_records(tmp_path / "lib.sqlite").columns)
    assert any("the 2 images in the folder" in line for line in said)  # what `rdbench run` says on stderr

    rdbench("run", "--codec", "jpeg", "--dataset", crops, "--quality", "30,70", "--db", tmp_path / "cli.sqlite",
            "-q", in_process=True, check=True)
    cli = _stored_rows(tmp_path / "cli.sqlite")
    pd.testing.assert_frame_equal(_sorted(frame), _sorted(cli), check_dtype=False)

    said.clear()
    again = lib.benchmark("jpeg", crops, {"jpeg": ["30", "70"]}, db=tmp_path / "lib.sqlite", say=said.append,
                          on_record=seen.append)
    assert len(seen) == 4, "a second call measures nothing"
    assert "resuming: 4 records already stored" in said
    assert "nothing to do: every job is already stored (--force recomputes)" in said
    pd.testing.assert_frame_equal(again, frame)
    with sqlite3.connect(tmp_path / "lib.sqlite") as conn:
        assert conn.execute("SELECT COUNT(*) FROM records").fetchone() == (4,)

    # a narrower selection returns only its own records, though the store holds more
    only = lib.benchmark("jpeg", crops, [70], db=tmp_path / "lib.sqlite", say=said.append)
    assert sorted(only["quality"].unique()) == [70] and len(only) == 2


@pytest.mark.parametrize(("call", "message"), [
    ({"qualities": [0]}, "jpeg: quality 0 is out of range"),
    ({"qualities": {"webp": [50]}}, "--quality webp=...: webp is not among the codecs"),
    ({"jobs": 0}, "--jobs 0"),
    ({"timeout_s": float("nan")}, "--timeout nan"),
    ({"retime": True, "force": True}, "choose one"),
    ({"device": "gpu"}, "unknown --device 'gpu'"),
    ({"executor": "dask"}, "--executor dask needs --scheduler"),
    ({"checkpoint": "no-such-file.pth"}, "--checkpoint no-such-file.pth: no such file"),
])
def test_bad_input_raises_usage_error_and_stores_nothing(crops: Path, tmp_path: Path, call: dict,
                                                         message: str) -> None:
    db = tmp_path / "r.sqlite"
    with pytest.raises(UsageError, match=message.replace(".", r"\.").replace("(", r"\(")):
        lib.benchmark("jpeg", crops, db=db, say=lambda line: None, **call)
    assert not db.exists()


def test_bad_codec_or_dataset_raises_and_stores_nothing(crops: Path, tmp_path: Path) -> None:
    db = tmp_path / "r.sqlite"
    with pytest.raises(UsageError, match="jpgg"):
        lib.benchmark("jpgg", crops, db=db)
    with pytest.raises(UsageError, match="no such folder"):
        lib.benchmark("jpeg", tmp_path / "absent" / "folder", db=db)
    assert not db.exists()


def test_complexity_returns_the_points_and_the_command_prints_them(tmp_path: Path) -> None:
    said: list[str] = []
    points = lib.complexity("jpeg", [32, (48, 32)], repeat=1, in_process=True, db=tmp_path / "c.sqlite",
                            say=said.append)
    assert list(points["codec"]) == ["jpeg", "jpeg"]
    assert list(zip(points["width"], points["height"])) == [(32, 32), (48, 32)]  # in pixel order
    assert (points["status"] == "ok").all() and (points["encode_s"] > 0).all()
    assert said[0].startswith("jpeg 32x32: encode ")
    with lib.Store(tmp_path / "c.sqlite", readonly=True) as store:
        assert len(store.complexity_points(["jpeg"])) == 2
    result = rdbench("complexity", "--codec", "jpeg", "--sizes", "32", "--repeat", "1", "--in-process", "--no-store",
                     "--format", "json", in_process=True, check=True)
    assert '"codec": "jpeg"' in result.stdout and "jpeg 32x32: encode " in result.stderr
    with pytest.raises(UsageError, match="sides under 16 px"):
        lib.complexity("jpeg", [8], store=False)
    with pytest.raises(UsageError, match="--flops-only needs a learned codec"):
        lib.complexity("jpeg", [32], flops_only=True, store=False, say=lambda line: None)


def test_run_and_complexity_share_the_codec_selection(tmp_path: Path) -> None:
    """The one sequence (resolve, check, skip what cannot run, refuse when nothing can) of both."""
    from rdbench.codecs.base import CodecContext
    from rdbench.run.selection import runnable, select_codecs

    selection = select_codecs("jpeg,webp", {"webp": [40]}, "cpu")
    assert [c.name for c in selection.configs] == ["jpeg", "webp"]
    assert selection.qualities.of("webp") == ["40"] and selection.qualities.of("jpeg") is None
    said: list[str] = []
    kept = runnable(selection, CodecContext(), said.append, refuse=lambda c, a: "not today" if c.name == "jpeg" else None)
    assert [c.name for c in kept.configs] == ["webp"] and said == ["skipping jpeg: not today"]
    with pytest.raises(RdbenchError, match="no codec can run on this machine"):
        runnable(selection, CodecContext(), said.append, refuse=lambda c, a: "no")


def test_public_names() -> None:
    from rdbench.api.benchmark import benchmark
    from rdbench.api.complexity import complexity

    assert lib.benchmark is benchmark and lib.complexity is complexity
    assert {"benchmark", "complexity"} <= set(lib.__all__)
