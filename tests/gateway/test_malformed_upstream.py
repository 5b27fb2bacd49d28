"""A broken upstream never hangs the gateway or leaks a traceback: whatever bytes it sends --
cut mid-event, invalid JSON, HTML with a 200, the wrong content type, an empty body, a stream
without its final event, a connection closed after the headers, a slow-loris that stops
sending -- the client (the official openai SDK) gets a clean error in its own format, and the
ledger gets one ``error`` record with the tokens known so far.

The broken provider is :class:`~tests.gateway.bad_upstream.BadUpstream`, a raw asyncio server on
a loopback port that plays hand-written bytes; it stands in for the same provider configured as
``openai`` and as ``anthropic``. The simulator's own fault knobs are driven through the gateway
at the end.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openai
import orjson
import pytest
from tests.gateway.bad_upstream import HOLD, BadUpstream, head, whole
from tests.gateway.harness import RunningGateway, gateway_config, route, running_gateway

from daytwo.config.schema import SimFaults, SimSettings
from daytwo.providers.sim.run import running_sim_server

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

#: The providers' whole-call timeout: a slow-loris must be cut off by it.
TIMEOUT_S = 1.5
#: The client's own timeout, far above TIMEOUT_S: hitting it would mean the gateway hung.
CLIENT_TIMEOUT_S = 20.0

WORDS = ["The ", "quick ", "brown ", "fox ", "jumps ", "over ", "the ", "lazy ", "dog."]
HTML = b"<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"


def _oai_chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
    data = {
        "id": "chatcmpl-bad",
        "object": "chat.completion.chunk",
        "created": 1_700_000_000,
        "model": "gpt-4o-mini",
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        **extra,
    }
    return b"data: " + orjson.dumps(data) + b"\n\n"


def _ant_event(data: dict[str, Any]) -> bytes:
    return b"event: " + data["type"].encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


def _ant_text(text: str) -> bytes:
    delta = {"type": "text_delta", "text": text}
    return _ant_event({"type": "content_block_delta", "index": 0, "delta": delta})


@dataclass(frozen=True)
class Wire:
    """One provider's wire format, as hand-written bytes (shapes as in each API reference)."""

    alias: str
    opening: bytes  # events before the first text
    words: bytes  # text events
    closing: bytes  # events after the text, through the final one
    unknown: bytes  # events or fields a newer API version might add
    completion: bytes  # a valid non-streamed answer
    not_a_completion: bytes  # valid JSON, but not an answer

    def text_event(self, text: str) -> bytes:
        if self.alias == "openai":
            return _oai_chunk({"content": text})
        return _ant_text(text)


OPENAI = Wire(
    alias="openai",
    opening=_oai_chunk({"role": "assistant", "content": ""}),
    words=b"".join(_oai_chunk({"content": w}) for w in WORDS),
    closing=_oai_chunk({}, "stop") + b"data: [DONE]\n\n",
    unknown=_oai_chunk({"content": "", "future_field": [1]}, obfuscation="x7")
    + b": a comment\nid: 9\nretry: 100\nevent: surprise\n\n",
    completion=orjson.dumps(
        {
            "id": "chatcmpl-bad",
            "object": "chat.completion",
            "created": 1_700_000_000,
            "model": "gpt-4o-mini",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "".join(WORDS)},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 9, "completion_tokens": 9, "total_tokens": 18},
        }
    ),
    not_a_completion=b'{"object": "list", "data": []}',
)
ANTHROPIC = Wire(
    alias="anthropic",
    opening=_ant_event(
        {
            "type": "message_start",
            "message": {
                "id": "msg_bad",
                "type": "message",
                "role": "assistant",
                "model": "claude-sonnet-4-5",
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": {"input_tokens": 12, "output_tokens": 1},
            },
        }
    )
    + _ant_event(
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}
    )
    + _ant_event({"type": "ping"}),
    words=b"".join(_ant_text(w) for w in WORDS),
    closing=_ant_event({"type": "content_block_stop", "index": 0})
    + _ant_event(
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn", "stop_sequence": None},
            "usage": {"output_tokens": 9},
        }
    )
    + _ant_event({"type": "message_stop"}),
    unknown=_ant_event({"type": "some_future_event", "x": 1})
    + _ant_event({"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta"}}),
    completion=orjson.dumps(
        {
            "id": "msg_bad",
            "type": "message",
            "role": "assistant",
            "model": "claude-sonnet-4-5",
            "content": [{"type": "text", "text": "".join(WORDS)}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": 12, "output_tokens": 9},
        }
    ),
    not_a_completion=b'{"type": "message", "content": "not a list"}',
)
WIRES = [OPENAI, ANTHROPIC]


