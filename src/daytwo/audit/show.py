"""Answers for auditors and incident responders: one call's whole story (``daytwo audit show``)
and a search over the audited calls (``daytwo audit search``).

A call's story: when, who (key, project, workflow, user, client address), which model and
served fingerprint, which prompt version and hash, which config checkpoint and the spend-control
decisions applied, what was sent and received (as its capture policy kept it), its cost, and the
proof: its entry's hash and place in the chain, and the signed digest that covers it (or that
none does yet).
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from typing import Any

import orjson
import sqlalchemy as sa

from daytwo.audit.chain import CONTROL, Item, append
from daytwo.audit.codec import CodecError, decompress
from daytwo.audit.schema import audit_digests, audit_entries, call_content, config_checkpoints
from daytwo.audit.vault import Vault, restore
from daytwo.audit.writer import full_summary
from daytwo.core.record import CallRecord
from daytwo.ledger.store import LedgerStore


class AuditLookupError(LookupError):
    """No audit entry for that call (unknown id, or a call its policy did not audit)."""


@dataclass(frozen=True, slots=True)
class Proof:
    stream: str
    seq: int
    hash: str
    prev_hash: str
    #: The digest that covers the entry: (n, at, key_id, signature); None: not signed yet.
    digest: tuple[int, float, str, str] | None

    def to_json(self) -> dict[str, Any]:
        d = self.digest
        return {
            "stream": self.stream,
            "seq": self.seq,
            "hash": self.hash,
            "prev_hash": self.prev_hash,
            "digest": None
            if d is None
            else {"n": d[0], "at": d[1], "key_id": d[2], "signature": d[3]},
        }


#: The parts of a call's content that hold what was said (the rest describes it).
CONTENT_PARTS = ("request", "response", "variables")


@dataclass(frozen=True, slots=True)
class CallStory:
    call_id: str
    summary: dict[str, Any]
    decisions: dict[str, Any]
    proof: Proof
    #: The ledger row (None: deleted by metadata retention).
    record: CallRecord | None
    #: {"mode", "expires_at", "redactions", "digest", "intact"} + "request"/"response" (and
    #: the prompt's "variables") when kept; None when the policy kept no content;
    #: {"expired": True, ...} after retention.
    content: dict[str, Any] | None
    #: Whether the effective config of the call's checkpoint is kept (config_checkpoints).
    config_known: bool
    revealed: bool = False
    notes: list[str] = field(default_factory=list)

    def to_json(self, *, with_content: bool = True) -> dict[str, Any]:
        content = self.content
        if content is not None and not with_content:
            content = {k: v for k, v in content.items() if k not in CONTENT_PARTS}
        return {
            "call_id": self.call_id,
            "call": self.summary,
            "decisions": self.decisions,
            "config": {"hash": self.summary.get("config_hash"), "known": self.config_known},
            "content": content,
            "revealed": self.revealed,
            "proof": self.proof.to_json(),
            "in_ledger": self.record is not None,
            "notes": self.notes,
        }


def call_story(
    store: LedgerStore,
    call_id: str,
    *,
    vault: Vault | None = None,
    actor: str = "cli",
) -> CallStory:
    """The story of ``call_id``. With ``vault`` (reversible redaction), the redacted values are
    put back, and the reveal is itself an audit entry (control stream, ``content.reveal``)."""
    e = audit_entries.c
    with store.connect() as conn:
        row = conn.execute(
            sa.select(audit_entries).where(e.subject == call_id, e.kind == "call").limit(1)
        ).first()
        if row is None:
            raise AuditLookupError(f"no audit entry for call {call_id}")
        body = orjson.loads(row.data)["body"]
        body["call"] = full_summary(body["call"])
        d = audit_digests.c
        digest = conn.execute(
            sa.select(d.n, d.at, d.key_id, d.signature)
            .where(d.stream == row.stream, d.last_seq >= row.seq, d.first_seq <= row.seq)
            .order_by(d.n)
            .limit(1)
        ).first()
        content_row = conn.execute(
            sa.select(call_content).where(call_content.c.call_id == call_id)
        ).first()
        config_hash = body["call"].get("config_hash")
        known = bool(
            config_hash
            and conn.execute(
                sa.select(config_checkpoints.c.hash).where(config_checkpoints.c.hash == config_hash)
            ).first()
        )
    record = store.get_call(call_id)
    proof = Proof(
        stream=row.stream,
        seq=int(row.seq),
        hash=row.hash,
        prev_hash=row.prev_hash,
        digest=None
        if digest is None
        else (int(digest.n), float(digest.at), digest.key_id, digest.signature),
    )
    notes: list[str] = []
    content = _content(body.get("content"), content_row, notes)
    revealed = False
    if vault is not None and content is not None and content_row is not None:
        if content_row.vault is None:
            notes.append("nothing to reveal: the content was stored without a vault")
        else:
            originals = vault.open(bytes(content_row.vault), call_id.encode())
            for part in CONTENT_PARTS:
                if part in content:
                    content[part] = restore(content[part], originals)
            revealed = True
            with store.engine.connect() as conn:
                conn.execution_options(daytwo_begin="IMMEDIATE")
                with conn.begin():
                    item = Item(
                        time.time(),
                        "content.reveal",
                        call_id,
                        actor,
                        {"call_id": call_id, "vault_key": content_row.vault_key},
                        body["call"].get("project"),
                    )
                    append(conn, CONTROL, [item])
    if record is None:
        notes.append("the call's ledger row is gone (metadata retention, or deleted)")
    if proof.digest is None:
        notes.append("no signed digest covers this entry yet (the next one will)")
    return CallStory(
        call_id=call_id,
        summary=body["call"],
        decisions=body.get("decisions") or {},
        proof=proof,
        record=record,
        content=content,
        config_known=known,
        revealed=revealed,
        notes=notes,
    )


def _content(ref: dict[str, Any] | None, row: Any, notes: list[str]) -> dict[str, Any] | None:
    if ref is None:
        return None
    out: dict[str, Any] = {
        "mode": ref["mode"],
        "expires_at": ref["expires_at"],
        "redactions": ref.get("redactions") or {},
        "digest": ref["digest"],
    }
    if row is None:
        out["expired"] = ref["expires_at"] <= time.time()
        notes.append(
            "the content was deleted by retention"
            if out["expired"]
            else "the content row is missing before its expiry (run `daytwo audit verify`)"
        )
        return out
    try:
        raw = decompress(row.codec, bytes(row.content))
    except CodecError as exc:
        notes.append(f"the content cannot be read: {exc}")
        out["intact"] = False
        return out
    out["intact"] = hashlib.sha256(raw).hexdigest() == ref["digest"]
    kept = orjson.loads(raw)
    out["request"], out["response"] = kept.get("request"), kept.get("response")
    if "variables" in kept:
        out["variables"] = kept["variables"]
    if row.vault is not None:
        out["vault_key"] = row.vault_key
    return out


@dataclass(frozen=True, slots=True)
class Found:
    call_id: str
    at: float
    stream: str
    seq: int
    call: dict[str, Any]


def search(
    store: LedgerStore,
    *,
    start: float | None = None,
    end: float | None = None,
    project: str | None = None,
    key: str | None = None,
    user: str | None = None,
    model: str | None = None,
    status: str | None = None,
    limit: int = 100,
) -> list[Found]:
    """Audited calls matching every filter given, newest first (at most ``limit``). ``model``
    matches the alias asked for or the served model."""
    e = audit_entries.c
    query = sa.select(e.stream, e.seq, e.at, e.subject, e.data).where(e.kind == "call")
    if start is not None:
        query = query.where(e.at >= start)
    if end is not None:
        query = query.where(e.at < end)
    if project is not None:
        query = query.where(e.project == project)
    if key is not None:
        query = query.where(e.actor == key)
    query = query.order_by(e.at.desc())
    out: list[Found] = []
    with store.connect() as conn:
        for row in conn.execution_options(yield_per=1000).execute(query):
            call = full_summary(orjson.loads(row.data)["body"]["call"])
            if user is not None and call.get("user") != user:
                continue
            if model is not None and model not in (call.get("alias"), call.get("served_model")):
                continue
            if status is not None and call.get("status") != status:
                continue
            out.append(Found(row.subject, float(row.at), row.stream, int(row.seq), call))
            if len(out) >= limit:
                break
    return out
