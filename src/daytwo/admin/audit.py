"""The audit trail's admin routes (docs/audit.md): one call's story, a search over audited
calls, and revealing reversibly-redacted content.

Roles: ``viewer`` reads a call's story and searches; the story's captured content (redacted
or full) is shown only to an ``admin`` of the call's project (a project-scoped admin token of
another project, and every viewer or operator, get the story without it, saying so).
Revealing the originals of reversibly-redacted content needs ``admin`` too, and is itself an
audit entry naming the token.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field
from starlette.background import BackgroundTask
from starlette.responses import FileResponse, Response

from daytwo.admin.declare import Gw, Who, outside, reply, route
from daytwo.audit.bundle import export
from daytwo.audit.show import AuditLookupError, call_story, search
from daytwo.audit.vault import Vault
from daytwo.audit.verify import verify
from daytwo.core.errors import InternalError, InvalidRequest, NotFound, PermissionDenied
from daytwo.gateway.app import Gateway
from daytwo.keys.admin_tokens import AdminPrincipal
from daytwo.ledger.store import LedgerStore

CallId = Annotated[str, Path(min_length=1, max_length=128, description="The call's id.")]
MAX_LIMIT = 1000


class _Response(BaseModel):
    model_config = ConfigDict(extra="allow")


class Proof(_Response):
    stream: str
    seq: int
    hash: str
    prev_hash: str
    digest: dict[str, Any] | None = Field(description="The signed digest covering the entry.")


class StoryAnswer(_Response):
    object: str = Field(description="`audit.call`")
    call_id: str
    call: dict[str, Any] = Field(description="The call's summary as chained.")
    decisions: dict[str, Any]
    config: dict[str, Any]
    content: dict[str, Any] | None
    revealed: bool
    proof: Proof
    in_ledger: bool
    notes: list[str]


class VerifyAnswer(_Response):
    ok: bool
    keys: str = Field(description="`given`: this gateway's signing key; `stored`: the database's.")
    entries: int
    streams: list[dict[str, Any]]
    problem_count: int
    first: dict[str, Any] | None = Field(description="The first broken link (null: none).")
    problems: list[dict[str, Any]]


class SearchAnswer(_Response):
    object: str = Field(description="`list`")
    data: list[dict[str, Any]]


def _ledger(gw: Gateway) -> LedgerStore:
    if gw.ledger is None:
        raise InternalError("The admin API is not ready: the ledger is not open yet.")
    return gw.ledger.store


def _sees_content(who: AdminPrincipal, project: str | None) -> bool:
    return who.allows("admin") and (who.project is None or who.project == project)


def declare(router: APIRouter) -> None:
    @route(
        router,
        "GET",
        "/admin/audit/calls/{call_id}",
        "viewer",
        summary="One call's audit story: who, what, which rules, its content and its proof.",
        ok=StoryAnswer,
        ok_description="The story (content only for an admin of the call's project)",
        errors=(403, 404),
    )
    async def show(who: Who, gw: Gw, call_id: CallId) -> Response:
        store = _ledger(gw)
        try:
            story = await asyncio.to_thread(call_story, store, call_id)
        except AuditLookupError:
            raise NotFound(f"No audited call `{call_id}`.", param="call_id") from None
        project = story.summary.get("project")
        if who.project is not None and who.project != project:
            raise outside(who, f"read call `{call_id}` of another project")
        content = _sees_content(who, project)
        data = {"object": "audit.call", **story.to_json(with_content=content)}
        if story.content is not None and not content:
            data["notes"] = [*data["notes"], "content is shown to admins of the project only"]
        return reply(data)

    @route(
        router,
        "POST",
        "/admin/audit/calls/{call_id}/reveal",
        "admin",
        summary="Reveal reversibly-redacted content (audited: a `content.reveal` entry).",
        ok=StoryAnswer,
        ok_description="The story with the redacted values put back",
        errors=(400, 403, 404),
    )
    async def reveal(who: Who, gw: Gw, call_id: CallId) -> Response:
        store = _ledger(gw)
        ref = gw.config.audit.redaction.reversible_key
        if ref is None:
            raise InvalidRequest(
                "Reversible redaction is off (`audit.redaction.reversible_key` is not set).",
                param="call_id",
            )
        vault = Vault.from_secret(gw.secrets.resolve(ref))
        try:
            story = await asyncio.to_thread(call_story, store, call_id)
        except AuditLookupError:
            raise NotFound(f"No audited call `{call_id}`.", param="call_id") from None
        if who.project is not None and who.project != story.summary.get("project"):
            raise outside(who, f"reveal call `{call_id}` of another project")
        try:
            story = await asyncio.to_thread(
                call_story, store, call_id, vault=vault, actor=who.actor
            )
        except ValueError as exc:
            raise InvalidRequest(
                f"The content cannot be revealed: {exc}", param="call_id"
            ) from None
        return reply({"object": "audit.call", **story.to_json()})

    @route(
        router,
        "GET",
        "/admin/audit/search",
        "viewer",
        summary="Audited calls by time, project, key, user, model and status (newest first).",
        ok=SearchAnswer,
        ok_description="The matching calls' summaries and their place in the chain",
        errors=(400, 403),
    )
    async def find(
        who: Who,
        gw: Gw,
        start: Annotated[float | None, Query(alias="from", description="Unix time.")] = None,
        end: Annotated[float | None, Query(alias="to", description="Unix time.")] = None,
        project: Annotated[str | None, Query(max_length=128)] = None,
        key: Annotated[str | None, Query(max_length=128, description="A key id.")] = None,
        user: Annotated[str | None, Query(max_length=256)] = None,
        model: Annotated[str | None, Query(max_length=256)] = None,
        status: Annotated[str | None, Query(max_length=32)] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
    ) -> Response:
        if who.project is not None:
            if project is not None and project != who.project:
                raise outside(who, f"search project `{project}`")
            project = who.project
        found = await asyncio.to_thread(
            search,
            _ledger(gw),
            start=start,
            end=end,
            project=project,
            key=key,
            user=user,
            model=model,
            status=status,
            limit=limit,
        )
        data = [
            {"call_id": f.call_id, "at": f.at, "stream": f.stream, "seq": f.seq, "call": f.call}
            for f in found
        ]
        return reply({"object": "list", "data": data})

    @route(
        router,
        "GET",
        "/admin/audit/verify",
        "viewer",
        summary="Verify the trail (hashes, links, digests, signatures, rows) with this "
        "gateway's public key (`daytwo audit verify`).",
        ok=VerifyAnswer,
        ok_description="The report (`ok` false: the first broken link is named)",
        errors=(400,),
    )
    async def check(
        gw: Gw,
        start: Annotated[float | None, Query(alias="from", description="Unix time.")] = None,
        end: Annotated[float | None, Query(alias="to", description="Unix time.")] = None,
    ) -> Response:
        if start is not None and end is not None and end <= start:
            raise InvalidRequest("`to` must be after `from`.", param="to")
        keeper = gw.audit.keeper
        keys = [keeper.signer.public] if keeper is not None else None
        report = await asyncio.to_thread(
            verify,
            _ledger(gw),
            public_keys=keys,
            start=start,
            end=end,
            interval_s=gw.config.audit.digest_interval_s,
        )
        return reply(report.to_json())

    @route(
        router,
        "GET",
        "/admin/audit/export",
        "viewer",
        summary="The trail of a time range as a bundle that verifies offline "
        "(`daytwo audit export`); content needs the admin role.",
        ok=None,
        ok_description="The bundle: JSON lines (application/x-ndjson) or Parquet",
        errors=(400, 403),
    )
    async def bundle(
        who: Who,
        gw: Gw,
        start: Annotated[float, Query(alias="from", description="Unix time.")],
        end: Annotated[float, Query(alias="to", description="Unix time.")],
        project: Annotated[str | None, Query(max_length=128)] = None,
        fmt: Annotated[Literal["jsonl", "parquet"], Query(alias="format")] = "jsonl",
        content: Annotated[bool, Query(description="Include captured content.")] = False,
    ) -> Response:
        if end <= start:
            raise InvalidRequest("`to` must be after `from`.", param="to")
        if who.project is not None:
            if project is not None and project != who.project:
                raise outside(who, f"export project `{project}`")
            project = who.project
        if content and not who.allows("admin"):
            raise outside_role(who)
        fd, name = tempfile.mkstemp(prefix="daytwo-audit-", suffix=f".{fmt}")
        os.close(fd)
        try:
            await asyncio.to_thread(
                export,
                _ledger(gw),
                name,
                start=start,
                end=end,
                project=project,
                fmt=fmt,
                content=content,
            )
        except BaseException:
            os.unlink(name)
            raise
        media = "application/x-ndjson" if fmt == "jsonl" else "application/vnd.apache.parquet"
        return FileResponse(
            name,
            media_type=media,
            filename=f"daytwo-audit.{fmt}",
            background=BackgroundTask(os.unlink, name),
        )


def outside_role(who: AdminPrincipal) -> PermissionDenied:
    return PermissionDenied(
        f"The `{who.role}` role cannot export captured content: it needs the `admin` role.",
        code="insufficient_role",
    )
