"""Time, memory and FLOPs of a codec against image resolution, and their scaling exponents.

The study behind it: MLIC and MLIC+ compute explicit softmax attention maps between latent
positions (quadratic in the pixel count); MLIC++ decomposes the softmax (linear). So FLOPs per
pixel should stay flat with resolution for MLIC++ and grow for MLIC/MLIC+, and peak memory
should scale with exponent ~1 for MLIC++ and >1 for the others once the attention maps
dominate (at the larger sizes).

How each point is measured (one codec configuration, one quality, one square size):

* **Fresh worker process per point** (``multiprocessing`` spawn): on CPU the peak resident
  memory of a process never goes down, so measuring size 2048 after 256 in one process would
  say nothing about 256, and the allocator's retained memory would blur every later point.
* **Peak memory**: on CPU the rise of the resident-set high-water mark above the RSS before
  the block (:class:`rdbench.run.measure.PeakRSS`), for encode+decode (``peak_mem_bytes``) and for
  the model forward (``forward_peak_mem_bytes``). On GPU ``torch.cuda.max_memory_allocated``
  above the memory allocated before the block. The first encode/decode/forward is this
  memory pass; it is also the warm-up.
* **Times**: median of ``repeat`` runs after that warm-up, each followed by
  ``codec.synchronize()``.
* **FLOPs**: PyTorch's ``FlopCounterMode`` over one model forward, run on the ``meta`` device
  (shapes only: deterministic, free of machine noise, possible at sizes that do not fit in
  memory, so an out-of-memory point still gets its FLOPs); falls back to a real forward when
  the model cannot run on ``meta``. Only matrix products and convolutions are counted.
  compressai >= 1.2.7's ``EntropyBottleneck.forward`` unpacks a tensor into ``permute``, which
  needs real values, so on ``meta`` each entropy bottleneck is replaced by the identity for the
  count: its own FLOPs (small per-channel matrices on the 1/256-size hyper-latent) are left out.
* **Out of memory** at a size is recorded with status ``oom`` (a worker killed by the kernel
  counts as that too) and the sweep goes on.

Codecs expose their torch model through two optional methods: ``torch_model(quality)``
(the ``nn.Module``) and ``forward_input(image)`` (the tensor its ``forward`` takes). Codecs
without them (classical ones) get time and memory only.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import statistics
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from rdbench.codecs.base import Codec, CodecConfig, CodecContext, Quality, format_quality
from rdbench.run.measure import PeakRSS

STATUS_OK, STATUS_OOM, STATUS_FAILED = "ok", "oom", "failed"
SYNTHETIC = "synthetic"

#: Measures whose scaling exponent is fitted (``flops_per_pixel`` is ``flops`` minus one).
MEASURES = ("encode_s", "decode_s", "forward_s", "peak_mem_bytes", "forward_peak_mem_bytes", "flops")


@dataclass
class ComplexityPoint:
    codec: str
    config_hash: str
    quality: str
    device: str
    machine: str
    height: int
    width: int
    pixels: int
    image: str = SYNTHETIC
    repeat: int | None = None
    encode_s: float | None = None
    decode_s: float | None = None
    forward_s: float | None = None
    peak_mem_bytes: int | None = None
    forward_peak_mem_bytes: int | None = None
    flops: float | None = None
    num_bytes: int | None = None
    bpp: float | None = None
    status: str = STATUS_OK
    error: str | None = None
    gpu: str | None = None
    rdbench_version: str | None = None
    created_at: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def flops_per_pixel(self) -> float | None:
        return None if self.flops is None else self.flops / self.pixels

    def to_json(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["flops_per_pixel"] = self.flops_per_pixel
        return out


POINT_FIELDS = [f.name for f in dataclasses.fields(ComplexityPoint)]


# -- inputs ----------------------------------------------------------------------------------


def synthetic_image(size: int, seed: int = 0) -> np.ndarray:
    """A deterministic natural-looking (smooth + texture) square test image.

    Neither flat (trivial for every codec) nor white noise (incompressible): a few random
    low-frequency waves per channel plus mild noise.
    """
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64) / size
    channels = []
    for _ in range(3):
        wave = np.zeros((size, size))
        for _ in range(6):
            fx, fy, phase = rng.uniform(0.5, 8.0), rng.uniform(0.5, 8.0), rng.uniform(0, 2 * np.pi)
            wave += np.sin(2 * np.pi * (fx * xx + fy * yy) + phase)
        channels.append(wave / 6.0)
    image = 127.5 + 90.0 * np.stack(channels, axis=-1) + rng.normal(0, 6.0, (size, size, 3))
    return np.clip(image, 0, 255).astype(np.uint8)


def resized_image(path: str | Path, size: int) -> np.ndarray:
    """The centre square of an image file, resized (Lanczos) to ``size`` x ``size``."""
    from PIL import Image

    from rdbench.data.images import load_image

    array = load_image(path)
    h, w = array.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    square = Image.fromarray(array[top:top + side, left:left + side])
    return np.asarray(square.resize((size, size), Image.Resampling.LANCZOS)).copy()


# -- measuring one point ---------------------------------------------------------------------


def _is_oom(exc: BaseException) -> bool:
    if isinstance(exc, MemoryError):
        return True
    try:
        import torch

        if isinstance(exc, torch.cuda.OutOfMemoryError):
            return True
    except ImportError:
        pass
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and ("out of memory" in text or "not enough memory" in text
                                               or "can't allocate memory" in text)


def _libc() -> Any:
    import ctypes
    import ctypes.util

    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None


def _release_freed_memory() -> None:
    """Hand memory that was freed back to the OS (glibc ``malloc_trim``), so the resident set
    reflects live memory and the next block's peak is its own, not a leftover of the last one."""
    libc = _libc()
    if libc is not None and hasattr(libc, "malloc_trim"):
        libc.malloc_trim(0)


