"""An upstream that echoes the provider key daytwo sent it, in every field it can, never gets
that key (or any 8-character piece of it) to a client, the ledger, the logs, the traces or
/metrics -- for each HTTP upstream type (openai, azure_openai, anthropic, gemini, bedrock),
answered, streamed, failing with a JSON error, and failing with a text body whose 200-byte cut
falls inside the key.

Real parts throughout: the gateway over loopback HTTP, a real SQLite ledger, the in-memory span
exporter, the gateway's own loggers; the upstream is the hostile loopback server of
tests/gateway/hostile_upstream.py. The key has no well-known shape (no ``sk-`` prefix), so only
the registry of configured secrets can catch it.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from tests.gateway.bad_upstream import HOLD, BadUpstream
from tests.gateway.harness import RunningGateway, gateway_config, http, route, wait_for
from tests.gateway.hostile_upstream import (
    ANSWER,
    ERROR,
    STRADDLE_AT,
    STREAM,
    TEXT_ERROR,
    HostileUpstream,
)
from tests.gateway.matrix_harness import http_upstreams
from tests.telemetry.otlp_sink import Traced, attrs, traced

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

#: 36 characters, no well-known key shape: only the secret registry knows it.
KEY = "Zq7wErTy1uIoP3aSdF5gHjK9lZxCvBnM2Q4W"
SECRET = "hostile/secret/access/key/0123456789abcdef"
TYPES = ["openai", "azure_openai", "anthropic", "gemini", "bedrock"]
#: The model each deployment is configured with (what an unsafe served model falls back to).
MODEL = "upstream-model-1"


def pieces(k: str = KEY, n: int = 8) -> set[str]:
    return {k[i : i + n] for i in range(len(k) - n + 1)}


def assert_clean(blob: str, where: str) -> None:
    for piece in pieces():
        assert piece not in blob, f"{where} holds {piece!r} of the key: {blob[:2000]}"


class Captured(logging.Handler):
    """Every record the gateway's loggers emit, rendered unredacted (message, extras,
    traceback): stricter than the redacting formatter production logs go through."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        extras = {k: v for k, v in record.__dict__.items() if k not in ("msg", "args")}
        text = record.getMessage() + " " + repr(extras)
        if record.exc_info:
            text += logging.Formatter().formatException(record.exc_info)
        self.lines.append(text)


@pytest.fixture(scope="module")
def logs() -> Iterator[Captured]:
    handler = Captured()
    logger = logging.getLogger("daytwo")
    old = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(old)


@pytest.fixture(scope="module")
def hostile() -> Iterator[HostileUpstream]:
    with HostileUpstream().running() as up:
        yield up


@pytest.fixture(scope="module")
def t(
    hostile: HostileUpstream, logs: Captured, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Traced]:
    root = hostile.url
    providers = http_upstreams(root, "env:DT_HOSTILE_KEY", "env:DT_HOSTILE_SECRET")
    db = tmp_path_factory.mktemp("hostile") / "ledger.db"
    cfg = gateway_config(db, providers, {f"via-{p}": route(p, MODEL) for p in TYPES})
    cfg["logging"] = {"level": "debug", "access_log": True}
    cfg["models"]["twice"] = {
        "deployments": [
            {"provider": "openai", "model": MODEL},
            {"provider": "azure_openai", "model": MODEL},
        ]
    }
    # One attempt per call, but two for `twice`: its failed attempts go to the attempts table.
    cfg["resilience"] = {
        "defaults": {"max_attempts": 1},
        "aliases": {"twice": {"max_attempts": 2}},
    }
    with pytest.MonkeyPatch.context() as env:
        env.setenv("DT_HOSTILE_KEY", KEY)
        env.setenv("DT_HOSTILE_SECRET", SECRET)
        with traced(cfg) as running:
            yield running


def everything_stored(t: Traced) -> dict[str, str]:
    """Every row of every ledger table, every span, the /metrics page: as text."""
    gw = t.gw
    assert gw.app.ledger is not None and gw.db is not None
    gw.app.ledger.flush(10.0)
    out: dict[str, str] = {}
    with sqlite3.connect(gw.db) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            rows = conn.execute(f'SELECT * FROM "{table}"').fetchall()  # noqa: S608 -- own names
            out[f"ledger table {table}"] = repr(rows)
    conn.close()
    spans = []
    for span in t.spans():
        events = [(e.name, dict(e.attributes or {})) for e in span.events]
        spans.append(repr((span.name, attrs(span), span.status.description, events)))
    out["spans"] = "\n".join(spans)
    status, _, metrics = http("GET", f"{gw.url}/metrics")
    assert status == 200
    out["/metrics"] = metrics.decode()
    return out


