"""The Anthropic door as a drop-in for Anthropic's own features, with the official ``anthropic``
SDK over real HTTP: token counting, structured outputs (``messages.parse``), extended thinking,
prompt caching (and what the ledger bills for it), ``top_k`` and beta headers -- relayed to an
Anthropic upstream (the simulator's ``/v1/messages``, recording what it received), translated
for an OpenAI-format one (the in-process simulator), and refused where no upstream can honour
them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anthropic
import pytest
from pydantic import BaseModel
from tests.gateway.harness import RunningGateway, http, route, sim_config
from tests.gateway.recording_sim import RecordingSim, recording_sim

from daytwo.core.tokens import estimate_input_tokens
from daytwo.gateway.anthropic_ingress import parse_count_tokens
from daytwo.keys.model import KeySpec
from daytwo.keys.store import KeyStore

pytestmark = pytest.mark.integration

USER = [{"role": "user", "content": "What is the weather like in Paris today?"}]
ALLOWED_BETA = "sim-feature-2025-01-01"
#: Prices of claude-sonnet-4-5 in the bundled catalog, in nano-dollars per token: input,
#: cache read, cache write, output (USD 3.00, 0.30, 3.75 and 15.00 per million).
SONNET_NANOS = (3_000, 300, 3_750, 15_000)


class City(BaseModel):
    name: str
    country: str
    population: int


@pytest.fixture(scope="module")
def upstream() -> Iterator[tuple[str, RecordingSim]]:
    with recording_sim() as running:
        yield running


@pytest.fixture
def gw(
    tmp_path: Path,
    upstream: tuple[str, RecordingSim],
    gateway_factory: Callable[..., RunningGateway],
) -> RunningGateway:
    root, _ = upstream
    cfg = claude_config(tmp_path, root, beta_headers=[ALLOWED_BETA])
    cfg["providers"]["gone"] = {"type": "anthropic", "base_url": "http://127.0.0.1:9"}
    cfg["models"]["claude"] = route("claude", "claude-sonnet-4-5")
    cfg["models"]["via-sim"] = route("sim", "gpt-4o-mini")
    cfg["models"]["mixed"] = {
        "deployments": [
            {"provider": "sim", "model": "gpt-4o-mini"},
            {"provider": "claude", "model": "claude-sonnet-4-5"},
        ]
    }
    cfg["models"]["claude-then-sim"] = {
        "deployments": [
            {"provider": "gone", "model": "claude-sonnet-4-5"},
            {"provider": "sim", "model": "gpt-4o-mini"},
        ]
    }
    return gateway_factory(cfg)


def claude_config(tmp_path: Path, root: str, **provider: Any) -> dict[str, Any]:
    """The simulator's config plus ``claude``: an Anthropic provider at the recording sim."""
    cfg = sim_config(tmp_path)
    cfg["providers"]["claude"] = {"type": "anthropic", "base_url": root, **provider}
    return cfg


def client(gw: RunningGateway, key: str = "unused") -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gw.url, api_key=key, max_retries=0)


def last_sent(sim: RecordingSim, path: str = "/v1/messages") -> dict[str, Any]:
    seen = sim.seen(path)
    assert seen, f"the upstream received no {path}"
    return seen[-1].body


# ----------------------------------------------------------------------- count_tokens


def test_count_tokens_is_the_anthropic_upstreams_own_count(
    gw: RunningGateway, upstream: tuple[str, RecordingSim]
) -> None:
    _, sim = upstream
    system = "You answer questions about cities. " * 10
    tools: Any = [{"name": "lookup", "input_schema": {"type": "object", "properties": {}}}]
    before = len(sim.seen("/v1/messages/count_tokens"))
    with client(gw) as c:
        raw = c.messages.with_raw_response.count_tokens(
            model="claude", messages=USER, system=system, tools=tools
        )
        counted = raw.parse()
        msg = c.messages.create(
            model="claude", max_tokens=20, messages=USER, system=system, tools=tools
        )
    assert raw.headers["x-daytwo-token-count"] == "upstream"
    assert counted.input_tokens > 0
    # exact: what the same request is billed as input
    assert counted.input_tokens == msg.usage.input_tokens
    sent = sim.seen("/v1/messages/count_tokens")
    assert len(sent) == before + 1
    assert sent[-1].body["model"] == "claude-sonnet-4-5" and sent[-1].body["system"] == system
    # a count is not a call: only the create left a ledger row
    assert [r["operation"] for r in gw.records()] == ["chat"]


