"""Bedrock Converse translation both ways, error mapping, and the event-stream decoding path
(including a Hypothesis fuzz: whatever the bytes, only ProviderError subclasses or a clean end).

Fixtures marked "AWS tool-use guide" are the request, answer and tool result of the ``top_song``
example in https://docs.aws.amazon.com/bedrock/latest/userguide/tool-use-inference-call.html.
"""

from __future__ import annotations

import base64
import binascii
import struct
from array import array
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from daytwo.core.errors import (
    InvalidRequest,
    ProviderError,
    UpstreamProtocolError,
    UpstreamStatusError,
)
from daytwo.core.secrets import SecretRegistry
from daytwo.providers.bedrock_stream import EventStreamDecoder, StreamTranslator, translate_body
from daytwo.providers.bedrock_wire import (
    JSON_TOOL,
    embedder_for,
    error_from_bedrock,
    to_converse_request,
    to_openai_completion,
    usage_from_converse,
)
from daytwo.providers.chat_answers import embeddings_list
from daytwo.providers.sim.bedrock_format import encode_frame

# AWS tool-use guide: the tool, the question, the model's tool request and the tool's result.
TOP_SONG_SPEC = {
    "name": "top_song",
    "description": "Get the most popular song played on a radio station.",
    "inputSchema": {
        "json": {
            "type": "object",
            "properties": {
                "sign": {
                    "type": "string",
                    "description": "The call sign for the radio station for which you want the "
                    "most popular song. Example calls signs are WZPZ and WKRP.",
                }
            },
            "required": ["sign"],
        }
    },
}
TOP_SONG_TOOL = {
    "type": "function",
    "function": {
        "name": "top_song",
        "description": TOP_SONG_SPEC["description"],
        "parameters": TOP_SONG_SPEC["inputSchema"]["json"],  # type: ignore[index]
    },
}
QUESTION = "What is the most popular song on WZPZ?"
TOOL_REQUEST_ANSWER = {
    "output": {
        "message": {
            "role": "assistant",
            "content": [
                {
                    "toolUse": {
                        "toolUseId": "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q",
                        "name": "top_song",
                        "input": {"sign": "WZPZ"},
                    }
                }
            ],
        }
    },
    "stopReason": "tool_use",
    "usage": {"inputTokens": 375, "outputTokens": 56, "totalTokens": 431},
    "metrics": {"latencyMs": 1145},
}
SONG = {"song": "Elemental Hotel", "artist": "8 Storey Hike"}
MODEL = "anthropic.claude-3-5-sonnet-20240620-v1:0"
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\nfake").decode()


def keep(text: str) -> str:
    return text


# ------------------------------------------------------------------ requests


def test_text_request_with_system_inference_config_and_image() -> None:
    body = {
        "messages": [
            {"role": "system", "content": "You are a radio DJ."},
            {"role": "developer", "content": [{"type": "text", "text": "Be brief."}]},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What station logo is this?"},
                    {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
                ],
            },
        ],
        "max_completion_tokens": 300,
        "temperature": 0.2,
        "top_p": 0.9,
        "stop": "END",
        "seed": 4,  # dropped: Converse has no seed
        "user": "bob",
    }
    call = to_converse_request(body)
    assert call.json_tool is None
    assert call.body == {
        "system": [{"text": "You are a radio DJ."}, {"text": "Be brief."}],
        "messages": [
            {
                "role": "user",
                "content": [
                    {"text": "What station logo is this?"},
                    {"image": {"format": "png", "source": {"bytes": PNG}}},
                ],
            }
        ],
        "inferenceConfig": {
            "maxTokens": 300,
            "temperature": 0.2,
            "topP": 0.9,
            "stopSequences": ["END"],
        },
    }


