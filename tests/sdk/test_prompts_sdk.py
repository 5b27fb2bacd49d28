"""``daytwo.sdk.prompts`` against a real gateway: a client-rendered prompt is attributed in the
ledger (name, version, label, hash) like a gateway-rendered one; the cache serves stale while it
revalidates; the bundled fallback still reports its hash when the gateway is unreachable."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
from tests.gateway.harness import RunningGateway, http, running_gateway, sim_config, wait_for
from tests.prompts.files import (
    SUPPORT_VARS,
    support_prompts,
    write_labels,
)

from daytwo.sdk import prompts
from daytwo.sdk.prompts import PromptClient, PromptUnavailable


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return support_prompts(tmp_path / "prompts")


@pytest.fixture
def gw(tmp_path: Path, root: Path) -> Iterator[RunningGateway]:
    cfg = sim_config(tmp_path)
    cfg["prompts"] = {"dir": str(root), "reload_poll_s": 0.05}
    with running_gateway(cfg) as running:
        yield running


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_client_rendered_prompt_is_recorded_like_a_served_one(gw: RunningGateway) -> None:
    client = PromptClient(gw.url)
    p = client.get("support-reply")
    served = gw.app.prompts.current.versions["support-reply"][1]  # type: ignore[union-attr]
    assert (p.version, p.label, p.hash, p.source) == (1, "production", served.hash, "gateway")
    assert p.render(**SUPPORT_VARS) == [
        {"role": "system", "content": "You are a support agent for daytwo. Be brief."},
        {"role": "user", "content": "Ticket from Ann: a refund"},
    ]
    with gw.openai() as c:
        c.chat.completions.create(**p.request(**SUPPORT_VARS), extra_headers=p.headers)
    row = gw.records()[-1]
    assert (row["alias"], row["status"]) == ("gpt-4o-mini", "ok")
    assert (row["prompt_name"], row["prompt_version"], row["prompt_label"]) == (
        "support-reply",
        1,
        "production",
    )
    assert row["prompt_hash"] == served.hash
    assert client.get("support-reply", version=2).version == 2
    with pytest.raises(ValueError, match="missing variable 'customer'"):
        p.render(topic="x")


def test_the_endpoint_answers_in_openai_errors(gw: RunningGateway) -> None:
    status, _, body = http("GET", f"{gw.url}/v1/prompts/support-reply?label=nope")
    assert status == 400 and b"no label `nope`" in body
    status, _, _ = http("GET", f"{gw.url}/v1/prompts/no-such")
    assert status == 404
    bad = {"X-Daytwo-Prompt": "support-reply@v1; hash=sha256:nothex"}
    with gw.openai() as c, pytest.raises(openai.BadRequestError, match="X-Daytwo-Prompt"):
        c.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], extra_headers=bad
        )


def test_stale_while_revalidate(gw: RunningGateway, root: Path) -> None:
    now = [0.0]
    client = PromptClient(gw.url, ttl_s=60, clock=lambda: now[0])
    assert client.get("support-reply").version == 1
    write_labels(root, {"support-reply": {"production": 2}})
    wait_for(
        lambda: gw.app.prompts.current.labels["support-reply"]["production"] == 2,  # type: ignore[union-attr]
        what="the gateway to reload",
    )
    fresh = client.get("support-reply")
    assert (fresh.version, fresh.source) == (1, "cache")  # within the TTL
    now[0] = 61.0
    stale = client.get("support-reply")
    assert (stale.version, stale.source) == (1, "stale")  # answered at once, refreshing
    wait_for(lambda: client.get("support-reply").version == 2, what="the background refresh")


def test_the_bundled_fallback_still_reports_its_hash(gw: RunningGateway, tmp_path: Path) -> None:
    bundle = PromptClient(gw.url).bundle([("support-reply", "production")], tmp_path / "b.json")
    offline = PromptClient(f"http://127.0.0.1:{closed_port()}", fallback=bundle, timeout_s=1)
    p = offline.get("support-reply", label="production")
    served = gw.app.prompts.current.versions["support-reply"][1]  # type: ignore[union-attr]
    assert (p.source, p.version, p.hash) == ("fallback", 1, served.hash)
    with gw.openai() as c:
        c.chat.completions.create(**p.request(**SUPPORT_VARS), extra_headers=p.headers)
    row = gw.records()[-1]
    assert (row["prompt_name"], row["prompt_version"], row["prompt_hash"]) == (
        "support-reply",
        1,
        served.hash,
    )
    with pytest.raises(PromptUnavailable):
        offline.get("support-reply", label="staging")  # not in the bundle


def test_the_module_level_get_uses_one_client_from_the_environment(
    gw: RunningGateway, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundle = PromptClient(gw.url).bundle([("support-reply", "production")], tmp_path / "b.json")
    monkeypatch.setattr(prompts, "_default", None)
    monkeypatch.setenv(prompts.BASE_URL_ENV, gw.url)
    p = prompts.get("support-reply", label="production")
    assert (p.source, p.version) == ("gateway", 1)
    assert prompts.get("support-reply", label="production").source == "cache"  # one client
    # configure() replaces it: the gateway unreachable, the environment's bundle answers.
    monkeypatch.setenv(prompts.FALLBACK_ENV, str(bundle))
    prompts.configure(f"http://127.0.0.1:{closed_port()}", timeout_s=1)
    p = prompts.get("support-reply", label="production")
    served = gw.app.prompts.current.versions["support-reply"][1]  # type: ignore[union-attr]
    assert (p.source, p.version, p.hash) == ("fallback", 1, served.hash)
