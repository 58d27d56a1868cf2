"""The row types of the results database, one per table that holds measurements or curves.

* :class:`Record`: one measurement of one codec configuration at one quality on one image
  (table ``records``). A record's identity is :attr:`Record.key`: (codec, config_hash,
  quality, dataset, image, image_hash, weights, device, code); rerunning a command never writes
  a second row with the same key.
* :class:`ComplexityPoint`: time, memory, FLOPs and decoder MACs per pixel of one codec
  configuration at one quality and one square image size (table ``complexity``), measured by
  :mod:`rdbench.run.complexity`.
* :class:`ImportedCurve`: a published RD curve imported from a file, with its provenance
  (table ``imported_curves``), parsed by :mod:`rdbench.analysis.import_curves`.

They live here, below the stages that produce them, so that :class:`rdbench.store.sqlite.Store`
can read and write them typed. The field names are the stable names of the ``json`` output
format and of the database columns.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from typing import Any

STATUS_OK = "ok"
STATUS_FAILED = "failed"
#: A complexity point whose size did not fit in memory (the sweep goes on past it).
STATUS_OOM = "oom"


@dataclass
class Record:
    codec: str
    config_hash: str
    quality: str
    dataset: str
    image: str
    image_hash: str
    #: Which weights a learned codec coded with ("sha256:<hex>" of the checkpoint file, "seed:N"
    #: for seeded random weights, "compressai-zoo:<file>" for the zoo's content-addressed files);
    #: "" for codecs without weights. Part of the identity: other weights, other numbers.
    weights: str = ""
    #: Which code made it (:mod:`rdbench.codecs.code_identity`: ``rdbench src:<hash>``, ``tinyhp 0.1
    #: src:<hash>``); "" for records stored before rdbench recorded it. Part of the identity: a
    #: changed codec gives new records and the old ones stay.
    code: str = ""
    height: int | None = None
    width: int | None = None
    num_bytes: int | None = None
    bpp: float | None = None
    mse: float | None = None
    psnr: float | None = None
    ms_ssim: float | None = None
    ms_ssim_db: float | None = None
    encode_s: float | None = None
    decode_s: float | None = None
    peak_mem_bytes: int | None = None
    device: str = "cpu"
    status: str = STATUS_OK
    error: str | None = None
    rdbench_version: str | None = None
    codec_library: str | None = None
    codec_version: str | None = None
    git_commit: str | None = None
    machine: str | None = None
    gpu: str | None = None
    created_at: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    #: Per-image values of plug-in metrics (:mod:`rdbench.metric_spec`) by metric name, stored one row
    #: per record and metric (table ``metric_values``), not as columns: a new metric needs no schema change.
    metrics: dict[str, float] = field(default_factory=dict)
    #: The version of the implementation that computed each of :attr:`metrics`, by metric name.
    metric_versions: dict[str, str] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, ...]:
        """What identifies a record (docs/guarantees.md, "What identifies a result"): one row per key."""
        return (self.codec, self.config_hash, self.quality, self.dataset, self.image, self.image_hash,
                self.weights, self.device, self.code)

    @property
    def ok(self) -> bool:
        return self.status == STATUS_OK

    def to_row(self) -> dict[str, Any]:
        """The ``records`` columns (:data:`RECORD_FIELDS`); plug-in values go to their own table."""
        row = {name: getattr(self, name) for name in RECORD_FIELDS}
        row["extra"] = json.dumps(self.extra, sort_keys=True, default=str)
        return row

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> "Record":
        data = {name: row[name] for name in RECORD_FIELDS if name in row}
        data["extra"] = json.loads(data.get("extra") or "{}")
        return cls(**data)

    @classmethod
    def from_values(cls, values: tuple[Any, ...], parsed: dict[str, Any] | None = None) -> Record:
        """A record from one row of the ``records`` columns in :data:`RECORD_FIELDS` order (``extra`` as
        stored JSON): what the store reads tens of thousands of at once, so without a dict per row.

        ``parsed`` (JSON text -> its value), shared by the records of one read, parses each distinct
        ``extra`` once (records of one run often carry the same one); each record gets its own copy."""
        return cls(*values[:-1], parse_extra(values[-1], parsed))

    def as_dict(self) -> dict[str, Any]:
        """Every field by name, ``extra`` a deep copy of its own: what ``dataclasses.asdict`` gives for a
        record (its other fields are flat values), without ``asdict``'s recursive deep copy of every
        value, which took most of the time of reading 30,000 records."""
        out = self.__dict__.copy()  # a dataclass instance holds exactly its fields, in field order
        out["extra"] = _json_copy(self.extra)
        out["metrics"], out["metric_versions"] = dict(self.metrics), dict(self.metric_versions)
        return out

    def to_json(self) -> dict[str, Any]:
        """Dict for JSON output: infinities become the strings 'inf' (JSON has none)."""
        out = self.as_dict()
        values = out.values()
        if math.inf in values or -math.inf in values:  # one pass in C for the many records without one
            for name, value in out.items():
                if isinstance(value, float) and math.isinf(value):
                    out[name] = "inf" if value > 0 else "-inf"
        return out


#: The columns of the ``records`` table, in order (``extra`` last): every field but the plug-in values.
RECORD_FIELDS = [f.name for f in dataclasses.fields(Record) if f.name not in ("metrics", "metric_versions")]


def parse_extra(text: str | None, parsed: dict[str, Any] | None = None) -> dict[str, Any]:
    """A record's stored ``extra`` JSON as a dict of its own; with ``parsed`` (text -> value, kept by
    the caller across the records of one read) each distinct text is parsed once and copied."""
    if not text or text == "{}":
        return {}
    if parsed is None:
        return json.loads(text)
    if text not in parsed:
        parsed[text] = json.loads(text)
    return _json_copy(parsed[text])


def _json_copy(value: Any) -> Any:
    """A copy of a JSON-like value as ``dataclasses.asdict`` makes one: dicts, lists and tuples copied
    all the way down; their other values (numbers, text) are immutable and shared."""
    if isinstance(value, dict):
        return {k: _json_copy(v) if isinstance(v, _CONTAINERS) else v for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_json_copy(v) for v in value)
    return value


_CONTAINERS = (dict, list, tuple)


#: The image of a complexity point measured on :func:`rdbench.run.complexity.synthetic_image`.
SYNTHETIC = "synthetic"

#: Measures of a complexity point whose scaling exponent is fitted (``flops_per_pixel`` is
#: ``flops`` minus one).
MEASURES = ("encode_s", "decode_s", "forward_s", "peak_mem_bytes", "forward_peak_mem_bytes", "flops")


@dataclass
class ComplexityPoint:
    """One codec configuration at one quality on one ``height`` x ``width`` image; identity:
    (codec, config_hash, quality, device, machine, height, width, image)."""

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
    #: MACs per pixel of the forward outside ``g_a`` and ``h_a`` (C3's ``macs_per_pixel``, see
    #: :mod:`rdbench.run.complexity.decoder`); None where not counted or where the encoder could
    #: not be told apart (``extra["decoder_macs_missing"]`` says why), and for points stored
    #: before rdbench counted it.
    decoder_macs_per_px: float | None = None
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

    @property
    def side(self) -> float:
        """The side of a square of the same pixel count: the x axis of complexity plots, which
        must place a 768x512 point between the squares it lies between."""
        return math.sqrt(self.pixels)

    @property
    def size_label(self) -> str:
        """``768`` for a square, ``768x512`` (width x height) otherwise, as ``--sizes`` spells it."""
        return str(self.width) if self.width == self.height else f"{self.width}x{self.height}"

    def to_row(self) -> dict[str, Any]:
        row = dataclasses.asdict(self)
        row["extra"] = json.dumps(self.extra, sort_keys=True, default=str)
        return row

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> "ComplexityPoint":
        data = {f.name: row[f.name] for f in dataclasses.fields(cls)}
        data["extra"] = json.loads(data["extra"] or "{}")
        return cls(**data)

    def to_json(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["flops_per_pixel"] = self.flops_per_pixel
        return out


POINT_FIELDS = [f.name for f in dataclasses.fields(ComplexityPoint)]


@dataclass
class ImportedCurve:
    """A published curve as imported: points per metric (None when not imported) and where they
    came from (the source file's path and SHA-256, the import time, the file's description)."""

    name: str
    dataset: str
    bpp: list[float]
    psnr: list[float] | None
    ms_ssim_db: list[float] | None
    description: str
    source_file: str
    sha256: str
    imported_at: str
