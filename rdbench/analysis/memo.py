"""A bounded memo of pure numerical work, keyed by the exact inputs.

WHY: a BD-rate table over many codecs redoes the same work on the same numbers: the anchor's curve
and its leave-one-out subsets are fitted once per codec row, a ``--ci`` table resamples the anchor
with the same draws in every cell. Keyed by the inputs' exact bytes, a remembered result is the
result those inputs would get again, so the numbers cannot change; the bound (least recently used
dropped first) keeps a long session's memory flat.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

T = TypeVar("T")


class Memo(Generic[T]):
    """At most ``kept`` results by key; :meth:`get` computes what it does not hold."""

    def __init__(self, kept: int) -> None:
        self.kept = kept
        self._values: OrderedDict[Hashable, T] = OrderedDict()

    def get(self, key: Hashable, compute: Callable[[], T]) -> T:
        """The result remembered for ``key``, else ``compute()`` remembered (an exception is not)."""
        if key in self._values:
            self._values.move_to_end(key)
            return self._values[key]
        value = compute()
        self._values[key] = value
        if len(self._values) > self.kept:
            self._values.popitem(last=False)
        return value

    def __len__(self) -> int:
        return len(self._values)

    def clear(self) -> None:
        self._values.clear()
