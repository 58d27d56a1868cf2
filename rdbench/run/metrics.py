"""Distortion and rate measures, computed as the learned-compression literature does, fast.

* bpp = 8 * (all bytes a decoder needs) / (H * W of the original image).
* PSNR on 8-bit RGB: MSE pooled over the three channels of the uint8 reconstruction
  (a model's float output must be rounded, not truncated, before it gets here), 255 peak.
  Computed exactly (integer squared errors summed in float64, exact below 2**53).
* MS-SSIM: the value of ``pytorch_msssim.ms_ssim(X, Y, data_range=255)`` on RGB (the
  implementation used by CompressAI's evaluation and the MLIC papers), also reported in dB as
  ``-10 * log10(1 - ms_ssim)``. MS-SSIM's five scales need both sides >= 161 pixels; smaller
  images get ``None`` rather than a number computed on a different definition.

How MS-SSIM is computed here, and why it is the same number
-----------------------------------------------------------

pytorch_msssim (1.0) defines, per channel and for each of 5 scales: an 11-tap Gaussian window
(sigma 1.5) built in float32 (:data:`GAUSSIAN_WINDOW` holds those exact float32 values), applied
separably as a *valid* convolution (no padding) to x, y, x², y², xy; ``cs`` = mean of
``(2 sigma_xy + C2) / (sigma_x² + sigma_y² + C2)`` and, at the last scale, ``ssim`` = mean of
that times ``(2 mu_x mu_y + C1) / (mu_x² + mu_y² + C1)``, with C1 = (0.01 * 255)², C2 =
(0.03 * 255)²; between scales a 2x2 average pool whose padding is ``side % 2`` on both ends of
each axis, zeros counted in the average (``avg_pool2d``'s ``count_include_pad``); the result is
``prod(relu(cs_1..4) ** w_1..4) * relu(ssim_5) ** w_5`` with w = (0.0448, 0.2856, 0.3001,
0.2363, 0.1333), averaged over the channels.

:func:`ms_ssim` computes exactly that definition in float64: it equals pytorch_msssim run on
float64 tensors to ~1e-15 (measured: at most 1.2e-14 over every Kodak image at JPEG qualities 5
and 95; ``tests/test_fast_metrics.py`` asserts 1e-10 on every Kodak image at two JPEG qualities,
odd sizes, the Tecnick and CLIC samples). pytorch_msssim as usually called, on float32 tensors,
differs from its own definition by its rounding: 1.5-3e-7 on typical images, up to ~4e-6 at JPEG
quality 10 and ~5e-5 at quality 5 on Kodak (flat blocks make the float32 variances' cancellation
error systematic instead of averaging out). It is organised for speed:

* only four filtered planes per channel instead of five: with u = x + y and v = x - y,
  ``sigma_x² + sigma_y² = (s_u + s_v) / 2`` and ``2 sigma_xy = (s_u - s_v) / 2`` (s = the
  windowed variance), and likewise for the means, so ``cs = (s_u - s_v + 2 C2) / (s_u + s_v +
  2 C2) = 1 - 2 s_v / (s_u + s_v + 2 C2)``: one division and one sum per pixel and channel;
  the average pool is linear, so u and v are pooled directly;
* each separable pass is a matrix product with a banded Toeplitz block of 8 output rows
  (columns): 18 multiply-adds per output where the window has 11, which BLAS (kept on one
  thread: :func:`single_threaded_blas`) still runs faster than any 11-tap loop numpy, scipy or
  torch offer in float64 (measured: ``scipy.ndimage.correlate1d`` 3-8x, torch's float64
  convolutions over 20x slower);
* plane-major buffers: a scale is computed in horizontal strips of rows whose twelve planes
  (u, v, u², v² of the three channels) are each contiguous, so every elementwise step is one
  contiguous pass (2.3x faster than the row-interleaved layout used before); the filtered planes
  reuse the input planes' memory, so a strip's buffers (4 MiB) stay in the L3 cache;
* the strips of a scale, the colour split and the pooling can be shared among threads
  (:func:`set_threads`; ``rdbench run`` gives the metrics the cores a job has), each strip's
  sums kept apart and added in order, so the value does not depend on the number of threads;
* the buffers live in a per-thread workspace reused from one image to the next (no page faults
  after the first image of a size, which matters since :class:`rdbench.run.measure.PeakRSS`
  hands freed memory back to the OS before every image).

Speed (``bench/bench_metrics.py``, ``bench/results/metrics_cpu.md``; one thread, back to back,
on a shared 2-core AMD EPYC, OpenBLAS's Haswell kernels): ~27-30 ms for a Kodak image, ~105-114 ms
at 1200x1200 (Tecnick), ~200-280 ms at 2048x1365 (CLIC): 3.5-4.1x (4.4-6.2x as ``rdbench run``
calls it), 6-9x and 8-11x less CPU time than pytorch_msssim over three sessions, and 1.15-1.2x
less than the row-interleaved layout used before. About two thirds
of it is the two BLAS passes, at the speed of OpenBLAS's small-matrix kernels (~16 GFLOP/s of
useful work); the rest is elementwise passes.

Why float64 throughout: float32 filtering was measured and rejected. It cannot guarantee even
1e-6 agreement with the definition, because its error is the variances' cancellation error, ``eps *
t²`` for a locally constant t, which nothing averages out when the image is flat: with u
centred (u - 255, exact), every Kodak image at JPEG qualities 5-95 came within 5.7e-8 of the
definition (4.2e-7 uncentred), but a flat colour shift (x - y = 50 everywhere) is off by 7e-6
and black against white by 8e-6. It would also gain little here: single-precision products ran
only ~1.35x faster than double ones on this CPU.

BLAS kernels: the figures above are with OpenBLAS's Haswell (AVX2) kernels, which this project's
machines force (``OPENBLAS_CORETYPE=Haswell`` in their environment). Without that setting
OpenBLAS picks its Cooperlake (AVX-512) kernels on the same CPU, the two passes run ~2.5x faster
and MS-SSIM on a Kodak image takes ~16 ms instead of ~27 ms (measured, same values to 1e-16).

On a device (a reconstruction that is a CUDA tensor), :func:`distortion` computes the same
definition with torch in float64 on that device (:func:`ms_ssim_torch`), so a learned codec's
output never has to leave the GPU to be measured. :func:`ms_ssim_reference` is pytorch_msssim
itself, kept as the reference for tests and benchmarks.
"""

