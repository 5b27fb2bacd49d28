"""Exported audit bundles (``daytwo audit export``): the chains, their digests and the public keys
in one file that verifies offline (``daytwo audit verify --bundle``), for off-site retention or
a SIEM.

A bundle is a sequence of records, each with a ``type``:

* ``meta`` (first) -- format and version, when and what was exported (range, project, the
  streams and where each part starts, every stream the database had);
* ``key`` -- a public key the database records (which key a digest claims; verification
  trusts the operator's key, not these);
* ``retention`` -- every retention deletion the control stream records (its entry's data);
* ``digest`` -- a stream's signed digests overlapping the range, whole;
* ``entry`` -- the entries those digests cover (and, after the last one, the unsigned
  tail): a range export widens ``[start, end]`` to whole digest periods, so each stream's part
  verifies on its own from its first entry's ``prev_hash``. With a project, an entry of
  another project is kept as ``{"type": "entry", stream, seq, prev_hash, hash,
  "omitted": true}``: the chain still links, and nothing of that project leaves;
* ``call`` -- the ``calls`` columns a call entry's summary names, for the cross-check;
* ``admin_event`` -- the admin event a control entry names;
* ``content`` (``--content`` only) -- a call's stored content: the compressed bytes, base64.

``jsonl``: one JSON object per line. ``parquet`` (the optional ``parquet`` extra): one file,
the same records as rows with a ``type`` column, every other column nullable (``row`` holds
the JSON of ``meta``, ``call`` and ``admin_event`` records; ``content`` the raw bytes).

:func:`open_bundle` loads a bundle into a temporary SQLite file (never all in memory) and
answers as a :class:`~daytwo.audit.sources.Source`.
"""

from __future__ import annotations

import base64
import binascii
import os
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import orjson

from daytwo.audit.chain import CONTROL
from daytwo.audit.sources import (
    ADMIN_COLUMNS,
    CHUNK,
    IDS_PER_QUERY,
    DatabaseSource,
    DigestRow,
    EntryRow,
    StreamPlan,
    retention_of,
    summary_columns,
)
from daytwo.audit.writer import full_summary
from daytwo.core.errors import InvalidRequest
from daytwo.ledger.store import LedgerStore

FORMAT = "daytwo-audit-bundle"
VERSION = 1
Format = Literal["jsonl", "parquet"]
_BATCH = 10_000
_PARQUET_MAGIC = b"PAR1"


class BundleError(InvalidRequest):
    """A bundle cannot be written or read."""


@dataclass(frozen=True, slots=True)
class ExportSummary:
    path: str
    fmt: str
    streams: int
    entries: int
    omitted: int
    digests: int
    calls: int
    contents: int
    admin_events: int
    bytes: int

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "format": self.fmt,
            "streams": self.streams,
            "entries": self.entries,
            "omitted": self.omitted,
            "digests": self.digests,
            "calls": self.calls,
            "contents": self.contents,
            "admin_events": self.admin_events,
            "bytes": self.bytes,
        }


def export(
    store: LedgerStore,
    out_path: str | Path,
    *,
    start: float | None,
    end: float | None,
    project: str | None = None,
    fmt: Format = "jsonl",
    content: bool = False,
) -> ExportSummary:
    """Write the audit trail of ``[start, end]`` (whole digest periods) to ``out_path``,
    atomically (a partial file never has the final name)."""
    out = Path(out_path)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    writer: _Writer = _ParquetWriter(tmp) if fmt == "parquet" else _JsonlWriter(tmp)
    counts = dict.fromkeys(("entries", "omitted", "digests", "calls", "contents", "admin"), 0)
    try:
        with DatabaseSource(store) as src:
            plans = src.plans(start, end)
            carries = ["calls", "admin_events", *(["content"] if content else [])]
            writer.write(
                {
                    "type": "meta",
                    "format": FORMAT,
                    "version": VERSION,
                    "exported_at": time.time(),
                    "start": start,
                    "end": end,
                    "project": project,
                    "carries": carries,
                    "streams": [p.to_json() for p in plans],
                    "all_streams": sorted(src.all_streams()),
                }
            )
            for kid, pem in sorted(src.stored_keys().items()):
                writer.write({"type": "key", "key_id": kid, "public_key": pem})
            for data in src.retention_entries():
                writer.write({"type": "retention", "data": data})
            for plan in plans:
                for d in plan.digests:
                    writer.write(_digest_record(d))
                    counts["digests"] += 1
                for chunk in src.entries(plan):
                    _export_chunk(src, writer, plan.stream, chunk, project, content, counts)
        writer.close()
        tmp.replace(out)
    except BaseException:
        writer.close()
        tmp.unlink(missing_ok=True)
        raise
    return ExportSummary(
        path=str(out),
        fmt=fmt,
        streams=len(plans),
        entries=counts["entries"],
        omitted=counts["omitted"],
        digests=counts["digests"],
        calls=counts["calls"],
        contents=counts["contents"],
        admin_events=counts["admin"],
        bytes=out.stat().st_size,
    )


