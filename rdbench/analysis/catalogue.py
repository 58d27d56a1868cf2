"""The catalogue: which curve names and datasets there are, read once from a results database (or
from none) and rdbench's shipped curves, and what ``NAME@SELECTOR`` means against them.

WHY one object: every analysis asks the store the same questions many times (which codecs are
measured, which curves are imported, what ``jpeg@3fa2`` selects), and "no database" (only the
shipped published curves) must be answered the same way everywhere. Threading a ``Store | None``
through every function repeated the ``store is None`` branch in each of them and read the same
name lists again per call. A :class:`Catalogue` holds the store or none, answers those questions,
and remembers each name list it reads for its lifetime: build one per command or library call
(:meth:`Catalogue.open`, :meth:`Catalogue.of`), and a new one after writing to the store.

What points a name means on a dataset is the curve rule of :mod:`rdbench.analysis.curves`, which
reads names and published curves through a catalogue; the catalogue only says which names exist and
what they select (it imports no curve code, so the rule can build on it).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Union

from rdbench.analysis.curve_names import Choice, parse_name
from rdbench.analysis.references import list_references, load_reference
from rdbench.store.sqlite import Store

#: what the library's public functions accept where they need the catalogue: a catalogue, an open
#: store, or None (no database: shipped curves only)
CatalogueSource = Union["Catalogue", Store, None]


class Catalogue:
    """The curve names, datasets and selectors a store (or none) and the shipped curves offer."""

    def __init__(self, store: Store | None = None) -> None:
        self.store = store
        #: the store's file, None without a database
        self.path: Path | None = store.path if store is not None else None
        self._owned = False
        self._read: dict[Any, Any] = {}

    @classmethod
    def open(cls, db: str | Path) -> Catalogue:
        """The catalogue of the database at ``db``, opened read-only; of none when the file does not
        exist (commands that can work from shipped curves alone). :meth:`close` closes the store."""
        if not Path(db).exists():
            return cls(None)
        catalogue = cls(Store(db, readonly=True))
        catalogue._owned = True
        return catalogue

    @classmethod
    def of(cls, source: CatalogueSource) -> Catalogue:
        """``source`` as a catalogue: a catalogue as it is, else one over the store (or none)."""
        return source if isinstance(source, Catalogue) else cls(source)

    @classmethod
    @contextmanager
    def opened(cls, db: str | Path | CatalogueSource) -> Iterator[Catalogue]:
        """The catalogue of ``db`` for one library call: a path is opened read-only and closed after;
        a catalogue, an open store (left open) or None are used as they are."""
        if db is None or isinstance(db, (Catalogue, Store)):
            yield cls.of(db)
            return
        store = Store(db, readonly=True)
        try:
            yield cls(store)
        finally:
            store.close()

    def close(self) -> None:
        """Close the store when :meth:`open` opened it."""
        if self._owned and self.store is not None:
            self.store.close()

    def __enter__(self) -> Catalogue:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _once(self, key: Any, read: Any) -> Any:
        if key not in self._read:
            self._read[key] = read()
        return self._read[key]

    # -- measured records

    def measured_codecs(self) -> list[str]:
        """Codecs with any record (ok or failed) in the store."""
        if self.store is None:
            return []
        return list(self._once("codecs", lambda: self.store.stored_names("codec")))

    def measured_datasets(self) -> list[str]:
        """Datasets with records (ok or failed) in the store."""
        if self.store is None:
            return []
        return list(self._once("datasets", lambda: self.store.stored_names("dataset")))

    def codec_datasets(self) -> list[tuple[str, str, int]]:
        """(codec, dataset, number of ok records) of everything stored (:meth:`Store.iter_codecs`)."""
        if self.store is None:
            return []
        return list(self._once("codec_datasets", lambda: list(self.store.iter_codecs())))

    def measured(self, codec: str, dataset: str | None = None) -> bool:
        """Whether the store holds records (ok or failed, stale included) of ``codec`` (on ``dataset``)."""
        if self.store is None:
            return False
        datasets = [dataset] if dataset is not None else None
        return self._once(("measured", codec, dataset), lambda: bool(
            self.store.record_groups(selections=[{"codec": codec}], datasets=datasets)))

    def resolve(self, name: str) -> Choice:
        """``NAME[@SELECTOR...]`` parsed against what the store holds
        (:func:`rdbench.analysis.curve_names.parse_name`); a bad selector is a usage error."""
        return self._once(("resolve", name), lambda: parse_name(name, self.measured_codecs(), self._groups,
                                                                  self._where))

    def _groups(self, codec: str) -> list[dict[str, Any]]:
        if self.store is None:
            return []
        return self.store.record_groups(selections=[{"codec": codec}])

    @property
    def _where(self) -> str:
        return f"the store {self.path}" if self.path is not None else "any store (no database)"

    # -- imported and shipped published curves

    def imported_names(self) -> dict[str, list[str]]:
        """Imported curve name -> datasets it has a curve for (``rdbench import``)."""
        if self.store is None:
            return {}
        found = self._once("imported", self.store.imported_curve_names)
        return {name: list(datasets) for name, datasets in found.items()}

    def imported_curve(self, name: str, dataset: str) -> dict[str, Any] | None:
        """A curve imported into the store, with its provenance; None when there is none."""
        return self.store.imported_curve(name, dataset) if self.store is not None else None

    def published_names(self) -> dict[str, list[str]]:
        """Published curve name -> datasets: shipped references plus curves imported into the store."""
        names = {n: list(ds) for n, ds in list_references().items()}
        for name, datasets in self.imported_names().items():
            names.setdefault(name, []).extend(datasets)
        return names

    def published_curve(self, name: str, dataset: str) -> dict[str, Any] | None:
        """A curve imported into the store or shipped with rdbench, with its provenance."""
        found = self.imported_curve(name, dataset)
        if found is not None:
            return found
        if dataset in list_references().get(name, []):
            return load_reference(name, dataset)
        return None

    # -- datasets

    def dataset_names(self) -> list[str]:
        """Datasets with records or imported curves in the store, sorted."""
        found = set(self.measured_datasets())
        found |= {d for ds in self.imported_names().values() for d in ds}
        return sorted(found)

    def curve_datasets(self) -> set[str]:
        """Datasets with an imported curve in the store or a shipped published curve."""
        found = {d for ds in list_references().values() for d in ds}
        found |= {d for ds in self.imported_names().values() for d in ds}
        return found