from __future__ import annotations

import ctypes
import functools
import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import as_strided

#: Smallest side MS-SSIM with the standard 11x11 window and 5 scales accepts.
MS_SSIM_MIN_SIDE = 161
#: ``pytorch_msssim.ssim._fspecial_gauss_1d(11, 1.5)``: the float32 values, written exactly.
#: Computing the window again (even in float32 with numpy) can differ in the last bit, which
#: moves MS-SSIM by ~5e-7; the test suite checks these against pytorch_msssim's own.
GAUSSIAN_WINDOW = tuple(float.fromhex(h) for h in (
    "0x1.0d957p-10", "0x1.f1fe02p-8", "0x1.26eb18p-5", "0x1.bff0fep-4", "0x1.b43c3ep-3", "0x1.10656p-2",
    "0x1.b43c3ep-3", "0x1.bff0fep-4", "0x1.26eb18p-5", "0x1.f1fe02p-8", "0x1.0d957p-10"))
MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
DATA_RANGE = 255.0
C1 = (0.01 * DATA_RANGE) ** 2
C2 = (0.03 * DATA_RANGE) ** 2
_TAPS = len(GAUSSIAN_WINDOW)
_HALO = _TAPS - 1  # rows (columns) a valid 11-tap convolution loses
_PLANES = 12  # u, v, u², v² for each of the 3 channels
_VBLOCK = 8  # output rows per Toeplitz block of the vertical pass
_HBLOCK = 8  # output columns per Toeplitz block of the horizontal pass
_LANE_BYTES = 4 << 20  # a lane's strip buffer


def bpp(num_bytes: int, height: int, width: int) -> float:
    return 8.0 * num_bytes / (height * width)


def mse(original: np.ndarray, reconstruction: np.ndarray) -> float:
    """Mean squared error over every sample of two uint8 images, exact."""
    _check_pair(original, reconstruction)
    return _sum_squared_error(original, reconstruction) / original.size


def psnr_from_mse(value: float, peak: float = 255.0) -> float:
    return math.inf if value == 0 else 10.0 * math.log10(peak * peak / value)


def psnr(original: np.ndarray, reconstruction: np.ndarray) -> float:
    return psnr_from_mse(mse(original, reconstruction))


def ms_ssim(original: np.ndarray, reconstruction: np.ndarray) -> float | None:
    """MS-SSIM of two uint8 RGB images (pytorch_msssim's value), or None when the image is too
    small for 5 scales."""
    _check_pair(original, reconstruction)
    return distortion(original, reconstruction)[1]


def ms_ssim_db(value: float | None) -> float | None:
    if value is None:
        return None
    return math.inf if value >= 1.0 else -10.0 * math.log10(1.0 - value)


