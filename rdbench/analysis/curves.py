"""Curves: what (bpp, quality) points a codec name stands for on a dataset.

Every command that draws, tabulates or exports a curve (``bdrate``, ``plot``, ``export``, ``report``,
the notebooks and :mod:`rdbench.analysis.dataframes`) asks here, so one rule decides which points a
name means.

**Which records make a measured codec's curve on a dataset** (:func:`select_measured`):

1. A name is a measured codec when the store holds records of it on that dataset; else an
   imported curve of that name (``rdbench import``), else a curve shipped with rdbench. A
   measured codec whose name an imported curve also has is used as measured, with a note
   naming the imported file (``NAME@imported`` addresses the imported one).
2. Only ``ok`` records at the requested qualities (``--quality``; all when not given) count.
3. Of the codec's *configurations* (``config_hash``: adapter + parameters) among them:
   one -> it; several -> the codec's *current* configuration (the one
   ``rdbench.codecs.registry.resolve_codecs(name)`` gives now, from the shipped TOML or
   ``RDBENCH_CODECS_PATH``), with a note listing the others; if the current one is not among
   them, or the codec no longer resolves, the curve is refused (:class:`CurveChoiceError`)
   with every stored configuration, its differing parameters and its number of records.
4. ``NAME@SELECTOR`` chooses explicitly: a prefix of a configuration hash, a device
   (``jpeg@cpu``, ``mlicpp@cuda``), or a prefix of a weights id (the hex of ``sha256:...``, or
   ``seed:0``); selectors combine (``mlicpp@3fa2@cuda``). An unknown or ambiguous selector is a
   usage error listing what is stored.
5. Within the chosen configuration, one *code* (:mod:`rdbench.codecs.code_identity`): the only
   code stored, else the adapter's current code, with a note naming the others; refused when
   several are stored and none is current. ``NAME@<code hash>`` chooses one
   (``NAME@unrecorded``: records stored before rdbench recorded code).
6. Within the chosen configuration and code, each quality must come from one weights file and one
   device: a quality measured with two checkpoints, or on cpu and cuda, is refused with both
   listed (resolve with ``rdbench results --delete ...`` or a ``NAME@cuda`` / ``NAME@cpu`` /
   ``NAME@<weights>`` selector).

**Shipped fallbacks** (:data:`FALLBACKS`): a codec name with no measured records on a dataset (and no
imported curve of that name) may stand for a curve rdbench ships: ``vtm17`` for ``vtm17-rdbench``,
rdbench's own VTM-17.0 measurement (Kodak), so ``--anchor vtm17`` works without VTM. Measured runs
always take precedence; the curve says where it comes from (:meth:`CurveInfo.origin`) and the
datasets without one are marked missing (:func:`describe_anchor`).

Per-quality values are the mean of per-image values (:func:`rdbench.analysis.aggregate.aggregate`),
with lossless images' PSNR capped at :data:`rdbench.analysis.aggregate.PSNR_CAP_DB`.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rdbench import metric_spec
from rdbench.analysis.aggregate import (
    _quality_sort_key,
    aggregate,
    current_aggregation,
    shown_value,
)
from rdbench.analysis.catalogue import Catalogue, CatalogueSource
from rdbench.analysis.curve_names import (
    IMPORTED,
    SHORT,
    Choice,
    config_differences,
    current_code,
    current_config,
    short_weights,
)
from rdbench.analysis.image_sets import ImageSet, complete_images
from rdbench.codecs.code_identity import short_code
from rdbench.errors import UsageError, plural, with_article
from rdbench.store.record import Record
from rdbench.store.sqlite import Store

#: codec name -> the shipped curve it stands for where the store holds no measurement of it on a dataset
FALLBACKS: dict[str, str] = {"vtm17": "vtm17-rdbench"}


class CurveChoiceError(UsageError):
    """The records of a codec do not make one curve without a choice (several configurations none
    of which is current, or two weights / devices at one quality): the command line must choose."""


def _quality_matches(quality: str, wanted: list[str] | None) -> bool:
    if not wanted:
        return True
    key = _quality_sort_key(quality)
    return any(_quality_sort_key(w) == key for w in wanted)


@dataclass
class Selection:
    """The records that make a measured codec's curve on a dataset, and why these.

    Every mean it gives is over one set of images (:mod:`rdbench.analysis.image_sets`): by default
    the images with a value of the metric at every quality of the curve; a comparison passes the
    images both of its curves have (:func:`rdbench.analysis.image_sets.common_images`)."""

    name: str
    codec: str
    dataset: str
    config_hash: str
    #: the chosen configuration's records (ok and failed) at the selected qualities, stale ones excluded
    records: list[Record]
    #: configuration hash -> records (after the quality filter) of every configuration stored
    configurations: dict[str, int]
    #: "only", "current" or "chosen" (by a selector)
    how: str
    notes: list[str] = field(default_factory=list)
    #: what :meth:`cached` computed from ``records`` (the records it was computed from in ``_cached_of``)
    _cached_values: dict[tuple[Any, ...], Any] = field(default_factory=dict, init=False, repr=False, compare=False)
    _cached_of: list[Record] | None = field(default=None, init=False, repr=False, compare=False)

    def cached(self, key: tuple[Any, ...], compute: Callable[[], Any]) -> Any:
        """``compute()``, once per ``key`` for the records the selection holds.

        WHY: a BD-rate table asks one curve for its qualities, image sets and means many times (the
        value, the labels of its points, the interpolation error, the interval, per-image values), and
        each answer is a pass over all its records; a table over 140 codecs spent most of its time so.
        Assigning other ``records`` starts afresh."""
        if self._cached_of is not self.records:
            self._cached_values.clear()
            self._cached_of = self.records
        if key not in self._cached_values:
            self._cached_values[key] = compute()
        return self._cached_values[key]

    @property
    def qualities(self) -> list[str]:
        """The curve's qualities: those with at least one ok record, in numeric order."""
        return list(self.cached(("qualities",), lambda: sorted(
            {r.quality for r in self.records if r.ok and r.bpp is not None}, key=_quality_sort_key)))

    def image_set(self, metric: str | None = None) -> ImageSet:
        """The images the curve averages for ``metric`` (None: for its rate and timings): those with a
        value at every quality, and every other image with the reason."""
        found = self.cached(("image_set", metric), lambda: complete_images(self.records, self.qualities, metric))
        return ImageSet(found.images, dict(found.left_out))

    def rows_for(self, metric: str | None = None, images: ImageSet | None = None) -> list[dict[str, Any]]:
        """Per-quality means (:func:`rdbench.analysis.aggregate.aggregate`) over ``images`` (default:
        :meth:`image_set` of ``metric``), in quality order."""
        kept = (images if images is not None else self.image_set(metric)).images

        def compute() -> list[dict[str, Any]]:
            members = set(kept)
            rows = [r for r in aggregate(r for r in self.records if r.image in members) if r["n"]]
            rows.sort(key=lambda r: _quality_sort_key(r["quality"]))
            return rows

        return [dict(row) for row in self.cached(("rows", frozenset(kept), current_aggregation()), compute)]

    @property
    def rows(self) -> list[dict[str, Any]]:
        """Per-quality means over the images complete at every quality (the curve's rate and timings)."""
        return self.rows_for(None)

    @property
    def several(self) -> bool:
        """Whether the configuration must be named for the curve to be unambiguous to a reader."""
        return len(self.configurations) > 1 or self.how == "chosen"

    @property
    def devices(self) -> list[str]:
        return sorted({r.device for r in self.records if r.ok})

    @property
    def config_label(self) -> str:
        """Short configuration hash, plus the device when not the CPU (``3fa2b1c0``, ``3fa2b1c0 cuda``)."""
        devices = [d for d in self.devices if d != "cpu"]
        return self.config_hash[:SHORT] + (f" {'+'.join(self.devices)}" if devices else "")

    @property
    def label(self) -> str:
        """Legend label: the name, with the configuration when the store holds several."""
        return f"{self.codec} [{self.config_label}]" if self.several else self.name

    @property
    def images(self) -> int:
        """How many images the curve averages (its rate; a metric may have fewer: :meth:`image_set`)."""
        return len(self.image_set(None))

    def points(self, metric: str, images: ImageSet | None = None) -> list[tuple[float, float]]:
        """The mean curve (bpp, metric) over ``images`` (default: the images complete for ``metric``)."""
        key = metric_spec.get(metric).key
        return [(r["bpp"], r[key]) for r in self.rows_for(metric, images)
                if r.get(key) is not None and not math.isnan(r[key])]

    def per_image(self, metric: str, images: ImageSet | None = None) -> dict[str, list[tuple[float, float]]]:
        """Image -> its (bpp, metric) points, for the images the mean curve averages (``images`` or
        :meth:`image_set`)."""
        kept = set((images if images is not None else self.image_set(metric)).images)
        found: dict[str, list[tuple[float, float]]] = {}
        for record in self.records:
            value = shown_value(record, metric)
            if record.ok and record.image in kept and value is not None and not math.isnan(value):
                found.setdefault(record.image, []).append((record.bpp, value))
        return found

    def describe(self, metric: str | None = None) -> str:
        """Which configuration, images and qualities: for anchor lines and export descriptions."""
        text = (f"{self.image_set(metric).describe()}, {len(self.qualities)} qualities, "
                f"configuration {self.config_hash}")
        weights = sorted({r.weights for r in self.records if r.ok} - {""})
        if weights:
            text += f", weights {', '.join(short_weights(w) for w in weights)}"
        if self.devices != ["cpu"]:
            text += f", device {', '.join(self.devices)}"
        return text


