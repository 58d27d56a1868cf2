"""The one interface every codec implements, and the configuration that names a codec variant.

A *codec* in rdbench is an adapter class (how to drive a library, a binary or a model)
plus a :class:`CodecConfig` (which adapter, with which parameters, at which quality points).
Configurations live in ``codecs/*.toml``; adapters are registered by name
(see :mod:`rdbench.codecs.registry`).

Contract for adapters:

* ``encode(image, quality) -> bytes``: every byte a decoder needs (headers included), since
  bpp is computed from ``len(bytes)``.
* ``decode(data, quality) -> image``: an (H, W, 3) uint8 array of the original size.
* ``prepare(quality)`` does the untimed set-up (loading a model or checkpoint).
* ``synchronize()`` waits for asynchronous devices so timings are honest.
* ``notes`` is a dict the adapter may fill during encode/decode (command lines, a decoder
  mismatch, ...); it is stored with the record in ``extra``.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

Quality = int | float | str


def format_quality(quality: Quality) -> str:
    """Canonical text of a quality point as stored in the database ('27', '0.5', 'q3')."""
    if isinstance(quality, float) and quality.is_integer():
        return str(int(quality))
    return str(quality)


def parse_quality(text: str) -> Quality:
    """Inverse of :func:`format_quality` for command-line values."""
    text = text.strip()
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return text


def missing_packages(*packages: str) -> str | None:
    """The availability message for adapters that need Python packages, or None when all import.

    Checked with ``find_spec`` (nothing is imported), so `rdbench codecs` stays fast.
    """
    import importlib.util

    for package in packages:
        if importlib.util.find_spec(package) is None:
            return f"needs {' and '.join(packages)} ({package} is not installed: pip install {package})"
    return None


@dataclass(frozen=True)
class CodecConfig:
    """A named codec variant: adapter + parameters + default quality sweep."""

    name: str
    adapter: str
    qualities: tuple[Quality, ...] = ()
    params: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    quality_label: str = "quality"
    source: str | None = None  # the TOML file it came from

    @property
    def config_hash(self) -> str:
        """Hash of what changes the bitstream: the adapter and its parameters.

        Qualities are not part of it (each record stores its quality) and neither are the
        description or the file it came from.
        """
        canonical = json.dumps({"adapter": self.adapter, "params": self.params}, sort_keys=True, default=str)
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "adapter": self.adapter,
            "qualities": list(self.qualities),
            "params": self.params,
            "description": self.description,
            "quality_label": self.quality_label,
        }


@dataclass(frozen=True)
class CodecContext:
    """Run-time options that are not part of a codec's identity (where things are, which device)."""

    device: str = "cpu"
    checkpoint: str | None = None
    checkpoint_dir: str | None = None
    tool_dirs: tuple[tuple[str, str], ...] = ()  # e.g. (("vtm", "/opt/vtm"),); a tuple so contexts hash
    threads: int | None = None
    timeout_s: float | None = None

    def tool_dir(self, tool: str) -> str | None:
        """Folder given on the command line for an external tool (e.g. ``--vtm-dir``)."""
        return dict(self.tool_dirs).get(tool)


class Codec(ABC):
    """Base class of every adapter. Subclasses set ``library`` and implement encode/decode."""

    #: Default parameters and quality sweep for a codec registered without a TOML file
    #: (third-party entry points): ``rdbench codecs`` then lists it under its adapter name.
    default_params: ClassVar[dict[str, Any]] = {}
    default_qualities: ClassVar[tuple[Quality, ...]] = ()
    quality_label: ClassVar[str] = "quality"
    #: True for codecs that should run on a GPU when one is requested (learned models).
    wants_gpu: ClassVar[bool] = False

    def __init__(self, config: CodecConfig, context: CodecContext) -> None:
        self.config = config
        self.context = context
        self.notes: dict[str, Any] = {}

    @classmethod
    def unavailable_reason(cls, config: CodecConfig, context: CodecContext) -> str | None:
        """Why this codec cannot run here (missing library, binary, checkpoint), or None."""
        return None

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def qualities(self) -> tuple[Quality, ...]:
        return self.config.qualities

    def prepare(self, quality: Quality) -> None:
        """Untimed set-up before encoding at ``quality`` (e.g. load that quality's model)."""

    @abstractmethod
    def encode(self, image: np.ndarray, quality: Quality) -> bytes:
        """Compress an (H, W, 3) uint8 image into every byte a decoder needs."""

    @abstractmethod
    def decode(self, data: bytes, quality: Quality) -> np.ndarray:
        """Reconstruct the (H, W, 3) uint8 image from ``data``."""

    def synchronize(self) -> None:
        """Block until queued device work is done (GPU adapters override)."""

    def library(self) -> tuple[str, str]:
        """(library name, version) recorded with each result."""
        return (type(self).__module__, "unknown")

    def close(self) -> None:
        """Release resources (models, temporary directories)."""


def load_codec_toml(path: Path) -> CodecConfig:
    """Parse one ``codecs/NAME.toml`` into a :class:`CodecConfig`.

    Schema::

        name = "jpeg"                 # optional, defaults to the file name
        adapter = "imagecodecs"       # registered adapter name or "package.module:Class"
        description = "..."
        quality_label = "quality"     # what the quality numbers mean (QP, model index, ...)
        qualities = [10, 20, 30]
        [params]                      # adapter-specific, part of the config hash
        format = "jpeg"
    """
    import tomllib

    from rdbench.errors import RdbenchError

    try:
        data = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise RdbenchError(f"{path}: malformed codec TOML ({exc}); fix or remove the file") from exc
    unknown = set(data) - {"name", "adapter", "description", "quality_label", "qualities", "params"}
    if unknown:
        raise RdbenchError(f"{path}: unknown keys {sorted(unknown)}; allowed: name, adapter, "
                           "description, quality_label, qualities, [params]")
    if not isinstance(data.get("adapter"), str):
        raise RdbenchError(f"{path}: missing 'adapter = \"...\"' (the adapter that drives this codec)")
    qualities = data.get("qualities", [])
    if not isinstance(qualities, list) or not all(isinstance(q, (int, float, str)) for q in qualities):
        raise RdbenchError(f"{path}: 'qualities' must be a list of numbers or strings")
    params = data.get("params", {})
    if not isinstance(params, dict):
        raise RdbenchError(f"{path}: [params] must be a table")
    return CodecConfig(
        name=str(data.get("name", path.stem)),
        adapter=data["adapter"],
        qualities=tuple(qualities),
        params=params,
        description=str(data.get("description", "")),
        quality_label=str(data.get("quality_label", "quality")),
        source=str(path),
    )
