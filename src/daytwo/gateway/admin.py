"""The admin API under ``/admin/``: virtual keys, kill switches, budgets, the event log and
provider health.

A small raw-ASGI router in the style of ``app.py`` (no framework): :data:`ROUTES` is the one
table of ``(method, path template, role needed, handler)``; the gateway hands every path that
starts with ``/admin/`` to :func:`dispatch`. JSON in and out, errors in the OpenAI shape
(``{"error": {"message", "type", "param", "code"}}``) from the one exception tree.

Auth is ``Authorization: Bearer dt2_adm_…`` (:mod:`daytwo.keys.admin_tokens`), looked up in the
database on every request (off the event loop): a revoked token is refused at once, and admin
calls are rare enough that no cache is worth its propagation delay. Roles: ``viewer`` reads,
``operator`` also kills and revives, ``admin`` also creates, revokes and rotates keys. A token
with a project reads only that project and can never act on anything wider (403 naming why).

The admin API is a control plane for the *LLM* hot path and stays off it: nothing here is on
the way of a chat call, and each change goes through the same objects the gateway uses (the
key store the key cache reloads from, the switch board every replica listens to).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

import orjson

from daytwo.control.scopes import EACH, Scope, Subject
from daytwo.control.switches import SWITCH_FIELDS, switch_scope
from daytwo.control.windows import Window, window_at
from daytwo.core.errors import (
    AuthenticationError,
    DaytwoError,
    InternalError,
    InvalidRequest,
    NotFound,
    PermissionDenied,
)
from daytwo.core.money import nanos_to_usd
from daytwo.gateway import admin_openapi
from daytwo.gateway.http import JSON_HEADERS, Receive, Send, read_body
from daytwo.gateway.http import Scope as AsgiScope
from daytwo.gateway.openai_format import error_body
from daytwo.gateway.spend import SpendControl
from daytwo.keys.admin_tokens import AdminPrincipal, AdminTokens, Role
from daytwo.keys.errors import KeyNotFound
from daytwo.keys.model import AdminEvent, KeyRecord, KeySpec
from daytwo.keys.specs import parse_budget, parse_duration
from daytwo.keys.store import KeyStore
from daytwo.resilience.breaker import DeploymentSnapshot
from daytwo.resilience.policy import DEFAULT_BUDGET_WINDOW_S
from daytwo.state.base import SwitchRecord

if TYPE_CHECKING:
    from daytwo.gateway.app import Gateway

log = logging.getLogger("daytwo.admin")

PREFIX = "/admin/"
#: Admin bodies are small JSON objects.
MAX_BODY_BYTES = 64 * 1024
DEFAULT_EVENTS = 100
MAX_EVENTS = 1000
MAX_REASON_CHARS = 500

#: One answer for every token that is not good (unknown, malformed, revoked).
BAD_AUTH = "Incorrect admin token provided. Use a daytwo admin token (dt2_adm_...)."
NO_AUTH = (
    "You didn't provide an admin token. Send it in an Authorization header using Bearer auth "
    "(i.e. Authorization: Bearer dt2_adm_...)."
)


@dataclass(slots=True)
class AdminRequest:
    gateway: Gateway
    principal: AdminPrincipal | None
    params: dict[str, str]
    query: dict[str, str]
    body: dict[str, Any] = field(default_factory=dict)

    @property
    def who(self) -> AdminPrincipal:
        assert self.principal is not None  # every route but the public one authenticates
        return self.principal

    def store(self) -> KeyStore:
        store = self.gateway.key_store
        if store is None:
            raise InternalError("The admin API is not ready: the key store is not open yet.")
        return store


Reply = tuple[int, Any]
Handler = Callable[[AdminRequest], Awaitable[Reply]]


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    path: str  # a template: `{name}` matches one path segment
    need: Role | None  # None: public
    handler: Handler

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


# -- dispatch -------------------------------------------------------------------------------


async def dispatch(gateway: Gateway, scope: AsgiScope, receive: Receive, send: Send) -> None:
    """Serve one admin request (any path under ``/admin/``)."""
    try:
        route, params = _route(scope["method"], scope["path"])
        headers = dict(scope["headers"])
        req = AdminRequest(gateway, None, params, _query(scope))
        if route.need is not None:
            req.principal = await _authenticate(req, headers)
            _require_role(req.principal, route)
        if route.method == "POST":
            req.body = _json_object(await read_body(receive, headers, MAX_BODY_BYTES))
        status, data = await route.handler(req)
        await _send(send, status, orjson.dumps(data))
    except DaytwoError as exc:
        await _send_error(send, exc)
    except Exception:
        log.exception("admin API error", extra={"path": scope["path"]})
        await _send_error(send, InternalError("internal error"))


class _MethodNotAllowed(NotFound):
    status = 405


def _route(method: str, path: str) -> tuple[Route, dict[str, str]]:
    segments = path.strip("/").split("/")
    allowed = []
    for route in ROUTES:
        params = route.match(segments)
        if params is None:
            continue
        if route.method == method:
            return route, params
        allowed.append(route.method)
    if allowed:
        raise _MethodNotAllowed(
            f"Method {method} is not allowed on {path}.", headers={"allow": ", ".join(allowed)}
        )
    raise NotFound(f"Unknown request URL: {method} {path}.")


def _query(scope: AsgiScope) -> dict[str, str]:
    raw = scope.get("query_string", b"").decode("latin-1")
    return dict(parse_qsl(raw, keep_blank_values=True))


async def _authenticate(req: AdminRequest, headers: dict[bytes, bytes]) -> AdminPrincipal:
    auth = headers.get(b"authorization", b"")
    secret = auth[7:].decode("latin-1").strip() if auth[:7].lower() == b"bearer " else ""
    if not secret:
        raise AuthenticationError(NO_AUTH, code="invalid_admin_token")
    tokens = AdminTokens(req.store())
    principal = await asyncio.to_thread(tokens.authenticate, secret)
    if principal is None:
        raise AuthenticationError(BAD_AUTH, code="invalid_admin_token")
    return principal


def _require_role(who: AdminPrincipal, route: Route) -> None:
    assert route.need is not None
    if not who.allows(route.need):
        raise PermissionDenied(
            f"The `{who.role}` role cannot {route.method} {route.path}: "
            f"it needs the `{route.need}` role or above.",
            code="insufficient_role",
        )


def _json_object(raw: bytes) -> dict[str, Any]:
    if not raw.strip():
        return {}
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise InvalidRequest("The request body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    return data


async def _send(send: Send, status: int, body: bytes, extra: list[Any] | None = None) -> None:
    headers = [*JSON_HEADERS, *(extra or []), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _send_error(send: Send, exc: DaytwoError) -> None:
    extra = [(k.encode(), v.encode()) for k, v in exc.headers.items()]
    await _send(send, exc.status_code(), error_body(exc), extra)


# -- checks shared by handlers ----------------------------------------------------------------


def _outside(who: AdminPrincipal, what: str) -> PermissionDenied:
    return PermissionDenied(
        f"This token is scoped to project `{who.project}`: it cannot {what}.",
        code="project_scope",
    )


def _allowed_fields(body: dict[str, Any], allowed: tuple[str, ...]) -> None:
    for name in body:
        if name not in allowed:
            raise InvalidRequest(
                f"Unknown field `{name}`; expected one of: {', '.join(allowed)}.", param=name
            )


def _text(body: dict[str, Any], name: str, *, required: bool = False) -> str | None:
    value = body.get(name)
    if value is None:
        if required:
            raise InvalidRequest(f"Missing required field `{name}`.", param=name)
        return None
    if not isinstance(value, str) or not value.strip():
        raise InvalidRequest(f"`{name}` must be a non-empty string.", param=name)
    return value


def _positive_int(body: dict[str, Any], name: str) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidRequest(f"`{name}` must be an integer of at least 1.", param=name)
    return value


def _parsed(name: str, parse: Callable[[str], Any], text: str | None) -> Any:
    if text is None:
        return None
    try:
        return parse(text)
    except ValueError as exc:
        raise InvalidRequest(f"`{name}`: {exc}", param=name) from None


def _switch_scope(who: AdminPrincipal, body: dict[str, Any], verb: str) -> Scope:
    raw = body.get("scope")
    if not isinstance(raw, dict) or not raw:
        raise InvalidRequest(
            f"`scope` must be an object naming at least one of: {', '.join(SWITCH_FIELDS)}.",
            param="scope",
        )
    for name, value in raw.items():
        if name not in SWITCH_FIELDS:
            raise InvalidRequest(
                f"`scope.{name}` is not a switch scope field; expected one of: "
                f"{', '.join(SWITCH_FIELDS)}.",
                param=f"scope.{name}",
            )
        if not isinstance(value, str) or not value or value == EACH:
            raise InvalidRequest(
                f"`scope.{name}` must be a non-empty value (not `*`).", param=f"scope.{name}"
            )
    scope = switch_scope(raw)
    if who.project is not None and raw.get("project") != who.project:
        raise _outside(who, f"{verb} a scope that is not inside it (add project={who.project})")
    return scope


# -- keys -------------------------------------------------------------------------------------

_KEY_FIELDS = (
    "project",
    "workflow",
    "feature",
    "environment",
    "models",
    "budget",
    "rpm",
    "tpm",
    "expires",
    "description",
)


async def _keys_list(req: AdminRequest) -> Reply:
    who = req.who
    project = req.query.get("project") or None
    if who.project is not None:
        if project not in (None, who.project):
            raise _outside(who, f"list the keys of project `{project}`")
        project = who.project
    records = await asyncio.to_thread(req.store().list_keys, project=project)
    now = time.time()
    return 200, {"object": "list", "data": [r.to_json(now) for r in records]}


async def _keys_create(req: AdminRequest) -> Reply:
    who, body = req.who, req.body
    _allowed_fields(body, _KEY_FIELDS)
    project = _text(body, "project", required=who.project is None) or who.project
    assert project is not None
    if who.project is not None and project != who.project:
        raise _outside(who, f"create a key for project `{project}`")
    budget = _parsed("budget", parse_budget, _text(body, "budget"))
    lifetime = _parsed("expires", parse_duration, _text(body, "expires"))
    models = body.get("models")
    if models is not None and (
        not isinstance(models, list)
        or not models
        or not all(isinstance(m, str) and m.strip() for m in models)
    ):
        raise InvalidRequest("`models` must be a non-empty list of model aliases.", param="models")
    now = time.time()
    spec = KeySpec(
        project=project,
        workflow=_text(body, "workflow"),
        feature=_text(body, "feature"),
        environment=_text(body, "environment"),
        models=None if models is None else tuple(dict.fromkeys(m.strip() for m in models)),
        budget=None if budget is None else budget.text,
        rpm=_positive_int(body, "rpm"),
        tpm=_positive_int(body, "tpm"),
        expires_at=None if lifetime is None else now + lifetime,
        description=_text(body, "description"),
    )
    issued = await asyncio.to_thread(req.store().create, spec, actor=who.actor, now=now)
    return 201, {"key": issued.secret, **issued.record.to_json(now)}


async def _key_in_scope(req: AdminRequest, verb: str) -> KeyRecord:
    key_id = req.params["id"]
    record = await asyncio.to_thread(req.store().get, key_id)
    if record is None:
        raise KeyNotFound(key_id)
    who = req.who
    if who.project is not None and record.spec.project != who.project:
        raise _outside(who, f"{verb} key {key_id} of project `{record.spec.project}`")
    return record


async def _keys_get(req: AdminRequest) -> Reply:
    record = await _key_in_scope(req, "read")
    return 200, record.to_json(time.time())


async def _keys_revoke(req: AdminRequest) -> Reply:
    _allowed_fields(req.body, ())
    record = await _key_in_scope(req, "revoke")
    after = await asyncio.to_thread(req.store().revoke, record.id, actor=req.who.actor)
    return 200, after.to_json(time.time())


async def _keys_rotate(req: AdminRequest) -> Reply:
    _allowed_fields(req.body, ("grace",))
    text = _text(req.body, "grace") or "24h"
    grace = _parsed("grace", lambda t: parse_duration(t, allow_zero=True), text)
    record = await _key_in_scope(req, "rotate")
    now = time.time()
    issued = await asyncio.to_thread(
        req.store().rotate, record.id, grace=grace, actor=req.who.actor, now=now
    )
    return 201, {
        "key": issued.secret,
        **issued.record.to_json(now),
        "previous_grace_until": now + grace,
    }


# -- switches ---------------------------------------------------------------------------------


def _switch_json(record: SwitchRecord) -> dict[str, Any]:
    return {
        "scope": record.key,
        "fields": Scope.parse(record.key).as_dict(),
        "reason": record.reason,
        "who": record.who,
        "at": record.at,
        "source": record.source,
    }


def _spend(req: AdminRequest) -> SpendControl:
    spend = req.gateway.spend
    if spend is None:
        raise InternalError("The admin API is not ready: spend control is not open yet.")
    return spend


async def _switches_list(req: AdminRequest) -> Reply:
    who = req.who
    data = [_switch_json(r) for r in _spend(req).switches.active().values()]
    if who.project is not None:
        data = [s for s in data if s["fields"].get("project") == who.project]
    data.sort(key=lambda s: s["at"])
    return 200, {"object": "list", "data": data}


async def _switches_kill(req: AdminRequest) -> Reply:
    who, body = req.who, req.body
    _allowed_fields(body, ("scope", "reason"))
    scope = _switch_scope(who, body, "switch off")
    reason = _text(body, "reason", required=True)
    assert reason is not None
    if len(reason) > MAX_REASON_CHARS:
        raise InvalidRequest(
            f"`reason` is longer than {MAX_REASON_CHARS} characters.", param="reason"
        )
    board = _spend(req).switches
    before = board.active().get(scope.key())
    record = await board.kill(scope, reason=reason, who=who.actor, source="manual")
    await asyncio.to_thread(
        req.store().record_event,
        actor=who.actor,
        action="switch.kill",
        target=record.key,
        before=None if before is None else _switch_json(before),
        after=_switch_json(record),
        at=record.at,
    )
    return 200, _switch_json(record)


async def _switches_revive(req: AdminRequest) -> Reply:
    who, body = req.who, req.body
    _allowed_fields(body, ("scope",))
    scope = _switch_scope(who, body, "revive")
    board = _spend(req).switches
    before = board.active().get(scope.key())
    revived = await board.revive(scope, who=who.actor)
    if revived:
        await asyncio.to_thread(
            req.store().record_event,
            actor=who.actor,
            action="switch.revive",
            target=scope.key(),
            before=None if before is None else _switch_json(before),
            after=None,
        )
    return 200, {"scope": scope.key(), "fields": scope.as_dict(), "revived": revived}


# -- budgets ----------------------------------------------------------------------------------


def _usd(nanos: int) -> str:
    return format(nanos_to_usd(nanos).normalize(), "f")


async def _budgets(req: AdminRequest) -> Reply:
    who = req.who
    gate = req.gateway.runtime.gate
    if gate is None:
        raise InternalError("The admin API is not ready: spend control is not open yet.")
    given = _query_scope(req.query.get("scope"))
    if who.project is not None:
        if given is not None and given.as_dict().get("project") != who.project:
            raise _outside(who, "read budgets of a scope that is not inside it")
        given = given or Scope.parse({"project": who.project})
    subject = None if given is None else Subject(**given.as_dict())
    budgets = gate.budgets
    now = budgets.clock()
    rows: list[dict[str, Any]] = []
    wanted: list[tuple[dict[str, Any], str, Window]] = []
    for b in budgets.budgets:
        fields = b.scope.as_dict()
        if who.project is not None and fields.get("project") not in (who.project, EACH):
            continue  # wider than the token's project (the organisation, another project)
        row: dict[str, Any] = {
            "name": b.name,
            "scope": b.scope.key(),
            "window": b.window,
            "cap_usd": None if b.cap_nanos is None else _usd(b.cap_nanos),
            "cap_tokens": b.cap_tokens,
            "actions": sorted(b.actions),
            "counter": None,
        }
        rows.append(row)
        if b.window == "request":
            continue
        if subject is not None:
            key = b.scope.resolve(subject)
        else:
            key = b.scope.key() if b.scope.is_concrete else None
        if key is not None:
            w = window_at(b.window, now, budgets.tz)
            wanted.append((row, b.counter_key(key, w), w))
            row["counter"] = {"scope": key}
    counters = await budgets.state.counters([k for _, k, _ in wanted]) if wanted else ()
    for (row, _, w), c in zip(wanted, counters, strict=True):
        row["counter"] |= {
            "window_start": w.start,
            "resets_at": w.end,
            "spent_usd": _usd(c.spent_nanos),
            "reserved_usd": _usd(c.reserved_nanos),
            "spent_tokens": c.spent_tokens,
            "reserved_tokens": c.reserved_tokens,
        }
    return 200, {"object": "list", "data": rows}


def _query_scope(text: str | None) -> Scope | None:
    if not text:
        return None
    try:
        scope = Scope.parse(text)
    except ValueError as exc:
        raise InvalidRequest(f"`scope`: {exc}", param="scope") from None
    if not scope.is_concrete:
        raise InvalidRequest("`scope` names values, not `*`.", param="scope")
    return scope


# -- events -----------------------------------------------------------------------------------


def _event_json(e: AdminEvent) -> dict[str, Any]:
    return {
        "id": e.id,
        "at": e.at,
        "actor": e.actor,
        "action": e.action,
        "target": e.target,
        "before": e.before,
        "after": e.after,
    }


def _event_project(e: AdminEvent) -> str | None:
    """The project an event is about: the key's or token's, or the scope's first field."""
    for data in (e.after, e.before):
        if data is not None and isinstance(data.get("project"), str):
            return str(data["project"])
        if data is not None and isinstance(data.get("fields"), dict):
            return data["fields"].get("project")  # type: ignore[no-any-return]  # JSON data
    try:
        return Scope.parse(e.target).as_dict().get("project")
    except ValueError:
        return None


