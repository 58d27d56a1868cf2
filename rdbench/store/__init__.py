"""Stage 3, store: the :class:`~rdbench.store.record.Record` of one measurement and the SQLite
results database that holds records, codec configurations, complexity points and imported
curves (every table's SQL lives in :mod:`rdbench.store.sqlite`).

May import: :mod:`rdbench.errors` only.
"""

from rdbench.store.record import STATUS_FAILED, STATUS_OK, Record
from rdbench.store.sqlite import DEFAULT_DB, Store

__all__ = ["DEFAULT_DB", "STATUS_FAILED", "STATUS_OK", "Record", "Store"]
