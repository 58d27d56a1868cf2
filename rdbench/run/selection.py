"""Which of the codecs a command names can run on this machine, at which qualities.

WHY one module: ``rdbench run`` and ``rdbench complexity`` (and the library's
:func:`rdbench.api.benchmark.benchmark` and :func:`rdbench.api.complexity.complexity` under them)
each resolved the names, checked every codec's qualities and the device, skipped the codecs this
machine cannot run (saying why) and refused when none was left, in two copies that had begun to
drift. Everything here fails before a job is planned or a row stored.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rdbench.codecs.base import Codec, CodecConfig, CodecContext
from rdbench.codecs.quality_choice import QualityChoice
from rdbench.codecs.registry import load_adapter, resolve_codecs
from rdbench.errors import RdbenchError
from rdbench.run.checks import check_device, for_qualities

#: What a library caller may pass as ``qualities`` (:meth:`QualityChoice.of_value`).
Qualities = QualityChoice | Mapping[str, Iterable[Any]] | Iterable[Any] | None


@dataclass(frozen=True)
class Selection:
    """The codecs of a command, their adapters (same order) and each codec's checked quality points."""

    configs: list[CodecConfig]
    adapters: list[type[Codec]]
    qualities: QualityChoice


def checked_qualities(configs: Sequence[CodecConfig], qualities: Qualities) -> QualityChoice:
    """The quality points each codec of a run will use, checked before anything is stored.

    Each codec's points (``qualities``: a list for every codec, a mapping codec -> list, or a
    QualityChoice; its ``CODEC=`` list, else the global one) are checked against its declared
    range (:meth:`rdbench.codecs.base.Codec.checked_qualities`) and returned as stored texts, one
    per point (``50,50.0`` is one point); a codec with no points given keeps None (it runs its
    sweep, which is checked too). A ``CODEC=`` entry for a codec not selected is refused. Raises
    UsageError naming the codec, the value and the valid range.
    """
    choice = QualityChoice.of_value(qualities)
    choice.check_names([config.name for config in configs])
    named = []
    for config in configs:
        wanted = choice.of(config.name)
        texts = load_adapter(config.adapter).checked_qualities(config, wanted)
        if wanted is not None:
            named.append((config.name, texts))
    return QualityChoice(named=tuple(named))


def select_codecs(names: str | Sequence[str], qualities: Qualities, device: str) -> Selection:
    """The named codecs (comma-separated or a list), their qualities checked against each codec's
    range and ``device`` checked against this machine and the codecs (UsageError otherwise)."""
    configs = resolve_codecs(names if isinstance(names, str) else list(names))
    choice = checked_qualities(configs, qualities)
    adapters = [load_adapter(config.adapter) for config in configs]
    check_device(device, adapters)
    return Selection(configs, adapters, choice)


def runnable(selection: Selection, context: CodecContext, say: Callable[[str], None], *,
             refuse: Callable[[CodecConfig, type[Codec]], str | None] | None = None,
             none_left: RdbenchError | None = None) -> Selection:
    """The codecs of ``selection`` that can run here with ``context``: each other one is named
    through ``say`` ("skipping NAME: why") and left out. ``refuse`` gives a command's own reason
    to leave a codec out (asked first); availability is checked at the qualities the command runs
    (a checkpoint folder need hold only those). Raises ``none_left`` (default: "no codec can run on
    this machine") when no codec is left."""
    configs, adapters = [], []
    for config, adapter in zip(selection.configs, selection.adapters):
        reason = (refuse(config, adapter) if refuse else None) or adapter.unavailable_reason(
            for_qualities(config, selection.qualities.of(config.name)), context)
        if reason:
            say(f"skipping {config.name}: {reason}")
            continue
        configs.append(config)
        adapters.append(adapter)
    if not configs:
        raise none_left or RdbenchError("no codec can run on this machine",
                                        hint="`rdbench codecs` says what each one needs")
    return Selection(configs, adapters, selection.qualities)
