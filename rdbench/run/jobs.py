"""A job (one codec configuration x quality x image) and the function that runs it.

``run_job`` is what every executor calls, in-process or in a worker: it never raises for a
codec's failure; it returns a failed :class:`~rdbench.store.record.Record` carrying the one-line error
(and the traceback's last lines in ``extra``), so one bad image never stops a run. Running out
of memory (``MemoryError``, torch's CPU or CUDA out-of-memory errors) is named as such in that
error ("out of memory: ..."), so ``rdbench results --failed`` tells it apart from a codec bug.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from rdbench.codecs.base import Codec, CodecConfig, CodecContext, parse_quality
from rdbench.store.record import STATUS_FAILED, STATUS_OK, Record


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

    @property
    def key(self) -> tuple[str, ...]:
        """The identity of the record this job makes (:attr:`rdbench.store.record.Record.key`)."""
        return (self.config.name, self.config.config_hash, self.quality, self.dataset, self.image_name,
                self.image_hash, self.weights, self.context.device)

    def new_record(self) -> Record:
        """An empty record carrying this job's identity; every record of the job starts here."""
        return Record(codec=self.config.name, config_hash=self.config.config_hash, quality=self.quality,
                      dataset=self.dataset, image=self.image_name, image_hash=self.image_hash,
                      weights=self.weights, device=self.context.device)

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
    from rdbench.data.images import load_image
    from rdbench.run.measure import keep_bitstream, measure

    record = job.new_record()
    try:
        image = load_image(job.image_path)
        record.height, record.width = image.shape[:2]
        codec = get_codec(job.config, job.context)
        record.codec_library, record.codec_version = codec.library()
        result = measure(codec, image, parse_quality(job.quality))
    except Exception as exc:  # noqa: BLE001 - every codec failure is data, not a crash
        record.status = STATUS_FAILED
        record.error = describe_failure(exc)
        record.extra = {"traceback": traceback.format_exc(limit=-4)[-2000:]}
    else:
        record.status = STATUS_OK
        for name in ("num_bytes", "bpp", "mse", "psnr", "ms_ssim", "ms_ssim_db", "encode_s", "decode_s", "peak_mem_bytes"):
            setattr(record, name, getattr(result, name))
        record.extra = result.notes
        if job.weights_path:
            record.extra["weights_path"] = job.weights_path
        if job.keep_bitstreams:
            # one file per record: the path holds the record's whole identity (measure.bitstream_path)
            record.extra["bitstream"] = str(keep_bitstream(Path(job.keep_bitstreams), record, result.bitstream))
    record.created_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    return record
