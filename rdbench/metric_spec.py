"""What a metric is, declared once: every command, table, figure and the store derive from it.

WHY: the names and conventions of PSNR and MS-SSIM (which record field holds the per-image value,
the axis label, that MS-SSIM curves are drawn and integrated in dB, the smallest image it is defined
on) were spelled out again in the CLI, the curves, the tables, the bootstrap, the report and the
import and export code; adding a metric meant finding all of them. A :class:`Metric` says it all in
one place, and this module sits below every stage (it imports nothing of rdbench but its errors, and
no function it names is imported until it is computed), so any stage may read it.

Where metrics come from, in order (later sources cannot redefine an earlier name):

1. :data:`BUILTIN`: ``psnr`` and ``ms-ssim``, whose values are columns of the records table, and
   :data:`SHIPPED`, rdbench's metrics measured on request;
2. the ``rdbench.metrics`` entry-point group: a package declares, in its own ``pyproject.toml``::

       [project.entry-points."rdbench.metrics"]
       psnr-y = "mypackage.metrics:PSNR_Y"      # a rdbench.Metric, or a function (image, image) -> float

3. ``*.toml`` files in the folders of ``RDBENCH_METRICS_PATH`` (``os.pathsep``-separated)::

       name = "psnr-y"
       function = "mypackage.metrics:psnr_y"   # (original, reconstruction) uint8 (H, W, 3) -> float
       label = "PSNR-Y"
       unit = "dB"
       higher_is_better = true
       min_size = 1
       scale = "value"                          # "db": shown and integrated as -10 log10(1 - x);
                                                # "one-minus": as 1 - x (a lower-is-better metric)
       cap_db = true                            # values above 100 dB (lossless) count as 100 dB
       version = "1"
       on_request = false                       # true: measured only when a run names it (--metrics)
       psnr_peak = 0.0                          # a PSNR's peak: its values pool into one MSE per dataset

A plug-in metric's per-image values are stored one row per record and metric (table
``metric_values``, with the metric's version), so a new metric needs no schema change.
"""

from __future__ import annotations

import importlib
import math
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from rdbench.errors import RdbenchError, UsageError, did_you_mean

ENTRY_POINT_GROUP = "rdbench.metrics"
PATH_VARIABLE = "RDBENCH_METRICS_PATH"
#: What a metric's name may be: it is a CLI word, a table column and a key of the stored values.
NAME_RULE = "lowercase letters, digits and '-', starting with a letter"
_NAME = re.compile(r"[a-z][a-z0-9-]*\Z")
#: The ways an aggregate is shown and enters a BD integral: as it is, in dB (-10 log10(1 - x)), or as
#: 1 - x (a lower-is-better metric such as NLPD, which JPEG AI integrates as 1 - NLPD, so that the
#: shown value rises with the rate as a BD integral needs).
SCALES = ("value", "db", "one-minus")
#: Names a plug-in metric may not take: the other columns of a mean row of a curve.
_RESERVED = frozenset({"bpp", "mse", "n", "failed", "quality", "codec", "dataset", "image", "value"})


