"""The incident record: an incident's start, notes and end, kept as admin events (actions
``incident.start``, ``incident.note``, ``incident.end``; target: the incident's id), so each is
chained in the audit trail's control stream like every other admin change.

There is no incident table: an incident's state is read back from its events
(:func:`fold`). Each change reads the incident's events and writes its own in one write
transaction (on SQLite the transaction holds the write lock from its start, so two ``end``\\s
cannot both pass the check).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
import sqlalchemy as sa

from daytwo.core.errors import InvalidRequest, NotFound
from daytwo.keys.model import AdminEvent
from daytwo.keys.schema import admin_events
from daytwo.keys.store import KeyStore, write_event

START, NOTE, END = "incident.start", "incident.note", "incident.end"
ACTIONS = (START, NOTE, END)
SEVERITIES = ("sev1", "sev2", "sev3", "sev4")
#: What an incident's scope may name: fields of a call in the ledger (``key``: its key id).
SCOPE_FIELDS = ("project", "workflow", "feature", "agent", "alias", "provider", "user", "key")
MAX_TITLE = 200
MAX_TEXT = 4000
MAX_NAME = 128


class IncidentNotFound(NotFound):
    def __init__(self, incident_id: str) -> None:
        super().__init__(f"No incident `{incident_id}`.", param="incident_id")
        self.incident_id = incident_id


class IncidentStateError(InvalidRequest):
    """The change does not apply (ending an incident that has ended)."""


@dataclass(frozen=True, slots=True)
class Note:
    at: float
    actor: str
    text: str

    def to_json(self) -> dict[str, Any]:
        return {"at": self.at, "actor": self.actor, "text": self.text}


@dataclass(frozen=True, slots=True)
class Incident:
    id: str
    title: str
    severity: str
    scope: dict[str, str]
    commander: str | None
    started_at: float
    started_by: str
    ended_at: float | None = None
    ended_by: str | None = None
    summary: str | None = None
    notes: tuple[Note, ...] = field(default=())

    @property
    def status(self) -> str:
        return "open" if self.ended_at is None else "ended"

    @property
    def project(self) -> str | None:
        return self.scope.get("project")

    def to_json(self) -> dict[str, Any]:
        return {
            "object": "incident",
            "id": self.id,
            "title": self.title,
            "severity": self.severity,
            "status": self.status,
            "scope": self.scope,
            "commander": self.commander,
            "started_at": self.started_at,
            "started_by": self.started_by,
            "ended_at": self.ended_at,
            "ended_by": self.ended_by,
            "summary": self.summary,
            "notes": [n.to_json() for n in self.notes],
        }


# ---------------------------------------------------------------- checks (pure)


def check_start(
    title: str, severity: str, scope: Mapping[str, str], commander: str | None
) -> dict[str, Any]:
    """The ``incident.start`` event's body; :class:`InvalidRequest` naming the field if not."""
    title = title.strip()
    if not title:
        raise InvalidRequest("title: must not be empty", param="title")
    if len(title) > MAX_TITLE:
        raise InvalidRequest(f"title: at most {MAX_TITLE} characters", param="title")
    sev = severity.strip().lower()
    if sev not in SEVERITIES:
        raise InvalidRequest(
            f"severity: `{severity}` is not one of {', '.join(SEVERITIES)}", param="severity"
        )
    for k, v in scope.items():
        if k not in SCOPE_FIELDS:
            raise InvalidRequest(
                f"scope: `{k}` is not a scope field ({', '.join(SCOPE_FIELDS)})", param="scope"
            )
        if not v.strip() or v == "*" or len(v) > MAX_NAME:
            raise InvalidRequest(f"scope.{k}: needs a value (not empty, not `*`)", param="scope")
    if commander is not None and (not commander.strip() or len(commander) > MAX_NAME):
        raise InvalidRequest(f"commander: a name of 1 to {MAX_NAME} characters", param="commander")
    body: dict[str, Any] = {
        "title": title,
        "severity": sev,
        "scope": dict(sorted(scope.items())),
        "commander": commander.strip() if commander else None,
    }
    if "project" in scope:
        body["project"] = scope["project"]  # the audit entry's project (project-scoped reads)
    return body


def _text(what: str, text: str | None, *, required: bool) -> str | None:
    if text is None or not text.strip():
        if required:
            raise InvalidRequest(f"{what}: must not be empty", param=what)
        return None
    if len(text) > MAX_TEXT:
        raise InvalidRequest(f"{what}: at most {MAX_TEXT} characters", param=what)
    return text.strip()


