"""Real alerts name their runbook: a gateway in front of the simulator, calls over HTTP that
make two rules fire, and what the webhook and PagerDuty receive -- the rule's own runbook URL,
and the kind's shipped runbook turned into a URL by ``incidents.runbook_base_url``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from tests.alerts.harness import HMAC_ENV, alert_gateway_config, call, webhook
from tests.alerts.receiver import Receiver
from tests.gateway.harness import RunningGateway

pytestmark = pytest.mark.integration

BASE = "https://wiki.example.com/runbooks"


def test_notifications_carry_the_rules_runbook_or_their_kinds(
    gateway_factory: Callable[..., RunningGateway],
    tmp_path: Path,
    receiver: Receiver,
    hmac_key: bytes,
) -> None:
    rules = [
        {"name": "hot-spend", "kind": "spend_per_hour", "threshold": 100, "window": 60,
         "sinks": ["hook", "pager"], "runbook": "https://wiki.example.com/our-spend-page"},
        {"name": "broken-errors", "kind": "error_rate", "threshold": 0.5, "window": 60,
         "scope": {"alias": "broken"}, "sinks": ["hook", "pager"]},
    ]  # fmt: skip
    sinks = {
        "hook": webhook(f"{receiver.url}/hook"),
        "pager": {"type": "pagerduty", "routing_key": f"env:{HMAC_ENV}",
                  "url": f"{receiver.url}/pd", "allow_private": True},
    }  # fmt: skip
    cfg = alert_gateway_config(
        tmp_path, rules=rules, sinks=sinks, incidents={"runbook_base_url": BASE + "/"}
    )
    gw = gateway_factory(cfg)
    client = gw.openai()
    assert call(client, "costly") == [200]
    assert call(client, "broken", 2) == [500, 500]
    bodies = receiver.wait(lambda b: len(b) == 2, path="/hook", what="both alerts")
    fired = {b["rule"]: b for b in bodies}
    assert fired["hot-spend"]["runbook"] == "https://wiki.example.com/our-spend-page"
    assert fired["broken-errors"]["runbook"] == f"{BASE}/provider-down"
    assert fired["broken-errors"]["summary"].endswith(f"; runbook: {BASE}/provider-down")
    pages = receiver.wait(lambda b: len(b) == 2, path="/pd", what="both pages")
    links = {p["payload"]["group"]: p["links"] for p in pages}
    assert links == {
        "hot-spend": [{"href": "https://wiki.example.com/our-spend-page", "text": "runbook"}],
        "broken-errors": [{"href": f"{BASE}/provider-down", "text": "runbook"}],
    }
