"""Upstream redirects are never followed: an upstream answering 301, 302, 307 or 308 towards
another loopback server (which records whatever reaches it) sends nothing there -- no key
header, no body -- for every upstream type, answered, streamed and embeddings. The client gets
a 502 ``upstream_redirect`` error, the ledger records an ``UpstreamRedirect``, and the same
deployment is not asked again (one request upstream per call); another deployment of the alias
still answers the call.

Real gateway over loopback HTTP, real SQLite ledger; the upstream is the hostile loopback server
of tests/gateway/hostile_upstream.py.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from tests.gateway.harness import RunningGateway, gateway_config, http, route, running_gateway
from tests.gateway.hostile_upstream import REDIRECT, HostileUpstream, Recorder
from tests.gateway.matrix_harness import http_upstreams

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

KEY = "Rd1rEcTkEy0123456789abcdefGHIJKLmnop"
TYPES = ["openai", "azure_openai", "anthropic", "gemini", "bedrock"]
#: An embeddings model per type that has embeddings.
EMBEDDERS = {
    "openai": "text-embedding-3-small",
    "azure_openai": "text-embedding-3-small",
    "gemini": "text-embedding-004",
    "bedrock": "amazon.titan-embed-text-v2:0",
}


@pytest.fixture(scope="module")
def recorder() -> Iterator[Recorder]:
    with Recorder().running() as rec:
        yield rec


@pytest.fixture(scope="module")
def hostile(recorder: Recorder) -> Iterator[HostileUpstream]:
    with HostileUpstream().running() as up:
        up.mode = REDIRECT
        up.redirect_to = recorder.url
        yield up


@pytest.fixture(scope="module")
def gw(
    hostile: HostileUpstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningGateway]:
    root = hostile.url
    key = "env:DT_REDIRECT_KEY"
    providers: dict[str, Any] = {
        **http_upstreams(root, key, secret=key),
        "sim": {"type": "sim", "sim": {"seed": 3}},
    }
    models: dict[str, Any] = {f"via-{p}": route(p, "some-model") for p in TYPES}
    models.update({f"embed-{p}": route(p, m, "embeddings") for p, m in EMBEDDERS.items()})
    models["with-fallback"] = {
        "deployments": [
            {"provider": "openai", "model": "gpt-4o-mini"},
            {"provider": "sim", "model": "gpt-4o-mini"},
        ]
    }
    db = tmp_path_factory.mktemp("redirects") / "ledger.db"
    cfg = gateway_config(db, providers, models)
    # Retries allowed (the default attempts, a generous budget): a redirect must still be
    # asked only once.
    cfg["resilience"] = {
        "defaults": {"max_attempts": 3},
        "retry_budget": {"min_retries": 1000},
    }
    with pytest.MonkeyPatch.context() as env:
        env.setenv("DT_REDIRECT_KEY", KEY)
        with running_gateway(cfg) as running:
            yield running


def attempts(gw: RunningGateway, call_id: str) -> list[dict[str, Any]]:
    assert gw.db is not None
    with sqlite3.connect(gw.db) as conn:
        conn.row_factory = sqlite3.Row
        rows = conn.execute("SELECT * FROM attempts WHERE call_id = ? ORDER BY n", (call_id,))
        out = [dict(r) for r in rows.fetchall()]
    conn.close()
    return out


def post(gw: RunningGateway, path: str, body: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
    return http("POST", f"{gw.base_url}/{path}", orjson.dumps(body))


def assert_refused(
    gw: RunningGateway,
    hostile: HostileUpstream,
    recorder: Recorder,
    before: int,
    answer: tuple[int, dict[str, str], bytes],
) -> None:
    status, headers, body = answer
    assert status == 502, body
    err = orjson.loads(body)["error"]
    assert err["code"] == "upstream_redirect"
    assert "redirect" in err["message"]
    assert headers["x-should-retry"] == "false"  # asking again would meet the same redirect
    assert recorder.seen() == []  # nothing reached the redirect's target: no key, no body
    assert hostile.requests() == before + 1  # asked once: no retry of the same deployment
    row = gw.record(headers["x-daytwo-call-id"])
    assert (row["status"], row["http_status"], row["error_class"], row["attempts"]) == (
        "error",
        502,
        "UpstreamRedirect",
        1,
    )


@pytest.mark.parametrize("code", [301, 302, 307, 308])
@pytest.mark.parametrize("ptype", TYPES)
def test_a_redirect_is_an_error_and_is_not_followed(
    gw: RunningGateway, hostile: HostileUpstream, recorder: Recorder, ptype: str, code: int
) -> None:
    hostile.redirect_status = code
    before = hostile.requests()
    body = {"model": f"via-{ptype}", "messages": [{"role": "user", "content": "Hi"}]}
    assert_refused(gw, hostile, recorder, before, post(gw, "chat/completions", body))


@pytest.mark.parametrize("ptype", TYPES)
def test_a_redirect_of_a_stream_is_not_followed(
    gw: RunningGateway, hostile: HostileUpstream, recorder: Recorder, ptype: str
) -> None:
    hostile.redirect_status = 307
    before = hostile.requests()
    body = {
        "model": f"via-{ptype}",
        "messages": [{"role": "user", "content": "Hi"}],
        "stream": True,
    }
    assert_refused(gw, hostile, recorder, before, post(gw, "chat/completions", body))


@pytest.mark.parametrize("ptype", sorted(EMBEDDERS))
def test_a_redirect_of_embeddings_is_not_followed(
    gw: RunningGateway, hostile: HostileUpstream, recorder: Recorder, ptype: str
) -> None:
    hostile.redirect_status = 308
    before = hostile.requests()
    body = {"model": f"embed-{ptype}", "input": ["one"]}  # one request even for Titan
    assert_refused(gw, hostile, recorder, before, post(gw, "embeddings", body))


def test_another_deployment_answers_when_one_redirects(
    gw: RunningGateway, hostile: HostileUpstream, recorder: Recorder
) -> None:
    hostile.redirect_status = 307
    before = hostile.requests()
    body = {"model": "with-fallback", "messages": [{"role": "user", "content": "Hi"}]}
    status, headers, raw = post(gw, "chat/completions", body)
    assert status == 200, raw
    assert orjson.loads(raw)["choices"][0]["message"]["content"]
    assert recorder.seen() == []
    assert hostile.requests() == before + 1
    call_id = headers["x-daytwo-call-id"]
    row = gw.record(call_id)
    assert (row["status"], row["attempts"], row["provider"]) == ("ok", 2, "sim")
    first, second = attempts(gw, call_id)
    assert (first["provider"], first["error_class"], first["upstream_status"]) == (
        "openai",
        "UpstreamRedirect",
        307,
    )
    assert (first["decision"], first["cost_nanousd"]) == ("retry", 0)
    assert (second["provider"], second["outcome"]) == ("sim", "ok")
