"""`rdbench run --executor dask` against a real distributed.LocalCluster on 127.0.0.1.

Two worker processes, one thread each. The client is a real `rdbench run` subprocess; the
codecs are real (JPEG through imagecodecs), including a user adapter registered by TOML that
SIGKILLs its own worker once mid-run, to prove lost jobs are re-run elsewhere and land exactly
once in the store.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest
from fault_codecs import make_images, write_codec
from helpers import rdbench

distributed = pytest.importorskip("distributed", reason="the 'distributed' package is needed for Dask runs")
#: A real LocalCluster per module and `rdbench run` subprocesses: outside the fast lane.
pytestmark = pytest.mark.slow

TESTS = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> dict[str, str]:
    """Environment for the cluster's workers and the client: the fault codec importable."""
    codecs = tmp_path_factory.mktemp("codecs")
    env = dict(os.environ, OMP_NUM_THREADS="1", RDBENCH_CODECS_PATH=str(codecs),
               PYTHONPATH=os.pathsep.join(p for p in (str(TESTS), os.environ.get("PYTHONPATH")) if p))
    return env


@pytest.fixture(scope="module")
def cluster(env):
    old = dict(os.environ)
    os.environ.update(env)  # the nanny starts workers with this process's environment
    try:
        with distributed.LocalCluster(n_workers=2, processes=True, host="127.0.0.1", threads_per_worker=1,
                                      dashboard_address=None) as local:
            yield local
    finally:
        os.environ.clear()
        os.environ.update(old)


def rows(db: Path) -> list[tuple]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute("SELECT codec, quality, image, status, bpp, psnr FROM records ORDER BY codec, quality, image").fetchall()
    finally:
        conn.close()


def test_jpeg_on_dask_matches_a_local_run(cluster, env, tmp_path: Path) -> None:
    images = make_images(tmp_path / "imgs")
    dask_db, local_db = tmp_path / "dask.sqlite", tmp_path / "local.sqlite"
    common = ["run", "--codec", "jpeg", "--dataset", str(images), "--quality", "30,70", "-q"]
    rdbench(*common, "--db", dask_db, "--executor", "dask", "--scheduler", cluster.scheduler_address,
            env=env, check=True)
    rdbench(*common, "--db", str(local_db), env=env, check=True)
    got = rows(dask_db)
    assert len(got) == 8 and all(r[3] == "ok" for r in got)
    assert got == rows(local_db)  # same bytes, same metrics: the cluster changes nothing measured

    again = rdbench(*common, "--db", dask_db, "--executor", "dask", "--scheduler", cluster.scheduler_address,
                    env=env, check=True)
    assert "nothing to do" in again.stderr and rows(dask_db) == got


def test_worker_killed_mid_run_loses_and_duplicates_nothing(cluster, env, tmp_path: Path) -> None:
    images = make_images(tmp_path / "imgs")
    marker = tmp_path / "killed-once"
    write_codec(Path(env["RDBENCH_CODECS_PATH"]), "killer", qualities=(30, 60, 90), sleep_s=0.2,
                kill_once_marker=str(marker))
    db = tmp_path / "r.sqlite"
    rdbench("run", "--codec", "killer", "--dataset", str(images), "--db", str(db), "-q",
            "--executor", "dask", "--scheduler", cluster.scheduler_address, env=env, check=True)
    assert marker.exists(), "the codec never killed its worker: the test proved nothing"
    got = rows(db)
    keys = [(r[0], r[1], r[2]) for r in got]
    assert len(keys) == 12 and len(set(keys)) == 12  # 3 qualities x 4 images, each exactly once
    assert all(r[3] == "ok" for r in got), got
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()


def test_timeout_is_enforced_on_dask_workers(cluster, env, tmp_path: Path) -> None:
    images = make_images(tmp_path / "imgs", widths=(40, 42))
    write_codec(Path(env["RDBENCH_CODECS_PATH"]), "hangs", hang_width=42)
    db = tmp_path / "r.sqlite"
    result = rdbench("run", "--codec", "hangs", "--dataset", str(images), "--db", str(db), "-q",
                     "--timeout", "3", "--executor", "dask", "--scheduler", cluster.scheduler_address,
                     env=env, check=True)
    assert "w42.png: timed out after 3 s" in result.stderr
    assert [(r[2], r[3]) for r in rows(db)] == [("w40.png", "ok"), ("w42.png", "failed")]


