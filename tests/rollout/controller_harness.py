"""Gateways whose rollout controller judges quickly, traffic that drives a rollout through its
stages over real HTTP, and readers of what the controller did (the rollout on the board, the
admin events, the alert history)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from tests.alerts.harness import webhook
from tests.gateway.harness import RunningGateway, http, route, sim_config
from tests.prompts.files import SUPPORT_V1, prompt_dir
from tests.quality.harness import ALL_CHECKS_EVALUATOR
from tests.rollout.harness import make_rollout

from daytwo.keys.model import AdminEvent
from daytwo.keys.store import KeyStore
from daytwo.rollout.model import Criteria, Rollout

#: The candidate prompt: its system text makes the simulator refuse (sim ``quality.effects``).
STRICT_V2: dict[str, Any] = {
    **SUPPORT_V1,
    "version": 2,
    "system": (
        "You are a support agent for {{ product }}. Follow the policy with strict compliance."
    ),
}
SIM_QUALITY: dict[str, Any] = {
    "refusal_rate": 0.02,
    "effects": [{"when": "(?i)strict compliance", "refusal_rate": 0.6}],
}
#: Small enough for a test, wide enough that equal arms pass with a few dozen calls (0 of 30
#: errors: Newcombe's upper bound is 11 points).
QUICK = Criteria(
    min_duration_s=0.3,
    min_calls=30,
    max_error_increase=0.15,
    max_refusal_increase=0.15,
    max_latency_ratio=1.5,
    max_cost_ratio=1.0,
)


def cheaper(stages: str = "canary:50%,100%", criteria: Criteria = QUICK) -> Rollout:
    """Alias ``smart`` (gpt-4o) rolled out to ``cheap`` (gpt-4o-mini): as good, a twentieth
    of the price."""
    return make_rollout("alias", "smart", "smart", "cheap", stages, criteria=criteria)


def controller_config(
    tmp_path: Path, *, hook: str | None = None, ttft_ms: float = 0.0, **rollouts: Any
) -> dict[str, Any]:
    """The simulator (refusing under the strict prompt, ``ttft_ms`` before each answer), the
    support prompt v1 (label ``production``) and v2, aliases ``smart`` (gpt-4o) and ``cheap``
    (gpt-4o-mini), every online check, and a controller judging every 50 ms."""
    cfg = sim_config(tmp_path, quality=SIM_QUALITY, ttft_ms=ttft_ms)
    root = prompt_dir(
        tmp_path / "prompts", SUPPORT_V1, STRICT_V2, labels={"support-reply": {"production": 1}}
    )
    cfg["prompts"] = {"dir": str(root), "reload_poll_s": 0.05}
    cfg["models"]["smart"] = route("sim", "gpt-4o")
    cfg["models"]["cheap"] = route("sim", "gpt-4o-mini")
    cfg["quality"] = {"evaluators": [ALL_CHECKS_EVALUATOR]}
    cfg["rollouts"] = {"poll_s": 0.05, "evaluate_s": 0.05, **rollouts}
    if hook is not None:
        cfg["alerts"] = {
            "backoff_s": 0.05,
            "max_backoff_s": 0.2,
            "sinks": {"hook": webhook(f"{hook}/hook")},
        }
        cfg["rollouts"]["sinks"] = ["hook"]
    return cfg


def ticket(gw: RunningGateway, i: int) -> dict[str, Any]:
    """One support ticket through the prompt's label (session ``s<i>``: its own bucket, and
    its own question to the simulator); the ledger row."""
    body = {
        "model": "prompt:support-reply",
        "messages": [],
        "variables": {"customer": "ann", "topic": f"order {i} never arrived"},
    }
    return _post(gw, body, i)


def chat(gw: RunningGateway, i: int, model: str = "smart") -> dict[str, Any]:
    body = {"model": model, "messages": [{"role": "user", "content": f"question number {i}"}]}
    return _post(gw, body, i)


def _post(gw: RunningGateway, body: dict[str, Any], i: int) -> dict[str, Any]:
    status, headers, raw = http(
        "POST",
        f"{gw.base_url}/chat/completions",
        orjson.dumps(body),
        {"x-daytwo-session": f"s{i}"},
    )
    assert status == 200, raw
    return {"call_id": headers["x-daytwo-call-id"], **orjson.loads(raw)}


def on_board(gw: RunningGateway, rollout_id: str) -> Rollout:
    board = gw.app.rollouts
    assert board is not None
    (found,) = [r for r in board.rollouts() if r.id == rollout_id]
    return found


def drive(
    send: Callable[[int], object],
    until: Callable[[], bool],
    *,
    start: int = 0,
    timeout_s: float = 90.0,
    what: str = "the rollout to move",
) -> int:
    """Send calls ``start``, ``start + 1`` ... until ``until()`` holds; the next call's number."""
    deadline = time.monotonic() + timeout_s
    i = start
    while not until():
        if time.monotonic() > deadline:
            raise AssertionError(
                f"timed out after {timeout_s}s ({i - start} calls) waiting for {what}"
            )
        send(i)
        i += 1
    return i


def rollout_events(url: str, rollout_id: str) -> list[AdminEvent]:
    with KeyStore.open(url) as keys:
        return keys.events(target=rollout_id)
