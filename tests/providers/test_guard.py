"""The guard between adapters and the rest of daytwo (providers/guard.py), on hand-made answers,
chunks and errors: what is kept, what is replaced, what is dropped. The same rules are proven
end to end, over real HTTP for each upstream type, in tests/gateway/test_upstream_secrets.py."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest

from daytwo.core.errors import UpstreamProtocolError, UpstreamStatusError
from daytwo.core.secrets import REDACTED, SecretRegistry
from daytwo.core.types import LLMRequest, LLMResponse, StreamChunk, Usage
from daytwo.providers.base import Target
from daytwo.providers.guard import (
    GuardedAdapter,
    GuardedStream,
    UpstreamGuard,
    guarded,
    retry_hint,
    unguarded,
)

KEY = "Zq7wErTy1uIoP3aSdF5gHjK9lZxCvBnM2Q4W"
TARGET = Target(provider="p", model="configured-model", deployment="d")


@pytest.fixture
def guard() -> UpstreamGuard:
    secrets = SecretRegistry()
    secrets.register(KEY)
    return UpstreamGuard(secrets)


@pytest.mark.parametrize(
    ("name", "value", "kept"),
    [
        ("retry-after", "3", True),
        ("retry-after", "1.5", True),
        ("retry-after", "Wed, 21 Oct 2015 07:28:00 GMT", True),
        ("retry-after", "Wednesday, 21-Oct-15 07:28:00 GMT", True),
        ("retry-after-ms", "250", True),
        ("retry-after-ms", "Wed, 21 Oct 2015 07:28:00 GMT", False),  # a number only
        ("retry-after", KEY, False),
        ("retry-after", "soon", False),
        ("retry-after", "-1", False),
        ("retry-after", "3; " + KEY, False),
    ],
)
def test_retry_hints_are_numbers_or_http_dates(name: str, value: str, kept: bool) -> None:
    assert retry_hint(name, value) is kept


def test_an_error_keeps_its_meaning_and_loses_the_key(guard: UpstreamGuard) -> None:
    exc = UpstreamStatusError(
        429,
        f"Rate limit reached for key {KEY}. " + "Try again later. " * 100,
        upstream_type="rate_limit_error",
        code=KEY,
        param="messages[0].content",
        headers={"retry-after": "2", "retry-after-ms": KEY, "x-other": "1"},
    )
    guard.error(exc)
    assert exc.message.startswith(f"Rate limit reached for key {REDACTED}. Try again later.")
    assert len(exc.message) <= 1003 and exc.args == (exc.message,)
    assert (exc.upstream_type, exc.code, exc.param) == (
        "rate_limit_error",
        None,
        "messages[0].content",
    )
    assert exc.headers == {"retry-after": "2"}


def test_error_fields_with_a_piece_of_the_key_or_odd_characters_are_dropped(
    guard: UpstreamGuard,
) -> None:
    exc = UpstreamStatusError(
        400, "no", upstream_type=KEY[:18], code=KEY[18:], param="a b <script>"
    )
    guard.error(exc)
    assert (exc.upstream_type, exc.code, exc.param) == (None, None, None)
    shaped = UpstreamProtocolError("x", code="sk-proj-ABCDEFGHIJKLMNOPQRSTUV")  # never registered
    guard.error(shaped)
    assert shaped.code is None


def _completion(**fields: Any) -> dict[str, Any]:
    return {
        "id": "chatcmpl-abc",
        "object": "chat.completion",
        "model": "gpt-4o-2024-08-06",
        "choices": [{"index": 0, "message": {"content": "hi"}, "finish_reason": "stop"}],
        **fields,
    }


def test_a_clean_answer_passes_untouched_and_keeps_its_bytes(guard: UpstreamGuard) -> None:
    body = _completion(system_fingerprint="fp_44709d6fcb")
    raw = orjson.dumps(body)
    resp = LLMResponse(
        body=body,
        usage=Usage(),
        served_model="gpt-4o-2024-08-06",
        upstream_request_id="req_0123",
        raw=raw,
    )
    out = guard.response(resp, TARGET, embeddings=False)
    assert out.raw is raw and out.body == _completion(system_fingerprint="fp_44709d6fcb")
    assert (out.served_model, out.upstream_request_id) == ("gpt-4o-2024-08-06", "req_0123")


def test_unsafe_identifiers_are_replaced_and_the_bytes_re_encoded(guard: UpstreamGuard) -> None:
    body = _completion(id=KEY, model=f"m-{KEY}", system_fingerprint=KEY)
    body["choices"][0]["finish_reason"] = KEY
    resp = LLMResponse(
        body=body,
        usage=Usage(),
        served_model=KEY,
        upstream_request_id="has spaces",
        raw=orjson.dumps(body),
    )
    out = guard.response(resp, TARGET, embeddings=False)
    assert out.raw is None  # the encoder writes the fixed body
    assert (out.served_model, out.upstream_request_id) == (None, None)
    assert out.body["model"] == "configured-model"
    assert out.body["id"].startswith("chatcmpl-") and KEY not in out.body["id"]
    assert "system_fingerprint" not in out.body
    assert out.body["choices"][0]["finish_reason"] == REDACTED


def test_a_key_hidden_by_json_escapes_is_still_found(guard: UpstreamGuard) -> None:
    escaped = "".join(f"\\u{ord(c):04x}" for c in KEY)
    raw = ('{"id":"x1","model":"m","choices":[{"message":{"content":"' + escaped + '"}}]}').encode()
    resp = LLMResponse(body=orjson.loads(raw), usage=Usage(), raw=raw)
    out = guard.response(resp, TARGET, embeddings=False)
    assert out.raw is None
    assert out.body["choices"][0]["message"]["content"] == REDACTED


class _Stream:
    def __init__(self, chunks: list[StreamChunk], fail: bool = False) -> None:
        self._chunks = chunks
        self._fail = fail
        self.usage: Usage | None = None
        self.served_model: str | None = KEY
        self.upstream_request_id: str | None = "req_1"
        self.rate_headers: dict[str, str] | None = None
        self.extra = "reachable"

    def __aiter__(self) -> AsyncIterator[StreamChunk]:
        return self._gen()

    async def _gen(self) -> AsyncIterator[StreamChunk]:
        for c in self._chunks:
            yield c
        if self._fail:
            raise UpstreamProtocolError(f"upstream stream error: {KEY}", code=KEY)

    async def aclose(self) -> None:
        pass


class _Adapter:
    def __init__(self, stream: _Stream) -> None:
        self._stream = stream
        self.settings = "the inner adapter's"

    async def complete(self, req: LLMRequest, target: Target) -> LLMResponse:
        raise UpstreamStatusError(401, f"bad key {KEY}", code=KEY)

    async def stream(self, req: LLMRequest, target: Target) -> _Stream:
        return self._stream

    async def embed(self, req: LLMRequest, target: Target) -> LLMResponse:
        raise AssertionError("not called")

    async def aclose(self) -> None:
        pass


def _chunk(**fields: Any) -> StreamChunk:
    data = {"id": KEY, "model": KEY, "choices": [{"index": 0, "delta": {"content": "a"}}]}
    data.update(fields)
    return StreamChunk(data=data, raw=b"data: " + orjson.dumps(data) + b"\n\n")


def test_a_stream_gets_one_replacement_id_and_errors_pass_the_guard() -> None:
    secrets = SecretRegistry()
    secrets.register(KEY)
    inner = _Stream(
        [_chunk(), _chunk(choices=[{"index": 0, "delta": {"content": KEY}}]), _chunk()],
        fail=True,
    )
    adapter = GuardedAdapter(_Adapter(inner), secrets)
    req = LLMRequest(operation="chat", model="alias", body={})

    async def run() -> tuple[list[StreamChunk], BaseException | None, Any]:
        up = await adapter.stream(req, TARGET)
        got: list[StreamChunk] = []
        try:
            async for c in up:
                got.append(c)
        except UpstreamProtocolError as failed:
            return got, failed, up
        return got, None, up

    got, exc, up = asyncio.run(run())
    assert isinstance(exc, UpstreamProtocolError)
    assert len({c.data["id"] for c in got}) == 1 and KEY not in got[0].data["id"]
    assert {c.data["model"] for c in got} == {"configured-model"}
    assert all(c.raw is None for c in got)
    assert got[1].data["choices"][0]["delta"]["content"] == REDACTED
    assert (exc.message, exc.code) == (f"upstream stream error: {REDACTED}", None)
    assert (up.served_model, up.upstream_request_id, up.extra) == (None, "req_1", "reachable")
    # What the wrapped adapter offers beyond the protocol stays reachable.
    assert adapter.settings == "the inner adapter's"
    with pytest.raises(UpstreamStatusError) as err:
        asyncio.run(adapter.complete(req, TARGET))
    assert (err.value.message, err.value.code) == (f"bad key {REDACTED}", None)


def test_a_safe_stream_passes_untouched_and_only_odd_finish_reasons_are_looked_at() -> None:
    secrets = SecretRegistry()
    secrets.register(KEY)
    safe = {"id": "chatcmpl-1", "model": "gpt-4o-mini"}

    def end(reason: Any) -> StreamChunk:
        return _chunk(**safe, choices=[{"index": 0, "delta": {}, "finish_reason": reason}])

    chunks = [_chunk(**safe), end("stop"), end(f"odd {KEY}"), end(["not", "a", "string"])]
    adapter = GuardedAdapter(_Adapter(_Stream(chunks, fail=False)), secrets)

    async def run() -> list[StreamChunk]:
        up = await adapter.stream(LLMRequest(operation="chat", model="alias", body={}), TARGET)
        return [c async for c in up]

    got = asyncio.run(run())
    # A known reason changes nothing: the upstream's bytes go out as they came.
    assert got[0] is chunks[0] and got[1] is chunks[1]
    reasons = [c.data["choices"][0]["finish_reason"] for c in got[2:]]
    assert reasons[0] == f"odd {REDACTED}" and got[2].raw is None
    assert isinstance(reasons[1], str) and got[3].raw is None


def test_the_fast_path_costs_microseconds(guard: UpstreamGuard) -> None:
    """A clean answer's whole check (identifiers, a byte search of ~1 KB) stays in the
    microseconds (~13 µs of CPU measured with the machine loaded by six other test runs; the
    bound leaves room for a slower one). CPU time: other processes' load does not count."""
    import time

    body = _completion(system_fingerprint="fp_44709d6fcb")
    body["choices"][0]["message"]["content"] = "hello world " * 80
    raw = orjson.dumps(body)
    n = 2000
    t0 = time.process_time()
    for _ in range(n):
        resp = LLMResponse(
            body=body, usage=Usage(), served_model="gpt-4o", upstream_request_id="req_1", raw=raw
        )
        guard.response(resp, TARGET, embeddings=False)
    per_call_us = (time.process_time() - t0) / n * 1e6
    assert per_call_us < 50, per_call_us


