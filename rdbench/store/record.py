"""One measurement of one codec configuration at one quality on one image.

The field names are the stable names of the ``json`` output format and of the database
columns. A record's identity is :attr:`Record.key`: (codec, config_hash, quality, dataset,
image, image_hash); rerunning a command never writes a second row with the same key.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from typing import Any

STATUS_OK = "ok"
STATUS_FAILED = "failed"


@dataclass
class Record:
    codec: str
    config_hash: str
    quality: str
    dataset: str
    image: str
    image_hash: str
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

    @property
    def key(self) -> tuple[str, str, str, str, str, str]:
        return (self.codec, self.config_hash, self.quality, self.dataset, self.image, self.image_hash)

    @property
    def ok(self) -> bool:
        return self.status == STATUS_OK

    def to_row(self) -> dict[str, Any]:
        row = dataclasses.asdict(self)
        row["extra"] = json.dumps(self.extra, sort_keys=True, default=str)
        return row

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> "Record":
        data = {f.name: row[f.name] for f in dataclasses.fields(cls) if f.name in row}
        data["extra"] = json.loads(data.get("extra") or "{}")
        return cls(**data)

    def to_json(self) -> dict[str, Any]:
        """Flat dict for JSON output: infinities become the strings 'inf' (JSON has none)."""
        out = dataclasses.asdict(self)
        for name, value in out.items():
            if isinstance(value, float) and math.isinf(value):
                out[name] = "inf" if value > 0 else "-inf"
        return out


RECORD_FIELDS = [f.name for f in dataclasses.fields(Record)]