def test_tool_round_trip_becomes_tool_use_and_tool_result_blocks() -> None:
    body = {
        "messages": [
            {"role": "user", "content": QUESTION},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q",
                        "type": "function",
                        "function": {"name": "top_song", "arguments": '{"sign": "WZPZ"}'},
                    }
                ],
            },
            {
                "role": "tool",
                "tool_call_id": "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q",
                "content": orjson.dumps(SONG).decode(),
            },
            {"role": "user", "content": "Thanks. And on WKRP?"},
        ],
        "tools": [TOP_SONG_TOOL],
        "tool_choice": {"type": "function", "function": {"name": "top_song"}},
    }
    call = to_converse_request(body)
    assert call.body["toolConfig"] == {
        "tools": [{"toolSpec": TOP_SONG_SPEC}],
        "toolChoice": {"tool": {"name": "top_song"}},
    }
    user, assistant, results = call.body["messages"]
    assert user == {"role": "user", "content": [{"text": QUESTION}]}
    assert assistant == TOOL_REQUEST_ANSWER["output"]["message"]  # type: ignore[index]
    # the tool result and the next user message form one user turn (Converse alternates turns)
    assert results == {
        "role": "user",
        "content": [
            {
                "toolResult": {
                    "toolUseId": "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q",
                    "content": [{"text": orjson.dumps(SONG).decode()}],
                }
            },
            {"text": "Thanks. And on WKRP?"},
        ],
    }


@pytest.mark.parametrize(
    ("choice", "converse"),
    [(None, None), ("auto", {"auto": {}}), ("required", {"any": {}})],
)
def test_tool_choice(choice: Any, converse: Any) -> None:
    body: dict[str, Any] = {"messages": [{"role": "user", "content": QUESTION}]}
    body["tools"] = [TOP_SONG_TOOL]
    if choice is not None:
        body["tool_choice"] = choice
    config = to_converse_request(body).body["toolConfig"]
    assert config.get("toolChoice") == converse


def test_tool_choice_none_drops_the_tools_until_tools_were_used() -> None:
    body = {
        "messages": [{"role": "user", "content": QUESTION}],
        "tools": [TOP_SONG_TOOL],
        "tool_choice": "none",
    }
    assert "toolConfig" not in to_converse_request(body).body
    body["messages"] = [
        {"role": "user", "content": QUESTION},
        {
            "role": "assistant",
            "tool_calls": [{"id": "t1", "function": {"name": "top_song", "arguments": "{}"}}],
        },
        {"role": "tool", "tool_call_id": "t1", "content": "x"},
    ]
    with pytest.raises(InvalidRequest) as info:
        to_converse_request(body)
    assert info.value.param == "tool_choice"


def test_json_schema_is_a_forced_tool_and_its_input_comes_back_as_content() -> None:
    schema = {"type": "object", "properties": {"song": {"type": "string"}}, "required": ["song"]}
    body = {
        "messages": [{"role": "user", "content": QUESTION}],
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "hit", "schema": schema},
        },
    }
    call = to_converse_request(body)
    assert call.json_tool == "hit"
    assert call.body["toolConfig"] == {
        "tools": [{"toolSpec": {"name": "hit", "inputSchema": {"json": schema}}}],
        "toolChoice": {"tool": {"name": "hit"}},
    }
    answer = {
        "output": {
            "message": {
                "role": "assistant",
                "content": [{"toolUse": {"toolUseId": "t", "name": "hit", "input": SONG}}],
            }
        },
        "stopReason": "tool_use",
        "usage": {"inputTokens": 10, "outputTokens": 5, "totalTokens": 15},
    }
    out = to_openai_completion(answer, model=MODEL, request_id="r1", json_tool="hit")
    choice = out["choices"][0]
    assert choice["finish_reason"] == "stop" and "tool_calls" not in choice["message"]
    assert orjson.loads(choice["message"]["content"]) == SONG


