"""Faults during a run: kill -9 and resume, crashing/hanging/out-of-memory codecs, an unwritable store.

Everything is real: `rdbench run` subprocesses, SQLite files, JPEG through imagecodecs. The
misbehaving codec is a user adapter registered by TOML (tests/fault_codecs.py).
"""

from __future__ import annotations

import json
import os
import random
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fault_codecs import make_images, write_codec
from helpers import rdbench, rdbench_argv

TESTS = Path(__file__).resolve().parent
#: Every stored column except those that differ between two honest runs (times, ids, machine facts).
COMPARED = ["codec", "config_hash", "quality", "dataset", "image", "image_hash", "height", "width", "num_bytes",
            "bpp", "mse", "psnr", "ms_ssim", "ms_ssim_db", "status", "error", "codec_library", "codec_version"]


@pytest.fixture()
def env(tmp_path: Path) -> dict[str, str]:
    return dict(os.environ, OMP_NUM_THREADS="1", RDBENCH_CODECS_PATH=str(tmp_path / "codecs"),
                PYTHONPATH=os.pathsep.join(p for p in (str(TESTS), os.environ.get("PYTHONPATH")) if p))


def table(db: Path) -> list[tuple]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(f"SELECT {', '.join(COMPARED)} FROM records ORDER BY codec, quality, image").fetchall()
    finally:
        conn.close()


def count(db: Path) -> int:
    if not db.exists():
        return 0
    conn = sqlite3.connect(db, timeout=30)
    try:
        return conn.execute("SELECT COUNT(*) FROM records").fetchone()[0]
    except sqlite3.OperationalError:  # killed before the schema was committed
        return 0
    finally:
        conn.close()


@pytest.mark.slow
@pytest.mark.parametrize("jobs", ["1", "2"])
def test_sigkill_at_random_points_then_resume_equals_a_clean_run(env, tmp_path: Path, jobs: str) -> None:
    images = make_images(tmp_path / "imgs", widths=(40, 41, 42, 43, 44))
    write_codec(tmp_path / "codecs", "slowjpeg", qualities=(20, 50, 80), sleep_s=0.15)
    args = ["run", "--codec", "slowjpeg,jpeg", "--dataset", str(images), "--quality", "20,50,80", "-q", "--jobs", jobs]
    clean, killed = tmp_path / "clean.sqlite", tmp_path / "killed.sqlite"
    rdbench(*args, "--db", str(clean), env=env, check=True)
    expected = table(clean)
    assert len(expected) == 30 and all(row[COMPARED.index("status")] == "ok" for row in expected)

    rng = random.Random(int(jobs))
    kills = 0
    for _ in range(3):
        before = count(killed)
        proc = subprocess.Popen(rdbench_argv(*args, "--db", str(killed)), env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while count(killed) <= before and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)  # wait for this attempt's first committed record...
        time.sleep(rng.uniform(0.0, 0.8))  # ...then kill it at a random point after that
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait()
    assert kills >= 1, "every attempt finished before it could be killed: the test proved nothing"

    rdbench(*args, "--db", str(killed), env=env, check=True)
    assert table(killed) == expected
    conn = sqlite3.connect(killed)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()


@pytest.mark.slow
def test_failing_hanging_and_out_of_memory_images_are_recorded_and_the_run_goes_on(env, tmp_path: Path) -> None:
    """One image raises, one hangs (killed by --timeout), one exhausts memory, one kills its worker."""
    images = make_images(tmp_path / "imgs", widths=(40, 41, 42, 43, 44, 45))
    write_codec(tmp_path / "codecs", "faulty", fail_width=41, hang_width=42, oom_width=43, torch_oom_width=44)
    write_codec(tmp_path / "codecs", "oomkilled", kill_once_marker=str(tmp_path / "marker"))
    db = tmp_path / "r.sqlite"
    result = rdbench("run", "--codec", "faulty,oomkilled", "--dataset", images, "--db", db,
                     "--timeout", "4", "--jobs", "2", "-q", env=env, check=True)
    conn = sqlite3.connect(db)
    rows = {(c, i): (s, e) for c, i, s, e in conn.execute("SELECT codec, image, status, error FROM records")}
    conn.close()
    assert len(rows) == 12
    assert rows["faulty", "w41.png"] == ("failed", "ValueError: this codec refuses images 41 px wide")
    assert rows["faulty", "w42.png"] == ("failed", "timed out after 4 s (the worker process was killed)")
    assert rows["faulty", "w43.png"][0] == "failed" and rows["faulty", "w43.png"][1].startswith("out of memory: MemoryError")
    assert rows["faulty", "w44.png"][0] == "failed" and rows["faulty", "w44.png"][1].startswith("out of memory: RuntimeError")
    killed = [key for key, (status, _) in rows.items() if key[0] == "oomkilled" and status == "failed"]
    assert len(killed) == 1 and rows[killed[0]][1].startswith("out of memory: the worker process was killed with SIGKILL")
    assert sum(status == "ok" for status, _ in rows.values()) == 12 - 5
    assert "w42.png: timed out after 4 s" in result.stderr

    # results --failed lists exactly those; --retry-failed reruns them (the marker now exists,
    # so the SIGKILLed job succeeds; the deterministic failures fail again, still one row each).
    failed = json.loads(rdbench("results", "--db", db, "--failed", "--format", "json", env=env, check=True).stdout)
    assert sorted((f["codec"], f["image"]) for f in failed) == sorted([("faulty", "w41.png"), ("faulty", "w42.png"),
                                                                      ("faulty", "w43.png"), ("faulty", "w44.png"), killed[0]])
    skipped = rdbench("run", "--codec", "oomkilled", "--dataset", images, "--db", db, "-q", env=env, check=True)
    assert "1 failed one skipped" in skipped.stderr
    rdbench("run", "--codec", "oomkilled", "--dataset", images, "--db", db, "-q", "--retry-failed",
            env=env, check=True)
    failed = json.loads(rdbench("results", "--db", db, "--failed", "--format", "json", env=env, check=True).stdout)
    assert sorted(f["image"] for f in failed) == ["w41.png", "w42.png", "w43.png", "w44.png"]
    assert count(db) == 12


