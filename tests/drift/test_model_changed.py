"""``model_changed`` over real HTTP: the simulator silently changes the model behind a
deployment (``changes: after_requests``); the gateway reports it once -- one admin event, one
alert delivered through the configured sink, with old → new and the first call that saw it --
not once per call, and not once per replica when two gateways share Redis."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.alerts.harness import HMAC_ENV, HMAC_KEY, webhook
from tests.alerts.receiver import Receiver, receiving
from tests.drift.harness import drift_of, settle
from tests.gateway.harness import RunningGateway, gateway_config, route, running_gateway
from tests.redis_support import REDIS_URL, own_prefix, require_redis

from daytwo.alerts.history import AlertHistory
from daytwo.alerts.notify import Notification
from daytwo.config.schema import SimSettings
from daytwo.config.sim_quality import SimChange, SimPersonality, SimQuality
from daytwo.keys.store import KeyStore
from daytwo.providers.sim.run import running_sim_server

pytestmark = pytest.mark.integration

NEW_MODEL = "gpt-4o-mini-2026-silent"
NEW_FINGERPRINT = "fp_n3wm0d3l"
USER = [{"role": "user", "content": "Hello there."}]


def change(after: int) -> dict[str, Any]:
    personality = SimPersonality(served_model=NEW_MODEL, fingerprint=NEW_FINGERPRINT)
    return SimChange(after_requests=after, personality=personality).model_dump()


def drift_sections(hook_url: str) -> dict[str, Any]:
    return {
        "alerts": {"backoff_s": 0.05, "sinks": {"hook": webhook(hook_url)}},
        "drift": {"sinks": ["hook"], "interval_s": 3600},
    }


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[Receiver]:
    monkeypatch.setenv(HMAC_ENV, HMAC_KEY)
    with receiving() as r:
        yield r


def chat(gw: RunningGateway, n: int) -> None:
    with gw.openai() as client:
        for _ in range(n):
            assert client.chat.completions.create(model="chat", messages=USER).choices


def model_events(db: Path) -> list[Any]:
    store = KeyStore.open(f"sqlite:///{db}", pepper=b"p" * 32)
    try:
        return [e for e in store.events() if e.action == "model.changed"]
    finally:
        store.close()


def test_a_silent_change_is_reported_once_with_old_and_new(
    tmp_path: Path, receiver: Receiver
) -> None:
    db = tmp_path / "ledger.db"
    quality = {"changes": [change(after=3)]}
    cfg = gateway_config(
        db,
        {"sim": {"type": "sim", "sim": {"seed": 5, "quality": quality}}},
        {"chat": route("sim", "gpt-4o-mini")},
    )
    cfg.update(drift_sections(f"{receiver.url}/hook"))
    heard: list[Notification] = []
    with running_gateway(cfg) as gw:
        drift_of(gw).add_listener(heard.append)
        chat(gw, 8)
        settle(gw)
        rows = gw.records()
    old_model, old_fp = rows[0]["served_model"], rows[0]["system_fingerprint"]
    assert (rows[3]["served_model"], rows[3]["system_fingerprint"]) == (NEW_MODEL, NEW_FINGERPRINT)
    assert old_model != NEW_MODEL and old_fp

    (body,) = [b for b in receiver.bodies("/hook") if b["rule"] == "model_changed"]
    assert body["status"] == "firing"
    assert body["labels"] == {
        "provider": "sim",
        "deployment": rows[0]["deployment"],
        "alias": "chat",
    }
    assert body["detail"]["before"] == {"served_model": old_model, "fingerprint": old_fp}
    after = body["detail"]["after"]
    assert (after["served_model"], after["fingerprint"]) == (NEW_MODEL, NEW_FINGERPRINT)
    assert after["call_id"] == rows[3]["id"]  # the first call answered by the new model
    assert f"{old_model} (fingerprint {old_fp}) → {NEW_MODEL}" in body["summary"]

    assert [(n.rule, n.detail["after"]["call_id"]) for n in heard] == [
        ("model_changed", rows[3]["id"])
    ]

    (event,) = model_events(db)
    assert event.target == rows[0]["deployment"]
    assert event.before == {"served_model": old_model, "fingerprint": old_fp}
    assert event.after is not None and event.after["call_id"] == rows[3]["id"]

    history = AlertHistory.open(f"sqlite:///{db}")
    try:
        fired = [
            r for r in history.since(0.0) if r.rule == "model_changed" and r.kind == "transition"
        ]
    finally:
        history.close()
    assert [r.state for r in fired] == ["firing"]


def test_a_restart_remembers_the_last_model_and_does_not_report_it_again(
    tmp_path: Path, receiver: Receiver
) -> None:
    """The watch is seeded from the ledger: a restarted gateway whose deployment still serves
    the model it served before says nothing; one that now serves another reports it."""
    db = tmp_path / "ledger.db"

    def cfg_with(quality: dict[str, Any]) -> dict[str, Any]:
        cfg = gateway_config(
            db,
            {"sim": {"type": "sim", "sim": {"seed": 5, "quality": quality}}},
            {"chat": route("sim", "gpt-4o-mini")},
        )
        cfg.update(drift_sections(f"{receiver.url}/hook"))
        return cfg

    for quality in ({}, {}):
        with running_gateway(cfg_with(quality)) as gw:
            chat(gw, 2)
            settle(gw)
    assert model_events(db) == []
    with running_gateway(cfg_with({"changes": [change(after=0)]})) as gw:
        chat(gw, 3)
        settle(gw)
    (event,) = model_events(db)
    assert event.after is not None and event.after["served_model"] == NEW_MODEL
    assert len([b for b in receiver.bodies("/hook") if b["rule"] == "model_changed"]) == 1


def test_two_gateways_sharing_redis_report_a_change_once(
    tmp_path: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two replicas behind one upstream that changes model at its 5th request; calls
    alternate between them, so each sees the new model. One event, one alert."""
    require_redis()
    monkeypatch.setenv("DT_DRIFT_KEY", "sk-drift")
    sim = SimSettings(seed=5, quality=SimQuality(changes=(SimChange.model_validate(change(4)),)))
    with own_prefix() as prefix, running_sim_server(sim, require_key="sk-drift") as url:
        gateways = []
        for name in ("a", "b"):
            cfg = gateway_config(
                tmp_path / f"{name}.db",
                {"up": {"type": "openai", "base_url": url, "api_key": "env:DT_DRIFT_KEY"}},
                {"chat": route("up", "gpt-4o-mini")},
            )
            cfg.update(drift_sections(f"{receiver.url}/hook"))
            cfg["spend_control"] = {
                "state": {"backend": "redis", "url": REDIS_URL, "prefix": prefix}
            }
            gateways.append(cfg)
        with running_gateway(gateways[0]) as a, running_gateway(gateways[1]) as b:
            for _ in range(5):
                chat(a, 1)
                chat(b, 1)
            settle(a)
            settle(b)
            served = {r["served_model"] for gw in (a, b) for r in gw.records()[-2:]}
    assert served == {NEW_MODEL}
    bodies = [b for b in receiver.bodies("/hook") if b["rule"] == "model_changed"]
    assert len(bodies) == 1, bodies
    events = model_events(tmp_path / "a.db") + model_events(tmp_path / "b.db")
    assert len(events) == 1
    assert events[0].after is not None and events[0].after["served_model"] == NEW_MODEL