def call(t: Traced, alias: str, *, stream: bool = False) -> tuple[int, dict[str, str], bytes]:
    body: dict[str, Any] = {
        "model": alias,
        "messages": [{"role": "user", "content": "Hi"}],
        "max_tokens": 16,
    }
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return http("POST", f"{t.gw.base_url}/chat/completions", orjson.dumps(body))


def assert_nowhere(t: Traced, logs: Captured, answer: tuple[int, dict[str, str], bytes]) -> None:
    status, headers, body = answer
    assert_clean(body.decode("utf-8", "replace"), "the client's body")
    assert_clean(repr(headers), "the client's headers")
    (call_id,) = [headers["x-daytwo-call-id"]]
    # The call is recorded (and traced) before anything is looked at: nothing is vacuous.
    row = wait_for(lambda: _row(t, call_id), what="the call's ledger row")
    wait_for(
        lambda: any(attrs(s).get("daytwo.call_id") == call_id for s in t.spans()),
        what="the call's span",
    )
    for where, blob in everything_stored(t).items():
        assert_clean(blob, where)
    assert_clean("\n".join(logs.lines), "the logs")
    assert row["http_status"] == status


def _row(t: Traced, call_id: str) -> dict[str, Any] | None:
    rows = [r for r in t.gw.records() if r["id"] == call_id]
    return rows[0] if rows else None


types = pytest.mark.parametrize("ptype", TYPES)


@types
def test_an_echoing_answer_reaches_no_one_with_the_key(
    t: Traced, hostile: HostileUpstream, logs: Captured, ptype: str
) -> None:
    hostile.mode = ANSWER
    answer = call(t, f"via-{ptype}")
    status, headers, body = answer
    assert status == 200, body
    data = orjson.loads(body)
    # The answer still arrives: its text with the key cut out, an unsafe model replaced by the
    # deployment's, the id by one of daytwo's.
    assert data["choices"][0]["message"]["content"] == "echo [REDACTED]"
    assert data["model"] == MODEL
    assert data["id"]
    assert_nowhere(t, logs, answer)
    row = t.gw.record(headers["x-daytwo-call-id"])
    assert row["status"] == "ok"
    # Bedrock names no served model: the deployment's is recorded; the others' is refused.
    assert row["served_model"] == (MODEL if ptype == "bedrock" else None)
    assert row["upstream_request_id"] is None


@types
def test_an_echoing_stream_reaches_no_one_with_the_key(
    t: Traced, hostile: HostileUpstream, logs: Captured, ptype: str
) -> None:
    hostile.mode = STREAM
    answer = call(t, f"via-{ptype}", stream=True)
    status, headers, body = answer
    assert status == 200, body
    events = [
        orjson.loads(line[6:]) for line in body.decode().split("\n") if line.startswith("data: {")
    ]
    text = "".join(
        c["choices"][0]["delta"].get("content") or "" for c in events if c.get("choices")
    )
    assert text == "echo [REDACTED]"
    assert {e["model"] for e in events} == {MODEL}
    assert len({e["id"] for e in events}) == 1  # one replacement id for the whole stream
    assert body.rstrip().endswith(b"data: [DONE]")
    assert_nowhere(t, logs, answer)
    row = t.gw.record(headers["x-daytwo-call-id"])
    assert (row["status"], row["stream"], row["output_tokens"]) == ("ok", 1, 3)
    assert row["upstream_request_id"] is None


@types
def test_an_echoing_error_reaches_no_one_with_the_key(
    t: Traced, hostile: HostileUpstream, logs: Captured, ptype: str
) -> None:
    hostile.mode = ERROR
    answer = call(t, f"via-{ptype}")
    status, headers, body = answer
    assert status == 400, body
    err = orjson.loads(body)["error"]
    assert err["message"] == "Incorrect API key provided: [REDACTED]"
    # type, code and param that are not what such fields are are dropped, not shown redacted
    assert err["type"] == "invalid_request_error"
    assert err.get("code") is None and err.get("param") is None
    assert "retry-after" not in headers and "retry-after-ms" not in headers
    assert_nowhere(t, logs, answer)
    row = t.gw.record(headers["x-daytwo-call-id"])
    assert (row["status"], row["error_class"]) == ("error", "UpstreamStatusError")
    assert row["error_message"] == "Incorrect API key provided: [REDACTED]"


