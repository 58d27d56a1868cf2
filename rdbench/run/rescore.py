"""Adding metrics to stored records without encoding again: decode the kept bitstream, check, measure.

WHY: a metric declared (or asked for with ``--metrics``) after a run has no value in the records
that run stored, and measuring them again with ``--force`` re-encodes every image, replaces the
stored bpp, PSNR and times, and costs what the run cost. A record whose bitstream was kept
(``rdbench run --keep-bitstreams DIR``, its path in ``extra["bitstream"]``) is decoded again
instead, and only the new metrics' values are added (one row each in ``metric_values``, with the
implementation's version); nothing else of the record changes.

A value is added only to the record it belongs to. Each record is checked first, and refused with
the reason when a check fails:

* a bitstream was kept and is still there, with the SHA-256 the run recorded (``bitstream_sha256``);
* its size gives the stored bpp (:func:`rdbench.run.metrics.formulas.bpp`, equal to 1e-12);
* the image has the content it was measured on (the dataset's file has the record's SHA-256);
* the decoded image gives the stored PSNR to :data:`PSNR_TOLERANCE_DB`: the decoder is the one that
  made the record (a changed decoder, or another codec's bitstream, moves PSNR by far more).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rdbench import metric_spec
from rdbench.codecs.base import (
    CROSS_DEVICE,
    Codec,
    CodecConfig,
    CodecContext,
    parse_quality,
)
from rdbench.codecs.registry import load_adapter
from rdbench.data.images import load_image
from rdbench.run.jobs import describe_failure
from rdbench.run.measure import check_reconstruction, metric_values
from rdbench.run.metrics import formulas
from rdbench.store.record import Record
from rdbench.store.sqlite import Store

#: How far the PSNR of the decoded bitstream may be from the stored one (dB). A learned decoder's
#: PSNR can differ in the 4th decimal between thread counts (docs/guarantees.md); any other decoder
#: than the record's, or another bitstream, differs by far more.
PSNR_TOLERANCE_DB = 1e-3
#: What a user does when no bitstream was kept.
KEEP_HINT = ("no bitstream was kept (the run had no --keep-bitstreams DIR); `rdbench run --force --keep-bitstreams "
             "DIR --metrics ...` measures it again and keeps it")


@dataclass
class RescoreOutcome:
    """What a rescore did: records given values, values added, and the records refused with why."""

    #: the plug-in metrics asked for (what the outcome's values are values of)
    metrics: list[str] = field(default_factory=list)
    rescored: int = 0
    values: int = 0
    refused: list[tuple[Record, str]] = field(default_factory=list)
    #: (record, metric) pairs without a value because the image is smaller than the metric's min_size
    too_small: list[tuple[Record, str]] = field(default_factory=list)


def missing_metrics(record: Record, metrics: Sequence[metric_spec.Metric], force: bool = False) -> list[metric_spec.Metric]:
    """The plug-in metrics of ``metrics`` that ``record`` has no value of, or a value of another version
    of the implementation (all of them with ``force``); built-ins are columns every record has."""
    return [m for m in metrics if not m.builtin and (force or m.name not in record.metrics
                                                      or record.metric_versions.get(m.name, "") != m.version)]


def stored_config(store: Store, record: Record) -> CodecConfig:
    """The configuration that made ``record``, as the store keeps it (not as the codec's TOML says now)."""
    found = store.config(record.codec, record.config_hash)
    if found is None:
        raise LookupError(f"the store holds no configuration {record.config_hash} of {record.codec}")
    return CodecConfig(name=found["name"], adapter=found["adapter"], qualities=tuple(found.get("qualities", ())),
                       params=found.get("params", {}), description=found.get("description", ""),
                       quality_label=found.get("quality_label", "quality"))


def decode_context(record: Record) -> CodecContext:
    """Where a record's bitstream is decoded again: on the device that decoded it (the second part
    of ``cuda-to-cpu``), with the checkpoint file it was coded with."""
    device = record.device.split(CROSS_DEVICE)[-1]
    return CodecContext(device=device, checkpoint=record.extra.get("weights_path"))


class Rescorer:
    """Decodes kept bitstreams of stored records and adds metric values to them, one record at a time;
    codecs and images are made once per rescore (:meth:`close` releases the codecs)."""

    def __init__(self, store: Store, images: dict[str, tuple[Path, str]]) -> None:
        #: image name -> (file, SHA-256 of its content now) of the records' dataset
        self.images = images
        self.store = store
        self._codecs: dict[tuple[str, str, CodecContext], Codec] = {}
        self._image: tuple[Path, np.ndarray] | None = None

    def close(self) -> None:
        for codec in self._codecs.values():
            codec.close()
        self._codecs.clear()

    def _codec(self, record: Record) -> Codec:
        context = decode_context(record)
        key = (record.codec, record.config_hash, context)
        if key not in self._codecs:
            config = stored_config(self.store, record)
            self._codecs[key] = load_adapter(config.adapter)(config, context)
        return self._codecs[key]

    def _original(self, path: Path) -> np.ndarray:
        if self._image is None or self._image[0] != path:
            self._image = (path, load_image(path))
        return self._image[1]

    def check(self, record: Record) -> tuple[bytes, Path] | str:
        """The record's kept bitstream and its image file, or why the record cannot be rescored."""
        kept = record.extra.get("bitstream")
        if not kept:
            return KEEP_HINT
        path = Path(kept)
        if not path.is_file():
            return f"its kept bitstream {path} is gone"
        data = path.read_bytes()
        digest = record.extra.get("bitstream_sha256")
        if digest is not None and hashlib.sha256(data).hexdigest() != digest:
            return f"its kept bitstream {path} is not the one the run stored (SHA-256 differs)"
        if record.bpp is None or not math.isclose(formulas.bpp(len(data), record.height, record.width), record.bpp,
                                                  rel_tol=1e-12):
            return f"its kept bitstream {path} ({len(data)} bytes) does not give the stored bpp {record.bpp}"
        image = self.images.get(record.image)
        if image is None:
            return f"the image {record.image} is not in the dataset's folder any more"
        if image[1] != record.image_hash:
            return f"the image {record.image} has other content now than when it was measured"
        return data, image[0]

    def rescore(self, record: Record, metrics: Sequence[metric_spec.Metric], outcome: RescoreOutcome) -> None:
        """Add ``metrics``' values to ``record`` (stored), or append it to ``outcome.refused`` with why."""
        checked = self.check(record)
        if isinstance(checked, str):
            outcome.refused.append((record, checked))
            return
        data, image_path = checked
        try:
            original = self._original(image_path)
            codec = self._codec(record)
            quality = parse_quality(record.quality)
            codec.prepare(quality)
            reconstruction = check_reconstruction(codec.decode_pixels(data, quality), original, codec.name)
            if not isinstance(reconstruction, np.ndarray):
                reconstruction = reconstruction.detach().cpu().numpy()
            psnr = formulas.psnr(original, reconstruction)
            if not _same_psnr(psnr, record.psnr):
                outcome.refused.append((record, f"decoding its kept bitstream gives PSNR {psnr:.6f} dB, stored "
                                                f"{record.psnr:.6f} dB: not the decoder that made the record"))
                return
            notes: dict[str, Any] = {}
            values, versions = metric_values(original, reconstruction, metrics, notes)
        except Exception as exc:  # noqa: BLE001 - a codec that cannot decode here refuses this record only
            outcome.refused.append((record, f"decoding again failed: {describe_failure(exc)}"))
            return
        outcome.too_small += [(record, name) for name in notes]
        if values:
            outcome.values += self.store.add_metric_values(record, values, versions)
            outcome.rescored += 1


def _same_psnr(measured: float, stored: float | None) -> bool:
    if stored is None:
        return False
    if math.isinf(measured) or math.isinf(stored):
        return measured == stored
    return abs(measured - stored) <= PSNR_TOLERANCE_DB


def rescore_records(store: Store, records: Sequence[Record], metrics: Sequence[metric_spec.Metric],
                    images: dict[str, tuple[Path, str]], *, force: bool = False,
                    on_record: Callable[[Record], None] | None = None) -> RescoreOutcome:
    """Add the values of ``metrics`` each record lacks (all of them with ``force``) from its kept
    bitstream, committing record by record; ``on_record`` is called after each one (progress)."""
    outcome = RescoreOutcome(metrics=[m.name for m in metrics if not m.builtin])
    rescorer = Rescorer(store, images)
    try:
        for record in records:
            wanted = missing_metrics(record, metrics, force)
            if wanted:
                rescorer.rescore(record, wanted, outcome)
            if on_record is not None:
                on_record(record)
    finally:
        rescorer.close()
    return outcome
