"""Checks of the names and qualities a command is given, before anything is computed: an unknown
codec, a bad selector or a quality a codec does not have is a usage error with "did you mean",
never an empty table."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rdbench.analysis.aggregate import _quality_sort_key
from rdbench.analysis.catalogue import Catalogue, CatalogueSource
from rdbench.analysis.curves import FALLBACKS, _quality_matches
from rdbench.codecs.quality_choice import QualityChoice
from rdbench.errors import RdbenchError, UsageError, did_you_mean


def known_names(catalogue: CatalogueSource, datasets: list[str] | None = None) -> set[str]:
    """Measured codecs and published references, restricted to those with a curve on ``datasets``
    (``catalogue`` may be a store or None: a public name)."""
    catalogue = Catalogue.of(catalogue)
    wanted = set(datasets) if datasets else None
    names = {n for n, ds in catalogue.published_names().items() if wanted is None or wanted & set(ds)}
    names |= {codec for codec, dataset, _ in catalogue.codec_datasets() if wanted is None or dataset in wanted}
    # a name a shipped curve stands in for (FALLBACKS) has a curve wherever that curve has one
    names |= {alias for alias, target in FALLBACKS.items() if target in names}
    return names


def listed_once(catalogue: Catalogue, names: set[str], anchor: str | None = None) -> set[str]:
    """``names`` (e.g. :func:`known_names`, for a default list of rows) with each shipped curve once: less the
    :data:`FALLBACKS` names not measured in the store (their curve is listed under its own name) and less the
    curve standing in for an unmeasured ``anchor`` (it would be compared with itself)."""
    measured = set(catalogue.measured_codecs())
    out = {n for n in names if n not in FALLBACKS or n in measured}
    if anchor in FALLBACKS and anchor not in measured:
        out.discard(FALLBACKS[anchor])
    return out


def configured_codecs() -> list[str]:
    """Codec names rdbench can run (shipped TOML, ``RDBENCH_CODECS_PATH``, entry points)."""
    from rdbench.codecs.registry import load_configs

    try:
        return sorted(load_configs())
    except RdbenchError:
        return []


def check_names(catalogue: Catalogue, names: list[str], *, role: str = "codec",
                measured_only: bool = False) -> None:
    """Refuse (usage error, with "did you mean") a name that is neither measured in the store, nor a
    published or imported curve, nor a configured codec; and any bad ``@`` selector."""
    measured = catalogue.measured_codecs()
    published = [] if measured_only else sorted(catalogue.published_names())
    configured = [] if measured_only else configured_codecs()
    for name in names:
        choice = catalogue.resolve(name)
        if choice.imported:
            if choice.codec not in catalogue.imported_names():
                raise UsageError(f"no imported curve named {choice.codec!r}"
                                 f"{did_you_mean(choice.codec, sorted(catalogue.published_names()))}")
            continue
        if choice.codec in measured or choice.codec in published or choice.codec in configured:
            continue
        where = f"in {catalogue.path}" if catalogue.path is not None else "(no results database)"
        choices = measured + published + configured
        hint = (f"measured {where}: {', '.join(measured) or 'none'}"
                + ("" if measured_only else
                   f"; imported: {', '.join(sorted(catalogue.imported_names())) if catalogue.store is not None else 'none'}"
                   "; shipped published curves: `rdbench bdrate --help` lists where; configured codecs: `rdbench codecs`"))
        raise UsageError(f"unknown {role} {name!r}{did_you_mean(choice.codec, choices)}", hint=hint)


def stored_qualities(catalogue: Catalogue, codecs: list[str], datasets: list[str]) -> list[str]:
    """Qualities of ok, current (not stale) records of the measured ``codecs`` (names, ``@``
    selectors applied) on ``datasets``, sorted."""
    if catalogue.store is None or not codecs:
        return []
    selections = [catalogue.resolve(c).selection() for c in codecs]
    groups = catalogue.store.record_groups(selections=selections, datasets=datasets or None, status="ok", stale=False)
    return sorted({g["quality"] for g in groups}, key=_quality_sort_key)


def check_qualities(catalogue: Catalogue, names: list[str], datasets: list[str],
                    qualities: QualityChoice | Mapping[str, Any] | list[str] | None, *,
                    anchor: str | None = None) -> None:
    """Refuse a quality selection that would drop a point silently: every quality asked of a
    measured name (its ``CODEC=`` list, else the global one) must be stored for it on ``datasets``
    (on one of them at least), a ``CODEC=`` entry must name one of ``names`` (``anchor``: refused
    with the option that selects its points) and a measured one, and a global list needs a measured
    name. A name not measured on ``datasets`` is not checked against the global list: its cell says
    it has no curve. Raises UsageError naming the codec, the missing qualities and what is stored.
    """
    choice = QualityChoice.of_value(qualities)
    if not choice:
        return
    choice.check_names(names, anchor=anchor)
    where = ", ".join(datasets)
    checked = False
    for name in names:
        wanted = choice.of(name)
        resolved = catalogue.resolve(name)
        have = [] if resolved.imported else stored_qualities(catalogue, [name], datasets)
        own = choice.explicit(name) is not None
        if not wanted or not (have or own):
            continue
        checked = True
        if not have:
            raise UsageError(f"--quality {name}=...: {name} has no measured record on {where}",
                             hint="published and imported curves have no qualities: all their points are used")
        missing = [q for q in wanted if not _quality_matches(q, have)]
        if missing:
            raise UsageError(f"{name} has no record at quality {', '.join(missing)} on {where}",
                             hint=f"{name} has quality {', '.join(have)}"
                                  + ("" if own else "; --quality CODEC=Q1,Q2 gives one codec its own points"))
    if choice.every and not checked:
        raise UsageError("--quality selects points of measured codecs, and none of the codecs is measured on "
                         f"{where}", hint="published curves have no qualities: all their points are used")
