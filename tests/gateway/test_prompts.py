"""Prompts served by the gateway (stage 3, resolve) through every door, with the official SDKs
over real HTTP; what the upstream received is recorded by a loopback simulator."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest
import yaml
from tests.gateway.harness import RunningGateway, gateway_config, route, sim_config, wait_for
from tests.gateway.recording_sim import RecordingSim, recording_sim
from tests.prompts.files import (
    SUPPORT_V2,
    SUPPORT_VARS,
    support_prompts,
    write_labels,
)

from daytwo.keys.model import KeySpec
from daytwo.keys.store import KeyStore

V1_SYSTEM = "You are a support agent for daytwo. Be brief."
V2_SYSTEM = SUPPORT_V2["system"].replace("{{ product }}", "daytwo").replace("{{ tone }}", "brief")
V1_USER = "Ticket from Ann: a refund"


@pytest.fixture(scope="module")
def upstream() -> Iterator[tuple[str, RecordingSim]]:
    with recording_sim() as running:
        yield running


@pytest.fixture
def prompts_root(tmp_path: Path) -> Path:
    return support_prompts(tmp_path / "prompts")


@pytest.fixture
def gw(
    tmp_path: Path,
    prompts_root: Path,
    upstream: tuple[str, RecordingSim],
    gateway_factory: Callable[..., RunningGateway],
) -> RunningGateway:
    root, _ = upstream
    cfg = gateway_config(
        tmp_path / "ledger.db",
        {"up": {"type": "openai", "base_url": f"{root}/v1"}},
        {"gpt-4o-mini": route("up", "gpt-4o-mini")},
    )
    cfg["prompts"] = {"dir": str(prompts_root), "reload_poll_s": 0.05}
    return gateway_factory(cfg)


def sent(sim: RecordingSim, before: int) -> list[dict[str, Any]]:
    """The chat bodies the upstream received since ``before``."""
    return [s.body for s in sim.seen("/v1/chat/completions")[before:]]


def chat_count(sim: RecordingSim) -> int:
    return len(sim.seen("/v1/chat/completions"))


def assert_v1_sent(body: dict[str, Any], *client_msgs: dict[str, Any]) -> None:
    assert body["model"] == "gpt-4o-mini"
    assert body["messages"][:2] == [
        {"role": "system", "content": V1_SYSTEM},
        {"role": "user", "content": V1_USER},
    ]
    assert body["messages"][2:] == list(client_msgs)
    assert (body["temperature"], body["max_tokens"]) == (0.2, 200)
    assert "variables" not in body


def test_openai_chat_by_name_plain_and_streamed(
    gw: RunningGateway, upstream: tuple[str, RecordingSim]
) -> None:
    _, sim = upstream
    before = chat_count(sim)
    follow_up = {"role": "user", "content": "It was charged twice."}
    with gw.openai() as c:
        answer = c.chat.completions.create(
            model="prompt:support-reply",
            messages=[follow_up],  # type: ignore[list-item]
            temperature=1.5,  # the prompt's reviewed parameters win
            extra_body={"variables": SUPPORT_VARS},
        )
        assert answer.choices[0].message.content
        chunks = list(
            c.chat.completions.create(
                model="prompt:support-reply",
                messages=[],
                stream=True,
                extra_body={"variables": SUPPORT_VARS},
            )
        )
        assert any(ch.choices and ch.choices[0].delta.content for ch in chunks)
    plain, streamed = sent(sim, before)
    assert_v1_sent(plain, follow_up)
    assert_v1_sent(streamed)
    rows = gw.records()
    v1_hash = gw.app.prompts.current.versions["support-reply"][1].hash  # type: ignore[union-attr]
    assert [
        (r["alias"], r["prompt_name"], r["prompt_version"], r["prompt_label"], r["prompt_hash"])
        for r in rows
    ] == [("gpt-4o-mini", "support-reply", 1, "production", v1_hash)] * 2
    assert [r["stream"] for r in rows] == [0, 1]


def test_label_version_header_and_environment_pick_the_version(
    gw: RunningGateway, upstream: tuple[str, RecordingSim]
) -> None:
    _, sim = upstream
    before = chat_count(sim)
    hi = [{"role": "user", "content": "hi"}]
    with gw.openai() as c:
        c.chat.completions.create(
            model="prompt:support-reply@staging",
            messages=hi,
            extra_body={"variables": SUPPORT_VARS},
        )
        c.chat.completions.create(
            model="prompt:support-reply@v1", messages=hi, extra_body={"variables": SUPPORT_VARS}
        )
        c.chat.completions.create(
            model="anything",
            messages=hi,  # type: ignore[arg-type]
            extra_headers={"X-Daytwo-Prompt": "support-reply@v2"},
            extra_body={"variables": SUPPORT_VARS},
        )
        c.chat.completions.create(
            model="prompt:support-reply",
            messages=hi,  # type: ignore[arg-type]
            extra_headers={"X-Daytwo-Environment": "staging"},
            extra_body={"variables": SUPPORT_VARS},
        )
    systems = [b["messages"][0]["content"] for b in sent(sim, before)]
    assert systems == [V2_SYSTEM, V1_SYSTEM, V2_SYSTEM, V2_SYSTEM]
    rows = gw.records()
    assert [(r["prompt_version"], r["prompt_label"]) for r in rows] == [
        (2, "staging"),
        (1, None),
        (2, None),
        (2, "staging"),
    ]


def test_anthropic_door_plain_and_streamed(
    gw: RunningGateway, upstream: tuple[str, RecordingSim]
) -> None:
    _, sim = upstream
    before = chat_count(sim)
    with anthropic.Anthropic(base_url=gw.url, api_key="unused", max_retries=0) as c:
        msg = c.messages.create(
            model="prompt:support-reply@staging",
            max_tokens=50,
            messages=[{"role": "user", "content": "hello"}],
            extra_body={"variables": SUPPORT_VARS},
        )
        assert msg.content and msg.content[0].type == "text"
        with c.messages.stream(
            model="prompt:support-reply",
            max_tokens=50,
            messages=[{"role": "user", "content": "hello"}],
            extra_body={"variables": SUPPORT_VARS},
        ) as stream:
            text = "".join(stream.text_stream)
        assert text
    staging, prod = sent(sim, before)
    assert staging["messages"][0] == {"role": "system", "content": V2_SYSTEM}
    assert staging["max_tokens"] == 400  # the prompt's, over the client's
    assert prod["messages"][:2] == [
        {"role": "system", "content": V1_SYSTEM},
        {"role": "user", "content": V1_USER},
    ]
    assert prod["messages"][2] == {"role": "user", "content": "hello"}
    assert [(r["prompt_version"], r["stream"]) for r in gw.records()] == [(2, 0), (1, 1)]


def test_responses_door_plain_and_streamed(
    gw: RunningGateway, upstream: tuple[str, RecordingSim]
) -> None:
    _, sim = upstream
    before = chat_count(sim)
    with gw.openai() as c:
        resp = c.responses.create(
            model="prompt:support-reply", input="hello", extra_body={"variables": SUPPORT_VARS}
        )
        assert resp.output_text
        events = list(
            c.responses.create(
                model="prompt:support-reply@staging",
                input="hello",
                stream=True,
                extra_body={"variables": SUPPORT_VARS},
            )
        )
        assert events[-1].type == "response.completed"
    plain, streamed = sent(sim, before)
    assert_v1_sent(plain, {"role": "user", "content": "hello"})
    assert streamed["messages"][0] == {"role": "system", "content": V2_SYSTEM}
    assert "max_completion_tokens" not in streamed  # the prompt's max_tokens replaces it
    assert [r["prompt_version"] for r in gw.records()] == [1, 2]


@pytest.mark.parametrize(
    ("variables", "param", "words"),
    [
        ({"topic": "x"}, "variables.customer", "Missing required variable 'customer'"),
        ({"customer": 3, "topic": "x"}, "variables.customer", "expected string"),
        ({**SUPPORT_VARS, "mood": "sad"}, "variables.mood", "Unknown variable 'mood'"),
    ],
)
def test_bad_variables_are_a_400_naming_the_variable_at_every_door(
    gw: RunningGateway, variables: dict[str, Any], param: str, words: str
) -> None:
    hi: Any = [{"role": "user", "content": "hi"}]
    with gw.openai() as c:
        with pytest.raises(openai.BadRequestError) as err:
            c.chat.completions.create(
                model="prompt:support-reply", messages=hi, extra_body={"variables": variables}
            )
        assert err.value.status_code == 400
        body: Any = err.value.body
        assert body["param"] == param and words in body["message"]
        with pytest.raises(openai.BadRequestError) as err:
            c.responses.create(
                model="prompt:support-reply", input="hi", extra_body={"variables": variables}
            )
        assert words in str(err.value)
    with (
        anthropic.Anthropic(base_url=gw.url, api_key="unused", max_retries=0) as a,
        pytest.raises(anthropic.BadRequestError) as aerr,
    ):
        a.messages.create(
            model="prompt:support-reply",
            max_tokens=10,
            messages=hi,
            extra_body={"variables": variables},
        )
    assert aerr.value.body["error"]["type"] == "invalid_request_error"  # type: ignore[index]
    assert words in str(aerr.value)
    records = gw.records()
    assert {r["status"] for r in records} == {"rejected"}
    # Refused for its variables, still counted against the prompt's version (refusal rate).
    assert {(r["prompt_name"], r["prompt_version"]) for r in records} == {("support-reply", 1)}


def test_unknown_prompt_label_and_plain_calls(gw: RunningGateway) -> None:
    hi: Any = [{"role": "user", "content": "hi"}]
    with gw.openai() as c:
        with pytest.raises(openai.NotFoundError):
            c.chat.completions.create(model="prompt:no-such-prompt", messages=hi)
        with pytest.raises(openai.BadRequestError, match="no label `canary`"):
            c.chat.completions.create(model="prompt:support-reply@canary", messages=hi)
        c.chat.completions.create(model="gpt-4o-mini", messages=hi)
    plain = gw.records()[-1]
    assert plain["status"] == "ok"
    assert (plain["prompt_name"], plain["prompt_hash"]) == (None, None)


def test_moving_a_label_takes_effect_without_restart_and_a_bad_edit_is_refused(
    gw: RunningGateway,
    prompts_root: Path,
    upstream: tuple[str, RecordingSim],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.ERROR, logger="daytwo.prompts")
    _, sim = upstream
    hi: Any = [{"role": "user", "content": "hi"}]

    def production_system() -> str:
        before = chat_count(sim)
        with gw.openai() as c:
            c.chat.completions.create(
                model="prompt:support-reply", messages=hi, extra_body={"variables": SUPPORT_VARS}
            )
        (body,) = sent(sim, before)
        return str(body["messages"][0]["content"])

    assert production_system() == V1_SYSTEM
    write_labels(prompts_root, {"support-reply": {"production": 2, "staging": 2}})  # promote
    wait_for(
        lambda: gw.app.prompts.current.labels["support-reply"]["production"] == 2,  # type: ignore[union-attr]
        what="the promoted label",
    )
    assert production_system() == V2_SYSTEM
    # a broken edit (a label pointing at no version) is refused; v2 stays in production
    write_labels(prompts_root, {"support-reply": {"production": 9}})
    (refused,) = wait_for(
        lambda: [r for r in caplog.records if "prompts reload refused" in r.getMessage()],
        what="the refusal's log line",
    )
    assert refused.problems == [  # type: ignore[attr-defined]
        "labels: support-reply.production: prompt `support-reply` has no version 9"
    ]
    assert production_system() == V2_SYSTEM


def test_a_gateway_without_prompts_says_so(
    tmp_path: Path, gateway_factory: Callable[..., RunningGateway]
) -> None:
    cfg = gateway_config(
        tmp_path / "ledger.db",
        {"sim": {"type": "sim", "sim": {"seed": 1}}},
        {"gpt-4o-mini": route("sim", "gpt-4o-mini")},
    )
    gw = gateway_factory(cfg)
    with gw.openai() as c, pytest.raises(openai.BadRequestError, match="serves no prompts"):
        c.chat.completions.create(
            model="prompt:support-reply", messages=[{"role": "user", "content": "hi"}]
        )


def test_a_prompt_with_an_anthropic_only_field_is_a_400_naming_it(gw: RunningGateway) -> None:
    with (
        anthropic.Anthropic(base_url=gw.url, api_key="unused", max_retries=0) as c,
        pytest.raises(anthropic.BadRequestError) as err,
    ):
        c.messages.create(
            model="prompt:support-reply",
            max_tokens=4000,
            thinking={"type": "enabled", "budget_tokens": 2000},
            messages=[{"role": "user", "content": "hi"}],
            extra_body={"variables": SUPPORT_VARS},
        )
    assert "cannot be combined with `thinking`" in str(err.value)


def test_a_config_reload_that_sets_the_prompt_directory_serves_it(
    tmp_path: Path, prompts_root: Path, gateway_factory: Callable[..., RunningGateway]
) -> None:
    cfg = gateway_config(
        tmp_path / "ledger.db",
        {"sim": {"type": "sim", "sim": {"seed": 1}}},
        {"gpt-4o-mini": route("sim", "gpt-4o-mini")},
    )
    cfg["server"] = {"reload_poll_s": 0.05}
    path = tmp_path / "daytwo.yaml"
    path.write_text(yaml.safe_dump(cfg))
    gw = gateway_factory(cfg, config_path=path)
    hi: Any = [{"role": "user", "content": "hi"}]
    with gw.openai() as c, pytest.raises(openai.BadRequestError, match="serves no prompts"):
        c.chat.completions.create(model="prompt:support-reply", messages=hi)
    # relative to the config file's folder, as documented
    cfg["prompts"] = {"dir": prompts_root.name, "labels": {"support-reply": {"production": 2}}}
    path.write_text(yaml.safe_dump(cfg))
    wait_for(lambda: gw.app.prompts.current is not None, what="the prompts to load")
    with gw.openai() as c:
        c.chat.completions.create(
            model="prompt:support-reply", messages=hi, extra_body={"variables": SUPPORT_VARS}
        )
    row = gw.records()[-1]
    assert (row["status"], row["prompt_version"]) == ("ok", 2)  # the config's label override


def test_a_keys_environment_picks_the_label_and_its_model_limits_apply(
    tmp_path: Path, prompts_root: Path, gateway_factory: Callable[..., RunningGateway]
) -> None:
    cfg = sim_config(tmp_path)
    cfg["gateway"] = {"require_keys": True, "key_cache_ttl_s": 0.05}
    cfg["prompts"] = {"dir": str(prompts_root)}
    gw = gateway_factory(cfg)
    store = KeyStore.open(cfg["ledger"]["url"])
    try:
        staging = store.create(KeySpec(project="p", environment="staging"), actor="test")
        embed_only = store.create(
            KeySpec(project="p", models=("text-embedding-3-small",)), actor="test"
        )
        gw.app.keys.refresh()  # type: ignore[union-attr]
        hi: Any = [{"role": "user", "content": "hi"}]
        with openai.OpenAI(base_url=gw.base_url, api_key=staging.secret, max_retries=0) as c:
            c.chat.completions.create(
                model="prompt:support-reply", messages=hi, extra_body={"variables": SUPPORT_VARS}
            )
        with (
            openai.OpenAI(base_url=gw.base_url, api_key=embed_only.secret, max_retries=0) as c,
            pytest.raises(openai.PermissionDeniedError, match="`gpt-4o-mini`"),
        ):
            c.chat.completions.create(
                model="prompt:support-reply", messages=hi, extra_body={"variables": SUPPORT_VARS}
            )
    finally:
        store.close()
    ok, denied = gw.records()[-2:]
    assert (ok["prompt_version"], ok["prompt_label"], ok["environment"]) == (
        2,
        "staging",
        "staging",
    )
    assert (denied["status"], denied["http_status"]) == ("rejected", 403)


def test_a_prompt_call_fails_over_is_cached_and_is_held_to_budgets_like_any_call(
    tmp_path: Path,
    prompts_root: Path,
    upstream: tuple[str, RecordingSim],
    gateway_factory: Callable[..., RunningGateway],
) -> None:
    root, sim = upstream
    cfg = gateway_config(
        tmp_path / "ledger.db",
        {
            # The primary answers 503 to everything: every call fails over to `up`.
            "down": {"type": "sim", "sim": {"seed": 1, "faults": {"rate_503": 1.0}}},
            "up": {"type": "openai", "base_url": f"{root}/v1"},
        },
        {
            "gpt-4o-mini": {
                "deployments": [
                    {"provider": "down", "model": "gpt-4o-mini"},
                    {"provider": "up", "model": "gpt-4o-mini"},
                ]
            }
        },
    )
    cfg["prompts"] = {"dir": str(prompts_root), "reload_poll_s": 0.05}
    cfg["cache"] = {"aliases": ["gpt-4o-mini"]}
    cfg["spend_control"] = {
        "budgets": [
            {"name": "tiny", "scope": {"project": "acme"}, "window": "day", "usd": "0.0000001"}
        ]
    }
    gw = gateway_factory(cfg)
    before = chat_count(sim)
    ask = {
        "model": "prompt:support-reply",
        "messages": [],
        "extra_body": {"variables": SUPPORT_VARS},
    }
    with gw.openai() as c:
        first = c.chat.completions.create(**ask)  # type: ignore[call-overload]
        wait_for(lambda: not gw.app.pipeline._settling, what="the cache write")
        second = c.chat.completions.create(**ask)  # type: ignore[call-overload]
        acme = {"x-daytwo-project": "acme"}
        with pytest.raises(openai.RateLimitError) as refused:
            c.chat.completions.create(**ask, extra_headers=acme)  # type: ignore[call-overload]
    assert second.choices[0].message.content == first.choices[0].message.content
    assert "tiny" in str(refused.value)
    (body,) = sent(sim, before)  # one upstream call (the failover); the repeat: from the cache
    assert_v1_sent(body)
    v1_hash = gw.app.prompts.current.versions["support-reply"][1].hash  # type: ignore[union-attr]
    rows = gw.records()
    assert [
        (r["provider"], r["attempts"], r["cache_status"], r["status"], r["prompt_version"])
        for r in rows
    ] == [("up", 2, None, "ok", 1), (None, 0, "hit", "ok", 1), (None, 0, None, "rejected", 1)]
    assert {r["prompt_hash"] for r in rows} == {v1_hash}
