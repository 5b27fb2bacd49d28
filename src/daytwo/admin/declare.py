"""One declaration per admin route: its method and path, the role it needs, its body and
answers. From that declaration FastAPI validates the request, a dependency checks the admin
token and its role, and the OpenAPI document is written (:func:`daytwo.admin.app.document`).

Auth is ``Authorization: Bearer dt2_adm_…`` (:mod:`daytwo.keys.admin_tokens`), looked up in the
database on every request (off the event loop): a revoked token is refused at once, and admin
calls are rare enough that no cache is worth its propagation delay. Roles: ``viewer`` reads,
``operator`` also kills and revives, ``admin`` also creates, revokes and rotates keys. A token
with a project reads only that project and can never act on anything wider (403 naming why).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

import orjson
from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel
from starlette.responses import JSONResponse, Response

from daytwo.admin.schemas import Error
from daytwo.core.errors import AuthenticationError, InternalError, PermissionDenied
from daytwo.gateway.app import Gateway
from daytwo.gateway.spend import SpendControl
from daytwo.keys.admin_tokens import AdminPrincipal, AdminTokens, Role
from daytwo.keys.store import KeyStore

#: One answer for every token that is not good (unknown, malformed, revoked).
BAD_AUTH = "Incorrect admin token provided. Use a daytwo admin token (dt2_adm_...)."
NO_AUTH = (
    "You didn't provide an admin token. Send it in an Authorization header using Bearer auth "
    "(i.e. Authorization: Bearer dt2_adm_...)."
)
#: The OpenAPI extension that carries a route's role (None: public).
ROLE = "x-daytwo-role"
JSON = "application/json"

_ERRORS = {
    400: "The request is malformed; `param` names the field.",
    401: "No admin token, or an unknown, malformed or revoked one (one answer for all).",
    403: "The token's role or project does not allow this; the message says why.",
    404: "No such object.",
    409: "The object is not in a state that allows this; the message says which.",
    503: "The spend-control state store cannot be reached.",
}

F = TypeVar("F", bound=Callable[..., Awaitable[Response]])


class JSONBytes(JSONResponse):
    """JSON by orjson (as the data plane writes it)."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def reply(data: Any, status: int = 200) -> Response:
    return JSONBytes(data, status)


def route(
    router: APIRouter,
    method: str,
    path: str,
    need: Role | None,
    *,
    summary: str,
    ok: type[BaseModel] | None,
    ok_description: str,
    status: int = 200,
    errors: tuple[int, ...] = (),
) -> Callable[[F], F]:
    """Declare one admin route (``need`` None: public)."""
    body: dict[str, Any] = {"model": ok} if ok is not None else {"content": {JSON: {"schema": {}}}}
    responses: dict[int | str, dict[str, Any]] = {status: {**body, "description": ok_description}}
    for code in (401, *errors) if need is not None else errors:
        responses[code] = {"model": Error, "description": _ERRORS[code]}
    extra: dict[str, Any] = {ROLE: need}
    if need is None:
        extra["security"] = []
    return router.api_route(
        path,
        methods=[method],
        status_code=status,
        summary=summary,
        description=None if need is None else f"Needs the `{need}` role (or above).",
        dependencies=[] if need is None else [Depends(_role_check(need))],
        responses=responses,
        response_class=JSONBytes,
        response_model=None,
        openapi_extra=extra,
    )


def _role_check(need: Role) -> Callable[[Request], Awaitable[None]]:
    async def check(request: Request) -> None:
        who = await _authenticate(request)
        if not who.allows(need):
            template = request.scope["route"].path
            raise PermissionDenied(
                f"The `{who.role}` role cannot {request.method} {template}: "
                f"it needs the `{need}` role or above.",
                code="insufficient_role",
            )
        request.state.principal = who

    return check


async def check_role(request: Request) -> None:
    """Run the role check of the route ``request`` matched (nothing for a public route)."""
    matched = request.scope.get("route")
    need = getattr(matched, "openapi_extra", None) or {}
    if need.get(ROLE) is not None:
        await _role_check(need[ROLE])(request)


async def _authenticate(request: Request) -> AdminPrincipal:
    auth = request.headers.get("authorization", "")
    secret = auth[7:].strip() if auth[:7].lower() == "bearer " else ""
    if not secret:
        raise AuthenticationError(NO_AUTH, code="invalid_admin_token")
    tokens = AdminTokens(_store(_gateway(request)))
    principal = await asyncio.to_thread(tokens.authenticate, secret)
    if principal is None:
        raise AuthenticationError(BAD_AUTH, code="invalid_admin_token")
    return principal


def _gateway(request: Request) -> Gateway:
    gateway = request.app.state.gateway
    assert isinstance(gateway, Gateway)
    return gateway


def _store(gateway: Gateway) -> KeyStore:
    store = gateway.key_store
    if store is None:
        raise InternalError("The admin API is not ready: the key store is not open yet.")
    return store


def _key_store(request: Request) -> KeyStore:
    return _store(_gateway(request))


def _principal(request: Request) -> AdminPrincipal:
    who = request.state.principal
    assert isinstance(who, AdminPrincipal)  # set by the route's role check
    return who


def _spend(request: Request) -> SpendControl:
    spend = _gateway(request).spend
    if spend is None:
        raise InternalError("The admin API is not ready: spend control is not open yet.")
    return spend


#: What a handler asks for: the authenticated token, the gateway, its key store and its
#: spend control (a 500 naming what is not open yet, never an AttributeError).
Who = Annotated[AdminPrincipal, Depends(_principal)]
Gw = Annotated[Gateway, Depends(_gateway)]
Store = Annotated[KeyStore, Depends(_key_store)]
Spend = Annotated[SpendControl, Depends(_spend)]


def outside(who: AdminPrincipal, what: str) -> PermissionDenied:
    return PermissionDenied(
        f"This token is scoped to project `{who.project}`: it cannot {what}.",
        code="project_scope",
    )