def test_count_tokens_is_daytwos_estimate_for_an_openai_upstream(gw: RunningGateway) -> None:
    with client(gw) as c:
        raw = c.messages.with_raw_response.count_tokens(model="via-sim", messages=USER)
    assert raw.headers["x-daytwo-token-count"] == "estimate"
    body = json.dumps({"model": "via-sim", "messages": USER}).encode()
    assert raw.parse().input_tokens == estimate_input_tokens(parse_count_tokens(body).body) > 0
    assert gw.records() == []


def test_count_tokens_refusals_are_anthropic_errors(gw: RunningGateway) -> None:
    with client(gw) as c:
        with pytest.raises(anthropic.NotFoundError) as missing:
            c.messages.count_tokens(model="no-such-model", messages=USER)
        with pytest.raises(anthropic.BadRequestError) as bad:
            c.messages.count_tokens(model="claude", messages=[])
    assert missing.value.body["error"]["type"] == "not_found_error"  # type: ignore[index]
    assert bad.value.body == {  # type: ignore[comparison-overlap]
        "type": "error",
        "error": {
            "type": "invalid_request_error",
            "message": "messages: at least one message is required",
        },
    }
    status, _, raw = http("POST", gw.url + "/v1/messages/count_tokens", b"[1]")
    assert status == 400 and json.loads(raw)["type"] == "error"


def test_count_tokens_needs_a_key_that_may_use_the_model(
    tmp_path: Path,
    upstream: tuple[str, RecordingSim],
    gateway_factory: Callable[..., RunningGateway],
) -> None:
    cfg = sim_config(tmp_path)
    cfg["gateway"] = {"require_keys": True}
    cfg["models"]["other"] = route("sim", "gpt-4o-mini")
    gw = gateway_factory(cfg)
    store = KeyStore.open(cfg["ledger"]["url"])
    try:
        issued = store.create(KeySpec(project="p", models=("gpt-4o-mini",)), actor="test")
        gw.app.keys.refresh()  # type: ignore[union-attr]
    finally:
        store.close()
    with client(gw, issued.secret) as c:
        assert c.messages.count_tokens(model="gpt-4o-mini", messages=USER).input_tokens > 0
        with pytest.raises(anthropic.PermissionDeniedError):
            c.messages.count_tokens(model="other", messages=USER)
    with client(gw) as c, pytest.raises(anthropic.AuthenticationError):
        c.messages.count_tokens(model="gpt-4o-mini", messages=USER)


# ------------------------------------------------------------------ structured outputs


@pytest.mark.parametrize("alias", ["claude", "via-sim"])
def test_messages_parse_gives_the_pydantic_model(
    gw: RunningGateway, upstream: tuple[str, RecordingSim], alias: str
) -> None:
    _, sim = upstream
    with client(gw) as c:
        parsed = c.messages.parse(model=alias, max_tokens=400, messages=USER, output_format=City)
    city = parsed.parsed_output
    assert isinstance(city, City) and city.name
    if alias == "claude":  # relayed: the upstream got Anthropic's own output_config
        fmt = last_sent(sim)["output_config"]["format"]
        assert fmt["type"] == "json_schema" and set(fmt["schema"]["properties"]) == {
            "name",
            "country",
            "population",
        }
    (row,) = gw.records()
    assert row["status"] == "ok" and row["provider"] == ("claude" if alias == "claude" else "sim")


# ---------------------------------------------------------------------------- thinking


def test_thinking_blocks_arrive_and_are_counted(gw: RunningGateway) -> None:
    thinking: Any = {"type": "enabled", "budget_tokens": 1024}
    with client(gw) as c:
        raw = c.messages.with_raw_response.create(
            model="claude", max_tokens=2000, messages=USER, thinking=thinking
        )
    msg = raw.parse()
    first, answer = msg.content
    assert first.type == "thinking" and first.thinking and first.signature
    assert answer.type == "text" and answer.text
    details = msg.usage.output_tokens_details
    assert details is not None and 0 < details.thinking_tokens <= 1024
    row = gw.record(raw.headers["x-daytwo-call-id"])
    assert (row["output_tokens"], row["reasoning_tokens"]) == (
        msg.usage.output_tokens,
        details.thinking_tokens,
    )
    assert row["output_tokens"] > details.thinking_tokens