def _by_wire(prefix: str) -> dict[str, Any]:
    """A model alias per wire, each reaching the provider ``<prefix>_<wire>``."""
    return {
        "openai": route(f"{prefix}_openai", "gpt-4o-mini"),
        "anthropic": route(f"{prefix}_anthropic", "claude-sonnet-4-5"),
    }


wires = pytest.mark.parametrize("wire", WIRES, ids=lambda w: w.alias)


@pytest.fixture(scope="module")
def gateway(bad: BadUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    db = tmp_path_factory.mktemp("malformed") / "ledger.db"
    providers = {
        "bad_openai": {"type": "openai", "base_url": f"{bad.url}/v1", "timeout_s": TIMEOUT_S},
        "bad_anthropic": {"type": "anthropic", "base_url": bad.url, "timeout_s": TIMEOUT_S},
    }
    with running_gateway(gateway_config(db, providers, _by_wire("bad"))) as gw:
        yield gw


@pytest.fixture(autouse=True)
def no_tracebacks(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Nothing on the way may log an exception (the gateway's ``unexpected error``, uvicorn's
    ``Exception in ASGI application``)."""
    caplog.set_level(logging.WARNING)
    yield
    leaked = [r for r in caplog.records if r.exc_info or "Traceback" in r.getMessage()]
    assert not leaked, [r.getMessage() for r in leaked]


class Caller:
    """The openai SDK against the gateway, one project per test to find the test's rows."""

    def __init__(self, gw: RunningGateway) -> None:
        self.gw = gw
        self.project = f"p{uuid.uuid4().hex[:10]}"
        self.client = openai.OpenAI(
            base_url=gw.base_url, api_key="unused", max_retries=0, timeout=CLIENT_TIMEOUT_S
        )

    def create(self, alias: str, *, stream: bool = False) -> Any:
        return self.client.chat.completions.create(
            model=alias,
            messages=[{"role": "user", "content": "Tell me about foxes."}],
            stream=stream,
            extra_headers={"X-Daytwo-Project": self.project},
        )

    def row(self) -> dict[str, Any]:
        (row,) = [r for r in self.gw.records() if r["project"] == self.project]
        return row


@pytest.fixture
def caller(gateway: RunningGateway) -> Iterator[Caller]:
    c = Caller(gateway)
    with c.client:
        yield c


def fails_before_streaming(caller: Caller, wire: Wire, *, stream: bool) -> openai.APIStatusError:
    """The call fails with an HTTP error status, before any answer byte."""
    with pytest.raises(openai.APIStatusError) as info:
        caller.create(wire.alias, stream=stream)  # a stream object only comes with a 200
    return info.value


def _drain(stream: Any, into: list[str]) -> None:
    for chunk in stream:
        into.extend(c.delta.content or "" for c in chunk.choices)


def fails_mid_stream(caller: Caller, wire: Wire) -> tuple[str, openai.APIError]:
    """The stream starts, relays some text, then ends with an error event (never a hang)."""
    pieces: list[str] = []
    stream = caller.create(wire.alias, stream=True)
    with pytest.raises(openai.APIError) as info:
        _drain(stream, pieces)
    assert not isinstance(info.value, openai.APIStatusError | openai.APIConnectionError)
    return "".join(pieces), info.value


def assert_error_row(
    row: dict[str, Any], error_class: str, http_status: int, *, streamed: bool
) -> None:
    assert (row["status"], row["error_class"], row["http_status"]) == (
        "error",
        error_class,
        http_status,
    )
    assert "Traceback" not in (row["error_message"] or "")
    if streamed:  # cut after some text: billed for the text relayed, flagged as counted
        assert row["output_tokens"] > 0 and row["tokens_estimated"] == 1
        assert row["ttft_ms"] is not None
    else:
        assert row["output_tokens"] == 0


# ---------------------------------------------------------------- non-streamed answers


BROKEN_ANSWERS = {
    "html_200": lambda w: whole("text/html", HTML),
    "empty_200": lambda w: whole("application/json", b""),
    "truncated_json": lambda w: whole("application/json", w.completion[: len(w.completion) // 2]),
    "not_a_completion": lambda w: whole("application/json", w.not_a_completion),
    "closed_mid_body": lambda w: (
        head("application/json", length=len(w.completion)) + w.completion[:20]
    ),
    "closed_after_headers": lambda w: head("application/json", length=len(w.completion)),
}


@wires
@pytest.mark.parametrize("case", sorted(BROKEN_ANSWERS))
def test_broken_answer_is_a_502_with_an_error_record(
    bad: BadUpstream, caller: Caller, wire: Wire, case: str
) -> None:
    bad.script = [BROKEN_ANSWERS[case](wire)]
    err = fails_before_streaming(caller, wire, stream=False)
    assert err.status_code == 502
    body = err.body
    assert isinstance(body, dict) and body["type"] == "api_error", body
    assert "Traceback" not in str(body["message"])
    assert_error_row(caller.row(), "UpstreamProtocolError", 502, streamed=False)


@wires
@pytest.mark.parametrize("stream", [False, True], ids=["answer", "stream"])
@pytest.mark.parametrize(
    "garbage",
    [b"SSH-2.0-OpenSSH_9.6\r\n", b"HTTP/1.1 2OO OK\r\nContent-Length: 2\r\n\r\n{}"],
    ids=["not_http", "bad_status_line"],
)
def test_garbage_instead_of_http_is_a_502_connection_error(
    bad: BadUpstream, caller: Caller, wire: Wire, stream: bool, garbage: bytes
) -> None:
    bad.script = [garbage]
    err = fails_before_streaming(caller, wire, stream=stream)
    assert err.status_code == 502
    assert isinstance(err.body, dict) and err.body["type"] == "api_connection_error"
    assert_error_row(caller.row(), "UpstreamUnavailable", 502, streamed=False)


@wires
def test_good_answer_passes(bad: BadUpstream, caller: Caller, wire: Wire) -> None:
    """The control: the same server with well-formed bytes is a normal answer."""
    bad.script = [whole("application/json", wire.completion)]
    completion = caller.create(wire.alias)
    assert completion.choices[0].message.content == "".join(WORDS)
    assert (
        bad.paths[-1] == {"openai": "/v1/chat/completions", "anthropic": "/v1/messages"}[wire.alias]
    )
    assert caller.row()["status"] == "ok"


@wires
def test_slow_loris_answer_times_out_as_504(bad: BadUpstream, caller: Caller, wire: Wire) -> None:
    bad.script = [head("application/json", length=len(wire.completion)), wire.completion[:10], HOLD]
    t0 = time.monotonic()
    err = fails_before_streaming(caller, wire, stream=False)
    assert time.monotonic() - t0 < TIMEOUT_S + 5
    assert err.status_code == 504
    assert_error_row(caller.row(), "UpstreamTimeout", 504, streamed=False)


# ---------------------------------------------------------------- streams that never start


NO_STREAM = {
    "html_200": lambda w: whole("text/html", HTML),
    "json_for_a_stream": lambda w: whole("application/json", w.completion),
    "closed_after_headers": lambda w: head(),
    "empty_event_stream": lambda w: head(length=0),
    "garbage_first_event": lambda w: head() + b"data: <html>\n\n",
}


@wires
@pytest.mark.parametrize("case", sorted(NO_STREAM))
def test_stream_that_never_starts_is_a_502_with_an_error_record(
    bad: BadUpstream, caller: Caller, wire: Wire, case: str
) -> None:
    bad.script = [NO_STREAM[case](wire)]
    err = fails_before_streaming(caller, wire, stream=True)
    assert err.status_code == 502
    assert_error_row(caller.row(), "UpstreamProtocolError", 502, streamed=False)


# ---------------------------------------------------------------- streams cut part-way


def _chunked(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


CUT_STREAMS = {
    "cut_mid_event": lambda w: [head() + w.opening + w.words + w.closing[:25]],
    "invalid_json_event": lambda w: [
        head() + w.opening + w.words + b'data: {"choices": [{"delta": \n\n' + w.closing
    ],
    "no_final_event": lambda w: [head() + w.opening + w.words],
    "chunked_cut_mid_chunk": lambda w: [
        head(chunked=True) + _chunked(w.opening + w.words) + b"400\r\n" + w.closing[:30]
    ],
    "non_object_event": lambda w: [head() + w.opening + w.words + b"data: [1, 2, 3]\n\n"],
}


@wires
@pytest.mark.parametrize("case", sorted(CUT_STREAMS))
def test_stream_cut_part_way_ends_with_an_error_event_and_bills_what_was_relayed(
    bad: BadUpstream, caller: Caller, wire: Wire, case: str
) -> None:
    bad.script = CUT_STREAMS[case](wire)
    text, err = fails_mid_stream(caller, wire)
    assert text == "".join(WORDS)
    assert "Traceback" not in err.message
    assert_error_row(caller.row(), "UpstreamProtocolError", 502, streamed=True)


@wires
def test_slow_loris_stream_ends_by_the_provider_timeout(
    bad: BadUpstream, caller: Caller, wire: Wire
) -> None:
    bad.script = [head() + wire.opening + wire.words, HOLD]
    t0 = time.monotonic()
    text, _ = fails_mid_stream(caller, wire)
    assert time.monotonic() - t0 < TIMEOUT_S + 5
    assert text == "".join(WORDS)
    assert_error_row(caller.row(), "UpstreamTimeout", 504, streamed=True)


@wires
def test_unknown_events_long_lines_and_crlf_are_a_normal_stream(
    bad: BadUpstream, caller: Caller, wire: Wire
) -> None:
    """The control, and two regressions: unknown events and fields are skipped, a line longer
    than aiohttp's line limit (2 x read_bufsize, 512 KiB: it raised LineTooLong, a traceback)
    is relayed whole, and CRLF line ends work."""
    long_word = "y" * 600_000
    body = wire.opening + wire.unknown + wire.words + wire.text_event(long_word) + wire.closing
    bad.script = [head() + body.replace(b"\n", b"\r\n")]
    text = "".join(
        c.delta.content or ""
        for chunk in caller.create(wire.alias, stream=True)
        for c in chunk.choices
    )
    assert text.startswith("".join(WORDS)) and text.endswith(long_word)
    row = caller.row()
    assert row["status"] == "ok" and row["output_tokens"] > 0


# ---------------------------------------------------------------- the simulator's fault knobs


@pytest.fixture(scope="module", params=["rate_malformed", "rate_reset"])
def faulty_sim(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, RunningGateway]]:
    faults = SimFaults(**{request.param: 1.0})
    settings = SimSettings(faults=faults, min_output_tokens=40, max_output_tokens=40)
    db: Path = tmp_path_factory.mktemp("sim_faults") / "ledger.db"
    with running_sim_server(settings) as sim_url:
        providers = {
            "sim_openai": {"type": "openai", "base_url": sim_url, "timeout_s": 10},
            "sim_anthropic": {
                "type": "anthropic",
                "base_url": sim_url.removesuffix("/v1"),
                "timeout_s": 10,
            },
        }
        with running_gateway(gateway_config(db, providers, _by_wire("sim"))) as gw:
            yield request.param, gw


@wires
def test_sim_faults_through_the_gateway(faulty_sim: tuple[str, RunningGateway], wire: Wire) -> None:
    fault, gw = faulty_sim
    caller = Caller(gw)
    with caller.client:
        err = fails_before_streaming(caller, wire, stream=False)
        text, _ = fails_mid_stream(caller, wire)
    rows = {r["stream"]: r for r in gw.records() if r["project"] == caller.project}
    if fault == "rate_malformed":  # the body stops half-way: not valid JSON
        assert err.status_code == 502
        assert_error_row(rows[0], "UpstreamProtocolError", 502, streamed=False)
    else:  # the connection closes with no answer at all
        assert err.status_code == 502 and isinstance(err.body, dict)
        assert err.body["type"] == "api_connection_error"
        assert_error_row(rows[0], "UpstreamUnavailable", 502, streamed=False)
    # Streams: half the events arrive, then a broken event or a cut connection.
    assert text
    assert_error_row(rows[1], "UpstreamProtocolError", 502, streamed=True)
    if wire is ANTHROPIC:  # the input count came from message_start: exact, not estimated
        assert rows[1]["input_tokens"] > 0


# ---------------------------------------------------------------- failover before the first chunk


@pytest.mark.parametrize("case", sorted(NO_STREAM))
def test_a_stream_that_breaks_before_its_first_chunk_fails_over_invisibly(
    bad: BadUpstream, tmp_path: Path, case: str
) -> None:
    """Nothing reached the client yet, so the next deployment answers: no error at all."""
    wire = WIRES[0]
    providers = {
        "bad_openai": {"type": "openai", "base_url": f"{bad.url}/v1", "timeout_s": TIMEOUT_S},
        "backup": {"type": "sim", "sim": {"seed": 3}},
    }
    deployments = [
        {"provider": "bad_openai", "model": "gpt-4o-mini"},
        {"provider": "backup", "model": "gpt-4o-mini"},
    ]
    config = gateway_config(
        tmp_path / "ledger.db", providers, {"chat": {"deployments": deployments}}
    )
    bad.script = [NO_STREAM[case](wire)]
    with running_gateway(config) as gw:
        client = openai.OpenAI(
            base_url=gw.base_url, api_key="unused", max_retries=0, timeout=CLIENT_TIMEOUT_S
        )
        stream = client.chat.completions.create(
            model="chat", messages=[{"role": "user", "content": "hi"}], stream=True
        )
        text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
        client.close()
        assert text
        (row,) = gw.records()
    assert (row["status"], row["attempts"], row["deployment"]) == ("ok", 2, "backup/gpt-4o-mini")
