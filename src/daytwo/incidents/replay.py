"""``daytwo replay``: would the old version have done better? Captured production calls are
re-run against an alternative -- another prompt version, another model alias, or an alias as a
config checkpoint defined it -- through the gateway's own pipeline, and original and replay are
scored side by side (docs/incidents.md).

This module chooses the calls. Guarantees:

* Only calls the audit trail kept content for (``call_content``: ``redacted`` or ``full``) are
  replayed; a window whose calls have none is refused with the project whose capture policy to
  change (:class:`NothingCaptured`). Content whose digest no longer matches its bytes is left
  out and counted.
* Only answered chat calls (status ``ok``) are candidates: a failed call has no answer to
  compare with. The replay's own calls (project :data:`REPLAY_PROJECT`) never are.
* ``--sample N`` is deterministic: the N calls with the smallest sha256 of their call id, so
  the same window gives the same sample on every run and every machine.

The pieces: :mod:`replay_build` (the request each call becomes), :mod:`replay_run` (the calls
through the gateway, the cost cap, the judge), :mod:`replay_report` (the paired statistics, the
report, the saved dataset).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
import sqlalchemy as sa

from daytwo.audit.codec import CodecError, decompress
from daytwo.audit.schema import call_content, config_checkpoints
from daytwo.ledger.schema import calls
from daytwo.ledger.store import LedgerStore

#: The project (and workflow) replay calls are attributed to: their own budget scope, and how
#: the ledger tells them apart from production.
REPLAY_PROJECT = "replay"


class ReplayRefused(Exception):
    """The replay cannot be made as asked (the message says why and what to change)."""


class NothingCaptured(ReplayRefused):
    """The window has calls, but the audit trail kept none of their content."""


@dataclass(frozen=True, slots=True)
class Selection:
    """Which production calls to replay: a window (Unix seconds, ``end`` excluded) and
    filters; ``prompt`` is ``NAME`` or ``NAME@vN``; ``sample``: at most this many."""

    start: float
    end: float
    project: str | None = None
    workflow: str | None = None
    alias: str | None = None
    prompt: str | None = None
    sample: int | None = None

    def describe(self) -> str:
        parts = [
            f"{name} {value}"
            for name, value in (
                ("project", self.project),
                ("workflow", self.workflow),
                ("alias", self.alias),
                ("prompt", self.prompt),
            )
            if value is not None
        ]
        return ", ".join(parts) or "all projects"


@dataclass(frozen=True, slots=True)
class CapturedCall:
    """One production call with what the audit trail kept of it."""

    call_id: str
    started_at: float
    project: str
    workflow: str | None
    alias: str
    #: ``redacted`` (values replaced by ``[REDACTED:<detector>]``) or ``full``.
    mode: str
    #: The request as captured: the body the client sent, a prompt's messages rendered into it.
    request: dict[str, Any]
    response: dict[str, Any] | None
    #: (name, version, content hash) of the prompt the call named, or None.
    prompt: tuple[str, int, str | None] | None
    config_hash: str | None
    cost_usd: float | None
    latency_ms: float
    served_model: str | None
    #: The variables of the prompt the call named, as the client sent them (None: not
    #: captured, e.g. content captured before the variables were).
    variables: Mapping[str, Any] | None = None
    #: The wire format of ``request``: ``openai`` (Chat Completions: the OpenAI door, the
    #: Responses door's translation, any call that named a prompt) or ``anthropic`` (the
    #: Messages body the Anthropic door kept), with the client's ``anthropic-beta`` flags.
    #: (``response`` is always a ``chat.completion``: the answer before its door encoded it.)
    wire: str = "openai"
    beta: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Selected:
    """The calls chosen, and how many the window held on the way there."""

    calls: tuple[CapturedCall, ...]
    in_window: int
    captured: int
    #: Captured calls left out, by reason (``content digest mismatch``).
    left_out: Mapping[str, int] = field(default_factory=dict)


def select(store: LedgerStore, selection: Selection) -> Selected:
    """The captured calls of ``selection`` (sampled), oldest first. Raises
    :class:`ReplayRefused` when the window holds no call, :class:`NothingCaptured` when none of
    its calls has captured content."""
    c, k = calls.c, call_content.c
    where = [
        c.started_at >= selection.start,
        c.started_at < selection.end,
        c.status == "ok",
        c.operation == "chat",
        c.project != REPLAY_PROJECT,
    ]
    if selection.project is not None:
        where.append(c.project == selection.project)
    if selection.workflow is not None:
        where.append(c.workflow == selection.workflow)
    if selection.alias is not None:
        where.append(c.alias == selection.alias)
    if selection.prompt is not None:
        name, _, version = selection.prompt.partition("@v")
        where.append(c.prompt_name == name)
        if version:
            where.append(c.prompt_version == int(version))
    query = (
        sa.select(
            c.id,
            c.started_at,
            c.project,
            c.workflow,
            c.alias,
            c.prompt_name,
            c.prompt_version,
            c.prompt_hash,
            c.config_hash,
            c.cost_nanousd,
            c.latency_ms,
            c.served_model,
            k.mode,
            k.codec,
            k.content,
            k.digest,
        )
        .select_from(calls.outerjoin(call_content, k.call_id == c.id))
        .where(*where)
    )
    with store.connect() as conn:
        rows = conn.execute(query).all()
    if not rows:
        raise ReplayRefused(
            f"no answered chat calls in the window ({selection.describe()}): "
            "widen --since or check the filters"
        )
    kept = [r for r in rows if r.content is not None]
    if not kept:
        projects = selection.project or ", ".join(sorted({r.project for r in rows}))
        raise NothingCaptured(
            f"{len(rows)} calls in the window, none with captured content: set audit.capture "
            f"(redacted or full) for project {projects}"
        )
    kept.sort(key=lambda r: hashlib.sha256(r.id.encode()).hexdigest())
    left_out: Counter[str] = Counter()
    chosen: list[CapturedCall] = []
    for row in kept:
        if selection.sample is not None and len(chosen) >= selection.sample:
            break
        got = _captured(row)
        if isinstance(got, str):
            left_out[got] += 1
            continue
        chosen.append(got)
    chosen.sort(key=lambda call: (call.started_at, call.call_id))
    return Selected(tuple(chosen), len(rows), len(kept), dict(left_out))


def _captured(row: Any) -> CapturedCall | str:
    """The call, or why its content cannot be used."""
    try:
        raw = decompress(row.codec, bytes(row.content))
    except CodecError:
        return "content unreadable (run `daytwo audit verify`)"
    if hashlib.sha256(raw).hexdigest() != row.digest:
        return "content digest mismatch (run `daytwo audit verify`)"
    kept = orjson.loads(raw)
    request = kept.get("request") if isinstance(kept, dict) else None
    if not isinstance(request, dict):
        return "no request in the captured content"
    response = kept.get("response")
    variables = kept.get("variables")
    beta = kept.get("beta")
    prompt = None
    if row.prompt_name is not None and row.prompt_version is not None:
        prompt = (str(row.prompt_name), int(row.prompt_version), row.prompt_hash)
    return CapturedCall(
        call_id=row.id,
        started_at=float(row.started_at),
        project=row.project,
        workflow=row.workflow,
        alias=row.alias,
        mode=row.mode,
        request=request,
        response=response if isinstance(response, dict) else None,
        prompt=prompt,
        config_hash=row.config_hash,
        cost_usd=None if row.cost_nanousd is None else int(row.cost_nanousd) / 1e9,
        latency_ms=float(row.latency_ms),
        served_model=row.served_model,
        variables=variables if isinstance(variables, dict) else None,
        wire=str(kept.get("wire") or wire_of(request)),
        beta=tuple(str(b) for b in beta) if isinstance(beta, list) else (),
    )


#: Top-level fields and content blocks only a Messages body has.
_MESSAGES_FIELDS = frozenset(
    {"system", "stop_sequences", "top_k", "thinking", "output_config", "cache_control"}
)
_MESSAGES_BLOCKS = frozenset(
    {"image", "document", "tool_use", "tool_result", "thinking", "redacted_thinking"}
)


def wire_of(request: Mapping[str, Any]) -> str:
    """The wire format of a request captured before captures named it: ``anthropic`` when it
    has what only a Messages body has (a field, a content block, a tool with an
    ``input_schema``, a ``tool_choice`` of Anthropic's kinds), else ``openai``: a Messages body
    with none of these is a Chat Completions body too, and means the same there."""
    if not _MESSAGES_FIELDS.isdisjoint(request):
        return "anthropic"
    choice = request.get("tool_choice")
    if isinstance(choice, Mapping) and choice.get("type") != "function":
        return "anthropic"
    tools = request.get("tools")
    if isinstance(tools, list) and any(
        isinstance(t, Mapping) and "input_schema" in t for t in tools
    ):
        return "anthropic"
    for message in request.get("messages") or ():
        content = message.get("content") if isinstance(message, Mapping) else None
        if isinstance(content, list) and any(
            isinstance(block, Mapping) and block.get("type") in _MESSAGES_BLOCKS
            for block in content
        ):
            return "anthropic"
    return "openai"


def checkpoint_text(store: LedgerStore, config_hash: str) -> dict[str, Any]:
    """The effective config kept under ``config_hash`` (``config_checkpoints``), as JSON.
    Raises :class:`ReplayRefused` naming the hash when the trail has none."""
    cp = config_checkpoints.c
    with store.connect() as conn:
        row = conn.execute(sa.select(cp.config).where(cp.hash == config_hash)).first()
    if row is None:
        raise ReplayRefused(
            f"no config checkpoint {config_hash} in the audit trail "
            "(`daytwo audit show CALL_ID` names the checkpoint a call ran under)"
        )
    data = orjson.loads(row.config)
    if not isinstance(data, dict):
        raise ReplayRefused(f"config checkpoint {config_hash} is not a config object")
    return data