def _export_chunk(
    src: DatabaseSource,
    writer: _Writer,
    stream: str,
    chunk: list[EntryRow],
    project: str | None,
    content: bool,
    counts: dict[str, int],
) -> None:
    summaries: dict[str, dict[str, Any]] = {}
    with_content: list[str] = []
    events: list[int] = []
    for seq, at, kind, subject, actor, proj, data, prev, h in chunk:
        if project is not None and proj != project:
            writer.write(
                {
                    "type": "entry",
                    "stream": stream,
                    "seq": seq,
                    "prev_hash": prev,
                    "hash": h,
                    "omitted": True,
                }
            )
            counts["omitted"] += 1
            continue
        writer.write(
            {
                "type": "entry",
                "stream": stream,
                "seq": seq,
                "at": at,
                "kind": kind,
                "subject": subject,
                "actor": actor,
                "project": proj,
                "data": data,
                "prev_hash": prev,
                "hash": h,
            }
        )
        counts["entries"] += 1
        body = _body(data)
        if kind == "call" and isinstance(body.get("call"), dict):
            summaries[subject] = full_summary(body["call"])
            if content and isinstance(body.get("content"), dict):
                with_content.append(subject)
        elif stream == CONTROL and isinstance(body.get("event_id"), int):
            events.append(body["event_id"])
    if summaries:
        columns = {c for s in summaries.values() for _k, c in summary_columns(s)}
        rows = src.calls(list(summaries), sorted(columns))
        for call_id, summary in summaries.items():
            row = rows.get(call_id)
            if row is not None:
                picked = {column: row[column] for _key, column in summary_columns(summary)}
                writer.write({"type": "call", "id": call_id, "row": picked})
                counts["calls"] += 1
    if with_content:
        for call_id, (codec, blob) in src.contents(with_content).items():
            writer.write(
                {
                    "type": "content",
                    "call_id": call_id,
                    "codec": codec,
                    "content": base64.b64encode(blob).decode(),
                }
            )
            counts["contents"] += 1
    if events:
        for event in src.admin_events(events).values():
            writer.write({"type": "admin_event", **event})
            counts["admin"] += 1


def _body(data: str | None) -> dict[str, Any]:
    try:
        body = orjson.loads(data or "{}").get("body")
    except (orjson.JSONDecodeError, AttributeError):
        return {}
    return body if isinstance(body, dict) else {}


def _digest_record(d: DigestRow) -> dict[str, Any]:
    return {
        "type": "digest",
        "stream": d.stream,
        "n": d.n,
        "at": d.at,
        "first_seq": d.first_seq,
        "last_seq": d.last_seq,
        "key_id": d.key_id,
        "data": d.data,
        "signature": d.signature,
    }


# ---------------------------------------------------------------------- writers


class _Writer:
    def write(self, record: dict[str, Any]) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


class _JsonlWriter(_Writer):
    def __init__(self, path: Path) -> None:
        self._f = path.open("wb")

    def write(self, record: dict[str, Any]) -> None:
        self._f.write(orjson.dumps(record) + b"\n")

    def close(self) -> None:
        self._f.close()


