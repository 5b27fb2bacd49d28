"""An availability SLO burning fast through real traffic: a gateway in front of a simulator
answering 503, calls over HTTP, the page received by a loopback webhook with the runbook link,
and its resolve once the short window is clean again."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.alerts.harness import alert_gateway_config, call, history, webhook
from tests.alerts.receiver import Receiver
from tests.gateway.harness import RunningGateway
from tests.gateway.spend_harness import on_gateway_loop

from daytwo.alerts.notify import SIGNATURE_HEADER, verify

pytestmark = pytest.mark.integration

RUNBOOK = "https://runbooks.example.com/shop-availability"


def test_availability_slo_pages_with_the_runbook_and_resolves(
    gateway_factory: Callable[..., RunningGateway],
    tmp_path: Path,
    receiver: Receiver,
    hmac_key: bytes,
) -> None:
    cfg = alert_gateway_config(tmp_path, rules=[], sinks={"hook": webhook(f"{receiver.url}/hook")})
    cfg["providers"]["overloaded"] = {
        "type": "sim",
        "sim": {"seed": 11, "faults": {"rate_503": 1.0}},
    }
    cfg["models"]["busy"] = {"deployments": [{"provider": "overloaded", "model": "gpt-4o-mini"}]}
    cfg["slos"] = [
        {
            "name": "shop-availability",
            "sli": "availability",
            "objective": 0.99,
            "scope": {"project": "shop"},
            # the workbook's shape on a test's time scale: a 1 s short window resolves fast
            "alerting": [{"severity": "page", "long": "30s", "short": "1s", "burn_rate": 10}],
            "runbook": RUNBOOK,
            "sinks": ["hook"],
        }
    ]
    gw = gateway_factory(cfg)
    client = gw.openai()
    assert call(client, "chat", 3, project="shop") == [200, 200, 200]
    assert call(client, "busy", 2, project="other") == [503, 503]  # out of scope
    # Two evaluation rounds over good traffic only (the ledger flushed first): nothing fires.
    assert gw.app.ledger is not None and gw.app.ledger.flush(10.0)
    for _ in range(2):
        on_gateway_loop(gw, gw.app.alerts.evaluate())
    on_gateway_loop(gw, gw.app.alerts.flush())
    assert receiver.bodies("/hook") == []

    statuses = call(client, "busy", 5, project="shop")
    assert all(s >= 500 for s in statuses)
    (fired,) = receiver.wait(lambda b: len(b) == 1, path="/hook", what="the page")
    assert fired["status"] == "firing" and fired["kind"] == "slo_burn"
    assert fired["rule"] == "slo:shop-availability:page"
    assert fired["severity"] == "critical"
    assert fired["labels"] == {"slo": "shop-availability", "project": "shop"}
    assert fired["runbook"] == RUNBOOK and fired["summary"].endswith(f"runbook: {RUNBOOK}")
    # The evaluation that fired saw the 3 good calls and the failed ones recorded by then
    # (the ledger writes in batches: 1 to 5 of them); the other project's never count.
    detail = fired["detail"]
    bad = detail["bad_events"]
    assert 1 <= bad <= 5 and detail["events"] == 3 + bad
    # e.g. 5 of 8 failed with a 1 % budget: 62.5 times the budget
    assert fired["value"] == pytest.approx((bad / (3 + bad)) / 0.01)
    assert detail["budget_remaining"] == pytest.approx(1 - (bad / (3 + bad)) / 0.01)

    # Healthy again: once the last 5xx leaves the short window, the page resolves.
    deadline = time.monotonic() + 10
    while len(receiver.bodies("/hook")) < 2 and time.monotonic() < deadline:
        call(client, "chat", project="shop")
        time.sleep(0.05)
    resolved = receiver.bodies("/hook")[1]
    assert resolved["status"] == "resolved" and resolved["fingerprint"] == fired["fingerprint"]
    assert resolved["runbook"] == RUNBOOK
    for req in receiver.requests("/hook"):
        assert verify(hmac_key, req.body, req.headers[SIGNATURE_HEADER.lower()])
    transitions = [r.state for r in history(gw) if r.kind == "transition"]
    assert transitions == ["firing", "resolved"]