def test_identifiers_with_a_key_shape_never_registered_are_not_kept(guard: UpstreamGuard) -> None:
    assert guard.name("gpt-4o-2024-08-06") == "gpt-4o-2024-08-06"
    assert guard.name("meta-llama/Llama-3.1-8B-Instruct") == "meta-llama/Llama-3.1-8B-Instruct"
    assert guard.name("arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.x-v1:0")
    assert guard.name("sk-proj-ABCDEFGHIJKLMNOPQRSTUV") is None
    assert guard.ident("AKIAABCDEFGHIJKLMNOP") is None
    assert guard.ident("req_" + "a" * 300) is None  # longer than any id
    assert guard.ident("req 1") is None


def _relayed(payload: dict[str, Any], *, escaped: bool = False) -> StreamChunk:
    data = orjson.dumps(payload)
    if escaped:
        data = data.replace(KEY.encode(), "".join(f"\\u{ord(c):04x}" for c in KEY).encode())
    frame = b"event: content_block_delta\ndata: " + data + b"\n\n"
    return StreamChunk(data={"choices": [{"delta": {"content": "x"}}]}, raw=frame, wire="anthropic")


def test_a_relayed_event_keeps_its_wire_with_the_key_cut_out_or_is_refused() -> None:
    secrets = SecretRegistry()
    secrets.register(KEY)
    guard = UpstreamGuard(secrets)

    class _Up:
        usage = served_model = upstream_request_id = rate_headers = None

    stream = GuardedStream(_Up(), guard, TARGET)  # type: ignore[arg-type]  # a bare stand-in
    event = {"type": "content_block_delta", "delta": {"type": "text_delta", "text": KEY}}
    out = guard.chunk(_relayed(event), stream)
    assert out.wire == "anthropic" and out.raw is not None
    assert KEY.encode() not in out.raw
    assert orjson.loads(out.raw.split(b"data: ", 1)[1])["delta"]["text"] == REDACTED
    clean = _relayed({"type": "ping"})
    assert guard.chunk(clean, stream) is clean
    with pytest.raises(UpstreamProtocolError):
        guard.chunk(_relayed(event, escaped=True), stream)


def test_a_call_outside_the_protocol_runs_on_the_inner_adapter_with_its_errors_guarded() -> None:
    secrets = SecretRegistry()
    secrets.register(KEY)
    inner = _Adapter(_Stream([]))
    adapter = GuardedAdapter(inner, secrets)
    assert unguarded(adapter) is inner and unguarded(inner) is inner  # type: ignore[arg-type]  # a bare stand-in

    async def count() -> int:
        raise UpstreamStatusError(400, f"bad key {KEY}", code=KEY)

    with pytest.raises(UpstreamStatusError) as err:
        asyncio.run(guarded(adapter, count()))
    assert (err.value.message, err.value.code) == (f"bad key {REDACTED}", None)