def new_id(now: float) -> str:
    """``inc-20250301-0312-a1b2``: when it started (UTC, to the minute), then random."""
    stamp = datetime.fromtimestamp(now, UTC).strftime("%Y%m%d-%H%M")
    return f"inc-{stamp}-{secrets.token_hex(2)}"


def fold(events: Iterable[AdminEvent]) -> dict[str, Incident]:
    """Incidents by id from their events (any order of ids; each id's events oldest first)."""
    out: dict[str, Incident] = {}
    for e in events:
        after = e.after or {}
        have = out.get(e.target)
        if e.action == START and have is None:
            out[e.target] = Incident(
                id=e.target,
                title=str(after.get("title", "")),
                severity=str(after.get("severity", "")),
                scope=dict(after.get("scope") or {}),
                commander=after.get("commander"),
                started_at=e.at,
                started_by=e.actor,
            )
        elif have is None:
            continue  # a note or end without its start: not an incident this reads
        elif e.action == NOTE:
            note = Note(e.at, e.actor, str(after.get("text", "")))
            out[e.target] = _replace(have, notes=(*have.notes, note))
        elif e.action == END and have.ended_at is None:
            out[e.target] = _replace(
                have, ended_at=e.at, ended_by=e.actor, summary=after.get("summary")
            )
    return out


def _replace(i: Incident, **changes: Any) -> Incident:
    from dataclasses import replace

    return replace(i, **changes)


# ---------------------------------------------------------------- the store


def _events(conn: sa.Connection, target: str | None = None) -> list[AdminEvent]:
    e = admin_events.c
    query = sa.select(admin_events).where(e.action.in_(ACTIONS)).order_by(e.id)
    if target is not None:
        query = query.where(e.target == target)
    return [
        AdminEvent(
            id=row.id,
            at=row.at,
            actor=row.actor,
            action=row.action,
            target=row.target,
            before=None if row.before is None else orjson.loads(row.before),
            after=None if row.after is None else orjson.loads(row.after),
        )
        for row in conn.execute(query)
    ]


def start(
    store: KeyStore,
    *,
    title: str,
    severity: str,
    scope: Mapping[str, str] | None = None,
    commander: str | None = None,
    actor: str,
    now: float | None = None,
) -> Incident:
    """Open an incident; its id is new. Raises :class:`InvalidRequest` naming a bad field."""
    body = check_start(title, severity, scope or {}, commander)
    now = time.time() if now is None else now
    incident_id = new_id(now)
    with store.transaction() as conn:
        write_event(conn, now, actor, START, incident_id, None, body)
        found = fold(_events(conn, incident_id))
    return found[incident_id]


def note(
    store: KeyStore, incident_id: str, text: str, *, actor: str, now: float | None = None
) -> Incident:
    """Add a note (an ended incident takes notes too: the postmortem's)."""
    body = {"text": _text("text", text, required=True)}
    now = time.time() if now is None else now
    with store.transaction() as conn:
        have = fold(_events(conn, incident_id)).get(incident_id)
        if have is None:
            raise IncidentNotFound(incident_id)
        write_event(conn, now, actor, NOTE, incident_id, None, {**body, **_project(have)})
        return fold(_events(conn, incident_id))[incident_id]


def end(
    store: KeyStore,
    incident_id: str,
    *,
    summary: str | None = None,
    actor: str,
    now: float | None = None,
) -> Incident:
    """End an incident (once: a second end is an :class:`IncidentStateError`)."""
    text = _text("summary", summary, required=False)
    now = time.time() if now is None else now
    with store.transaction() as conn:
        have = fold(_events(conn, incident_id)).get(incident_id)
        if have is None:
            raise IncidentNotFound(incident_id)
        if have.ended_at is not None:
            raise IncidentStateError(
                f"Incident `{incident_id}` already ended (by {have.ended_by}).",
                param="incident_id",
            )
        if now < have.started_at:
            raise IncidentStateError("An incident cannot end before it started.")
        write_event(conn, now, actor, END, incident_id, None, {"summary": text, **_project(have)})
        return fold(_events(conn, incident_id))[incident_id]


def _project(i: Incident) -> dict[str, str]:
    return {"project": i.project} if i.project is not None else {}


def get(store: KeyStore, incident_id: str) -> Incident:
    with store.read() as conn:
        found = fold(_events(conn, incident_id)).get(incident_id)
    if found is None:
        raise IncidentNotFound(incident_id)
    return found


def list_incidents(store: KeyStore, *, project: str | None = None) -> list[Incident]:
    """Every incident, newest first (``project``: only those scoped to it)."""
    with store.read() as conn:
        found = list(fold(_events(conn)).values())
    if project is not None:
        found = [i for i in found if i.project == project]
    found.sort(key=lambda i: i.started_at, reverse=True)
    return found