@dataclass(frozen=True)
class Metric:
    """One image-quality metric: how it is computed, stored, aggregated, shown and compared."""

    #: the CLI's name (``--metric NAME``), the key of plug-in values in the store
    name: str
    #: ``module:function`` computing the per-image value from (original, reconstruction), both uint8
    #: (H, W, 3) numpy arrays; imported only when a run computes the metric
    function: str
    #: axis and column label, without the unit (``PSNR``)
    label: str = ""
    unit: str = ""
    higher_is_better: bool = True
    #: how per-image values combine into a curve point: the mean over images (CompressAI's convention)
    aggregation: str = "mean"
    #: how the aggregate is shown and enters a BD integral: ``value`` as it is, ``db`` as
    #: -10 log10(1 - x) (MS-SSIM, whose mean is taken on the linear values first), ``one-minus`` as
    #: 1 - x (a lower-is-better metric, JPEG AI's 1 - NLPD; the mean is taken on the values first)
    scale: str = "value"
    #: whether values above 100 dB (a lossless image's infinite PSNR) count as 100 dB in derived numbers
    cap_db: bool = False
    #: the smallest side (pixels) of an image the metric is defined on; smaller images get no value
    min_size: int = 1
    #: the implementation's version, stored with every value (a changed implementation is told apart)
    version: str = ""
    #: measured only when a run names it (``--metrics NAME`` or a set holding it), not by every run
    on_request: bool = False
    #: for a PSNR-like metric, the peak value its per-image MSE is recovered with
    #: (``peak**2 * 10**(-value / 10)``), so values can be pooled into one MSE over a dataset's pixels;
    #: 0 for any other metric
    psnr_peak: float = 0.0
    #: ``module:function`` returning why the metric cannot be measured here (None when it can): a
    #: metric needing software this machine lacks is listed with the reason, as a codec is; "" when
    #: it is always measurable
    unavailable: str = ""
    #: whether ``function`` also takes the reconstruction as an (H, W, 3) uint8 torch tensor on a
    #: device (a learned codec's GPU output) and computes there; otherwise such a reconstruction is
    #: copied to the host first
    device: bool = False
    #: a built-in metric's per-image record field (its column in the records table); "" for a plug-in,
    #: whose values are in ``Record.metrics``
    field: str = ""
    #: a built-in metric's key of the shown aggregate in mean rows and published curves (``ms_ssim_db``)
    curve_field: str = ""
    description: str = ""

    @property
    def builtin(self) -> bool:
        return bool(self.field)

    @property
    def key(self) -> str:
        """The key of the shown aggregate in a curve's mean rows and in published curves."""
        return self.curve_field or self.field or self.name

    def shown(self, value: float | None) -> float | None:
        """A linear value (a per-image value or a mean of them) on the scale tables, figures and BD
        integrals use (:data:`SCALES`); None stays None."""
        if value is None or self.scale == "value":
            return value
        if self.scale == "one-minus":
            return 1.0 - value
        return math.inf if value >= 1.0 else -10.0 * math.log10(1.0 - value)

    @property
    def shown_unit(self) -> str:
        """The unit of shown values: dB for a metric shown in dB, else its own."""
        return "dB" if self.scale == "db" else self.unit

    @property
    def shown_label(self) -> str:
        """``PSNR``, ``MS-SSIM``, ``1 - NLPD``: what the shown values are, without their unit (a one-minus
        metric is shown, and integrated, as 1 - x)."""
        label = self.label or self.name
        return f"1 - {label}" if self.scale == "one-minus" else label

    @property
    def axis_label(self) -> str:
        """``PSNR (dB)``, ``MS-SSIM (dB)``, ``1 - NLPD``: the label of an axis or column of shown values."""
        if self.scale == "one-minus":
            return self.shown_label + (f" ({self.unit})" if self.unit else "")
        return f"{self.shown_label} ({self.shown_unit})" if self.shown_unit else self.shown_label

    def value_text(self, value: float) -> str:
        """``PSNR 32.105 dB``: a shown value with its label and unit, for tooltips and notes."""
        return f"{self.shown_label} {value:.3f} {self.shown_unit}".rstrip()

    def record_value(self, record: Any) -> float | None:
        """The per-image value a record holds (None when it has none): the built-in's field, or the
        plug-in's entry in ``record.metrics``."""
        if self.field:
            return getattr(record, self.field)
        return record.metrics.get(self.name)

    def unavailable_reason(self) -> str | None:
        """Why this metric cannot be measured here, or None when it can."""
        if not self.unavailable:
            return None
        return _import(self.unavailable, self.name)()

    def load(self) -> Callable[[Any, Any], float]:
        """The function that computes the metric (imported now)."""
        return _import(self.function, self.name)


def _import(target: str, metric: str) -> Callable[..., Any]:
    """The function ``module:function`` names, imported now; a one-line error names the metric."""
    module_name, _, attr = target.partition(":")
    try:
        return getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError, ValueError) as exc:
        raise RdbenchError(f"metric {metric!r}: cannot import its function {target!r}: {exc}") from exc


PSNR = Metric(name="psnr", function="rdbench.run.metrics:psnr", label="PSNR", unit="dB", cap_db=True, psnr_peak=255.0,
              field="psnr", description="RGB PSNR, peak 255, mean over images of per-image values")