def test_json_object_is_a_forced_tool_with_an_open_object_schema() -> None:
    body = {
        "messages": [{"role": "user", "content": "x"}],
        "response_format": {"type": "json_object"},
    }
    call = to_converse_request(body)
    assert call.json_tool == JSON_TOOL
    assert call.body["toolConfig"]["tools"][0]["toolSpec"]["inputSchema"] == {
        "json": {"type": "object"}
    }


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"n": 2}, "n"),
        ({"logprobs": True}, "logprobs"),
        (
            {"response_format": {"type": "json_object"}, "tools": [TOP_SONG_TOOL]},
            "response_format",
        ),
        (
            {
                "response_format": {
                    "type": "json_schema",
                    "json_schema": {"name": "x", "schema": {"type": "array"}},
                }
            },
            "response_format",
        ),
        ({"tools": [{"type": "web_search"}]}, "tools[0]"),
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {"type": "image_url", "image_url": {"url": "https://x.test/a.png"}}
                        ],
                    }
                ]
            },
            "messages[0].content[0].image_url",
        ),
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [{"type": "input_audio", "input_audio": {"data": "x"}}],
                    }
                ]
            },
            "messages[0].content[0]",
        ),
        ({"messages": []}, "messages"),
    ],
)
def test_untranslatable_requests_are_400s_naming_the_parameter(
    extra: dict[str, Any], param: str
) -> None:
    body = {"messages": [{"role": "user", "content": "hi"}], **extra}
    with pytest.raises(InvalidRequest) as info:
        to_converse_request(body)
    assert info.value.param == param and info.value.status == 400


# ------------------------------------------------------------------ answers and usage


def test_tool_request_answer_to_chat_completion() -> None:
    out = to_openai_completion(TOOL_REQUEST_ANSWER, model=MODEL, request_id="abc", created=7)
    assert out["id"] == "chatcmpl-abc" and out["model"] == MODEL and out["created"] == 7
    (choice,) = out["choices"]
    assert choice["finish_reason"] == "tool_calls" and choice["message"]["content"] is None
    assert choice["message"]["tool_calls"] == [
        {
            "id": "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q",
            "type": "function",
            "function": {"name": "top_song", "arguments": '{"sign":"WZPZ"}'},
        }
    ]
    assert out["usage"]["prompt_tokens"] == 375 and out["usage"]["completion_tokens"] == 56


@pytest.mark.parametrize(
    ("stop", "finish"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("tool_use", "tool_calls"),
        ("guardrail_intervened", "content_filter"),
        ("content_filtered", "content_filter"),
        ("a_reason_added_later", "stop"),
    ],
)
def test_stop_reasons(stop: str, finish: str) -> None:
    answer = {
        "output": {"message": {"role": "assistant", "content": [{"text": "Hi."}]}},
        "stopReason": stop,
    }
    assert to_openai_completion(answer, model=MODEL)["choices"][0]["finish_reason"] == finish


def test_usage_adds_cache_reads_and_writes_to_input() -> None:
    usage = usage_from_converse(
        {
            "inputTokens": 100,
            "outputTokens": 20,
            "totalTokens": 1620,
            "cacheReadInputTokens": 1000,
            "cacheWriteInputTokens": 500,
        }
    )
    assert usage is not None
    assert (usage.input_tokens, usage.cached_input_tokens, usage.cache_write_tokens) == (
        1600,
        1000,
        500,
    )
    assert usage.output_tokens == 20 and usage.total_tokens == 1620
    assert usage_from_converse({"inputTokens": "many"}) is None


def test_a_body_that_is_not_a_converse_answer_is_a_protocol_error() -> None:
    with pytest.raises(UpstreamProtocolError):
        to_openai_completion({"choices": []}, model=MODEL)


# ------------------------------------------------------------------ errors


@pytest.mark.parametrize(
    ("status", "name", "retryable"),
    [
        (429, "ThrottlingException", True),
        (429, "ModelNotReadyException", True),
        (503, "ServiceUnavailableException", True),
        (500, "InternalServerException", True),
        (408, "ModelTimeoutException", True),
        (400, "ValidationException", False),
        (403, "AccessDeniedException", False),
        (404, "ResourceNotFoundException", False),
        (424, "ModelErrorException", False),
    ],
)
def test_errors_keep_status_class_and_name(status: int, name: str, retryable: bool) -> None:
    headers = {
        "x-amzn-errortype": f"{name}:http://internal.amazon.com/coral/com.amazon.bedrock/",
        "x-amzn-requestid": "r",
    }
    err = error_from_bedrock(status, b'{"message":"It went wrong."}', headers, keep)
    assert err.status_code() == status and err.is_retryable is retryable
    assert err.code == name and err.message == "It went wrong."


