"""Config hot reload: a valid edit takes effect without a restart; an invalid one is refused
and the running config stays in force."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from tests.gateway.harness import RunningGateway, http, sim_config, wait_for

pytestmark = pytest.mark.integration


def _models(gw: RunningGateway) -> set[str]:
    return {m["id"] for m in json.loads(http("GET", gw.url + "/v1/models")[2])["data"]}


def test_file_change_reloads_and_invalid_edit_is_refused(
    tmp_path: Path,
    gateway_factory: Callable[..., RunningGateway],
    caplog: pytest.LogCaptureFixture,
) -> None:
    cfg = sim_config(tmp_path)
    cfg["server"] = {"reload_poll_s": 0.05}
    path = tmp_path / "daytwo.yaml"
    path.write_text(yaml.safe_dump(cfg))
    gw = gateway_factory(cfg, config_path=path)
    assert _models(gw) == {"gpt-4o-mini", "text-embedding-3-small"}
    sim_adapter = gw.app.runtime.adapters["sim"]

    cfg["models"]["gpt-4o"] = {"deployments": [{"provider": "sim", "model": "gpt-4o"}]}
    path.write_text(yaml.safe_dump(cfg))
    wait_for(lambda: "gpt-4o" in _models(gw), what="the new alias")
    # Unchanged providers keep their adapter (and its warm connection pool).
    assert gw.app.runtime.adapters["sim"] is sim_adapter
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
    assert http("POST", gw.url + "/v1/chat/completions", json.dumps(body).encode())[0] == 200

    caplog.set_level(logging.ERROR, logger="daytwo.config")
    path.write_text("models:\n  broken: {deployments: [{provider: nowhere, model: x}]}\n")
    record = wait_for(
        lambda: [r for r in caplog.records if "reload refused" in r.getMessage()],
        what="the refusal log line",
    )[0]
    assert "unknown provider `nowhere`" in str(record.problems)  # type: ignore[attr-defined]
    assert _models(gw) == {"gpt-4o-mini", "text-embedding-3-small", "gpt-4o"}
