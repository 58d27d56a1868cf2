"""Measuring one codec on one image at one quality: encode -> bytes -> decode -> metrics.

Timing: ``time.perf_counter`` around ``encode`` and around ``decode`` separately, each followed
by ``codec.synchronize()`` (a no-op on CPU, ``torch.cuda.synchronize`` for GPU adapters), with
the untimed ``prepare(quality)`` (model or checkpoint loading) done before. Every image starts
alike: memory freed earlier is handed back to the OS before encoding (for the peak memory,
below), so the times include the codec's first touch of the memory it uses, whichever image of
a process it is (measured, ``bench/bench_harness.py`` and ``bench/bench_vs_compressai.py``: under
0.1 ms per 768x512 JPEG; +12-20 % on the encode and decode times of mbt2018-mean on the CPU,
whose medium-size tensors a warm loop would reuse without faulting them in). A run started with
``--no-peak-memory`` (``CodecContext.peak_memory``) skips both, for warm-loop timings as
CompressAI's ``eval_model`` measures them, and stores no CPU peak memory. The set-up
(``prepare`` and what comes before it) is outside ``--timeout`` too (:func:`coding_start_hook`).

Peak memory (``peak_mem_bytes``, :class:`PeakRSS`): the peak of this process's resident memory
during encode + decode, minus its resident memory just before encoding, with memory freed
earlier handed back to the OS first, so it is this image's own encode + decode peak (see
:class:`PeakRSS` for how and why). It counts this process only: the external tools (VTM,
x265, avifenc, cjxl) run as child processes and their memory is not in it. Codecs on CUDA add
``extra["gpu_peak_mem_bytes"]`` (:class:`DevicePeak`: the CUDA allocator's peak above what was
allocated before encoding, on the encoding and decoding devices). Where it cannot be
measured (no ``/proc/self/clear_refs``, a kernel that ignores it, another job measured in this
process at the same time) the value is None, with the reason in ``extra["peak_mem_bytes"]``,
never a misleading number.

Metrics: :func:`rdbench.run.metrics.dispatch.distortion` on the reconstruction as the codec returns it
(:meth:`~rdbench.codecs.base.Codec.decode_pixels`): a numpy array on the CPU, or a CUDA tensor
measured on its device; after the timed and memory-measured block. Then every plug-in metric
(:func:`rdbench.metric_spec.plugins`) on the original and the reconstruction as uint8 numpy arrays.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import hashlib
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rdbench import metric_spec
from rdbench.codecs.base import Codec, Quality
from rdbench.data.images import check_rgb8
from rdbench.run.metrics import formulas
from rdbench.run.metrics.dispatch import distortion
from rdbench.store.record import Record


def _read_status_kib(*fields: str) -> dict[str, int]:
    """Fields of ``/proc/self/status`` in bytes (e.g. ``VmRSS``, ``VmHWM``), read at one instant;
    empty where there is no such file."""
    found = {}
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                name, _, value = line.partition(":")
                if name in fields:
                    found[name] = int(value.split()[0]) * 1024
    except OSError:
        return {}
    return found


@functools.cache
def libc() -> ctypes.CDLL | None:
    """The C library (for glibc's allocator controls), or None where it cannot be loaded."""
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None


@functools.cache
def fixed_mmap_threshold(threshold: int = 1 << 20) -> None:
    """Serve every allocation above ``threshold`` bytes by its own mmap, returned on free; set once
    per process, before its first measured block.

    glibc otherwise raises its mmap threshold after large frees (up to 32 MiB) and keeps later
    buffers on the heap, where ``malloc_trim`` cannot always return them (a fragmented heap of a
    long-lived process): a 24 MiB buffer then raised the resident set by nothing (M_MMAP_THRESHOLD
    is -3 in glibc's mallopt).
    """
    c = libc()
    if c is not None and hasattr(c, "mallopt"):
        c.mallopt(-3, threshold)


def release_freed_memory() -> None:
    """Hand memory that was freed back to the OS (glibc ``malloc_trim``), so that the resident set
    holds live memory only and the next block has to fault in every page it uses."""
    c = libc()
    if c is not None and hasattr(c, "malloc_trim"):
        c.malloc_trim(0)


#: Resident memory a reset high-water mark may exceed the resident set by, just after the reset,
#: before the reset is taken to have failed (a kernel that accepts the write but ignores it).
_RESET_SLACK = 1 << 20

#: The :class:`PeakRSS` blocks running now in this process (other threads included).
_ACTIVE: set[PeakRSS] = set()
_ACTIVE_LOCK = threading.Lock()


class PeakRSS:
    """Peak resident memory of this process over a block, above its resident memory at the start.

    ``peak`` is ``VmHWM`` after the block minus ``VmRSS`` at its start, with, before the block:

    1. freed memory handed back to the OS (:func:`release_freed_memory`). Why: glibc keeps freed
       heap memory resident and serves later allocations from it, so from a process's second
       image on, a codec reusing the first image's memory raised the resident set by nothing and
       ``peak_mem_bytes`` read 0 (measured: 0 for 5 of 6 JPEG records on Kodak in one process,
       and for every image after the first two with a 24 MiB buffer). After the trim every page
       the block uses is faulted in and counted. Costs: the trim itself (untimed), and the
       block's first touch of those pages (page faults), which is in the timings, as it is for a
       process's first image anyway.
    2. the high-water mark reset to the current resident set (``/proc/self/clear_refs`` = 5,
       Linux >= 4.0), and the reset checked: ``VmHWM`` must then be within
       :data:`_RESET_SLACK` of ``VmRSS``; a kernel that accepts the write and ignores it would
       otherwise report the process's lifetime peak.

    Accuracy: that of the kernel's resident-set counters, which Linux keeps per CPU and sums
    lazily (a 200 MiB buffer reads as 200 MiB minus about 130 KiB on a 2-CPU machine).

    ``peak`` is None, with the reason in ``note``, where that cannot be done, and when another
    :class:`PeakRSS` block overlapped this one in the process (threads of a Dask worker): the
    resident set is shared, so neither peak would be the job's own.
    """

    def __init__(self) -> None:
        self.peak: int | None = None
        self.note: str | None = None
        self.start: int | None = None
        self.overlapped = False

    def __enter__(self) -> PeakRSS:
        with _ACTIVE_LOCK:
            _ACTIVE.add(self)
            if len(_ACTIVE) > 1:
                for block in _ACTIVE:
                    block.overlapped = True
        fixed_mmap_threshold()
        release_freed_memory()
        try:
            with open("/proc/self/clear_refs", "w") as fh:
                fh.write("5")
        except OSError as exc:
            self.note = f"not measured: cannot reset the resident-memory high-water mark ({exc.strerror})"
            return self
        status = _read_status_kib("VmRSS", "VmHWM")
        if len(status) < 2:
            self.note = "not measured: /proc/self/status has no VmRSS/VmHWM"
        elif status["VmHWM"] - status["VmRSS"] > _RESET_SLACK:
            self.note = "not measured: this kernel does not reset the resident-memory high-water mark"
        else:
            self.start = status["VmRSS"]
        return self

    def __exit__(self, *exc: object) -> None:
        high = _read_status_kib("VmHWM").get("VmHWM")
        with _ACTIVE_LOCK:
            _ACTIVE.discard(self)
        if self.overlapped:
            self.note = "not measured: another job ran in this process at the same time (shared resident memory)"
        elif self.start is not None and high is not None:
            self.peak = max(0, high - self.start)


@dataclass
class Measurement:
    num_bytes: int
    bpp: float
    mse: float
    psnr: float
    ms_ssim: float | None
    ms_ssim_db: float | None
    encode_s: float
    decode_s: float
    peak_mem_bytes: int | None
    bitstream: bytes
    notes: dict[str, Any]
    #: plug-in metric name -> per-image value, and the version of the implementation that computed it
    metrics: dict[str, float] = field(default_factory=dict)
    metric_versions: dict[str, str] = field(default_factory=dict)


#: Called by :func:`measure` when set-up is over and coding starts (see :func:`coding_start_hook`).
_CODING_STARTS: list[Callable[[], None]] = []


@contextmanager
def coding_start_hook(callback: Callable[[], None]) -> Iterator[None]:
    """Call ``callback`` when :func:`measure` has finished the set-up and starts encoding.

    Why: a job's set-up (loading the image, building the codec, ``prepare(quality)`` loading a
    model) is excluded from the timing, and so it must be from ``--timeout``: building MLIC++
    takes seconds, coding a small image a fraction of one. The supervised worker process
    (:mod:`rdbench.run.executors.worker`) runs each job inside this hook and tells its parent
    when coding starts; the parent's time limit starts then.
    """
    _CODING_STARTS.append(callback)
    try:
        yield
    finally:
        _CODING_STARTS.remove(callback)


class NoPeakRSS:
    """What :func:`measure` uses instead of :class:`PeakRSS` when a run was asked not to measure
    memory (``--no-peak-memory``): nothing is handed back or reset, so timings are those of a
    warm loop; ``peak`` is None and ``note`` says why."""

    peak = None
    note = "not measured: the run was started with --no-peak-memory"

    def __enter__(self) -> NoPeakRSS:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


class DevicePeak:
    """Peak CUDA memory allocated over a block, above what was allocated at its start, summed
    over the CUDA devices ``devices`` names (one, usually; two for ``cuda:0-to-cuda:1``).

    ``peak`` is None when no CUDA device is involved, torch was never imported (a codec that
    uses CUDA has imported it by the time its ``prepare`` returned) or CUDA is not available (a
    codec that only says it runs there); measuring never fails a job.
    """

    def __init__(self, devices: list[str]) -> None:
        self.devices = sorted({d for d in devices if str(d).startswith("cuda")})
        self.peak: int | None = None
        self.start: dict[str, int] = {}

    def _cuda(self):
        torch = sys.modules.get("torch") if self.devices else None
        try:
            return torch.cuda if torch is not None and torch.cuda.is_available() else None
        except Exception:  # noqa: BLE001 - a broken CUDA set-up: no figure, not a failed job
            return None

    def __enter__(self) -> DevicePeak:
        cuda = self._cuda()
        if cuda is not None:
            try:
                for device in self.devices:
                    cuda.synchronize(device)
                    cuda.reset_peak_memory_stats(device)
                    self.start[device] = cuda.memory_allocated(device)
            except Exception:  # noqa: BLE001 - as above
                self.start = {}
        return self

    def __exit__(self, *exc: object) -> None:
        cuda = self._cuda()
        if cuda is not None and len(self.start) == len(self.devices):
            try:
                self.peak = sum(max(0, cuda.max_memory_allocated(d) - self.start[d]) for d in self.devices)
            except Exception:  # noqa: BLE001 - as above
                self.peak = None


def codec_devices(codec: Codec) -> list[str]:
    """The devices a codec computes on: its context's device and decode device."""
    context = codec.context
    return [d for d in (context.device, context.decode_device) if d]


def check_reconstruction(reconstruction: Any, image: np.ndarray, name: str) -> Any:
    """``reconstruction`` as :func:`measure` takes it: an (H, W, 3) uint8 numpy array of the
    original's size, or such a torch tensor (a CPU tensor becomes a numpy view)."""
    height, width = image.shape[:2]
    if not isinstance(reconstruction, np.ndarray) and hasattr(reconstruction, "detach"):
        shape, dtype = tuple(reconstruction.shape), str(reconstruction.dtype)
        if dtype != "torch.uint8" or len(shape) != 3 or shape[2] != 3:
            raise ValueError(f"{name}.decode_pixels returned a {dtype} tensor of shape {shape}; expected "
                             "(H, W, 3) torch.uint8")
        if reconstruction.device.type == "cpu":
            reconstruction = reconstruction.detach().numpy()
    else:
        check_rgb8(reconstruction, f"{name}.decode output")
    if tuple(reconstruction.shape) != image.shape:
        raise ValueError(f"{name} decoded {reconstruction.shape[1]}x{reconstruction.shape[0]} "
                         f"for a {width}x{height} image")
    return reconstruction


def measure(codec: Codec, image: np.ndarray, quality: Quality,
            requested: Sequence[metric_spec.Metric] = ()) -> Measurement:
    """Encode and decode ``image`` once with ``codec`` and compute every metric: the built-ins, every
    plug-in measured always, and the on-request metrics of ``requested`` (``run --metrics``).

    The reconstruction is measured where the codec made it (:meth:`Codec.decode_pixels`): a
    device codec's stays on its GPU, where :func:`rdbench.run.metrics.dispatch.distortion` computes
    MSE and MS-SSIM, so ``decode_s`` does not include copying it to the host. Raises whatever
    the codec raises; the runner turns that into a failed record.
    """
    codec.prepare(quality)
    codec.notes = {}
    for callback in _CODING_STARTS:  # set-up is over: a time limit starts here
        callback()
    height, width = image.shape[:2]
    rss = PeakRSS() if getattr(codec.context, "peak_memory", True) else NoPeakRSS()
    with rss, DevicePeak(codec_devices(codec)) as device_peak:
        start = time.perf_counter()
        data = codec.encode(image, quality)
        codec.synchronize()
        encode_s = time.perf_counter() - start
        if not isinstance(data, (bytes, bytearray)):
            raise TypeError(f"{codec.name}.encode returned {type(data).__name__}, expected bytes")
        data = bytes(data)
        start = time.perf_counter()
        reconstruction = codec.decode_pixels(data, quality)
        codec.synchronize()
        decode_s = time.perf_counter() - start
    reconstruction = check_reconstruction(reconstruction, image, codec.name)
    mse, ms_ssim = distortion(image, reconstruction)
    notes = dict(codec.notes)
    if rss.note:
        notes["peak_mem_bytes"] = rss.note
    if device_peak.peak is not None:
        notes["gpu_peak_mem_bytes"] = device_peak.peak
    if ms_ssim is None:
        notes[metric_spec.MS_SSIM.field] = f"image smaller than {formulas.MS_SSIM_MIN_SIDE} px on a side: MS-SSIM undefined"
    values, versions = plugin_metrics(image, reconstruction, notes, requested)
    return Measurement(
        num_bytes=len(data),
        bpp=formulas.bpp(len(data), height, width),
        mse=mse,
        psnr=formulas.psnr_from_mse(mse),
        ms_ssim=ms_ssim,
        ms_ssim_db=formulas.ms_ssim_db(ms_ssim),
        encode_s=encode_s,
        decode_s=decode_s,
        peak_mem_bytes=rss.peak,
        bitstream=data,
        notes=notes,
        metrics=values,
        metric_versions=versions,
    )


def plugin_metrics(image: np.ndarray, reconstruction: Any, notes: dict[str, Any],
                   requested: Sequence[metric_spec.Metric] = ()) -> tuple[dict[str, float], dict[str, str]]:
    """The values of every plug-in metric measured always and of the ``requested`` ones (built-ins
    among them are skipped: they are the record's own columns), and each one's version
    (:func:`metric_values`)."""
    chosen = {m.name: m for m in (*metric_spec.plugins(), *requested) if not m.builtin}
    return metric_values(image, reconstruction, list(chosen.values()), notes)


def metric_values(image: np.ndarray, reconstruction: Any, metrics: Sequence[metric_spec.Metric],
                  notes: dict[str, Any]) -> tuple[dict[str, float], dict[str, str]]:
    """Each of ``metrics``' value on ``image`` and its reconstruction (a numpy array or a torch
    tensor: a metric declared ``device`` computes on the tensor's device, any other gets it copied
    to the host, once), and each one's version; a
    metric the image is too small for gets no value and a note in ``notes`` saying so. What a run
    and a rescore (:mod:`rdbench.run.rescore`) both compute."""
    if not metrics:
        return {}, {}
    host = reconstruction if isinstance(reconstruction, np.ndarray) else None
    values, versions = {}, {}
    for spec in metrics:
        if min(image.shape[:2]) < spec.min_size:
            notes[spec.name] = f"image smaller than {spec.min_size} px on a side: {spec.label or spec.name} undefined"
            continue
        if host is None and not spec.device:
            host = reconstruction.detach().cpu().numpy()
        values[spec.name] = float(spec.load()(image, reconstruction if spec.device else host))
        versions[spec.name] = spec.version
    return values, versions


def bitstream_path(folder: str | Path, record: Record) -> Path:
    """Where ``--keep-bitstreams FOLDER`` keeps the bitstream of ``record``: one file per record.

    ``FOLDER/<dataset>/<codec>-<config hash>[-w<weights>][-<device>]/<quality>/<image file name>.<image hash>.bin``
    (``<weights>``: first 8 hex of the SHA-256 of the record's weights identity, only for codecs
    with weights; ``<device>`` only when not ``cpu``; ``<image hash>``: first 8 hex of the image's
    SHA-256). Every part of a record's identity is in the path, so no two records share a file:
    not ``x.png`` and ``x.bmp`` of one folder (the full file name), not two datasets, two
    configurations, two checkpoints or two devices, not an image edited in place and measured
    again. The record's ``extra["bitstream"]`` holds the absolute path; read files through it.
    """
    parts = [record.dataset, f"{record.codec}-{record.config_hash}", record.quality,
             f"{record.image}.{record.image_hash[:8]}.bin"]
    weights = getattr(record, "weights", "")
    if weights:
        parts[1] += "-w" + hashlib.sha256(weights.encode()).hexdigest()[:8]
    if record.device and record.device != "cpu":
        parts[1] += "-" + record.device.replace(":", "")
    for part in parts:
        if not part or part in (".", "..") or "/" in part or os.sep in part or "\0" in part:
            raise ValueError(f"cannot keep a bitstream under the path component {part!r}")
    return Path(folder).expanduser().resolve().joinpath(*parts)


def keep_bitstream(folder: str | Path, record: Record, data: bytes) -> Path:
    """Save ``record``'s bitstream at :func:`bitstream_path` (written to a temporary name, then
    renamed, so a file under the final name is always whole) and return that path."""
    target = bitstream_path(folder, record)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    tmp.replace(target)
    return target
