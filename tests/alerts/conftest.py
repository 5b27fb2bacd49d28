"""Alert test fixtures: a loopback receiver for webhooks, the HMAC key in the environment, and
a ledger database on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from tests.alerts.harness import HMAC_ENV, HMAC_KEY
from tests.alerts.receiver import Receiver, receiving
from tests.gateway.harness import RunningGateway, running_gateway


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with receiving() as r:
        yield r


@pytest.fixture
def hmac_key(monkeypatch: pytest.MonkeyPatch) -> bytes:
    monkeypatch.setenv(HMAC_ENV, HMAC_KEY)
    return HMAC_KEY.encode()


@pytest.fixture
def gateway_factory() -> Iterator[Callable[..., RunningGateway]]:
    """Starts gateways (real HTTP on loopback) and stops them after the test."""
    stack: list[Any] = []

    def start(config: dict[str, Any]) -> RunningGateway:
        cm = running_gateway(config)
        gw = cm.__enter__()
        stack.append(cm)
        return gw

    yield start
    while stack:
        stack.pop().__exit__(None, None, None)
