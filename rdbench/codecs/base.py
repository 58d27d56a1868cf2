"""The one interface every codec implements, and the configuration that names a codec variant.

A *codec* in rdbench is an adapter class (how to drive a library, a binary or a model)
plus a :class:`CodecConfig` (which adapter, with which parameters, at which quality points).
Configurations live in ``codecs/*.toml``; adapters are registered by name
(see :mod:`rdbench.codecs.registry`).

Contract for adapters:

* ``encode(image, quality) -> bytes``: every byte a decoder needs (headers included), since
  bpp is computed from ``len(bytes)``.
* ``decode(data, quality) -> image``: an (H, W, 3) uint8 array of the original size.
* ``decode_pixels(data, quality)``: the same reconstruction where the codec made it; by default
  ``decode``. Device codecs return an (H, W, 3) uint8 torch tensor on their device, so that
  :func:`rdbench.run.measure.measure` computes the metrics there and the image never has to
  cross to the host (:func:`rdbench.run.metrics.dispatch.distortion` takes either).
* ``prepare(quality)`` does the untimed set-up (loading a model or checkpoint).
* ``synchronize()`` waits for asynchronous devices so timings are honest.
* ``notes`` is a dict the adapter may fill during encode/decode (command lines, a decoder
  mismatch, ...); it is stored with the record in ``extra``.
* ``quality_domain`` (or ``quality_domain_for(config)``) declares the valid qualities
  (:class:`QualityDomain`), checked before a run stores anything.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

Quality = int | float | str

#: What a codec or curve name may be: lower-case letters, digits and ``. + _ -``, starting with a letter
#: or digit, with no ``__``. WHY one rule for configured codecs and imported curves: a name is written
#: into paths (kept bitstreams under ``<codec>-...``, ``export`` files ``<codec>__<dataset>.json``, where
#: ``__`` separates the two) and onto the command line (``,`` separates names, ``@`` starts a selector),
#: so ``""``, ``..``, ``a/b`` or ``my@codec`` would break one of them.
CODEC_NAME = re.compile(r"^[a-z0-9][a-z0-9.+_-]*$")
CODEC_NAME_RULE = "lower-case letters, digits and . + _ - (starting with a letter or digit, no double underscore)"


def is_codec_name(name: object) -> bool:
    """Whether ``name`` follows :data:`CODEC_NAME` (the rule for every codec and imported curve name)."""
    return isinstance(name, str) and bool(CODEC_NAME.match(name)) and "__" not in name


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


def _number(value: float) -> str:
    return format_quality(float(value))


@dataclass(frozen=True)
class QualityDomain:
    """The quality values an adapter accepts: whole numbers or any number, in [min, max], or one
    of ``values``; ``also`` lists isolated values outside the range that are valid too (cjxl's
    distance 0, lossless).

    Why it exists: a library silently maps a value outside its range onto one inside (libjpeg
    treats quality 0 as 1, imagecodecs 1000 as 100, 50.5 as 50), so an unchecked value gives a
    second stored point with the bitstream of another, and two identical points make every later
    BD-rate of that codec NaN. The bounds declared by the adapters are where the library stops
    distinguishing values (``tests/test_inputs_checked.py`` checks the facts they rest on).
    """

    kind: str = "int"  # "int" (whole numbers only) or "float"
    min: float | None = None
    max: float | None = None
    values: tuple[float, ...] | None = None
    also: tuple[float, ...] = ()
    meaning: str = ""  # what the number is, and what the library does outside the range

    def describe(self) -> str:
        """The valid values in words, for error messages: 'a whole number from 1 to 100 (JPEG quality)'."""
        if self.values is not None:
            text = "one of " + ", ".join(_number(v) for v in self.values)
        else:
            text = "a whole number" if self.kind == "int" else "a number"
            if self.min is not None and self.max is not None:
                text += f" from {_number(self.min)} to {_number(self.max)}"
            elif self.min is not None:
                text += f" of at least {_number(self.min)}"
            elif self.max is not None:
                text += f" of at most {_number(self.max)}"
            if self.also:
                text = ", ".join(_number(v) for v in self.also) + ", or " + text
        return f"{text} ({self.meaning})" if self.meaning else text

    @property
    def continuous(self) -> bool:
        """Whether every number of the range is a point of its own (a real-valued control such as
        JPEG XL's distance), so that a rate can be matched to a tolerance; whole numbers and fixed
        sets of points reach a target only as the nearest point on each side."""
        return self.kind == "float" and self.values is None

    def canonical(self, value: Quality) -> int | float:
        """``value`` as the one number that stands for its point (50.0 -> 50 for whole numbers),
        or ValueError saying what is wrong with it ('is not a number', 'is out of range', ...)."""
        if isinstance(value, str):
            value = parse_quality(value)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError("is not a number")
        if not math.isfinite(value):
            raise ValueError("is not a finite number")
        if float(value).is_integer():
            value = int(value)
        elif self.kind == "int":
            raise ValueError("is not a whole number")
        if value in self.also:
            return value
        if self.values is not None:
            if value not in self.values:
                raise ValueError("is not one of the points this configuration has")
        elif (self.min is not None and value < self.min) or (self.max is not None and value > self.max):
            raise ValueError("is out of range")
        return value


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


#: Joins the encoding and decoding devices in a record's ``device`` when they differ
#: (``cuda-to-cpu``): shell-safe (``>`` would redirect) and path-safe.
CROSS_DEVICE = "-to-"


def device_label(device: str, decode_device: str | None = None) -> str:
    """The ``device`` a record stores: the device, or ``ENCODE-to-DECODE`` when a run decodes
    on another device (``--decode-device``), since the decoder's numbers can differ there."""
    if not decode_device or decode_device == device:
        return device
    return f"{device}{CROSS_DEVICE}{decode_device}"


@dataclass(frozen=True)
class CodecContext:
    """Run-time options that are not part of a codec's identity (where things are, which device)."""

    device: str = "cpu"
    #: Where to decode, when not on ``device`` (``--decode-device``); None: on ``device``.
    decode_device: str | None = None
    checkpoint: str | None = None
    checkpoint_dir: str | None = None
    tool_dirs: tuple[tuple[str, str], ...] = ()  # e.g. (("vtm", "/opt/vtm"),); a tuple so contexts hash
    threads: int | None = None
    timeout_s: float | None = None
    #: Measure each image's peak resident memory (``--no-peak-memory`` turns it off): honest
    #: figures need the memory freed earlier handed back to the OS before every image, and the
    #: codec then faults its memory in again inside its timings (measured: +12-20 % on the
    #: encode and decode times of a learned codec on the CPU, nothing measurable for JPEG).
    peak_memory: bool = True

    @property
    def label(self) -> str:
        """The device as records store it (:func:`device_label`): part of a record's identity."""
        return device_label(self.device, self.decode_device)

    def tool_dir(self, tool: str) -> str | None:
        """Folder given on the command line for an external tool (e.g. ``--vtm-dir``)."""
        return dict(self.tool_dirs).get(tool)


class Codec(ABC):
    """Base class of every adapter. Subclasses set ``library`` and implement encode/decode.

    An adapter should declare which qualities it accepts: ``quality_domain =
    QualityDomain("int", 1, 100, meaning="JPEG quality")`` (whole numbers or any number, min,
    max, optionally the allowed ``values``), or override :meth:`quality_domain_for` when the
    range depends on ``[params]``. Values outside it are refused before anything is stored,
    rather than passed to a library that would clamp or truncate them into a duplicate point.
    Without a declaration (the default) qualities are passed through unchecked.
    """

    #: Default parameters and quality sweep for a codec registered without a TOML file
    #: (third-party entry points): ``rdbench codecs`` then lists it under its adapter name.
    default_params: ClassVar[dict[str, Any]] = {}
    default_qualities: ClassVar[tuple[Quality, ...]] = ()
    quality_label: ClassVar[str] = "quality"
    #: True for codecs that should run on a GPU when one is requested (learned models).
    wants_gpu: ClassVar[bool] = False
    #: Whether ``prepare(quality)`` does costly set-up per quality (loads a model). True (the
    #: safe default) keeps a run's jobs quality by quality; adapters whose ``prepare`` is free
    #: say False, and their jobs then come image by image, each image decoded once for all its
    #: qualities (:func:`rdbench.run.jobs.locality_order`).
    per_quality_setup: ClassVar[bool] = True
    #: The quality values this adapter accepts (:class:`QualityDomain`): `rdbench run` and
    #: `rdbench complexity` refuse any other value, and a configuration's ``qualities`` outside
    #: it, as a usage error before anything is stored. Adapters whose range depends on
    #: ``[params]`` override :meth:`quality_domain_for` instead. None (the default, so adapters
    #: that declare nothing keep working) passes every value to ``encode`` unchecked.
    quality_domain: ClassVar[QualityDomain | None] = None
    #: What identifies this adapter's code in its records (:mod:`rdbench.codecs.code_identity`). None
    #: (the default): a hash of the adapter's source files; set a version string instead only when
    #: the source hash would change without the output changing (a wrapper of an external binary).
    code_version: ClassVar[str | None] = None
    #: Names of ``[params]`` entries that name weight files or folders (``weights = "model.pt"``):
    #: their content, not their path, is the record's weights identity (:meth:`weights_identity`),
    #: so a file retrained in place gives new records instead of reusing the old ones. A relative
    #: path is taken from the folder of the TOML file that gives it.
    weight_params: ClassVar[tuple[str, ...]] = ()

    def __init__(self, config: CodecConfig, context: CodecContext) -> None:
        self.config = config
        self.context = context
        self.notes: dict[str, Any] = {}

    @classmethod
    def unavailable_reason(cls, config: CodecConfig, context: CodecContext) -> str | None:
        """Why this codec cannot run here (missing library, binary, checkpoint), or None."""
        return None

    @classmethod
    def quality_domain_for(cls, config: CodecConfig) -> QualityDomain | None:
        """The qualities ``config`` accepts; this default: the class's :attr:`quality_domain`."""
        return cls.quality_domain

    @classmethod
    def rate_control(cls, config: CodecConfig) -> str | None:
        """How ``rdbench run --target-bpp`` can steer this codec's rate: ``"continuous"`` (a real-valued
        control, matched to the tolerance), ``"whole"`` (whole numbers: the nearest point on each side),
        ``"models"`` (a few fixed models: the nearest models), or None (no declared domain: nothing to
        search). Derived from :meth:`quality_domain_for`; learned codecs say ``"models"``."""
        domain = cls.quality_domain_for(config)
        if domain is None:
            return None
        if domain.values is not None:
            return "models"
        return "continuous" if domain.continuous else "whole"

    @classmethod
    def checked_qualities(cls, config: CodecConfig, values: Iterable[Quality] | None = None) -> tuple[str, ...]:
        """The stored text of each of ``values`` (default: the configuration's own sweep), one
        per point: equal spellings (50, 50.0, 5e1) become one, in the order given.

        Raises :class:`~rdbench.errors.UsageError` for a value outside
        :meth:`quality_domain_for`, naming the codec, the value, the valid range and, for the
        configuration's sweep, its file. Without a declared domain values pass unchecked.
        """
        from rdbench.errors import UsageError

        from_config = values is None
        domain = cls.quality_domain_for(config)
        texts: list[str] = []
        for value in config.qualities if from_config else values:
            if domain is None:
                number = parse_quality(value) if isinstance(value, str) else value
            else:
                try:
                    number = domain.canonical(value)
                except ValueError as exc:
                    shown = value.strip() if isinstance(value, str) else format_quality(value)
                    where = f" in {config.source or 'its configuration'}" if from_config else ""
                    action = "fix its 'qualities'" if from_config else "pass --quality values in that range"
                    raise UsageError(f"{config.name}: quality {shown}{where} {exc}; {config.name} takes "
                                     f"{domain.describe()}: {action}") from None
            text = format_quality(number)
            if text not in texts:
                texts.append(text)
        return tuple(texts)

    @classmethod
    def reads_checkpoints(cls, config: CodecConfig) -> bool:
        """Whether ``config`` takes its weights from ``--checkpoint``/``--checkpoint-dir``; this
        default (codecs without weights): no, so those options are refused rather than ignored."""
        return False

    @classmethod
    def checkpoint_qualities(cls, config: CodecConfig, context: CodecContext) -> tuple[Quality, ...]:
        """The qualities ``--checkpoint-dir`` holds weights for, which a run without ``--quality``
        codes instead of the default sweep; this default (codecs without weights): none."""
        return ()

    @classmethod
    def weights_identity(cls, config: CodecConfig, context: CodecContext, quality: Quality) -> tuple[str, str | None]:
        """(identity, file) of the weights a job at ``quality`` will code with; ``("", None)`` for
        codecs without weights (this default).

        Asked when a run is planned, before anything is coded: the identity is part of every
        record's key, so results of other weights are never mistaken for these (and a rerun with
        other weights is not skipped). A learned adapter returns a content hash of its
        checkpoint, or what names its seeded weights; ``file`` is the path, for humans.
        ``missing:<path>`` names a checkpoint that is not there: the planner runs no job of that
        quality and reports it (adding the file later gives the jobs a new identity).
        """
        files = {key: cls.param_path(config, key) for key in cls.weight_params if key in config.params}
        if not files:
            return ("", None)
        shown = ", ".join(str(path) for path in files.values())
        for path in files.values():
            if not path.exists():
                return (f"missing:{path}", str(path))
        parts = {key: content_digest(path) for key, path in sorted(files.items())}
        digest = hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()
        return (f"sha256:{digest}", shown)

    @staticmethod
    def param_path(config: CodecConfig, key: str) -> Path:
        """``config.params[key]`` as a path: a relative one is taken from the folder of the TOML
        file that gives it (the current folder for a configuration without a file)."""
        path = Path(str(config.params[key])).expanduser()
        if not path.is_absolute() and config.source:
            path = Path(config.source).parent / path
        return path.resolve()

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

    def decode_pixels(self, data: bytes, quality: Quality) -> Any:
        """The reconstruction where the codec made it: an (H, W, 3) uint8 numpy array (this
        default: :meth:`decode`) or, for device codecs, a uint8 torch tensor of that shape on
        the device. What :func:`rdbench.run.measure.measure` times and measures."""
        return self.decode(data, quality)

    def synchronize(self) -> None:
        """Block until queued device work is done (GPU adapters override)."""

    def library(self) -> tuple[str, str]:
        """(library name, version) recorded with each result."""
        return (type(self).__module__, "unknown")

    def close(self) -> None:
        """Release resources (models, temporary directories)."""


_DIGESTS: dict[tuple[str, int, int], str] = {}


def file_digest(path: Path) -> str:
    """SHA-256 of a weights file, remembered per (path, size, mtime): planning a sweep asks for
    the same few files once per quality and image list, and checkpoints are hundreds of MB."""
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    if key not in _DIGESTS:
        from rdbench.data.images import file_sha256

        _DIGESTS[key] = file_sha256(path)
    return _DIGESTS[key]


def content_digest(path: Path) -> str:
    """SHA-256 of a file, or of a folder's content: every file under it by relative name and
    digest (so renaming, adding or changing any file changes it)."""
    if path.is_file():
        return file_digest(path)
    listing = {str(f.relative_to(path)): file_digest(f) for f in sorted(path.rglob("*")) if f.is_file()}
    return hashlib.sha256(json.dumps(listing, sort_keys=True).encode()).hexdigest()


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
    name = data.get("name", path.stem)
    if not is_codec_name(name):
        source = "name" if "name" in data else "name (the file name, as it has no 'name = ...')"
        raise RdbenchError(f"{path}: codec {source} {name!r} is not usable; a codec name has {CODEC_NAME_RULE}")
    return CodecConfig(
        name=name,
        adapter=data["adapter"],
        qualities=tuple(qualities),
        params=params,
        description=str(data.get("description", "")),
        quality_label=str(data.get("quality_label", "quality")),
        source=str(path),
    )