def select_measured(catalogue: CatalogueSource, name: str, dataset: str,
                    qualities: list[str] | None = None) -> Selection | None:
    """The records that make ``name``'s measured curve on ``dataset`` under the module's rule;
    None when it has no ok record there (at ``qualities``). Raises :class:`CurveChoiceError` when
    the records do not make one curve without a choice. ``catalogue`` may be a store or None."""
    catalogue = Catalogue.of(catalogue)
    store = catalogue.store
    if store is None:
        return None
    choice = catalogue.resolve(name)
    if choice.imported:
        return None
    records = [r for r in store.find_records(selections=[choice.selection()], datasets=[dataset], stale=False)
               if _quality_matches(r.quality, qualities)]
    ok = [r for r in records if r.ok]
    if not ok:
        return None
    configurations: dict[str, int] = {}
    for record in records:
        if any(o.config_hash == record.config_hash for o in ok):
            configurations[record.config_hash] = configurations.get(record.config_hash, 0) + 1
    notes: list[str] = []
    codec = choice.codec
    if choice.config_hash:
        chosen, how = choice.config_hash, "chosen"
    elif len(configurations) == 1:
        (chosen,), how = configurations, "only"
    else:
        current = current_config(codec)
        stored = {h: store.config(codec, h) for h in configurations}
        if current is not None and current.config_hash in configurations:
            chosen, how = current.config_hash, "current"
            diffs = config_differences(stored)
            others = [f"{h[:SHORT]} ({diffs[h]}; {n} records)" for h, n in configurations.items() if h != chosen]
            notes.append(f"{codec} on {dataset}: {len(configurations)} configurations stored; the curve uses the "
                         f"current one, {chosen[:SHORT]} ({diffs[chosen]}; from {current.source or 'its registration'}); "
                         f"not used: {'; '.join(others)}. Choose one explicitly with "
                         + " or ".join(f"{codec}@{h[:SHORT]}" for h in configurations if h != chosen))
        else:
            if current is not None:
                stored_and_current = {**stored, current.config_hash: current.to_dict()}
            else:
                stored_and_current = stored
            diffs = config_differences(stored_and_current)
            listing = "; ".join(f"{h[:SHORT]} ({diffs[h]}; {n} records)" for h, n in configurations.items())
            now = (f"its current configuration is {current.config_hash[:SHORT]} ({diffs[current.config_hash]}; "
                   f"from {current.source or 'its registration'})" if current is not None
                   else f"{codec!r} does not resolve to a configuration now")
            raise CurveChoiceError(
                f"{codec} on {dataset} has {len(configurations)} stored configurations and none is current "
                f"({now}): {listing}",
                hint=f"choose one with {codec}@HASH (e.g. {codec}@{next(iter(configurations))[:SHORT]}), or delete "
                     f"the one you do not want with `rdbench results --delete --codec {codec}@HASH --dataset {dataset}`")
    chosen_records = [r for r in records if r.config_hash == chosen]
    if choice.code is None:
        chosen_records = _current_code(store, choice, dataset, chosen, chosen_records, notes)
    _refuse_mixed_qualities(choice, dataset, [r for r in chosen_records if r.ok])
    _refuse_mixed_devices(choice, dataset, [r for r in chosen_records if r.ok])
    stale = sum(g["records"] for g in store.record_groups(selections=[choice.selection()], datasets=[dataset],
                                                           stale=True) if g["config_hash"] == chosen)
    if stale:
        notes.append(f"{codec} on {dataset}: {plural(stale, 'stale record')} left out (measured on an image's "
                     "earlier content; `rdbench results --stale` lists them)")
    selection = Selection(name, codec, dataset, chosen, chosen_records, configurations, how, notes)
    rate_set = selection.image_set(None)
    if rate_set.left_out:
        notes.append(f"{codec} on {dataset}: the curve averages {rate_set.describe()}")
    return selection