#: The parquet columns: every record's fields, nullable.
_PARQUET_COLUMNS: tuple[tuple[str, str], ...] = (
    ("type", "string"),
    ("stream", "string"),
    ("seq", "int64"),
    ("n", "int64"),
    ("at", "float64"),
    ("kind", "string"),
    ("subject", "string"),
    ("actor", "string"),
    ("project", "string"),
    ("data", "string"),
    ("prev_hash", "string"),
    ("hash", "string"),
    ("omitted", "bool_"),
    ("first_seq", "int64"),
    ("last_seq", "int64"),
    ("key_id", "string"),
    ("signature", "string"),
    ("public_key", "string"),
    ("call_id", "string"),
    ("codec", "string"),
    ("content", "binary"),
    ("row", "string"),
)
_ROW_TYPES = ("meta", "call", "admin_event")


def _pyarrow() -> Any:
    try:
        import pyarrow as pa  # type: ignore[import-untyped]  # no stubs; used via Any
        import pyarrow.parquet as pq  # type: ignore[import-untyped]
    except ImportError:
        raise BundleError(
            "the parquet format needs pyarrow: pip install 'daytwo[parquet]'"
        ) from None
    return pa, pq


class _ParquetWriter(_Writer):
    def __init__(self, path: Path) -> None:
        pa, pq = _pyarrow()
        self._pa = pa
        self._schema = pa.schema([(name, getattr(pa, kind)()) for name, kind in _PARQUET_COLUMNS])
        self._writer = pq.ParquetWriter(str(path), self._schema)
        self._rows: list[dict[str, Any]] = []

    def write(self, record: dict[str, Any]) -> None:
        self._rows.append(_to_columns(record))
        if len(self._rows) >= _BATCH:
            self._flush()

    def _flush(self) -> None:
        if self._rows:
            self._writer.write_table(self._pa.Table.from_pylist(self._rows, schema=self._schema))
            self._rows = []

    def close(self) -> None:
        if self._writer is not None:
            self._flush()
            self._writer.close()
            self._writer = None


def _to_columns(record: dict[str, Any]) -> dict[str, Any]:
    kind = record["type"]
    if kind in _ROW_TYPES:
        rest = {k: v for k, v in record.items() if k != "type"}
        return {"type": kind, "row": orjson.dumps(rest).decode()}
    if kind == "content":
        return {
            "type": kind,
            "call_id": record["call_id"],
            "codec": record["codec"],
            "content": base64.b64decode(record["content"]),
        }
    return dict(record)


def _from_columns(row: dict[str, Any]) -> dict[str, Any]:
    kind = row.get("type")
    if kind in _ROW_TYPES:
        record: dict[str, Any] = orjson.loads(row["row"])
        record["type"] = kind
        return record
    if kind == "content":
        return {
            "type": kind,
            "call_id": row["call_id"],
            "codec": row["codec"],
            "content": base64.b64encode(row["content"]).decode(),
        }
    return {k: v for k, v in row.items() if v is not None}


# ---------------------------------------------------------------------- reading