def test_error_message_is_redacted_and_retry_after_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DAYTWO_TEST_AWS_SECRET", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    secrets = SecretRegistry()
    secret = secrets.resolve("env:DAYTWO_TEST_AWS_SECRET")  # as the adapter resolves it
    body = orjson.dumps({"message": f"The request signature we calculated with {secret} differs."})
    err = error_from_bedrock(403, body, {"retry-after": "2"}, secrets.redact)
    assert secret not in err.message and err.headers == {"retry-after": "2"}
    typed = error_from_bedrock(
        400, b'{"__type":"com.amazon.coral#ValidationException","message":"bad"}', {}, keep
    )
    assert typed.code == "ValidationException"
    html = error_from_bedrock(502, b"<html>Bad Gateway</html>", {}, keep)
    assert html.status_code() == 502 and "Bad Gateway" in html.message


# ------------------------------------------------------------------ embeddings


def test_embedding_families_by_model_id_prefix() -> None:
    titan = embedder_for("amazon.titan-embed-text-v2:0")
    assert titan.batch == 1
    assert titan.request(["hello"], {"dimensions": 256}) == {
        "inputText": "hello",
        "dimensions": 256,
    }
    cohere = embedder_for("us.cohere.embed-english-v3")
    assert cohere.batch == 96
    assert cohere.request(["a", "b"], {}) == {"texts": ["a", "b"], "input_type": "search_document"}
    with pytest.raises(InvalidRequest) as info:
        embedder_for("anthropic.claude-3-5-sonnet-20240620-v1:0")
    assert info.value.param == "model"


def test_base64_embeddings_are_little_endian_float32() -> None:
    out = embeddings_list([[0.5, -1.0]], model="m", input_tokens=3, base64_out=True)
    raw = base64.b64decode(out["data"][0]["embedding"])
    assert raw == struct.pack("<2f", 0.5, -1.0)
    assert array("f", raw).tolist() == [0.5, -1.0] or struct.unpack("<2f", raw) == (0.5, -1.0)
    assert out["usage"] == {"prompt_tokens": 3, "total_tokens": 3}


# ------------------------------------------------------------------ event-stream decoding


def event(name: str, **payload: Any) -> bytes:
    headers = [
        (":event-type", name),
        (":content-type", "application/json"),
        (":message-type", "event"),
    ]
    return encode_frame(headers, orjson.dumps({**payload, "p": "abcdefgh"}))


def exception(name: str, message: str) -> bytes:
    headers = [
        (":exception-type", name),
        (":content-type", "application/json"),
        (":message-type", "exception"),
    ]
    return encode_frame(headers, orjson.dumps({"message": message}))


USAGE = {"inputTokens": 12, "outputTokens": 3, "totalTokens": 15}
TEXT_STREAM = b"".join(
    [
        event("messageStart", role="assistant"),
        event("contentBlockDelta", delta={"text": "Elemental"}, contentBlockIndex=0),
        event("contentBlockDelta", delta={"text": " Hotel"}, contentBlockIndex=0),
        event("contentBlockStop", contentBlockIndex=0),
        event("messageStop", stopReason="end_turn"),
        event("metadata", usage=USAGE, metrics={"latencyMs": 300}),
    ]
)


