"""``/admin/keys``: create, list, show, revoke and rotate virtual keys (never their secrets,
but for the one answer that issues one), and a key's blast radius (what ``daytwo keys
blast-radius --json`` prints, under the running config's budgets and price book)."""

from __future__ import annotations

import asyncio
import time
from typing import Annotated

from fastapi import APIRouter, Path, Query
from starlette.responses import Response

from daytwo.admin.blast import KeyBlastRadius
from daytwo.admin.declare import Gw, Store, Who, outside, reply, route
from daytwo.admin.schemas import IssuedKey, Key, KeyCreate, KeyList, KeyRevoke, KeyRotate
from daytwo.core.errors import InvalidRequest
from daytwo.keys.admin_tokens import AdminPrincipal
from daytwo.keys.blast import DEFAULT_TOP, MAX_TOP, blast_radius
from daytwo.keys.errors import KeyNotFound
from daytwo.keys.model import KeyRecord, KeySpec
from daytwo.keys.specs import parse_duration
from daytwo.keys.store import KeyStore

ProjectQuery = Annotated[str | None, Query(description="Only this project's keys.")]
KeyId = Annotated[str, Path(description="The key's public id (`key_…`).")]
SinceQuery = Annotated[
    str, Query(description="The window of usage: the last `24h`, `7d`, `30d`, `90d`.")
]
TopQuery = Annotated[
    int, Query(ge=1, le=MAX_TOP, description="Values listed per dimension (the rest summed).")
]


def declare(router: APIRouter) -> None:
    @route(
        router,
        "GET",
        "/admin/keys",
        "viewer",
        summary="List virtual keys (never their secrets).",
        ok=KeyList,
        ok_description="Keys",
        errors=(403,),
    )
    async def keys_list(who: Who, store: Store, project: ProjectQuery = None) -> Response:
        project = project or None
        if who.project is not None:
            if project not in (None, who.project):
                raise outside(who, f"list the keys of project `{project}`")
            project = who.project
        records = await asyncio.to_thread(store.list_keys, project=project)
        now = time.time()
        return reply({"object": "list", "data": [r.to_json(now) for r in records]})

    @route(
        router,
        "POST",
        "/admin/keys",
        "admin",
        summary="Create a virtual key; the secret is returned once.",
        ok=IssuedKey,
        ok_description="The new key",
        status=201,
        errors=(400, 403),
    )
    async def keys_create(who: Who, store: Store, body: KeyCreate) -> Response:
        project = body.project or who.project
        if project is None:
            raise InvalidRequest("Missing required field `project`.", param="project")
        if who.project is not None and project != who.project:
            raise outside(who, f"create a key for project `{project}`")
        now = time.time()
        spec = KeySpec(
            project=project,
            workflow=body.workflow,
            feature=body.feature,
            environment=body.environment,
            models=None if body.models is None else tuple(body.models),
            budget=body.budget,
            rpm=body.rpm,
            tpm=body.tpm,
            expires_at=None if body.expires is None else now + parse_duration(body.expires),
            description=body.description,
        )
        issued = await asyncio.to_thread(store.create, spec, actor=who.actor, now=now)
        return reply({"key": issued.secret, **issued.record.to_json(now)}, 201)

    @route(
        router,
        "GET",
        "/admin/keys/{id}",
        "viewer",
        summary="One key.",
        ok=Key,
        ok_description="The key",
        errors=(403, 404),
    )
    async def keys_get(who: Who, store: Store, id: KeyId) -> Response:  # the URL's name
        record = await _in_scope(store, who, id, "read")
        return reply(record.to_json(time.time()))

    @route(
        router,
        "POST",
        "/admin/keys/{id}/revoke",
        "admin",
        summary="Revoke a key now (gateways refuse it within their key-cache TTL).",
        ok=Key,
        ok_description="The revoked key",
        errors=(400, 403, 404),
    )
    async def keys_revoke(
        who: Who,
        store: Store,
        id: KeyId,  # the URL's name
        body: KeyRevoke | None = None,
    ) -> Response:
        record = await _in_scope(store, who, id, "revoke")
        after = await asyncio.to_thread(store.revoke, record.id, actor=who.actor)
        return reply(after.to_json(time.time()))

    @route(
        router,
        "POST",
        "/admin/keys/{id}/rotate",
        "admin",
        summary="Issue a new key with the same attributes; the old one works for `grace`.",
        ok=IssuedKey,
        ok_description="The new key",
        status=201,
        errors=(400, 403, 404),
    )
    async def keys_rotate(
        who: Who,
        store: Store,
        id: KeyId,  # the URL's name
        body: KeyRotate | None = None,
    ) -> Response:
        grace = parse_duration((body or KeyRotate()).grace, allow_zero=True)
        record = await _in_scope(store, who, id, "rotate")
        now = time.time()
        issued = await asyncio.to_thread(
            store.rotate, record.id, grace=grace, actor=who.actor, now=now
        )
        return reply(
            {
                "key": issued.secret,
                **issued.record.to_json(now),
                "previous_grace_until": now + grace,
            },
            201,
        )

    @route(
        router,
        "GET",
        "/admin/keys/{id}/blast-radius",
        "viewer",
        summary="What a key was used for and can still do: usage per day and dimension, "
        "caps per day and month, what revoking or rotating it would stop.",
        ok=KeyBlastRadius,
        ok_description="The key's blast radius",
        errors=(400, 403, 404),
    )
    async def keys_blast_radius(
        who: Who,
        store: Store,
        gw: Gw,
        id: KeyId,  # the URL's name
        since: SinceQuery = "30d",
        top: TopQuery = DEFAULT_TOP,
    ) -> Response:
        try:
            seconds = parse_duration(since)
        except ValueError as exc:
            raise InvalidRequest(f"`since`: {exc}", param="since") from None
        record = await _in_scope(store, who, id, "read the blast radius of")
        runtime = gw.runtime
        now = time.time()
        radius = await asyncio.to_thread(
            blast_radius,
            store,
            record.id,
            since=now - seconds,
            now=now,
            config=runtime.config,
            prices=runtime.prices,
            top=top,
        )
        return reply(radius.to_json())


async def _in_scope(store: KeyStore, who: AdminPrincipal, key_id: str, verb: str) -> KeyRecord:
    record = await asyncio.to_thread(store.get, key_id)
    if record is None:
        raise KeyNotFound(key_id)
    if who.project is not None and record.spec.project != who.project:
        raise outside(who, f"{verb} key {key_id} of project `{record.spec.project}`")
    return record
