"""The scheduled reconciliation: real gateways (``daytwo serve``'s app) beside the simulator's
admin usage and cost reports, real Redis for the lease, a SQLite ledger, and the
``reconciliation_gap`` alert delivered to a loopback webhook hooks."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from tests.alerts.harness import HMAC_ENV, HMAC_KEY, alert_gateway_config, webhook
from tests.alerts.receiver import Receiver, receiving
from tests.gateway.harness import RunningGateway, gateway_config, route, running_gateway, wait_for
from tests.redis_support import REDIS_URL, own_prefix

from daytwo.config.load import validate_config
from daytwo.config.schema import SimSettings
from daytwo.core.errors import ConfigError
from daytwo.finops.reconcile_runs import ACTION, ReconcileRun, latest_runs
from daytwo.finops.reconcile_schedule import ReconcileService, window
from daytwo.keys.schema import admin_events
from daytwo.ledger.store import open_store
from daytwo.providers.sim.run import running_sim_server

pytestmark = pytest.mark.integration

ADMIN = "sk-admin-sim"
ADMIN_ENV = "DAYTWO_TEST_RECONCILE_ADMIN"
#: A model daytwo has no price for: the bill's charge for it is all unexplained.
PLANTED = "planted-model"
PLANTED_PRICES = {PLANTED: {"input": "1", "output": "5"}}
MINI = {"gpt-4o-mini": {"input": "0.15", "output": "0.60", "cached_input": "0.075"}}


@pytest.fixture
def prefix() -> Iterator[str]:
    with own_prefix() as p:
        yield p


@pytest.fixture(autouse=True)
def keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """The admin key's and the webhook's HMAC key's environment variables."""
    monkeypatch.setenv(ADMIN_ENV, ADMIN)
    monkeypatch.setenv(HMAC_ENV, HMAC_KEY)


@pytest.fixture
def hooks() -> Iterator[Receiver]:
    with receiving() as r:
        yield r


def _service(gw: RunningGateway) -> ReconcileService:
    return next(s for s in gw.app.services if isinstance(s, ReconcileService))


def _on_loop(gw: RunningGateway, coro: Any) -> Any:
    loop = gw.app.loop
    assert loop is not None
    return asyncio.run_coroutine_threadsafe(coro, loop).result(30)


def _events(db: Path) -> list[tuple[str, str]]:
    """The stored runs' admin events: (target, after), oldest first."""
    c = admin_events.c
    query = sa.select(c.target, c.after).where(c.action == ACTION).order_by(c.id)
    with open_store(f"sqlite:///{db}", create=False) as store, store.connect() as conn:
        return [(str(target), str(after)) for target, after in conn.execute(query)]


def _runs(db: Path) -> dict[str, ReconcileRun]:
    with open_store(f"sqlite:///{db}", create=False) as store:
        return latest_runs(store)


def _reconcile(sim_url: str, kind: str, **extra: Any) -> dict[str, Any]:
    entry = {"kind": kind, "admin_key": f"env:{ADMIN_ENV}", "base_url": sim_url, **extra}
    return {"reconcile": {"threshold_pct": 5, "min_gap_usd": "0.01", "providers": [entry]}}


def _gap_rule() -> dict[str, Any]:
    return {"name": "bill-gap", "kind": "reconciliation_gap", "sinks": ["hook"]}


def test_the_window_is_the_settled_complete_days() -> None:
    now = datetime(2025, 3, 10, 17, 30, tzinfo=UTC).timestamp()
    assert window(now, 3, 1) == (datetime(2025, 3, 6, tzinfo=UTC), datetime(2025, 3, 9, tzinfo=UTC))
    assert window(now, 1, 0) == (
        datetime(2025, 3, 9, tzinfo=UTC),
        datetime(2025, 3, 10, tzinfo=UTC),
    )


def test_two_replicas_run_it_once_and_a_planted_gap_fires_the_alert(
    tmp_path: Path, hooks: Receiver, prefix: str
) -> None:
    settled = (datetime.now(UTC) - timedelta(days=2)).date()  # in the default window
    billing = {
        "prices": PLANTED_PRICES,
        "extra_calls": [
            {
                "model": PLANTED,
                "requests": 4,
                "input_tokens": 200_000,
                "output_tokens": 10_000,
                "day": settled.isoformat(),
            }
        ],
        # every 2nd admin request is refused for 1 s: the run outlasts both gateways' start
        "rate_limit_every": 2,
        "retry_after_s": 1,
    }
    with running_sim_server(SimSettings(billing=billing)) as sim_url:
        cfg = alert_gateway_config(
            tmp_path,
            rules=[_gap_rule()],
            sinks={"hook": webhook(f"{hooks.url}/hook")},
            spend_control={"state": {"backend": "redis", "url": REDIS_URL, "prefix": prefix}},
            finops=_reconcile(sim_url, "anthropic", ledger_providers=["sim"]),
        )
        with running_gateway(cfg) as one, running_gateway(cfg) as two:
            services = [_service(one), _service(two)]
            wait_for(lambda: all(s.ticks for s in services), what="both replicas' first look")
            assert sum(s.running is not None for s in services) == 1  # the lease holder's
            (fired,) = hooks.wait(lambda b: len(b) == 1, path="/hook", what="the alert")
            runner = next(s for s in services if s.running is not None)
            assert runner.running is not None and runner.running.done()
            db = one.db
            assert db is not None
            assert [target for target, _ in _events(db)] == ["anthropic"]  # one run, stored once
            run = _runs(db)["anthropic"]

    start, end = run.start, run.end
    assert (end - start, end.date()) == (timedelta(days=3), settled + timedelta(days=1))
    assert run.error is None and run.gap
    assert run.billed_nanos == 200_000 * 1_000 + 10_000 * 5_000 == run.remainder_nanos
    assert run.ledger_nanos == 0 and run.remainder_pct == 100.0
    assert run.replica == runner.replica
    assert fired["status"] == "firing" and fired["kind"] == "reconciliation_gap"
    assert fired["labels"] == {"provider": "anthropic"}
    assert fired["value"] == 100.0 and fired["threshold"] == 5.0  # finops.reconcile's threshold
    detail = fired["detail"]
    assert detail["billed_usd"] == detail["unexplained_usd"] == "0.25"
    assert detail["ledger_usd"] == "0" and detail["unexplained_pct"] == 100.0
    assert (detail["from"], detail["to"]) == (start.date().isoformat(), end.date().isoformat())
    assert fired["runbook"] == "daytwo runbook show cost-spike"
    assert "unexplained remainder of the bill 100% above 5%" in fired["summary"]


