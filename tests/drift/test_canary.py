"""The canary over real HTTP: the simulator silently swaps the model behind ``chat`` for one
that refuses everything; the model_changed report starts the alias's canary suite through the
gateway itself, and its comparison with the suite's last run before the change says the pass
rate got worse."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
import yaml
from tests.alerts.harness import HMAC_ENV, HMAC_KEY, webhook
from tests.alerts.receiver import Receiver, receiving
from tests.gateway.harness import gateway_config, route

from daytwo.admin.mount import create_app
from daytwo.config.load import validate_config
from daytwo.evals.runner import RunOptions, execute, load_suite
from daytwo.gateway.server import free_port, serve_in_thread

pytestmark = pytest.mark.integration

CASES = 8
NEW_MODEL = "gpt-4o-mini-refuses"


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[Receiver]:
    monkeypatch.setenv(HMAC_ENV, HMAC_KEY)
    with receiving() as r:
        yield r


def suite() -> dict[str, Any]:
    return {
        "targets": ["chat"],
        "messages": [{"role": "user", "content": "{{ q }}"}],
        "tests": [{"id": f"q{i}", "vars": {"q": f"Question number {i}?"}} for i in range(CASES)],
        "defaultTest": {"assert": [{"type": "not-is-refusal"}]},
    }


def test_a_model_change_runs_the_canary_and_reports_its_verdicts(
    tmp_path: Path, receiver: Receiver
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    # The change comes after the baseline run (8 calls) and two calls of the application.
    change = {
        "after_requests": CASES + 2,
        "personality": {"served_model": NEW_MODEL, "refusal_rate": 1.0},
    }
    cfg = gateway_config(
        tmp_path / "ledger.db",
        {"sim": {"type": "sim", "sim": {"seed": 3, "quality": {"changes": [change]}}}},
        {"chat": route("sim", "gpt-4o-mini")},
    )
    cfg["alerts"] = {"backoff_s": 0.05, "sinks": {"hook": webhook(f"{receiver.url}/hook")}}
    cfg["drift"] = {
        "sinks": ["hook"],
        "interval_s": 3600,
        "canary": {"suites": {"chat": "evals/canary.yaml"}, "gateway_url": url},
    }
    (tmp_path / "evals").mkdir()
    suite_file = tmp_path / "evals" / "canary.yaml"
    suite_file.write_text(yaml.safe_dump(suite()))
    config_file = tmp_path / "daytwo.yaml"
    config_file.write_text(yaml.safe_dump(cfg))
    config = validate_config(cfg)

    app = create_app(config, config_path=config_file)
    handle = serve_in_thread(app, port=port)
    try:
        before = execute(
            load_suite(suite_file, config, config_dir=tmp_path),
            RunOptions(gateway_url=url, use_cache=False, cache_dir=tmp_path / ".daytwo"),
        )
        with openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0) as client:
            for _ in range(4):  # two before the change, two after
                client.chat.completions.create(
                    model="chat", messages=[{"role": "user", "content": "hi"}]
                )
        bodies = receiver.wait(
            lambda b: any(x["rule"] == "model_changed_canary" for x in b),
            path="/hook",
            timeout_s=60,
            what="the canary report",
        )
    finally:
        handle.stop()
    (changed,) = [b for b in bodies if b["rule"] == "model_changed"]
    assert changed["detail"]["after"]["served_model"] == NEW_MODEL
    (canary,) = [b for b in bodies if b["rule"] == "model_changed_canary"]
    detail = canary["detail"]
    assert detail["previous_run_id"] == before.run_id
    assert detail["run_id"] != before.run_id
    assert detail["verdicts"]["chat"]["pass"] == "worse"
    assert "pass worse" in canary["summary"]