MS_SSIM = Metric(name="ms-ssim", function="rdbench.run.metrics:ms_ssim", label="MS-SSIM", unit="", scale="db",
                 cap_db=True, min_size=161, field="ms_ssim", curve_field="ms_ssim_db",
                 description="RGB MS-SSIM (pytorch_msssim's), mean of linear values shown as -10 log10(1 - mean)")
#: rdbench's own metrics, whose per-image values are columns of the records table
BUILTIN: dict[str, Metric] = {m.name: m for m in (PSNR, MS_SSIM)}
_JPEG_AI = "rdbench.run.metrics.jpegai"
_J = "JPEG AI framework's: 10-bit Y'CbCr BT.709 full range"
#: metrics shipped with rdbench and measured on request, whose values are stored as a plug-in's are;
#: the JPEG AI quality framework's (docs/metrics.md: definitions and agreement with its code)
SHIPPED: dict[str, Metric] = {m.name: m for m in (
    Metric(name="psnr-y", function=f"{_JPEG_AI}.psnr:psnr_y", label="PSNR-Y", unit="dB", cap_db=True, version="1",
           on_request=True, device=True, psnr_peak=1023.0, description=f"PSNR of Y', peak 1023 ({_J})"),
    Metric(name="psnr-u", function=f"{_JPEG_AI}.psnr:psnr_u", label="PSNR-U", unit="dB", cap_db=True, version="1",
           on_request=True, device=True, psnr_peak=1023.0, description=f"PSNR of Cb, peak 1023 ({_J})"),
    Metric(name="psnr-v", function=f"{_JPEG_AI}.psnr:psnr_v", label="PSNR-V", unit="dB", cap_db=True, version="1",
           on_request=True, device=True, psnr_peak=1023.0, description=f"PSNR of Cr, peak 1023 ({_J})"),
    Metric(name="psnr-yuv", function=f"{_JPEG_AI}.psnr:psnr_yuv", label="PSNR-YUV", unit="dB", cap_db=True,
           version="1", on_request=True, device=True, description="(6 PSNR-Y + PSNR-U + PSNR-V) / 8, JVET's weighting"),
    Metric(name="ms-ssim-y", function=f"{_JPEG_AI}.ssim:ms_ssim_y", label="MS-SSIM-Y", version="1", on_request=True, device=True,
           description=f"pytorch_msssim's MS-SSIM of Y' codes, data range 1023, padded to 164 px ({_J})"),
    Metric(name="iw-ssim", function=f"{_JPEG_AI}.ssim:iw_ssim", label="IW-SSIM", version="1", on_request=True, device=True,
           description=f"information-weighted SSIM of Y' (piq), padded to 256 px ({_J})"),
    Metric(name="vif", function=f"{_JPEG_AI}.vif_fsim:vif", label="VIF", version="1", on_request=True, device=True,
           description=f"pixel-domain VIF of Y' (piq), padded to 64 px ({_J})"),
    Metric(name="fsim", function=f"{_JPEG_AI}.vif_fsim:fsim", label="FSIM", version="1", on_request=True, device=True,
           description="FSIM_C of the 10-bit rounded RGB (piq), the JPEG AI framework's input"),
    Metric(name="nlpd", function=f"{_JPEG_AI}.nlpd:nlpd", label="NLPD", higher_is_better=False, scale="one-minus",
           version="1", on_request=True, device=True,
           description=f"normalised Laplacian pyramid distance of Y', padded to 128 px ({_J}); BD on 1 - NLPD"),
    Metric(name="psnr-hvs", function=f"{_JPEG_AI}.psnr:psnr_hvs", label="PSNR-HVS", unit="dB", cap_db=True,
           version="1", on_request=True, device=True,
           description=f"PSNR-HVS of Y' (psnr_hvsm), padded to a multiple of 8 px ({_J})"),
    Metric(name="vmaf", function=f"{_JPEG_AI}.vmaf:vmaf", label="VMAF", version="0", on_request=True,
           unavailable=f"{_JPEG_AI}.vmaf:unavailable_reason",
           description="Netflix VMAF on 10-bit Y'CbCr 4:4:4; unavailable: no libvmaf here"),
)}
#: the metric a command compares by when none is named
DEFAULT = PSNR.name
#: named sets of metrics, asked for by one word where a metric name is accepted (``--metrics jpeg-ai``):
#: ``jpeg-ai`` is every metric the JPEG AI framework reports (and JVET's PSNR-YUV); ``jpeg-ai-average``
#: the seven whose BD-rates JPEG AI averages into one figure, in the order of its reporting script's
#: ``Average`` (docs/metrics.md)
SETS: dict[str, tuple[str, ...]] = {
    "jpeg-ai": ("psnr-y", "psnr-u", "psnr-v", "psnr-yuv", "ms-ssim-y", "iw-ssim", "vif", "fsim", "nlpd", "psnr-hvs",
                "vmaf"),
    "jpeg-ai-average": ("ms-ssim-y", "vif", "fsim", "nlpd", "iw-ssim", "vmaf", "psnr-hvs"),
}
#: set name -> the members whose BD-rates the set's average takes, where not all of them
#: (``bdrate --metric SET``): JPEG AI's reporting averages these seven, not its PSNR-Y/U/V
#: (docs/metrics.md, "BD per metric and the JPEG AI average")
AVERAGED: dict[str, tuple[str, ...]] = {"jpeg-ai": SETS["jpeg-ai-average"]}


