"""The spend bound under attack, over real HTTP (gateway + simulator; memory and real Redis):
requests that multiply output (`n`, `best_of`), every door against one budget, images, audio
and files against per-request caps, malformed tool calls, and streams that respect their cap
(never cut) or ignore it (cut only on the upstream's own count, or billed in full)."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import orjson
import pytest
from tests.gateway.harness import RunningGateway, http, route, wait_for
from tests.gateway.spend_harness import (
    MESSAGES,
    MODEL,
    chat_body,
    daily_budget,
    on_gateway_loop,
    settled,
    spend_config,
    state_settings,
    usd,
    worst_case,
)
from tests.media_samples import data_url, png

from daytwo.control.windows import window_at

pytestmark = pytest.mark.integration

ACME = {"x-daytwo-project": "acme"}
#: 400 KB of binary as base64: what a `file` or `input_audio` part carries.
BLOB = base64.b64encode(b"\x00\x01" * 200_000).decode()
BIG_PNG = data_url(png(1024, 1024))  # OpenAI high detail 765, Anthropic 1,398 tokens
SMALL_PNG = data_url(png(64, 64))  # 255 tokens


@pytest.fixture(params=["memory", "redis"])
def state(request: pytest.FixtureRequest) -> Iterator[dict[str, Any]]:
    yield from state_settings(request.param)


def _counter(gw: RunningGateway) -> Any:
    assert gw.app.spend is not None
    w = window_at("day", time.time(), ZoneInfo("UTC"))
    key = f"budget:acme-daily:project=acme:day:{w.id}"
    (c,) = on_gateway_loop(gw, gw.app.spend.state.counters([key]))
    return c


def _spent(gw: RunningGateway) -> int:
    return sum(r["cost_nanousd"] or 0 for r in gw.records())


async def _post_all(
    url: str, calls: list[tuple[str, dict[str, Any]]], headers: dict[str, str]
) -> list[tuple[int, bytes]]:
    """POST every (path, body) at once, one connection each; read each answer whole."""
    hdrs = {"content-type": "application/json", **headers}
    conn = aiohttp.TCPConnector(limit=0, force_close=True)
    async with aiohttp.ClientSession(connector=conn) as session:

        async def one(path: str, body: dict[str, Any]) -> tuple[int, bytes]:
            async with session.post(url + path, data=orjson.dumps(body), headers=hdrs) as r:
                return r.status, await r.read()

        return await asyncio.gather(*(one(p, b) for p, b in calls))


def _assert_bound_held(gw: RunningGateway, cap: int, total: int) -> None:
    """Spend on the ledger ≤ the cap (every call here respects its cap: nothing may be in
    flight past it), the counter agrees, and every reservation was settled or released."""
    wait_for(lambda: settled(gw), what="settlements")
    wait_for(lambda: len(gw.records()) == total, what=f"{total} ledger records")
    spent = _spent(gw)
    assert 0 < spent <= cap, (spent, cap)
    c = _counter(gw)
    assert c.reserved_nanos == 0
    assert c.spent_nanos == spent


# ------------------------------------------------------------------------ n and best_of


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_calls_asking_for_8_choices_cannot_spend_past_the_cap(
    tmp_path: Path,
    gateway_factory: Callable[..., RunningGateway],
    state: dict[str, Any],
    stream: bool,
) -> None:
    # 10 single-choice calls' worth; each call asks for 8 choices of 20 tokens (the simulator
    # makes every choice exactly 20 tokens long). Reserving one choice per call spent ~7x this.
    cap = 10 * worst_case()
    gw = gateway_factory(spend_config(tmp_path, {"state": state, "budgets": [daily_budget(cap)]}))
    body = orjson.loads(chat_body(stream=stream, n=8))
    results = asyncio.run(_post_all(gw.url, [("/v1/chat/completions", body)] * 60, ACME))
    statuses = [s for s, _ in results]
    assert set(statuses) == {200, 429}, statuses
    ok = [b for s, b in results if s == 200]
    if not stream:
        assert all(len(orjson.loads(b)["choices"]) == 8 for b in ok)
    _assert_bound_held(gw, cap, 60)
    billed = [r["output_tokens"] for r in gw.records() if r["status"] == "ok"]
    assert billed and all(t == 160 for t in billed)  # 8 choices x 20 tokens, all billed


def test_a_virtual_keys_budget_holds_against_calls_asking_for_8_choices(
    tmp_path: Path, gateway_factory: Callable[..., RunningGateway], state: dict[str, Any]
) -> None:
    """The case as reported: a key with its own small daily budget, 300 calls with `n: 8`
    (they ended at 7.2x the cap when one choice was reserved)."""
    from daytwo.keys.model import KeySpec
    from daytwo.keys.store import KeyStore

    cfg = spend_config(tmp_path, {"state": state})
    cfg["gateway"] = {"require_keys": True}
    gw = gateway_factory(cfg)
    cap = -(-10 * worst_case() // 1000) * 1000  # whole micro-dollars: a key budget's precision
    with KeyStore.open(cfg["ledger"]["url"]) as store:
        key = store.create(KeySpec(project="acme", budget=f"{usd(cap)}/day"), actor="test")
    assert gw.app.keys is not None
    gw.app.keys.refresh()
    body = orjson.loads(chat_body(n=8))
    auth = {"authorization": f"Bearer {key.secret}"}
    results = asyncio.run(_post_all(gw.url, [("/v1/chat/completions", body)] * 300, auth))
    statuses = [s for s, _ in results]
    assert set(statuses) == {200, 429}, statuses
    wait_for(lambda: settled(gw) and len(gw.records()) == 300, what="300 settled records")
    spent = sum(r["cost_nanousd"] or 0 for r in gw.records())
    assert 0 < spent <= cap, (spent, cap)


def test_best_of_is_reserved_for_every_candidate_and_must_be_an_integer(
    tmp_path: Path, gateway_factory: Callable[..., RunningGateway]
) -> None:
    gw = gateway_factory(spend_config(tmp_path, {"budgets": [daily_budget(2 * worst_case())]}))
    url = f"{gw.base_url}/chat/completions"
    status, _, body = http("POST", url, chat_body(best_of=3), ACME)
    assert status == 429, body  # three candidates' output does not fit in two calls' worth
    assert orjson.loads(body)["error"]["type"] == "budget_exceeded"
    assert http("POST", url, chat_body(), ACME)[0] == 200
    status, _, body = http("POST", url, chat_body(best_of="3"), ACME)
    assert status == 400
    assert orjson.loads(body)["error"]["param"] == "best_of"


def test_a_per_request_output_cap_counts_every_choice(
    tmp_path: Path, gateway_factory: Callable[..., RunningGateway]
) -> None:
    caps = [{"scope": {"project": "acme"}, "max_output_tokens": 10}]
    gw = gateway_factory(spend_config(tmp_path, {"request_caps": caps}))
    url = f"{gw.base_url}/chat/completions"
    status, _, body = http("POST", url, chat_body(n=2, max_tokens=6), ACME)
    err = orjson.loads(body)["error"]
    assert (status, err["code"]) == (429, "request_cap")
    assert "12 output tokens (2 choices of up to 6 each)" in err["message"]
    # no cap named: each of 3 choices gets its share of the 10 (3 each: 9 in all)
    plain = {"model": MODEL, "messages": MESSAGES, "n": 3}
    status, _, body = http("POST", url, orjson.dumps(plain), ACME)
    assert status == 200, body
    answer = orjson.loads(body)
    assert len(answer["choices"]) == 3
    assert answer["usage"]["completion_tokens"] == 9
    status, _, body = http("POST", url, orjson.dumps({**plain, "n": 11}), ACME)
    assert (status, orjson.loads(body)["error"]["code"]) == (429, "request_cap")


def test_a_per_request_usd_cap_counts_every_choice(
    tmp_path: Path, gateway_factory: Callable[..., RunningGateway]
) -> None:
    caps = [{"scope": {"project": "acme"}, "usd": usd(worst_case() * 3 // 2)}]
    gw = gateway_factory(spend_config(tmp_path, {"request_caps": caps}))
    url = f"{gw.base_url}/chat/completions"
    assert http("POST", url, chat_body(), ACME)[0] == 200
    status, _, body = http("POST", url, chat_body(n=2), ACME)
    err = orjson.loads(body)["error"]
    assert (status, err["code"], err["unit"]) == (429, "request_cap", "usd")


# ------------------------------------------------------------------------ every door, one budget


def _door_calls() -> list[tuple[str, dict[str, Any]]]:
    image = [
        {"type": "text", "text": "what is this?"},
        {"type": "image_url", "image_url": {"url": SMALL_PNG}},
    ]
    chat = {"model": MODEL, "messages": MESSAGES, "max_tokens": 20}
    anthropic = {"model": MODEL, "messages": MESSAGES, "max_tokens": 20}
    responses = {"model": MODEL, "input": "hello there", "max_output_tokens": 20}
    small = base64.b64encode(b"\x07" * 6000).decode()
    audio = [{"type": "input_audio", "input_audio": {"data": small, "format": "wav"}}]
    file = [{"type": "file", "file": {"file_data": f"data:application/pdf;base64,{small}"}}]
    return [
        ("/v1/chat/completions", chat),
        ("/v1/chat/completions", {**chat, "n": 3}),
        ("/v1/chat/completions", {**chat, "messages": [{"role": "user", "content": audio}]}),
        ("/v1/chat/completions", {**chat, "messages": [{"role": "user", "content": file}]}),
        ("/v1/chat/completions", {**chat, "stream": True, "n": 2}),
        ("/v1/chat/completions", {**chat, "messages": [{"role": "user", "content": image}]}),
        ("/v1/messages", anthropic),
        ("/v1/messages", {**anthropic, "stream": True}),
        (
            "/v1/messages",
            {
                **anthropic,
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {
                                "type": "image",
                                "source": {
                                    "type": "base64",
                                    "media_type": "image/png",
                                    "data": BIG_PNG.split(",", 1)[1],
                                },
                            }
                        ],
                    }
                ],
            },
        ),
        ("/v1/responses", responses),
        ("/v1/responses", {**responses, "stream": True}),
        (
            "/v1/responses",
            {
                **responses,
                "input": [
                    {"role": "user", "content": [{"type": "input_image", "image_url": BIG_PNG}]}
                ],
            },
        ),
    ]


def test_every_door_against_one_budget_never_spends_past_it(
    tmp_path: Path, gateway_factory: Callable[..., RunningGateway], state: dict[str, Any]
) -> None:
    cap = 200 * worst_case()
    gw = gateway_factory(spend_config(tmp_path, {"state": state, "budgets": [daily_budget(cap)]}))
    calls = _door_calls() * 12
    results = asyncio.run(_post_all(gw.url, calls, ACME))
    statuses = [s for s, _ in results]
    assert set(statuses) == {200, 429}, [(s, b[:200]) for s, b in results if s not in (200, 429)]
    _assert_bound_held(gw, cap, len(calls))
    doors = {r["alias"] for r in gw.records() if r["status"] == "ok"}
    assert doors == {MODEL}


# ------------------------------------------------------------------------ non-text input vs caps


#: A model that counts images by the gpt-4o and Claude formulas (gpt-4o-mini has its own).
GPT4O = "gpt-4o"


def _chat_part(part: dict[str, Any], model: str = GPT4O) -> tuple[str, dict[str, Any]]:
    msgs = [{"role": "user", "content": [{"type": "text", "text": "read this"}, part]}]
    return "/v1/chat/completions", {"model": model, "messages": msgs, "max_tokens": 5}


def _anthropic_image(url: str) -> tuple[str, dict[str, Any]]:
    block = {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/png", "data": url.split(",", 1)[1]},
    }
    body = {"model": GPT4O, "max_tokens": 5, "messages": [{"role": "user", "content": [block]}]}
    return "/v1/messages", body


def _responses_image(url: str) -> tuple[str, dict[str, Any]]:
    content = [{"type": "input_image", "image_url": url, "detail": "high"}]
    body = {"model": GPT4O, "max_output_tokens": 5, "input": [{"role": "user", "content": content}]}
    return "/v1/responses", body


OVERSIZED = {
    "chat-file": _chat_part(
        {
            "type": "file",
            "file": {"filename": "a.pdf", "file_data": f"data:application/pdf;base64,{BLOB}"},
        }
    ),
    "chat-audio": _chat_part(
        {"type": "input_audio", "input_audio": {"data": BLOB, "format": "wav"}}
    ),
    "chat-image": _chat_part(
        {"type": "image_url", "image_url": {"url": BIG_PNG, "detail": "high"}}
    ),
    "chat-image-low": _chat_part(
        {"type": "image_url", "image_url": {"url": BIG_PNG, "detail": "low"}}
    ),
    "chat-remote-image": _chat_part(
        {"type": "image_url", "image_url": {"url": "https://images.example/cat.png"}}
    ),
    "anthropic-image": _anthropic_image(BIG_PNG),
    "responses-image": _responses_image(BIG_PNG),
}


def test_images_audio_and_files_cannot_slip_past_max_input_tokens(
    tmp_path: Path, gateway_factory: Callable[..., RunningGateway]
) -> None:
    caps = [{"scope": {"project": "acme"}, "max_input_tokens": 1000}]
    cfg = spend_config(tmp_path, {"request_caps": caps})
    cfg["models"][GPT4O] = route("sim", GPT4O)
    gw = gateway_factory(cfg)
    for name, (path, body) in OVERSIZED.items():
        status, _, raw = http("POST", gw.url + path, orjson.dumps(body), ACME)
        assert status == 429, (name, raw[:300])
        err = orjson.loads(raw)["error"]
        assert err["code"] == "request_cap", name
        assert "input tokens" in err["message"], name
    # the cap is not a blanket refusal of images: a small one passes through every door
    for path, body in (
        _chat_part({"type": "image_url", "image_url": {"url": SMALL_PNG}}),
        _anthropic_image(SMALL_PNG),
        _responses_image(SMALL_PNG),
    ):
        status, _, raw = http("POST", gw.url + path, orjson.dumps(body), ACME)
        assert status == 200, (path, raw[:300])
    # files on the doors that cannot carry them are refused by name, not let through
    pdf = f"data:application/pdf;base64,{BLOB}"
    content = [{"type": "input_file", "file_data": pdf, "filename": "a.pdf"}]
    body = {"model": MODEL, "input": [{"role": "user", "content": content}]}
    status, _, raw = http("POST", f"{gw.base_url}/responses", orjson.dumps(body), ACME)
    assert status == 400, raw[:300]
    doc = {
        "type": "document",
        "source": {"type": "base64", "media_type": "application/pdf", "data": BLOB},
    }
    body = {"model": MODEL, "max_tokens": 5, "messages": [{"role": "user", "content": [doc]}]}
    status, _, raw = http("POST", f"{gw.base_url}/messages", orjson.dumps(body), ACME)
    assert status == 400, raw[:300]


def test_an_image_for_gpt_4o_mini_counts_by_its_own_published_formula(
    tmp_path: Path, gateway_factory: Callable[..., RunningGateway]
) -> None:
    """gpt-4o-mini counts an image as 2,833 + 5,667 a tile (33x gpt-4o's count, at a price
    17x lower): counted by gpt-4o's formula it would slip past a cap 18x over. A route that
    may fail over to it counts the same."""
    caps = [{"scope": {"project": "acme"}, "max_input_tokens": 20_000}]
    cfg = spend_config(tmp_path, {"request_caps": caps})
    cfg["models"][GPT4O] = route("sim", GPT4O)
    cfg["models"]["vision-any"] = {
        "deployments": [{"provider": "sim", "model": GPT4O}, {"provider": "sim", "model": MODEL}]
    }
    gw = gateway_factory(cfg)
    image = {"type": "image_url", "image_url": {"url": BIG_PNG}}  # 1024x1024: 4 tiles
    for model, status in ((GPT4O, 200), (MODEL, 429), ("vision-any", 429)):
        path, body = _chat_part(image, model)
        got, _, raw = http("POST", gw.url + path, orjson.dumps(body), ACME)
        assert got == status, (model, raw[:300])
        if status == 429:
            err = orjson.loads(raw)["error"]
            assert err["code"] == "request_cap"
            assert 2833 + 4 * 5667 <= err["spend"] < 2833 + 4 * 5667 + 20  # + the text


def test_content_only_an_anthropic_upstream_reads_is_counted_too(
    tmp_path: Path, gateway_factory: Callable[..., RunningGateway]
) -> None:
    """The Anthropic door relays the client's own body to an Anthropic upstream, with content
    the normalized body leaves out (documents, images inside tool results): the count reads
    the client's body as well, so such content cannot slip past a cap either."""
    from tests.gateway.harness import sim_config

    from daytwo.config.schema import SimSettings
    from daytwo.providers.sim.run import running_sim_server

    pdf = {"type": "base64", "media_type": "application/pdf", "data": BLOB}
    image = {"type": "base64", "media_type": "image/png", "data": BIG_PNG.split(",", 1)[1]}
    cases = {
        "document": [{"type": "document", "source": pdf}],
        "document-by-url": [
            {"type": "document", "source": {"type": "url", "url": "https://docs.example/a.pdf"}}
        ],
        "image-in-tool-result": [
            {
                "type": "tool_result",
                "tool_use_id": "t1",
                "content": [{"type": "image", "source": image}],
            }
        ],
    }
    with running_sim_server(SimSettings()) as url:
        cfg = sim_config(tmp_path)
        cfg["spend_control"] = {
            "request_caps": [{"scope": {"project": "acme"}, "max_input_tokens": 1000}]
        }
        cfg["providers"]["claude"] = {"type": "anthropic", "base_url": url.removesuffix("/v1")}
        cfg["models"]["via-anthropic"] = route("claude", "claude-sonnet-4-5")
        gw = gateway_factory(cfg)

        def ask(content: list[dict[str, Any]]) -> tuple[int, bytes]:
            messages: list[dict[str, Any]] = [{"role": "user", "content": content}]
            if content[0]["type"] == "tool_result":
                call = {"type": "tool_use", "id": "t1", "name": "shot", "input": {}}
                messages = [
                    {"role": "user", "content": "take a screenshot"},
                    {"role": "assistant", "content": [call]},
                    *messages,
                ]
            body = {"model": "via-anthropic", "max_tokens": 5, "messages": messages}
            status, _, raw = http("POST", f"{gw.base_url}/messages", orjson.dumps(body), ACME)
            return status, raw

        for name, content in cases.items():
            status, raw = ask(content)
            assert status == 429, (name, raw[:300])
            assert orjson.loads(raw)["error"]["code"] == "request_cap", name
        small = {"type": "text", "media_type": "text/plain", "data": "a short note"}
        status, raw = ask(
            [{"type": "text", "text": "sum up"}, {"type": "document", "source": small}]
        )
        assert status == 200, raw[:300]


