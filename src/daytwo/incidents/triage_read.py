"""What triage reads: the calls of the incident window and of its baseline (with their scores
and failed attempts) and the audit trail's control stream over both, in four queries.

Reads are bounded by the two windows and the scope (project, workflow, alias): only the
columns triage compares are fetched, one small tuple per call. Blocking; the admin API calls it
from a worker thread.

Context size: the ledger keeps no retrieval size (the SDK's RAG spans go to traces, and the
``daytwo_context`` a call reports is kept for judges only), so triage measures context by the
input tokens per call, which retrieved passages inflate like any other prompt text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson
import sqlalchemy as sa

from daytwo.audit.chain import CONTROL
from daytwo.audit.schema import audit_entries
from daytwo.ledger.schema import attempts, calls, scores
from daytwo.ledger.store import LedgerStore

#: Control-stream kinds triage reads as evidence (every other kind is an admin action).
PROMPT_KINDS = ("prompts.load", "prompts.reload")
CONFIG_KINDS = ("config.load", "config.reload")
MODEL_CHANGED = "model.changed"
LOOP = "loop"
#: Control-stream kinds that are bookkeeping, not changes anyone made to the service.
IGNORED_KINDS = frozenset({"stream.open", "stream.resume", "retention.delete", "content.reveal"})


@dataclass(frozen=True, slots=True)
class Span:
    """A half-open time range ``[start, end)`` in Unix seconds."""

    start: float
    end: float

    def __post_init__(self) -> None:
        if not self.end > self.start:
            raise ValueError(f"a window must end after it starts ({self.start} → {self.end})")

    @property
    def seconds(self) -> float:
        return self.end - self.start

    def holds(self, at: float) -> bool:
        return self.start <= at < self.end


@dataclass(frozen=True, slots=True)
class Scope:
    """The calls triage looks at (None: any)."""

    project: str | None = None
    workflow: str | None = None
    alias: str | None = None

    def to_json(self) -> dict[str, str | None]:
        return {"project": self.project, "workflow": self.workflow, "alias": self.alias}


@dataclass(slots=True)
class CallRow:
    """One call, as triage compares it. ``scores``: evaluator → value (0..1, 1 good);
    ``tried``: the providers of its attempts (the serving one included)."""

    id: str
    at: float
    status: str
    alias: str
    key_id: str | None
    user: str | None
    workflow: str | None
    session: str | None
    agent: str | None
    provider: str | None
    deployment: str | None
    served: tuple[str | None, str | None]
    attempts: int
    input_tokens: int
    output_tokens: int
    cost_usd: float | None
    latency_ms: float
    cache_hit: bool
    prompt: tuple[str, int] | None
    prompt_label: str | None
    config_hash: str | None
    scores: dict[str, float] = field(default_factory=dict)
    tried: set[str] = field(default_factory=set)


@dataclass(frozen=True, slots=True)
class Attempt:
    call_id: str
    at: float
    provider: str
    ok: bool
    latency_ms: float


@dataclass(frozen=True, slots=True)
class ControlEntry:
    at: float
    kind: str
    subject: str
    actor: str
    project: str | None
    before: dict[str, Any]
    after: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Evidence:
    """Everything triage compares, oldest first: calls of the baseline and of the window,
    attempts on each provider (a call's single attempt is its row), control entries from the
    baseline's start to the window's end, and the last prompt set loaded before them."""

    window: Span
    baseline: Span
    scope: Scope
    baseline_calls: list[CallRow]
    window_calls: list[CallRow]
    attempts: list[Attempt]
    control: list[ControlEntry]
    prompts_before: ControlEntry | None


def read(store: LedgerStore, window: Span, baseline: Span, scope: Scope) -> Evidence:
    """The evidence for one triage (blocking)."""
    start, end = min(window.start, baseline.start), max(window.end, baseline.end)
    c = calls.c
    conds: list[sa.ColumnElement[bool]] = [c.started_at >= start, c.started_at < end]
    if scope.project is not None:
        conds.append(c.project == scope.project)
    if scope.workflow is not None:
        conds.append(c.workflow == scope.workflow)
    if scope.alias is not None:
        conds.append(c.alias == scope.alias)
    inside = sa.and_(*conds)
    with store.connect() as conn:
        rows = [_call(r) for r in conn.execute(_calls_query(inside))]
        by_id = {r.id: r for r in rows}
        for call_id, evaluator, value in conn.execute(
            sa.select(scores.c.call_id, scores.c.evaluator, scores.c.value)
            .select_from(scores.join(calls, calls.c.id == scores.c.call_id))
            .where(inside, scores.c.value.is_not(None))
        ):
            row = by_id.get(call_id)
            if row is not None and 0.0 <= value <= 1.0:
                row.scores[evaluator] = float(value)
        a = attempts.c
        multi = [
            Attempt(call_id, float(at), provider, outcome == "ok", float(ms))
            for call_id, at, provider, outcome, ms in conn.execute(
                sa.select(a.call_id, a.started_at, a.provider, a.outcome, a.latency_ms)
                .select_from(attempts.join(calls, calls.c.id == a.call_id))
                .where(inside)
            )
        ]
        control = _control(conn, start, end, scope.project)
        prompts_before = _prompts_before(conn, start)
    for att in multi:
        row = by_id.get(att.call_id)
        if row is not None:
            row.tried.add(att.provider)
    single = [
        Attempt(r.id, r.at, r.provider, r.status == "ok", r.latency_ms)
        for r in rows
        if r.attempts <= 1 and r.provider is not None
    ]
    return Evidence(
        window=window,
        baseline=baseline,
        scope=scope,
        baseline_calls=[r for r in rows if baseline.holds(r.at)],
        window_calls=[r for r in rows if window.holds(r.at)],
        attempts=sorted(multi + single, key=lambda x: x.at),
        control=control,
        prompts_before=prompts_before,
    )


def _calls_query(inside: sa.ColumnElement[bool]) -> sa.Select[Any]:
    c = calls.c
    return (
        sa.select(
            c.id,
            c.started_at,
            c.status,
            c.alias,
            c.key_id,
            c.user,
            c.workflow,
            c.session,
            c.agent,
            c.provider,
            c.deployment,
            c.served_model,
            c.system_fingerprint,
            c.attempts,
            c.input_tokens,
            c.output_tokens,
            c.cost_nanousd,
            c.latency_ms,
            c.cache_status,
            c.prompt_name,
            c.prompt_version,
            c.prompt_label,
            c.config_hash,
        )
        .where(inside)
        .order_by(c.started_at)
    )


def _call(r: Any) -> CallRow:
    row = CallRow(
        id=r.id,
        at=float(r.started_at),
        status=r.status,
        alias=r.alias,
        key_id=r.key_id,
        user=r.user,
        workflow=r.workflow,
        session=r.session,
        agent=r.agent,
        provider=r.provider,
        deployment=r.deployment,
        served=(r.served_model, r.system_fingerprint),
        attempts=int(r.attempts),
        input_tokens=int(r.input_tokens),
        output_tokens=int(r.output_tokens),
        cost_usd=None if r.cost_nanousd is None else r.cost_nanousd / 1e9,
        latency_ms=float(r.latency_ms),
        cache_hit=r.cache_status == "hit",
        prompt=None
        if r.prompt_name is None or r.prompt_version is None
        else (r.prompt_name, int(r.prompt_version)),
        prompt_label=r.prompt_label,
        config_hash=r.config_hash,
    )
    if r.provider is not None:
        row.tried.add(r.provider)
    return row


def _control(
    conn: sa.Connection, start: float, end: float, project: str | None
) -> list[ControlEntry]:
    e = audit_entries.c
    query = sa.select(e.at, e.kind, e.subject, e.actor, e.project, e.data).where(
        e.stream == CONTROL, e.at >= start, e.at < end
    )
    if project is not None:  # a project's triage still sees changes made to everything
        query = query.where(sa.or_(e.project.is_(None), e.project == project))
    out = [_entry(row) for row in conn.execute(query.order_by(e.seq))]
    return [x for x in out if x.kind not in IGNORED_KINDS]


def _prompts_before(conn: sa.Connection, start: float) -> ControlEntry | None:
    e = audit_entries.c
    row = conn.execute(
        sa.select(e.at, e.kind, e.subject, e.actor, e.project, e.data)
        .where(e.stream == CONTROL, e.kind.in_(PROMPT_KINDS), e.at < start)
        .order_by(e.seq.desc())
        .limit(1)
    ).first()
    return None if row is None else _entry(row)


def _entry(row: Any) -> ControlEntry:
    body = orjson.loads(row.data).get("body") or {}
    before, after = body.get("before"), body.get("after")
    return ControlEntry(
        at=float(row.at),
        kind=row.kind,
        subject=row.subject,
        actor=row.actor,
        project=row.project,
        before=before if isinstance(before, dict) else {},
        after=after if isinstance(after, dict) else {},
    )
