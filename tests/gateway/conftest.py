"""Fixtures: a real gateway on a loopback port in front of the in-process simulator."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.gateway.harness import RunningGateway, running_gateway, sim_config


@pytest.fixture
def gateway_factory() -> Iterator[Callable[..., RunningGateway]]:
    stack: list[Any] = []

    def start(config: dict[str, Any], config_path: Path | None = None) -> RunningGateway:
        cm = running_gateway(config, config_path)
        gw = cm.__enter__()
        stack.append(cm)
        return gw

    yield start
    while stack:
        stack.pop().__exit__(None, None, None)


@pytest.fixture
def gw(tmp_path: Path, gateway_factory: Callable[..., RunningGateway]) -> RunningGateway:
    return gateway_factory(sim_config(tmp_path))