def test_streamed_thinking_reaches_the_client(gw: RunningGateway) -> None:
    thinking: Any = {"type": "enabled", "budget_tokens": 1024}
    with (
        client(gw) as c,
        c.messages.stream(
            model="claude", max_tokens=2000, messages=USER, thinking=thinking
        ) as stream,
    ):
        events = list(stream)
        final = stream.get_final_message()
    kinds = {e.delta.type for e in events if e.type == "content_block_delta"}
    assert {"thinking_delta", "signature_delta", "text_delta"} <= kinds
    block = final.content[0]
    assert block.type == "thinking" and block.thinking and block.signature
    (row,) = gw.records()
    assert row["stream"] == 1 and row["tokens_estimated"] == 0
    assert row["output_tokens"] == final.usage.output_tokens
    details = final.usage.output_tokens_details
    assert details is not None and row["reasoning_tokens"] == details.thinking_tokens > 0


def test_thinking_goes_only_to_anthropic_deployments(
    gw: RunningGateway, upstream: tuple[str, RecordingSim]
) -> None:
    _, sim = upstream
    thinking: Any = {"type": "enabled", "budget_tokens": 1024}
    with client(gw) as c:
        # `mixed` lists the OpenAI-format simulator first: thinking skips it
        msg = c.messages.create(model="mixed", max_tokens=2000, messages=USER, thinking=thinking)
        plain = c.messages.create(model="mixed", max_tokens=20, messages=USER)
        with pytest.raises(anthropic.BadRequestError) as info:
            c.messages.create(model="via-sim", max_tokens=2000, messages=USER, thinking=thinking)
    assert msg.content[0].type == "thinking"
    assert last_sent(sim)["thinking"] == thinking
    assert info.value.body == {  # type: ignore[comparison-overlap]
        "type": "error",
        "error": {
            "type": "invalid_request_error",
            "message": "`thinking` needs an anthropic upstream, and no deployment of the model "
            "`via-sim` is one.",
        },
    }
    rows = gw.records()
    assert [(r["provider"], r["http_status"]) for r in rows] == [
        ("claude", 200),
        ("sim", 200),  # without thinking, the first deployment answers
        (None, 400),
    ]
    assert plain.content[0].type == "text"


@pytest.mark.parametrize(
    ("thinking", "param"),
    [
        ({"type": "enabled"}, "thinking.budget_tokens"),
        ({"type": "enabled", "budget_tokens": 100}, "thinking.budget_tokens"),
        ({"type": "enabled", "budget_tokens": 4096}, "thinking.budget_tokens"),
        ({"type": "sometimes"}, "thinking.type"),
    ],
)
def test_a_bad_thinking_config_is_a_400_naming_the_field(
    gw: RunningGateway, thinking: dict[str, Any], param: str
) -> None:
    body = {"model": "claude", "max_tokens": 2000, "messages": USER, "thinking": thinking}
    status, _, raw = http("POST", gw.url + "/v1/messages", json.dumps(body).encode())
    error = json.loads(raw)["error"]
    assert status == 400 and error["type"] == "invalid_request_error"
    assert error["message"].startswith(param + ":")


# --------------------------------------------------------------------- prompt caching


