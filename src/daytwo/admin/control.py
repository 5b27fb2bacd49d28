"""``/admin/switches``, ``/admin/budgets``, ``/admin/events`` and ``/admin/providers``: kill
switches and degraded modes, budget counters, the admin event log and provider health.

Each change goes through the same objects the gateway uses (the switch board every replica
listens to, the key store's event log), so the admin API never keeps a state of its own.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BeforeValidator
from starlette.responses import Response

from daytwo.admin.declare import Gw, Spend, Store, Who, outside, reply, route
from daytwo.admin.schemas import (
    BudgetList,
    Degrade,
    EventList,
    Kill,
    Providers,
    Revive,
    Revived,
    Switch,
    SwitchList,
)
from daytwo.admin.schemas import Scope as ScopeBody
from daytwo.control.gate import SpendGate
from daytwo.control.scopes import EACH, Scope, Subject
from daytwo.control.switches import switch_scope
from daytwo.control.windows import Window, window_at
from daytwo.core.errors import InternalError, InvalidRequest
from daytwo.core.money import nanos_to_usd
from daytwo.gateway.app import Gateway
from daytwo.keys.admin_tokens import AdminPrincipal
from daytwo.keys.model import AdminEvent
from daytwo.keys.store import KeyStore
from daytwo.resilience.breaker import DeploymentSnapshot
from daytwo.resilience.policy import DEFAULT_BUDGET_WINDOW_S
from daytwo.state.base import SwitchRecord

DEFAULT_EVENTS = 100
MAX_EVENTS = 1000

ScopeQuery = Annotated[
    str | None,
    Query(description="A concrete scope to read counters for, e.g. `project=acme,user=bob`."),
]
TargetQuery = Annotated[str | None, Query(description="Only events about this target.")]


def _default_when_empty(value: object) -> object:
    return DEFAULT_EVENTS if value == "" else value  # `?limit=` always meant the default


LimitQuery = Annotated[
    int,
    Query(ge=1, le=MAX_EVENTS, description="At most this many events."),
    BeforeValidator(_default_when_empty),
]


def declare(router: APIRouter) -> None:
    _switches(router)

    @route(
        router,
        "GET",
        "/admin/budgets",
        "viewer",
        summary="Configured budgets with their window, cap and current counters.",
        ok=BudgetList,
        ok_description="Budgets",
        errors=(400, 403, 503),
    )
    async def budgets(who: Who, gw: Gw, scope: ScopeQuery = None) -> Response:
        return reply({"object": "list", "data": await _budgets(who, gw.runtime.gate, scope)})

    @route(
        router,
        "GET",
        "/admin/events",
        "viewer",
        summary="The admin event log, newest first.",
        ok=EventList,
        ok_description="Events",
        errors=(400,),
    )
    async def events(
        who: Who, store: Store, target: TargetQuery = None, limit: LimitQuery = DEFAULT_EVENTS
    ) -> Response:
        found = await asyncio.to_thread(store.events, target=target or None)
        found.reverse()
        if who.project is not None:
            found = [e for e in found if _event_project(e) == who.project]
        return reply({"object": "list", "data": [_event_json(e) for e in found[:limit]]})

    @route(
        router,
        "GET",
        "/admin/providers",
        "viewer",
        summary="Every deployment's health (circuit breaker, error and slow rates, latency, "
        "upstream quota), the retry budget and each alias's retry policy.",
        ok=Providers,
        ok_description="Provider health",
    )
    async def providers(who: Who, gw: Gw) -> Response:
        """Provider health is not project data: any viewer reads it."""
        return reply(_providers(gw))


# -- switches ---------------------------------------------------------------------------------


def _switch_json(record: SwitchRecord) -> dict[str, Any]:
    return {
        "scope": record.key,
        "fields": Scope.parse(record.key).as_dict(),
        "reason": record.reason,
        "who": record.who,
        "at": record.at,
        "source": record.source,
        "mode": record.mode,
        "message": record.message,
        "alias": record.alias,
    }


def _switch_scope(who: AdminPrincipal, body: ScopeBody, verb: str) -> Scope:
    fields = body.fields()
    if who.project is not None and fields.get("project") != who.project:
        raise outside(who, f"{verb} a scope that is not inside it (add project={who.project})")
    return switch_scope(fields)


async def _switched(
    store: KeyStore,
    who: AdminPrincipal,
    action: str,
    before: SwitchRecord | None,
    record: SwitchRecord,
) -> Response:
    """The admin event of a switch set (chained in the audit trail), and the answer."""
    await asyncio.to_thread(
        store.record_event,
        actor=who.actor,
        action=action,
        target=record.key,
        before=None if before is None else _switch_json(before),
        after=_switch_json(record),
        at=record.at,
    )
    return reply(_switch_json(record))


def _switches(router: APIRouter) -> None:
    @route(
        router,
        "GET",
        "/admin/switches",
        "viewer",
        summary="Active kill switches and degraded modes.",
        ok=SwitchList,
        ok_description="Switches",
        errors=(403,),
    )
    async def switches_list(who: Who, spend: Spend) -> Response:
        data = [_switch_json(r) for r in spend.switches.active().values()]
        if who.project is not None:
            data = [s for s in data if s["fields"].get("project") == who.project]
        data.sort(key=lambda s: s["at"])
        return reply({"object": "list", "data": data})

    @route(
        router,
        "POST",
        "/admin/switches",
        "operator",
        summary="Kill a scope: its calls are refused with 403 `feature_disabled` until revived.",
        ok=Switch,
        ok_description="The switch",
        errors=(400, 403, 503),
    )
    async def switches_kill(who: Who, spend: Spend, store: Store, body: Kill) -> Response:
        scope = _switch_scope(who, body.scope, "switch off")
        board = spend.switches
        before = board.active().get(scope.key())
        record = await board.kill(scope, reason=body.reason, who=who.actor, source="manual")
        return await _switched(store, who, "switch.kill", before, record)

    @route(
        router,
        "POST",
        "/admin/switches/degrade",
        "operator",
        summary="Put a scope in degraded mode: its calls are answered with a static message, "
        "the last good cached answer or by a safe alias, in the client's wire format, until "
        "revived. Replaces a kill switch on the same scope.",
        ok=Switch,
        ok_description="The switch",
        errors=(400, 403, 503),
    )
    async def switches_degrade(
        who: Who, gw: Gw, spend: Spend, store: Store, body: Degrade
    ) -> Response:
        scope = _switch_scope(who, body.scope, "degrade")
        if body.mode == "alias" and body.alias is not None and body.alias not in gw.runtime.routes:
            raise InvalidRequest(
                f"`alias`: `{body.alias}` is not a configured alias", param="alias"
            )
        board = spend.switches
        before = board.active().get(scope.key())
        try:
            record = await board.degrade(
                scope,
                body.mode,
                reason=body.reason,
                who=who.actor,
                message=body.message,
                alias=body.alias,
            )
        except ValueError as exc:
            raise InvalidRequest(str(exc)) from None
        return await _switched(store, who, "switch.degrade", before, record)

    @route(
        router,
        "POST",
        "/admin/switches/revive",
        "operator",
        summary="Revive a killed or degraded scope.",
        ok=Revived,
        ok_description="Whether a switch was active",
        errors=(400, 403, 503),
    )
    async def switches_revive(who: Who, spend: Spend, store: Store, body: Revive) -> Response:
        scope = _switch_scope(who, body.scope, "revive")
        board = spend.switches
        before = board.active().get(scope.key())
        revived = await board.revive(scope, who=who.actor)
        if revived:
            await asyncio.to_thread(
                store.record_event,
                actor=who.actor,
                action="switch.revive",
                target=scope.key(),
                before=None if before is None else _switch_json(before),
                after=None,
            )
        return reply({"scope": scope.key(), "fields": scope.as_dict(), "revived": revived})


# -- budgets ----------------------------------------------------------------------------------


def _usd(nanos: int) -> str:
    return format(nanos_to_usd(nanos).normalize(), "f")


async def _budgets(
    who: AdminPrincipal, gate: SpendGate | None, scope_text: str | None
) -> list[Any]:
    if gate is None:
        raise InternalError("The admin API is not ready: spend control is not open yet.")
    given = _query_scope(scope_text)
    if who.project is not None:
        if given is not None and given.as_dict().get("project") != who.project:
            raise outside(who, "read budgets of a scope that is not inside it")
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
    return rows


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


def _providers(gw: Gateway) -> dict[str, Any]:
    runtime = gw.runtime
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
    return {
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