def test_in_process_run_records_a_raising_codec(env, tmp_path: Path) -> None:
    images = make_images(tmp_path / "imgs", widths=(40, 41, 42))
    write_codec(tmp_path / "codecs", "faulty", fail_width=41)
    db = tmp_path / "r.sqlite"
    rdbench("run", "--codec", "faulty", "--dataset", images, "--db", db, "-q", env=env, check=True)
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT image, status FROM records ORDER BY image").fetchall() == [
        ("w40.png", "ok"), ("w41.png", "failed"), ("w42.png", "ok")]
    conn.close()


def _immutable(paths: list[Path], on: bool) -> bool:
    """Make paths unwritable even for root (chattr +i); False where the filesystem refuses."""
    if os.geteuid() != 0:
        for path in paths:
            path.chmod((0o555 if path.is_dir() else 0o444) if on else (0o755 if path.is_dir() else 0o644))
        return True
    if shutil.which("chattr") is None:
        return False
    result = subprocess.run(["chattr", "+i" if on else "-i", *map(str, paths)], capture_output=True)
    return result.returncode == 0


@pytest.mark.slow
@pytest.mark.parametrize("what", ["file", "folder"])
def test_read_only_database_gives_one_clear_error_and_keeps_rows(env, tmp_path: Path, what: str) -> None:
    images = make_images(tmp_path / "imgs", widths=(40, 41))
    folder = tmp_path / "results"
    db = folder / "r.sqlite"
    rdbench("run", "--codec", "jpeg", "--dataset", images, "--quality", "30", "--db", db, "-q", env=env, check=True)
    before = table(db)
    locked = [db] if what == "file" else [db, folder]
    if not _immutable(locked, True):
        pytest.skip("cannot make a file read-only for root here (chattr +i refused)")
    try:
        result = rdbench("run", "--codec", "jpeg", "--dataset", str(images), "--quality", "30,60",
                         "--db", db, "-q", env=env)
        # and reading still works from a read-only place
        listed = rdbench("results", "--db", db, "--format", "json", env=env)
    finally:
        _immutable(locked, False)
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and str(db) in errors[0] and "Traceback" not in result.stderr
    assert "read-only" in errors[0] or "writable" in errors[0]
    assert listed.returncode == 0 and json.loads(listed.stdout)[0]["n"] == 2
    assert table(db) == before


def test_full_disk_gives_one_clear_error_and_keeps_rows(env, tmp_path: Path) -> None:
    """A file-size limit (RLIMIT_FSIZE) makes every write past it fail as on a full disk."""
    images = make_images(tmp_path / "imgs", widths=tuple(range(40, 52)))
    db = tmp_path / "r.sqlite"
    rdbench("run", "--codec", "jpeg", "--dataset", images, "--quality", "30", "--db", db, "-q", env=env, check=True)
    before = table(db)
    limit = db.stat().st_size + 4096

    def full_disk() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    result = rdbench("run", "--codec", "jpeg", "--dataset", str(images), "--quality", "40,50,60,70,80,90",
                     "--db", db, "-q", preexec_fn=full_disk, env=env)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr[-2000:]
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()
    stored = table(db)
    assert set(before) <= set(stored) and len(stored) < 12 * 7


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses /proc and PR_SET_PDEATHSIG")
def test_a_worker_stuck_in_a_hung_codec_dies_with_a_killed_run(env, tmp_path: Path) -> None:
    images = make_images(tmp_path / "imgs", widths=(42,))
    write_codec(tmp_path / "codecs", "hangs", hang_width=42)
    proc = subprocess.Popen(rdbench_argv("run", "--codec", "hangs", "--dataset", images, "--db", tmp_path / "r.sqlite",
                                         "--timeout", "600", "-q"),
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not (workers := _children(proc.pid)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert workers, "no worker process was started"
    time.sleep(1.0)
    proc.kill()
    proc.wait()
    deadline = time.monotonic() + 10
    while any(map(_alive, workers)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(map(_alive, workers))


def _alive(pid: int) -> bool:
    """Running, i.e. neither gone nor a zombie waiting for a reaper."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_cuda_out_of_memory_is_recorded_and_the_next_image_runs(env, tmp_path: Path) -> None:
    torch = pytest.importorskip("torch", reason="torch is needed for the CUDA check")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device on this machine: the CUDA out-of-memory path is checked where one exists")
    images = make_images(tmp_path / "imgs", widths=(40, 44, 45))
    write_codec(tmp_path / "codecs", "faulty", torch_oom_width=44)
    db = tmp_path / "r.sqlite"
    rdbench("run", "--codec", "faulty", "--dataset", images, "--db", db, "--device", "cuda", "-q",
            env=env, check=True)
    conn = sqlite3.connect(db)
    rows = dict(((i, (s, e)) for i, s, e in conn.execute("SELECT image, status, error FROM records")))
    conn.close()
    assert rows["w44.png"][0] == "failed" and rows["w44.png"][1].startswith("out of memory: OutOfMemoryError")
    assert rows["w40.png"][0] == rows["w45.png"][0] == "ok"
