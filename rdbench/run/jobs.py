"""A job (one codec configuration x quality x image) and the function that runs it.

``run_job`` is what every executor calls, in-process or in a worker: it never raises for a
codec's failure; it returns a failed :class:`~rdbench.store.record.Record` carrying the one-line error
(and the traceback's last lines in ``extra``), so one bad image never stops a run. Running out
of memory (``MemoryError``, torch's CPU or CUDA out-of-memory errors) is named as such in that
error ("out of memory: ..."), so ``rdbench results --failed`` tells it apart from a codec bug.
"""

from __future__ import annotations

import hashlib
import os
import traceback
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from rdbench import metric_spec
from rdbench.codecs.base import Codec, CodecConfig, CodecContext, parse_quality
from rdbench.store.record import STATUS_FAILED, STATUS_OK, Record

if TYPE_CHECKING:
    import numpy as np


#: The record fields a measurement fills in: every field of a Measurement the record has (the others are
#: the bitstream and notes).
MEASURED_FIELDS = ("num_bytes", "bpp", "mse", *(m.field for m in metric_spec.BUILTIN.values()),
                   *(m.curve_field for m in metric_spec.BUILTIN.values() if m.curve_field),
                   "encode_s", "decode_s", "peak_mem_bytes", "metrics", "metric_versions")


@dataclass(frozen=True)
class Job:
    config: CodecConfig
    context: CodecContext
    quality: str
    dataset: str
    image_name: str
    image_path: str
    image_hash: str
    keep_bitstreams: str | None = None
    #: The weights' identity and file, as planned (:meth:`rdbench.codecs.base.Codec.weights_identity`).
    weights: str = ""
    weights_path: str | None = None
    #: The identity of the adapter's code (:func:`rdbench.codecs.code_identity.code_identity`), as planned.
    code: str = ""
    #: Re-measure the times of the stored record of this job, keeping its quality figures
    #: (``--retime``, :func:`rdbench.run.execute.retimed`).
    retime: bool = False
    #: Names of the metrics measured on request that this job computes too (``run --metrics``).
    metrics: tuple[str, ...] = ()

    @property
    def key(self) -> tuple[str, ...]:
        """The identity of the record this job makes (:attr:`rdbench.store.record.Record.key`)."""
        return (self.config.name, self.config.config_hash, self.quality, self.dataset, self.image_name,
                self.image_hash, self.weights, self.context.label, self.code)

    def new_record(self) -> Record:
        """An empty record carrying this job's identity; every record of the job starts here.

        Its ``device`` is the context's label: the device, or ``ENCODE-to-DECODE`` for a run
        that decodes elsewhere (:func:`rdbench.codecs.base.device_label`)."""
        return Record(codec=self.config.name, config_hash=self.config.config_hash, quality=self.quality,
                      dataset=self.dataset, image=self.image_name, image_hash=self.image_hash,
                      weights=self.weights, device=self.context.label, code=self.code)

    @property
    def label(self) -> str:
        return f"{self.config.name} q={self.quality} {self.image_name}"


#: Codec instances kept per process, so a model is loaded once per worker, not per image.
_CODECS: dict[tuple[str, str, CodecContext], Codec] = {}


def get_codec(config: CodecConfig, context: CodecContext) -> Codec:
    key = (config.name, config.config_hash, context)
    if key not in _CODECS:
        from rdbench.codecs.registry import load_adapter

        _CODECS[key] = load_adapter(config.adapter)(config, context)
    return _CODECS[key]


#: Decoded images kept per process: a dataset's jobs come image by image for codecs without
#: models (:func:`locality_order`), so a few images serve every quality of each.
_IMAGES: OrderedDict[tuple, np.ndarray] = OrderedDict()
IMAGE_CACHE_ENTRIES = 4
IMAGE_CACHE_BYTES = 512 << 20


def job_image(job: Job) -> np.ndarray:
    """The job's image as a read-only (H, W, 3) uint8 array, decoded once per process for the
    jobs that share it (the file's path, size and modification time must match, so an image
    edited in place is read again). Read-only: a codec must not change its input, and a
    cached image is the input of the next job too."""
    from rdbench.data.images import load_image

    try:
        stat = os.stat(job.image_path)
        key: tuple | None = (job.image_path, job.image_hash, stat.st_size, stat.st_mtime_ns)
    except OSError:
        key = None  # load_image says what is wrong with the path
    if key is not None and key in _IMAGES:
        _IMAGES.move_to_end(key)
        return _IMAGES[key]
    image = load_image(job.image_path)
    image.setflags(write=False)
    if key is not None and image.nbytes <= IMAGE_CACHE_BYTES:
        _IMAGES[key] = image
        while len(_IMAGES) > IMAGE_CACHE_ENTRIES or sum(i.nbytes for i in _IMAGES.values()) > IMAGE_CACHE_BYTES:
            _IMAGES.popitem(last=False)
    return image