def tool_stream(tool: str) -> bytes:
    return b"".join(
        [
            event("messageStart", role="assistant"),
            event("contentBlockDelta", delta={"text": "Let me check."}, contentBlockIndex=0),
            event("contentBlockStop", contentBlockIndex=0),
            event(
                "contentBlockStart",
                start={"toolUse": {"toolUseId": "tooluse_1", "name": tool}},
                contentBlockIndex=1,
            ),
            event(
                "contentBlockDelta", delta={"toolUse": {"input": '{"sign":'}}, contentBlockIndex=1
            ),
            event(
                "contentBlockDelta", delta={"toolUse": {"input": ' "WZPZ"}'}}, contentBlockIndex=1
            ),
            event("contentBlockStop", contentBlockIndex=1),
            event("messageStop", stopReason="tool_use"),
            event("metadata", usage=USAGE, metrics={"latencyMs": 300}),
        ]
    )


TOOL_STREAM = tool_stream("top_song")


def translator(include_usage: bool = True, json_tool: str | None = None) -> StreamTranslator:
    return StreamTranslator(
        model=MODEL, request_id="r1", include_usage=include_usage, redact=keep, json_tool=json_tool
    )


@pytest.mark.parametrize("split", [0, 1, 7, 64])
def test_text_stream_reassembles_whatever_the_read_sizes(split: int) -> None:
    tr = translator()
    chunks = translate_body(TEXT_STREAM, tr, split=split)
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    assert deltas[0] == {"role": "assistant", "content": ""}
    assert "".join(d.get("content", "") for d in deltas) == "Elemental Hotel"
    assert [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]][-1] == "stop"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] == 15
    assert tr.usage is not None and tr.usage.output_tokens == 3 and tr.done
    assert {c["id"] for c in chunks} == {"chatcmpl-r1"} and chunks[0]["model"] == MODEL


def test_tool_stream_gives_tool_call_deltas() -> None:
    chunks = translate_body(TOOL_STREAM, translator(include_usage=False))
    calls = [tc for c in chunks for tc in c["choices"][0]["delta"].get("tool_calls", [])]
    assert calls[0] == {
        "index": 0,
        "id": "tooluse_1",
        "type": "function",
        "function": {"name": "top_song", "arguments": ""},
    }
    assert "".join(tc["function"]["arguments"] for tc in calls) == '{"sign": "WZPZ"}'
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"
    assert all(c["choices"] for c in chunks)  # no usage chunk: not asked for


def test_json_mode_stream_turns_the_forced_tool_into_content() -> None:
    chunks = translate_body(tool_stream("hit_song"), translator(json_tool="hit_song"))
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    assert not any("tool_calls" in d for d in deltas)
    assert "".join(d.get("content", "") for d in deltas) == 'Let me check.{"sign": "WZPZ"}'
    assert [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]][-1] == "stop"


@pytest.mark.parametrize(
    ("name", "status", "retryable"),
    [
        ("throttlingException", 429, True),
        ("serviceUnavailableException", 503, True),
        ("internalServerException", 500, True),
        ("modelStreamErrorException", 424, False),
        ("validationException", 400, False),
    ],
)
def test_exception_frames_raise_their_error(name: str, status: int, retryable: bool) -> None:
    body = event("messageStart", role="assistant") + exception(name, "Slow down.")
    with pytest.raises(UpstreamStatusError) as info:
        translate_body(body, translator())
    assert info.value.status_code() == status and info.value.is_retryable is retryable
    assert "Slow down." in info.value.message and info.value.code == name[0].upper() + name[1:]


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(TEXT_STREAM[:-5], id="cut-inside-a-frame"),
        pytest.param(
            TEXT_STREAM.split(event("messageStop", stopReason="end_turn"))[0], id="no-stop"
        ),
        pytest.param(TEXT_STREAM[:20] + b"\x00" + TEXT_STREAM[21:], id="bad-crc"),
        pytest.param(
            event("contentBlockDelta", delta={"text": "x"}, contentBlockIndex=0), id="no-start"
        ),
        pytest.param(
            event("messageStart", role="assistant")
            + encode_frame([(":message-type", "event"), (":event-type", "metadata")], b"{not json"),
            id="garbage-json",
        ),
    ],
)
def test_broken_streams_are_protocol_errors(body: bytes) -> None:
    with pytest.raises(UpstreamProtocolError):
        translate_body(body, translator())


