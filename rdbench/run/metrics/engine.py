"""MS-SSIM (and the MSE with it) of two uint8 RGB images on the CPU, in float64, fast.

Why an engine of its own: pytorch_msssim, the reference, is several times slower on the CPU and
in float32 carries its own rounding error; this computes its exact definition in float64, with
buffers reused from one image to the next. The derivation (four filtered planes instead of five,
each separable pass a banded matrix product, plane-major strips, why float64) is in
``docs/metrics-engine.md``; its speed in ``bench/results/metrics_cpu.md``.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np
from numpy.lib.stride_tricks import as_strided

from rdbench.run.metrics.blas import single_threaded_blas
from rdbench.run.metrics.formulas import C1, C2, GAUSSIAN_WINDOW, MS_SSIM_WEIGHTS
from rdbench.run.metrics.threads import Counter, get_threads, share

_TAPS = len(GAUSSIAN_WINDOW)
_HALO = _TAPS - 1  # rows (columns) a valid 11-tap convolution loses
_PLANES = 12  # u, v, u², v² for each of the 3 channels
_VBLOCK = 8  # output rows per Toeplitz block of the vertical pass
_HBLOCK = 8  # output columns per Toeplitz block of the horizontal pass
_LANE_BYTES = 4 << 20  # a lane's strip buffer


def measure(original: np.ndarray, reconstruction: np.ndarray) -> tuple[float, float]:
    """(MSE, MS-SSIM) of two (H, W, 3) uint8 images of the same shape, both sides at least
    :data:`rdbench.run.metrics.formulas.MS_SSIM_MIN_SIDE`, on :func:`get_threads` threads."""
    height, width = original.shape[:2]
    return _workspace(height, width).measure(original, reconstruction, get_threads())


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
        share(self._split, a, b, count=self.height, threads=threads)
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
                share(self._pool, uv, self.levels[level], count=6, threads=threads)
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
        take = Counter()  # each thread takes the next strip: balanced when another process holds a core
        share(lambda part, span: self.lanes[part].run(uv, strips, take, sums, last, want_sse),
               count=len(strips), threads=threads)
        total = sums.sum(axis=0)  # in strip order: the same float for any number of threads
        return total[:3] / (out_h * out_w), float(total[3])


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

    def run(self, uv: np.ndarray, strips: list[tuple[int, int]], take: Counter, sums: np.ndarray, last: bool,
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
    machine or with one worker per core, made a pass several times slower.
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