def test_a_faithful_bill_of_real_traffic_is_stored_and_does_not_fire(
    tmp_path: Path, hooks: Receiver
) -> None:
    settings = SimSettings(seed=3, billing={"prices": MINI})
    with running_sim_server(settings) as sim_url:
        cfg = gateway_config(
            tmp_path / "ledger.db",
            {"up": {"type": "openai", "base_url": sim_url}},
            {"gpt-4o-mini": route("up", "gpt-4o-mini")},
        )
        cfg["alerts"] = {"interval_s": 0.1, "sinks": {"hook": webhook(f"{hooks.url}/hook")}}
        cfg["alerts"]["rules"] = [{**_gap_rule(), "threshold": 0}]
        cfg["finops"] = _reconcile(sim_url, "openai", api_key_ids=["key_daytwo"])
        cfg["finops"]["reconcile"]["min_gap_usd"] = "0"
        with running_gateway(cfg) as gw:
            wait_for(lambda: _service(gw).ticks, what="the first look at the schedule")
            client = gw.openai()
            for i in range(4):
                client.chat.completions.create(
                    model="gpt-4o-mini", messages=[{"role": "user", "content": f"q{i}"}]
                )
            gw.records()  # flushed
            # Two days on, today is a settled day of the window: a second schedule compares it.
            later = ReconcileService(
                validate_config(cfg), gw.app.secrets, clock=lambda: time.time() + 2 * 86_400
            )
            _on_loop(gw, later.start(gw.app))
            try:
                run_task = wait_for(lambda: later.running, what="the run two days on")
                runs = _on_loop(gw, asyncio.wait_for(asyncio.shield(run_task), 30))
                _on_loop(gw, gw.app.alerts.evaluate())
                _on_loop(gw, gw.app.alerts.dispatcher.drain(5))
            finally:
                _on_loop(gw, later.aclose())
            db = gw.db
            assert db is not None
            stored = _runs(db)["openai"]
    (run,) = runs
    assert run.billed_nanos == run.ledger_nanos > 0  # four calls, billed as the ledger priced
    assert run.remainder_nanos == 0 and not run.gap and not any(run.causes.values())
    assert stored == run  # what the weekly report reads back
    assert hooks.bodies("/hook") == []
    assert gw.app.alerts.states() == []


def test_a_refused_admin_key_is_stored_as_a_failed_run_without_the_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ADMIN_ENV, "sk-admin-wrong-secret-999")
    with running_sim_server(SimSettings()) as sim_url:
        cfg = gateway_config(
            tmp_path / "ledger.db",
            {"up": {"type": "openai", "base_url": sim_url}},
            {"gpt-4o-mini": route("up", "gpt-4o-mini")},
        )
        cfg["finops"] = _reconcile(sim_url, "openai")
        with running_gateway(cfg) as gw:
            task = wait_for(lambda: _service(gw).running, what="the first run")
            wait_for(task.done, what="the run's end")
            db = gw.db
            assert db is not None
            run = _runs(db)["openai"]
            events = _events(db)
    assert (
        run.error
        == "openai admin API refused the admin key (401) on /v1/organization/usage/completions"
    )
    assert not run.gap and run.billed_nanos == 0
    assert "wrong-secret" not in repr(events)


@pytest.mark.parametrize(
    ("section", "message"),
    [
        (
            {"alerts": {"rules": [{**_gap_rule(), "scope": {"project": "p"}}]}},
            "reconciliation_gap compares whole bills per provider: drop scope/by/action",
        ),
        (
            {"alerts": {"rules": [{**_gap_rule(), "window": 60}]}},
            "window: reconciliation_gap is evaluated over the scheduled run's days",
        ),
        ({"finops": {"reconcile": {"every": "0h"}}}, "finops.reconcile.every: 0 is not a"),
        ({"finops": _reconcile("http://127.0.0.1:9", "openai")}, None),
    ],
)
def test_the_schedule_and_the_kind_are_checked_at_load(
    tmp_path: Path, section: dict[str, Any], message: str | None
) -> None:
    cfg = gateway_config(tmp_path / "ledger.db", {}, {})
    cfg["alerts"] = {"sinks": {"hook": webhook("https://hooks.example.com/x")}}
    for key, value in section.items():
        cfg[key] = {**cfg.get(key, {}), **value}
    if message is None:
        assert validate_config(cfg).finops.reconcile.every_s == 86_400
        return
    with pytest.raises(ConfigError, match=re.escape(message)):
        validate_config(cfg)


def test_one_entry_per_provider_kind() -> None:
    entry = {"kind": "openai", "admin_key": "env:A"}
    wanted = "finops.reconcile.providers: kind openai is listed twice"
    with pytest.raises(ConfigError, match=re.escape(wanted)):
        validate_config({"finops": {"reconcile": {"providers": [entry, entry]}}})
