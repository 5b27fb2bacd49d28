"""What the stream fuzz tests share: Hypothesis settings, JSON and byte-mutation strategies, and
the checks every chunk an adapter yields must pass.

``DAYTWO_FUZZ_EXAMPLES`` raises the number of examples per property (the default keeps the whole
fuzz set well under 20 s); runs are derandomized so CI sees the same examples every time.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol, TypeVar

import orjson
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from daytwo.core.errors import ProviderError
from daytwo.core.tokens import chunk_output_chars
from daytwo.core.types import StreamChunk, Usage
from daytwo.providers.openai_wire import SSEDecoder

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)

FUZZ = settings(
    max_examples=int(os.environ.get("DAYTWO_FUZZ_EXAMPLES", "400")),
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# Any JSON value orjson can produce, including the awkward ones: big, negative and float counts,
# booleans where numbers belong, nested containers where strings belong.
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
json_values = st.recursive(
    json_scalars,
    lambda kids: (
        st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=8), kids, max_size=3)
    ),
    max_leaves=6,
)

# Bytes that mean something to an SSE parser or a JSON parser, plus arbitrary ones.
_MEANINGFUL = [b"\n", b"\r", b"\r\n", b"\n\n", b":", b"data:", b"data: ", b"{", b"}", b'"', b"\\"]
fragments = st.sampled_from(_MEANINGFUL) | st.binary(min_size=1, max_size=4)
# (position as a fraction of the length, what to do, bytes)
byte_edits = st.lists(
    st.tuples(
        st.floats(0, 1, exclude_max=True),
        st.sampled_from(["replace", "insert", "delete"]),
        fragments,
    ),
    min_size=1,
    max_size=4,
)
# Cut points as fractions of the body's length: any split of the bytes into reads.
splits = st.lists(st.floats(0, 1), max_size=12)


# The line ends the SSE rules allow: LF, CRLF and a lone CR.
eols = st.sampled_from([b"\n", b"\r\n", b"\r"])


def corrupt(body: bytes, edits: list[tuple[float, str, bytes]]) -> bytes:
    for frac, op, frag in edits:
        i = int(frac * len(body))
        if op == "insert":
            body = body[:i] + frag + body[i:]
        elif op == "replace":
            body = body[:i] + frag + body[i + len(frag) :]
        else:
            body = body[:i] + body[i + len(frag) :]
    return body


def pieces(body: bytes, cuts: list[float]) -> Iterator[bytes]:
    """``body`` in the reads a network would hand over, split at ``cuts`` (fractions)."""
    at = sorted({int(c * len(body)) for c in cuts} | {0, len(body)})
    for a, b in itertools.pairwise(at):
        yield body[a:b]


def sse(events: list[bytes], *, eol: bytes = b"\n", space: bool = True) -> bytes:
    """Payloads framed as SSE ``data`` events with the given line end."""
    lead = b"data: " if space else b"data:"
    return b"".join(lead + e + eol + eol for e in events)


def reframe(body: bytes, *, eol: bytes, space: bool, comments: bool) -> bytes:
    """The same SSE events with other line ends, ``data:`` spacing, comments and unknown fields
    (all of which a decoder must read as the same events)."""
    out: list[bytes] = []
    for line in body.split(b"\n"):
        if line.startswith(b"data: ") and not space:
            line = b"data:" + line[6:]
        if comments and not line:
            out.append(b": keep-alive")
            out.append(b"id: 7")
        out.append(line)
    return eol.join(out)


def data_events(raw: bytes) -> list[dict[str, Any]]:
    """The JSON of each ``data:`` line of an SSE body (a recorded fixture's events)."""
    return [orjson.loads(line[6:]) for line in raw.splitlines() if line.startswith(b"data: ")]


class Parser(Protocol[T_co]):
    """A stream parser as its adapter drives it: bytes in as they arrive, ``end`` when the
    body ends, ``done`` once its end marker came."""

    @property
    def done(self) -> bool: ...

    def end(self) -> Iterable[T_co]: ...


def feed_reads(
    parser: Parser[T], feed: Callable[[bytes], Iterable[T]], reads: Iterable[bytes]
) -> tuple[list[T], ProviderError | None]:
    """Feed ``reads`` to ``parser`` exactly as its adapter does (stop at its end marker, else
    end the body after the last read): what it yielded, and the ``ProviderError`` it raised.
    Any other exception escapes, and fails the property."""
    out: list[T] = []
    try:
        for piece in reads:
            out.extend(feed(piece))
            if parser.done:
                break
        else:
            out.extend(parser.end())
    except ProviderError as exc:
        return out, exc
    return out, None


def relayed_text(chunks: Iterable[dict[str, Any]]) -> int:
    """Characters of text and tool-call arguments in translated chunks: what a cut stream must
    bill at least."""
    total = 0
    for chunk in chunks:
        for choice in chunk["choices"]:
            delta = choice["delta"]
            total += len(delta.get("content") or "")
            for call in delta.get("tool_calls") or ():
                total += len(call["function"].get("arguments") or "")
    return total


def check_usage(usage: Usage | None) -> None:
    """Usage, when reported, is counts: non-negative ints (never bools, floats or negatives)."""
    if usage is None:
        return
    for name in (
        "input_tokens",
        "output_tokens",
        "cached_input_tokens",
        "cache_write_tokens",
        "reasoning_tokens",
    ):
        value = getattr(usage, name)
        assert type(value) is int and value >= 0, (name, value)


def relayed_chars(chunk: StreamChunk) -> int:
    """The pipeline's own reading of a relayed chunk (``Pipeline.stream`` counts output text this
    way to estimate usage): a chunk an adapter yields must survive it."""
    return chunk_output_chars(chunk.data)


def check_chunk_relayable(chunk: StreamChunk) -> None:
    """A chunk reaches the client intact: the pipeline can read it, it encodes to JSON, and its
    wire bytes (when kept) are exactly one SSE event holding the same data."""
    relayed_chars(chunk)
    orjson.dumps(chunk.data)
    if chunk.raw is not None:
        decoder = SSEDecoder()
        (payload,) = decoder.feed(chunk.raw)
        assert orjson.loads(payload) == chunk.data
        assert not decoder.pending()


def containers(obj: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Paths to every dict and list inside ``obj`` (itself included)."""
    yield path
    items = obj.items() if isinstance(obj, dict) else enumerate(obj)
    for key, value in items:
        if isinstance(value, dict | list):
            yield from containers(value, (*path, key))


def at(obj: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        obj = obj[key]
    return obj


@st.composite
def mutated(draw: st.DrawFn, obj: dict[str, Any]) -> dict[str, Any]:
    """``obj`` (deep-copied) with one value somewhere inside set to any JSON value, or deleted."""
    obj = orjson.loads(orjson.dumps(obj))
    target = at(obj, draw(st.sampled_from(list(containers(obj)))))
    if isinstance(target, dict):
        key = draw(st.sampled_from(sorted(target)) | st.text(max_size=8)) if target else "x"
        if target and key in target and draw(st.booleans()):
            del target[key]
        else:
            target[key] = draw(json_values)
    elif target:
        target[draw(st.integers(0, len(target) - 1))] = draw(json_values)
    else:
        target.append(draw(json_values))
    return obj
