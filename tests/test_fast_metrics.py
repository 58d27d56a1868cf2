"""The fast metrics compute pytorch_msssim's MS-SSIM and the exact PSNR, on the CPU and with torch.

The reference is ``pytorch_msssim.ms_ssim(data_range=255)`` itself. Run in float64 (its own code
on double tensors) it is the definition, and rdbench's value must equal it to rounding (1e-10 is
asserted, ~1e-15 is measured). As CompressAI's evaluation calls it, in float32, it carries its own
rounding error: up to ~5e-6 at JPEG quality 10 on Kodak and ~5e-5 at quality 5 (measured:
bench/results/metrics_cpu.md), so the float32 comparison bounds that error instead.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import threadpoolctl
import torch
from helpers import SHARED
from pytorch_msssim import ms_ssim as reference_ms_ssim

from rdbench.run import metrics
from rdbench.run.metrics import dispatch, engine
from rdbench.run.metrics.blas import (
    blas_threads,
    set_blas_threads,
    single_threaded_blas,
)

REPO = Path(__file__).resolve().parents[1]
KODAK = SHARED / "datasets" / "kodak"
SAMPLES = SHARED / "datasets" / "samples"


def definition(a: np.ndarray, b: np.ndarray) -> float:
    """pytorch_msssim's ms_ssim on float64 tensors: its definition without float32 rounding."""
    x = torch.from_numpy(a.astype(np.float64)).permute(2, 0, 1)[None]
    y = torch.from_numpy(b.astype(np.float64)).permute(2, 0, 1)[None]
    with torch.inference_mode():
        return float(reference_ms_ssim(x, y, data_range=255.0))


def exact_mse(a: np.ndarray, b: np.ndarray) -> float:
    diff = a.astype(np.int64) - b.astype(np.int64)
    return float((diff * diff).sum()) / diff.size


def jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    import imagecodecs

    return imagecodecs.jpeg8_decode(imagecodecs.jpeg8_encode(image, level=quality))


def noise_pair(height: int, width: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width]
    base = np.stack([xx * 255 / width, yy * 255 / height, (xx + yy) * 127 / (width + height)], axis=-1)
    a = np.clip(base + rng.normal(0, 25, base.shape), 0, 255).astype(np.uint8)
    b = np.clip(a + rng.normal(0, 12, a.shape), 0, 255).astype(np.uint8)
    return a, b


@pytest.fixture(scope="module")
def kodak_images():
    if not KODAK.is_dir():
        pytest.skip(f"{KODAK} is absent: the real Kodak images are needed")
    from rdbench.data.images import load_image

    paths = sorted(KODAK.glob("*.png"))
    assert len(paths) == 24
    return [(p.name, load_image(p)) for p in paths]


def test_window_is_pytorch_msssims_exactly():
    from pytorch_msssim.ssim import _fspecial_gauss_1d

    theirs = _fspecial_gauss_1d(11, 1.5).flatten().double().tolist()
    assert list(metrics.GAUSSIAN_WINDOW) == theirs  # bit for bit: one ulp moves MS-SSIM by ~5e-7


@pytest.mark.slow
@pytest.mark.parametrize("quality", [10, 75])
def test_every_kodak_image_matches_pytorch_msssim(kodak_images, quality):
    """All 24 Kodak images: the definition (pytorch_msssim in float64) to 1e-10, the float32
    reference within its own rounding, and the MSE exactly."""
    worst64 = worst32 = 0.0
    for name, image in kodak_images:
        decoded = jpeg(image, quality)
        mse, value = metrics.distortion(image, decoded)
        assert mse == exact_mse(image, decoded), name
        worst64 = max(worst64, abs(value - definition(image, decoded)))
        worst32 = max(worst32, abs(value - metrics.ms_ssim_reference(image, decoded)))
        assert metrics.ms_ssim(image, decoded) == value and metrics.mse(image, decoded) == mse
    assert worst64 < 1e-10, worst64
    assert worst32 < 2e-5, worst32  # the float32 reference's own error (measured ~5e-6 at q10)


@pytest.mark.slow
@pytest.mark.parametrize("path", [SAMPLES / "RGB_OR_1200x1200_001.png", SAMPLES / "alberto-montalesi-176097.png"],
                         ids=["tecnick-1200x1200", "clic-2048x1365"])