# ------------------------------------------------------------------------ malformed tool_calls


@pytest.mark.parametrize(
    ("tool_calls", "param"),
    [
        (5, "messages[1].tool_calls"),
        ([5], "messages[1].tool_calls[0]"),
        ([{"id": "c1", "type": "function"}], "messages[1].tool_calls[0].function"),
        ([{"function": "f"}], "messages[1].tool_calls[0].function"),
        ([{"function": {"name": 1, "arguments": "{}"}}], "messages[1].tool_calls[0].function.name"),
    ],
)
def test_malformed_tool_calls_are_a_400_naming_the_field_when_a_budget_applies(
    tmp_path: Path,
    gateway_factory: Callable[..., RunningGateway],
    tool_calls: Any,
    param: str,
) -> None:
    gw = gateway_factory(spend_config(tmp_path, {"budgets": [daily_budget(100 * worst_case())]}))
    messages = [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": None, "tool_calls": tool_calls},
        {"role": "user", "content": "go on"},
    ]
    status, _, raw = http(
        "POST", f"{gw.base_url}/chat/completions", chat_body(messages=messages), ACME
    )
    assert status == 400, raw
    err = orjson.loads(raw)["error"]
    assert err["param"] == param
    assert param in err["message"]
    wait_for(lambda: len(gw.records()) == 1)
    assert gw.records()[0]["status"] == "rejected"


