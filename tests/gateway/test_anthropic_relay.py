"""Anthropic door → Anthropic upstream: the upstream's answer reaches the client byte for byte,
including what daytwo has no words for (redacted thinking, citations, event types added after
this was written), while the ledger still gets the exact usage. The upstream is the scripted
loopback server of tests/gateway/bad_upstream.py playing reference Messages answers."""

from __future__ import annotations

import json
from collections.abc import Iterator

import orjson
import pytest
from tests.gateway.bad_upstream import BadUpstream, whole
from tests.gateway.harness import RunningGateway, gateway_config, http, route, running_gateway

pytestmark = pytest.mark.integration

REQUEST = {
    "model": "claude",
    "max_tokens": 2000,
    "messages": [{"role": "user", "content": "Why is the sky blue?"}],
    "thinking": {"type": "enabled", "budget_tokens": 1024},
}
USAGE = {
    "input_tokens": 12,
    "cache_creation_input_tokens": 0,
    "cache_read_input_tokens": 2048,
    "output_tokens": 90,
    "output_tokens_details": {"thinking_tokens": 60},
}
MESSAGE = orjson.dumps(
    {
        "id": "msg_01relay",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5-20250929",
        "content": [
            {"type": "thinking", "thinking": "Rayleigh scattering...", "signature": "EqQBCkgI"},
            {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix"},
            {
                "type": "text",
                "text": "Short wavelengths scatter more.",
                "citations": [{"type": "char_location", "cited_text": "x", "document_index": 0}],
            },
        ],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "container": None,
        "usage": USAGE,
    }
)


def event(data: dict[str, object]) -> bytes:
    return b"event: " + str(data["type"]).encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


START = {
    "id": "msg_01relay",
    "type": "message",
    "role": "assistant",
    "model": "claude-sonnet-4-5-20250929",
    "content": [],
    "stop_reason": None,
    "stop_sequence": None,
    "usage": {**USAGE, "output_tokens": 1, "output_tokens_details": None},
}
STREAM = b"".join(
    [
        event({"type": "message_start", "message": START}),
        event({"type": "ping"}),
        event(
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "thinking", "thinking": "", "signature": ""},
            }
        ),
        event(
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "thinking_delta", "thinking": "Rayleigh..."},
            }
        ),
        event(
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "signature_delta", "signature": "EqQBCkgI"},
            }
        ),
        event({"type": "content_block_stop", "index": 0}),
        event(
            {
                "type": "content_block_start",
                "index": 1,
                "content_block": {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix"},
            }
        ),
        event({"type": "content_block_stop", "index": 1}),
        event({"type": "future_event", "detail": "added after this gateway was written"}),
        event(
            {
                "type": "content_block_start",
                "index": 2,
                "content_block": {"type": "text", "text": ""},
            }
        ),
        event(
            {
                "type": "content_block_delta",
                "index": 2,
                "delta": {"type": "text_delta", "text": "Short wavelengths scatter more."},
            }
        ),
        event({"type": "content_block_stop", "index": 2}),
        event(
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": USAGE,
            }
        ),
        event({"type": "message_stop"}),
    ]
)


@pytest.fixture(scope="module")
def relay(bad: BadUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    db = tmp_path_factory.mktemp("relay") / "ledger.db"
    providers = {"anthropic": {"type": "anthropic", "base_url": bad.url}}
    with running_gateway(
        gateway_config(db, providers, {"claude": route("anthropic", "claude-sonnet-4-5")})
    ) as gw:
        yield gw


def assert_billed(row: dict[str, object]) -> None:
    assert (row["status"], row["served_model"]) == ("ok", "claude-sonnet-4-5-20250929")
    assert (row["input_tokens"], row["cached_input_tokens"], row["cache_write_tokens"]) == (
        12 + 2048,
        2048,
        0,
    )
    assert (row["output_tokens"], row["reasoning_tokens"], row["tokens_estimated"]) == (90, 60, 0)


def test_a_complete_answer_is_relayed_byte_for_byte(
    relay: RunningGateway, bad: BadUpstream
) -> None:
    bad.script = [whole("application/json", MESSAGE)]
    status, headers, body = http("POST", relay.url + "/v1/messages", json.dumps(REQUEST).encode())
    assert status == 200 and body == MESSAGE
    assert_billed(relay.record(headers["x-daytwo-call-id"]))


def test_a_stream_is_relayed_byte_for_byte(relay: RunningGateway, bad: BadUpstream) -> None:
    bad.script = [whole("text/event-stream", STREAM)]
    streamed = json.dumps({**REQUEST, "stream": True}).encode()
    status, headers, body = http("POST", relay.url + "/v1/messages", streamed)
    assert status == 200 and body == STREAM
    assert_billed(relay.record(headers["x-daytwo-call-id"]))
