"""Alerts from real traffic: a gateway in front of the simulator, calls over HTTP, and the
notifications received by a loopback server -- signed, once per transition, resolved when the
condition clears, quiet during the cooldown, and the ``trip`` action switching a scope off."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from tests.alerts.harness import alert_gateway_config, call, history, webhook
from tests.alerts.receiver import Receiver
from tests.gateway.harness import RunningGateway

from daytwo.alerts.notify import SIGNATURE_HEADER, verify
from daytwo.config.load import validate_config

pytestmark = pytest.mark.integration

Start = Callable[..., RunningGateway]


def _gateway(
    gateway_factory: Start,
    tmp_path: Path,
    receiver: Receiver,
    rules: list[dict[str, Any]],
    **sections: Any,
) -> RunningGateway:
    sinks = {"hook": webhook(f"{receiver.url}/hook")}
    sinks.update(sections.pop("sinks", {}))
    return gateway_factory(alert_gateway_config(tmp_path, rules=rules, sinks=sinks, **sections))


def _statuses(bodies: list[Any]) -> list[str]:
    return [b["status"] for b in bodies]


def test_error_rate_fires_once_signed_and_resolves(
    gateway_factory: Start, tmp_path: Path, receiver: Receiver, hmac_key: bytes
) -> None:
    rule = {
        "name": "broken-errors",
        "kind": "error_rate",
        "threshold": 0.5,
        "window": 1.0,
        "severity": "critical",
        "labels": {"team": "ml"},
        "scope": {"alias": "broken"},
        "sinks": ["hook", "pager"],
    }
    pager = {
        "type": "pagerduty",
        "routing_key": "env:DAYTWO_TEST_ALERT_HMAC",
        "url": f"{receiver.url}/pd",
        "allow_private": True,
    }
    gw = _gateway(gateway_factory, tmp_path, receiver, [rule], sinks={"pager": pager})
    client = gw.openai()
    assert call(client, "broken", 3) == [500, 500, 500]
    assert call(client, "chat") == [200]
    receiver.wait(lambda b: len(b) == 1, path="/hook", what="the firing webhook")
    # Still failing for several evaluations: no second notification while it fires.
    deadline = time.monotonic() + 0.6
    while time.monotonic() < deadline:
        call(client, "broken")
    assert _statuses(receiver.bodies("/hook")) == ["firing"]
    bodies = receiver.wait(lambda b: len(b) == 2, path="/hook", what="the resolve")
    assert _statuses(bodies) == ["firing", "resolved"]

    fired, resolved = bodies
    assert fired["rule"] == "broken-errors" and fired["severity"] == "critical"
    assert fired["labels"] == {"team": "ml", "alias": "broken"}
    assert fired["value"] == 1.0 and fired["threshold"] == 0.5
    assert fired["summary"] == (
        "broken-errors (alias=broken, team=ml): error rate 100.0% above 50.0%; "
        "runbook: daytwo runbook show provider-down"  # error_rate's runbook, by default
    )
    assert fired["runbook"] == resolved["runbook"] == "daytwo runbook show provider-down"
    assert resolved["started_at"] == fired["started_at"] and resolved["ended_at"]
    assert resolved["fingerprint"] == fired["fingerprint"]
    for req in receiver.requests("/hook"):
        assert verify(hmac_key, req.body, req.headers[SIGNATURE_HEADER.lower()])

    trigger, resolve = receiver.wait(lambda b: len(b) == 2, path="/pd", what="PagerDuty")
    assert (trigger["event_action"], resolve["event_action"]) == ("trigger", "resolve")
    assert trigger["dedup_key"] == resolve["dedup_key"]
    # a command is not a link: PagerDuty gets it among the details
    assert "links" not in trigger
    assert trigger["payload"]["custom_details"]["runbook"] == "daytwo runbook show provider-down"

    rows = history(gw)
    transitions = [r.state for r in rows if r.kind == "transition"]
    assert transitions == ["firing", "resolved"]
    deliveries = sorted((r.sink, r.state, r.outcome) for r in rows if r.kind == "delivery")
    assert deliveries == [
        ("hook", "firing", "ok"),
        ("hook", "resolved", "ok"),
        ("pager", "firing", "ok"),
        ("pager", "resolved", "ok"),
    ]


def test_no_new_firing_within_the_cooldown(
    gateway_factory: Start, tmp_path: Path, receiver: Receiver, hmac_key: bytes
) -> None:
    rule = {
        "name": "errors",
        "kind": "error_rate",
        "threshold": 0.5,
        "window": 0.3,
        "cooldown": 1.5,
        "sinks": ["hook"],
    }
    gw = _gateway(gateway_factory, tmp_path, receiver, [rule])
    client = gw.openai()
    call(client, "broken", 2)
    bodies = receiver.wait(lambda b: _statuses(b) == ["firing", "resolved"], path="/hook")
    resolved_at = time.time()
    # Failing again at once: the condition holds, but the cooldown keeps it quiet ...
    while time.time() - resolved_at < 1.0:
        call(client, "broken")
    assert len(receiver.bodies("/hook")) == 2
    # ... until it is over.
    deadline = time.monotonic() + 10
    while len(receiver.bodies("/hook")) < 3 and time.monotonic() < deadline:
        call(client, "broken")
    third = receiver.bodies("/hook")[2]
    assert third["status"] == "firing" and third["fingerprint"] == bodies[0]["fingerprint"]
    fired_again = receiver.requests("/hook")[2].at
    assert fired_again - resolved_at >= 1.5 - 0.2  # the resolve arrived just before resolved_at


def test_spend_per_hour_fires_on_a_costly_model(
    gateway_factory: Start, tmp_path: Path, receiver: Receiver, hmac_key: bytes
) -> None:
    rule = {
        "name": "hot-spend",
        "kind": "spend_per_hour",
        "threshold": 100,
        "window": 60,
        "by": ["alias"],
        "sinks": ["hook"],
    }
    gw = _gateway(gateway_factory, tmp_path, receiver, [rule])
    call(gw.openai(), "chat", 3)  # cheap: nowhere near $100/h
    call(gw.openai(), "costly")
    (fired,) = receiver.wait(lambda b: len(b) == 1, path="/hook")
    cost = sum(r["cost_nanousd"] for r in gw.records() if r["alias"] == "costly") / 1e9
    assert fired["labels"] == {"alias": "costly"} and fired["unit"] == "usd/h"
    assert fired["value"] == pytest.approx(cost * 60)  # a minute's spend, per hour
    assert fired["summary"].startswith("hot-spend (alias=costly): spend $")


def test_daily_cost_trip_switches_the_scope_off(
    gateway_factory: Start, tmp_path: Path, receiver: Receiver, hmac_key: bytes
) -> None:
    rule = {
        "name": "acme-cap",
        "kind": "daily_cost",
        "threshold": 5,
        "scope": {"project": "acme"},
        "action": "trip",
        "sinks": ["hook"],
    }
    gw = _gateway(gateway_factory, tmp_path, receiver, [rule])
    client = gw.openai()
    assert call(client, "costly", project="acme") == [200]
    (fired,) = receiver.wait(lambda b: len(b) == 1, path="/hook")
    assert fired["action"] == "switched off project=acme"
    assert fired["labels"] == {"project": "acme"}
    status = call(client, "chat", project="acme")
    assert status == [403]
    assert gw.records()[-1]["error_class"] == "FeatureDisabled"
    assert call(client, "chat", project="other") == [200]
    assert gw.app.spend is not None
    (switch,) = gw.app.spend.switches.active().values()
    assert (switch.who, switch.source) == ("alert:acme-cap", "alert")
    assert switch.reason.startswith("alert acme-cap: cost today $")


def test_an_error_rate_alert_degrades_its_alias_to_the_safe_one(
    gateway_factory: Start, tmp_path: Path, receiver: Receiver, hmac_key: bytes
) -> None:
    rule = {
        "name": "broken-errors",
        "kind": "error_rate",
        "threshold": 0.5,
        "window": 5.0,
        "scope": {"alias": "broken"},
        "action": "degrade",
        "degrade": {"mode": "alias", "alias": "chat"},
        "sinks": ["hook"],
    }
    gw = _gateway(gateway_factory, tmp_path, receiver, [rule])
    client = gw.openai()
    assert set(call(client, "broken", 2)) == {500}  # the flaky upstream fails
    (fired,) = receiver.wait(lambda b: len(b) == 1, path="/hook")
    assert fired["action"] == "degraded model=broken to alias chat"
    assert call(client, "broken") == [200]  # answered by the safe alias
    last = gw.records()[-1]
    assert (last["alias"], last["degraded"], last["status"]) == ("broken", "alias", "ok")
    assert gw.app.spend is not None
    (switch,) = gw.app.spend.switches.active().values()
    assert (switch.mode, switch.alias, switch.who) == ("alias", "chat", "alert:broken-errors")
    assert switch.reason.startswith("alert broken-errors: ")


def test_a_single_huge_request_fires_at_once_and_resolves_after_its_window(
    gateway_factory: Start, tmp_path: Path, receiver: Receiver, hmac_key: bytes
) -> None:
    rule = {
        "name": "big-request",
        "kind": "request_tokens",
        "threshold": 5,
        "window": 0.4,
        "scope": {"project": "acme"},
        "sinks": ["hook"],
    }
    gw = _gateway(gateway_factory, tmp_path, receiver, [rule], interval_s=5)
    call(gw.openai(), "chat", project="other")  # out of scope
    call(gw.openai(), "chat", project="acme", workflow="w")
    # The per-call check fires without waiting for an evaluation (every 5 s here) ...
    (fired,) = receiver.wait(lambda b: len(b) == 1, path="/hook", timeout_s=3)
    record = gw.records()[-1]
    assert fired["labels"] == {"alias": "chat", "project": "acme"}
    assert fired["value"] == record["input_tokens"] + record["output_tokens"]
    assert fired["detail"]["call_id"] == record["id"]
    # ... and it resolves at the first evaluation after its window.
    bodies = receiver.wait(lambda b: len(b) == 2, path="/hook", timeout_s=12)
    assert _statuses(bodies) == ["firing", "resolved"]


def test_budget_threshold_events_become_alerts(
    gateway_factory: Start, tmp_path: Path, receiver: Receiver, hmac_key: bytes
) -> None:
    budget = {
        "name": "acme-day",
        "scope": {"project": "acme"},
        "window": "day",
        "usd": "1",
        "actions": ["alert"],
        "thresholds": [50, 100],
    }
    rule = {"name": "budgets", "kind": "budget_threshold", "threshold": 80, "sinks": ["hook"]}
    gw = _gateway(gateway_factory, tmp_path, receiver, [rule], spend_control={"budgets": [budget]})
    assert call(gw.openai(), "costly", project="acme") == [200]  # crosses 50% and 100%
    (fired,) = receiver.wait(lambda b: len(b) == 1, path="/hook")
    assert fired["labels"] == {"budget": "acme-day", "scope": "project=acme", "percent": "100"}
    assert fired["value"] == 100 and fired["detail"]["cap"] == 1_000_000_000
    time.sleep(0.3)  # later evaluations: the crossing is still in its window, no repeat
    assert len(receiver.bodies("/hook")) == 1


def test_fallback_rate_p95_latency_and_unpriced_calls(
    gateway_factory: Start, tmp_path: Path, receiver: Receiver, hmac_key: bytes
) -> None:
    rules = [
        {
            "name": "failovers",
            "kind": "fallback_rate",
            "threshold": 0.5,
            "window": 60,
            "sinks": ["hook"],
        },
        {
            "name": "slow",
            "kind": "p95_latency",
            "threshold": 30,
            "window": 60,
            "scope": {"alias": "slow"},
            "sinks": ["hook"],
        },
        {"name": "unpriced", "kind": "unpriced_calls", "window": 60, "sinks": ["hook"]},
    ]
    gw = _gateway(gateway_factory, tmp_path, receiver, rules)
    client = gw.openai()
    assert call(client, "failover", 2) == [200, 200]  # answered by the second deployment
    assert call(client, "slow", 2) == [200, 200]
    assert call(client, "mystery") == [200]
    bodies = receiver.wait(lambda b: len(b) == 3, path="/hook")
    by_rule = {b["rule"]: b for b in bodies}
    assert by_rule["failovers"]["labels"] == {"alias": "failover"}
    assert by_rule["failovers"]["value"] == 1.0
    assert by_rule["slow"]["value"] >= 40  # the simulator's time to first token
    assert by_rule["unpriced"]["labels"] == {"alias": "mystery"}
    assert by_rule["unpriced"]["value"] == 1


def test_a_reload_that_adds_rules_starts_alerting(
    gateway_factory: Start, tmp_path: Path, receiver: Receiver, hmac_key: bytes
) -> None:
    gw = _gateway(gateway_factory, tmp_path, receiver, [])
    rule = {
        "name": "errors",
        "kind": "error_rate",
        "threshold": 0.1,
        "window": 60,
        "sinks": ["hook"],
    }
    new = alert_gateway_config(
        tmp_path, rules=[rule], sinks={"hook": webhook(f"{receiver.url}/hook")}
    )
    assert gw.app.loop is not None
    asyncio.run_coroutine_threadsafe(gw.app.reload(validate_config(new)), gw.app.loop).result(10)
    call(gw.openai(), "broken")
    (fired,) = receiver.wait(lambda b: len(b) == 1, path="/hook")
    assert fired["rule"] == "errors"


def test_a_failing_sink_is_retried_and_every_attempt_recorded(
    gateway_factory: Start, tmp_path: Path, receiver: Receiver, hmac_key: bytes
) -> None:
    receiver.statuses = [503, 503]
    rule = {
        "name": "errors",
        "kind": "error_rate",
        "threshold": 0.1,
        "window": 60,
        "sinks": ["hook"],
    }
    gw = _gateway(gateway_factory, tmp_path, receiver, [rule])
    call(gw.openai(), "broken")
    receiver.wait(lambda b: len(b) == 3, path="/hook", what="two failures and a success")
    time.sleep(0.1)
    attempts = [(r.attempt, r.outcome) for r in history(gw) if r.kind == "delivery"]
    assert attempts == [(1, "failed"), (2, "failed"), (3, "ok")]