def distortion(original: Any, reconstruction: Any) -> tuple[float, float | None]:
    """(MSE, MS-SSIM) of an (H, W, 3) uint8 original and its reconstruction, in one pass.

    Either may be a numpy array or a torch tensor. A reconstruction on a device (CUDA) is
    measured there, in torch (:func:`ms_ssim_torch`), with the original moved to it; anything
    else on the CPU with numpy. MS-SSIM is None for images with a side below
    :data:`MS_SSIM_MIN_SIDE`.
    """
    if _is_device_tensor(reconstruction) or _is_device_tensor(original):
        return distortion_torch(original, reconstruction)
    original, reconstruction = _as_numpy(original), _as_numpy(reconstruction)
    _check_pair(original, reconstruction)
    if original.ndim != 3 or original.shape[2] != 3 or min(original.shape[:2]) < MS_SSIM_MIN_SIDE:
        return mse(original, reconstruction), None
    return _workspace(original.shape[0], original.shape[1]).measure(original, reconstruction, _THREADS)


def ms_ssim_reference(original: np.ndarray, reconstruction: np.ndarray) -> float | None:
    """``pytorch_msssim.ms_ssim(data_range=255)`` itself, on float32 tensors: the reference the
    fast path is checked against (tests, benchmarks). Imports torch."""
    _check_pair(original, reconstruction)
    if min(original.shape[:2]) < MS_SSIM_MIN_SIDE:
        return None
    import torch
    from pytorch_msssim import ms_ssim as _ms_ssim

    def as_tensor(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.array(a, dtype=np.float32)).permute(2, 0, 1)[None]

    with torch.inference_mode():
        value = _ms_ssim(as_tensor(original), as_tensor(reconstruction), data_range=DATA_RANGE, size_average=True)
    return float(value)


# -- exact squared error -----------------------------------------------------------------------

#: Samples per chunk: the float64 temporaries stay in cache.
_SSE_CHUNK = 1 << 16


def _sum_squared_error(a: np.ndarray, b: np.ndarray) -> float:
    """Sum of (a - b)² over uint8 arrays, exact: int16 differences, squared in float64 (exact
    integers), summed with BLAS in chunks that stay in cache."""
    flat_a, flat_b = a.reshape(-1), b.reshape(-1)
    n = flat_a.size
    diff = np.empty(min(n, _SSE_CHUNK), dtype=np.int16)
    wide = np.empty(min(n, _SSE_CHUNK), dtype=np.float64)
    total = 0.0
    with single_threaded_blas():
        for start in range(0, n, _SSE_CHUNK):
            stop = min(n, start + _SSE_CHUNK)
            d, w = diff[:stop - start], wide[:stop - start]
            np.subtract(flat_a[start:stop], flat_b[start:stop], out=d, dtype=np.int16)
            np.copyto(w, d)
            total += float(np.dot(w, w))  # integers below 2**53: every partial sum is exact
    return total


# -- MS-SSIM on the CPU ------------------------------------------------------------------------

def _toeplitz(rows: int) -> np.ndarray:
    """The (rows, rows + 10) matrix of a valid 11-tap correlation: row i holds the window at i."""
    matrix = np.zeros((rows, rows + _HALO))
    window = np.asarray(GAUSSIAN_WINDOW)
    for i in range(rows):
        matrix[i, i:i + _TAPS] = window
    return matrix


