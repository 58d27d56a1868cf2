"""Timing provenance (issue 27, item 6): each record stores the conditions its times were measured
under; means never silently mix them; ``--retime`` re-measures times keeping quality figures;
``--jobs 1`` and ``--jobs 2`` give identical quality figures at one thread count.

Real codecs (JPEG, and a CompressAI hyperprior with seeded random weights) on real Kodak crops,
real SQLite stores. No timing value is asserted: only where times come from.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from helpers import kodak_crops, rdbench

from rdbench.analysis.aggregate import aggregate
from rdbench.run.execute import retimed
from rdbench.store.record import Record
from rdbench.store.sqlite import Store

LEARNED = "bmshj2018-hyperprior-random"
QUALITY_FIELDS = ("num_bytes", "bpp", "mse", "psnr", "ms_ssim", "ms_ssim_db")
TIMING_FIELDS = {"run_id", "torch_threads", "blas_threads", "metric_threads", "jobs", "executor", "processes",
                 "load_at_start", "machine", "cpus", "peak_memory"}


def _records(db: Path) -> dict[tuple, Record]:
    with Store(db, readonly=True) as store:
        return {r.key: r for r in store.find_records()}


def _run(db: Path, images: Path, *args: object) -> str:
    """``rdbench run`` (JPEG q20 and q60 unless ``args`` name codecs); returns its stderr."""
    if "--codec" not in args:
        args = ("--codec", "jpeg", *(() if "--quality" in args else ("--quality", "20,60")), *args)
    return rdbench("run", "--dataset", images, "--db", db, "-q", *args, in_process=True, check=True).stderr


@pytest.mark.slow
def test_each_record_stores_its_timing_conditions(tmp_path):
    images = kodak_crops(tmp_path / "crops", 2, (0, 0, 176, 176))
    db = tmp_path / "r.sqlite"
    _run(db, images, "--keep-bitstreams", tmp_path / "bits")
    _run(db, images, "--codec", LEARNED, "--jobs", "2", "--threads", "1")
    records = list(_records(db).values())
    assert len(records) == 6 and all(r.ok for r in records)
    for record in records:
        timing = record.extra["timing"]
        assert TIMING_FIELDS <= set(timing)
        assert timing["executor"] == "local" and timing["peak_memory"] is True and timing["cpus"] >= 1
        assert timing["load_at_start"] is None or timing["load_at_start"] >= 0
    jpeg = [r for r in records if r.codec == "jpeg"]
    learned = [r for r in records if r.codec == LEARNED]
    assert {r.extra["timing"]["processes"] for r in jpeg} == {"in-process"}
    assert {r.extra["timing"]["jobs"] for r in jpeg} == {1}
    assert {r.extra["timing"]["torch_threads"] for r in jpeg} == {None}  # JPEG does not use torch
    assert {r.extra["timing"]["processes"] for r in learned} == {"workers"}
    assert {(r.extra["timing"]["jobs"], r.extra["timing"]["torch_threads"], r.extra["timing"]["metric_threads"])
            for r in learned} == {(2, 1, 1)}
    assert len({r.extra["timing"]["run_id"] for r in records}) == 2  # one per invocation
    for record in jpeg:  # what --retime checks against is the bitstream's own SHA-256
        data = Path(record.extra["bitstream"]).read_bytes()
        assert record.extra["bitstream_sha256"] == hashlib.sha256(data).hexdigest()


@pytest.mark.slow
def test_jobs_1_and_jobs_2_give_identical_quality_figures(tmp_path):
    images = kodak_crops(tmp_path / "crops", 3, (0, 0, 176, 176))
    runs = {}
    for jobs in ("1", "2"):
        db = tmp_path / f"jobs{jobs}.sqlite"
        _run(db, images, "--quality", "1,50", "--jobs", jobs, "--threads", "1")
        _run(db, images, "--codec", LEARNED, "--jobs", jobs, "--threads", "1")
        runs[jobs] = _records(db)
    assert runs["1"].keys() == runs["2"].keys() and len(runs["1"]) == 3 * 3  # JPEG q1, q50; learned q1
    for key, one in runs["1"].items():
        two = runs["2"][key]
        assert one.ok and two.ok
        assert [getattr(one, f) for f in QUALITY_FIELDS] == [getattr(two, f) for f in QUALITY_FIELDS], key
        assert one.ms_ssim is not None
        assert one.extra["bitstream_sha256"] == two.extra["bitstream_sha256"]
        assert (one.extra["timing"]["jobs"], two.extra["timing"]["jobs"]) == (1, 2)
        assert one.extra["timing"]["metric_threads"] == two.extra["timing"]["metric_threads"] == 1


def test_a_mean_over_mixed_conditions_says_so_and_retime_makes_them_one(tmp_path):
    images = kodak_crops(tmp_path / "crops", 2, (0, 0, 96, 96))
    db = tmp_path / "r.sqlite"
    _run(db, images)
    kodak_crops(images, 3, (0, 0, 96, 96))  # a third image, measured later under other conditions
    summary = rdbench("run", "--codec", "jpeg", "--quality", "20,60", "--dataset", images, "--db", db, "--jobs", "2",
                      "--threads", "1", in_process=True, check=True)
    assert "timings mix conditions in 2 row(s)" in summary.stderr and "n_timed" in summary.stdout
    records = list(_records(db).values())
    rows = aggregate(records)
    assert {(r["quality"], r["n"], r["n_timed"], r["timing_sets"]) for r in rows} == {("20", 3, 2, 2), ("60", 3, 2, 2)}
    for row in rows:  # the times are the means of the larger set: the first run's two images
        first = [r for r in records if r.quality == row["quality"] and r.extra["timing"]["jobs"] == 1]
        assert row["encode_s"] == sum(r.encode_s for r in first) / 2
        assert row["decode_s"] == sum(r.decode_s for r in first) / 2
    listed = rdbench("results", "--db", db, in_process=True, check=True)
    assert "timings mix conditions in 2 row(s)" in listed.stderr and "n_timed" in listed.stdout

    retimed_run = _run(db, images, "--retime", "--jobs", "2", "--threads", "1")
    assert "re-timed 6 records" in retimed_run
    rows = aggregate(_records(db).values())
    assert {(r["n_timed"], r["timing_sets"]) for r in rows} == {(3, 1)}
    listed = rdbench("results", "--db", db, in_process=True, check=True)
    assert "timings mix" not in listed.stderr and "n_timed" not in listed.stdout


@pytest.mark.slow
def test_retime_keeps_quality_figures_and_replaces_times(tmp_path):
    images = kodak_crops(tmp_path / "crops", 2, (0, 0, 176, 176))
    db = tmp_path / "r.sqlite"
    _run(db, images)
    _run(db, images, "--codec", LEARNED)
    before = _records(db)
    stderr = _run(db, images, "--retime", "--jobs", "2")
    assert "re-timing 4 stored records" in stderr and "re-timed 4 records" in stderr
    stderr = _run(db, images, "--codec", LEARNED, "--retime", "--jobs", "2")
    assert "re-timed 2 records" in stderr
    after = _records(db)
    assert after.keys() == before.keys()
    for key, old in before.items():
        new = after[key]
        assert [getattr(new, f) for f in QUALITY_FIELDS] == [getattr(old, f) for f in QUALITY_FIELDS], key
        assert new.encode_s is not None and new.decode_s is not None
        assert new.extra["timing"]["run_id"] != old.extra["timing"]["run_id"]
        assert new.extra["timing"]["jobs"] == 2 and "retimed_at" in new.extra["timing"]
        assert new.extra["quality_timing"] == old.extra["timing"]  # what the quality figures were measured under
        assert new.created_at == old.created_at and new.extra["bitstream_sha256"] == old.extra["bitstream_sha256"]


def test_retime_refuses_a_record_whose_bitstream_changed(tmp_path):
    images = kodak_crops(tmp_path / "crops", 2, (0, 0, 96, 96))
    db = tmp_path / "r.sqlite"
    _run(db, images, "--quality", "20")
    stored = _records(db)
    changed, old = sorted(stored.values(), key=lambda r: r.image)
    changed.extra["bitstream_sha256"] = "0" * 64  # as if the codec had coded other bytes of that length
    old.extra.pop("bitstream_sha256")  # as stored before rdbench kept the hash: checked by length only
    with Store(db) as store:
        store.put(changed)
        store.put(old)
    stderr = _run(db, images, "--quality", "20", "--retime")
    assert "re-timed 1 record; 1 left as stored" in stderr
    assert f"not re-timed: jpeg q=20 {changed.image}: the re-encode gave other bytes" in stderr
    after = _records(db)
    assert after[changed.key] == changed  # untouched, times included
    assert after[old.key].extra["timing"]["bitstream_checked"].startswith("by length only")
    assert after[old.key].psnr == old.psnr


def test_retime_with_force_is_a_usage_error_and_stores_nothing(tmp_path):
    images = kodak_crops(tmp_path / "crops", 1, (0, 0, 96, 96))
    db = tmp_path / "r.sqlite"
    ran = rdbench("run", "--codec", "jpeg", "--dataset", images, "--db", db, "--retime", "--force")
    assert ran.returncode == 2 and "choose one" in ran.stderr and not db.exists()


def test_a_retime_whose_quality_differs_keeps_the_stored_figures_and_notes_it():
    """Same bytes, another reconstruction (a learned codec decoding with another thread count):
    the stored PSNR stays, the difference is noted."""
    stored = Record(codec="c", config_hash="h", quality="1", dataset="d", image="i", image_hash="x", num_bytes=10,
                    bpp=1.0, mse=2.0, psnr=45.0, ms_ssim=0.99, encode_s=1.0, decode_s=1.0,
                    extra={"bitstream_sha256": "a", "timing": {"run_id": "old"}})
    fresh = Record(codec="c", config_hash="h", quality="1", dataset="d", image="i", image_hash="x", num_bytes=10,
                   bpp=1.0, mse=2.0001, psnr=45.0003, ms_ssim=0.99, encode_s=0.5, decode_s=0.25,
                   created_at="now", extra={"bitstream_sha256": "a", "timing": {"run_id": "new"}})
    record, reason = retimed(stored, fresh)
    assert reason is None and record is not None
    assert (record.psnr, record.mse, record.encode_s, record.decode_s) == (45.0, 2.0, 0.5, 0.25)
    assert set(record.extra["timing"]["quality_differs"]) == {"psnr"}
    assert record.extra["quality_timing"] == {"run_id": "old"} and stored.encode_s == 1.0
    failed = Record(codec="c", config_hash="h", quality="1", dataset="d", image="i", image_hash="x",
                    status="failed", error="boom")
    assert retimed(stored, failed) == (None, "re-measuring failed: boom")