def test_large_images_match_the_definition(path):
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    from rdbench.data.images import load_image

    image = load_image(path)
    decoded = jpeg(image, 30)
    mse, value = metrics.distortion(image, decoded)
    assert mse == exact_mse(image, decoded)
    assert abs(value - definition(image, decoded)) < 1e-10
    assert abs(value - metrics.ms_ssim_reference(image, decoded)) < 1e-6


@pytest.mark.parametrize("shape", [(161, 161), (161, 200), (203, 161), *(pytest.param(shape, marks=pytest.mark.slow)
                                   for shape in [(255, 333), (320, 481), (193, 1031)])])
def test_odd_and_even_sides_follow_the_pooling_rule(shape):
    """avg_pool2d pads an odd side with a zero at each end, counted in the average: every
    combination of odd and even sides at every scale agrees with the definition."""
    a, b = noise_pair(*shape, seed=sum(shape))
    mse, value = metrics.distortion(a, b)
    assert abs(value - definition(a, b)) < 1e-10
    assert mse == exact_mse(a, b)


@pytest.mark.parametrize("shape", [(161, 162), *(pytest.param(shape, marks=pytest.mark.slow)
                                   for shape in [(170, 1000), (1001, 171), (512, 768)])])
def test_value_does_not_depend_on_the_number_of_threads(shape):
    """The strips of a scale, the colour split (rows) and the pooling (planes) are shared among
    the metric threads; every strip's sums are added in strip order, so 1, 2 or 3 threads give
    the same float, on sizes near the minimum, wide and short, tall and narrow, and Kodak's."""
    a, b = noise_pair(*shape, seed=7)
    before = metrics.get_threads()
    try:
        results = []
        for threads in (1, 2, 3):
            metrics.set_threads(threads)
            results.append(metrics.distortion(a, b))
    finally:
        metrics.set_threads(before)
    assert results[0] == results[1] == results[2]
    assert results[0][0] == exact_mse(a, b)
    assert abs(results[0][1] - definition(a, b)) < 1e-10


def test_extreme_images():
    black = np.zeros((170, 180, 3), np.uint8)
    white = np.full_like(black, 255)
    for a, b in ((black, white), (white, black), (black, black)):
        mse, value = metrics.distortion(a, b)
        assert mse == exact_mse(a, b)
        assert abs(value - definition(a, b)) < 1e-12
    a, _ = noise_pair(200, 300)
    assert metrics.distortion(a, a) == (0.0, 1.0)
    assert metrics.psnr(a, a) == float("inf") and metrics.ms_ssim_db(1.0) == float("inf")


def test_small_images_have_no_ms_ssim_and_exact_mse():
    a, b = noise_pair(160, 400)
    assert metrics.distortion(a, b) == (exact_mse(a, b), None)
    assert metrics.ms_ssim(a, b) is None and metrics.ms_ssim_reference(a, b) is None
    gray_a, gray_b = a[:, :, 0], b[:, :, 0]  # any uint8 array: MSE only
    assert metrics.distortion(gray_a, gray_b) == (exact_mse(gray_a, gray_b), None)


def test_psnr_is_exact_for_large_errors_and_sizes():
    rng = np.random.default_rng(5)
    a = rng.integers(0, 256, (1001, 1503, 3), dtype=np.uint8)  # more samples than one chunk, odd count
    b = rng.integers(0, 256, a.shape, dtype=np.uint8)
    assert metrics.mse(a, b) == exact_mse(a, b)
    assert metrics.psnr(a, b) == pytest.approx(10 * np.log10(255 ** 2 / exact_mse(a, b)), abs=1e-12)


def test_inputs_are_checked():
    a, b = noise_pair(170, 170)
    with pytest.raises(ValueError, match="differs"):
        metrics.distortion(a, b[:, :-1])
    with pytest.raises(ValueError, match="uint8"):
        metrics.distortion(a, b.astype(np.float32))


