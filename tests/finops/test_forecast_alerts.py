"""``spend_anomaly`` and ``budget_projection``: their rules' validation, the anomaly detector
on a synthetic ledger (a tripled workflow flagged within the documented delay, a steady one
never), and both alerts fired by a real gateway's engine over a prefilled ledger."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from tests.alerts.harness import alert_gateway_config, webhook
from tests.alerts.receiver import Receiver
from tests.gateway.harness import RunningGateway

from daytwo.config.alerts import AlertRule
from daytwo.finops.forecast_anomaly import anomalies
from daytwo.finops.forecast_synth import Flow, seasonal_records
from daytwo.ledger.schema import DAY, HOUR
from daytwo.ledger.store import LedgerStore, open_store

#: 2026-01-10T00:00:00Z; the spike starts ten hours later.
NOW = datetime(2026, 1, 10, tzinfo=UTC).timestamp()
SPIKE = NOW + 10 * HOUR


def _rule(**fields: Any) -> AlertRule:
    return AlertRule.model_validate({"name": "r", "sinks": ["s"], **fields})


def test_forecast_rules_have_defaults_and_are_validated() -> None:
    assert _rule(kind="budget_projection").limit == 100.0
    assert _rule(kind="spend_anomaly", by=["workflow"]).limit == 2.0
    assert _rule(kind="budget_projection", budget="acme-month").budget == "acme-month"
    for fields, message in [
        ({"kind": "budget_projection", "scope": {"project": "a"}}, "watches budgets"),
        ({"kind": "budget_projection", "window": 60}, "forecast's own days and hours"),
        ({"kind": "spend_anomaly", "by": ["alias"]}, "the rollups have no alias"),
        ({"kind": "spend_anomaly", "by": ["project", "workflow"]}, "watches one dimension"),
        (
            {"kind": "spend_anomaly", "scope": {"project": "a"}, "by": ["workflow"]},
            "watches one dimension",
        ),
        ({"kind": "spend_anomaly", "threshold": 2.5}, "counts whole hours"),
        ({"kind": "spend_anomaly", "budget": "x"}, "only budget_threshold and budget_projection"),
    ]:
        with pytest.raises(ValidationError, match=message):
            _rule(**fields)


def _ledger(path: Path, end: float, spike_at: float) -> LedgerStore:
    store = open_store(f"sqlite:///{path}")
    flows = [
        Flow("steady", "support", 100.0, growth=0.005),
        Flow("tripled", "search", 40.0, spike_at=spike_at, spike=3.0),
    ]
    batch = []
    for r in seasonal_records(flows, start=end - 56 * DAY, end=end, seed=5):
        batch.append(r)
        if len(batch) == 5_000:
            store.insert_batch(batch)
            batch = []
    store.insert_batch(batch)
    return store


def test_a_tripled_workflow_is_flagged_within_three_hours_and_a_steady_one_never(
    tmp_path: Path,
) -> None:
    store = _ledger(tmp_path / "ledger.db", SPIKE + 4 * HOUR, SPIKE)
    try:
        runs: dict[str, list[int]] = {"steady": [], "tripled": []}
        # Every hour from 10 hours before the spike to 4 hours after it (1 minute past).
        for k in range(-10, 5):
            for a in anomalies(store, "workflow", now=SPIKE + k * HOUR + 60):
                runs[a.key].append(-a.hours if a.direction == "below" else a.hours)
    finally:
        store.close()
    # Before the spike, neither is out of its band for more than the default 2 hours in a row.
    assert max(abs(n) for n in runs["tripled"][:10]) <= 2
    # After it: one more hour out each hour; the default threshold (2) is passed at the third.
    assert runs["tripled"][10:] == [0, 1, 2, 3, 4]
    assert max(abs(n) for n in runs["steady"]) <= 2


@pytest.mark.integration
def test_a_gateway_fires_spend_anomaly_and_budget_projection(
    gateway_factory: Callable[..., RunningGateway],
    tmp_path: Path,
    receiver: Receiver,
    hmac_key: bytes,
) -> None:
    now = time.time()
    spike = now // HOUR * HOUR - 4 * HOUR  # four complete hours tripled
    _ledger(tmp_path / "ledger.db", now, spike).close()
    rules = [
        {"name": "anomaly", "kind": "spend_anomaly", "by": ["workflow"], "sinks": ["hook"]},
        {"name": "projection", "kind": "budget_projection", "sinks": ["hook"]},
    ]
    budget = {
        "name": "support-week",
        "scope": {"project": "support"},
        "window": "week",
        "usd": "1",
        "actions": ["alert"],
    }
    config = alert_gateway_config(
        tmp_path,
        rules=rules,
        sinks={"hook": webhook(f"{receiver.url}/hook")},
        spend_control={"budgets": [budget]},
    )
    gateway_factory(config)
    bodies = receiver.wait(lambda b: len(b) >= 2, path="/hook", timeout_s=60)
    by_rule = {b["rule"]: b for b in bodies}
    assert set(by_rule) == {"anomaly", "projection"}
    anomaly = by_rule["anomaly"]
    assert anomaly["status"] == "firing"
    assert anomaly["labels"] == {"workflow": "tripled"}
    assert anomaly["value"] >= 4
    assert anomaly["detail"]["direction"] == "above"
    assert anomaly["runbook"] == "daytwo runbook show cost-spike"
    projection = by_rule["projection"]
    assert projection["labels"] == {"budget": "support-week"}
    # $100 a day against a $1 week: far past the cap.
    assert projection["value"] > 1000
    assert projection["detail"]["cap"] == 1_000_000_000
    assert projection["detail"]["probability"] == 1.0
