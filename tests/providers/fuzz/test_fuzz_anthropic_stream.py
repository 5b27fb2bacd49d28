"""Property tests for the Anthropic stream translator (``StreamTranslator`` fed bytes the way
``AnthropicStream`` feeds it): streams split anywhere and reframed translate to the same chunks;
event sequences with missing, reordered, repeated, unknown or mangled events, bad JSON and
truncated deltas end cleanly or raise a ``ProviderError`` -- never another exception; usage is
counts, and a cut stream bills at least what was relayed.

Each ``@example`` is a regression: an input that broke the translator before.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson
from hypothesis import example, given
from hypothesis import strategies as st
from tests.providers.fuzz.streams import (
    FUZZ,
    byte_edits,
    check_chunk_relayable,
    check_usage,
    corrupt,
    data_events,
    eols,
    feed_reads,
    json_values,
    mutated,
    pieces,
    reframe,
    relayed_text,
    splits,
)
from tests.providers.test_anthropic_wire import BASIC_STREAM, TOOL_STREAM

from daytwo.core.errors import ProviderError, UpstreamProtocolError, UpstreamStatusError
from daytwo.core.tokens import tokens_for_chars
from daytwo.core.types import StreamChunk, Usage
from daytwo.providers.anthropic_stream import StreamTranslator

# Both fixtures are the official SDK's recorded streams (anthropics/anthropic-sdk-python
# tests/lib/streaming/fixtures/), kept in tests/providers/test_anthropic_wire.py.
FIXTURES = [BASIC_STREAM, TOOL_STREAM]
EVENTS = [data_events(raw) for raw in FIXTURES]
INPUT_TOKENS = [11, 377]
fixture = st.sampled_from(range(len(FIXTURES)))


def frame(payloads: list[bytes]) -> bytes:
    """Payloads framed the way Anthropic sends them: ``event: <type>`` then ``data: <json>``."""
    out = b""
    for p in payloads:
        try:
            kind = orjson.loads(p).get("type")
        except (orjson.JSONDecodeError, AttributeError):
            kind = None
        name = kind.encode() if isinstance(kind, str) and kind.isidentifier() else b"unknown"
        out += b"event: " + name + b"\ndata: " + p + b"\n\n"
    return out


@dataclass
class Outcome:
    tr: StreamTranslator
    chunks: list[dict[str, Any]] = field(default_factory=list)
    error: ProviderError | None = None


def run(body: bytes, cuts: list[float] | None = None, *, include_usage: bool = True) -> Outcome:
    """Feed ``body`` in the reads given by ``cuts`` exactly as ``AnthropicStream`` does; check
    every chunk and the usage on the way out. Only a ``ProviderError`` may escape."""
    tr = StreamTranslator(include_usage=include_usage, redact=str, created=1)
    out = Outcome(tr, *feed_reads(tr, tr.feed_bytes, pieces(body, cuts or [])))
    if isinstance(out.error, UpstreamStatusError):
        assert b'"error"' in body  # only an error event is an upstream status
    else:
        assert out.error is None or isinstance(out.error, UpstreamProtocolError)
    for chunk in out.chunks:
        assert chunk["object"] == "chat.completion.chunk"
        check_chunk_relayable(StreamChunk(data=chunk))
    finishes = [c["choices"][0]["finish_reason"] for c in out.chunks if c["choices"]]
    assert len([f for f in finishes if f]) <= 1
    check_usage(tr.usage)
    billed = tr.usage_so_far()
    check_usage(billed)
    if tr.usage is not None:
        assert billed is not None and billed.input_tokens == tr.usage.input_tokens
        assert billed.output_tokens >= tr.usage.output_tokens
    return out


def test_reference_streams_translate_completely() -> None:
    basic = run(FIXTURES[0])
    assert basic.error is None and basic.tr.done
    assert basic.tr.usage_so_far() == Usage(input_tokens=11, output_tokens=6)
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in basic.chunks[:-1])
    assert text == "Hello there!"
    tool = run(FIXTURES[1])
    assert tool.error is None and tool.tr.usage_so_far() == Usage(377, 65)


@FUZZ
@given(
    which=fixture,
    eol=eols,
    space=st.booleans(),
    comments=st.booleans(),
    cuts=splits,
)
@example(which=1, eol=b"\r\n", space=False, comments=True, cuts=[0.5, 0.50001])
def test_any_split_and_framing_translates_the_same(
    which: int, eol: bytes, space: bool, comments: bool, cuts: list[float]
) -> None:
    reference = run(FIXTURES[which])
    out = run(reframe(FIXTURES[which], eol=eol, space=space, comments=comments), cuts)
    assert out.chunks == reference.chunks and out.error is None
    assert out.tr.usage == reference.tr.usage and out.tr.done


@FUZZ
@given(which=fixture, keep=st.floats(0, 1), cuts=splits)
def test_a_cut_stream_is_a_protocol_error_billed_for_what_was_relayed(
    which: int, keep: float, cuts: list[float]
) -> None:
    full = FIXTURES[which]
    reference = run(full)
    body = full[: int(keep * len(full))]
    out = run(body, cuts)
    assert out.chunks == reference.chunks[: len(out.chunks)]
    if b'data: {"type":"message_stop"}' in body:
        assert out.tr.done and out.chunks == reference.chunks
        return
    assert isinstance(out.error, UpstreamProtocolError) and not out.tr.done
    billed = out.tr.usage_so_far()
    if billed is None:  # message_start never arrived: the pipeline estimates everything
        assert not out.chunks
        return
    assert billed.input_tokens == INPUT_TOKENS[which]
    relayed = relayed_text(out.chunks)
    if b'"type":"message_delta"' not in body:  # output not reported yet: counted from the text
        assert billed.output_tokens == max(1, tokens_for_chars(relayed))
        assert billed.estimated == (tokens_for_chars(relayed) > 1)


@FUZZ
@given(which=fixture, edits=byte_edits, cuts=splits)
def test_corrupted_bytes_end_cleanly_or_raise_provider_errors_whatever_the_split(
    which: int, edits: list[tuple[float, str, bytes]], cuts: list[float]
) -> None:
    body = corrupt(FIXTURES[which], edits)
    whole, split = run(body), run(body, cuts)
    assert split.chunks == whole.chunks
    assert (type(split.error), split.error and split.error.message) == (
        type(whole.error),
        whole.error and whole.error.message,
    )
    assert split.tr.usage == whole.tr.usage


def _truncated(event: dict[str, Any], keep: float) -> dict[str, Any]:
    """A delta whose text or partial JSON stops part-way."""
    delta = event.get("delta")
    if isinstance(delta, dict):
        for key in ("text", "partial_json"):
            if isinstance(delta.get(key), str):
                value = delta[key]
                return {**event, "delta": {**delta, key: value[: int(keep * len(value))]}}
    return event


@st.composite
def event_sequences(draw: st.DrawFn) -> list[bytes]:
    """A fixture's events with 1-4 of: an event dropped, repeated, moved, mangled anywhere
    inside, its delta truncated; an unknown event or delta type inserted; an event that is not
    valid JSON or not an object; an error event."""
    events: list[Any] = [dict(e) for e in EVENTS[draw(fixture)]]
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(events) - 1)) if events else 0
        op = draw(
            st.sampled_from(
                ["drop", "repeat", "move", "mutate", "mutate", "truncate", "unknown", "bytes"]
            )
        )
        if op == "drop" and events:
            del events[i]
        elif op == "repeat" and events:
            events.insert(i, events[i])
        elif op == "move" and events:
            events.insert(draw(st.integers(0, len(events) - 1)), events.pop(i))
        elif op == "mutate" and events and isinstance(events[i], dict):
            events[i] = draw(mutated(events[i]))
        elif op == "truncate" and events and isinstance(events[i], dict):
            events[i] = _truncated(events[i], draw(st.floats(0, 1)))
        elif op == "unknown":
            kind = draw(st.sampled_from(["thinking_delta", "citations_delta", "x"]))
            unknown = draw(
                st.sampled_from(
                    [
                        {"type": "content_block_delta", "index": 0, "delta": {"type": kind}},
                        {"type": "some_future_event", "data": kind},
                        {"type": "error", "error": {"type": kind, "message": "boom"}},
                    ]
                )
            )
            events.insert(i, unknown)
        elif op == "bytes":
            events.insert(i, draw(json_values | st.binary(max_size=16)))
    return [
        e.replace(b"\n", b"").replace(b"\r", b"") if isinstance(e, bytes) else orjson.dumps(e)
        for e in events
    ]


def _start(usage: dict[str, Any]) -> bytes:
    msg = orjson.loads(BASIC_STREAM.split(b"\n")[1][6:])
    msg["message"]["usage"] = usage
    return orjson.dumps(msg)


_STOP = [b'{"type":"message_stop"}']


@FUZZ
@given(payloads=event_sequences(), cuts=splits, include_usage=st.booleans())
# Usage that is not counts: a TypeError (a string cache count), or negative/boolean counts that
# reached the ledger.
@example(
    payloads=[_start({"input_tokens": 5, "cache_read_input_tokens": "7"}), *_STOP],
    cuts=[],
    include_usage=True,
)
@example(
    payloads=[_start({"input_tokens": 5, "cache_creation_input_tokens": [1]}), *_STOP],
    cuts=[],
    include_usage=True,
)
@example(payloads=[_start({"input_tokens": -5}), *_STOP], cuts=[], include_usage=True)
@example(
    payloads=[_start({"input_tokens": True, "output_tokens": 1}), *_STOP],
    cuts=[],
    include_usage=True,
)
@example(
    payloads=[
        _start({"input_tokens": 5, "output_tokens": 1}),
        b'{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":-9}}',
        *_STOP,
    ],
    cuts=[],
    include_usage=True,
)
def test_mangled_event_sequences_end_cleanly_or_raise_provider_errors(
    payloads: list[bytes], cuts: list[float], include_usage: bool
) -> None:
    out = run(frame(payloads), cuts, include_usage=include_usage)
    if out.tr.done:
        assert b'{"type":"message_stop"' in b"".join(payloads)


usage_objects = st.dictionaries(
    st.sampled_from(
        [
            "input_tokens",
            "output_tokens",
            "cache_read_input_tokens",
            "cache_creation_input_tokens",
            "service_tier",
        ]
    ),
    json_values | st.integers(-5, 50),
)


@FUZZ
@given(start=usage_objects, delta=usage_objects | json_values, cut=st.booleans())
@example(start={"input_tokens": 5, "cache_read_input_tokens": "7"}, delta={}, cut=False)
@example(start={"input_tokens": 5, "output_tokens": 1}, delta={"input_tokens": -3}, cut=False)
def test_usage_in_message_start_and_delta_is_counts_or_nothing(
    start: dict[str, Any], delta: Any, cut: bool
) -> None:
    payloads = [
        _start(start),
        b'{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello"}}',
        orjson.dumps(
            {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": delta}
        ),
        *([] if cut else _STOP),
    ]
    out = run(frame(payloads))
    assert out.tr.done != cut
