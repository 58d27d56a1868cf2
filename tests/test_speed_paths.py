"""Nothing in the way of the codec: what is imported where, how jobs reach the workers, cross-device runs.

* Listing and analysing commands import neither torch nor compressai (a classical run neither);
  the zoo's facts are written out, and checked here against the installed compressai.
* A run imports compressai once per worker process, never once per job (with --timeout too);
  the workers of a classical run never import torch.
* A classical codec's jobs come image by image, each image decoded once per process.
* ``--decode-device`` decodes with a model of its own on that device, records the device as
  ``ENCODE-to-DECODE`` and whether the decoder rebuilt the encoder's latent (MLIC family and the
  CompressAI zoo); ``rdbench results --mismatches`` lists the records where it did not. On this
  CPU-only machine the mechanism runs with ``--decode-device cpu``.
* The GPU-side measures (device peak memory, metrics on a device tensor) run here with a fake
  ``torch.cuda`` or on CPU tensors; ``bench/gpu_suite.py`` runs end to end with ``--device cpu``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import textwrap
import types
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import REPO, rdbench

from rdbench.codecs.base import CodecConfig, CodecContext, device_label
from rdbench.run.measure import DevicePeak, check_reconstruction, measure

GAIN = 20.0


def save_images(folder: Path, count: int = 3, size: tuple[int, int] = (48, 64)) -> Path:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    for i in range(count):
        Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8)).save(folder / f"im{i}.png")
    return folder


def modules_after(argv: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> dict:
    """Run ``rdbench ARGV`` in a fresh interpreter, in process, and say which heavy modules it imported."""
    code = textwrap.dedent(f"""
        import json, sys
        from rdbench.cli.main import cli
        try:
            cli.main({argv!r}, standalone_mode=False)
            code = 0
        except SystemExit as exc:
            code = exc.code
        print(json.dumps({{"code": code, "torch": "torch" in sys.modules, "compressai": "compressai" in sys.modules}}))
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=cwd, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


# -- what is imported where ------------------------------------------------------------------------

@pytest.mark.slow
def test_listing_and_analysis_commands_import_neither_torch_nor_compressai(tmp_path):
    from rdbench.store.record import Record
    from rdbench.store.sqlite import Store

    db = tmp_path / "r.sqlite"
    with Store(db) as store:
        store.put(Record(codec="jpeg", config_hash="0" * 16, quality="50", dataset="kodak", image="a.png",
                         image_hash="1" * 64, num_bytes=512, bpp=1.0, mse=65.0, psnr=30.0, ms_ssim=0.9,
                         ms_ssim_db=10.0, encode_s=0.01, decode_s=0.01, height=64, width=64))
    commands = [
        ["codecs"], ["codecs", "--all", "--format", "json"], ["datasets", "list"],
        ["results", "--db", str(db)], ["results", "--db", str(db), "--per-image", "--format", "json"],
        ["bdrate", "--anchor", "vtm18-published", "--codec", "mlicpp-paper", "--dataset", "kodak"],
        ["plot", "--codec", "mlicpp-paper", "--anchor", "vtm18-published", "--dataset", "kodak",
         "--out", str(tmp_path / "plots")],
    ]
    for argv in commands:
        found = modules_after(argv)
        assert found == {"code": 0, "torch": False, "compressai": False}, (argv, found)


def test_a_classical_run_imports_neither_torch_nor_compressai(tmp_path):
    images = save_images(tmp_path / "images", size=(170, 180))
    found = modules_after(["run", "--codec", "jpeg,webp", "--dataset", str(images), "--quality", "50",
                           "--db", str(tmp_path / "r.sqlite"), "-q"])
    assert found == {"code": 0, "torch": False, "compressai": False}


def test_zoo_facts_written_out_are_compressais():
    from compressai.zoo.image import model_urls

    from rdbench.codecs.learned.compressai_zoo import (
        ARCHS,
        METRICS,
        ZOO_FILES,
        weights_url,
        zoo_qualities,
    )

    assert set(ZOO_FILES) == set(model_urls) == set(ARCHS)
    for arch in ARCHS:
        assert set(ZOO_FILES[arch]) == set(model_urls[arch]) == set(METRICS)
        for metric in METRICS:
            assert zoo_qualities(arch, metric) == tuple(sorted(model_urls[arch][metric]))
            for quality, url in model_urls[arch][metric].items():
                assert weights_url(arch, metric, quality) == url


