"""``/admin/incidents``: the incident record (docs/incidents.md) over the admin API.

Roles: ``viewer`` lists incidents and reads a report; ``operator`` starts one, adds notes and
ends it. A project-scoped token sees and acts on the incidents scoped to its project only
(and starts them inside it). Every change is an admin event chained in the audit trail.
"""

from __future__ import annotations

import asyncio
import time
from typing import Annotated, Any

from fastapi import APIRouter, Path
from pydantic import BaseModel, ConfigDict, Field, StrictStr
from starlette.responses import PlainTextResponse, Response

from daytwo.admin.declare import Gw, Store, Who, outside, reply, route
from daytwo.core.errors import InternalError
from daytwo.incidents import postmortem, record
from daytwo.incidents.record import Incident
from daytwo.keys.admin_tokens import AdminPrincipal
from daytwo.keys.store import KeyStore

IncidentId = Annotated[
    str, Path(min_length=1, max_length=64, description="The incident's id (`inc-…`).")
]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class StartBody(_Body):
    title: StrictStr = Field(max_length=record.MAX_TITLE)
    severity: StrictStr = Field(description="sev1 (worst) .. sev4")
    scope: dict[StrictStr, StrictStr] = Field(
        default_factory=dict,
        description=f"What is affected: {', '.join(record.SCOPE_FIELDS)}.",
    )
    commander: StrictStr | None = None


class NoteBody(_Body):
    text: StrictStr = Field(max_length=record.MAX_TEXT)


class EndBody(_Body):
    summary: StrictStr | None = Field(None, max_length=record.MAX_TEXT)


class IncidentAnswer(BaseModel):
    model_config = ConfigDict(extra="allow")

    object: str = Field(description="`incident`")
    id: str
    title: str
    severity: str
    status: str = Field(description="`open` or `ended`")
    scope: dict[str, str]
    commander: str | None
    started_at: float
    started_by: str
    ended_at: float | None
    ended_by: str | None
    summary: str | None
    notes: list[dict[str, Any]]


class IncidentList(BaseModel):
    object: str = Field(description="`list`")
    data: list[IncidentAnswer]


def _mine(who: AdminPrincipal, incident: Incident, verb: str) -> Incident:
    if who.project is not None and incident.project != who.project:
        raise outside(who, f"{verb} incident `{incident.id}` of another scope")
    return incident


async def _get(who: AdminPrincipal, store: KeyStore, incident_id: str, verb: str) -> Incident:
    return _mine(who, await asyncio.to_thread(record.get, store, incident_id), verb)


def declare(router: APIRouter) -> None:
    @route(
        router,
        "GET",
        "/admin/incidents",
        "viewer",
        summary="Every incident, newest first.",
        ok=IncidentList,
        ok_description="Incidents",
    )
    async def incidents(who: Who, store: Store) -> Response:
        found = await asyncio.to_thread(record.list_incidents, store, project=who.project)
        return reply({"object": "list", "data": [i.to_json() for i in found]})

    @route(
        router,
        "POST",
        "/admin/incidents",
        "operator",
        summary="Start an incident (an `incident.start` entry in the audit trail).",
        ok=IncidentAnswer,
        ok_description="The incident",
        status=201,
        errors=(400, 403),
    )
    async def incident_start(who: Who, store: Store, body: StartBody) -> Response:
        if who.project is not None and body.scope.get("project") != who.project:
            raise outside(who, f"start an incident outside it (add project={who.project})")
        found = await asyncio.to_thread(
            lambda: record.start(
                store,
                title=body.title,
                severity=body.severity,
                scope=body.scope,
                commander=body.commander,
                actor=who.actor,
            )
        )
        return reply(found.to_json(), 201)

    @route(
        router,
        "POST",
        "/admin/incidents/{incident_id}/notes",
        "operator",
        summary="Add a note to an incident (an `incident.note` entry).",
        ok=IncidentAnswer,
        ok_description="The incident with its notes",
        status=201,
        errors=(400, 403, 404),
    )
    async def incident_note(
        who: Who, store: Store, incident_id: IncidentId, body: NoteBody
    ) -> Response:
        await _get(who, store, incident_id, "add a note to")
        found = await asyncio.to_thread(
            lambda: record.note(store, incident_id, body.text, actor=who.actor)
        )
        return reply(found.to_json(), 201)

    @route(
        router,
        "POST",
        "/admin/incidents/{incident_id}/end",
        "operator",
        summary="End an incident (an `incident.end` entry); ending it twice is a 400.",
        ok=IncidentAnswer,
        ok_description="The ended incident",
        errors=(400, 403, 404),
    )
    async def incident_end(
        who: Who, store: Store, incident_id: IncidentId, body: EndBody
    ) -> Response:
        await _get(who, store, incident_id, "end")
        found = await asyncio.to_thread(
            lambda: record.end(store, incident_id, summary=body.summary, actor=who.actor)
        )
        return reply(found.to_json())

    @route(
        router,
        "GET",
        "/admin/incidents/{incident_id}/report",
        "viewer",
        summary="The postmortem skeleton (Markdown): impact, timeline, alerts, rates per "
        "5 minutes, notes, follow-ups (`daytwo incident report`).",
        ok=None,
        ok_description="text/markdown",
        errors=(403, 404),
    )
    async def incident_report(who: Who, gw: Gw, store: Store, incident_id: IncidentId) -> Response:
        found = await _get(who, store, incident_id, "read")
        if gw.ledger is None:
            raise InternalError("The admin API is not ready: the ledger is not open yet.")
        ledger = gw.ledger.store
        built = await asyncio.to_thread(postmortem.build, ledger, found, now=time.time())
        return PlainTextResponse(
            postmortem.markdown(built), media_type="text/markdown; charset=utf-8"
        )
