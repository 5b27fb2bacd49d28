"""Fixtures: the app's spans in memory (an SDK tracer provider of the test's own, never the
global one) and a real gateway on a loopback port in front of the in-process simulator."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.gateway.harness import RunningGateway, running_gateway, sim_config
from tests.sdk.otel import Spans


@pytest.fixture
def spans() -> Iterator[Spans]:
    captured = Spans()
    yield captured
    captured.provider.shutdown()


@pytest.fixture
def gw(tmp_path: Path) -> Iterator[RunningGateway]:
    with running_gateway(sim_config(tmp_path)) as gateway:
        yield gateway
