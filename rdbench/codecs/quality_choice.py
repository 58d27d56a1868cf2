"""Which quality points a command uses, codec by codec: what ``--quality`` means everywhere.

Why per codec: codecs count quality on different scales (JPEG quality 1-100, a VTM QP, a learned
model's index 1-8), so one list for a mix of codecs is right for at most one of them.
``--quality 30,50`` names the points of every codec; ``--quality jpeg=30,50 --quality tinyhp=1,2``
names each codec's own, and a named codec's list replaces the global one for that codec. The
command line parses the option once (:func:`rdbench.cli.options.parse_qualities`); run planning
(:func:`rdbench.run.plan.plan_jobs`) and curve selection (:func:`rdbench.analysis.tables.bd_table`,
:func:`rdbench.analysis.delta.delta_figure`, ...) ask :meth:`QualityChoice.of` for a codec's points.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rdbench.errors import UsageError

#: separates a codec name from its ``@`` selectors (``jpeg@3fa2``); a per-codec entry for ``jpeg``
#: also applies to ``jpeg@3fa2``
_SELECTOR_SEP = "@"


def _texts(values: Iterable[Any]) -> tuple[str, ...]:
    return tuple(str(v).strip() for v in values)


@dataclass(frozen=True)
class QualityChoice:
    """The quality points of each codec of a command: ``every`` for any codec not in ``named``
    (None: the codec's own sweep, or every stored point), ``named`` per codec name."""

    every: tuple[str, ...] | None = None
    named: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @classmethod
    def of_value(cls, value: QualityChoice | Mapping[str, Iterable[Any]] | Iterable[Any] | None) -> QualityChoice:
        """What a library caller may pass as ``qualities``: a QualityChoice, None (no filter), a
        list of qualities for every codec, or a mapping codec name -> its qualities."""
        if value is None:
            return cls()
        if isinstance(value, QualityChoice):
            return value
        if isinstance(value, Mapping):
            return cls(named=tuple((str(codec), _texts(points)) for codec, points in value.items()))
        if isinstance(value, str):
            raise UsageError(f"qualities {value!r}: pass a list of qualities, or a mapping codec -> list")
        texts = _texts(value)
        return cls(every=texts or None)

    def of(self, name: str) -> list[str] | None:
        """The points of codec ``name``: its own entry, else the global list; None when nothing
        restricts it."""
        own = self.explicit(name)
        if own is not None:
            return own
        return list(self.every) if self.every else None

    def explicit(self, name: str) -> list[str] | None:
        """The points named for ``name`` itself (``NAME@SELECTOR`` takes the entry of NAME unless it
        has its own), ignoring the global list: what an anchor takes, as the global list is for the
        codecs compared with it."""
        named = dict(self.named)
        for key in (name, name.split(_SELECTOR_SEP)[0]):
            if key in named:
                return list(named[key])
        return None

    def __bool__(self) -> bool:
        return bool(self.every) or bool(self.named)

    def check_names(self, names: Sequence[str], *, anchor: str | None = None) -> None:
        """Refuse a ``CODEC=`` entry for a codec that is not among ``names`` (the command's codecs):
        it would be ignored. ``anchor`` (bdrate's) is refused with the option that selects its points."""
        bases = {n.split(_SELECTOR_SEP)[0] for n in names}
        for codec, _ in self.named:
            if codec in names or codec in bases:
                continue
            if anchor is not None and codec in (anchor, anchor.split(_SELECTOR_SEP)[0]):
                raise UsageError(f"--quality {codec}=...: {codec} is the anchor, whose points only "
                                 "--anchor-qualities selects")
            raise UsageError(f"--quality {codec}=...: {codec} is not among the codecs of this command "
                             f"({', '.join(names) or 'none'})")

    def describe(self) -> str:
        """``20, 40; webp 30, 50``: for titles and the lines under a table."""
        parts = [", ".join(self.every)] if self.every else []
        parts += [f"{codec} {', '.join(points)}" for codec, points in self.named]
        return "; ".join(parts)

    def to_json(self) -> dict[str, Any]:
        """``{"every": [...] or None, "per_codec": {codec: [...]}}``."""
        return {"every": list(self.every) if self.every else None,
                "per_codec": {codec: list(points) for codec, points in self.named}}