def test_hub_cache_folder_is_torchs_without_importing_torch(monkeypatch, tmp_path):
    from rdbench.codecs.learned.compressai_zoo import hub_cache_dir

    for env in ({"TORCH_HOME": str(tmp_path / "th")}, {"XDG_CACHE_HOME": str(tmp_path / "xdg")}, {}):
        for name in ("TORCH_HOME", "XDG_CACHE_HOME"):
            monkeypatch.delenv(name, raising=False)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        with_torch = hub_cache_dir()
        assert with_torch == Path(torch.hub.get_dir()) / "checkpoints"
        with monkeypatch.context() as hidden:
            hidden.setitem(sys.modules, "torch", None)  # as if torch had never been imported
            assert hub_cache_dir() == with_torch, env


PROBES = '''
import os, sys
from rdbench.codecs.classical import ImagecodecsCodec
from rdbench.codecs.learned.compressai_zoo import CompressAIZooCodec

class ProbeJpeg(ImagecodecsCodec):
    def encode(self, image, quality):
        self.notes.update(pid=os.getpid(), torch="torch" in sys.modules, compressai="compressai" in sys.modules)
        return super().encode(image, quality)

class ProbeZoo(CompressAIZooCodec):
    def encode(self, image, quality):
        self.notes.update(pid=os.getpid())
        return super().encode(image, quality)
'''


@pytest.fixture()
def probes(tmp_path):
    """Two probe codecs (a JPEG and a zoo model that note their process) importable by workers."""
    (tmp_path / "probe_codecs.py").write_text(PROBES)
    configs = tmp_path / "configs"
    configs.mkdir()
    (configs / "probe-jpeg.toml").write_text('adapter = "probe_codecs:ProbeJpeg"\nqualities = [30, 60]\n'
                                             '[params]\nformat = "jpeg8"\n')
    (configs / "probe-zoo.toml").write_text('adapter = "probe_codecs:ProbeZoo"\nqualities = [1]\n'
                                            '[params]\narch = "bmshj2018-factorized"\nmetric = "mse"\n'
                                            f'random_seed = 0\nlatent_gain = {GAIN}\n')
    env = {**os.environ, "RDBENCH_CODECS_PATH": str(configs), "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    return env


def stored(db: Path) -> list[dict]:
    return json.loads(rdbench("results", "--db", db, "--per-image", "--format", "json", check=True).stdout)


@pytest.mark.slow
def test_compressai_is_imported_once_per_worker_never_per_job(tmp_path, probes):
    images = save_images(tmp_path / "images", count=6)
    for extra in ([], ["--timeout", "300"]):
        db = tmp_path / f"zoo{len(extra)}.sqlite"
        found = modules_after(["run", "--codec", "probe-zoo", "--dataset", str(images), "--jobs", "2", "--db", str(db),
                               "-q", *extra], env=probes)
        assert found["code"] == 0 and not found["compressai"] and not found["torch"]  # the parent never
        records = stored(db)
        assert len(records) == 6 and all(r["status"] == "ok" for r in records)
        pids = {r["extra"]["pid"] for r in records}
        assert 1 <= len(pids) <= 2, pids  # the workers, each kept for all its jobs (and its import)
        assert all(r["extra"]["decoder_matches_encoder"] is True for r in records)


@pytest.mark.slow
def test_classical_workers_never_import_torch_and_each_image_is_read_once(tmp_path, probes, monkeypatch):
    images = save_images(tmp_path / "images", count=4)
    db = tmp_path / "jpeg.sqlite"
    found = modules_after(["run", "--codec", "probe-jpeg", "--dataset", str(images), "--jobs", "2", "--db", str(db),
                           "-q"], env=probes)
    assert found == {"code": 0, "torch": False, "compressai": False}
    records = stored(db)
    assert len(records) == 8 and not any(r["extra"]["torch"] or r["extra"]["compressai"] for r in records)
    for name in {r["image"] for r in records}:  # both qualities of an image ran in one worker
        assert len({r["extra"]["pid"] for r in records if r["image"] == name}) == 1


def test_jobs_of_an_image_come_together_and_the_image_is_decoded_once(tmp_path, monkeypatch):
    import rdbench.data.images as images_module
    from rdbench.codecs.registry import resolve_codecs
    from rdbench.data.datasets import resolve_dataset
    from rdbench.run import jobs as jobs_module
    from rdbench.run.plan import plan_jobs
    from rdbench.store.sqlite import Store

    folder = save_images(tmp_path / "images", count=3)
    configs = resolve_codecs("jpeg,bmshj2018-hyperprior-random")
    with Store(tmp_path / "r.sqlite") as store:
        plan = plan_jobs(store, configs, resolve_dataset(str(folder)), CodecContext(), qualities=None)
    jpeg = [j for j in plan.jobs if j.config.name == "jpeg"]
    assert [j.image_name for j in jpeg[:3]] == ["im0.png", "im1.png", "im2.png"]  # planned quality by quality
    ordered = jobs_module.locality_order(plan.jobs)
    jpeg_order = [(j.image_name, j.quality) for j in ordered if j.config.name == "jpeg"]
    assert jpeg_order == [(im, str(q)) for im in ("im0.png", "im1.png", "im2.png") for q in jpeg[0].config.qualities]
    learned = [j for j in ordered if j.config.name != "jpeg"]
    assert learned == [j for j in plan.jobs if j.config.name != "jpeg"]  # a model per quality: order kept
    bundles = jobs_module.job_bundles(plan.jobs)
    assert all(len({j.image_name for j in b}) == 1 for b in bundles)

    loads = []
    real = images_module.load_image
    monkeypatch.setattr(images_module, "load_image", lambda path: loads.append(path) or real(path))
    jobs_module._IMAGES.clear()
    first = jobs_module.job_image(jpeg[0])
    again = jobs_module.job_image(jpeg[0])
    assert again is first and len(loads) == 1 and not first.flags.writeable
    path = Path(jpeg[0].image_path)
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))  # edited in place
    assert jobs_module.job_image(jpeg[0]) is not first and len(loads) == 2
    jobs_module._IMAGES.clear()


