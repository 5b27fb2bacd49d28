"""Fixtures: a real gateway on a loopback port in front of the in-process simulator; the
broken provider (tests/gateway/bad_upstream.py) and the doors' two-upstream setting
(tests/gateway/ingress_harness.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.gateway.bad_upstream import bad
from tests.gateway.harness import RunningGateway, running_gateway, sim_config
from tests.gateway.ingress_harness import doors_gw, faulty_doors, sim_root

# Shared fixtures, for the modules that ask for them: the broken provider, and the doors'
# two-upstream setting.
__all__ = ["bad", "doors_gw", "faulty_doors", "sim_root"]


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