def test_unreachable_scheduler_is_one_clear_error(env, tmp_path: Path) -> None:
    images = make_images(tmp_path / "imgs", widths=(40,))
    result = rdbench("run", "--codec", "jpeg", "--dataset", images, "--db", tmp_path / "r.sqlite",
                     "--executor", "dask", "--scheduler", "tcp://127.0.0.1:9",
                     env=dict(env, DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT="2s"))
    assert result.returncode == 1
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in result.stderr
    assert "Traceback" not in result.stderr


def test_gpu_codecs_ask_for_a_gpu_resource_and_cpu_codecs_do_not(cluster, env, tmp_path: Path) -> None:
    from rdbench.codecs.base import CodecContext
    from rdbench.codecs.registry import resolve_codecs
    from rdbench.data.datasets import resolve_dataset
    from rdbench.errors import UsageError
    from rdbench.run.executors.dask import DaskExecutor, wants_gpu_resource
    from rdbench.run.plan import plan_jobs
    from rdbench.store.sqlite import Store

    images = make_images(tmp_path / "imgs", widths=(40, 41))
    write_codec(Path(env["RDBENCH_CODECS_PATH"]), "gpujpeg", adapter="GpuFlaggedJpeg")
    with Store(tmp_path / "r.sqlite") as store:
        dataset = resolve_dataset(str(images))
        gpu_jobs = plan_jobs(store, resolve_codecs("gpujpeg"), dataset, CodecContext(device="cuda")).jobs
        cpu_jobs = plan_jobs(store, resolve_codecs("gpujpeg,jpeg"), dataset, CodecContext(device="cpu")).jobs
    assert all(map(wants_gpu_resource, gpu_jobs)) and not any(map(wants_gpu_resource, cpu_jobs))

    # The two-worker cluster offers no GPU: refused up front, not left waiting forever.
    with pytest.raises(UsageError, match="no Dask worker offers one"):
        list(DaskExecutor(cluster.scheduler_address).run(gpu_jobs))
    # A cluster whose worker declares GPU=1 runs them (one at a time on that worker).
    with distributed.LocalCluster(n_workers=1, processes=False, threads_per_worker=2,
                                  dashboard_address=None, resources={"GPU": 1}) as gpu_cluster:
        records = list(DaskExecutor(gpu_cluster.scheduler_address).run(gpu_jobs))
    assert sorted((r.image, r.status, r.device) for r in records) == [("w40.png", "ok", "cuda"), ("w41.png", "ok", "cuda")]


def test_rate_matching_on_dask_makes_the_choices_of_a_local_run(cluster, env, tmp_path: Path) -> None:
    """`run --target-bpp` codes each round's points on the cluster: the same choices, statuses and rates as
    the local executor's."""
    images = make_images(tmp_path / "imgs")
    dask_db, local_db = tmp_path / "dask.sqlite", tmp_path / "local.sqlite"
    common = ["run", "--codec", "jpegxl,jpeg", "--dataset", str(images), "--target-bpp", "1.5,3,5", "-q"]
    rdbench(*common, "--db", dask_db, "--executor", "dask", "--scheduler", cluster.scheduler_address,
            env=env, check=True)
    rdbench(*common, "--db", str(local_db), env=env, check=True)

    def choices(db: Path) -> list[tuple]:
        conn = sqlite3.connect(db)
        try:
            return conn.execute("SELECT t.codec, t.image, t.target_bpp, t.status, r.quality, r.bpp, t.tries "
                                "FROM rate_targets t JOIN records r ON r.id = t.record_id "
                                "ORDER BY t.codec, t.image, t.target_bpp").fetchall()
        finally:
            conn.close()

    got = choices(dask_db)
    assert len(got) == 2 * 4 * 3 and {row[3] for row in got} & {"matched", "nearest"}
    assert got == choices(local_db)
