"""Verifying the audit trail: the chains, the signed digests, and what the entries say against
the ledger's rows (``daytwo audit verify``).

:func:`verify` reads a :class:`~daytwo.audit.sources.Source` (the database, or an exported
bundle) stream by stream -- the control stream first -- in chunks, never a whole stream in
memory, and reports every :class:`Problem` it finds, the earliest first:

* ``edited`` -- an entry whose hash does not match its bytes, or whose searchable columns
  disagree with the bytes its hash covers;
* ``deleted`` / ``inserted`` / ``reordered`` -- a broken link (a ``prev_hash`` that is not the
  previous entry's hash), classified by where it points: a gap in ``seq``, or a hash that is
  nowhere near, means entries were deleted; the hash of the entry two back means the one
  between was inserted; the hash of a later entry means entries were moved;
* ``digest_missing``, ``digest_chain``, ``digest_edited``, ``signature``,
  ``digest_mismatch`` -- digests that are missing (``n`` not contiguous), that do not chain
  (``prev_signature``, ``first_seq``), whose columns disagree with the signed bytes, that are
  not signed by the given public key, or whose ``last_hash`` is not the hash of the entry it
  names (the chain was re-hashed after an insertion, edit or deletion);
* ``unsigned`` -- entries covered by no digest although one was due (older than the digest
  interval plus a grace period); younger ones are counted, not failed;
* ``call_deleted``, ``call_edited``, ``content_deleted``, ``content_edited``,
  ``admin_event_deleted``, ``admin_event_edited``, ``stream_deleted`` -- the rows the entries
  vouch for, checked in batches of ids (a retention entry in the control stream excuses a row
  its deletion covered).

Without public keys the digests are checked against the keys stored in the database itself:
weaker (whoever can write the database can write a key there), and the report says so.
"""

from __future__ import annotations

import functools
import hashlib
import operator
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from daytwo.audit.chain import CONTROL, GENESIS
from daytwo.audit.codec import CodecError, decompress
from daytwo.audit.digest import SigningKeyError, key_id, load_public, verify_signature
from daytwo.audit.sources import (
    ANNOUNCE,
    IDS_PER_QUERY,
    DatabaseSource,
    EntryRow,
    Source,
    StreamPlan,
    summary_columns,
)
from daytwo.audit.writer import SUMMARY_FIELDS, full_summary
from daytwo.ledger.store import LedgerStore

#: Problems kept in a report (the rest are counted).
MAX_PROBLEMS = 1_000
#: How far ahead a broken link is looked for the entry it points at.
LOOKAHEAD = 1_000
_ENTRY_COLUMNS = ("at", "kind", "subject", "actor", "project")
_DIGEST_COLUMNS = ("stream", "n", "at", "first_seq", "last_seq", "key_id")
_ADMIN_FIELDS = (("at", "at"), ("actor", "actor"), ("action", "kind"), ("target", "subject"))
_sha256 = hashlib.sha256
#: The (summary key, calls column) pairs of a full summary, and the keys it may hold.
_PAIRS = summary_columns(dict.fromkeys(SUMMARY_FIELDS))
_KEYS = frozenset(SUMMARY_FIELDS)
_REQUIRED = _KEYS - full_summary({}).keys()
_unhex = bytes.fromhex
_loads = orjson.loads


@dataclass(frozen=True, slots=True)
class Problem:
    kind: str
    stream: str
    seq: int | None
    n: int | None
    message: str
    at: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "stream": self.stream,
            "seq": self.seq,
            "n": self.n,
            "at": self.at,
            "message": self.message,
        }


@dataclass(frozen=True, slots=True)
class StreamCounts:
    stream: str
    entries: int
    omitted: int
    digests: int
    unsigned: int
    first_seq: int | None
    last_seq: int | None

    def to_json(self) -> dict[str, Any]:
        return {
            "stream": self.stream,
            "entries": self.entries,
            "omitted": self.omitted,
            "digests": self.digests,
            "unsigned": self.unsigned,
            "first_seq": self.first_seq,
            "last_seq": self.last_seq,
        }


