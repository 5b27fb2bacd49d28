"""A config reload changes the online evaluators without a restart: a gateway that had none
starts checking, a changed evaluator checks what the new config names, a narrowed one stops
checking the calls it no longer matches."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from tests.gateway.harness import RunningGateway, http, running_gateway, sim_config, wait_for
from tests.gateway.spend_harness import on_gateway_loop
from tests.quality.harness import of_call, scores

from daytwo.config.load import validate_config

pytestmark = pytest.mark.integration


def chat(gw: RunningGateway, project: str | None = None) -> str:
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hello there."}]}
    attribution = {"x-daytwo-project": project} if project is not None else None
    status, headers, raw = http(
        "POST", f"{gw.base_url}/chat/completions", orjson.dumps(body), attribution
    )
    assert status == 200, raw
    return headers["x-daytwo-call-id"]


def reload(gw: RunningGateway, cfg: dict[str, Any], quality: dict[str, Any] | None) -> None:
    new = {**cfg, **({"quality": quality} if quality is not None else {})}
    on_gateway_loop(gw, gw.app.reload(validate_config(new)))


def checked(gw: RunningGateway, call_id: str) -> set[str]:
    return set(of_call(scores(gw), call_id))


def test_a_reload_starts_changes_and_stops_the_evaluators(tmp_path: Path) -> None:
    cfg = sim_config(tmp_path)
    with running_gateway(cfg) as gw:
        assert gw.app.quality is None
        assert checked(gw, chat(gw)) == set()  # no evaluators: nothing checked

        reload(gw, cfg, {"evaluators": [{"name": "size", "checks": ["length"]}]})
        first = chat(gw)
        assert wait_for(lambda: checked(gw, first), what="the length score") == {"length"}

        reload(gw, cfg, {"evaluators": [{"name": "size", "checks": ["refusal", "truncation"]}]})
        second = chat(gw)
        got = wait_for(lambda: checked(gw, second), what="the new checks")
        assert got == {"refusal", "truncation"}

        # Narrowed to another project: the default project's calls are no longer checked. The
        # room checks calls in arrival order, so once the later call of project `other` is
        # scored, the earlier one was seen and skipped.
        only_other = {"name": "size", "checks": ["length"], "match": {"project": "other"}}
        reload(gw, cfg, {"evaluators": [only_other]})
        third = chat(gw)
        fourth = chat(gw, project="other")
        assert wait_for(lambda: checked(gw, fourth), what="the other project's score") == {"length"}
        assert checked(gw, third) == set()


def test_a_reload_changes_what_the_leak_check_looks_for(tmp_path: Path) -> None:
    cfg = sim_config(tmp_path, quality={"effects": [{"when": "INTERNAL-[0-9]+", "leak_rate": 1}]})
    leaks: dict[str, Any] = {"evaluators": [{"name": "leaks", "checks": ["leak"]}]}
    cfg["quality"] = leaks
    body = {
        "model": "gpt-4o-mini",
        "messages": [
            {"role": "system", "content": "Escalate with INTERNAL-4471."},
            {"role": "user", "content": "Where is my order?"},
        ],
    }

    def leak_label() -> str:
        status, headers, raw = http("POST", f"{gw.base_url}/chat/completions", orjson.dumps(body))
        assert status == 200 and orjson.loads(raw)["choices"][0]["message"]["content"].startswith(
            "INTERNAL-4471: "
        )
        call_id = headers["x-daytwo-call-id"]
        got = wait_for(lambda: of_call(scores(gw), call_id).get("leak"), what="the leak score")
        return str(got["label"])

    with running_gateway(cfg) as gw:
        assert leak_label() == "ok"  # no pattern names the marker: nothing the detectors know
        marker = {"name": "internal_marker", "regex": "INTERNAL-[0-9]+"}
        reload(gw, cfg, {**leaks, "leak": {"patterns": [marker]}})
        assert leak_label() == "internal_marker"
