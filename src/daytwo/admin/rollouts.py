"""``/admin/rollouts``: start rollouts of prompt labels and model aliases, read them with their
history, and steer them by hand: pause, resume, promote, roll back, retire (docs/rollouts.md).

Roles: ``viewer`` reads; ``operator`` starts and steers. A rollout changes the version or the
model every project's calls get, and its evidence counts every project's calls, so a
project-scoped token is refused every route here (403 ``project_scope``), reads included.

Every change goes through :class:`~daytwo.rollout.store.RolloutStore` (one transaction with its
``rollout.*`` admin event, chained in the audit trail) and is applied to this gateway's board at
once; the other replicas route by it after their next poll (``rollouts.poll_s``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from starlette.responses import Response

from daytwo.admin.declare import Gw, Who, outside, reply, route
from daytwo.admin.schemas import RolloutAction, RolloutDetail, RolloutList, RolloutStart
from daytwo.core.errors import Conflict, InternalError, InvalidRequest, NotFound
from daytwo.gateway.app import Gateway
from daytwo.keys.admin_tokens import AdminPrincipal
from daytwo.rollout.board import RolloutBoard
from daytwo.rollout.gitops import note
from daytwo.rollout.model import (
    Criteria,
    Kind,
    Rollout,
    RolloutError,
    new_id,
    parse_prompt_target,
    parse_stages,
)
from daytwo.rollout.schema import rollouts
from daytwo.rollout.steer import STEERS, Steer, SteerRefused, steer
from daytwo.rollout.store import RolloutStore

DEFAULT_LIMIT = 50
MAX_LIMIT = 1000
#: Tries of a change that lost a race with the controller or another replica.
TRIES = 3

RolloutId = Annotated[
    str, Path(min_length=1, max_length=64, description="The rollout's id (`ro_…`).")
]
LimitQuery = Annotated[
    int, Query(ge=1, le=MAX_LIMIT, description="At most this many, newest first.")
]
ActiveQuery = Annotated[
    bool, Query(description="Only the rollouts that still route calls (not retired).")
]

_STEER_SUMMARY: dict[Steer, str] = {
    "pause": "Pause a rollout: its split stays, the controller stops advancing it.",
    "resume": "Resume a paused rollout.",
    "promote": "Approve a stage waiting for an approval, or skip the current stage by hand "
    "(past the last stage: completed).",
    "rollback": "Roll back now: every call goes to the control.",
}


def declare(router: APIRouter) -> None:
    @route(
        router,
        "GET",
        "/admin/rollouts",
        "viewer",
        summary="Rollouts, newest first.",
        ok=RolloutList,
        ok_description="Rollouts",
        errors=(400, 403),
    )
    async def rollouts_list(
        who: Who, gw: Gw, active: ActiveQuery = False, limit: LimitQuery = DEFAULT_LIMIT
    ) -> Response:
        _organisation(who, "read rollouts (they change and count every project's calls)")
        store = _board(gw).store
        live = await asyncio.to_thread(store.active)
        if active:
            found = sorted(live, key=lambda r: r.created_at, reverse=True)[:limit]
        else:
            found = await asyncio.to_thread(store.list, limit)
        unretired = {r.id for r in live}
        labels = _labels(gw)
        data = [_answer(r, r.id not in unretired, labels) for r in found]
        return reply({"object": "list", "data": data})

    @route(
        router,
        "GET",
        "/admin/rollouts/{rollout_id}",
        "viewer",
        summary="One rollout: its stages (the current one marked), split, evidence and history.",
        ok=RolloutDetail,
        ok_description="The rollout",
        errors=(403, 404),
    )
    async def rollouts_get(who: Who, gw: Gw, rollout_id: RolloutId) -> Response:
        _organisation(who, "read rollouts (they change and count every project's calls)")
        store = _board(gw).store
        r, _ = await asyncio.to_thread(_read, store, rollout_id)
        return reply(await _detail(gw, store, r))

    @route(
        router,
        "POST",
        "/admin/rollouts",
        "operator",
        summary="Start a rollout of a prompt label to a version, or of an alias to another "
        "alias's deployments (a `rollout.start` event in the audit trail).",
        ok=RolloutDetail,
        ok_description="The rollout, routing calls on this gateway from now on",
        status=201,
        errors=(400, 403, 409),
    )
    async def rollouts_start(who: Who, gw: Gw, body: RolloutStart) -> Response:
        _organisation(who, "start a rollout (it changes every project's calls)")
        board = _board(gw)
        rollout = _new(gw, who.actor, body)
        try:
            await asyncio.to_thread(board.store.create, rollout, who.actor)
        except RolloutError as exc:
            raise Conflict(str(exc), param="target", code="rollout_exists") from None
        board.apply(rollout)
        return reply(await _detail(gw, board.store, rollout), 201)

    for action in STEERS:
        _declare_steer(router, action)

    @route(
        router,
        "POST",
        "/admin/rollouts/{rollout_id}/retire",
        "operator",
        summary="Retire a finished rollout: it stops overriding its target (the label file or "
        "the config says what it finished on).",
        ok=RolloutDetail,
        ok_description="The rollout, retired",
        errors=(400, 403, 404, 409),
    )
    async def rollouts_retire(
        who: Who, gw: Gw, rollout_id: RolloutId, body: RolloutAction
    ) -> Response:
        _organisation(who, "retire a rollout (it changes every project's calls)")
        board = _board(gw)
        r, retired = await asyncio.to_thread(_read, board.store, rollout_id)
        if retired:
            raise Conflict(f"rollout {r.id} is already retired", code="rollout_retired")
        if r.live:
            raise Conflict(
                f"rollout {r.id} is {r.status}: roll it back or promote it to the end first",
                code="rollout_state",
            )
        if not await asyncio.to_thread(board.store.retire, r, who.actor, body.reason):
            raise Conflict(f"rollout {r.id} is already retired", code="rollout_retired")
        board.remove(r.id)
        return reply(await _detail(gw, board.store, r))


def _declare_steer(router: APIRouter, action: Steer) -> None:
    @route(
        router,
        "POST",
        f"/admin/rollouts/{{rollout_id}}/{action}",
        "operator",
        summary=_STEER_SUMMARY[action],
        ok=RolloutDetail,
        ok_description="The rollout as it is now",
        errors=(400, 403, 404, 409),
    )
    async def rollouts_steer(
        who: Who, gw: Gw, rollout_id: RolloutId, body: RolloutAction
    ) -> Response:
        _organisation(who, f"{action} a rollout (it changes every project's calls)")
        board = _board(gw)
        for _ in range(TRIES):
            r, retired = await asyncio.to_thread(_read, board.store, rollout_id)
            if retired:
                raise Conflict(
                    f"rollout {r.id} is retired: it no longer routes calls", code="rollout_retired"
                )
            try:
                after, event = steer(r, action, time.time(), body.reason)
            except SteerRefused as exc:
                raise Conflict(str(exc), code="rollout_state") from None
            if await asyncio.to_thread(board.store.move, r, after, who.actor, event):
                board.apply(after)
                return reply(await _detail(gw, board.store, after))
        raise Conflict(
            f"rollout {rollout_id} kept changing under this request: try again",
            code="rollout_busy",
        )


# -- reading ----------------------------------------------------------------------------------


def _organisation(who: AdminPrincipal, what: str) -> None:
    if who.project is not None:
        raise outside(who, what)


def _board(gw: Gateway) -> RolloutBoard:
    board = gw.rollouts
    if board is None:
        raise InternalError("The admin API is not ready: the rollouts are not open yet.")
    return board


def _read(store: RolloutStore, rollout_id: str) -> tuple[Rollout, bool]:
    """The rollout and whether it is retired (404 naming the id when there is none)."""
    r = store.get(rollout_id)
    row = store.keys.row_where(rollouts, rollouts.c.id == rollout_id)
    if r is None or row is None:
        raise NotFound(f"No rollout `{rollout_id}`.", param="rollout_id", code="rollout_not_found")
    return r, bool(row["retired"])


def _labels(gw: Gateway) -> dict[str, dict[str, int]] | None:
    served = gw.prompts.current
    if served is None:
        return None
    return {name: dict(labels) for name, labels in served.labels.items()}


def _answer(r: Rollout, retired: bool, labels: dict[str, dict[str, int]] | None) -> dict[str, Any]:
    out = r.to_json()
    out["stages"] = [
        {
            "kind": s.kind,
            "percent": s.percent,
            "name": str(s),
            "state": _stage_state(r, i),
        }
        for i, s in enumerate(r.stages)
    ]
    return {
        "object": "rollout",
        **out,
        "retired": retired,
        "note": None if retired else note(r, labels),
    }


def _stage_state(r: Rollout, i: int) -> str:
    if r.status == "completed" or i < r.stage:
        return "done"
    if i > r.stage:
        return "next"
    return "stopped" if r.status == "rolled_back" else "current"


async def _detail(gw: Gateway, store: RolloutStore, r: Rollout) -> dict[str, Any]:
    events = await asyncio.to_thread(store.keys.events, target=r.id)
    retired = any(e.action == "rollout.retire" for e in events)
    return {
        **_answer(r, retired, _labels(gw)),
        "history": [dataclasses.asdict(e) for e in events],
    }


# -- starting ---------------------------------------------------------------------------------


def _bad(param: str, message: str) -> InvalidRequest:
    return InvalidRequest(f"`{param}`: {message}", param=param)


def _new(gw: Gateway, actor: str, body: RolloutStart) -> Rollout:
    """The rollout ``body`` asks for, checked against what this gateway serves."""
    try:
        stages = parse_stages(body.stages)
    except RolloutError as exc:
        raise _bad("stages", str(exc).removeprefix("stages: ")) from None
    cfg = gw.config
    if stages[0].kind == "shadow" and cfg.gateway.require_keys and cfg.rollouts.shadow.key is None:
        raise _bad(
            "stages",
            "a shadow stage mirrors calls through this gateway, which requires virtual keys: "
            "set rollouts.shadow.key (a secret reference to a key of project experiment)",
        )
    kind: Kind
    if body.target.startswith("prompt:"):
        kind, (target, control, candidate) = "prompt", _prompt_target(gw, body)
    elif body.target.startswith("alias:"):
        kind, (target, control, candidate) = "alias", _alias_target(gw, body)
    else:
        raise _bad("target", "expected prompt:NAME@vN, prompt:NAME@LABEL=vN or alias:ALIAS")
    defaults = Criteria(**gw.config.rollouts.criteria.model_dump())
    given = {} if body.criteria is None else body.criteria.given()
    now = time.time()
    return Rollout(
        id=new_id(),
        kind=kind,
        target=target,
        control=control,
        candidate=candidate,
        stages=stages,
        stage=0,
        status="running",
        sticky=body.sticky,
        approve_each=body.approve_each,
        criteria=dataclasses.replace(defaults, **given),
        created_at=now,
        created_by=actor,
        stage_started_at=now,
        updated_at=now,
        reason=body.reason.strip(),
    )


def _prompt_target(gw: Gateway, body: RolloutStart) -> tuple[str, str, str]:
    if body.candidate is not None:
        raise _bad("candidate", "a prompt rollout's candidate is the version in `target`")
    served = gw.prompts.current
    if served is None:
        raise _bad("target", "this gateway serves no prompts (set `prompts.dir` in its config)")
    try:
        name, label, candidate = parse_prompt_target(body.target, served.default_label)
    except RolloutError as exc:
        raise _bad("target", str(exc)) from None
    versions = served.versions.get(name)
    if versions is None:
        raise _bad("target", f"no prompt named `{name}`")
    labels = served.labels.get(name, {})
    control = labels.get(label)
    if control is None:
        named = ", ".join(sorted(labels)) or "none"
        raise _bad("target", f"prompt `{name}` has no label `{label}` (labels: {named})")
    if candidate not in versions:
        have = ", ".join(f"v{n}" for n in sorted(versions))
        raise _bad("target", f"prompt `{name}` has no version {candidate} (versions: {have})")
    if candidate == control:
        raise _bad("target", f"label `{label}` of `{name}` already names v{candidate}")
    return f"{name}@{label}", str(control), str(candidate)


def _alias_target(gw: Gateway, body: RolloutStart) -> tuple[str, str, str]:
    routes = gw.runtime.routes
    alias = body.target.removeprefix("alias:")
    if alias not in routes:
        raise _bad("target", f"`{alias}` is not a configured alias")
    candidate = body.candidate
    if candidate is None:
        raise _bad("candidate", "an alias rollout needs the alias that serves the candidate arm")
    if candidate not in routes:
        raise _bad("candidate", f"`{candidate}` is not a configured alias")
    if candidate == alias:
        raise _bad("candidate", f"`{candidate}` is the alias being rolled out")
    have, want = routes[alias].kind, routes[candidate].kind
    if have != want:
        raise _bad(
            "candidate",
            f"`{candidate}` serves {want} and `{alias}` {have}: a rollout moves calls between "
            "aliases of one kind",
        )
    return alias, alias, candidate
