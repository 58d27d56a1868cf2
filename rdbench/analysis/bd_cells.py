"""One BD value and everything it rests on, as a typed object (:class:`BdCell`).

WHY a module of its own: :func:`rdbench.analysis.tables.bd_table` computes cells and
:mod:`rdbench.analysis.bd_format` turns them into columns, footnotes and readable strings; both
read this definition, so neither depends on the other's details.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from rdbench.analysis.bdrate import BdKind
from rdbench.analysis.image_sets import ImageSet

#: Coverage (:func:`coverage`) below which a value is flagged as a weak comparison. The number is the
#: ``bjontegaard`` package's ``min_overlap`` default; it is applied to the codec's own range rather than to
#: the joint range (the ``overlap`` column) because a value is read as a summary of the codec's curve: an
#: anchor measured over a wider range (VTM's 36 published QPs) leaves the joint overlap small although the
#: value covers all of the codec's curve, while an anchor that meets the codec's curve only at one end
#: (docs/bd-rate.md) is flagged either way.
WEAK_COVERAGE = 0.75


#: the JSON keys a cell always has, in their order (a cell's JSON must not change from one release to the next)
_ALWAYS = ("codec", "dataset", "anchor", "metric", "method", "value", "overlap", "interval", "anchor_points",
           "test_points", "interp_error", "below_interp_error")
#: keys written only when set (None, or False for a flag, means absent), in their order
_WHEN_SET = ("config", "images", "interp_error_reason", "coverage", "weak_overlap", "reason")
_CI_ALWAYS = ("ci_level", "ci_low", "ci_high", "n_images", "resamples", "seed")
_CI_WHEN_SET = ("ci_failed", "ci_left_out", "ci_note", "ci_excludes_value", "ci_reason")


def _is_set(value: Any) -> bool:
    """A field written to the JSON: neither None nor a False flag (0 and 0.0 are values)."""
    return value is not None and value is not False


@dataclass(kw_only=True)
class BdCell:
    """One (codec, dataset) value with everything it rests on: the computed facts only, no text for a
    table (:mod:`rdbench.analysis.bd_format` makes columns, footnotes and readable strings from it).

    WHY typed: the table, its footnotes, the report and the DataFrame all read these fields; a dict
    built up in five places let a key be spelled two ways. ``to_json()`` gives the object
    ``rdbench bdrate --format json`` prints (``bd_rate`` or ``bd_psnr`` after ``kind``), and a cell
    can still be read like that object (``cell["ci_low"]``) by code written against it.
    """

    codec: str
    dataset: str
    anchor: str
    metric: str
    method: str
    kind: BdKind
    value: float = math.nan
    #: share of the joint range both curves cover on the integrated axis (0..1)
    overlap: float = math.nan
    #: the integrated interval with both axes' ends (:meth:`BdResult.interval_dict`)
    interval: dict[str, list[float]] | None = None
    anchor_points: list[dict[str, Any]] | None = None
    test_points: list[dict[str, Any]] | None = None
    interp_error: float = math.nan
    below_interp_error: bool = False
    #: the codec's configuration label, where it has a curve
    config: str | None = None
    #: the images both mean curves average; None when both curves are published
    images: ImageSet | None = None
    interp_error_reason: str | None = None
    #: share of the codec's own range the anchor covers (:func:`coverage`); None without a value
    coverage: float | None = None
    weak_overlap: bool = False
    #: why there is no value
    reason: str | None = None
    #: the bootstrap interval, where one was asked for (``ci_level`` not None)
    ci_level: float | None = None
    ci_low: float = math.nan
    ci_high: float = math.nan
    n_images: int = 0
    resamples: int | None = None
    seed: int | None = None
    ci_failed: int | None = None
    ci_left_out: dict[str, str] | None = None
    ci_note: str | None = None
    ci_excludes_value: bool = False
    ci_reason: str | None = None
    #: the integrated range as a person reads it (``BdResult.interval_text``); not in the JSON, which has ``interval``
    interval_text: str = ""
    #: supporting points of the codec's curve; not in the JSON, which lists them in ``test_points``
    curve_points: int = 0

    @property
    def value_key(self) -> str:
        """The JSON name of the value: ``bd_rate`` (%) or ``bd_psnr`` (dB, or the metric's unit)."""
        return "bd_psnr" if self.kind == "quality" else "bd_rate"

    def to_json(self) -> dict[str, Any]:
        """The cell as ``rdbench bdrate --format json`` prints it (NaN left for the printer to spell)."""
        out: dict[str, Any] = {}
        for key in _ALWAYS:
            out[self.value_key if key == "value" else key] = getattr(self, key)
        for key in _WHEN_SET:
            value = getattr(self, key)
            if key == "images" and value is not None:
                out.update(value.to_json())
            elif _is_set(value):
                out[key] = value
        if self.ci_level is not None:
            out.update((key, getattr(self, key)) for key in _CI_ALWAYS)
            out.update((key, getattr(self, key)) for key in _CI_WHEN_SET if _is_set(getattr(self, key)))
        return out

    def __getitem__(self, key: str) -> Any:
        return self.to_json()[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.to_json().get(key, default)