def test_unknown_events_and_fields_are_skipped() -> None:
    extra = event("someFutureEvent", anything=[1, 2])
    body = TEXT_STREAM.replace(event("contentBlockStop", contentBlockIndex=0), extra)
    chunks = translate_body(body, translator(include_usage=False))
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks) == "Elemental Hotel"


# ------------------------------------------------------------------ fuzz


def valid_crc_frame(total: int, headers_length: int, rest: bytes) -> bytes:
    """A frame whose prelude has a correct CRC but whatever lengths the fuzzer chose."""
    prelude = struct.pack("!II", total, headers_length)
    return prelude + struct.pack("!I", binascii.crc32(prelude)) + rest


def decode_all(body: bytes, split: int) -> None:
    tr = translator()
    try:
        translate_body(body, tr, split=split)
    except ProviderError:
        return
    assert tr.done  # a clean end is a whole stream


FRAMES = [
    event("messageStart", role="assistant"),
    event("contentBlockDelta", delta={"text": "a"}, contentBlockIndex=0),
    event(
        "contentBlockStart", start={"toolUse": {"toolUseId": "t", "name": "f"}}, contentBlockIndex=1
    ),
    event("contentBlockDelta", delta={"toolUse": {"input": "{}"}}, contentBlockIndex=1),
    event("contentBlockDelta", delta={"toolUse": {"input": "{}"}}, contentBlockIndex=9),
    event("contentBlockStop", contentBlockIndex=0),
    event("messageStop", stopReason="end_turn"),
    event("metadata", usage=USAGE),
    event("metadata", usage={"inputTokens": -1}),
    event("unknownEvent"),
    exception("throttlingException", "x"),
    encode_frame([(":message-type", "error"), (":error-code", "E")], b""),
    encode_frame([(":message-type", "event"), (":event-type", "messageStop")], b"[1, 2]"),
    encode_frame(
        [(":message-type", "event"), (":event-type", "contentBlockDelta")], b'{"delta": 3}'
    ),
    encode_frame([], b""),
]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    frames=st.lists(st.sampled_from(FRAMES), max_size=12),
    cut=st.integers(min_value=0, max_value=4000),
    flip=st.one_of(
        st.none(), st.tuples(st.integers(min_value=0, max_value=4000), st.integers(1, 255))
    ),
    garbage=st.binary(max_size=40),
    split=st.integers(min_value=0, max_value=50),
)
@example(frames=[FRAMES[0]], cut=4000, flip=None, garbage=valid_crc_frame(0, 0, b""), split=0)
@example(
    frames=[FRAMES[0]], cut=4000, flip=None, garbage=valid_crc_frame(14, 0, b"\x00\x00"), split=0
)
@example(frames=[], cut=4000, flip=None, garbage=valid_crc_frame(16, 200, b"\x00" * 4), split=0)
@example(frames=[], cut=4000, flip=None, garbage=valid_crc_frame(2**31, 0, b""), split=0)
@example(frames=[FRAMES[0], FRAMES[6]], cut=4000, flip=None, garbage=b"", split=1)
def test_fuzzed_event_streams_raise_only_provider_errors(
    frames: list[bytes],
    cut: int,
    flip: tuple[int, int] | None,
    garbage: bytes,
    split: int,
) -> None:
    body = bytearray(b"".join(frames) + garbage)
    del body[cut:]
    if flip is not None and flip[0] < len(body):
        body[flip[0]] ^= flip[1]
    decode_all(bytes(body), split)


def test_decoder_counts_left_over_bytes() -> None:
    decoder = EventStreamDecoder()
    assert list(decoder.feed(TEXT_STREAM[:10])) == [] and decoder.pending() == 10
    frames = list(decoder.feed(TEXT_STREAM[10:]))
    assert [f[1] for f in frames][:2] == ["messageStart", "contentBlockDelta"]
    assert decoder.pending() == 0
