"""The cardinality guard: label values that come from clients (project, workflow, model) are
free text, and every distinct value is a new time series in Prometheus. A bad client sending a
fresh project name per request must not be able to grow the series count without bound.

Each guarded label keeps the first ``limit`` distinct values it sees, as they are; every later
new value is counted under ``other``. A missing or empty value is ``unknown``. Neither of the
two counts towards the limit, so one label has at most ``limit + 2`` values. The kept values
live for the process's lifetime (a restart starts over), and only those are remembered: the
memory is bounded by the limit too.
"""

from __future__ import annotations

#: The value of a label past its limit of distinct values.
OVERFLOW = "other"
#: The value of a label the call did not carry.
UNKNOWN = "unknown"


class LabelGuard:
    """The first ``limit`` distinct values of one label, kept; the rest, ``other``."""

    __slots__ = ("_kept", "limit")

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError(f"a label guard keeps at least 1 value, not {limit}")
        self.limit = limit
        self._kept: dict[str, str] = {}

    def __call__(self, value: str | None) -> str:
        if not value:
            return UNKNOWN
        kept = self._kept.get(value)
        if kept is not None:
            return kept
        if len(self._kept) >= self.limit:
            return OVERFLOW
        self._kept[value] = value
        return value

    def __len__(self) -> int:
        return len(self._kept)