# ------------------------------------------------------------------------ streams and the cap

#: Text a tokenizer packs into few tokens per character, or the other way round: the old
#: characters / 4 guard cut all of these (every one is longer than its (100 x 1.1 + 16) x 4 = 504
#: characters at well under 100 tokens).
COMPLIANT_TEXTS = {
    "long-words": " ".join(
        ["internationalization", "counterrevolutionaries", "electroencephalography"] * 14
    ),
    "code": "configuration_manager_instance.retrieve_environment_variables(timeout)\n" * 9,
    "cjk": "。".join(["日本語のテキストは単語の間に空白がありません"] * 30),
    "emoji": " ".join(["😀🎉🚀✨🔥🌍🧪📈🤖💡🎯🛰🧭🪐🌈"] * 40),
}


def _stream_events(raw: bytes) -> list[bytes]:
    return [e.removeprefix(b"data: ") for e in raw.split(b"\n\n") if e.strip()]


@pytest.mark.parametrize("guard", ["trusted", "enforce_output_cap"])
@pytest.mark.parametrize("kind", list(COMPLIANT_TEXTS))
def test_a_stream_that_respects_max_tokens_is_never_cut(
    tmp_path: Path, gateway_factory: Callable[..., RunningGateway], kind: str, guard: str
) -> None:
    cfg = spend_config(tmp_path, {"budgets": [daily_budget(1000 * worst_case())]})
    if guard == "enforce_output_cap":
        cfg["providers"]["sim"]["enforce_output_cap"] = True
    gw = gateway_factory(cfg)
    text = COMPLIANT_TEXTS[kind]
    schema = {"type": "object", "properties": {"t": {"const": text}}}
    fmt = {"type": "json_schema", "json_schema": {"name": "t", "schema": schema}}
    opts = {"include_usage": True, "continuous_usage_stats": guard == "enforce_output_cap"}
    body = chat_body(stream=True, max_tokens=100, response_format=fmt, stream_options=opts)
    status, _, raw = http("POST", f"{gw.base_url}/chat/completions", body, ACME)
    assert status == 200
    events = _stream_events(raw)
    assert events[-1] == b"[DONE]"
    chunks = [orjson.loads(e) for e in events[:-1]]
    assert not any("error" in c for c in chunks)
    streamed = "".join(
        c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"]
    )
    assert orjson.loads(streamed) == {"t": text}  # the whole answer arrived
    assert len(streamed) > 504  # what the characters / 4 guard used to cut at
    usage = chunks[-1]["usage"]
    assert usage["completion_tokens"] <= 100
    wait_for(lambda: settled(gw) and len(gw.records()) == 1)
    (row,) = gw.records()
    assert (row["status"], row["output_tokens"]) == ("ok", usage["completion_tokens"])