def test_cache_control_reads_the_cache_on_the_second_call_and_bills_it(
    gw: RunningGateway,
) -> None:
    system: Any = [
        {
            "type": "text",
            "text": "You are a city guide. " * 60,
            "cache_control": {"type": "ephemeral"},
        }
    ]
    question = [{"role": "user", "content": "Tell me about Oslo."}]
    with client(gw) as c:
        first = c.messages.with_raw_response.create(
            model="claude", max_tokens=30, messages=question, system=system
        )
        second = c.messages.with_raw_response.create(
            model="claude", max_tokens=30, messages=question, system=system
        )
    wrote, read = first.parse().usage, second.parse().usage
    assert wrote.cache_creation_input_tokens and not wrote.cache_read_input_tokens
    assert read.cache_read_input_tokens == wrote.cache_creation_input_tokens
    assert not read.cache_creation_input_tokens
    for raw, usage in ((first, wrote), (second, read)):
        row = gw.record(raw.headers["x-daytwo-call-id"])
        cached, written = usage.cache_read_input_tokens or 0, usage.cache_creation_input_tokens or 0
        assert (row["cached_input_tokens"], row["cache_write_tokens"]) == (cached, written)
        assert row["input_tokens"] == usage.input_tokens + cached + written
        price_in, price_read, price_write, price_out = SONNET_NANOS
        assert row["cost_nanousd"] == (
            usage.input_tokens * price_in
            + cached * price_read
            + written * price_write
            + usage.output_tokens * price_out
        )


# ---------------------------------------------------------------- top_k, beta headers


def test_top_k_and_allowed_betas_reach_the_upstream(
    gw: RunningGateway, upstream: tuple[str, RecordingSim]
) -> None:
    _, sim = upstream
    with client(gw) as c:
        c.messages.create(
            model="claude",
            max_tokens=20,
            messages=USER,
            extra_body={"top_k": 5},  # SDK 2.x has no top_k argument; the API still takes it
            extra_headers={"anthropic-beta": f"not-allowed-2024-01-01,{ALLOWED_BETA}"},
        )
        sent = sim.seen("/v1/messages")[-1]
        c.messages.create(
            model="claude",
            max_tokens=20,
            messages=USER,
            extra_headers={"anthropic-beta": "not-allowed-2024-01-01"},
        )
        refused = sim.seen("/v1/messages")[-1]
    assert sent.body["top_k"] == 5 and sent.body["model"] == "claude-sonnet-4-5"
    assert sent.headers["anthropic-beta"] == ALLOWED_BETA  # the other flag was dropped
    assert "anthropic-beta" not in refused.headers
    assert "top_k" not in refused.body


# --------------------------------------------------------------------------- failover


def test_a_relayed_call_still_fails_over_to_an_openai_upstream(gw: RunningGateway) -> None:
    system: Any = [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}]
    with client(gw) as c:
        msg = c.messages.create(
            model="claude-then-sim",
            max_tokens=20,
            messages=USER,
            system=system,
            extra_body={"top_k": 3},
        )
        streamed = c.messages.create(
            model="claude-then-sim", max_tokens=20, messages=USER, stream=True
        )
        events = [e.type for e in streamed]
    assert msg.content[0].type == "text" and msg.content[0].text
    assert events[0] == "message_start" and events[-1] == "message_stop"
    rows = gw.records()
    assert [(r["status"], r["provider"], r["attempts"]) for r in rows] == [("ok", "sim", 2)] * 2


# ---------------------------------------------------------------------- response cache


def test_the_response_cache_keys_on_the_clients_body_and_never_answers_thinking(
    tmp_path: Path,
    upstream: tuple[str, RecordingSim],
    gateway_factory: Callable[..., RunningGateway],
) -> None:
    root, sim = upstream
    cfg = claude_config(tmp_path, root)
    cfg["models"]["claude"] = route("claude", "claude-sonnet-4-5")
    cfg["cache"] = {"backend": "memory", "aliases": ["claude"]}
    gw = gateway_factory(cfg)
    marked: Any = [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}]
    thinking: Any = {"type": "enabled", "budget_tokens": 1024}
    before = len(sim.seen("/v1/messages"))
    with client(gw) as c:
        c.messages.create(model="claude", max_tokens=20, messages=USER, system="Be brief.")
        c.messages.create(model="claude", max_tokens=20, messages=USER, system="Be brief.")
        # the same normalized request, another Anthropic body: not the cached answer
        c.messages.create(model="claude", max_tokens=20, messages=USER, system=marked)
        thought = [
            c.messages.create(model="claude", max_tokens=2000, messages=USER, thinking=thinking)
            for _ in range(2)
        ]
    assert [r["cache_status"] for r in gw.records()] == [None, "hit", None, None, None]
    assert len(sim.seen("/v1/messages")) == before + 4
    assert all(m.content[0].type == "thinking" for m in thought)


