"""Fixtures: a real gateway on a loopback port (the simulator behind it, SQLite ledger)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from tests.gateway.harness import RunningGateway, running_gateway


@pytest.fixture
def gateway_factory() -> Iterator[Callable[..., RunningGateway]]:
    with ExitStack() as stack:

        def start(config: dict[str, Any], config_path: Path | None = None) -> RunningGateway:
            return stack.enter_context(running_gateway(config, config_path))

        yield start