def _current_code(store: Store, choice: Choice, dataset: str, config_hash: str, records: list[Record],
                  notes: list[str]) -> list[Record]:
    """The records of one configuration made by one code (:mod:`rdbench.codecs.code_identity`): the
    only code stored, else the codec's current code with a note naming the others; refused when
    several are stored and none is current (the user chooses with ``NAME@<code>``)."""
    counts: dict[str, int] = defaultdict(int)
    for record in records:
        if record.ok:
            counts[record.code] += 1
    config = store.config(choice.codec, config_hash) or {}
    current = current_code(config["adapter"]) if config.get("adapter") else None
    listing = "; ".join(f"{code or 'not recorded'} ({plural(n, 'record')}, {choice.codec}@{short_code(code)})"
                        for code, n in sorted(counts.items()))
    if len(counts) <= 1:
        (code,) = counts or [""]
        if code and current is not None and code != current:
            notes.append(f"{choice.codec} on {dataset}: measured by code {code}, not the installed code ({current}); "
                         "rerun `rdbench run` to measure the current code")
        return [r for r in records if r.code == code] if counts else records
    if current not in counts:
        now = f"the installed code is {current}" if current else f"{choice.codec}'s adapter does not load here"
        raise CurveChoiceError(f"{choice.codec} on {dataset} has records of {len(counts)} versions of its code and "
                               f"none is current ({now}): {listing}",
                               hint=f"choose one with {choice.codec}@CODE, or run the current code with `rdbench run "
                                    f"--codec {choice.codec} --dataset {dataset}`")
    notes.append(f"{choice.codec} on {dataset}: records of {len(counts)} versions of its code are stored; the curve "
                 f"uses the current one ({current}); the others are kept: {listing}")
    return [r for r in records if r.code == current]


