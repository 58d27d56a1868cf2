"""Where codecs come from: adapters by name, configurations from TOML files.

Adapters (classes implementing :class:`~rdbench.codecs.base.Codec`) are found, in order, in

1. :data:`BUILTIN_ADAPTERS` (rdbench's own, imported lazily so ``rdbench --help`` stays fast),
2. the ``rdbench.codecs`` entry-point group, so a third-party package registers its adapter in
   its own ``pyproject.toml`` without editing rdbench::

       [project.entry-points."rdbench.codecs"]
       mycodec = "mypackage.codec:MyCodec"

3. a TOML file's ``adapter = "package.module:Class"`` import path.

Configurations (named variants with parameters and quality sweeps) are read from the shipped
folder (the checkout's top-level ``codecs/``, installed with the wheel; :func:`rdbench.shipped.shipped_dir`)
and from every folder in ``RDBENCH_CODECS_PATH``
(``os.pathsep``-separated; later folders override earlier ones by name). An entry-point
adapter with no TOML file of its own name is listed under its entry-point name, with the
class's ``default_params`` and ``default_qualities``.
"""

from __future__ import annotations

import importlib
import os
from importlib.metadata import entry_points
from pathlib import Path

from rdbench.codecs.base import (
    CODEC_NAME_RULE,
    Codec,
    CodecConfig,
    is_codec_name,
    load_codec_toml,
)
from rdbench.errors import RdbenchError, UsageError, did_you_mean
from rdbench.shipped import shipped_dir

ENTRY_POINT_GROUP = "rdbench.codecs"

#: rdbench's own adapters: name -> "module:Class". Imported only when used.
BUILTIN_ADAPTERS: dict[str, str] = {
    "imagecodecs": "rdbench.codecs.classical:ImagecodecsCodec",
    "pillow": "rdbench.codecs.classical:PillowCodec",
    "mlic": "rdbench.codecs.learned.mlic:MLICCodec",
    "mlicplus": "rdbench.codecs.learned.mlic:MLICPlusCodec",
    "mlicpp": "rdbench.codecs.learned.mlicpp:MLICPlusPlusCodec",
    "compressai": "rdbench.codecs.learned.compressai_zoo:CompressAIZooCodec",
    "x265": "rdbench.codecs.external.debian:X265Codec",
    "avifenc": "rdbench.codecs.external.debian:AvifencCodec",
    "cjxl": "rdbench.codecs.external.debian:CjxlCodec",
    "vtm": "rdbench.codecs.external.vtm:VTMCodec",
}

#: rdbench's own configurations: the top-level ``codecs/`` of a checkout, or its copy in the wheel.
SHIPPED_CODECS_DIR = shipped_dir("codecs")


def config_dirs() -> list[Path]:
    """Folders searched for ``*.toml`` codec configurations, lowest priority first."""
    dirs = [SHIPPED_CODECS_DIR]
    extra = os.environ.get("RDBENCH_CODECS_PATH", "")
    dirs += [Path(p) for p in extra.split(os.pathsep) if p]
    return [d for d in dirs if d.is_dir()]


def _entry_point_adapters() -> dict[str, object]:
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def adapter_names() -> list[str]:
    return sorted(set(BUILTIN_ADAPTERS) | set(_entry_point_adapters()))


def load_adapter(name: str) -> type[Codec]:
    """Return the adapter class registered as ``name`` (or at import path ``module:Class``)."""
    if name in BUILTIN_ADAPTERS:
        target = BUILTIN_ADAPTERS[name]
    else:
        eps = _entry_point_adapters()
        if name in eps:
            try:
                cls = eps[name].load()
            except Exception as exc:  # a broken third-party package must not take rdbench down
                raise RdbenchError(f"adapter {name!r} from entry point {eps[name].value!r} failed to import: {exc}") from exc
            return _check_adapter(name, cls)
        if ":" not in name:
            raise UsageError(f"unknown codec adapter {name!r}{did_you_mean(name, adapter_names())}; "
                             f"known: {', '.join(adapter_names())}")
        target = name
    module_name, _, attr = target.partition(":")
    try:
        cls = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise RdbenchError(f"cannot import codec adapter {target!r}: {exc}") from exc
    return _check_adapter(name, cls)


def _check_adapter(name: str, cls: object) -> type[Codec]:
    if not (isinstance(cls, type) and issubclass(cls, Codec)):
        raise RdbenchError(f"adapter {name!r} is {cls!r}, not a subclass of rdbench.codecs.Codec")
    return cls


def load_configs() -> dict[str, CodecConfig]:
    """Every known codec configuration by name (TOML files, then entry-point defaults)."""
    configs: dict[str, CodecConfig] = {}
    for folder in config_dirs():
        for path in sorted(folder.glob("*.toml")):
            config = load_codec_toml(path)
            configs[config.name] = config
    for name, ep in _entry_point_adapters().items():
        if name in configs:
            continue
        if not is_codec_name(name):
            raise RdbenchError(f"entry point {name!r} = {ep.value!r} (group {ENTRY_POINT_GROUP}) is not a usable codec "
                               f"name; a codec name has {CODEC_NAME_RULE}",
                               hint="rename it in that package, or add a TOML file of a usable name for its adapter")
        try:
            cls = _check_adapter(name, ep.load())
        except Exception:  # listed as unavailable by `rdbench codecs`, not fatal here
            configs[name] = CodecConfig(name=name, adapter=name, description=f"entry point {ep.value}")
            continue
        configs[name] = CodecConfig(
            name=name,
            adapter=name,
            qualities=tuple(cls.default_qualities),
            params=dict(cls.default_params),
            description=(cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else "",
            quality_label=cls.quality_label,
        )
    return configs


def resolve_codecs(names: str | list[str]) -> list[CodecConfig]:
    """Configurations for a comma-separated list of codec names, in the order given."""
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    if not names:
        raise UsageError("no codec given; `rdbench codecs` lists the available ones")
    configs = load_configs()
    resolved = []
    for name in names:
        if name not in configs:
            raise UsageError(f"unknown codec {name!r}{did_you_mean(name, sorted(configs))}; "
                             "`rdbench codecs` lists the available ones")
        resolved.append(configs[name])
    return resolved
