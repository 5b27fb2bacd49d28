"""At start-up the gateway warns about configured models that are retired or retire soon."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from tests.gateway.harness import running_gateway, sim_config

pytestmark = pytest.mark.integration


def test_a_configured_retired_model_is_named_in_a_startup_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = sim_config(tmp_path)
    cfg["providers"]["claude"] = {"type": "anthropic", "base_url": "http://127.0.0.1:9"}
    # claude-2.1 retired on 2025-07-21 (Anthropic's model deprecations page): always a finding
    cfg["models"]["old"] = {"deployments": [{"provider": "claude", "model": "claude-2.1"}]}
    with caplog.at_level(logging.WARNING, logger="daytwo.gateway"), running_gateway(cfg):
        pass
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("claude-2.1" in w and "retired" in w for w in warnings), warnings
    assert not any("gpt-4o-mini" in w for w in warnings)  # not in the catalog: nothing to say
