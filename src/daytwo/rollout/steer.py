"""What a person (or the label file) does to a rollout by hand, as pure transitions.

``pause`` stops the controller from advancing it (the split stays); ``resume`` lets it go on;
``promote`` approves a stage waiting for an approval or skips the current stage (past the last
one: ``completed``); ``rollback`` sends every call to the control now (also a completed rollout
not yet retired). Each returns the rollout as it becomes and the admin event's action, or raises
:class:`SteerRefused` naming why the rollout cannot move that way.
"""

from __future__ import annotations

from typing import Literal

from daytwo.rollout.model import Rollout, RolloutError

Steer = Literal["pause", "resume", "promote", "rollback"]
STEERS: tuple[Steer, ...] = ("pause", "resume", "promote", "rollback")


class SteerRefused(RolloutError):
    """The rollout's status does not allow this move; the message says why."""


def steer(r: Rollout, action: Steer, at: float, reason: str) -> tuple[Rollout, str]:
    """(the rollout after ``action``, its event's action ``rollout.<...>``)."""
    if action == "pause":
        if r.status not in ("running", "waiting"):
            raise SteerRefused(_cannot(r, "be paused", "running or waiting"))
        return r.moved(at, status="paused", reason=reason), "rollout.pause"
    if action == "resume":
        if r.status != "paused":
            raise SteerRefused(_cannot(r, "be resumed", "paused"))
        return r.moved(at, status="running", reason=reason), "rollout.resume"
    if action == "promote":
        if not r.live:
            raise SteerRefused(_cannot(r, "be promoted", "running, waiting or paused"))
        nxt = r.stage + 1
        if nxt == len(r.stages):
            return r.moved(at, status="completed", reason=reason), "rollout.complete"
        status = "running" if r.status == "waiting" else r.status
        after = r.moved(at, stage=nxt, stage_started_at=at, status=status, reason=reason)
        return after, "rollout.approve" if r.status == "waiting" else "rollout.promote"
    if r.status == "rolled_back":
        raise SteerRefused(f"rollout {r.id} is already rolled back")
    return r.moved(at, status="rolled_back", reason=reason), "rollout.rollback"


def _cannot(r: Rollout, verb: str, wanted: str) -> str:
    return f"rollout {r.id} is {r.status.replace('_', ' ')}: only a {wanted} rollout can {verb}"
