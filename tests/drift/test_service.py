"""The drift service in a running gateway: a drift found in the ledger is announced once
through the configured sink (a second evaluation that still finds it sends nothing more), and
config loads and reloads land in the admin event log, where drift's context finds them."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.alerts.harness import HMAC_ENV, HMAC_KEY, webhook
from tests.alerts.receiver import Receiver, receiving
from tests.drift.harness import drift_of
from tests.drift.seed import NOW, WINDOW_S, refusal_shift, steady, write
from tests.gateway.harness import RunningGateway, gateway_config, route, running_gateway

from daytwo.keys.store import KeyStore
from daytwo.ledger.store import open_store

pytestmark = pytest.mark.integration


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[Receiver]:
    monkeypatch.setenv(HMAC_ENV, HMAC_KEY)
    with receiving() as r:
        yield r


def config(db: Path, hook: str) -> dict[str, Any]:
    cfg = gateway_config(
        db, {"sim": {"type": "sim", "sim": {"seed": 1}}}, {"chat": route("sim", "gpt-4o-mini")}
    )
    cfg["alerts"] = {"backoff_s": 0.05, "sinks": {"hook": webhook(hook)}}
    cfg["drift"] = {
        "sinks": ["hook"],
        "interval_s": 3600,
        "window_s": WINDOW_S,
        "baseline_s": 86_400,
    }
    return cfg


def evaluate(gw: RunningGateway, now: float) -> None:
    service, loop = drift_of(gw), gw.app.loop
    assert loop is not None and service.announcer is not None
    announcer = service.announcer

    async def run() -> None:
        await service.evaluate(now)
        await announcer.flush()

    asyncio.run_coroutine_threadsafe(run(), loop).result(60)


def test_a_drift_is_announced_once(tmp_path: Path, receiver: Receiver) -> None:
    db = tmp_path / "ledger.db"
    store = open_store(f"sqlite:///{db}")
    try:
        write(store, [*refusal_shift(), *steady()], seed=11)
    finally:
        store.close()
    with running_gateway(config(db, f"{receiver.url}/hook")) as gw:
        evaluate(gw, NOW)
        evaluate(gw, NOW + 60)
    (body,) = [b for b in receiver.bodies("/hook") if b["rule"] == "drift"]
    assert body["status"] == "firing"
    assert body["labels"] == {"model": "chat", "prompt": "support@v1", "evaluator": "refusal"}
    detail = body["detail"]
    assert detail["current"]["n"] == 1400 and detail["baseline"]["n"] == 4000
    assert 0 < detail["difference"]["low"] < detail["difference"]["estimate"]
    assert body["summary"].startswith(
        "drift (evaluator=refusal, model=chat, prompt=support@v1): refusal bad rate"
    )


def test_config_loads_and_reloads_are_recorded(tmp_path: Path, receiver: Receiver) -> None:
    db = tmp_path / "ledger.db"
    path = tmp_path / "daytwo.yaml"
    cfg = config(db, f"{receiver.url}/hook")
    cfg["server"] = {"reload_poll_s": 0.05}
    path.write_text(yaml.safe_dump(cfg))

    def actions() -> list[str]:
        keys = KeyStore.open(f"sqlite:///{db}")
        try:
            return [e.action for e in keys.events() if e.target == "config"]
        finally:
            keys.close()

    with running_gateway(cfg, config_path=path):
        assert actions() == ["config.load"]
        cfg["drift"]["min_events"] = 50
        path.write_text(yaml.safe_dump(cfg))
        deadline = time.monotonic() + 15
        while actions() != ["config.load", "config.reload"]:
            assert time.monotonic() < deadline, actions()
            time.sleep(0.02)
