"""Conversions of a :class:`CallRecord`: to a ``calls`` row, back, to ``attempts`` rows, and to
a JSON line (spill); of a :class:`ScoreRecord` to a ``scores`` row and back.

A record's ``attempt_log`` is not a ``calls`` column (its field metadata says ``column: False``):
the store writes it to ``attempts``. A field whose metadata names a column (``column:
"system_fingerprint"`` for ``fingerprint``) is stored under that name; every other field is the
column of the same name. The JSON line carries every field, the log included, as a list of
objects, under the fields' own names.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, fields
from operator import attrgetter
from typing import Any

import orjson

from daytwo.core.record import AttemptRecord, CallRecord
from daytwo.core.score import ScoreRecord
from daytwo.ledger.schema import HOUR

#: CallRecord fields that are ``calls`` columns, in declaration order.
RECORD_FIELDS = tuple(f.name for f in fields(CallRecord) if f.metadata.get("column", True))
#: The ``calls`` column of each of :data:`RECORD_FIELDS` (its own name unless it names one).
RECORD_COLUMNS = tuple(
    column if isinstance(column := f.metadata.get("column"), str) else f.name
    for f in fields(CallRecord)
    if f.name in RECORD_FIELDS
)
#: Every CallRecord field, in declaration order: the keys of a JSON line.
JSON_FIELDS = tuple(f.name for f in fields(CallRecord))
#: AttemptRecord fields, in declaration order (every one is an ``attempts`` column).
ATTEMPT_FIELDS = tuple(f.name for f in fields(AttemptRecord))
_get_all = attrgetter(*RECORD_FIELDS)
_get_attempt = attrgetter(*ATTEMPT_FIELDS)
_TAGS = RECORD_FIELDS.index("tags")
_LOG = JSON_FIELDS.index("attempt_log")
_INT_TYPES = ("int", "int | None")
_INT_FIELDS = tuple(f.name for f in fields(CallRecord) if f.type in _INT_TYPES)
_ATTEMPT_INT_FIELDS = tuple(f.name for f in fields(AttemptRecord) if f.type in _INT_TYPES)


def hour_start(started_at: float) -> int:
    """The Unix second at which the UTC hour containing ``started_at`` began."""
    return int(started_at // HOUR) * HOUR


#: The ``calls`` columns in the order :func:`to_row` gives their values.
ROW_COLUMNS = (*RECORD_COLUMNS, "hour_start")
#: The ``attempts`` columns in the order :func:`to_attempt_rows` gives their values.
ATTEMPT_COLUMNS = ("call_id", *ATTEMPT_FIELDS, "hour_start")


#: ScoreRecord fields (every one a ``scores`` column), then ``hour_start``.
SCORE_FIELDS = tuple(f.name for f in fields(ScoreRecord))
SCORE_COLUMNS = (*SCORE_FIELDS, "hour_start")
_get_score = attrgetter(*SCORE_FIELDS)


def score_row(record: ScoreRecord) -> tuple[Any, ...]:
    """The ``scores`` row (values in :data:`SCORE_COLUMNS` order) of a score."""
    return (*_get_score(record), hour_start(record.at))


def from_score_row(row: Any) -> ScoreRecord:
    """The score a ``scores`` row (a SQLAlchemy Row or mapping) was made from."""
    return ScoreRecord(**{name: row[name] for name in SCORE_FIELDS})


def to_row(record: CallRecord) -> tuple[Any, ...]:
    """The ``calls`` row (values in :data:`ROW_COLUMNS` order) for a record.

    Raises ValueError, TypeError or OverflowError when a value cannot be stored.
    """
    values = list(_get_all(record))
    tags = values[_TAGS]
    values[_TAGS] = orjson.dumps(tags, option=orjson.OPT_SORT_KEYS).decode() if tags else "{}"
    values.append(hour_start(record.started_at))
    return tuple(values)


def from_row(row: Any, attempt_log: Iterable[AttemptRecord] = ()) -> CallRecord:
    """The record a ``calls`` row (a SQLAlchemy Row or mapping) was made from, with
    ``attempt_log`` (read from ``attempts``, ordered by ``n``)."""
    data = {name: row[column] for name, column in zip(RECORD_FIELDS, RECORD_COLUMNS, strict=True)}
    data["tags"] = orjson.loads(data["tags"])
    return CallRecord(**data, attempt_log=tuple(attempt_log))


def to_attempt_rows(records: Iterable[CallRecord]) -> list[tuple[Any, ...]]:
    """The ``attempts`` rows (values in :data:`ATTEMPT_COLUMNS` order) of the records' logs.

    Raises ValueError when a log numbers two attempts alike (the store would refuse them).
    """
    rows: list[tuple[Any, ...]] = []
    for r in records:
        log = r.attempt_log
        if not log:
            continue
        if len({a.n for a in log}) != len(log):
            raise ValueError(f"call {r.id!r}: attempt numbers repeat in its attempt_log")
        rows.extend((r.id, *_get_attempt(a), hour_start(a.started_at)) for a in log)
    return rows


def from_attempt_row(row: Any) -> AttemptRecord:
    """The attempt an ``attempts`` row (a SQLAlchemy Row or mapping) was made from."""
    return AttemptRecord(**{name: row[name] for name in ATTEMPT_FIELDS})


def to_json_line(record: CallRecord) -> bytes:
    """One JSON line. Never raises: values orjson refuses (an int beyond 64 bits, a non-str
    tag) go through the stdlib encoder, so even a record the database refused can be kept."""
    try:
        return orjson.dumps(record) + b"\n"
    except TypeError:
        data = {name: getattr(record, name) for name in JSON_FIELDS}
        data["attempt_log"] = [asdict(a) for a in record.attempt_log]
        return json.dumps(data, default=repr, ensure_ascii=False).encode() + b"\n"


def from_json_line(line: bytes) -> CallRecord:
    """Raises ValueError (orjson.JSONDecodeError) or TypeError on a line that is not a record."""
    data = orjson.loads(line)
    if not isinstance(data, dict):
        raise TypeError("a spilled record must be a JSON object")
    if _has_float_ints(data):
        data = json.loads(line)  # orjson reads integers beyond 64 bits as floats; json does not
    if tuple(data) == JSON_FIELDS:
        # Positional is ~10x faster than CallRecord(**data): the decoded keys are not
        # interned, so keyword matching falls back to slow string comparisons.
        values = list(data.values())
        values[_LOG] = _attempts(values[_LOG])
        return CallRecord(*values)
    if "attempt_log" in data:
        data["attempt_log"] = _attempts(data["attempt_log"])
    return CallRecord(**data)  # written by another version of daytwo


def _attempts(log: Any) -> tuple[AttemptRecord, ...]:
    if not log:
        return ()
    if not isinstance(log, list) or not all(isinstance(a, dict) for a in log):
        raise TypeError("a spilled attempt_log must be a list of JSON objects")
    return tuple(AttemptRecord(**a) for a in log)


def _has_float_ints(data: dict[str, Any]) -> bool:
    if any(type(data.get(name)) is float for name in _INT_FIELDS):
        return True
    log = data.get("attempt_log")
    if not log or not isinstance(log, list):
        return False
    return any(
        isinstance(a, dict) and type(a.get(name)) is float
        for a in log
        for name in _ATTEMPT_INT_FIELDS
    )