# -- cross-device decoding -------------------------------------------------------------------------

def zoo(arch: str = "mbt2018-mean", decode_device: str | None = None, seed: int = 0):
    from rdbench.codecs.learned.compressai_zoo import CompressAIZooCodec

    config = CodecConfig(name=f"{arch}-t", adapter="compressai", qualities=(1,),
                         params={"arch": arch, "metric": "mse", "random_seed": seed, "latent_gain": GAIN})
    return CompressAIZooCodec(config, CodecContext(decode_device=decode_device))


def test_device_labels_and_identity():
    from rdbench.codecs.learned.compressai_zoo import CompressAIZooCodec
    from rdbench.run.environment import gpu_name
    from rdbench.run.executors.dask import wants_gpu_resource
    from rdbench.run.jobs import Job
    from rdbench.run.measure import bitstream_path
    from rdbench.run.plan import job_context

    assert device_label("cuda", "cpu") == "cuda-to-cpu" and device_label("cpu", "cuda:1") == "cpu-to-cuda:1"
    assert device_label("cuda", None) == device_label("cuda", "cuda") == "cuda"
    context = CodecContext(device="cuda", decode_device="cpu")
    assert context.label == "cuda-to-cpu"
    config = CodecConfig(name="m", adapter="compressai", qualities=(1,), params={"arch": "mbt2018-mean"})
    job = Job(config=config, context=context, quality="1", dataset="d", image_name="a.png", image_path="/x/a.png",
              image_hash="ab" * 32, weights="seed:0")
    assert job.key[7] == job.new_record().device == "cuda-to-cpu"
    assert "m-" in str(bitstream_path("/tmp/bits", job.new_record())) and \
        bitstream_path("/tmp/bits", job.new_record()).parent.parent.name.endswith("-cuda-to-cpu")
    assert wants_gpu_resource(dataclasses.replace(job, context=CodecContext(device="cpu", decode_device="cuda")))
    assert not wants_gpu_resource(dataclasses.replace(job, context=CodecContext(device="cpu", decode_device="cpu")))
    from rdbench.codecs.classical import ImagecodecsCodec

    assert job_context(ImagecodecsCodec, context) == CodecContext()  # classical codecs: the CPU, one device
    assert job_context(CompressAIZooCodec, context) is context
    assert gpu_name("cpu") is None
    if not torch.cuda.is_available():
        assert gpu_name("cuda-to-cpu") is None  # no CUDA here: unknown, not an error


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["bmshj2018-factorized", "mbt2018-mean", "mbt2018"])
def test_a_separate_decoder_rebuilds_the_latent_and_a_different_one_is_flagged(arch):
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (64, 80, 3), dtype=np.uint8)
    same = zoo(arch)
    reference = measure(same, image, 1)
    assert reference.notes["decoder_matches_encoder"] is True
    assert same.decoder_model(1) is same.torch_model(1)
    split = zoo(arch, decode_device="cpu")
    result = measure(split, image, 1)
    assert split.decoder_model(1) is not split.torch_model(1)
    encoder_state, decoder_state = split.torch_model(1).state_dict(), split.decoder_model(1).state_dict()
    assert all(torch.equal(encoder_state[k], decoder_state[k]) for k in encoder_state)
    assert result.notes["decoder_matches_encoder"] is True and result.bitstream == reference.bitstream
    assert result.psnr == reference.psnr
    data = split.encode(image, 1)
    with torch.no_grad():  # a decoder that computes other entropy parameters (as another device might)
        decoder = split.decoder_model(1)
        if hasattr(decoder, "h_s"):
            decoder.h_s[-1].bias.add_(0.5)
        else:
            decoder.entropy_bottleneck.quantiles.add_(0.5)
    split.notes = {}
    split.decode(data, 1)
    assert split.notes["decoder_matches_encoder"] is False and split.notes["decoder_max_abs_diff"] > 0