def test_a_translated_stream_on_a_guarded_provider_is_not_cut_on_a_billing_guess(
    tmp_path: Path, gateway_factory: Callable[..., RunningGateway]
) -> None:
    """An Anthropic upstream reports its output count only at the end; until then daytwo's
    running billing figure for the stream is a guess from the text. The guard of an
    `enforce_output_cap` provider reads the upstream's own count only, so compliant streams
    of ordinary prose at `max_tokens: 100` all complete."""
    from tests.gateway.harness import sim_config

    from daytwo.config.schema import SimSettings
    from daytwo.providers.sim.run import running_sim_server

    with running_sim_server(SimSettings(min_output_tokens=100, max_output_tokens=100)) as url:
        cfg = sim_config(tmp_path)
        cfg["spend_control"] = {"budgets": [daily_budget(10**12)]}  # $1,000: room for every call
        cfg["providers"]["claude"] = {
            "type": "anthropic",
            "base_url": url.removesuffix("/v1"),
            "enforce_output_cap": True,
        }
        cfg["models"]["via-anthropic"] = route("claude", "claude-sonnet-4-5")
        gw = gateway_factory(cfg)
        body = {
            "model": "via-anthropic",
            "messages": MESSAGES,
            "max_tokens": 100,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        results = asyncio.run(_post_all(gw.url, [("/v1/chat/completions", body)] * 10, ACME))
        for status, raw in results:
            assert status == 200
            assert _stream_events(raw)[-1] == b"[DONE]", _stream_events(raw)[-2:]
        wait_for(lambda: settled(gw) and len(gw.records()) == 10)
        assert {(r["status"], r["output_tokens"]) for r in gw.records()} == {("ok", 100)}


def test_a_stream_without_a_usage_report_is_billed_at_most_its_reservation(
    tmp_path: Path, gateway_factory: Callable[..., RunningGateway]
) -> None:
    """An upstream that reports no usage: the stream is billed by its text (4 characters a
    token), but never past the output it was sent as its cap -- long words do not inflate it."""
    cfg = spend_config(
        tmp_path, {"budgets": [daily_budget(1000 * worst_case())]}, stream_usage=False
    )
    gw = gateway_factory(cfg)
    text = COMPLIANT_TEXTS["long-words"]
    schema = {"type": "object", "properties": {"t": {"const": text}}}
    fmt = {"type": "json_schema", "json_schema": {"name": "t", "schema": schema}}
    body = chat_body(stream=True, max_tokens=100, response_format=fmt)
    status, _, raw = http("POST", f"{gw.base_url}/chat/completions", body, ACME)
    assert status == 200
    events = _stream_events(raw)
    assert events[-1] == b"[DONE]"
    streamed = "".join(
        c["choices"][0]["delta"].get("content") or ""
        for c in map(orjson.loads, events[:-1])
        if c["choices"]
    )
    assert len(streamed) // 4 > 100  # characters / 4 alone would bill more than was reserved
    wait_for(lambda: settled(gw) and len(gw.records()) == 1)
    (row,) = gw.records()
    assert row["tokens_estimated"]
    assert row["status"] == "ok" and 0 < row["output_tokens"] <= 100


def test_100_prose_streams_at_max_tokens_100_all_complete(
    tmp_path: Path, gateway_factory: Callable[..., RunningGateway]
) -> None:
    cfg = spend_config(tmp_path, {"budgets": [daily_budget(1000 * worst_case())]})
    cfg["providers"]["sim"]["sim"].update(min_output_tokens=100, max_output_tokens=100)
    gw = gateway_factory(cfg)
    body = orjson.loads(chat_body(stream=True, max_tokens=100))
    results = asyncio.run(_post_all(gw.url, [("/v1/chat/completions", body)] * 100, ACME))
    for status, raw in results:
        assert status == 200
        events = _stream_events(raw)
        assert events[-1] == b"[DONE]", events[-2:]
    wait_for(lambda: settled(gw) and len(gw.records()) == 100)
    rows = gw.records()
    assert {(r["status"], r["output_tokens"]) for r in rows} == {("ok", 100)}


def test_an_upstream_ignoring_max_tokens_is_billed_in_full_when_not_guarded(
    tmp_path: Path, gateway_factory: Callable[..., RunningGateway]
) -> None:
    """Without `enforce_output_cap` daytwo trusts the cap it sent: the stream is not cut, and
    what the upstream produced past the reservation is billed (the overshoot the guarantee
    names)."""
    cfg = spend_config(
        tmp_path, {"budgets": [daily_budget(1000 * worst_case())]}, ignore_max_tokens=True
    )
    cfg["providers"]["sim"]["sim"].update(min_output_tokens=200, max_output_tokens=200)
    gw = gateway_factory(cfg)
    status, _, raw = http(
        "POST", f"{gw.base_url}/chat/completions", chat_body(stream=True, max_tokens=5), ACME
    )
    assert status == 200
    assert _stream_events(raw)[-1] == b"[DONE]"
    wait_for(lambda: settled(gw) and len(gw.records()) == 1)
    (row,) = gw.records()
    assert (row["status"], row["output_tokens"]) == ("ok", 200)
    assert _counter(gw).spent_nanos == row["cost_nanousd"] > 0