def locality_order(jobs: list[Job]) -> list[Job]:
    """The jobs of :func:`job_bundles`, one after the other."""
    return [job for bundle in job_bundles(jobs) for job in bundle]


def job_bundles(jobs: list[Job]) -> list[list[Job]]:
    """``jobs`` in bundles that one process should run one after the other: all the jobs of one
    image of one configuration, for the codecs whose ``prepare(quality)`` costs nothing
    (``Codec.per_quality_setup`` False: the classical and external codecs), so that each image
    is decoded once for all its qualities (:func:`job_image`), as a hand-written loop would; one
    job per bundle, in their order (quality by quality), for the others (learned codecs load a
    model per quality). Bundles come in the order of their first job; order and bundling never
    change what is stored."""
    from rdbench.codecs.registry import load_adapter

    per_quality: dict[str, bool] = {}

    def keeps_models(job: Job) -> bool:
        adapter = job.config.adapter
        if adapter not in per_quality:
            try:
                per_quality[adapter] = bool(getattr(load_adapter(adapter), "per_quality_setup", True))
            except Exception:  # noqa: BLE001 - an adapter that cannot load fails in its job, not here
                per_quality[adapter] = True
        return per_quality[adapter]

    bundles: dict[tuple, list[Job]] = {}
    for index, job in enumerate(jobs):
        config = (job.config.name, job.config.config_hash)
        group = (config, job.image_path) if not keeps_models(job) else (config, job.quality, index)
        bundles.setdefault(group, []).append(job)
    return list(bundles.values())


def one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if not text.startswith(type(exc).__name__) else text


def is_out_of_memory(exc: BaseException) -> bool:
    """MemoryError, torch's (CUDA) OutOfMemoryError, or a RuntimeError saying so: torch's CPU
    allocator ("can't allocate memory" on Linux, "not enough memory" on Windows), older torch
    and other devices ("out of memory"). Runs and complexity sweeps both decide by it."""
    if isinstance(exc, MemoryError) or type(exc).__name__ == "OutOfMemoryError":
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and any(
        s in text for s in ("out of memory", "can't allocate memory", "not enough memory"))


def describe_failure(exc: BaseException) -> str:
    """The record's one-line error; out-of-memory is named as such and the GPU cache is freed."""
    if not is_out_of_memory(exc):
        return one_line(exc)
    _release_gpu_memory()
    text = one_line(exc)
    return text if text.lower().startswith("out of memory") else f"out of memory: {text}"


def _release_gpu_memory() -> None:
    """After a CUDA OOM the caching allocator still holds the failed attempt's blocks: free them
    so the next image starts clean (torch is only consulted if the codec already imported it)."""
    import sys

    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


def run_job(job: Job) -> Record:
    """Measure one job; any exception becomes a failed record."""
    from rdbench.run.conditions import thread_facts
    from rdbench.run.measure import keep_bitstream, measure

    record = job.new_record()
    try:
        image = job_image(job)
        record.height, record.width = image.shape[:2]
        codec = get_codec(job.config, job.context)
        record.codec_library, record.codec_version = codec.library()
        result = measure(codec, image, parse_quality(job.quality), [metric_spec.get(n) for n in job.metrics])
    except Exception as exc:  # noqa: BLE001 - every codec failure is data, not a crash
        record.status = STATUS_FAILED
        record.error = describe_failure(exc)
        record.extra = {"traceback": traceback.format_exc(limit=-4)[-2000:]}
    else:
        record.status = STATUS_OK
        for name in MEASURED_FIELDS:
            setattr(record, name, getattr(result, name))
        record.extra = result.notes
        # what a re-measure (--retime) checks the bitstream against, and the threads the times had
        record.extra["bitstream_sha256"] = hashlib.sha256(result.bitstream).hexdigest()
        record.extra["timing"] = thread_facts(uses_torch=bool(codec.wants_gpu))
        if job.weights_path:
            record.extra["weights_path"] = job.weights_path
        if job.keep_bitstreams:
            # one file per record: the path holds the record's whole identity (measure.bitstream_path)
            record.extra["bitstream"] = str(keep_bitstream(Path(job.keep_bitstreams), record, result.bitstream))
    record.created_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    return record