@dataclass(frozen=True, slots=True)
class Report:
    source: str
    #: ``given`` (the operator's public keys) or ``stored`` (the database's own audit_keys).
    keys: str
    streams: tuple[StreamCounts, ...]
    #: The problems found, earliest first (at most :data:`MAX_PROBLEMS`).
    problems: tuple[Problem, ...]
    problem_count: int
    notes: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.problem_count == 0

    @property
    def first(self) -> Problem | None:
        """The first broken link overall."""
        return self.problems[0] if self.problems else None

    @property
    def entries(self) -> int:
        return sum(s.entries for s in self.streams)

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "source": self.source,
            "keys": self.keys,
            "notes": list(self.notes),
            "entries": self.entries,
            "streams": [s.to_json() for s in self.streams],
            "problem_count": self.problem_count,
            "first": None if self.first is None else self.first.to_json(),
            "problems": [p.to_json() for p in self.problems],
        }


def verify(
    source: Source | LedgerStore,
    *,
    public_keys: Sequence[Ed25519PublicKey] | None,
    start: float | None = None,
    end: float | None = None,
    interval_s: float = 3600.0,
    grace_s: float = 300.0,
    now: float | None = None,
    rows: bool = True,
) -> Report:
    """Check the audit trail ``source`` holds (a ledger store is read in one snapshot).

    With ``rows`` off, only the chains, digests and signatures are checked, not the calls,
    content and admin-event rows the entries describe.

    ``start``/``end`` (Unix seconds) limit the check to the digest periods overlapping that
    range. ``now`` (default: a bundle's export time, else the clock) decides which unsigned
    entries are overdue: older than ``interval_s + grace_s``.
    """
    if isinstance(source, LedgerStore):
        with DatabaseSource(source) as db:
            return verify(
                db,
                public_keys=public_keys,
                start=start,
                end=end,
                interval_s=interval_s,
                grace_s=grace_s,
                now=now,
                rows=rows,
            )
    if now is None:
        now = source.as_of if source.as_of is not None else time.time()
    notes: list[str] = []
    if public_keys:
        keys = {key_id(k): k for k in public_keys}
        keys_from = "given"
    else:
        keys = _stored_keys(source, notes)
        keys_from = "stored"
        notes.append(
            "no public key given: signatures were checked against the keys stored with the "
            "trail (audit_keys), which whoever can write the database can replace; pass "
            "--public-key for an independent check"
        )
    run = _Run(source, keys, keys_from, now - interval_s - grace_s, interval_s, notes, rows)
    if not rows:
        notes.append("rows not compared (--no-rows): the chains, digests and signatures only")
    for cls, before in source.retention():
        run.retained[cls] = max(run.retained.get(cls, float("-inf")), before)
    for plan in source.plans(start, end):
        run.stream(plan)
    run.announced_streams(source.all_streams())
    problems = sorted(run.problems, key=_order)
    return Report(
        source=source.name,
        keys=keys_from,
        streams=tuple(run.counts),
        problems=tuple(problems),
        problem_count=run.problem_count,
        notes=tuple(notes),
    )


#: At one place, a broken chain is told before a broken digest, and both before the rows.
_RANK = {
    "edited": 0,
    "deleted": 0,
    "inserted": 0,
    "reordered": 0,
    "digest_missing": 1,
    "digest_chain": 1,
    "digest_edited": 1,
    "signature": 1,
    "digest_mismatch": 1,
}


def _order(p: Problem) -> tuple[bool, float, bool, str, int, int]:
    place = p.seq if p.seq is not None else p.n or 0
    return (p.at is None, p.at or 0.0, p.stream != CONTROL, p.stream, place, _RANK.get(p.kind, 2))


def _stored_keys(source: Source, notes: list[str]) -> dict[str, Ed25519PublicKey]:
    keys = {}
    for kid, pem in source.stored_keys().items():
        try:
            key = load_public(pem)
        except SigningKeyError:
            notes.append(f"stored key {kid} is not an Ed25519 public key")
            continue
        if key_id(key) != kid:
            notes.append(f"stored key {kid} is stored under another key's id")
            continue
        keys[kid] = key
    return keys