def read_records(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(record number, record) of a bundle file, jsonl or parquet."""
    with path.open("rb") as f:
        magic = f.read(4)
    if magic == _PARQUET_MAGIC:
        _pa, pq = _pyarrow()
        number = 0
        for batch in pq.ParquetFile(str(path)).iter_batches(batch_size=_BATCH):
            for row in batch.to_pylist():
                number += 1
                yield number, _from_columns(row)
        return
    with path.open("rb") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = orjson.loads(line)
            except orjson.JSONDecodeError:
                raise BundleError(f"{path}: record {number} is not JSON") from None
            if not isinstance(record, dict):
                raise BundleError(f"{path}: record {number} is not an object")
            yield number, record


def open_bundle(path: str | Path) -> BundleSource:
    """The bundle at ``path`` as a verification source (close it, or use it as a context
    manager). Raises :class:`BundleError` when it cannot be read."""
    p = Path(path)
    if not p.is_file():
        raise BundleError(f"no bundle at {p}")
    source = BundleSource(p)
    try:
        source.load()
    except BaseException:
        source.close()
        raise
    return source


_SCHEMA = (
    "CREATE TABLE entries (stream TEXT, seq INTEGER, at REAL, kind TEXT, subject TEXT, "
    "actor TEXT, project TEXT, data TEXT, prev_hash TEXT, hash TEXT, PRIMARY KEY (stream, seq))",
    "CREATE TABLE digests (stream TEXT, n INTEGER, at REAL, first_seq INTEGER, last_seq INTEGER,"
    " key_id TEXT, data TEXT, signature TEXT, PRIMARY KEY (stream, n))",
    "CREATE TABLE keys (key_id TEXT PRIMARY KEY, public_key TEXT)",
    "CREATE TABLE retention (data TEXT)",
    "CREATE TABLE calls (id TEXT PRIMARY KEY, row TEXT)",
    "CREATE TABLE content (call_id TEXT PRIMARY KEY, codec TEXT, content BLOB)",
    "CREATE TABLE admin_events (id INTEGER PRIMARY KEY, row TEXT)",
)
_INSERT = {
    "entry": (
        "INSERT INTO entries VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        ("stream", "seq", "at", "kind", "subject", "actor", "project", "data", "prev_hash", "hash"),
    ),
    "digest": (
        "INSERT INTO digests VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        ("stream", "n", "at", "first_seq", "last_seq", "key_id", "data", "signature"),
    ),
    "key": ("INSERT INTO keys VALUES (?, ?)", ("key_id", "public_key")),
    "retention": ("INSERT INTO retention VALUES (?)", ("data",)),
}


class BundleSource:
    """An exported bundle, loaded into a temporary SQLite file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.name = str(path)
        self.as_of: float | None = None
        self.meta: dict[str, Any] = {}
        self._dir = tempfile.mkdtemp(prefix="daytwo-bundle-")
        self._db = sqlite3.connect(os.path.join(self._dir, "bundle.db"), isolation_level=None)
        self._db.execute("PRAGMA journal_mode=OFF")
        self._db.execute("PRAGMA synchronous=OFF")
        for ddl in _SCHEMA:
            self._db.execute(ddl)

    def __enter__(self) -> BundleSource:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._db.close()
        shutil.rmtree(self._dir, ignore_errors=True)

    def load(self) -> None:
        pending: dict[str, list[tuple[Any, ...]]] = {}
        self._db.execute("BEGIN")
        for number, record in read_records(self.path):
            kind = record.get("type")
            try:
                if number == 1:
                    if kind != "meta" or record.get("format") != FORMAT:
                        raise BundleError(f"{self.path} is not a daytwo audit bundle")
                    if record.get("version") != VERSION:
                        raise BundleError(
                            f"{self.path}: bundle version {record.get('version')} "
                            f"(this daytwo reads version {VERSION})"
                        )
                    self.meta = record
                    exported = record.get("exported_at")
                    self.as_of = float(exported) if isinstance(exported, int | float) else None
                    continue
                sql, values = self._row(kind, record)
            except (KeyError, TypeError, ValueError, binascii.Error) as exc:
                raise BundleError(
                    f"{self.path}: record {number} ({kind}) is malformed: {exc}"
                ) from None
            rows = pending.setdefault(sql, [])
            rows.append(values)
            if len(rows) >= _BATCH:
                self._insert(sql, rows)
                rows.clear()
        if not self.meta:
            raise BundleError(f"{self.path} is empty")
        for sql, rows in pending.items():
            self._insert(sql, rows)
        self._db.execute("COMMIT")

    def _row(self, kind: Any, record: dict[str, Any]) -> tuple[str, tuple[Any, ...]]:
        if kind in _INSERT:
            sql, names = _INSERT[kind]
            if kind == "entry" and record.get("omitted"):
                record = {
                    **record,
                    "at": None,
                    "kind": "",
                    "subject": "",
                    "actor": "",
                    "data": None,
                }
            else:
                for name in names:
                    if name not in record and name != "project":
                        raise KeyError(name)
            return sql, tuple(record.get(name) for name in names)
        if kind == "call":
            return "INSERT INTO calls VALUES (?, ?)", (
                str(record["id"]),
                orjson.dumps(record["row"]).decode(),
            )
        if kind == "content":
            blob = base64.b64decode(record["content"], validate=True)
            return "INSERT INTO content VALUES (?, ?, ?)", (
                record["call_id"],
                record["codec"],
                blob,
            )
        if kind == "admin_event":
            row = {c: record.get(c) for c in ADMIN_COLUMNS}
            return "INSERT INTO admin_events VALUES (?, ?)", (
                int(record["id"]),
                orjson.dumps(row).decode(),
            )
        raise ValueError(f"unknown record type {kind!r}")

    def _insert(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        try:
            self._db.executemany(sql, rows)
        except sqlite3.IntegrityError:
            raise BundleError(f"{self.path}: a record appears twice") from None

    # ------------------------------------------------------------------ Source

    def plans(self, start: float | None, end: float | None) -> list[StreamPlan]:
        if start is not None or end is not None:
            raise BundleError("a bundle is verified whole (its range was chosen at export)")
        starts = {
            str(s["stream"]): (int(s["first_seq"]), bool(s["from_start"]))
            for s in self.meta.get("streams", [])
        }
        for stream, lo in self._db.execute("SELECT stream, min(seq) FROM entries GROUP BY stream"):
            starts.setdefault(stream, (int(lo), int(lo) == 1))
        digests: dict[str, list[DigestRow]] = {}
        for r in self._db.execute("SELECT * FROM digests ORDER BY stream, n"):
            digests.setdefault(r[0], []).append(DigestRow(*r))
        plans = []
        for stream in sorted(set(starts) | set(digests), key=lambda s: (s != CONTROL, s)):
            ds = digests.get(stream, [])
            lo, from_start = starts.get(stream, (ds[0].first_seq if ds else 1, False))
            plans.append(StreamPlan(stream, lo, None, tuple(ds), from_start))
        return plans

    def entries(self, plan: StreamPlan) -> Iterator[list[EntryRow]]:
        lo = plan.lo
        sql = (
            "SELECT seq, at, kind, subject, actor, project, data, prev_hash, hash FROM entries "
            "WHERE stream = ? AND seq >= ? ORDER BY seq LIMIT ?"
        )
        while True:
            rows: list[EntryRow] = self._db.execute(sql, (plan.stream, lo, CHUNK)).fetchall()
            if not rows:
                return
            yield rows
            if len(rows) < CHUNK:
                return
            lo = rows[-1][0] + 1

    def stored_keys(self) -> dict[str, str]:
        return dict(self._db.execute("SELECT key_id, public_key FROM keys").fetchall())

    def all_streams(self) -> set[str]:
        return {str(s) for s in self.meta.get("all_streams", [])}

    def retention(self) -> list[tuple[str, float]]:
        return retention_of([r[0] for r in self._db.execute("SELECT data FROM retention")])

    def _carries(self, what: str) -> bool:
        return what in self.meta.get("carries", [])

    def _by_ids(self, sql: str, ids: Sequence[Any]) -> list[tuple[Any, ...]]:
        out: list[tuple[Any, ...]] = []
        for i in range(0, len(ids), IDS_PER_QUERY):
            chunk = tuple(ids[i : i + IDS_PER_QUERY])
            out += self._db.execute(sql.format(", ".join("?" * len(chunk))), chunk).fetchall()
        return out

    def calls(self, ids: Sequence[str], columns: Sequence[str]) -> dict[str, dict[str, Any]] | None:
        if not self._carries("calls"):
            return None
        rows = self._by_ids("SELECT id, row FROM calls WHERE id IN ({})", ids)
        return {r[0]: orjson.loads(r[1]) for r in rows}

    def contents(self, ids: Sequence[str]) -> dict[str, tuple[str, bytes]] | None:
        if not self._carries("content"):
            return None
        rows = self._by_ids(
            "SELECT call_id, codec, content FROM content WHERE call_id IN ({})", ids
        )
        return {r[0]: (r[1], r[2]) for r in rows}

    def admin_events(self, ids: Sequence[int]) -> dict[int, dict[str, Any]] | None:
        if not self._carries("admin_events"):
            return None
        rows = self._by_ids("SELECT id, row FROM admin_events WHERE id IN ({})", ids)
        return {int(r[0]): orjson.loads(r[1]) for r in rows}
