"""The providers matrix of docs/providers.md, cell by cell, over real HTTP: each client door --
OpenAI Chat Completions and Embeddings (``openai`` SDK), Anthropic Messages (``anthropic`` SDK),
OpenAI Responses (``openai`` SDK) -- against each upstream type: ``openai``, ``azure_openai``,
``anthropic``, ``gemini`` and ``bedrock`` (the simulator's doors over loopback, one required key
for all) and ``sim`` (in-process). Each test checks what the client sees and the ledger row.

The simulator's answers are 40 tokens of prose whose first sentence ends within 14 tokens, so a
stop sequence ``.`` must end an answer early. Usage details it never reports (cached input,
cache writes, reasoning) are proven in test_provider_matrix_usage.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest
from tests.gateway.harness import RunningGateway
from tests.gateway.matrix_harness import (
    ANSWER_TOKENS,
    ASK,
    CITY_SCHEMA,
    EGRESSES,
    LINK,
    LINK_TOKENS,
    PNG,
    USER,
    WEATHER_SCHEMA,
    Calls,
    Egress,
    assert_error_row,
    assert_ok_rows,
    assert_rejected,
    body,
    matrix_gateway,
    stop_words,
)

from daytwo.config.schema import SimFaults, SimSettings

pytestmark = pytest.mark.integration

egresses = pytest.mark.parametrize("egress", EGRESSES, ids=lambda e: e.name)


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    sim = SimSettings(seed=17, min_output_tokens=ANSWER_TOKENS, max_output_tokens=ANSWER_TOKENS)
    with matrix_gateway(tmp_path_factory.mktemp("matrix") / "ledger.db", sim) as running:
        yield running


@pytest.fixture(scope="module", params=["429", "503"])
def faulty(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[int, RunningGateway]]:
    """A gateway whose every upstream answers 429 (retry-after 3 s) or is overloaded."""
    faults = SimFaults(rate_429=1.0, retry_after_s=3) if request.param == "429" else None
    sim = SimSettings(seed=17, faults=faults or SimFaults(rate_503=1.0))
    with matrix_gateway(tmp_path_factory.mktemp(f"fault{request.param}") / "l.db", sim) as gw:
        yield int(request.param), gw


@pytest.fixture
def calls(gw: RunningGateway) -> Iterator[Calls]:
    c = Calls(gw)
    yield c
    c.close()


@pytest.fixture
def failing(faulty: tuple[int, RunningGateway]) -> Iterator[tuple[int, Calls]]:
    status, gw = faulty
    c = Calls(gw)
    yield status, c
    c.close()


# ============================================================ /v1/chat/completions (openai SDK)


@egresses
def test_openai_chat(calls: Calls, egress: Egress) -> None:
    done = calls.openai.chat.completions.create(model=egress.alias, messages=USER)
    choice = done.choices[0]
    assert choice.message.content and choice.finish_reason == "stop"
    assert done.model == egress.served and done.usage is not None
    assert done.usage.completion_tokens == ANSWER_TOKENS
    (row,) = calls.rows()
    assert_ok_rows([row], egress, 1)
    assert (row["input_tokens"], row["output_tokens"]) == (
        done.usage.prompt_tokens,
        done.usage.completion_tokens,
    )


@egresses
def test_openai_stream(calls: Calls, egress: Egress) -> None:
    chunks = list(
        calls.openai.chat.completions.create(
            model=egress.alias,
            messages=USER,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    text = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
    finishes = [ch.choices[0].finish_reason for ch in chunks if ch.choices]
    usage = chunks[-1].usage
    assert text and finishes[-1] == "stop" and usage is not None and not chunks[-1].choices
    assert usage.completion_tokens == ANSWER_TOKENS
    (row,) = calls.rows()
    assert_ok_rows([row], egress, 1)
    assert (row["input_tokens"], row["output_tokens"], row["stream"]) == (
        usage.prompt_tokens,
        usage.completion_tokens,
        1,
    )


TOOLS: list[Any] = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather for a city",
            "parameters": WEATHER_SCHEMA,
        },
    }
]


@egresses
def test_openai_tool_calls_plain_streamed_and_answered(calls: Calls, egress: Egress) -> None:
    chat = calls.openai.chat.completions
    first = chat.create(model=egress.alias, messages=ASK, tools=TOOLS, tool_choice="required")
    named: Any = {"type": "function", "function": {"name": "get_weather"}}
    chunks = list(
        chat.create(model=egress.alias, messages=ASK, tools=TOOLS, tool_choice=named, stream=True)
    )
    (call,) = first.choices[0].message.tool_calls or []
    assert first.choices[0].finish_reason == "tool_calls" and call.type == "function"
    assert call.function.name == "get_weather"
    assert set(json.loads(call.function.arguments)) == {"city", "days"}
    deltas = [tc for ch in chunks if ch.choices for tc in ch.choices[0].delta.tool_calls or ()]
    assert deltas[0].function is not None and deltas[0].function.name == "get_weather"
    args = "".join(tc.function.arguments or "" for tc in deltas if tc.function)
    assert set(json.loads(args)) == {"city", "days"}
    assert [ch.choices[0].finish_reason for ch in chunks if ch.choices][-1] == "tool_calls"
    follow_up: Any = [
        *ASK,
        first.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "Sunny, 24 degrees"},
    ]
    answered = chat.create(model=egress.alias, tools=TOOLS, messages=follow_up)
    # the result went back up: the model now answers in text
    assert answered.choices[0].message.content and answered.choices[0].finish_reason == "stop"
    assert_ok_rows(calls.rows(), egress, 3)


@egresses
def test_openai_json_schema_mode(calls: Calls, egress: Egress) -> None:
    fmt: Any = {"type": "json_schema", "json_schema": {"name": "city", "schema": CITY_SCHEMA}}
    if egress.name == "anthropic":  # structured outputs, yes; JSON mode without a schema, no
        with pytest.raises(openai.BadRequestError) as info:
            calls.openai.chat.completions.create(
                model=egress.alias,
                messages=USER,
                response_format={"type": "json_object"},
            )
        assert_rejected(calls, "response_format", info.value)
    done = calls.openai.chat.completions.create(
        model=egress.alias,
        messages=USER,
        response_format=fmt,
    )
    value = json.loads(done.choices[0].message.content or "")
    assert set(value) == {"name", "population"} and isinstance(value["population"], int)
    assert done.choices[0].finish_reason == "stop"
    rows = calls.rows()
    if egress.name == "anthropic":
        assert rows[0]["http_status"] == 400
        rows = rows[1:]
    assert_ok_rows(rows, egress, 1)


def _user_parts(*parts: dict[str, Any]) -> list[Any]:
    return [{"role": "user", "content": [{"type": "text", "text": "What is this?"}, *parts]}]


@egresses
def test_openai_image_parts(calls: Calls, egress: Egress) -> None:
    chat = calls.openai.chat.completions
    bare = chat.create(model=egress.alias, messages=_user_parts())
    inline = chat.create(
        model=egress.alias, messages=_user_parts({"type": "image_url", "image_url": {"url": PNG}})
    )
    assert bare.usage is not None and inline.usage is not None
    assert inline.usage.prompt_tokens - bare.usage.prompt_tokens == egress.image_tokens
    linked = _user_parts({"type": "image_url", "image_url": {"url": LINK}})
    if egress.refuses_image_links:
        with pytest.raises(openai.BadRequestError) as info:
            chat.create(model=egress.alias, messages=linked)
        assert body(info.value)["param"] == "messages[0].content[1].image_url"
        return
    by_link = chat.create(model=egress.alias, messages=linked)
    assert by_link.usage is not None
    assert by_link.usage.prompt_tokens - bare.usage.prompt_tokens == LINK_TOKENS


@egresses
def test_openai_stop_max_tokens_and_sampling(calls: Calls, egress: Egress) -> None:
    chat = calls.openai.chat.completions
    stopped = chat.create(
        model=egress.alias,
        messages=USER,
        stop=["."],
        temperature=0.5,
        top_p=0.9,
    )
    stop_words(stopped.choices[0].message.content or "")
    assert stopped.choices[0].finish_reason == "stop"
    assert stopped.usage is not None and 0 < stopped.usage.completion_tokens < ANSWER_TOKENS
    capped = chat.create(model=egress.alias, messages=USER, max_tokens=5)
    assert capped.choices[0].finish_reason == "length"
    assert capped.usage is not None and capped.usage.completion_tokens == 5
    assert_ok_rows(calls.rows(), egress, 2)


@egresses
def test_openai_embeddings(calls: Calls, egress: Egress) -> None:
    alias = f"{egress.alias}-embed"
    if egress.embed_model is None:  # Anthropic has no embeddings API
        with pytest.raises(openai.BadRequestError) as info:
            calls.openai.embeddings.create(model=alias, input="hello")
        assert_rejected(calls, "model", info.value)
        return
    # the SDK asks for base64 and decodes it
    resp = calls.openai.embeddings.create(model=alias, input=["hello", "world"], dimensions=256)
    assert [len(d.embedding) for d in resp.data] == [256, 256]
    assert abs(sum(x * x for x in resp.data[0].embedding) - 1.0) < 1e-3
    (row,) = calls.rows()
    assert (row["status"], row["provider"]) == ("ok", egress.name)
    assert row["input_tokens"] == resp.usage.prompt_tokens > 0
    assert row["tokens_estimated"] == (egress.name == "gemini")  # Gemini reports no tokens


@egresses
def test_openai_upstream_errors_keep_status_and_retry_after(
    failing: tuple[int, Calls], egress: Egress
) -> None:
    status, calls = failing
    if status == 429:
        with pytest.raises(openai.RateLimitError) as info:
            calls.openai.chat.completions.create(model=egress.alias, messages=USER)
        egress.assert_retry_after(info.value.response.headers)
        assert body(info.value)["type"] == "rate_limit_error"
    else:  # overloaded: 503 before the stream opens, whatever the upstream's own status
        with pytest.raises(openai.InternalServerError) as err:
            calls.openai.chat.completions.create(model=egress.alias, messages=USER, stream=True)
        assert err.value.status_code == 503
    assert_error_row(calls, egress, status)


# ========================================================= /v1/messages (anthropic SDK)


def assert_anthropic_row(row: dict[str, Any], egress: Egress, usage: Any) -> None:
    assert_ok_rows([row], egress, 1)
    cached = (usage.cache_read_input_tokens or 0) + (usage.cache_creation_input_tokens or 0)
    assert row["input_tokens"] == usage.input_tokens + cached
    assert row["output_tokens"] == usage.output_tokens


@egresses
def test_anthropic_chat(calls: Calls, egress: Egress) -> None:
    msg = calls.anthropic.messages.create(model=egress.alias, max_tokens=200, messages=USER)
    (block,) = msg.content
    assert block.type == "text" and block.text and msg.stop_reason == "end_turn"
    assert msg.model == egress.served and msg.usage.output_tokens == ANSWER_TOKENS
    (row,) = calls.rows()
    assert_anthropic_row(row, egress, msg.usage)


@egresses
def test_anthropic_stream(calls: Calls, egress: Egress) -> None:
    with calls.anthropic.messages.stream(
        model=egress.alias,
        max_tokens=200,
        messages=USER,
    ) as s:
        texts = list(s.text_stream)
        final = s.get_final_message()
    block = final.content[0]
    assert block.type == "text" and texts and "".join(texts) == block.text
    assert final.stop_reason == "end_turn" and final.usage.output_tokens == ANSWER_TOKENS
    (row,) = calls.rows()
    assert row["stream"] == 1
    assert_anthropic_row(row, egress, final.usage)


WEATHER: Any = {
    "name": "get_weather",
    "description": "Weather for a city",
    "input_schema": WEATHER_SCHEMA,
}


@egresses
def test_anthropic_tool_use_plain_streamed_and_results(calls: Calls, egress: Egress) -> None:
    forced: Any = {"type": "tool", "name": "get_weather"}
    messages = calls.anthropic.messages
    msg = messages.create(
        model=egress.alias,
        max_tokens=200,
        messages=ASK,
        tools=[WEATHER],
        tool_choice=forced,
    )
    with messages.stream(
        model=egress.alias,
        max_tokens=200,
        messages=ASK,
        tools=[WEATHER],
        tool_choice={"type": "any"},
    ) as s:
        deltas = [e for e in s if e.type == "content_block_delta"]
        streamed = s.get_final_message()
    (use,) = msg.content
    assert use.type == "tool_use" and use.name == "get_weather" and msg.stop_reason == "tool_use"
    assert set(use.input) == {"city", "days"}
    (suse,) = streamed.content
    assert suse.type == "tool_use" and set(suse.input) == {"city", "days"}
    assert deltas and all(e.delta.type == "input_json_delta" for e in deltas)

    def answer(result: dict[str, Any]) -> anthropic.types.Message:
        follow_up: Any = [
            *ASK,
            {"role": "assistant", "content": [use.model_dump()]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, **result}]},
        ]
        return messages.create(
            model=egress.alias, max_tokens=200, tools=[WEATHER], messages=follow_up
        )

    fine = answer({"content": "Sunny"})
    failed = answer({"content": "Sunny", "is_error": True})
    # the results went back up: the model now answers in text
    assert fine.stop_reason == "end_turn" and fine.content[0].type == "text"
    # and the failure reached it, written into the result's text ("Error: Sunny")
    assert failed.usage.input_tokens > fine.usage.input_tokens
    assert_ok_rows(calls.rows(), egress, 4)


def _image(source: dict[str, Any]) -> list[Any]:
    return [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is this?"},
                {"type": "image", "source": source},
            ],
        }
    ]


@egresses
def test_anthropic_image_blocks(calls: Calls, egress: Egress) -> None:
    messages = calls.anthropic.messages
    bare = messages.create(
        model=egress.alias,
        max_tokens=100,
        messages=[{"role": "user", "content": [{"type": "text", "text": "What is this?"}]}],
    )
    media, _, data = PNG.removeprefix("data:").partition(";base64,")
    inline = messages.create(
        model=egress.alias,
        max_tokens=100,
        messages=_image({"type": "base64", "media_type": media, "data": data}),
    )
    assert inline.usage.input_tokens - bare.usage.input_tokens == egress.image_tokens
    linked = _image({"type": "url", "url": LINK})
    if egress.refuses_image_links:
        with pytest.raises(anthropic.BadRequestError) as info:
            messages.create(model=egress.alias, max_tokens=100, messages=linked)
        assert info.value.type == "invalid_request_error"
        return
    by_link = messages.create(model=egress.alias, max_tokens=100, messages=linked)
    assert by_link.usage.input_tokens - bare.usage.input_tokens == LINK_TOKENS


@egresses
def test_anthropic_stop_sequences_max_tokens_and_sampling(calls: Calls, egress: Egress) -> None:
    messages = calls.anthropic.messages
    stopped = messages.create(
        model=egress.alias,
        max_tokens=200,
        messages=USER,
        stop_sequences=["."],
        # the Messages API takes them; this SDK version no longer has them as arguments
        extra_body={"temperature": 0.5, "top_p": 0.9, "top_k": 40},
    )
    block = stopped.content[0]
    assert block.type == "text"
    stop_words(block.text)
    assert 0 < stopped.usage.output_tokens < ANSWER_TOKENS
    # no upstream but vLLM says which stop sequence matched: the turn reads as ended
    assert (stopped.stop_reason, stopped.stop_sequence) == ("end_turn", None)
    capped = messages.create(model=egress.alias, max_tokens=5, messages=USER)
    assert capped.stop_reason == "max_tokens" and capped.usage.output_tokens == 5
    assert_ok_rows(calls.rows(), egress, 2)


@egresses
def test_anthropic_upstream_errors_keep_their_class(
    failing: tuple[int, Calls], egress: Egress
) -> None:
    status, calls = failing
    if status == 429:
        with pytest.raises(anthropic.RateLimitError) as info:
            calls.anthropic.messages.create(model=egress.alias, max_tokens=10, messages=USER)
        assert info.value.type == "rate_limit_error"
        egress.assert_retry_after(info.value.response.headers)
    else:  # an overloaded upstream is Anthropic's 529, whatever its own status
        with pytest.raises(anthropic.OverloadedError) as err:
            calls.anthropic.messages.create(
                model=egress.alias,
                max_tokens=10,
                messages=USER,
                stream=True,
            )
        assert err.value.status_code == 529 and err.value.type == "overloaded_error"
    assert_error_row(calls, egress, status)


# ========================================================= /v1/responses (openai SDK)


def assert_responses_row(row: dict[str, Any], egress: Egress, usage: Any) -> None:
    assert_ok_rows([row], egress, 1)
    assert row["input_tokens"] == usage.input_tokens  # both include cached input
    assert row["cached_input_tokens"] == usage.input_tokens_details.cached_tokens
    assert row["output_tokens"] == usage.output_tokens


@egresses
def test_responses_chat(calls: Calls, egress: Egress) -> None:
    resp = calls.openai.responses.create(
        model=egress.alias, instructions="Be brief.", input="Say something."
    )
    assert resp.status == "completed" and resp.output_text and resp.model == egress.served
    assert resp.usage is not None and resp.usage.output_tokens == ANSWER_TOKENS
    (row,) = calls.rows()
    assert_responses_row(row, egress, resp.usage)


@egresses
def test_responses_stream(calls: Calls, egress: Egress) -> None:
    events = list(calls.openai.responses.create(model=egress.alias, input="Hi.", stream=True))
    assert [e.sequence_number for e in events] == list(range(len(events)))
    done = events[-1]
    assert done.type == "response.completed"
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text and text == done.response.output_text
    (row,) = calls.rows()
    assert row["stream"] == 1
    assert_responses_row(row, egress, done.response.usage)


FUNCTION: Any = {
    "type": "function",
    "name": "get_weather",
    "parameters": WEATHER_SCHEMA,
    "strict": True,
}


@egresses
def test_responses_function_calls_plain_streamed_and_answered(calls: Calls, egress: Egress) -> None:
    responses = calls.openai.responses
    ask = "Weather in Paris for the next days?"
    resp = responses.create(model=egress.alias, input=ask, tools=[FUNCTION], tool_choice="required")
    events = list(
        responses.create(
            model=egress.alias,
            input=ask,
            tools=[FUNCTION],
            tool_choice={"type": "function", "name": "get_weather"},
            stream=True,
        )
    )
    (call,) = resp.output
    assert call.type == "function_call" and call.name == "get_weather"
    assert set(json.loads(call.arguments)) == {"city", "days"}
    args = "".join(e.delta for e in events if e.type == "response.function_call_arguments.delta")
    assert set(json.loads(args)) == {"city", "days"}
    assert events[-1].type == "response.completed"
    answered = responses.create(
        model=egress.alias,
        tools=[FUNCTION],
        input=[
            {"role": "user", "content": ask},
            {
                "type": "function_call",
                "call_id": call.call_id,
                "name": call.name,
                "arguments": call.arguments,
            },
            {"type": "function_call_output", "call_id": call.call_id, "output": "Sunny"},
        ],
    )
    assert answered.output_text and answered.output[0].type == "message"
    assert_ok_rows(calls.rows(), egress, 3)


@egresses
def test_responses_json_schema_text_format(calls: Calls, egress: Egress) -> None:
    fmt: Any = {"type": "json_schema", "name": "city", "strict": True, "schema": CITY_SCHEMA}
    resp = calls.openai.responses.create(model=egress.alias, input="A city.", text={"format": fmt})
    value = json.loads(resp.output_text)
    assert set(value) == {"name", "population"} and isinstance(value["population"], int)
    assert_ok_rows(calls.rows(), egress, 1)


def _input(*parts: dict[str, Any]) -> Any:
    return [{"role": "user", "content": [{"type": "input_text", "text": "What is this?"}, *parts]}]


@egresses
def test_responses_input_images(calls: Calls, egress: Egress) -> None:
    responses = calls.openai.responses
    bare = responses.create(model=egress.alias, input=_input())
    image = {"type": "input_image", "image_url": PNG, "detail": "high"}
    inline = responses.create(model=egress.alias, input=_input(image))
    assert bare.usage is not None and inline.usage is not None
    assert inline.usage.input_tokens - bare.usage.input_tokens == egress.image_tokens
    linked = _input({"type": "input_image", "image_url": LINK, "detail": "auto"})
    if egress.refuses_image_links:
        with pytest.raises(openai.BadRequestError):
            responses.create(model=egress.alias, input=linked)
        return
    by_link = responses.create(model=egress.alias, input=linked)
    assert by_link.usage is not None
    assert by_link.usage.input_tokens - bare.usage.input_tokens == LINK_TOKENS


@egresses
def test_responses_max_output_tokens_and_sampling(calls: Calls, egress: Egress) -> None:
    responses = calls.openai.responses
    sampled = responses.create(model=egress.alias, input="Hi.", temperature=0.5, top_p=0.9)
    assert sampled.status == "completed" and (sampled.temperature, sampled.top_p) == (0.5, 0.9)
    short = responses.create(model=egress.alias, input="Hi.", max_output_tokens=16)
    assert short.status == "incomplete" and short.incomplete_details is not None
    assert short.incomplete_details.reason == "max_output_tokens"
    assert short.usage is not None and short.usage.output_tokens == 16
    assert_ok_rows(calls.rows(), egress, 2)


@egresses
def test_responses_upstream_errors_keep_status_and_retry_after(
    failing: tuple[int, Calls], egress: Egress
) -> None:
    status, calls = failing
    if status == 429:
        with pytest.raises(openai.RateLimitError) as info:
            calls.openai.responses.create(model=egress.alias, input="Hi.")
        egress.assert_retry_after(info.value.response.headers)
        assert body(info.value)["type"] == "rate_limit_error"
    else:
        with pytest.raises(openai.InternalServerError) as err:
            calls.openai.responses.create(model=egress.alias, input="Hi.", stream=True)
        assert err.value.status_code == 503
    assert_error_row(calls, egress, status)
