"""Property tests for the Gemini stream parser (``StreamTranslator`` fed bytes the way
``GeminiStream`` feeds it): whatever an upstream sends -- a stream split or cut anywhere, bytes
corrupted, invalid JSON in an event, fields of unexpected types -- the parser either finishes
with chunks the OpenAI SDK and the pipeline can read, or raises a ``ProviderError``; nothing else
escapes (a KeyError or TypeError would become a 500 and lose the call's usage). Usage is always
counts, and a cut stream bills at least what was relayed.

The shared settings, strategies and checks live in ``tests/providers/fuzz/streams.py``. No input
broke the parser while these were written; the ``@example`` cases pin the edge cases tried by
hand.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from hypothesis import example, given
from hypothesis import strategies as st
from openai.types.chat import ChatCompletionChunk
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
from tests.providers.test_gemini_wire import FUNCTION_CALL_RESPONSE, UTF8_STREAM

from daytwo.core.errors import ProviderError
from daytwo.core.tokens import tokens_for_chars
from daytwo.core.types import StreamChunk
from daytwo.providers.gemini_stream import StreamTranslator

# A stream in the simulator's shape (Google's: CRLF framing, cumulative usage, a thought
# summary and a signed function call), and the SDK fixtures of tests/providers/test_gemini_wire.
SIM_EVENTS: list[dict[str, Any]] = [
    {
        "candidates": [{"content": {"parts": [{"text": "Hello"}], "role": "model"}, "index": 0}],
        "usageMetadata": {"promptTokenCount": 5, "totalTokenCount": 5},
        "modelVersion": "gemini-2.5-flash",
        "responseId": "r1",
    },
    {
        "candidates": [
            {
                "content": {
                    "parts": [
                        {"text": "hmm", "thought": True},
                        {"text": " there"},
                        {
                            "functionCall": {"name": "f", "args": {"a": [1, {"b": None}]}},
                            "thoughtSignature": "c2ln",
                        },
                    ],
                    "role": "model",
                },
                "finishReason": "STOP",
                "index": 0,
            }
        ],
        "usageMetadata": {
            "promptTokenCount": 5,
            "candidatesTokenCount": 3,
            "thoughtsTokenCount": 2,
            "totalTokenCount": 10,
        },
        "modelVersion": "gemini-2.5-flash",
        "responseId": "r1",
    },
]


def frame(events: list[dict[str, Any]]) -> bytes:
    return b"".join(b"data: " + orjson.dumps(e) + b"\r\n\r\n" for e in events)


EVENTS = [SIM_EVENTS, data_events(UTF8_STREAM), [FUNCTION_CALL_RESPONSE]]
FIXTURES = [frame(evs) for evs in EVENTS]
fixture = st.sampled_from(range(len(FIXTURES)))

KEYS = [
    "candidates", "content", "parts", "text", "thought", "functionCall", "name", "args", "id",
    "finishReason", "index", "usageMetadata", "promptTokenCount", "candidatesTokenCount",
    "thoughtsTokenCount", "cachedContentTokenCount", "toolUsePromptTokenCount", "totalTokenCount",
    "modelVersion", "responseId", "promptFeedback", "blockReason", "error", "code", "status",
    "message", "details", "retryDelay", "@type", "role", "thoughtSignature",
]  # fmt: skip
gemini_values = st.recursive(
    json_values | st.sampled_from(["STOP", "MAX_TOKENS", "SAFETY", "model", "UNAVAILABLE", "7s"]),
    lambda kids: (
        st.lists(kids, max_size=4) | st.dictionaries(st.sampled_from(KEYS), kids, max_size=5)
    ),
    max_leaves=25,
)
gemini_events = st.dictionaries(st.sampled_from(KEYS), gemini_values, max_size=6)


@dataclass
class Outcome:
    chunks: list[dict[str, Any]]
    error: ProviderError | None


def drive(reads: list[bytes]) -> Outcome:
    """Feed the reads and end the stream, as ``GeminiStream`` does; check what comes out."""
    tr = StreamTranslator(include_usage=True, redact=lambda s: s, model="gemini-x", created=1)
    out = Outcome(*feed_reads(tr, tr.feed_bytes, reads))
    for chunk in out.chunks:
        ChatCompletionChunk.model_validate(chunk)  # what the client's SDK will parse
        check_chunk_relayable(StreamChunk(data=chunk))  # what the pipeline and the wire need
    usage = tr.usage_so_far()
    check_usage(usage)
    if out.error is not None and usage is not None:
        # a cut stream bills at least what reached the client
        assert usage.output_tokens >= tokens_for_chars(relayed_text(out.chunks))
    if out.error is None:
        finishes = [c["choices"][0]["finish_reason"] for c in out.chunks if c["choices"]]
        assert finishes and finishes[-1] is not None
    return out


def without_made_up_ids(out: Outcome) -> list[dict[str, Any]]:
    """The chunks with the ids daytwo makes up fresh for every answer (the completion's, when
    the upstream names none, and every tool call's) blanked."""
    chunks: list[dict[str, Any]] = orjson.loads(orjson.dumps(out.chunks))
    for chunk in chunks:
        if chunk["id"].startswith("chatcmpl-"):
            chunk["id"] = "chatcmpl-x"
        for choice in chunk["choices"]:
            for call in choice["delta"].get("tool_calls") or ():
                call["id"] = "call_x"
    return chunks


def test_the_fixtures_finish() -> None:
    for raw in FIXTURES:
        assert drive([raw]).error is None
    usage = drive([FIXTURES[0]]).chunks[-1]["usage"]
    assert (usage["prompt_tokens"], usage["completion_tokens"]) == (5, 5)


@FUZZ
@given(
    which=fixture,
    cuts=splits,
    eol=eols,
    space=st.booleans(),
    comments=st.booleans(),
)
def test_split_and_reframed_streams_translate_the_same(
    which: int, cuts: list[float], eol: bytes, space: bool, comments: bool
) -> None:
    raw = FIXTURES[which].replace(b"\r\n", b"\n")
    body = reframe(raw, eol=eol, space=space, comments=comments)
    whole = drive([FIXTURES[which]])
    assert without_made_up_ids(drive(list(pieces(body, cuts)))) == without_made_up_ids(whole)


@FUZZ
@given(which=fixture, cut=st.floats(0, 1), cuts=splits)
@example(which=0, cut=0.999, cuts=[])  # the last event without its blank line
@example(which=0, cut=0.5, cuts=[0.1])  # ends mid-JSON
@example(which=0, cut=0.0, cuts=[])  # an empty body
def test_a_stream_truncated_anywhere(which: int, cut: float, cuts: list[float]) -> None:
    raw = FIXTURES[which]
    drive(list(pieces(raw[: int(cut * len(raw))], cuts)))


@FUZZ
@given(which=fixture, edits=byte_edits, cuts=splits)
def test_corrupted_bytes(
    which: int, edits: list[tuple[float, str, bytes]], cuts: list[float]
) -> None:
    drive(list(pieces(corrupt(FIXTURES[which], edits), cuts)))


@FUZZ
@given(garbage=st.binary(max_size=64), at=st.integers(min_value=0, max_value=2))
@example(garbage=b"{", at=1)
@example(garbage=b"[1, 2]", at=0)  # JSON, but not an object
@example(garbage=b"\xff\xfe", at=0)  # not UTF-8
@example(garbage=b'{"candidates": [1e999]}', at=1)  # a number JSON cannot hold
def test_invalid_json_in_an_event(garbage: bytes, at: int) -> None:
    payloads = [orjson.dumps(e) for e in SIM_EVENTS]
    payloads.insert(at, garbage.replace(b"\n", b" ").replace(b"\r", b" "))
    drive([b"".join(b"data: " + p + b"\r\n\r\n" for p in payloads)])


@FUZZ
@given(data=st.data(), which=fixture)
def test_a_field_anywhere_set_to_anything(data: st.DataObject, which: int) -> None:
    events = list(EVENTS[which])
    i = data.draw(st.integers(0, len(events) - 1))
    events[i] = data.draw(mutated(events[i]))
    drive([frame(events)])


@FUZZ
@given(evs=st.lists(gemini_events, max_size=4), cuts=splits)
@example(evs=[{"candidates": [{"index": True, "finishReason": "STOP"}]}], cuts=[])
@example(evs=[{"candidates": [{"index": -1, "finishReason": "STOP"}]}], cuts=[])
@example(evs=[{"candidates": [{"content": {"parts": [{"text": None}]}, "finishReason": 1}]}],
         cuts=[])  # fmt: skip
@example(evs=[{"error": "quota"}], cuts=[])
@example(evs=[{"error": {"code": 2**64 - 1}}], cuts=[])
@example(evs=[{"usageMetadata": {"promptTokenCount": 2**63}}, {"promptFeedback": {}}], cuts=[])
@example(evs=[{"candidates": [{"content": {"parts": [{"functionCall": {"name": "f",
          "args": [1]}}]}, "finishReason": "STOP"}]}], cuts=[])  # fmt: skip
def test_events_made_of_gemini_fields(evs: list[dict[str, Any]], cuts: list[float]) -> None:
    drive(list(pieces(frame(evs), cuts)))
