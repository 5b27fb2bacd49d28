"""A gateway for alert tests: simulated providers (one healthy, one that always fails, one
priced absurdly high) behind real HTTP, a SQLite ledger flushed at once, and an ``alerts``
section with short intervals."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import openai
from tests.gateway.harness import RunningGateway, gateway_config, route

from daytwo.alerts.history import AlertHistory, HistoryRow

HMAC_KEY = "whsec-test-0123456789abcdef"
HMAC_ENV = "DAYTWO_TEST_ALERT_HMAC"


def alert_gateway_config(
    tmp_path: Path,
    *,
    rules: list[dict[str, Any]],
    sinks: dict[str, Any],
    interval_s: float = 0.1,
    **sections: Any,
) -> dict[str, Any]:
    cfg = gateway_config(
        tmp_path / "ledger.db",
        {
            "sim": {"type": "sim", "sim": {"seed": 7}},
            "flaky": {"type": "sim", "sim": {"seed": 8, "faults": {"rate_500": 1.0}}},
            "slow": {"type": "sim", "sim": {"seed": 9, "ttft_ms": 40}},
        },
        {
            "chat": route("sim", "gpt-4o-mini"),
            "broken": route("flaky", "gpt-4o-mini"),
            "costly": route("sim", "costly-model"),
            "mystery": route("sim", "mystery-model-without-a-price"),
            "slow": route("slow", "gpt-4o-mini"),
            "failover": {
                "deployments": [
                    {"provider": "flaky", "model": "gpt-4o-mini"},
                    {"provider": "sim", "model": "gpt-4o-mini"},
                ]
            },
        },
    )
    cfg["pricing"] = {
        "overrides": [
            # $1 per input token and per output token: a handful of calls cost dollars
            {"model": "costly-model", "input_per_mtok": 1_000_000, "output_per_mtok": 1_000_000}
        ]
    }
    cfg["resilience"] = {
        "defaults": {"max_attempts": 1},
        "aliases": {"failover": {"max_attempts": 2}},
    }
    cfg["alerts"] = {
        "interval_s": interval_s,
        "backoff_s": 0.05,
        "max_backoff_s": 0.2,
        "sinks": sinks,
        "rules": rules,
    }
    cfg.update(sections)
    return cfg


def webhook(url: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "webhook",
        "url": url,
        "allow_private": True,
        "secret": f"env:{HMAC_ENV}",
        **extra,
    }


def call(client: openai.OpenAI, model: str, n: int = 1, **headers: str) -> list[int]:
    """``n`` chat calls; the HTTP status of each (headers: ``project="acme"`` sends
    ``X-Daytwo-Project: acme``)."""
    statuses = []
    for _ in range(n):
        try:
            client.chat.completions.create(
                model=model,
                messages=[{"role": "user", "content": "hello there"}],
                max_tokens=8,
                extra_headers={f"x-daytwo-{k}": v for k, v in headers.items()} or None,
            )
            statuses.append(200)
        except openai.APIStatusError as exc:
            statuses.append(exc.status_code)
    return statuses


def history(gw: RunningGateway) -> list[HistoryRow]:
    """The gateway's alert history so far (after its engine wrote what it has)."""
    app = gw.app
    assert app.loop is not None
    asyncio.run_coroutine_threadsafe(app.alerts.flush(), app.loop).result(10)
    store = AlertHistory.open(app.config.ledger.url)
    try:
        return store.since(0)
    finally:
        store.close()
