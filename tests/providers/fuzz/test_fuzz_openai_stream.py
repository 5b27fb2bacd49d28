"""Property tests for the OpenAI stream parser (``SSEDecoder`` + ``ChunkStreamState``, driven the
way ``OpenAIStream`` drives them): valid streams split anywhere and reframed decode to the same
chunks; truncated, corrupted and malformed streams end cleanly or raise
``UpstreamProtocolError`` -- never another exception -- and every chunk that gets through is
one the pipeline and the client can read.

Each ``@example`` is a regression: an input that broke the parser or its consumers before.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import orjson
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from tests.providers.fuzz.streams import (
    FUZZ,
    byte_edits,
    check_chunk_relayable,
    check_usage,
    corrupt,
    eols,
    feed_reads,
    json_values,
    mutated,
    pieces,
    reframe,
    splits,
    sse,
)

from daytwo.core.errors import ProviderError, UpstreamProtocolError
from daytwo.core.secrets import SecretRegistry
from daytwo.core.types import StreamChunk, Usage
from daytwo.providers.openai_wire import (
    MAX_EVENT_BYTES,
    ChunkStreamState,
    SSEDecoder,
    usage_from_openai,
)


def _chunk(choices: object, **extra: object) -> bytes:
    head = {
        "id": "chatcmpl-9tXjg9DdaOfymTPDrSLfxslQEH0C2",
        "object": "chat.completion.chunk",
        "created": 1723024748,
        "model": "gpt-4o-2024-08-06",
        "system_fingerprint": "fp_845eaabc1f",
    }
    return orjson.dumps({**head, "choices": choices, **extra})


def _delta(delta: dict[str, object], finish: str | None = None) -> dict[str, object]:
    return {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}


def _args(index: int, part: str) -> dict[str, object]:
    return _delta({"tool_calls": [{"index": index, "function": {"arguments": part}}]})


# Abridged from live-API streams recorded by the official SDK's test suite (openai/openai-python
# .inline-snapshot/external/, text: 038a5c69c34c95…bin, tool calls: f82268f2fefd5c…bin).
TEXT_EVENTS = [
    _chunk([_delta({"role": "assistant", "content": "", "refusal": None})]),
    *(_chunk([_delta({"content": t})]) for t in ("I'm", " unable", " to", " provide", ".")),
    _chunk([_delta({}, "stop")]),
    _chunk([], usage={"prompt_tokens": 14, "completion_tokens": 47, "total_tokens": 61}),
    b"[DONE]",
]
TOOL_EVENTS = [
    _chunk([_delta({"role": "assistant", "content": None})]),
    _chunk(
        [
            _delta(
                {
                    "tool_calls": [
                        {
                            "index": 0,
                            "id": "call_JMW1whyEaYG438VE1OIflxA2",
                            "type": "function",
                            "function": {"name": "GetWeatherArgs", "arguments": ""},
                        }
                    ]
                }
            )
        ]
    ),
    *(_chunk([_args(0, p)]) for p in ('{"ci', 'ty": ', '"Edinb', "urgh", '"}')),
    _chunk([_delta({}, "tool_calls")]),
    _chunk(
        [],
        usage={
            "prompt_tokens": 149,
            "completion_tokens": 60,
            "total_tokens": 209,
            "completion_tokens_details": {"reasoning_tokens": 0},
        },
    ),
    b"[DONE]",
]
FIXTURES = [TEXT_EVENTS, TOOL_EVENTS]
fixture = st.sampled_from(range(len(FIXTURES)))


@dataclass
class Outcome:
    state: ChunkStreamState
    chunks: list[StreamChunk] = field(default_factory=list)
    error: ProviderError | None = None

    def datas(self) -> list[object]:
        return [c.data for c in self.chunks]


def run(body: bytes, cuts: list[float] | None = None, *, drop_usage: bool = False) -> Outcome:
    """Feed ``body`` in the reads given by ``cuts`` exactly as ``OpenAIStream`` does; check
    every chunk and the usage on the way out. Only a ``ProviderError`` may escape the parser."""
    state = ChunkStreamState(drop_usage_chunk=drop_usage, upstream_request_id=None)
    out = Outcome(state, *feed_reads(state, state.feed, pieces(body, cuts or [])))
    assert out.error is None or isinstance(out.error, UpstreamProtocolError)
    for chunk in out.chunks:
        check_chunk_relayable(chunk)
    check_usage(state.usage)
    return out


def same(a: Outcome, b: Outcome) -> None:
    assert a.datas() == b.datas()
    assert [c.raw for c in a.chunks] == [c.raw for c in b.chunks]
    assert (a.state.usage, a.state.served_model, a.state.done) == (
        b.state.usage,
        b.state.served_model,
        b.state.done,
    )
    assert (type(a.error), a.error and a.error.message) == (
        type(b.error),
        b.error and b.error.message,
    )


def test_reference_streams_decode_completely() -> None:
    text = run(sse(TEXT_EVENTS))
    assert text.error is None and text.state.done
    said = "".join(c.data["choices"][0]["delta"].get("content") or "" for c in text.chunks[:-1])
    assert said == "I'm unable to provide."
    assert text.state.usage == Usage(input_tokens=14, output_tokens=47)
    assert text.state.served_model == "gpt-4o-2024-08-06"
    hidden = run(sse(TEXT_EVENTS), drop_usage=True)
    assert len(hidden.chunks) == len(text.chunks) - 1 and hidden.state.usage == text.state.usage
    tool = run(sse(TOOL_EVENTS))
    args = "".join(
        tc["function"]["arguments"]
        for c in tool.chunks
        for choice in c.data["choices"]
        for tc in choice["delta"].get("tool_calls", [])
    )
    assert orjson.loads(args) == {"city": "Edinburgh"}


@FUZZ
@given(
    which=fixture,
    eol=eols,
    space=st.booleans(),
    comments=st.booleans(),
    bom=st.booleans(),
    cuts=splits,
)
# Lone CR line ends (allowed by the SSE rules): aiohttp's line reader splits on LF only, so the
# decoder used to see one endless line and the stream "ended before [DONE]".
@example(which=1, eol=b"\r", space=False, comments=True, bom=True, cuts=[0.0001, 0.5])
def test_any_split_and_framing_decodes_the_same_chunks(
    which: int, eol: bytes, space: bool, comments: bool, bom: bool, cuts: list[float]
) -> None:
    reference = run(sse(FIXTURES[which]))
    body = reframe(sse(FIXTURES[which]), eol=eol, space=space, comments=comments)
    if bom:
        body = b"\xef\xbb\xbf" + body
    # A CRLF split between two reads is one line end: include a cut right inside one.
    if eol == b"\r\n" and cuts:
        first = body.index(b"\r\n") + 1
        cuts = [*cuts, first / len(body)]
    same(run(body, cuts), reference)


@FUZZ
@given(which=fixture, cuts=splits, data=st.data())
def test_data_split_over_several_lines_is_one_event(
    which: int, cuts: list[float], data: st.DataObject
) -> None:
    events = FIXTURES[which]
    i = data.draw(st.integers(0, len(events) - 2), label="event")
    # JSON allows a line break between tokens: put each top-level member on its own data line.
    doc = orjson.loads(events[i])
    lines = [b"{"] + [orjson.dumps(k) + b":" + orjson.dumps(v) + b"," for k, v in doc.items()]
    lines[-1] = lines[-1].rstrip(b",")
    multiline = b"\n".join(b"data: " + line for line in [*lines, b"}"]) + b"\n\n"
    body = sse(events[:i]) + multiline + sse(events[i + 1 :])
    out = run(body, cuts)
    assert out.datas() == run(sse(events)).datas()
    assert out.chunks[i].raw is None  # re-encoded: relaying the lines under one `data: ` breaks


@FUZZ
@given(which=fixture, keep=st.floats(0, 1), cuts=splits)
def test_a_truncated_stream_is_a_protocol_error_unless_done_arrived(
    which: int, keep: float, cuts: list[float]
) -> None:
    full = sse(FIXTURES[which])
    reference = run(full)
    body = full[: int(keep * len(full))]
    out = run(body, cuts)
    assert out.datas() == reference.datas()[: len(out.chunks)]
    if b"data: [DONE]" in body:
        same(out, reference)
    else:
        assert isinstance(out.error, UpstreamProtocolError) and not out.state.done
        # Usage is only what the upstream reported before the cut (else the pipeline estimates).
        assert out.state.usage in (None, reference.state.usage)


@FUZZ
@given(which=fixture, edits=byte_edits, cuts=splits, drop_usage=st.booleans())
def test_corrupted_bytes_end_cleanly_or_raise_protocol_errors_whatever_the_split(
    which: int, edits: list[tuple[float, str, bytes]], cuts: list[float], drop_usage: bool
) -> None:
    body = corrupt(sse(FIXTURES[which]), edits)
    same(run(body, cuts, drop_usage=drop_usage), run(body, drop_usage=drop_usage))


@st.composite
def malformed_streams(draw: st.DrawFn) -> list[bytes]:
    """A fixture stream with one chunk's JSON changed anywhere inside, or one event replaced by
    any JSON value or bytes, or an unknown field added."""
    events = list(FIXTURES[draw(fixture)])
    i = draw(st.integers(0, len(events) - 2))
    how = draw(st.sampled_from(["mutate", "mutate", "mutate", "value", "bytes", "unknown"]))
    if how == "mutate":
        doc = orjson.loads(events[i])
        for _ in range(draw(st.integers(1, 3))):
            doc = draw(mutated(doc))
        events[i] = orjson.dumps(doc)
    elif how == "value":
        events[i] = orjson.dumps(draw(json_values))
    elif how == "bytes":
        events[i] = draw(st.binary(max_size=24)).replace(b"\n", b"").replace(b"\r", b"")
    else:
        doc = orjson.loads(events[i])
        doc[draw(st.text(min_size=1, max_size=8))] = draw(json_values)
        events[i] = orjson.dumps(doc)
    return events


def _one(choice: object) -> list[bytes]:
    return [_chunk([choice]), b"[DONE]"]


@FUZZ
@given(events=malformed_streams(), cuts=splits)
# The chunk shapes the pipeline's usage count and the ingress read: each used to escape as a
# TypeError/AttributeError (an internal error, or a traceback once the stream had started).
@example(events=_one({"index": 0, "delta": "Hello"}), cuts=[])
@example(events=[_chunk(7), b"[DONE]"], cuts=[])
@example(events=_one(None), cuts=[])
@example(events=_one(_delta({"content": 42})), cuts=[])
@example(events=_one(_delta({"tool_calls": [None]})), cuts=[])
@example(events=_one(_delta({"tool_calls": {"index": 0}})), cuts=[])
@example(events=_one(_delta({"tool_calls": [{"function": "f"}]})), cuts=[])
@example(events=_one(_delta({"tool_calls": [{"function": {"arguments": 5}}]})), cuts=[])
# Usage that is not counts used to reach the ledger: negative, boolean, or so large that the
# priced call overflows the ledger's 64-bit integers.
@example(
    events=[_chunk([], usage={"prompt_tokens": -14, "completion_tokens": 3}), b"[DONE]"], cuts=[]
)
@example(
    events=[_chunk([], usage={"prompt_tokens": True, "completion_tokens": 3}), b"[DONE]"], cuts=[]
)
@example(events=[_chunk([], usage={"prompt_tokens": 2**64 - 1}), b"[DONE]"], cuts=[])
# Events that are JSON but not objects.
@example(events=[b"[1, 2]", b'"text"', b"null", b"[DONE]"], cuts=[])
def test_malformed_chunks_are_protocol_errors_and_what_passes_is_readable(
    events: list[bytes], cuts: list[float]
) -> None:
    out = run(sse(events), cuts)
    assert out.error is not None or out.state.done


@FUZZ
@given(
    usage=json_values
    | st.dictionaries(
        st.sampled_from(
            [
                "prompt_tokens",
                "completion_tokens",
                "prompt_tokens_details",
                "completion_tokens_details",
            ]
        ),
        json_values,
    )
)
@example(usage={"prompt_tokens": 5, "prompt_tokens_details": {"cached_tokens": -3}})
@example(usage={"prompt_tokens": 5, "completion_tokens_details": {"reasoning_tokens": 1.5}})
def test_usage_is_counts_or_nothing(usage: object) -> None:
    check_usage(usage_from_openai(usage))


def test_an_error_event_is_a_protocol_error_with_secrets_redacted() -> None:
    secrets = SecretRegistry()
    secret = "sk-proj-FuzzSecretValue0123456789"
    secrets.register(secret)
    state = ChunkStreamState(
        drop_usage_chunk=False, upstream_request_id=None, redact=secrets.redact
    )
    body = sse([TEXT_EVENTS[0], orjson.dumps({"error": {"message": f"bad key {secret}"}})])
    chunks: list[StreamChunk] = []
    with pytest.raises(UpstreamProtocolError) as info:
        chunks.extend(state.feed(body))
    assert len(chunks) == 1  # the chunk before the error still reached the client
    assert secret not in info.value.message and "bad key" in info.value.message


def test_long_lines_decode_and_endless_ones_are_cut_off() -> None:
    # aiohttp's line reader gives up (LineTooLong, not a ClientError) past 512 KiB; ours does not.
    long = _chunk([_delta({"content": "x" * 600_000})])
    out = run(sse([long, b"[DONE]"]), [i / 40 for i in range(40)])
    assert (
        out.error is None and len(out.chunks[0].data["choices"][0]["delta"]["content"]) == 600_000
    )
    # A body with no line end at all (say, a huge HTML page) stops at MAX_EVENT_BYTES.
    decoder = SSEDecoder()
    page = b"<html>" + b"x" * 65_530
    for _ in range(MAX_EVENT_BYTES // len(page)):
        decoder.feed(page)
    with pytest.raises(UpstreamProtocolError, match="longer than"):
        decoder.feed(page)
