"""What the Anthropic door costs per call to an Anthropic upstream: translated (the path before
the relay: Messages → Chat Completions → Messages, and back) against relayed (the client's body
with ``model`` set, the upstream's bytes passed on). CPU only, no sockets: the encode/decode
work the gateway does on the request path, per complete answer and per streamed answer.

    .venv/bin/python bench/anthropic_relay.py            # a table, µs per call (best of 5)
"""

from __future__ import annotations

import timeit
from typing import Any

import orjson

from daytwo.core.types import LLMResponse, StreamChunk
from daytwo.gateway.anthropic_encode import AnthropicStreamEncoder
from daytwo.gateway.anthropic_encode import message as encode_message
from daytwo.gateway.anthropic_ingress import parse_messages
from daytwo.providers.anthropic_native import native_body
from daytwo.providers.anthropic_stream import StreamTranslator
from daytwo.providers.anthropic_wire import (
    to_anthropic_request,
    to_openai_completion,
    usage_from_anthropic,
)
from daytwo.providers.openai_wire import SSEDecoder, parse_json_object

TOOL = {
    "name": "get_weather",
    "description": "Weather for a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
}
REQUEST = orjson.dumps(
    {
        "model": "claude",
        "max_tokens": 1024,
        "system": [{"type": "text", "text": "You are a helpful assistant. " * 20}],
        "messages": [
            {"role": "user", "content": "What is the weather in Paris?"},
            {"role": "assistant", "content": "Let me check that for you."},
            {"role": "user", "content": "And in Oslo, please, in some detail."},
        ],
        "tools": [TOOL],
    }
)
WORDS = " ".join(["word"] * 300)
ANSWER = orjson.dumps(
    {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5",
        "content": [{"type": "text", "text": WORDS}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 300, "output_tokens": 300},
    }
)


def _event(data: dict[str, Any]) -> bytes:
    return b"event: " + str(data["type"]).encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


STREAM = b"".join(
    [
        _event(
            {
                "type": "message_start",
                "message": {**orjson.loads(ANSWER), "content": [], "stop_reason": None},
            }
        ),
        _event({"type": "content_block_start", "index": 0, "content_block": {"type": "text"}}),
        *(
            _event(
                {
                    "type": "content_block_delta",
                    "index": 0,
                    "delta": {"type": "text_delta", "text": " word"},
                }
            )
            for _ in range(100)
        ),
        _event({"type": "content_block_stop", "index": 0}),
        _event(
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn"},
                "usage": {"output_tokens": 100},
            }
        ),
        _event({"type": "message_stop"}),
    ]
)


def translated_complete() -> bytes:
    req = parse_messages(REQUEST)
    orjson.dumps(to_anthropic_request(req.body, model="claude-sonnet-4-5", default_max_tokens=1))
    msg = parse_json_object(ANSWER, "message")
    body = to_openai_completion(msg)
    usage = usage_from_anthropic(msg["usage"])
    assert usage is not None
    return orjson.dumps(encode_message(LLMResponse(body=body, usage=usage)))


def relayed_complete() -> bytes:
    req = parse_messages(REQUEST)
    assert req.native is not None
    native_body(req.native, req, "claude-sonnet-4-5", stream=False)
    msg = parse_json_object(ANSWER, "message")
    to_openai_completion(msg)
    usage_from_anthropic(msg["usage"])
    return ANSWER


def _stream(relay: bool) -> int:
    tr = StreamTranslator(include_usage=True, redact=str)
    enc = AnthropicStreamEncoder(300)
    out = 0
    for payload in SSEDecoder().feed(STREAM):
        event = parse_json_object(payload, "stream event")
        chunks = tr.feed(event)
        if relay:
            frame = b"event: " + str(event["type"]).encode() + b"\ndata: " + payload + b"\n\n"
            out += len(enc.chunk(StreamChunk(data={}, raw=frame, wire="anthropic")))
        else:
            for data in chunks:
                out += len(enc.chunk(StreamChunk(data=data)))
    return out + len(enc.end())


def main() -> None:
    rows = [
        ("complete, translated", translated_complete),
        ("complete, relayed", relayed_complete),
        ("stream of 100 deltas, translated", lambda: _stream(False)),
        ("stream of 100 deltas, relayed", lambda: _stream(True)),
    ]
    print(f"{'path':<36} {'µs/call':>8}")
    for name, fn in rows:
        n = 200
        best = min(timeit.repeat(fn, number=n, repeat=5)) / n * 1e6
        print(f"{name:<36} {best:>8.1f}")


if __name__ == "__main__":
    main()