def check_metric(metric: Metric, where: str) -> Metric:
    """``metric`` when it is usable; else a one-line error naming ``where`` it was declared."""
    problems = []
    if not _NAME.match(metric.name):
        problems.append(f"name {metric.name!r} is not {NAME_RULE}")
    elif metric.name in _RESERVED:
        problems.append(f"name {metric.name!r} is a column of every curve")
    if ":" not in metric.function:
        problems.append(f"function {metric.function!r} is not 'module:function'")
    if metric.scale not in SCALES:
        problems.append(f"scale {metric.scale!r} is not one of {', '.join(SCALES)}")
    if metric.aggregation != "mean":
        problems.append(f"aggregation {metric.aggregation!r} is not 'mean'")
    if not isinstance(metric.min_size, int) or metric.min_size < 1:
        problems.append(f"min_size {metric.min_size!r} is not a positive integer")
    if problems:
        raise RdbenchError(f"metric declared in {where}: {'; '.join(problems)}")
    return metric


def _from_toml(path: Path) -> Metric:
    import tomllib

    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise RdbenchError(f"metric file {path}: {exc}") from exc
    allowed = {"name", "function", "label", "unit", "higher_is_better", "scale", "cap_db", "min_size", "version",
               "description", "on_request", "psnr_peak"}
    unknown = sorted(set(data) - allowed)
    if unknown or "name" not in data or "function" not in data:
        what = f"unknown keys {', '.join(unknown)}" if unknown else "'name' and 'function' are required"
        raise RdbenchError(f"metric file {path}: {what}", hint=f"keys: {', '.join(sorted(allowed))}")
    return check_metric(Metric(**{k: data[k] for k in data}), str(path))


def _from_entry_point(ep: Any) -> Metric:
    try:
        found = ep.load()
    except Exception as exc:  # a broken third-party package must not take rdbench down
        raise RdbenchError(f"metric {ep.name!r} from entry point {ep.value!r} failed to import: {exc}") from exc
    where = f"entry point {ep.name} = {ep.value} (group {ENTRY_POINT_GROUP})"
    if isinstance(found, Metric):
        if found.name != ep.name:
            raise RdbenchError(f"{where}: names a metric called {found.name!r}; the entry point's name must be it")
        return check_metric(found, where)
    if callable(found):
        return check_metric(Metric(name=ep.name, function=ep.value), where)
    raise RdbenchError(f"{where}: is {found!r}, neither a rdbench.Metric nor a function")


@lru_cache(maxsize=8)
def _registry(path_value: str) -> dict[str, Metric]:
    found = {**BUILTIN, **SHIPPED}

    def add(metric: Metric, where: str) -> None:
        if metric.name in found:
            raise RdbenchError(f"metric {metric.name!r} of {where} is declared already", hint="rename one of them")
        found[metric.name] = metric

    for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        add(_from_entry_point(ep), f"entry point {ep.value}")
    for folder in (Path(p) for p in path_value.split(os.pathsep) if p):
        for path in sorted(folder.glob("*.toml")) if folder.is_dir() else []:
            add(_from_toml(path), str(path))
    return found


