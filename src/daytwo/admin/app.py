"""The admin app (FastAPI): the routes' declarations assembled, the OpenAPI document, and
:class:`AdminAPI`, the ASGI callable the gateway hands every path under ``/admin/`` to (on the
data port or on the ``server.admin_listen`` listener), after its one raw prefix test; nothing of
FastAPI is on the way of an LLM call. :mod:`daytwo.admin.mount` builds it on first use.
"""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response

from daytwo.admin import (
    audit,
    control,
    errors,
    incidents,
    keys,
    prompts,
    quality,
    rollouts,
    slos,
    triage,
)
from daytwo.admin.declare import ROLE, reply, route
from daytwo.core.errors import DaytwoError, InternalError
from daytwo.gateway.app import Gateway
from daytwo.gateway.http import ClientGone, Receive, Send, read_body
from daytwo.keys.admin_tokens import Role

log = logging.getLogger("daytwo.admin")

#: Admin bodies are small JSON objects.
MAX_BODY_BYTES = 64 * 1024
TITLE = "daytwo admin API"
DESCRIPTION = (
    "Keys, kill switches, budgets, the admin event log, provider health, prompts, "
    "quality rates, SLOs, incidents and rollouts. "
    "Authenticate with `Authorization: Bearer dt2_adm_…` (see docs/admin-api.md)."
)


def _router() -> APIRouter:
    router = APIRouter()
    _declare(router)
    return router


def _declare(router: APIRouter) -> None:
    @route(
        router,
        "GET",
        "/admin/openapi.json",
        None,
        summary="This document (public: no token needed).",
        ok=None,
        ok_description="OpenAPI 3.1",
    )
    async def openapi(request: Request) -> Response:
        return reply(request.app.openapi())

    keys.declare(router)
    control.declare(router)
    prompts.declare(router)
    quality.declare(router)
    audit.declare(router)
    slos.declare(router)
    triage.declare(router)
    incidents.declare(router)
    rollouts.declare(router)


def build(gateway: Gateway) -> FastAPI:
    """The admin API of ``gateway`` as a FastAPI app (no docs UI: the document is the API)."""
    app = FastAPI(
        title=TITLE,
        version="1",
        description=DESCRIPTION,
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        redirect_slashes=False,  # `/admin/keys/` is no route (404), as it always was
    )
    app.state.gateway = gateway
    _declare(app.router)
    errors.install(app)
    app.openapi = lambda: _document(app)  # type: ignore[method-assign]  # FastAPI's own hook
    return app


def _document(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema is None:
        app.openapi_schema = document_of(app.routes)
    return app.openapi_schema


def document_of(routes: list[Any]) -> dict[str, Any]:
    """The OpenAPI 3.1 document of these routes, with daytwo's errors in place of FastAPI's
    422 (a failed validation is a 400 naming the field) and the admin-token scheme."""
    doc = get_openapi(title=TITLE, version="1", description=DESCRIPTION, routes=routes)
    for ops in doc["paths"].values():
        for op in ops.values():
            op["responses"].pop("422", None)
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    for fastapi_own in ("HTTPValidationError", "ValidationError"):
        schemas.pop(fastapi_own, None)
    doc["components"]["securitySchemes"] = {
        "adminToken": {
            "type": "http",
            "scheme": "bearer",
            "description": "An admin token (`daytwo admin tokens create`).",
        }
    }
    doc["security"] = [{"adminToken": []}]
    return doc


def document() -> dict[str, Any]:
    """The admin API's OpenAPI document (what ``GET /admin/openapi.json`` answers)."""
    return document_of(_router().routes)


@dataclass(frozen=True, slots=True)
class Route:
    """One admin route as declared: method, path template, the role it needs (None: public)."""

    method: str
    path: str
    need: Role | None

    def match(self, segments: list[str]) -> dict[str, str] | None:
        mine = self.path.strip("/").split("/")
        if len(mine) != len(segments):
            return None
        params: dict[str, str] = {}
        for want, have in zip(mine, segments, strict=True):
            if want.startswith("{"):
                if not have:
                    return None
                params[want[1:-1]] = have
            elif want != have:
                return None
        return params


#: Every admin route (from the declarations: what is served is what is documented).
ROUTES: tuple[Route, ...] = tuple(
    Route(method, r.path, (r.openapi_extra or {}).get(ROLE))
    for r in _router().routes
    if isinstance(r, APIRoute)
    for method in sorted(r.methods or ())
)


class AdminAPI:
    """The ASGI callable the gateway mounts under ``/admin/``.

    It reads the body first, bounded (413 past :data:`MAX_BODY_BYTES`), and hands it on as
    JSON whatever the client's content type said (an empty body is ``{}``), as the admin API
    always took it; an unexpected error is logged once here and answered as a 500 in daytwo's
    shape.
    """

    def __init__(self, gateway: Gateway) -> None:
        self.app = build(gateway)

    async def __call__(self, scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
        headers = dict(scope["headers"])
        try:
            raw = await read_body(receive, headers, MAX_BODY_BYTES)
        except ClientGone:
            return
        except DaytwoError as exc:
            await errors.error_response(exc)(scope, receive, send)
            return
        body = raw if raw.strip() else b"{}"
        scope = dict(scope)
        scope["headers"] = [
            *(h for h in scope["headers"] if h[0] not in (b"content-type", b"content-length")),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ]
        given = False

        async def replay() -> MutableMapping[str, Any]:
            nonlocal given
            if not given:
                given = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        started = False

        async def tracked(message: MutableMapping[str, Any]) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, replay, tracked)
        except Exception:
            log.exception("admin API error", extra={"path": scope["path"]})
            if not started:
                await errors.error_response(InternalError("internal error"))(scope, replay, send)