class _Workspace:
    """Every buffer MS-SSIM needs for one image size, reused from one image to the next.

    Layout: plane-major, (planes, H, W). The state of a scale is one (6, H, W) array, u of the
    three channels then v of the three channels (int16 at scale 1, float64 after). A scale is
    computed in horizontal strips whose twelve planes (u, v, u², v²) and filtered planes are each
    contiguous, so every elementwise step is one pass over contiguous memory. Each thread
    computing strips has a lane of strip buffers of its own (:class:`_Lane`), and every strip's
    sums are kept apart and added in strip order, so the result is the same float whatever the
    number of threads.
    """

    def __init__(self, height: int, width: int) -> None:
        self.height, self.width = height, width
        self.a8 = np.empty((3, height, width), np.uint8)
        self.b8 = np.empty((3, height, width), np.uint8)
        self.uv16 = np.empty((6, height, width), np.int16)  # u = x + y, v = x - y of scale 1
        self.rows16 = np.empty((6, (height + 1) // 2, width), np.int16)
        self.levels: list[np.ndarray] = []  # u and v of scales 2..5, float64
        h, w = height, width
        for _ in range(len(MS_SSIM_WEIGHTS) - 1):
            h, w = h // 2 + h % 2, w // 2 + w % 2
            self.levels.append(np.empty((6, h, w)))
        _, h1, w1 = self.levels[0].shape
        self.rows64 = np.empty((6, (h1 + 1) // 2, w1))
        self.lane_elements = max(_LANE_BYTES // 8, _lane_elements(_VBLOCK, width))
        self.lanes: list[_Lane] = []
        self._toeplitz: dict[tuple[int, bool], np.ndarray] = {}

    def toeplitz(self, rows: int) -> np.ndarray:
        """:func:`_toeplitz` of ``rows``, made once."""
        if (rows, False) not in self._toeplitz:
            self._toeplitz[rows, False] = _toeplitz(rows)
        return self._toeplitz[rows, False]

    def toeplitz_t(self, cols: int) -> np.ndarray:
        """The transpose of :func:`_toeplitz` of ``cols``, contiguous, made once."""
        if (cols, True) not in self._toeplitz:
            self._toeplitz[cols, True] = np.ascontiguousarray(_toeplitz(cols).T)
        return self._toeplitz[cols, True]

    def measure(self, a: np.ndarray, b: np.ndarray, threads: int = 1) -> tuple[float, float]:
        """(MSE, MS-SSIM) of two (H, W, 3) uint8 images of this workspace's size, the strips of
        each scale shared among ``threads`` threads."""
        while len(self.lanes) < threads:
            self.lanes.append(_Lane(self))
        with single_threaded_blas():
            return self._measure(a, b, threads)

    def _measure(self, a: np.ndarray, b: np.ndarray, threads: int) -> tuple[float, float]:
        _share(self._split, a, b, count=self.height, threads=threads)
        uv = self.uv16
        value = np.ones(3)
        sse = 0.0
        for level, weight in enumerate(MS_SSIM_WEIGHTS):
            last = level == len(MS_SSIM_WEIGHTS) - 1
            mean, level_sse = self._level(uv, last, want_sse=level == 0, threads=threads)
            if level == 0:
                sse = level_sse
            value *= np.maximum(mean, 0.0) ** weight
            if not last:
                _share(self._pool, uv, self.levels[level], count=6, threads=threads)
                uv = self.levels[level]
        return sse / a.size, float(value.mean())

    def _split(self, part: int, rows: slice, a: np.ndarray, b: np.ndarray) -> None:
        """u = x + y and v = x - y of scale 1, plane-major, for the image rows ``rows``."""
        a8, b8 = self.a8[:, rows], self.b8[:, rows]
        np.copyto(a8, a[rows].transpose(2, 0, 1))
        np.copyto(b8, b[rows].transpose(2, 0, 1))
        np.add(a8, b8, out=self.uv16[0:3, rows], dtype=np.int16)
        np.subtract(a8, b8, out=self.uv16[3:6, rows], dtype=np.int16)

    def _pool(self, part: int, planes: slice, x: np.ndarray, out: np.ndarray) -> None:
        """2x2 average pool of the planes ``planes`` of a (6, H, W) array, with avg_pool2d's
        padding rule: side % 2 zeros on both ends of an odd side, counted in the average (only the
        leading one is ever read)."""
        _, h, w = x.shape
        x, out = x[planes], out[planes]
        oh = out.shape[1]
        rows = self.rows16[planes, :oh] if x.dtype == np.int16 else self.rows64[planes, :oh, :w]
        if h % 2:  # windows (-1, 0), (1, 2), ...: the first holds a zero and row 0
            rows[:, 0] = x[:, 0]
            np.add(x[:, 1::2], x[:, 2::2], out=rows[:, 1:])
        else:
            np.add(x[:, 0::2], x[:, 1::2], out=rows)
        if w % 2:
            np.copyto(out[:, :, 0], rows[:, :, 0])
            np.add(rows[:, :, 1::2], rows[:, :, 2::2], out=out[:, :, 1:])
        else:
            np.add(rows[:, :, 0::2], rows[:, :, 1::2], out=out)
        out *= 0.25

    def _level(self, uv: np.ndarray, last: bool, want_sse: bool, threads: int) -> tuple[np.ndarray, float]:
        """Per-channel mean cs (or, at the last scale, mean ssim) of one scale, strip by strip;
        with ``want_sse`` also the sum of v² over the image (v = x - y: the squared error)."""
        _, h, w = uv.shape
        out_h, out_w = h - _HALO, w - _HALO
        step = _VBLOCK
        while step + _VBLOCK <= out_h and _lane_elements(step + _VBLOCK, w) <= self.lane_elements:
            step += _VBLOCK
        strips = [(top, min(step, out_h - top)) for top in range(0, out_h, step)]
        sums = np.zeros((len(strips), 4))  # per strip: the 3 channels' cs (or ssim) sums, and the sse
        take = _Counter()  # each thread takes the next strip: balanced when another process holds a core
        _share(lambda part, span: self.lanes[part].run(uv, strips, take, sums, last, want_sse),
               count=len(strips), threads=threads)
        total = sums.sum(axis=0)  # in strip order: the same float for any number of threads
        return total[:3] / (out_h * out_w), float(total[3])


def _share(work: Callable[..., None], *args: Any, count: int, threads: int) -> None:
    """Call ``work(part, span, *args)`` for up to ``threads`` contiguous slices ``span`` of
    range(count), part 0 on this thread and the others on the metrics' thread pool, and return
    when all are done. numpy releases the GIL in every step of the work, so the parts overlap."""
    parts = max(1, min(threads, count))
    bounds = [count * i // parts for i in range(parts + 1)]
    spans = [slice(bounds[i], bounds[i + 1]) for i in range(parts)]
    futures = [_thread_pool(parts - 1).submit(work, i, spans[i], *args) for i in range(1, parts)] if parts > 1 else []
    work(0, spans[0], *args)
    for future in futures:
        future.result()


class _Counter:
    """0, 1, 2, ... one number per call, to any number of threads."""

    def __init__(self) -> None:
        self._next = 0
        self._lock = threading.Lock()

    def __call__(self) -> int:
        with self._lock:
            value = self._next
            self._next += 1
            return value


def _lane_elements(n: int, w: int) -> int:
    """Elements of a lane's buffer for strips of ``n`` output rows of width ``w``: the twelve
    input planes (whose memory the filtered planes reuse), then the vertically filtered ones."""
    return _PLANES * (n + _HALO + n) * w


class _Lane:
    """The strip buffer of one thread computing a workspace's strips, and its views."""

    def __init__(self, ws: _Workspace) -> None:
        self.ws = ws
        self.buffer = np.empty(ws.lane_elements)
        self.strips: dict[tuple[int, int], _Strip] = {}

    def strip(self, n: int, w: int) -> _Strip:
        key = (n, w)
        if key not in self.strips:
            self.strips[key] = _Strip(self, n, w)
        return self.strips[key]

    def run(self, uv: np.ndarray, strips: list[tuple[int, int]], take: _Counter, sums: np.ndarray, last: bool,
            want_sse: bool) -> None:
        """Compute strips of a scale, each next one ``take`` hands out, until none is left: row
        ``i`` of ``sums`` gets strip i's sums, whichever thread computes it.

        Per pixel and channel, with s = G*t² - (G*t)² the windowed variance of t: ``cs = (s_u -
        s_v + 2 C2) / (s_u + s_v + 2 C2) = 1 - 2 s_v / (s_u + s_v + 2 C2)``, so a strip's cs sum is
        its pixel count less twice the sum of one ratio (likewise the luminance at the last scale).
        """
        out_h, out_w = uv.shape[1] - _HALO, uv.shape[2] - _HALO
        with single_threaded_blas():  # a no-op on the calling thread, which holds it already
            while (i := take()) < len(strips):
                top, n = strips[i]
                strip = self.strip(n, uv.shape[2])
                np.copyto(strip.uv, uv[:, top:top + n + _HALO])
                np.square(strip.uv, out=strip.squared)
                if want_sse:  # rows this strip owns: its first n, and the last strip all its rows
                    sums[i, 3] = (strip.v2 if top + n == out_h else strip.v2_own).sum()
                for matrix, source, target in strip.vertical:
                    np.matmul(matrix, source, out=target)
                for source, matrix, target in strip.horizontal:
                    np.matmul(source, matrix, out=target)
                means2, var = strip.means, strip.var  # G*t and G*t², t = u, v
                np.square(means2, out=means2)
                np.subtract(var, means2, out=var)  # s_u, s_v
                den = strip.den_cs
                np.add(strip.var_u, strip.var_v, out=den)
                den += 2 * C2
                ratio = np.divide(strip.var_v, den, out=strip.var_v)
                if last:  # luminance (2 mu_x mu_y + C1) / (mu_x² + mu_y² + C1) = 1 - 2 mu_v² / (mu_u² + mu_v² + 2 C1)
                    lum = strip.mean_u2
                    lum += strip.mean_v2
                    lum += 2 * C1
                    np.divide(strip.mean_v2, lum, out=lum)
                    np.multiply(lum, -2.0, out=lum)
                    lum += 1.0
                    np.multiply(ratio, -2.0, out=ratio)
                    ratio += 1.0
                    np.multiply(ratio, lum, out=ratio)  # ssim map
                    sums[i, :3] = ratio.sum(axis=(1, 2))
                else:
                    sums[i, :3] = n * out_w - 2.0 * ratio.sum(axis=(1, 2))


class _Strip:
    """The views of a lane's buffer for a strip of ``n`` output rows of width ``w`` - 10, and the
    matrix products of its two passes, made once and reused for every such strip.

    Vertical pass: one product per plane and block of :data:`_VBLOCK` output rows; horizontal
    pass: one per block of :data:`_HBLOCK` output columns, over every row of every plane. The
    metrics keep OpenBLAS on one thread (:func:`single_threaded_blas`): its threads, on a busy
    machine or with one worker per core, made a pass 5-10x slower.
    """

    def __init__(self, lane: _Lane, n: int, w: int) -> None:
        ws = lane.ws
        m, out_w = n + _HALO, w - _HALO
        planes = lane.buffer[:_PLANES * m * w].reshape(_PLANES, m, w)
        self.uv, self.squared = planes[0:6], planes[6:12]
        self.v2, self.v2_own = planes[9:12], planes[9:12, :n]
        vertical = lane.buffer[_PLANES * m * w:_PLANES * (m + n) * w].reshape(_PLANES, n, w)
        filtered = lane.buffer[:_PLANES * n * out_w].reshape(_PLANES, n, out_w)  # the planes are spent by then
        self.means, self.var = filtered[0:6], filtered[6:12]
        self.mean_u2, self.mean_v2 = filtered[0:3], filtered[3:6]
        self.var_u, self.var_v = filtered[6:9], filtered[9:12]
        self.den_cs = vertical.reshape(-1)[:3 * n * out_w].reshape(3, n, out_w)  # vertical is spent too
        self.vertical = self._vertical(ws, planes, vertical)
        self.horizontal = self._horizontal(ws, vertical.reshape(_PLANES * n, w), filtered.reshape(_PLANES * n, out_w))

    @staticmethod
    def _vertical(ws: _Workspace, planes: np.ndarray, out: np.ndarray) -> list[tuple[np.ndarray, ...]]:
        """Valid 11-tap correlation down the rows of (P, m, w) ``planes`` into (P, m - 10, w) ``out``."""
        count, n, w = out.shape
        blocks, rest = divmod(n, _VBLOCK)
        s0, s1, s2 = planes.strides
        o0, o1, o2 = out.strides
        products = []
        for first, rows, number in ((0, _VBLOCK, blocks), (blocks * _VBLOCK, rest, 1 if rest else 0)):
            if number:
                source = as_strided(planes[:, first:], (count, number, rows + _HALO, w), (s0, rows * s1, s1, s2),
                                    writeable=False)
                target = as_strided(out[:, first:], (count, number, rows, w), (o0, rows * o1, o1, o2))
                products.append((ws.toeplitz(rows), source, target))
        return products

    @staticmethod
    def _horizontal(ws: _Workspace, rows: np.ndarray, out: np.ndarray) -> list[tuple[np.ndarray, ...]]:
        """Valid 11-tap correlation along each row of (R, w) ``rows`` into (R, w - 10) ``out``."""
        count, out_w = out.shape
        blocks, rest = divmod(out_w, _HBLOCK)
        products = []
        if blocks:
            s0, s1 = rows.strides
            o0, o1 = out.strides
            source = as_strided(rows, (blocks, count, _HBLOCK + _HALO), (_HBLOCK * s1, s0, s1), writeable=False)
            target = as_strided(out, (blocks, count, _HBLOCK), (_HBLOCK * o1, o0, o1))
            products.append((source, ws.toeplitz_t(_HBLOCK), target))
        if rest:
            start = blocks * _HBLOCK
            products.append((rows[:, start:], ws.toeplitz_t(rest), out[:, start:]))
        return products


@functools.cache
def _openblas_controls() -> list[tuple[Any, Any]]:
    """(get, set) thread-count functions of every OpenBLAS loaded in this process (numpy's
    wheels bundle one, with 64-bit symbol suffixes); empty where there is none (another BLAS)."""
    try:
        with open("/proc/self/maps") as fh:
            paths = sorted({line.split()[-1] for line in fh if "openblas" in line.lower() and "/" in line})
    except OSError:
        return []
    controls = []
    for path in paths:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for prefix in ("openblas", "scipy_openblas"):
            for suffix in ("64_", "", "_64"):
                get = getattr(lib, f"{prefix}_get_num_threads{suffix}", None)
                set_ = getattr(lib, f"{prefix}_set_num_threads{suffix}", None)
                if get is not None and set_ is not None:
                    controls.append((get, set_))
                    break
            else:
                continue
            break
    return controls


def blas_threads() -> int | None:
    """OpenBLAS's thread count now (the first OpenBLAS loaded), as a record's timing conditions
    store it; None where numpy uses another BLAS."""
    controls = _openblas_controls()
    return int(controls[0][0]()) if controls else None


def set_blas_threads(threads: int) -> None:
    """Give every OpenBLAS loaded in this process ``threads`` threads (outside the metrics, which
    keep it on one, :func:`single_threaded_blas`); nothing where numpy uses another BLAS."""
    for _, set_ in _openblas_controls():
        set_(int(threads))


_BLAS_LOCK = threading.Lock()
_BLAS_USERS = 0
_BLAS_BEFORE: list[int] = []


@contextmanager
def single_threaded_blas() -> Iterator[None]:
    """Run the block with OpenBLAS on one thread, then restore its thread count.

    Why: OpenBLAS decides per call whether to start threads, and did for some of these small
    products (measured: CPU time 1.3-2x the wall time on a 2048x1365 image); with other work on
    the cores its spinning threads made a pass 5-10x slower, and spinning after the metrics
    would steal time from the next image's timed encode. The metrics are single-threaded by
    design (threads of their own share a scale's strips, :func:`set_threads`). Blocks may nest
    and overlap across threads: the first one in sets the count, the last one out restores it.
    """
    global _BLAS_USERS, _BLAS_BEFORE
    controls = _openblas_controls()
    with _BLAS_LOCK:
        if _BLAS_USERS == 0:
            _BLAS_BEFORE = [get() for get, _ in controls]
            for (_, set_), count in zip(controls, _BLAS_BEFORE):
                if count != 1:
                    set_(1)
        _BLAS_USERS += 1
    try:
        yield
    finally:
        with _BLAS_LOCK:
            _BLAS_USERS -= 1
            if _BLAS_USERS == 0:
                for (_, set_), count in zip(controls, _BLAS_BEFORE):
                    if count != 1:
                        set_(count)


_THREADS = 1
_POOL: Any = None
_POOL_SIZE = 0
_POOL_LOCK = threading.Lock()


def set_threads(threads: int) -> None:
    """How many threads :func:`distortion` uses on the CPU (default 1): the strips of each scale
    are shared among them. ``rdbench run`` gives the metrics the threads a job has
    (:func:`rdbench.run.conditions.job_threads`: ``--threads``, default cores // ``--jobs``). The
    result does not depend on it."""
    global _THREADS
    _THREADS = max(1, int(threads))


def get_threads() -> int:
    return _THREADS


def _thread_pool(helpers: int) -> Any:
    """A process-wide pool of at least ``helpers`` threads (idle threads block; they do not spin)."""
    global _POOL, _POOL_SIZE
    from concurrent.futures import ThreadPoolExecutor

    with _POOL_LOCK:
        if _POOL is None or _POOL_SIZE < helpers:
            if _POOL is not None:
                _POOL.shutdown(wait=False)  # its threads finish what they run, then exit
            _POOL = ThreadPoolExecutor(max_workers=helpers, thread_name_prefix="rdbench-metrics")
            _POOL_SIZE = helpers
        return _POOL


_LOCAL = threading.local()
#: Workspaces kept per thread (Kodak has two orientations; other datasets one size per image).
_KEEP_WORKSPACES = 2


def _workspace(height: int, width: int) -> _Workspace:
    """This thread's workspace for the size (threads of a Dask worker each get their own)."""
    cache: OrderedDict[tuple[int, int], _Workspace] | None = getattr(_LOCAL, "workspaces", None)
    if cache is None:
        cache = _LOCAL.workspaces = OrderedDict()
    key = (height, width)
    if key in cache:
        cache.move_to_end(key)
        return cache[key]
    while len(cache) >= _KEEP_WORKSPACES:
        cache.popitem(last=False)
    cache[key] = _Workspace(height, width)
    return cache[key]


def release_workspaces() -> None:
    """Free this thread's MS-SSIM buffers (they are otherwise kept for the next image)."""
    _LOCAL.workspaces = OrderedDict()


# -- the same on a device, with torch ----------------------------------------------------------

def _is_device_tensor(x: Any) -> bool:
    device = getattr(x, "device", None)
    return device is not None and getattr(device, "type", "cpu") != "cpu" and hasattr(x, "detach")


def _as_numpy(x: Any) -> np.ndarray:
    """A numpy view of a CPU torch tensor (no copy); numpy arrays pass through."""
    if isinstance(x, np.ndarray):
        return x
    if hasattr(x, "detach") and hasattr(x, "numpy"):
        return x.detach().numpy()
    return np.asarray(x)


def distortion_torch(original: Any, reconstruction: Any) -> tuple[float, float | None]:
    """(MSE, MS-SSIM) with torch on the reconstruction's device (float64), one host sync.

    ``original`` and ``reconstruction``: (H, W, 3) uint8 numpy arrays or tensors; the original
    is moved to the reconstruction's device. The definition is :func:`ms_ssim`'s; on the CPU
    this is slower than the numpy path and is used only to check the device code.
    """
    import torch

    device = reconstruction.device if hasattr(reconstruction, "device") else original.device
    x = _to_tensor(original, device)
    y = _to_tensor(reconstruction, device)
    if x.shape != y.shape:
        raise ValueError(f"reconstruction shape {tuple(y.shape)} differs from original {tuple(x.shape)}")
    if x.dtype != torch.uint8 or y.dtype != torch.uint8:
        raise ValueError("metrics take uint8 images (round a model's output to uint8 first)")
    with torch.inference_mode():
        diff = x.double() - y.double()
        sse = diff.square().sum()
        if x.ndim != 3 or x.shape[2] != 3 or min(x.shape[:2]) < MS_SSIM_MIN_SIDE:
            return float(sse) / x.numel(), None
        value = _ms_ssim_tensor(x, y)
        sse_value, ms = torch.stack([sse, value]).tolist()
    return sse_value / x.numel(), ms


def ms_ssim_torch(original: Any, reconstruction: Any) -> float | None:
    """MS-SSIM with torch on the reconstruction's device (see :func:`distortion_torch`)."""
    return distortion_torch(original, reconstruction)[1]


def _to_tensor(x: Any, device: Any) -> Any:
    import torch

    if isinstance(x, np.ndarray):
        # torch refuses to share a read-only array (a cached image is one) without a warning: copy it
        x = torch.from_numpy(np.ascontiguousarray(x) if x.flags.writeable else np.array(x))
    return x.to(device)


def _ms_ssim_tensor(x: Any, y: Any) -> Any:
    """MS-SSIM of (H, W, 3) uint8 tensors as a 0-d float64 tensor on their device."""
    import torch
    import torch.nn.functional as F

    device = x.device
    X = x.permute(2, 0, 1).unsqueeze(0).double()
    Y = y.permute(2, 0, 1).unsqueeze(0).double()
    u, v = X + Y, X - Y
    window = torch.tensor(GAUSSIAN_WINDOW, dtype=torch.float64, device=device)
    across = window.view(1, 1, 1, _TAPS).repeat(_PLANES, 1, 1, 1)
    down = window.view(1, 1, _TAPS, 1).repeat(_PLANES, 1, 1, 1)
    weights = torch.tensor(MS_SSIM_WEIGHTS, dtype=torch.float64, device=device)
    values = []
    for level in range(len(MS_SSIM_WEIGHTS)):
        last = level == len(MS_SSIM_WEIGHTS) - 1
        stats = torch.cat([u, v, u * u, v * v], dim=1)
        stats = F.conv2d(F.conv2d(stats, across, groups=_PLANES), down, groups=_PLANES)
        mu_u, mu_v, gu2, gv2 = stats.split(3, dim=1)
        mu_u2, mu_v2 = mu_u * mu_u, mu_v * mu_v
        var_u, var_v = gu2 - mu_u2, gv2 - mu_v2
        cs = (var_u - var_v + 2 * C2) / (var_u + var_v + 2 * C2)
        if last:
            luminance = (mu_u2 - mu_v2 + 2 * C1) / (mu_u2 + mu_v2 + 2 * C1)
            values.append((cs * luminance).mean(dim=(0, 2, 3)))
        else:
            values.append(cs.mean(dim=(0, 2, 3)))
            padding = [u.shape[2] % 2, u.shape[3] % 2]
            u = F.avg_pool2d(u, kernel_size=2, padding=padding)
            v = F.avg_pool2d(v, kernel_size=2, padding=padding)
    stacked = torch.relu(torch.stack(values))  # (levels, channels)
    return torch.prod(stacked ** weights.view(-1, 1), dim=0).mean()


def _check_pair(original: np.ndarray, reconstruction: np.ndarray) -> None:
    if original.shape != reconstruction.shape:
        raise ValueError(f"reconstruction shape {reconstruction.shape} differs from original {original.shape}")
    if original.dtype != np.uint8 or reconstruction.dtype != np.uint8:
        raise ValueError("metrics take uint8 images (round a model's output to uint8 first)")
