"""A restarted gateway process (memory state) re-counts every counter with ledger history --
a virtual key's own budget and its RPM/TPM included -- before it serves: spending a key's
budget, restarting and spending again stays within the cap."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest
from tests.gateway.harness import http, wait_for
from tests.gateway.procs import start_gateway
from tests.gateway.spend_harness import MAX_TOKENS, chat_body, post_many, spend_config, worst_case

from daytwo.control.gate import RESERVE_INPUT_FACTOR
from daytwo.core.tokens import estimate_input_tokens
from daytwo.keys.model import KeySpec
from daytwo.keys.store import KeyStore

pytestmark = pytest.mark.integration

RPM = 4
TPM = 100_000


def _spent(db: Path, key_id: str) -> tuple[int, int, int]:
    """(cost, tokens, calls) the ledger holds for a key."""
    with sqlite3.connect(db) as conn:
        row = conn.execute(
            "SELECT COALESCE(SUM(cost_nanousd), 0), COALESCE(SUM(input_tokens + output_tokens), 0),"
            " COUNT(*) FROM calls WHERE key_id = ? AND status = 'ok'",
            (key_id,),
        ).fetchone()
    conn.close()
    return int(row[0]), int(row[1]), int(row[2])


def _post(url: str, secret: str) -> tuple[int, dict[str, str], dict[str, Any]]:
    status, headers, raw = http(
        "POST", url + "/v1/chat/completions", chat_body(), {"Authorization": f"Bearer {secret}"}
    )
    return status, headers, orjson.loads(raw)


def _early_in_a_minute() -> bool:
    """RPM/TPM count per UTC minute: the test needs its calls and the restart in one minute."""
    return time.time() % 60 < 15


def test_a_keys_budget_and_rate_counters_survive_a_restart(tmp_path: Path) -> None:
    cap_micro = 8 * worst_case() // 1000  # a key budget has at most 6 decimals of USD
    cap = cap_micro * 1000
    cfg = spend_config(tmp_path, {})
    cfg["gateway"] = {"require_keys": True, "key_cache_ttl_s": 0.2}
    db = tmp_path / "ledger.db"
    with KeyStore.open(f"sqlite:///{db}") as store:
        budget = f"{Decimal(cap_micro) / 10**6}/day"
        spender = store.create(KeySpec(project="acme", budget=budget), actor="test")
        limited = store.create(KeySpec(project="acme", rpm=RPM, tpm=TPM), actor="test")

    wait_for(_early_in_a_minute, 61, "the start of a UTC minute")
    minute = int(time.time() // 60)
    proc, url, _ = start_gateway(cfg, tmp_path, "before")
    try:
        for _ in range(RPM - 1):
            assert _post(url, limited.secret)[0] == 200
        # the key's budget, spent call by call until it cannot pay for one more
        statuses = []
        while not statuses or statuses[-1] == 200:
            statuses.append(_post(url, spender.secret)[0])
            assert len(statuses) < 50
        assert statuses[-1] == 429
    finally:
        proc.stop()  # SIGTERM: a graceful stop drains the ledger
    assert "ledger drained" in [line.get("msg") for line in proc.lines()]
    first, _, _ = _spent(db, spender.record.id)
    assert cap - worst_case() < first <= cap

    proc, url, _ = start_gateway(cfg, tmp_path, "after")
    try:
        # RPM: the 4th call of the minute is the last one; TPM counts what the ledger recorded
        # (read before that call: its own row may be flushed before the reply is read here)
        _, tokens, calls = _spent(db, limited.record.id)
        assert calls == RPM - 1
        status, headers, _ = _post(url, limited.secret)
        assert status == 200
        assert headers["x-ratelimit-remaining-requests"] == "0"
        body = orjson.loads(chat_body())
        worst_tokens = -(-estimate_input_tokens(body) * 5 // 4) + MAX_TOKENS
        assert RESERVE_INPUT_FACTOR == 1.25
        left = TPM - tokens - worst_tokens
        assert headers["x-ratelimit-remaining-tokens"] == str(left)
        status, _, err = _post(url, limited.secret)
        assert (status, err["error"]["type"], err["error"]["code"]) == (
            429,
            "rate_limited",
            "requests_per_minute",
        )
        assert int(time.time() // 60) == minute, "the test ran across a minute boundary"

        # the budget: nothing more fits, however many callers try at once
        status, _, err = _post(url, spender.secret)
        assert (status, err["error"]["type"]) == (429, "budget_exceeded")
        hdrs = {"Authorization": f"Bearer {spender.secret}"}
        burst = asyncio.run(post_many(url, [chat_body()] * 20, hdrs))
        assert {s for s, _ in burst} == {429}
    finally:
        proc.stop()
    total, _, _ = _spent(db, spender.record.id)
    assert total == first <= cap  # sequential calls: nothing in flight at the restart
    messages = [line.get("msg", "") for line in proc.lines()]
    assert any(m.startswith("rebuilt ") and "counters from the ledger" in m for m in messages)