def _refuse_mixed_devices(choice: Choice, dataset: str, ok: list[Record]) -> None:
    """Refuse a curve whose qualities were measured on different devices (a learned codec's numbers
    differ between devices): the user chooses one with ``NAME@DEVICE``."""
    by_device: dict[str, set[str]] = defaultdict(set)
    for record in ok:
        by_device[record.device].add(record.quality)
    if len(by_device) < 2:
        return
    listed = "; ".join(f"{device} at quality {', '.join(sorted(qs, key=_quality_sort_key))}"
                       for device, qs in sorted(by_device.items()))
    raise CurveChoiceError(
        f"{choice.name} on {dataset} mixes devices across its qualities ({listed}): one curve is measured on one "
        "device", hint=f"name one with {' or '.join(f'{choice.codec}@{d}' for d in sorted(by_device))}, or measure "
                       "the missing qualities on that device")


def _refuse_mixed_qualities(choice: Choice, dataset: str, ok: list[Record]) -> None:
    """Refuse a quality whose records come from two weights files or two devices."""
    variants: dict[str, dict[tuple[str, str], Record]] = defaultdict(dict)
    for record in ok:
        variants[record.quality].setdefault((record.weights, record.device), record)
    mixed = {q: v for q, v in variants.items() if len(v) > 1}
    if not mixed:
        return
    parts = []
    for quality, found in sorted(mixed.items(), key=lambda item: _quality_sort_key(item[0])):
        listed = []
        for (weights, device), record in found.items():
            count = sum(1 for r in ok if r.quality == quality and (r.weights, r.device) == (weights, device))
            path = record.extra.get("weights_path")
            what = (f"weights {short_weights(weights)}" + (f" ({path})" if path else "")) if weights else "no weights"
            listed.append(f"{what} on {device}, {count} records")
        parts.append(f"quality {quality}: " + "; ".join(listed))
    devices = sorted({d for found in mixed.values() for _, d in found})
    weights = sorted({w for found in mixed.values() for w, _ in found} - {""})
    selectors = [f"{choice.codec}@{d}" for d in devices] if len(devices) > 1 else []
    selectors += [f"{choice.codec}@{short_weights(w)}" for w in weights] if len(weights) > 1 else []
    raise CurveChoiceError(
        f"{choice.name} on {dataset} mixes records at one quality: {' | '.join(parts)}",
        hint=f"name one with {' or '.join(selectors)}, or delete the records you do not want with "
             f"`rdbench results --delete --codec {choice.codec} --dataset {dataset} --quality Q "
             f"{'--device D' if len(devices) > 1 else '--weights W'}`")


