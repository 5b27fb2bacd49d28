"""Conversions of a :class:`CallRecord`: to a ``calls`` row, back, and to a JSON line (spill)."""

from __future__ import annotations

import json
from dataclasses import fields
from operator import attrgetter
from typing import Any

import orjson

from daytwo.core.record import CallRecord
from daytwo.ledger.schema import HOUR

#: CallRecord fields in declaration order (every one is a ``calls`` column of the same name).
RECORD_FIELDS = tuple(f.name for f in fields(CallRecord))
_get_all = attrgetter(*RECORD_FIELDS)
_TAGS = RECORD_FIELDS.index("tags")
_INT_FIELDS = tuple(f.name for f in fields(CallRecord) if f.type in ("int", "int | None"))


def hour_start(started_at: float) -> int:
    """The Unix second at which the UTC hour containing ``started_at`` began."""
    return int(started_at // HOUR) * HOUR


#: The ``calls`` columns in the order :func:`to_row` gives their values.
ROW_COLUMNS = (*RECORD_FIELDS, "hour_start")


def to_row(record: CallRecord) -> tuple[Any, ...]:
    """The ``calls`` row (values in :data:`ROW_COLUMNS` order) for a record.

    Raises ValueError, TypeError or OverflowError when a value cannot be stored.
    """
    values = list(_get_all(record))
    tags = values[_TAGS]
    values[_TAGS] = orjson.dumps(tags, option=orjson.OPT_SORT_KEYS).decode() if tags else "{}"
    values.append(hour_start(record.started_at))
    return tuple(values)


def from_row(row: Any) -> CallRecord:
    """The record a ``calls`` row (a SQLAlchemy Row or mapping) was made from."""
    data = {name: row[name] for name in RECORD_FIELDS}
    data["tags"] = orjson.loads(data["tags"])
    return CallRecord(**data)


def to_json_line(record: CallRecord) -> bytes:
    """One JSON line. Never raises: values orjson refuses (an int beyond 64 bits, a non-str
    tag) go through the stdlib encoder, so even a record the database refused can be kept."""
    try:
        return orjson.dumps(record) + b"\n"
    except TypeError:
        data = {name: getattr(record, name) for name in RECORD_FIELDS}
        return json.dumps(data, default=repr, ensure_ascii=False).encode() + b"\n"


def from_json_line(line: bytes) -> CallRecord:
    """Raises ValueError (orjson.JSONDecodeError) or TypeError on a line that is not a record."""
    data = orjson.loads(line)
    if not isinstance(data, dict):
        raise TypeError("a spilled record must be a JSON object")
    if any(type(data.get(name)) is float for name in _INT_FIELDS):
        data = json.loads(line)  # orjson reads integers beyond 64 bits as floats; json does not
    if tuple(data) == RECORD_FIELDS:
        # Positional is ~10x faster than CallRecord(**data): the decoded keys are not
        # interned, so keyword matching falls back to slow string comparisons.
        return CallRecord(*data.values())
    return CallRecord(**data)  # written by another version of daytwo