@types
def test_a_key_across_the_200_byte_cut_of_a_text_error_leaves_no_piece(
    t: Traced, hostile: HostileUpstream, logs: Captured, ptype: str
) -> None:
    hostile.mode = TEXT_ERROR
    answer = call(t, f"via-{ptype}")
    status, _, body = answer
    assert status == 400, body
    message = orjson.loads(body)["error"]["message"]
    # The body was redacted whole, then cut: the cut falls inside "[REDACTED]", not the key.
    assert message.startswith("upstream returned HTTP 400: " + "x" * STRADDLE_AT + "[RED")
    assert_nowhere(t, logs, answer)


def test_the_anthropic_door_shows_no_echoed_error_field(
    t: Traced, hostile: HostileUpstream, logs: Captured
) -> None:
    hostile.mode = ERROR
    body = {"model": "via-openai", "max_tokens": 16, "messages": [{"role": "user", "content": "x"}]}
    answer = http("POST", f"{t.gw.url}/v1/messages", orjson.dumps(body))
    status, _, raw = answer
    assert status == 400, raw
    err = orjson.loads(raw)["error"]
    assert err["type"] == "invalid_request_error"
    assert err["message"] == "Incorrect API key provided: [REDACTED]"
    assert_nowhere(t, logs, answer)


def test_failed_attempts_record_no_piece_of_the_key(
    t: Traced, hostile: HostileUpstream, logs: Captured
) -> None:
    hostile.mode = ERROR
    hostile.error_status = 503
    try:
        answer = call(t, "twice")
    finally:
        hostile.error_status = 400
    status, headers, body = answer
    assert status == 503, body
    assert_nowhere(t, logs, answer)
    assert t.gw.db is not None
    with sqlite3.connect(t.gw.db) as conn:
        rows = conn.execute(
            "SELECT provider, error_class, upstream_status FROM attempts WHERE call_id = ?",
            (headers["x-daytwo-call-id"],),
        ).fetchall()
    conn.close()
    assert sorted(rows) == [
        ("azure_openai", "UpstreamStatusError", 503),
        ("openai", "UpstreamStatusError", 503),
    ]


def test_an_endless_error_body_is_read_no_further_than_64_kib(
    bad: BadUpstream, tmp_path: Path, gateway_factory: Callable[..., RunningGateway]
) -> None:
    # 70 KB of an error body, then the upstream holds the connection open: read whole, the
    # call would wait for the provider's timeout (a 504); read up to the cap, the error is
    # shown at once.
    bad.script = [
        b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n"
        + b"y" * 70_000,
        HOLD,
    ]
    providers = {"bad": {"type": "openai", "base_url": f"{bad.url}/v1", "timeout_s": 20}}
    gw = gateway_factory(
        gateway_config(tmp_path / "l.db", providers, {"m": route("bad", "gpt-4o-mini")})
    )
    body = {"model": "m", "messages": [{"role": "user", "content": "Hi"}]}
    t0 = time.monotonic()
    status, _, raw = http("POST", f"{gw.base_url}/chat/completions", orjson.dumps(body))
    assert (status, time.monotonic() - t0 < 10) == (400, True), raw
    assert orjson.loads(raw)["error"]["message"] == "upstream returned HTTP 400: " + "y" * 200


def _messages(t: Traced, *, stream: bool) -> tuple[int, dict[str, str], bytes]:
    body: dict[str, Any] = {
        "model": "via-anthropic",
        "max_tokens": 16,
        "messages": [{"role": "user", "content": "Hi"}],
    }
    if stream:
        body["stream"] = True
    return http("POST", f"{t.gw.url}/v1/messages", orjson.dumps(body))


def test_an_anthropic_answer_relayed_to_the_anthropic_door_reaches_no_one_with_the_key(
    t: Traced, hostile: HostileUpstream, logs: Captured
) -> None:
    # Anthropic in, Anthropic out: the upstream's bytes would be relayed as they came.
    hostile.mode = ANSWER
    answer = _messages(t, stream=False)
    status, _, raw = answer
    assert status == 200, raw
    msg = orjson.loads(raw)
    assert msg["type"] == "message"
    assert msg["content"] == [{"type": "text", "text": "echo [REDACTED]"}]
    assert msg["model"] == MODEL
    assert_nowhere(t, logs, answer)


def test_an_anthropic_stream_relayed_to_the_anthropic_door_reaches_no_one_with_the_key(
    t: Traced, hostile: HostileUpstream, logs: Captured
) -> None:
    hostile.mode = STREAM
    answer = _messages(t, stream=True)
    status, _, raw = answer
    assert status == 200, raw
    events = [orjson.loads(line[6:]) for line in raw.decode().split("\n") if line[:6] == "data: "]
    kinds = [e["type"] for e in events]
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    text = "".join(e["delta"].get("text", "") for e in events if e["type"] == "content_block_delta")
    assert text == "echo [REDACTED]"
    assert_nowhere(t, logs, answer)