def measured_curve(catalogue: CatalogueSource, codec: str, dataset: str, metric: str,
                   qualities: list[str] | None = None) -> list[tuple[float, float]] | None:
    """Per-quality mean (bpp, metric) of a codec stored in the DB, chosen by :func:`select_measured`;
    None when it has no records there."""
    selection = select_measured(catalogue, codec, dataset, qualities)
    return selection.points(metric) if selection is not None else None


def per_image_curves(store: Store, codec: str, dataset: str, metric: str,
                     qualities: list[str] | None = None) -> dict[str, list[tuple[float, float]]]:
    """Image -> (bpp, metric) points of a measured codec, the records :func:`select_measured` chose."""
    selection = select_measured(store, codec, dataset, qualities)
    return selection.per_image(metric) if selection is not None else {}


@dataclass
class CurveInfo:
    """A name's curve on a dataset: its points and where they come from."""

    name: str
    dataset: str
    metric: str
    points: list[tuple[float, float]]
    #: "measured", "imported" or "published"
    source: str
    #: short configuration hash for a measured codec; "imported" or "published"
    config: str
    label: str
    notes: list[str] = field(default_factory=list)
    selection: Selection | None = None
    reference: dict[str, Any] | None = None
    #: the shipped curve standing in for a codec not measured here (:data:`FALLBACKS`), else None
    fallback: str | None = None

    def origin(self, catalogue: CatalogueSource) -> str:
        """Where the points come from, in one phrase (the anchor line of a BD-rate table)."""
        if self.selection is not None:
            path = Catalogue.of(catalogue).path
            return f"measured in {path if path is not None else '?'} ({self.selection.describe(self.metric)})"
        ref = self.reference or {}
        if "sha256" in ref:
            return f"imported from {ref['source_file']}"
        published = f"published, {ref.get('source_repository', '?')} {ref.get('source_file', '')}".rstrip()
        if self.fallback:
            return (f"rdbench's shipped {self.fallback}, as no {self.name} is measured on {self.dataset} in this "
                    f"store ({published})")
        return published