def _fixed_mmap_threshold(threshold: int = 1 << 20) -> None:
    """Serve every allocation above ``threshold`` bytes by its own mmap, returned on free.

    glibc otherwise raises its mmap threshold after large frees and keeps later tensors on the
    heap, where freed memory stays resident: the second block measured would show ~0 rise.
    Called once in each fresh worker (M_MMAP_THRESHOLD = -3 in glibc's mallopt).
    """
    libc = _libc()
    if libc is not None and hasattr(libc, "mallopt"):
        libc.mallopt(-3, threshold)


class _DeviceMemory:
    """Peak memory over a block: CUDA allocator peak on GPU, resident-set rise on CPU."""

    def __init__(self, device: str) -> None:
        self.cuda = device.startswith("cuda")
        self.device = device
        self.peak: int | None = None

    def __enter__(self) -> "_DeviceMemory":
        if self.cuda:
            import torch

            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self.start = torch.cuda.memory_allocated(self.device)
        else:
            _release_freed_memory()
            self.rss = PeakRSS().__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.cuda:
            import torch

            torch.cuda.synchronize(self.device)
            self.peak = torch.cuda.max_memory_allocated(self.device) - self.start
        else:
            self.rss.__exit__(*exc)
            self.peak = self.rss.peak


def _median_time(run: Callable[[], Any], synchronize: Callable[[], None], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _bypass_entropy_bottlenecks(model: Any) -> None:
    """Make every compressai ``EntropyBottleneck`` of a meta-device copy an identity (see above)."""
    import torch

    try:
        from compressai.entropy_models import EntropyBottleneck
    except ImportError:
        return
    for module in model.modules():
        if isinstance(module, EntropyBottleneck):
            module.forward = lambda x, training=None: (x, torch.ones_like(x))


def count_flops(model: Any, inputs: Any) -> tuple[float, str]:
    """FLOPs of ``model(inputs)``: (count, "meta" or "device"), see the module docstring."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    try:
        meta_model = copy.deepcopy(model).to("meta")
        _bypass_entropy_bottlenecks(meta_model)
        meta_input = torch.empty(inputs.shape, dtype=inputs.dtype, device="meta")
        with torch.no_grad(), counter:
            meta_model(meta_input)
        return float(counter.get_total_flops()), "meta"
    except Exception:  # some ops have no meta kernel: count a real forward instead
        counter = FlopCounterMode(display=False)
        with torch.no_grad(), counter:
            model(inputs)
        return float(counter.get_total_flops()), "device"


def measure_point(config: CodecConfig, context: CodecContext, quality: Quality, size: int, repeat: int = 3,
                  image_path: str | None = None, flops_only: bool = False,
                  forward_only: bool = False) -> ComplexityPoint:
    """Measure one point in the current process (the CLI calls it in a fresh worker).

    ``flops_only`` counts FLOPs and nothing else; ``forward_only`` skips encode/decode (the
    model forward alone reaches larger sizes in the time a sweep has).
    """
    from rdbench.codecs.registry import load_adapter
    from rdbench.run.environment import cpu_name, gpu_name, rdbench_version

    point = ComplexityPoint(
        codec=config.name, config_hash=config.config_hash, quality=format_quality(quality),
        device=context.device, machine=cpu_name(), height=size, width=size, pixels=size * size,
        image=Path(image_path).name if image_path else SYNTHETIC, repeat=repeat, gpu=gpu_name(context.device),
        rdbench_version=rdbench_version(), created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )
    codec: Codec | None = None
    try:
        image = resized_image(image_path, size) if image_path else synthetic_image(size)
        codec = load_adapter(config.adapter)(config, context)
        codec.prepare(quality)
        model = codec.torch_model(quality) if hasattr(codec, "torch_model") else None
        inputs = codec.forward_input(image) if model is not None and hasattr(codec, "forward_input") else None
        if model is not None and inputs is not None:
            point.flops, point.extra["flops_method"] = count_flops(model, inputs)
        if flops_only:
            point.extra["flops_only"] = True
            return point
        if forward_only and model is None:
            raise ValueError(f"{config.name} is not a torch model: --forward-only has nothing to run")
        if forward_only:
            point.extra["forward_only"] = True
        else:
            _measure_coding(codec, image, quality, repeat, point)
        if model is not None and inputs is not None:
            import torch

            with torch.no_grad():
                with _DeviceMemory(context.device) as memory:  # memory pass = warm-up
                    model(inputs)
                    codec.synchronize()
                point.forward_peak_mem_bytes = memory.peak
                point.forward_s = _median_time(lambda: model(inputs), codec.synchronize, repeat)
    except Exception as exc:  # recorded, never fatal: the sweep goes on
        point.status = STATUS_OOM if _is_oom(exc) else STATUS_FAILED
        point.error = f"{type(exc).__name__}: {' '.join(str(exc).split())}"[:500]
    finally:
        if codec is not None:
            codec.close()
        if context.device.startswith("cuda"):  # give an out-of-memory size's cache back for the next point
            import torch

            torch.cuda.empty_cache()
    return point


def _measure_coding(codec: Codec, image: np.ndarray, quality: Quality, repeat: int, point: ComplexityPoint) -> None:
    """Peak memory over one encode+decode (also the warm-up), then median encode/decode times."""
    with _DeviceMemory(point.device) as memory:
        data = codec.encode(image, quality)
        codec.synchronize()
        codec.decode(data, quality)
        codec.synchronize()
    point.peak_mem_bytes = memory.peak
    point.num_bytes = len(data)
    point.bpp = 8.0 * len(data) / point.pixels
    point.encode_s = _median_time(lambda: codec.encode(image, quality), codec.synchronize, repeat)
    point.decode_s = _median_time(lambda: codec.decode(data, quality), codec.synchronize, repeat)


def _worker(args: tuple) -> dict[str, Any]:
    config, context, quality, size, repeat, image_path, flops_only, *rest = args
    forward_only = bool(rest and rest[0])
    _fixed_mmap_threshold()
    if context.threads:
        import torch

        torch.set_num_threads(context.threads)
    return dataclasses.asdict(measure_point(config, context, quality, size, repeat, image_path, flops_only,
                                            forward_only))


def measure_point_fresh(config: CodecConfig, context: CodecContext, quality: Quality, size: int, repeat: int = 3,
                        image_path: str | None = None, flops_only: bool = False,
                        forward_only: bool = False) -> ComplexityPoint:
    """:func:`measure_point` in a fresh spawned process; a killed worker is recorded as ``oom``."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    args = (config, context, quality, size, repeat, image_path, flops_only, forward_only)
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        try:
            return ComplexityPoint(**pool.submit(_worker, args).result())
        except BrokenProcessPool:
            from rdbench.run.environment import cpu_name

            return ComplexityPoint(
                codec=config.name, config_hash=config.config_hash, quality=format_quality(quality),
                device=context.device, machine=cpu_name(), height=size, width=size, pixels=size * size,
                image=Path(image_path).name if image_path else SYNTHETIC, repeat=repeat, status=STATUS_OOM,
                error="worker process was killed (out of memory: the kernel's OOM killer)",
                created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            )


# -- scaling exponents -----------------------------------------------------------------------


def fit_exponent(pixels: Sequence[float], values: Sequence[float]) -> float | None:
    """Least-squares slope of log(value) against log(pixels); None with fewer than 2 usable points."""
    pairs = [(p, v) for p, v in zip(pixels, values) if p and v is not None and v > 0]
    if len({p for p, _ in pairs}) < 2:
        return None
    x = np.log([p for p, _ in pairs])
    y = np.log([v for _, v in pairs])
    return float(np.polyfit(x, y, 1)[0])


def scaling_exponents(points: Iterable[ComplexityPoint], min_pixels: int | None = None) -> list[dict[str, Any]]:
    """One row per (codec, device): the exponent of each measure against pixel count.

    Fitted over the larger sizes: those with at least ``min_pixels`` pixels, by default the
    upper half of the sizes measured (the smallest sizes are dominated by fixed costs).
    ``flops_per_pixel`` is the FLOPs exponent minus 1 (0 = constant per pixel); ``fpp_growth``
    is the FLOPs-per-pixel ratio of the largest to the smallest size.
    """
    groups: dict[tuple[str, str], list[ComplexityPoint]] = {}
    for point in points:
        groups.setdefault((point.codec, point.device), []).append(point)
    rows = []
    for (codec, device), group in sorted(groups.items()):
        sizes = sorted({p.pixels for p in group})
        threshold = min_pixels if min_pixels is not None else sizes[(len(sizes) - 1) // 2] if sizes else 0
        row: dict[str, Any] = {"codec": codec, "device": device}
        fitted = [p for p in group if p.pixels >= threshold]
        row["fit_sizes"] = ",".join(str(s) for s in sorted({p.width for p in fitted}))
        for measure in MEASURES:
            row[measure] = fit_exponent([p.pixels for p in fitted], [getattr(p, measure) for p in fitted])
        row["flops_per_pixel"] = None if row["flops"] is None else row["flops"] - 1.0
        with_flops = sorted((p for p in group if p.flops), key=lambda p: p.pixels)
        row["fpp_growth"] = (with_flops[-1].flops_per_pixel / with_flops[0].flops_per_pixel
                             if len(with_flops) >= 2 else None)
        rows.append(row)
    return rows


# -- storage ---------------------------------------------------------------------------------


def store_points(store: Any, points: Iterable[ComplexityPoint]) -> None:
    """Insert or update points in the ``complexity`` table of a :class:`rdbench.store.sqlite.Store`."""
    columns = ", ".join(POINT_FIELDS)
    placeholders = ", ".join(f":{c}" for c in POINT_FIELDS)
    # a successful partial run (--forward-only) fills its measures into the stored point and
    # keeps the others; any other rerun replaces the point
    merged = set(MEASURES) | {"num_bytes", "bpp"}
    updates = ", ".join(
        f"{c} = CASE WHEN excluded.status = 'ok' THEN COALESCE(excluded.{c}, {c}) ELSE excluded.{c} END"
        if c in merged else f"{c} = excluded.{c}" for c in POINT_FIELDS)
    with store.conn:
        store.conn.execute("BEGIN IMMEDIATE")
        for point in points:
            row = dataclasses.asdict(point)
            row["extra"] = json.dumps(point.extra, sort_keys=True, default=str)
            store.conn.execute(
                f"INSERT INTO complexity ({columns}) VALUES ({placeholders}) ON CONFLICT "
                f"(codec, config_hash, quality, device, machine, height, width, image) DO UPDATE SET {updates}", row)


def load_points(store: Any, codecs: Iterable[str] | None = None, device: str | None = None) -> list[ComplexityPoint]:
    """Stored points, ordered by codec, device and size."""
    clauses, params = [], []
    if codecs:
        codecs = list(codecs)
        clauses.append(f"codec IN ({', '.join('?' * len(codecs))})")
        params += codecs
    if device:
        clauses.append("device = ?")
        params.append(device)
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    rows = store.conn.execute(f"SELECT * FROM complexity {where} ORDER BY codec, device, pixels, id", params)
    points = []
    for r in rows:
        data = {name: r[name] for name in POINT_FIELDS}
        data["extra"] = json.loads(data["extra"] or "{}")
        points.append(ComplexityPoint(**data))
    return points


# -- plotting --------------------------------------------------------------------------------


def plot_complexity(points: Sequence[ComplexityPoint], path: str | Path) -> Path:
    """Encode/decode/forward time, peak memory and FLOPs/pixel against image side, one line per codec.

    Log-log axes for time and memory (a straight line's slope against pixels is the scaling
    exponent); FLOPs/pixel on a linear axis, where a linear-complexity model is a flat line.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups: dict[tuple[str, str], list[ComplexityPoint]] = {}
    for point in points:
        groups.setdefault((point.codec, point.device), []).append(point)
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    panels = [
        (axes[0], "time (s)", [("encode_s", "-", "enc"), ("decode_s", "--", "dec"), ("forward_s", ":", "fwd")], 1.0),
        (axes[1], "peak memory (MiB)", [("peak_mem_bytes", "-", "enc+dec"), ("forward_peak_mem_bytes", ":", "fwd")],
         1 / 2 ** 20),
    ]
    for index, ((codec, device), group) in enumerate(sorted(groups.items())):
        color = f"C{index % 10}"
        group = sorted(group, key=lambda p: p.pixels)
        label = codec if len({d for _, d in groups}) == 1 else f"{codec} ({device})"
        for ax, _, series, scale in panels:
            for attr, style, what in series:
                pts = [(p.width, getattr(p, attr) * scale) for p in group if getattr(p, attr) is not None]
                if pts:
                    ax.plot(*zip(*pts), style, marker="o", color=color, label=f"{label} {what}")
        fpp = [(p.width, p.flops_per_pixel / 1e3) for p in group if p.flops is not None]
        if fpp:
            axes[2].plot(*zip(*fpp), "-", marker="o", color=color, label=label)
        for p in group:
            if p.status == STATUS_OOM:
                axes[1].axvline(p.width, color=color, alpha=0.3, linestyle=":")
    for ax, ylabel, _, _ in panels:
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_ylabel(ylabel)
    axes[2].set_xscale("log", base=2)
    axes[2].set_ylabel("kFLOPs / pixel (forward)")
    if axes[2].lines:  # from zero: a few percent of growth must not look like a cliff
        axes[2].set_ylim(0, 1.1 * max(max(line.get_ydata()) for line in axes[2].lines))
    for ax in axes:
        if not ax.lines:  # e.g. FLOPs-only points: no empty panels
            ax.set_visible(False)
            continue
        ax.set_xlabel("image side (px, square)")
        ax.grid(True, which="both", alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def point_rows(points: Iterable[ComplexityPoint]) -> list[dict[str, Any]]:
    """Flat rows for :func:`rdbench.cli.formatting.render` (JSON keeps every field)."""
    rows = []
    for p in points:
        row = p.to_json()
        row["size"] = f"{p.width}x{p.height}"
        for name in ("encode", "decode", "forward"):
            seconds = getattr(p, f"{name}_s")
            row[f"{name}_ms"] = None if seconds is None else seconds * 1e3
        row["peak_mem_mib"] = None if p.peak_mem_bytes is None else p.peak_mem_bytes / 2 ** 20
        row["fwd_mem_mib"] = None if p.forward_peak_mem_bytes is None else p.forward_peak_mem_bytes / 2 ** 20
        row["kflops_per_px"] = None if p.flops is None else p.flops / p.pixels / 1e3
        rows.append(row)
    return rows


__all__ = ["ComplexityPoint", "MEASURES", "count_flops", "fit_exponent", "load_points", "measure_point",
           "measure_point_fresh", "plot_complexity", "point_rows", "scaling_exponents", "store_points",
           "synthetic_image", "resized_image"]
