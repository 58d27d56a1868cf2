"""Stage 3, store: the row types (:mod:`rdbench.store.record`: the :class:`Record` of one
measurement, the :class:`ComplexityPoint` of one size, the :class:`ImportedCurve` of one
published curve) and the SQLite results database that holds them and codec configurations
(every table's SQL lives in :mod:`rdbench.store.sqlite`, behind typed :class:`Store` methods).

May import: :mod:`rdbench.errors` only.
"""

from rdbench.store.record import (
           STATUS_FAILED,
           STATUS_OK,
           STATUS_OOM,
           ComplexityPoint,
           ImportedCurve,
           Record,
)
from rdbench.store.sqlite import DEFAULT_DB, Store

__all__ = ["DEFAULT_DB", "STATUS_FAILED", "STATUS_OK", "STATUS_OOM", "ComplexityPoint", "ImportedCurve", "Record",
           "Store"]
