"""What a codec name on the command line means: ``NAME[@SELECTOR...]`` parsed against what is stored.

A name chooses a codec; its selectors fix a configuration (hash prefix), a device, a weights id, a
code version or an imported curve (``@imported``). Kept apart from the curve rule
(:mod:`rdbench.analysis.curves`), which decides which records make a curve once the name is read.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection
from dataclasses import dataclass
from functools import cache
from typing import Any

from rdbench.codecs.code_identity import code_identity, short_code
from rdbench.errors import RdbenchError, UsageError

#: separates a codec name from its selectors: jpeg@3fa2b1c0, mlicpp@cuda
SELECTOR_SEP = "@"
#: the selector that addresses an imported curve whose name a measured codec also has
IMPORTED = "imported"
#: characters of a configuration hash or weights hash shown to people
SHORT = 8


def short_weights(weights: str) -> str:
    """A weights id for people: the first hex of ``sha256:<hex>``, ``models:`` and the first hex of a rate
    choice's set of models (:func:`rdbench.run.rate_match.weight_set`); ``seed:N`` and zoo files as they are."""
    if weights.startswith("sha256:"):
        return weights[len("sha256:"):][:SHORT]
    if weights.startswith("models:"):
        return weights[:len("models:") + SHORT]
    return weights


def split_name(name: str) -> tuple[str, list[str]]:
    """``jpeg@3fa2@cpu`` -> (``jpeg``, [``3fa2``, ``cpu``])."""
    codec, *selectors = name.split(SELECTOR_SEP)
    return codec, list(selectors)


@dataclass(frozen=True)
class Choice:
    """What a name asks for: a codec and what its selectors fixed (full values, None when free)."""

    name: str
    codec: str
    config_hash: str | None = None
    device: str | None = None
    weights: str | None = None
    code: str | None = None
    imported: bool = False

    @property
    def explicit(self) -> bool:
        return bool(self.config_hash or self.device or self.weights or self.code is not None)

    def selection(self) -> dict[str, str | None]:
        """The store filter (:meth:`Store.find_records` ``selections``) of this choice."""
        return {"codec": self.codec, "config_hash": self.config_hash, "device": self.device,
                "weights": self.weights, "code": self.code}


def parse_name(name: str, measured: Collection[str], stored_groups: Callable[[str], list[dict[str, Any]]],
               where: str) -> Choice:
    """Parse ``NAME[@SELECTOR...]`` against what is stored: ``measured`` codec names, the record groups
    of a codec (``stored_groups(codec)``, :meth:`Store.record_groups`), ``where`` they are (for messages).
    Unknown or ambiguous selectors are usage errors listing the configurations, devices and weights
    stored for the codec. :meth:`rdbench.analysis.catalogue.Catalogue.resolve` asks it."""
    if SELECTOR_SEP not in name or name in measured:
        return Choice(name, name)
    codec, selectors = split_name(name)
    groups = stored_groups(codec)
    fixed: dict[str, Any] = {"config_hash": None, "device": None, "weights": None, "code": None, "imported": False}
    for selector in selectors:
        if selector == IMPORTED:
            fixed["imported"] = True
            continue
        if not groups:
            raise UsageError(f"{name!r}: {codec!r} has no measured records in {where}",
                             hint="'@' chooses among a measured codec's stored configurations, devices or weights "
                                  f"(and {codec}@{IMPORTED} an imported curve)")
        configs = sorted({g["config_hash"] for g in groups})
        devices = sorted({g["device"] for g in groups})
        weights = sorted({g["weights"] for g in groups} - {""})
        codes = sorted({g["code"] for g in groups})
        if selector in devices:
            fixed["device"] = selector
            continue
        lowered = selector.lower()
        config_hits = [h for h in configs if lowered and h.startswith(lowered)]
        weight_hits = [w for w in weights if lowered and (w.startswith(selector)
                                                          or w.split(":", 1)[-1].startswith(lowered))]
        code_hits = [c for c in codes if lowered and short_code(c).lower().startswith(lowered)]
        hits = ([("config_hash", h) for h in config_hits] + [("weights", w) for w in weight_hits]
                + [("code", c) for c in code_hits])
        stored = (f"configurations {', '.join(configs)}; devices {', '.join(devices)}"
                  + (f"; weights {', '.join(short_weights(w) for w in weights)}" if weights else "")
                  + (f"; code {', '.join(short_code(c) for c in codes)}" if len(codes) > 1 else ""))
        if len(hits) == 1:
            column, value = hits[0]
            fixed[column] = value
        elif hits:
            raise UsageError(f"{name!r}: {selector!r} is ambiguous, it begins "
                             f"{', '.join(_shown(c, v) for c, v in hits)}",
                             hint=f"give more characters; {codec} has {stored}")
        else:
            raise UsageError(f"{name!r}: {codec!r} has no stored configuration, device or weights {selector!r}",
                             hint=f"{codec} has {stored} (see `rdbench results --codec {codec}`)")
    return Choice(name, codec, **fixed)


def _shown(column: str, value: str) -> str:
    if column == "weights":
        return short_weights(value)
    return short_code(value) if column == "code" else value


@cache
def current_code(adapter_name: str) -> str | None:
    """The code identity of an adapter as installed now; None when it no longer loads."""
    from rdbench.codecs.registry import load_adapter

    try:
        return code_identity(load_adapter(adapter_name))
    except Exception:  # noqa: BLE001 - a plug-in that fails to import has no current code
        return None


def current_config(codec: str) -> Any | None:
    """The codec's configuration as rdbench resolves it now (shipped TOML or ``RDBENCH_CODECS_PATH``),
    or None when the name does not resolve (a lab's configuration no longer on the path)."""
    from rdbench.codecs.registry import resolve_codecs

    try:
        return resolve_codecs([codec])[0]
    except RdbenchError:
        return None


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(_flatten(item, f"{prefix}{key}."))
        return out
    return {prefix[:-1]: value}


def config_differences(configs: dict[str, dict[str, Any] | None]) -> dict[str, str]:
    """Configuration hash -> its parameters that differ among ``configs`` (hash -> stored
    ``{"adapter", "params"}``), as ``options.optimize=false``; "configuration not recorded" when
    the store has none for a hash."""
    flat = {h: (_flatten({"adapter": c.get("adapter"), **(c.get("params") or {})}) if c else None)
            for h, c in configs.items()}
    known = [f for f in flat.values() if f is not None]
    keys = sorted({k for f in known for k in f})
    differing = [k for k in keys if len({json.dumps(f.get(k), sort_keys=True, default=str) for f in known}) > 1]
    out = {}
    for config_hash, values in flat.items():
        if values is None:
            out[config_hash] = "configuration not recorded"
        else:
            out[config_hash] = ", ".join(f"{k}={json.dumps(values.get(k), default=str)}" for k in differing) \
                or "same parameters"
    return out