async def _events(req: AdminRequest) -> Reply:
    who = req.who
    limit_text = req.query.get("limit") or str(DEFAULT_EVENTS)
    # isascii: str.isdigit() is true for "²" and other digits int() refuses
    digits = limit_text.isascii() and limit_text.isdigit()
    if not digits or not 1 <= int(limit_text) <= MAX_EVENTS:
        raise InvalidRequest(f"`limit` must be an integer from 1 to {MAX_EVENTS}.", param="limit")
    target = req.query.get("target") or None
    events = await asyncio.to_thread(req.store().events, target=target)
    events.reverse()
    if who.project is not None:
        events = [e for e in events if _event_project(e) == who.project]
    return 200, {"object": "list", "data": [_event_json(e) for e in events[: int(limit_text)]]}


# -- providers --------------------------------------------------------------------------------

#: The health figures of a deployment (``DeploymentSnapshot`` fields after its id and state):
#: null for a deployment no call has reached yet.
_HEALTH_FIGURES = (
    "consecutive_failures",
    "window_calls",
    "error_rate",
    "slow_rate",
    "p50_ms",
    "p95_ms",
    "latency_ewma_ms",
    "ttft_ewma_ms",
    "open_for_s",
    "openings",
    "throttled_for_s",
    "remaining_requests",
    "remaining_tokens",
)