@pytest.mark.slow
def test_torch_path_is_the_same_computation():
    """The device path (used for CUDA tensors) run here on CPU tensors: same MSE, same MS-SSIM."""
    for shape in ((170, 190), (255, 333)):
        a, b = noise_pair(*shape, seed=3)
        mse, value = metrics.distortion_torch(torch.from_numpy(a), torch.from_numpy(b))
        assert mse == exact_mse(a, b)
        assert abs(value - metrics.distortion(a, b)[1]) < 1e-12
        assert abs(metrics.ms_ssim_torch(a, torch.from_numpy(b)) - value) < 1e-12  # mixed inputs
    small_a, small_b = noise_pair(100, 120)
    assert metrics.distortion_torch(torch.from_numpy(small_a), torch.from_numpy(small_b)) == \
        (exact_mse(small_a, small_b), None)
    with pytest.raises(ValueError, match="uint8"):
        metrics.distortion_torch(torch.from_numpy(a).float(), torch.from_numpy(b))


def test_cpu_tensors_take_the_numpy_path_and_device_tensors_the_torch_one(monkeypatch):
    a, b = noise_pair(170, 180)
    assert metrics.distortion(torch.from_numpy(a), torch.from_numpy(b)) == metrics.distortion(a, b)
    called = []
    monkeypatch.setattr(dispatch, "distortion_torch", lambda x, y: called.append(1) or (0.0, None))
    monkeypatch.setattr(dispatch, "is_device_tensor", lambda x: isinstance(x, torch.Tensor))
    metrics.distortion(a, torch.from_numpy(b))
    assert called == [1]


def test_workspaces_are_reused_per_size_and_per_thread():
    metrics.release_workspaces()
    a, b = noise_pair(180, 200)
    c, d = noise_pair(200, 180)
    first = metrics.distortion(a, b)
    workspace = engine._workspace(180, 200)
    assert metrics.distortion(c, d)[1] == pytest.approx(definition(c, d), abs=1e-10)
    assert engine._workspace(180, 200) is workspace  # two sizes are kept (Kodak's two orientations)
    assert metrics.distortion(a, b) == first  # reused buffers give the same numbers
    results = {}

    def worker(key, x, y):
        results[key] = metrics.distortion(x, y)
        results[key + "-ws"] = engine._workspace(*x.shape[:2])

    threads = [threading.Thread(target=worker, args=(str(i), a, b)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(results[str(i)] == first for i in range(3))
    assert len({id(results[f"{i}-ws"]) for i in range(3)} | {id(workspace)}) == 4  # one per thread
    metrics.release_workspaces()


def openblas_threads_now() -> int | None:
    """OpenBLAS's thread count read afresh through threadpoolctl, not through rdbench's controller."""
    found = [lib["num_threads"] for lib in threadpoolctl.threadpool_info() if lib["internal_api"] == "openblas"]
    return found[0] if found else None


def test_blas_runs_on_one_thread_during_the_metrics_and_is_restored_from_any_thread():
    before = blas_threads()
    if before is None:
        pytest.skip("numpy does not use OpenBLAS here")
    seen = []

    def metrics_in_another_thread() -> None:  # as a Dask worker's thread or the engine's pool measures
        with single_threaded_blas():
            seen.append(openblas_threads_now())
        seen.append(openblas_threads_now())
        set_blas_threads(3)  # as conditions.use_threads does in a job's thread

    try:
        set_blas_threads(2)  # this thread sets first: threadpoolctl >= 3.8 would make it the only one heard
        with single_threaded_blas():
            seen.append(openblas_threads_now())
        seen.append(openblas_threads_now())
        thread = threading.Thread(target=metrics_in_another_thread)
        thread.start()
        thread.join()
        seen.append(blas_threads())
        assert seen == [1, 2, 1, 2, 3]
    finally:
        set_blas_threads(before)
    assert openblas_threads_now() == before


def test_formulas_import_neither_torch_nor_the_engine():
    code = ("import sys; from rdbench.run.metrics import bpp, mse, psnr, psnr_from_mse, ms_ssim_db; "
            "import rdbench.run.metrics.formulas; import numpy as np; a = np.zeros((4, 4, 3), np.uint8); "
            "assert psnr(a, a) == float('inf') and ms_ssim_db(None) is None; "
            "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith(('torch.', 'rdbench.run.metrics.'))))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[0] == str(["rdbench.run.metrics.blas", "rdbench.run.metrics.formulas"])