@pytest.mark.slow
def test_mlic_family_decodes_on_its_own_model_too():
    from rdbench.codecs.learned.mlic import MLICCodec

    config = CodecConfig(name="mlic-t", adapter="mlic", qualities=(1,),
                         params={"architecture": "ca357-reading", "N": 32, "M": 64, "slices": 2, "random_seed": 0,
                                 "latent_gain": 4.0})
    image = np.random.default_rng(2).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    same = measure(MLICCodec(config, CodecContext()), image, 1)
    codec = MLICCodec(config, CodecContext(decode_device="cpu"))
    split = measure(codec, image, 1)
    assert codec.decoder_model(1) is not codec.torch_model(1)
    assert split.notes["decoder_matches_encoder"] is True and split.bitstream == same.bitstream
    assert split.psnr == same.psnr


@pytest.mark.slow
def test_decode_device_on_the_command_line(tmp_path):
    images = save_images(tmp_path / "images", count=2)
    db = tmp_path / "r.sqlite"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    ran = rdbench("run", "--codec", "bmshj2018-hyperprior-random", "--dataset", images, "--decode-device", "cpu",
                  "--db", db, "-q", env=env)
    assert ran.returncode == 0, ran.stderr
    records = stored(db)
    assert [r["device"] for r in records] == ["cpu", "cpu"]  # decoded on the encoding device: one identity
    assert all(r["extra"]["decoder_matches_encoder"] is True for r in records)
    refused = rdbench("run", "--codec", "jpeg", "--dataset", images, "--decode-device", "cpu", "--db", db)
    assert refused.returncode == 2 and "--decode-device is for learned codecs" in refused.stderr
    if not torch.cuda.is_available():
        refused = rdbench("run", "--codec", "bmshj2018-hyperprior-random", "--dataset", images,
                          "--decode-device", "cuda", "--db", db)
        assert refused.returncode == 2 and "--decode-device cuda: no CUDA device" in refused.stderr


def test_results_lists_decoder_mismatches(tmp_path):
    from rdbench.store.record import Record
    from rdbench.store.sqlite import Store

    db = tmp_path / "r.sqlite"
    base = dict(codec="mlicpp-random", config_hash="c" * 16, quality="1", dataset="kodak", image_hash="1" * 64,
                weights="seed:0", num_bytes=256, bpp=0.5, mse=65.0, psnr=30.0, height=64, width=64)
    with Store(db) as store:
        store.put(Record(**base, image="a.png", device="cuda-to-cpu",
                         extra={"decoder_matches_encoder": False, "decoder_max_abs_diff": 3.0}))
        store.put(Record(**base, image="b.png", device="cuda-to-cpu", extra={"decoder_matches_encoder": True}))
        store.put(Record(**base, image="c.png", device="cuda"))
    listed = rdbench("results", "--db", db, "--mismatches", "--format", "json", in_process=True)
    rows = json.loads(listed.stdout)
    assert [(r["image"], r["device"], r["decoder_max_abs_diff"]) for r in rows] == [("a.png", "cuda-to-cpu", 3.0)]
    assert "no decoder mismatch" in rdbench("results", "--db", db, "--mismatches", "--device", "cuda",
                                            in_process=True).stderr
    assert rdbench("results", "--db", db, "--device", "cuda-to-cpu", "--per-image", in_process=True).returncode == 0
    refused = rdbench("results", "--db", db, "--mismatches", "--delete", "--yes")
    assert refused.returncode == 2 and "does not combine with --delete" in refused.stderr