# ---------------------------------------------- content and tools only Anthropic understands


def test_documents_and_server_tools_reach_an_anthropic_upstream_only(
    gw: RunningGateway, upstream: tuple[str, RecordingSim]
) -> None:
    _, sim = upstream
    document: Any = {
        "type": "document",
        "source": {"type": "text", "media_type": "text/plain", "data": "Oslo is in Norway."},
        "citations": {"enabled": True},
    }
    messages: Any = [
        {"role": "user", "content": [document, {"type": "text", "text": "Where is Oslo?"}]}
    ]
    search: Any = {"type": "web_search_20250305", "name": "web_search", "max_uses": 1}
    with client(gw) as c:
        msg = c.messages.create(model="mixed", max_tokens=50, messages=messages, tools=[search])
        sent = last_sent(sim)
        with pytest.raises(anthropic.BadRequestError) as info:
            c.messages.create(model="via-sim", max_tokens=50, messages=messages)
    assert msg.content[0].type == "text"
    assert sent["messages"] == messages and sent["tools"] == [search]
    assert info.value.body["error"]["message"].startswith(  # type: ignore[index]
        "`messages.0.content.0` needs an anthropic upstream"
    )
    assert [(r["provider"], r["http_status"]) for r in gw.records()] == [
        ("claude", 200),
        (None, 400),
    ]


def test_an_anthropic_upstream_that_cannot_count_now_gives_the_estimate(
    gw: RunningGateway,
) -> None:
    # `claude-then-sim` is first served by an Anthropic provider nobody listens for
    with client(gw) as c:
        raw = c.messages.with_raw_response.count_tokens(model="claude-then-sim", messages=USER)
    assert raw.headers["x-daytwo-token-count"] == "estimate"
    body = json.dumps({"model": "m", "messages": USER}).encode()
    assert raw.parse().input_tokens == estimate_input_tokens(parse_count_tokens(body).body)


@pytest.mark.parametrize("alias", ["claude", "via-sim"])
def test_the_beta_clients_structured_outputs_and_token_count(
    gw: RunningGateway, upstream: tuple[str, RecordingSim], alias: str
) -> None:
    _, sim = upstream
    schema: Any = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
        "required": ["city", "days"],
        "additionalProperties": False,
    }
    with client(gw) as c:
        parsed = c.beta.messages.parse(
            model=alias, max_tokens=300, messages=USER, output_format=City
        )
        # the beta API's older top-level `output_format`, as raw JSON
        raw = c.beta.messages.create(
            model=alias,
            max_tokens=300,
            messages=USER,
            extra_body={"output_format": {"type": "json_schema", "schema": schema}},
        )
        counted = c.beta.messages.count_tokens(model=alias, messages=USER)
    assert isinstance(parsed.parsed_output, City)
    text = raw.content[0]
    assert text.type == "text" and set(json.loads(text.text)) == {"city", "days"}
    assert counted.input_tokens > 0
    if alias == "claude":  # relayed with the SDK's beta flag dropped (not allowed by config)
        seen = sim.seen("/v1/messages/count_tokens")[-1]
        assert "anthropic-beta" not in seen.headers


def test_a_deployments_adjustments_reach_the_relayed_body(
    tmp_path: Path,
    upstream: tuple[str, RecordingSim],
    gateway_factory: Callable[..., RunningGateway],
) -> None:
    root, sim = upstream
    cfg = claude_config(tmp_path, root)
    deployment = {
        "provider": "claude",
        "model": "claude-sonnet-4-5",
        "params": {"max_tokens": 7, "temperature": 0.1},
        "system_prefix": "House rules.",
    }
    cfg["models"]["claude"] = {"deployments": [deployment]}
    gw = gateway_factory(cfg)
    system: Any = [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}]
    with client(gw) as c:
        msg = c.messages.create(model="claude", max_tokens=300, messages=USER, system=system)
    sent = last_sent(sim)
    assert (sent["max_tokens"], sent["temperature"]) == (7, 0.1)
    assert sent["system"] == [{"type": "text", "text": "House rules."}, *system]
    assert msg.usage.output_tokens <= 7 and msg.stop_reason == "max_tokens"