def _figure(snap: DeploymentSnapshot, name: str) -> Any:
    value = getattr(snap, name)
    return round(value, 3) if isinstance(value, float) else value


async def _providers(req: AdminRequest) -> Reply:
    """Every configured deployment with its breaker and latency figures, the retry budget and
    each alias's retry policy. Provider health is not project data: any viewer reads it."""
    runtime = req.gateway.runtime
    res = runtime.resilience
    snaps = {s.deployment: s for s in res.health.snapshot()}
    rows: dict[str, dict[str, Any]] = {}
    for alias, spec in runtime.config.models.items():
        for dep in spec.deployments:
            row = rows.get(dep.id)
            if row is None:
                snap = snaps.get(dep.id)
                row = rows[dep.id] = {
                    "deployment": dep.id,
                    "provider": dep.provider,
                    "provider_type": runtime.provider_types.get(dep.provider),
                    "model": dep.model,
                    "aliases": [],
                    "state": "closed" if snap is None else snap.state,
                    **{f: None if snap is None else _figure(snap, f) for f in _HEALTH_FIGURES},
                }
            if alias not in row["aliases"]:
                row["aliases"].append(alias)
    budget = res.budget
    window_s = runtime.config.resilience.retry_budget.window_s or DEFAULT_BUDGET_WINDOW_S
    aliases = {
        alias: {
            "strategy": plan.router.strategy,
            "max_attempts": plan.policy.max_attempts,
            "deadline_s": plan.policy.deadline_s,
            "try_timeout_s": plan.policy.try_timeout_s,
        }
        for alias, plan in res.plans.items()
    }
    return 200, {
        "object": "list",
        "data": list(rows.values()),
        "retry_budget": {
            **budget.snapshot(),
            "ratio": budget.ratio_ppm / 1_000_000,
            "min_retries": budget.min_retries,
            "window_s": window_s,
        },
        "aliases": aliases,
    }


async def _openapi(req: AdminRequest) -> Reply:
    return 200, admin_openapi.document()


#: Every admin route. The OpenAPI document lists exactly these (a test checks it).
ROUTES: tuple[Route, ...] = (
    Route("GET", "/admin/openapi.json", None, _openapi),
    Route("GET", "/admin/keys", "viewer", _keys_list),
    Route("POST", "/admin/keys", "admin", _keys_create),
    Route("GET", "/admin/keys/{id}", "viewer", _keys_get),
    Route("POST", "/admin/keys/{id}/revoke", "admin", _keys_revoke),
    Route("POST", "/admin/keys/{id}/rotate", "admin", _keys_rotate),
    Route("GET", "/admin/switches", "viewer", _switches_list),
    Route("POST", "/admin/switches", "operator", _switches_kill),
    Route("POST", "/admin/switches/revive", "operator", _switches_revive),
    Route("GET", "/admin/budgets", "viewer", _budgets),
    Route("GET", "/admin/events", "viewer", _events),
    Route("GET", "/admin/providers", "viewer", _providers),
)