def registered() -> dict[str, Metric]:
    """Every metric by name: built-ins, then entry points, then ``RDBENCH_METRICS_PATH`` files."""
    return dict(_registry(os.environ.get(PATH_VARIABLE, "")))


def names() -> list[str]:
    """Every metric's name, built-ins first: what ``--metric`` accepts."""
    return list(registered())


def plugins() -> list[Metric]:
    """The metrics that are not built in and not measured on request only: what every run computes
    besides PSNR and MS-SSIM."""
    return [m for m in registered().values() if not m.builtin and not m.on_request]


def expand(words: str | Iterable[str]) -> list[Metric]:
    """The metrics named by ``words`` (metric names or names of :data:`SETS`; a string or each word may
    hold several, comma-separated: ``"jpeg-ai,psnr-y"``), in order, each once; a usage error names an
    unknown word, or says that none was given."""
    split = [w.strip() for word in ([words] if isinstance(words, str) else words) for w in str(word).split(",")]
    if not any(split) or not all(split):
        raise UsageError(f"no metric named in {','.join(split)!r}",
                         hint=f"name metrics or sets, comma-separated: {', '.join([*names()[:3], *SETS][:5])}")
    chosen: dict[str, Metric] = {}
    for word in split:
        for name in SETS.get(word, (word,)):
            chosen.setdefault(name, get(name))
    return list(chosen.values())


def averaged(words: str | Iterable[str]) -> list[str]:
    """The names whose BD-rates the average of ``bdrate --metric WORDS`` takes: each set's
    :data:`AVERAGED` members (all its members when it has no entry), and each metric named alone."""
    split = [w.strip() for word in ([words] if isinstance(words, str) else words) for w in str(word).split(",")]
    chosen: dict[str, None] = {}
    for word in split:
        chosen.update(dict.fromkeys(AVERAGED.get(word, SETS.get(word, (word,)))))
    return list(chosen)


def unavailable_note(name: str | Metric) -> str | None:
    """``unavailable here: <reason>`` for a metric that cannot be measured on this machine (VMAF
    without a libvmaf), else None: the words every output uses where such a metric has no values, so a
    reader is told why rather than that a curve is missing."""
    reason = get(name).unavailable_reason()
    return f"unavailable here: {reason}" if reason else None


def unavailable_beside(present: Iterable[str]) -> dict[str, str]:
    """Metric name -> :func:`unavailable_note` for each metric unavailable here that is not in ``present``
    (the metrics with values) but shares a set of :data:`SETS` with one that is: the column a reader of
    the JPEG AI metrics expects and does not find (``results``)."""
    present = set(present)
    wanted = dict.fromkeys(n for members in SETS.values() if present & set(members) for n in members
                           if n not in present)
    found = {}
    for name in wanted:
        note = unavailable_note(name) if name in registered() else None
        if note:
            found[name] = note
    return found


def get(name: str | Metric) -> Metric:
    """The metric called ``name`` (a :class:`Metric` is returned as it is); a usage error names
    the known ones otherwise."""
    if isinstance(name, Metric):
        return name
    if name in BUILTIN:  # without reading entry points: the analysis asks this per record
        return BUILTIN[name]
    known = _registry(os.environ.get(PATH_VARIABLE, ""))
    if name not in known:
        raise UsageError(f"unknown metric {name!r}{did_you_mean(name, list(known))}; known: {', '.join(known)}",
                         hint=f"a metric is added by an entry point in group {ENTRY_POINT_GROUP} or a TOML file "
                              f"in a folder of {PATH_VARIABLE}")
    return known[name]


__all__ = [
    "AVERAGED",
    "BUILTIN",
    "DEFAULT",
    "ENTRY_POINT_GROUP",
    "MS_SSIM",
    "PATH_VARIABLE",
    "PSNR",
    "SETS",
    "SHIPPED",
    "Metric",
    "averaged",
    "expand",
    "get",
    "names",
    "plugins",
    "registered",
    "unavailable_beside",
    "unavailable_note",
]