# -- GPU-side measures, exercised on the CPU -------------------------------------------------------

class FakeCuda:
    def __init__(self) -> None:
        self.allocated, self.peak, self.calls = 1000, 1000, []

    def is_available(self):
        return True

    def synchronize(self, device):
        self.calls.append(("sync", device))

    def reset_peak_memory_stats(self, device):
        self.peak = self.allocated

    def memory_allocated(self, device):
        return self.allocated

    def max_memory_allocated(self, device):
        return self.peak


def test_device_peak_memory_with_a_fake_cuda(monkeypatch):
    cuda = FakeCuda()
    monkeypatch.setitem(sys.modules, "torch", types.SimpleNamespace(cuda=cuda))
    with DevicePeak(["cuda", "cpu"]) as peak:
        cuda.peak = 5000  # the block allocated 4000 bytes above the start at its peak
    assert peak.peak == 4000 and ("sync", "cuda") in cuda.calls
    with DevicePeak(["cpu"]) as none:
        pass
    assert none.peak is None
    cuda.is_available = lambda: False  # a codec saying "cuda" on a machine without: no figure, no failure
    with DevicePeak(["cuda"]) as unavailable:
        pass
    assert unavailable.peak is None


def test_measure_takes_a_tensor_reconstruction_and_records_device_peak(monkeypatch):
    from rdbench.codecs.base import Codec

    class TensorCodec(Codec):
        def encode(self, image, quality):
            self._image = image
            return b"x" * 100

        def decode(self, data, quality):
            return np.array(self._image)

        def decode_pixels(self, data, quality):
            return torch.from_numpy(np.array(self._image))  # a CPU tensor: measured as a numpy view

    image = np.random.default_rng(0).integers(0, 256, (170, 170, 3), dtype=np.uint8)
    result = measure(TensorCodec(CodecConfig("t", "x"), CodecContext()), image, 1)
    assert result.mse == 0 and result.ms_ssim == 1.0 and "gpu_peak_mem_bytes" not in result.notes
    cuda = FakeCuda()
    fake_torch = types.SimpleNamespace(cuda=cuda)
    codec = TensorCodec(CodecConfig("t", "x"), CodecContext(device="cuda"))
    with monkeypatch.context() as patched:
        patched.setitem(sys.modules, "torch", fake_torch)
        result = measure(codec, image, 1)
    assert result.notes["gpu_peak_mem_bytes"] == 0
    with pytest.raises(ValueError, match="torch.uint8"):
        check_reconstruction(torch.zeros(170, 170, 3), image, "t")
    with pytest.raises(ValueError, match="decoded 169x170"):
        check_reconstruction(torch.zeros(170, 169, 3, dtype=torch.uint8), image, "t")