def when(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(slots=True)
class _PendingCall:
    call_id: str
    stream: str
    seq: int
    at: float
    summary: dict[str, Any]
    content: dict[str, Any] | None
    #: (summary key, calls column) of the summary's compared fields
    pairs: tuple[tuple[str, str], ...] = ()


@dataclass(slots=True)
class _Run:
    source: Source
    keys: dict[str, Ed25519PublicKey]
    keys_from: str
    overdue_before: float
    interval_s: float
    notes: list[str]
    #: Compare the rows the entries describe (calls, content, admin events).
    rows: bool = True
    problems: list[Problem] = field(default_factory=list)
    problem_count: int = 0
    counts: list[StreamCounts] = field(default_factory=list)
    retained: dict[str, float] = field(default_factory=dict)
    announced: dict[str, tuple[int, float]] = field(default_factory=dict)
    calls: list[_PendingCall] = field(default_factory=list)
    admin: list[tuple[int, int, float, dict[str, Any]]] = field(default_factory=list)
    missing_noted: set[str] = field(default_factory=set)

    def add(self, kind: str, stream: str, message: str, **where: Any) -> None:
        self.problem_count += 1
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(Problem(kind, stream, message=message, **_where(where)))

    # ------------------------------------------------------------------ one stream

    def stream(self, plan: StreamPlan) -> None:
        s = plan.stream
        by_last, covered = self.digests(plan)
        head_seq, head_hash = plan.head if plan.head is not None else (0, "")
        expect = plan.lo
        last_hash: str | None = None
        if plan.from_start:
            last_hash = GENESIS
            self.digest_ends(s, by_last.pop(0, ()), GENESIS, 0, None)
        back2: str | None = None
        quiet_to = 0  # breaks up to this seq belong to a problem already reported
        count = omitted = unsigned = 0
        first_seq: int | None = None
        oldest_unsigned: tuple[int, float] | None = None
        last_at: float | None = None
        chunks = self.source.entries(plan)
        cur = next(chunks, None)
        while cur:
            nxt = next(chunks, None)
            for i, row in enumerate(cur):
                seq, at, _kind, _subject, _actor, _project, data, prev, h = row
                if first_seq is None:
                    first_seq = seq
                    if last_hash is None:  # a part of a stream: anchored where it starts
                        last_hash = prev
                        self.digest_ends(s, by_last.pop(seq - 1, ()), prev, seq - 1, at)
                if seq != expect:
                    self.add(
                        "deleted",
                        s,
                        f"{s} #{seq} follows #{expect - 1}: "
                        + _span("entry", "entries", expect, seq - 1)
                        + " deleted",
                        seq=seq,
                        at=at,
                    )
                    quiet_to = seq
                if prev != last_hash and seq > quiet_to:
                    quiet_to = self.broken(s, cur, nxt, i, last_hash, back2, last_at)
                if data is None:
                    omitted += 1
                else:
                    self.entry(s, row)
                if seq in by_last:
                    self.digest_ends(s, by_last.pop(seq), h, seq, at)
                if seq == head_seq and h != head_hash:
                    self.add(
                        "edited",
                        s,
                        f"{s} #{seq} is not the entry the stream's head names: "
                        "the chain was rewritten",
                        seq=seq,
                        at=at,
                    )
                if seq > covered:
                    unsigned += 1
                    if oldest_unsigned is None and at is not None:
                        oldest_unsigned = (seq, at)
                back2, last_hash = last_hash, h
                expect = seq + 1
                last_at = at if at is not None else last_at
                count += 1
            cur = nxt
        last_seq = expect - 1 if count else None
        self.flush_calls()
        self.flush_admin()
        for end_seq in sorted(by_last):
            n, _hash, first = by_last[end_seq][0]
            self.add(
                "deleted",
                s,
                f"{s} digest #{n} covers entries #{first}..#{end_seq}, but the stream ends "
                f"at #{expect - 1}: " + _span("entry", "entries", expect, end_seq) + " deleted",
                n=n,
                at=last_at,
            )
            break
        if head_seq > expect - 1:
            self.add(
                "deleted",
                s,
                f"{s} ends at #{expect - 1} but its head is at #{head_seq}: "
                + _span("entry", "entries", expect, head_seq)
                + " deleted",
                seq=expect,
                at=last_at,
            )
        if oldest_unsigned is not None and oldest_unsigned[1] < self.overdue_before:
            seq, at = oldest_unsigned
            self.add(
                "unsigned",
                s,
                f"{s}: missing digest: entries #{seq}..#{last_seq} are covered by no digest; "
                f"#{seq} is from {when(at)}, so a digest was due by {when(at + self.interval_s)}",
                seq=seq,
                at=at,
            )
            unsigned = 0
        self.counts.append(
            StreamCounts(s, count, omitted, len(plan.digests), unsigned, first_seq, last_seq)
        )

    def entry(self, s: str, row: EntryRow) -> None:
        seq, at_, kind, subject, actor, project, data, prev, h = row
        at = at_ if at_ is not None else 0.0  # only omitted entries have none
        raw = data.encode()  # type: ignore[union-attr]  # callers pass entries with data
        if _sha256(_unhex(prev) + raw).hexdigest() != h:
            self.add(
                "edited",
                s,
                f"{s} #{seq} was edited: its hash does not match its data",
                seq=seq,
                at=at,
            )
            return
        try:
            d = _loads(raw)
            body = d["body"]
            columns = (at, kind, subject, actor, project)
            if (d["stream"], d["at"], d["kind"], d["subject"], d["actor"], d["project"]) != (
                s,
                *columns,
            ):
                col = next(
                    (
                        c
                        for c, v in zip(("stream", *_ENTRY_COLUMNS), (s, *columns), strict=True)
                        if d[c] != v
                    )
                )
                value = s if col == "stream" else columns[_ENTRY_COLUMNS.index(col)]
                self.add(
                    "edited",
                    s,
                    f"{s} #{seq} was edited: its {col} column says {value!r}, the hashed data "
                    f"{d[col]!r}",
                    seq=seq,
                    at=at,
                )
                return
        except (orjson.JSONDecodeError, KeyError, TypeError):
            self.add(
                "edited", s, f"{s} #{seq} was edited: its data is not an entry", seq=seq, at=at
            )
            return
        if not isinstance(body, dict) or not self.rows:
            return
        if kind == "call":
            stored = body.get("call")
            summary = full_summary(stored) if isinstance(stored, dict) else {}
            # every summary a writer of this version chains has the same keys
            known = isinstance(stored, dict) and _REQUIRED <= stored.keys() <= _KEYS
            pairs = _PAIRS if known else None
            content = body.get("content")
            self.calls.append(
                _PendingCall(
                    subject,
                    s,
                    seq,
                    at,
                    summary,
                    content if isinstance(content, dict) else None,
                    pairs if pairs is not None else summary_columns(summary),
                )
            )
            if len(self.calls) >= IDS_PER_QUERY:
                self.flush_calls()
        elif s == CONTROL:
            if isinstance(body.get("event_id"), int):
                self.admin.append((int(body["event_id"]), seq, at, d))
                if len(self.admin) >= IDS_PER_QUERY:
                    self.flush_admin()
            if kind in ANNOUNCE and isinstance(body.get("stream"), str):
                self.announced.setdefault(body["stream"], (seq, at))

    def broken(
        self,
        s: str,
        cur: list[EntryRow],
        nxt: list[EntryRow] | None,
        i: int,
        last_hash: str | None,
        back2: str | None,
        last_at: float | None,
    ) -> int:
        """Report the broken link at ``cur[i]``; the last seq whose break it explains."""
        seq, at, prev = cur[i][0], cur[i][1], cur[i][7]
        ahead = (cur[i + 1 : i + 1 + LOOKAHEAD] + (nxt or [])[:LOOKAHEAD])[:LOOKAHEAD]
        for r in ahead:
            if r[8] == prev:
                self.add(
                    "reordered",
                    s,
                    f"{s} #{seq} links to #{r[0]}, a later entry: entries #{seq}..#{r[0]} "
                    "were reordered",
                    seq=seq,
                    at=at,
                )
                return r[0] + 1
        if back2 is not None and prev == back2:
            self.add(
                "inserted",
                s,
                f"{s} #{seq} links to #{seq - 2}: entry #{seq - 1} was inserted",
                seq=seq - 1,
                at=last_at,
            )
            return seq
        for r in ahead:
            if r[7] == last_hash:
                self.add(
                    "inserted",
                    s,
                    f"{s} #{r[0]} links to #{seq - 1}: "
                    + _span("entry", "entries", seq, r[0] - 1)
                    + " inserted",
                    seq=seq,
                    at=at,
                )
                return r[0]
        self.add(
            "deleted",
            s,
            f"{s} #{seq} links to an entry that is not there: entries before #{seq} were "
            f"deleted and the rest renumbered (or #{seq - 1} was edited and re-hashed)",
            seq=seq,
            at=at,
        )
        return seq

    # ------------------------------------------------------------------ digests

    def digests(self, plan: StreamPlan) -> tuple[dict[int, list[tuple[int, str, int]]], int]:
        """Check the plan's digests among themselves; (last_seq → [(n, last_hash,
        first_seq)], the last seq they cover)."""
        s = plan.stream
        by_last: dict[int, list[tuple[int, str, int]]] = {}
        prev: dict[str, Any] | None = None
        prev_sig = ""
        covered = plan.lo - 1
        for d in plan.digests:
            try:
                f = _loads(d.data)
                fields = (f["stream"], f["n"], f["at"], f["first_seq"], f["last_seq"], f["key_id"])
            except (orjson.JSONDecodeError, KeyError, TypeError):
                self.add(
                    "digest_edited",
                    s,
                    f"{s} digest #{d.n}: its data is not a digest",
                    n=d.n,
                    at=d.at,
                )
                continue
            row = (d.stream, d.n, d.at, d.first_seq, d.last_seq, d.key_id)
            for name, signed, column in zip(_DIGEST_COLUMNS, fields, row, strict=True):
                if signed != column:
                    self.add(
                        "digest_edited",
                        s,
                        f"{s} digest #{d.n} was edited: its {name} column says {column!r}, the "
                        f"signed data {signed!r}",
                        n=d.n,
                        at=d.at,
                    )
                    break
            expected = prev["n"] + 1 if prev is not None else (1 if plan.from_start else d.n)
            if d.n != expected:
                what = _span("digest", "digests", expected, d.n - 1)
                self.add("digest_missing", s, f"{s}: {what} missing", n=expected, at=d.at)
            elif prev is not None or d.n == 1:
                want_first = prev["last_seq"] + 1 if prev is not None else 1
                if f.get("prev_signature") != prev_sig:
                    before = f"digest #{d.n - 1}'s signature" if prev else "no signature"
                    self.add(
                        "digest_chain",
                        s,
                        f"{s} digest #{d.n} does not name {before} as the one before it",
                        n=d.n,
                        at=d.at,
                    )
                elif f["first_seq"] != want_first:
                    self.add(
                        "digest_chain",
                        s,
                        f"{s} digest #{d.n} starts at #{f['first_seq']}, not at #{want_first}",
                        n=d.n,
                        at=d.at,
                    )
            key = self.keys.get(str(f["key_id"]))
            if key is None:
                whose = "the given public key" if self.keys_from == "given" else "a stored key"
                self.add(
                    "signature",
                    s,
                    f"{s} digest #{d.n} is signed by key {f['key_id']}, not by {whose}",
                    n=d.n,
                    at=d.at,
                )
            elif not verify_signature(key, d.data.encode(), d.signature):
                self.add("signature", s, f"{s} digest #{d.n}: signature invalid", n=d.n, at=d.at)
            if f.get("count") != max(0, f["last_seq"] - f["first_seq"] + 1):
                self.add(
                    "digest_edited", s, f"{s} digest #{d.n}: its count is wrong", n=d.n, at=d.at
                )
            by_last.setdefault(int(f["last_seq"]), []).append(
                (d.n, str(f.get("last_hash")), int(f["first_seq"]))
            )
            prev, prev_sig = f, d.signature
            covered = int(f["last_seq"])
        return by_last, covered

    def digest_ends(
        self, s: str, digests: Sequence[tuple[int, str, int]], h: str, seq: int, at: float | None
    ) -> None:
        for n, last_hash, first in digests:
            if last_hash != h:
                self.add(
                    "digest_mismatch",
                    s,
                    f"{s} digest #{n} does not match entries #{first}..#{seq}: #{seq} is not "
                    "the entry it signed (entries were inserted, edited or deleted and the "
                    "chain re-hashed)",
                    n=n,
                    seq=seq,
                    at=at,
                )

    # ------------------------------------------------------------------ cross-checks

    def flush_calls(self) -> None:
        pending, self.calls = self.calls, []
        if not pending:
            return
        shapes = {id(p.pairs): p.pairs for p in pending}  # one tuple per writer version
        columns = {c for pairs in shapes.values() for _k, c in pairs}
        rows = self.source.calls([p.call_id for p in pending], sorted(columns))
        with_content = [p.call_id for p in pending if p.content is not None]
        contents = self.source.contents(with_content) if with_content else {}
        if rows is None:
            self.note_missing("calls", "the source carries no calls rows: not compared")
        if contents is None:
            self.note_missing("content", "the source carries no content: not compared")
        meta_before = self.retained.get("metadata", float("-inf"))
        content_before = self.retained.get("content", float("-inf"))
        for p in pending:
            where = f"{p.stream} #{p.seq}"
            if rows is not None:
                row = rows.get(p.call_id)
                started = p.summary.get("started_at", p.at)
                if row is None:
                    if not (isinstance(started, int | float) and started < meta_before):
                        self.add(
                            "call_deleted",
                            p.stream,
                            f"call {p.call_id} ({where}) was deleted from the ledger",
                            seq=p.seq,
                            at=p.at,
                        )
                else:
                    pairs = p.pairs
                    ours, theirs = _getters(pairs)
                    # all equal is the usual case, compared in C; else field by field
                    unequal = () if ours(p.summary) == theirs(row) else pairs
                    for key, column in unequal:
                        if not _same(p.summary[key], row.get(column)):
                            self.add(
                                "call_edited",
                                p.stream,
                                f"call {p.call_id}'s ledger row was edited ({where}): {column} "
                                f"{row.get(column)!r} ≠ {p.summary[key]!r} in the audit entry",
                                seq=p.seq,
                                at=p.at,
                            )
                            break
            if p.content is None or contents is None:
                continue
            stored = contents.get(p.call_id)
            if stored is None:
                expires = p.content.get("expires_at")
                if not (isinstance(expires, int | float) and expires < content_before):
                    self.add(
                        "content_deleted",
                        p.stream,
                        f"content of call {p.call_id} ({where}) was deleted",
                        seq=p.seq,
                        at=p.at,
                    )
            elif _content_digest(*stored) != p.content.get("digest"):
                self.add(
                    "content_edited",
                    p.stream,
                    f"content of call {p.call_id} ({where}) was edited: it does not match the "
                    "digest its audit entry names",
                    seq=p.seq,
                    at=p.at,
                )

    def flush_admin(self) -> None:
        pending, self.admin = self.admin, []
        if not pending:
            return
        rows = self.source.admin_events([p[0] for p in pending])
        if rows is None:
            self.note_missing("admin", "the source carries no admin events: not compared")
            return
        for event_id, seq, at, d in pending:
            row = rows.get(event_id)
            where = f"{CONTROL} #{seq}"
            if row is None:
                self.add(
                    "admin_event_deleted",
                    CONTROL,
                    f"admin event #{event_id} ({where}) was deleted",
                    seq=seq,
                    at=at,
                )
                continue
            body = d["body"]
            pairs = [(c, row[c], d[k]) for c, k in _ADMIN_FIELDS]
            pairs += [(c, _json(row[c]), body.get(c)) for c in ("before", "after")]
            for column, stored, entry in pairs:
                if not _same(entry, stored):
                    self.add(
                        "admin_event_edited",
                        CONTROL,
                        f"admin event #{event_id} was edited ({where}): {column} {stored!r} ≠ "
                        f"{entry!r} in the audit entry",
                        seq=seq,
                        at=at,
                    )
                    break

    def announced_streams(self, streams: set[str]) -> None:
        for stream, (seq, at) in sorted(self.announced.items()):
            if stream not in streams:
                self.add(
                    "stream_deleted",
                    stream,
                    f"stream {stream} was deleted (announced by {CONTROL} #{seq})",
                    seq=None,
                    at=at,
                )

    def note_missing(self, what: str, note: str) -> None:
        if what not in self.missing_noted:
            self.missing_noted.add(what)
            self.notes.append(note)


@functools.lru_cache(maxsize=64)
def _getters(
    pairs: tuple[tuple[str, str], ...],
) -> tuple[Callable[[dict[str, Any]], Any], Callable[[dict[str, Any]], Any]]:
    """Getters of a summary's compared values and of the same values in a calls row (tuples,
    compared at C speed; a difference is then looked for field by field)."""
    keys = [k for k, _c in pairs] or ["id"]
    columns = [c for _k, c in pairs] or ["id"]
    return operator.itemgetter(*keys, *keys[:1]), operator.itemgetter(*columns, *columns[:1])


def _where(where: dict[str, Any]) -> dict[str, Any]:
    return {"seq": where.get("seq"), "n": where.get("n"), "at": where.get("at")}


def _span(one: str, many: str, a: int, b: int) -> str:
    return f"{one} #{a} was" if a == b else f"{many} #{a}..#{b} were"


def _json(value: Any) -> Any:
    return orjson.loads(value) if isinstance(value, str | bytes) else value


def _same(entry: Any, stored: Any) -> bool:
    if entry == stored:
        return True
    if isinstance(entry, dict | list) and isinstance(stored, str | bytes):
        try:
            stored = orjson.loads(stored)
        except orjson.JSONDecodeError:
            return False
    if isinstance(entry, bool) or isinstance(stored, bool):
        return entry is not None and stored is not None and bool(entry) == bool(stored)
    return bool(entry == stored)


def _content_digest(codec: str, blob: bytes) -> str | None:
    try:
        return hashlib.sha256(decompress(codec, blob)).hexdigest()
    except CodecError:
        return None
