"""Degraded mode over real HTTP: a scope put in degraded mode through the admin API is answered
-- with a static message, the last good cached answer, or by a safe alias -- at every client
door (Chat Completions, Anthropic Messages, Responses), streamed and not, in that door's own
wire format and read by its official SDK; the app sees ``x-daytwo-degraded``; the ledger says
how each call was answered; revive switches back; the change is in the admin event log."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import orjson
import pytest
from tests.admin.client import Admin, admin_client, error_of
from tests.gateway.harness import (
    RunningGateway,
    http,
    route,
    running_gateway,
    sim_config,
    wait_for,
)

from daytwo.keys.store import KeyStore

pytestmark = pytest.mark.integration

SORRY = "Support chat is paused while we fix an outage. Email help@example.com meanwhile."
ACME = {"x-daytwo-project": "acme"}
OTHER = {"x-daytwo-project": "other"}


@pytest.fixture
def gw(tmp_path: Path) -> Iterator[RunningGateway]:
    cfg = sim_config(tmp_path)
    cfg["models"]["safe-chat"] = route("sim", "gpt-3.5-turbo")
    cfg["cache"] = {"backend": "memory", "aliases": ["gpt-4o-mini"]}
    with running_gateway(cfg) as running:
        yield running


@pytest.fixture
def admin(gw: RunningGateway) -> Iterator[tuple[Admin, str]]:
    with admin_client(gw) as a:
        yield a, a.token("operator")


def _degrade(admin: tuple[Admin, str], **body: Any) -> dict[str, Any]:
    client, token = admin
    status, data = client.call(
        "POST", "/admin/switches/degrade", token, {"reason": "provider outage", **body}
    )
    assert status == 200, data
    return dict(data)


def _revive(admin: tuple[Admin, str], scope: dict[str, str]) -> None:
    client, token = admin
    status, data = client.call("POST", "/admin/switches/revive", token, {"scope": scope})
    assert status == 200 and data["revived"], data


def _chat(gw: RunningGateway, headers: dict[str, str], content: str = "Where is my order?") -> Any:
    with gw.openai(default_headers=headers) as c:
        return c.chat.completions.with_raw_response.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": content}]
        )


def _sse_events(raw: bytes) -> list[Any]:
    out = []
    for line in raw.decode().splitlines():
        if line.startswith("data: ") and line != "data: [DONE]":
            out.append(orjson.loads(line[6:]))
    return out


# -- static: every door, streamed and not -------------------------------------------------------


def test_static_answers_every_door_in_its_wire_format_streamed_and_not(
    gw: RunningGateway, admin: tuple[Admin, str]
) -> None:
    data = _degrade(admin, scope={"project": "acme"}, mode="static", message=SORRY)
    assert (data["mode"], data["message"], data["scope"]) == ("static", SORRY, "project=acme")

    # OpenAI Chat Completions, not streamed
    raw = _chat(gw, ACME)
    assert raw.headers["x-daytwo-degraded"] == "static; scope=project=acme"
    chat = raw.parse()
    assert chat.choices[0].message.content == SORRY
    assert chat.choices[0].finish_reason == "stop"
    assert chat.usage.total_tokens == 0
    call_ids = [raw.headers["x-daytwo-call-id"]]

    # OpenAI Chat Completions, streamed (with the usage chunk the client asked for)
    with gw.openai(default_headers=ACME) as c:
        stream = c.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "hi"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = list(stream)
    text = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
    assert text == SORRY
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens == 0

    # Anthropic Messages, not streamed and streamed, through the official SDK
    client = anthropic.Anthropic(
        base_url=gw.url, api_key="unused", max_retries=0, default_headers=ACME
    )
    with client:
        raw_msg = client.messages.with_raw_response.create(
            model="gpt-4o-mini", max_tokens=50, messages=[{"role": "user", "content": "hi"}]
        )
        assert raw_msg.headers["x-daytwo-degraded"].startswith("static")
        msg = raw_msg.parse()
        assert msg.type == "message" and msg.role == "assistant"
        assert [b.text for b in msg.content if b.type == "text"] == [SORRY]
        assert msg.stop_reason == "end_turn"
        with client.messages.stream(
            model="gpt-4o-mini", max_tokens=50, messages=[{"role": "user", "content": "hi"}]
        ) as s:
            assert "".join(s.text_stream) == SORRY
            final = s.get_final_message()
        assert final.stop_reason == "end_turn"
        call_ids.append(raw_msg.headers["x-daytwo-call-id"])

    # Responses, not streamed and streamed
    with gw.openai(default_headers=ACME) as c:
        raw_resp = c.responses.with_raw_response.create(model="gpt-4o-mini", input="hi")
        assert raw_resp.headers["x-daytwo-degraded"].startswith("static")
        resp = raw_resp.parse()
        assert resp.output_text == SORRY and resp.status == "completed"
        events = list(c.responses.create(model="gpt-4o-mini", input="hi", stream=True))
    deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert deltas == SORRY
    assert events[-1].type == "response.completed"
    call_ids.append(raw_resp.headers["x-daytwo-call-id"])

    # another project is untouched: the simulator answers, no header
    other = _chat(gw, OTHER)
    assert "x-daytwo-degraded" not in other.headers
    assert other.parse().choices[0].message.content != SORRY

    rows = {r["id"]: r for r in gw.records()}
    for cid in call_ids:
        row = rows[cid]
        assert (row["status"], row["degraded"], row["cost_nanousd"]) == ("ok", "static", 0)
        assert row["provider"] is None and row["input_tokens"] == 0
    assert rows[other.headers["x-daytwo-call-id"]]["degraded"] is None
    degraded = [r for r in rows.values() if r["project"] == "acme"]
    assert len(degraded) == 6 and {r["degraded"] for r in degraded} == {"static"}

    # revive: the simulator answers again
    _revive(admin, {"project": "acme"})
    back = _chat(gw, ACME)
    assert "x-daytwo-degraded" not in back.headers
    assert back.parse().choices[0].message.content != SORRY
    assert gw.record(back.headers["x-daytwo-call-id"])["degraded"] is None


# -- cached and alias ---------------------------------------------------------------------------


def test_cached_answers_with_the_last_good_answer_and_the_message_when_there_is_none(
    gw: RunningGateway, admin: tuple[Admin, str]
) -> None:
    good = _chat(gw, ACME, "What are your opening hours?").parse()
    answer = good.choices[0].message.content
    assert answer
    _degrade(admin, scope={"workflow": "support"}, mode="cached", message=SORRY)
    support = {**ACME, "x-daytwo-workflow": "support"}

    same = _chat(gw, support, "What are your opening hours?")
    assert same.headers["x-daytwo-degraded"] == "cached; scope=workflow=support"
    assert same.parse().choices[0].message.content == answer
    fresh = _chat(gw, support, "Something nobody asked before")
    assert fresh.headers["x-daytwo-degraded"] == "static; scope=workflow=support"
    assert fresh.parse().choices[0].message.content == SORRY

    # streamed: the cached answer as chunks
    status, headers, raw = http(
        "POST",
        f"{gw.base_url}/chat/completions",
        orjson.dumps(
            {
                "model": "gpt-4o-mini",
                "stream": True,
                "messages": [{"role": "user", "content": "What are your opening hours?"}],
            }
        ),
        support,
    )
    assert status == 200 and headers["x-daytwo-degraded"].startswith("cached")
    text = "".join(
        e["choices"][0]["delta"].get("content") or "" for e in _sse_events(raw) if e["choices"]
    )
    assert text == answer

    rows = {r["id"]: r for r in gw.records()}
    hit = rows[same.headers["x-daytwo-call-id"]]
    assert (hit["degraded"], hit["cache_status"], hit["cost_nanousd"]) == ("cached", "hit", 0)
    assert hit["saved_nanousd"] > 0  # what the answer cost when it was made
    assert rows[fresh.headers["x-daytwo-call-id"]]["degraded"] == "static"


def test_alias_routes_to_the_safe_alias_under_full_admission(
    gw: RunningGateway, admin: tuple[Admin, str]
) -> None:
    data = _degrade(admin, scope={"model": "gpt-4o-mini"}, mode="alias", alias="safe-chat")
    assert (data["mode"], data["alias"]) == ("alias", "safe-chat")
    raw = _chat(gw, ACME)
    assert raw.headers["x-daytwo-degraded"] == "alias; scope=model=gpt-4o-mini"
    chat = raw.parse()
    assert chat.choices[0].message.content  # the simulator answered, as the safe alias
    row = gw.record(raw.headers["x-daytwo-call-id"])
    assert (row["alias"], row["degraded"], row["status"]) == ("gpt-4o-mini", "alias", "ok")
    assert row["deployment"].endswith("gpt-3.5-turbo") and row["cost_nanousd"] > 0

    # a kill switch on the same scope replaces the degrade: the stricter answer is a 403
    client, token = admin
    status, _ = client.call(
        "POST",
        "/admin/switches",
        token,
        {"scope": {"model": "gpt-4o-mini"}, "reason": "stop everything"},
    )
    assert status == 200
    status, _, body = http(
        "POST",
        f"{gw.base_url}/chat/completions",
        orjson.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}]}),
    )
    assert status == 403 and orjson.loads(body)["error"]["type"] == "feature_disabled"


def test_a_kill_on_a_wider_scope_wins_over_a_degrade_on_a_narrower_one(
    gw: RunningGateway, admin: tuple[Admin, str]
) -> None:
    _degrade(admin, scope={"project": "acme", "workflow": "support"}, mode="static")
    client, token = admin
    kill = {"scope": {"project": "acme"}, "reason": "runaway"}
    assert client.call("POST", "/admin/switches", token, kill)[0] == 200
    status, _, _ = http(
        "POST",
        f"{gw.base_url}/chat/completions",
        orjson.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}]}),
        {**ACME, "x-daytwo-workflow": "support"},
    )
    assert status == 403


# -- bad input, embeddings, the record ----------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"scope": {"project": "a"}, "mode": "alias"}, 400, "needs `alias`"),
        ({"scope": {"project": "a"}, "mode": "alias", "alias": "nope"}, 400, "`nope`"),
        ({"scope": {"project": "a"}, "mode": "static", "alias": "safe-chat"}, 400, "alias"),
        ({"scope": {"provider": "sim"}, "mode": "static"}, 400, "provider is not degraded"),
        ({"scope": {"project": "a"}, "mode": "sleep"}, 400, "mode"),
        ({"scope": {"project": "a"}, "mode": "static", "message": " "}, 400, "message"),
        ({"scope": {}, "mode": "static"}, 400, "scope"),
    ],
)
def test_bad_degrades_are_400_naming_the_problem(
    gw: RunningGateway, admin: tuple[Admin, str], body: dict[str, Any], status: int, words: str
) -> None:
    client, token = admin
    got, data = client.call("POST", "/admin/switches/degrade", token, {"reason": "r", **body})
    assert got == status, data
    assert words in error_of(data)["message"], data


def test_viewers_cannot_degrade_and_project_tokens_only_their_project(
    gw: RunningGateway, admin: tuple[Admin, str]
) -> None:
    client, _ = admin
    viewer = client.token("viewer")
    body = {"scope": {"project": "acme"}, "mode": "static", "reason": "r"}
    assert client.call("POST", "/admin/switches/degrade", viewer, body)[0] == 403
    scoped = client.token("operator", project="other")
    assert client.call("POST", "/admin/switches/degrade", scoped, body)[0] == 403


def test_embeddings_in_a_static_scope_are_refused_naming_the_degrade(
    gw: RunningGateway, admin: tuple[Admin, str]
) -> None:
    _degrade(admin, scope={"project": "acme"}, mode="static")
    status, _, body = http(
        "POST",
        f"{gw.base_url}/embeddings",
        orjson.dumps({"model": "text-embedding-3-small", "input": "hello"}),
        ACME,
    )
    err = orjson.loads(body)["error"]
    assert status == 403 and err["code"] == "degraded", err
    assert "embeddings have no fallback answer" in err["message"]


def test_the_change_is_in_the_event_log_and_listed_with_its_mode(
    gw: RunningGateway, admin: tuple[Admin, str]
) -> None:
    _degrade(admin, scope={"project": "acme"}, mode="static", message=SORRY)
    client, token = admin
    status, listed = client.call("GET", "/admin/switches", token)
    assert status == 200
    (only,) = listed["data"]
    assert (only["mode"], only["message"], only["source"]) == ("static", SORRY, "manual")
    _revive(admin, {"project": "acme"})
    store = KeyStore.open(gw.app.config.ledger.url)
    try:
        events = [(e.action, e.target) for e in store.events()]
    finally:
        store.close()
    assert ("switch.degrade", "project=acme") in events
    assert ("switch.revive", "project=acme") in events
    # spend control's own record says degraded mode, never a kill switch
    assert wait_for_events(gw, {("degrade_on", "project=acme"), ("degrade_off", "project=acme")})
    assert not {a for a, _ in events} & {"switch_on", "switch_off"}


def wait_for_events(gw: RunningGateway, wanted: set[tuple[str, str]]) -> bool:
    """Spend control writes its events off the event loop: wait until they are stored."""

    def stored() -> bool:
        store = KeyStore.open(gw.app.config.ledger.url)
        try:
            return wanted <= {(e.action, e.target) for e in store.events()}
        finally:
            store.close()

    return bool(wait_for(stored, what=f"events {sorted(wanted)}"))


def test_n_choices_and_a_non_ascii_scope_are_answered_in_full(
    gw: RunningGateway, admin: tuple[Admin, str]
) -> None:
    """Shapes nobody named: a client asking for n = 3 choices gets three (streamed too), and a
    scope value outside ASCII still yields a well-formed response header."""
    data = _degrade(admin, scope={"project": "café"}, mode="static", message=SORRY)
    assert data["scope"].startswith("project=")
    body = {
        "model": "gpt-4o-mini",
        "n": 3,
        "metadata": {"project": "café"},  # the body carries it as UTF-8
        "messages": [{"role": "user", "content": "hi"}],
    }
    status, headers, raw = http("POST", f"{gw.base_url}/chat/completions", orjson.dumps(body))
    assert status == 200, raw
    assert headers["x-daytwo-degraded"].startswith("static; scope=project=")
    choices = orjson.loads(raw)["choices"]
    assert [(c["index"], c["message"]["content"]) for c in choices] == [
        (i, SORRY) for i in range(3)
    ]
    status, _, raw = http(
        "POST",
        f"{gw.base_url}/chat/completions",
        orjson.dumps({**body, "stream": True}),
    )
    assert status == 200
    texts: dict[int, str] = {}
    for event in _sse_events(raw):
        for c in event["choices"]:
            texts[c["index"]] = texts.get(c["index"], "") + (c["delta"].get("content") or "")
    assert texts == {0: SORRY, 1: SORRY, 2: SORRY}