@pytest.mark.slow
def test_gpu_suite_runs_end_to_end_on_the_cpu(tmp_path, kodak_dir):
    out = tmp_path / "suite"
    proc = subprocess.run([sys.executable, str(REPO / "bench" / "gpu_suite.py"), "--device", "cpu", "--tiny",
                           "--out", str(out), "--dataset", str(kodak_dir)],
                          capture_output=True, text=True, timeout=900, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = (out / "gpu_suite_cpu.md").read_text()
    for section in ("## 1. Coding", "## 2. Metric speed", "## 3. Cross-device decoding", "## 4. Complexity",
                    "## 5. JPEG AI metric set"):
        assert section in text
    assert "failed" not in text and "| mlicpp-random |" in text and "2 of 2 |" in text
    assert "| Kodak | 240x200 |" in text and "| identical |" in text and "| 10 of 10 |" in text  # the jpeg-ai set
    assert "python bench/gpu_suite.py --device cpu --tiny" in text


@pytest.mark.slow
def test_gpu_carry_holds_what_the_suite_reads_there(tmp_path, kodak_dir, samples_dir):
    """What ``prepare_gpu_carry.py`` packs for the lent GPU machine is enough for the suite, which
    then reads nothing from ../shared; the call it prints fits the device tool's limits."""
    folder = "build/gpu-carry-test"  # build/ is git-ignored, as .gpu-carry/ is
    carry = REPO / folder
    try:
        proc = subprocess.run([sys.executable, str(REPO / "bench" / "prepare_gpu_carry.py"), "--folder", folder,
                               "--kodak", str(kodak_dir), "--samples", str(samples_dir), "--no-wheels"],
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-3000:]
        call = json.loads(proc.stdout)
        assert call["carry"] == [folder] and call["timeout_s"] <= 600 and len(call["command"]) <= 2000
        assert f"--dataset {folder}/kodak --samples {folder}/samples --out $OUT" in call["command"]
        assert len(list((carry / "kodak").glob("*.png"))) == 24 and len(list((carry / "samples").glob("*.png"))) == 2
        out = tmp_path / "suite"
        proc = subprocess.run([sys.executable, str(REPO / "bench" / "gpu_suite.py"), "--device", "cpu", "--tiny",
                               "--dataset", str(carry / "kodak"), "--samples", str(carry / "samples"),
                               "--skip", "coding,complexity,cross", "--out", str(out)],
                              capture_output=True, text=True, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"})
        assert proc.returncode == 0, proc.stderr[-3000:]
        text = (out / "gpu_suite_cpu.md").read_text()
        assert "absent" not in text and "| Tecnick | 240x200 |" in text and "| CLIC | 240x200 |" in text
        outside = subprocess.run([sys.executable, str(REPO / "bench" / "prepare_gpu_carry.py"), "--folder",
                                  "../outside", "--no-wheels"], capture_output=True, text=True, timeout=120)
        assert outside.returncode != 0 and "inside the repository" in outside.stderr
    finally:
        shutil.rmtree(carry, ignore_errors=True)


@pytest.mark.slow
def test_gpu_suite_keeps_going_past_a_failed_section_and_rejects_unknown_ones(tmp_path, kodak_dir):
    out = tmp_path / "suite"
    proc = subprocess.run([sys.executable, str(REPO / "bench" / "gpu_suite.py"), "--device", "cpu", "--tiny",
                           "--dataset", str(kodak_dir), "--samples", str(tmp_path), "--codecs", "no-such-codec",
                           "--skip", "complexity,cross", "--out", str(out)],
                          capture_output=True, text=True, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = (out / "gpu_suite_cpu.md").read_text()
    assert "## coding: failed" in text and "no-such-codec" in text  # the error, then the next section
    assert "## 2. Metric speed" in text and "| Tecnick | absent" in text and "Total:" in text
    bad = subprocess.run([sys.executable, str(REPO / "bench" / "gpu_suite.py"), "--skip", "codingg"],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "unknown section(s) codingg" in bad.stderr


def test_no_peak_memory_leaves_memory_alone_and_says_so(tmp_path, monkeypatch):
    import rdbench.run.measure as measure_module

    trims = []
    real = measure_module.release_freed_memory
    monkeypatch.setattr(measure_module, "release_freed_memory", lambda: trims.append(1) or real())
    images = save_images(tmp_path / "images", count=2, size=(170, 180))
    db = tmp_path / "r.sqlite"
    rdbench("run", "--codec", "jpeg", "--dataset", images, "--quality", "50", "--no-peak-memory", "--db", db, "-q",
            in_process=True, check=True)
    records = stored(db)
    assert trims == [] and all(r["peak_mem_bytes"] is None for r in records)
    assert all("--no-peak-memory" in r["extra"]["peak_mem_bytes"] for r in records)
    assert all(r["ms_ssim"] is not None and r["encode_s"] > 0 for r in records)
    rdbench("run", "--codec", "jpeg", "--dataset", images, "--quality", "60", "--db", db, "-q", in_process=True,
            check=True)
    assert len(trims) == 2 and all(r["peak_mem_bytes"] is not None for r in stored(db) if r["quality"] == "60")
