"""A non-streamed answer says what it cost (``x-daytwo-cost-usd``): the ledger row's exact cost in
decimal dollars, so a caller (daytwo's own eval runner among them) needs no second lookup."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from tests.gateway.harness import RunningGateway, http

pytestmark = pytest.mark.integration

CHAT = "/v1/chat/completions"
EMBED = "/v1/embeddings"


def test_the_header_is_the_ledger_rows_cost_to_the_nano_dollar(gw: RunningGateway) -> None:
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
    status, headers, _ = http("POST", gw.url + CHAT, json.dumps(body).encode())
    assert status == 200
    row = gw.record(headers["x-daytwo-call-id"])
    assert row["cost_nanousd"] > 0
    assert Decimal(headers["x-daytwo-cost-usd"]) * 10**9 == row["cost_nanousd"]


def test_streams_and_failures_carry_no_cost_header(gw: RunningGateway) -> None:
    stream = {
        "model": "gpt-4o-mini",
        "stream": True,
        "messages": [{"role": "user", "content": "hi"}],
    }
    status, headers, _ = http("POST", gw.url + CHAT, json.dumps(stream).encode())
    assert status == 200
    assert "x-daytwo-cost-usd" not in headers  # known only after the last byte
    bad = {"model": "gpt-4o-mini", "messages": []}
    status, headers, _ = http("POST", gw.url + CHAT, json.dumps(bad).encode())
    assert status == 400
    assert "x-daytwo-cost-usd" not in headers