def resolve_curve(catalogue: CatalogueSource, name: str, dataset: str, metric: str,
                  qualities: list[str] | None = None) -> CurveInfo | None:
    """``name``'s curve on ``dataset`` for ``metric`` under the module's rule, or None when it has none.
    ``catalogue`` may be a store or None (no database: shipped curves only)."""
    catalogue = Catalogue.of(catalogue)
    choice = catalogue.resolve(name)
    key = metric_spec.get(metric).key
    if not choice.imported:
        selection = select_measured(catalogue, name, dataset, qualities)
        if selection is not None:
            notes = list(selection.notes)
            shadowed = catalogue.imported_curve(choice.codec, dataset)
            if shadowed is not None:
                notes.append(f"{choice.codec} on {dataset}: the measured records are used; the curve imported under "
                             f"the same name from {shadowed['source_file']} is not (address it as "
                             f"{choice.codec}@{IMPORTED}, or re-import it under another name: `rdbench import "
                             f"{shadowed['source_file']} --name {choice.codec}-imported --dataset {dataset}`)")
            points = selection.points(metric)
            if not points:
                return None
            return CurveInfo(name, dataset, metric, points, "measured", selection.config_label, selection.label,
                             notes, selection=selection)
        if choice.explicit or catalogue.measured(choice.codec, dataset):
            return None  # measured here, but nothing at these qualities: never another curve of that name
    fallback = None
    if choice.imported:
        ref = catalogue.imported_curve(choice.codec, dataset)
    else:
        ref = catalogue.published_curve(choice.codec, dataset)
        if ref is None and not choice.explicit:
            fallback = FALLBACKS.get(choice.codec)
            ref = catalogue.published_curve(fallback, dataset) if fallback else None
    if ref is None or key not in ref:
        return None
    source = "imported" if "sha256" in ref else "published"
    notes = []
    if qualities:
        notes.append(f"{name} on {dataset} is {with_article(source)} curve: all its points are used (--quality selects "
                     "measured qualities only)")
    label = f"{name} [shipped {fallback}]" if fallback else name
    return CurveInfo(name, dataset, metric, list(zip(ref["bpp"], ref[key])), source, source, label, notes,
                     reference=ref, fallback=fallback)


def curve(catalogue: CatalogueSource, name: str, dataset: str, metric: str,
          qualities: list[str] | None = None) -> list[tuple[float, float]] | None:
    """A codec's curve: measured in the store first, else an imported or shipped published curve."""
    found = resolve_curve(catalogue, name, dataset, metric, qualities)
    return found.points if found is not None else None


def published_curve(catalogue: CatalogueSource, name: str, dataset: str) -> dict[str, Any] | None:
    """A curve imported into the store (``rdbench import``) or shipped with rdbench, with its provenance
    (:meth:`Catalogue.published_curve`; a public name, so a store or None works too)."""
    return Catalogue.of(catalogue).published_curve(name, dataset)


def published_names(catalogue: CatalogueSource) -> dict[str, list[str]]:
    """Published curve name -> datasets: shipped references plus curves imported into the store
    (:meth:`Catalogue.published_names`; a public name, so a store or None works too)."""
    return Catalogue.of(catalogue).published_names()


def vtm_alternatives(catalogue: Catalogue, datasets: list[str]) -> list[str]:
    """Published VTM curves covering any of ``datasets`` (what to offer when a VTM anchor is missing)."""
    return sorted(n for n, ds in catalogue.published_names().items() if "vtm" in n and set(ds) & set(datasets))


def describe_anchor(catalogue: Catalogue, anchor: str, datasets: list[str], metric: str,
                    qualities: list[str] | None = None) -> str:
    """One line saying where the anchor's curve on each dataset comes from, and where it is missing."""
    parts, missing = [], []
    for dataset in datasets:
        found = resolve_curve(catalogue, anchor, dataset, metric, qualities)
        if found is not None:
            parts.append(f"{dataset}: {found.origin(catalogue)}")
        else:
            missing.append(dataset)
    line = f"anchor {anchor}: " + ("; ".join(parts) if parts else "no curve on the requested datasets")
    if missing:
        fallback = FALLBACKS.get(anchor)
        if fallback and not catalogue.measured(anchor):
            line += (f"; MISSING on {', '.join(missing)} ({metric}; no {anchor} measured in the store and no "
                     f"shipped {fallback} curve there)")
        else:
            unavailable = metric_spec.get(metric).unavailable_reason() is not None  # the cells say why
            line += f"; MISSING on {', '.join(missing)} ({metric}{', unavailable here' if unavailable else ''})"
        alternatives = [n for n in vtm_alternatives(catalogue, missing) if n != anchor]
        if alternatives and metric_spec.get(metric).builtin:  # published curves hold PSNR and MS-SSIM only
            line += f"; published alternative: {', '.join(alternatives)}"
    return line
