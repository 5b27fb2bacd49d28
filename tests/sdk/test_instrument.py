"""``sdk.instrument``: what an instrumented client puts on the wire (a loopback server that
keeps the headers), and what the gateway makes of it (its ledger rows)."""

from __future__ import annotations

import asyncio
from typing import Any

import anthropic
import openai
import pytest
from tests.gateway.harness import RunningGateway
from tests.sdk.capture import Capture, capture_server
from tests.sdk.otel import Spans

from daytwo import sdk

pytestmark = pytest.mark.integration

USER: Any = [{"role": "user", "content": "hi"}]


@pytest.fixture
def cap() -> Any:
    with capture_server() as server:
        yield server


def chat(client: openai.OpenAI, **kwargs: Any) -> None:
    client.chat.completions.create(model="gpt-4o-mini", messages=USER, **kwargs)


def traceparent_of(step: sdk.Step) -> str:
    ctx = step.span.get_span_context()
    return f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{int(ctx.trace_flags):02x}"


def test_scope_and_span_go_on_the_wire(cap: Capture, spans: Spans) -> None:
    client = sdk.instrument(openai.OpenAI(base_url=cap.base_url, api_key="k", max_retries=0))
    with (
        sdk.attribution(workflow="rag", session="s-1", tags={"team": "support"}),
        sdk.agent("bot", tracer_provider=spans.provider) as bot,
    ):
        chat(client)
    sent = cap.last()
    assert sent["x-daytwo-workflow"] == "rag" and sent["x-daytwo-session"] == "s-1"
    assert sent["x-daytwo-tags"] == "team=support"
    assert sent["traceparent"] == traceparent_of(bot)


def test_nothing_is_added_outside_scopes_and_spans(cap: Capture) -> None:
    client = sdk.instrument(openai.OpenAI(base_url=cap.base_url, api_key="k", max_retries=0))
    chat(client)
    assert not [h for h in cap.last() if h.startswith("x-daytwo-") or h == "traceparent"]


def test_request_and_client_headers_win_over_the_scope(cap: Capture, spans: Spans) -> None:
    client = sdk.attribute(
        sdk.instrument(openai.OpenAI(base_url=cap.base_url, api_key="k", max_retries=0)),
        project="helpdesk",
        tags={"tier": "gold"},
    )
    mine = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    with (
        sdk.attribution(project="other", workflow="rag", tags={"tier": "x", "team": "ops"}),
        sdk.agent("bot", tracer_provider=spans.provider),
    ):
        chat(client, extra_headers={"x-daytwo-workflow": "triage", "traceparent": mine})
    sent = cap.last()
    assert sent["x-daytwo-project"] == "helpdesk"  # the client's
    assert sent["x-daytwo-workflow"] == "triage"  # the request's
    assert sent["traceparent"] == mine
    # tags merge: the scope's team=ops joins; the client's tier wins over the scope's
    assert dict(t.split("=") for t in sent["x-daytwo-tags"].split(",")) == {
        "tier": "gold",
        "team": "ops",
    }


def test_every_retry_carries_the_headers(cap: Capture, spans: Spans) -> None:
    cap.refuse = 2
    client = sdk.instrument(openai.OpenAI(base_url=cap.base_url, api_key="k", max_retries=2))
    with sdk.attribution(session="s-9"), sdk.agent("bot", tracer_provider=spans.provider) as bot:
        chat(client)
    assert len(cap.requests) == 3
    assert {r["x-daytwo-session"] for r in cap.requests} == {"s-9"}
    assert {r["traceparent"] for r in cap.requests} == {traceparent_of(bot)}


def test_instrumenting_twice_adds_one_hook_and_copies_share_it(cap: Capture) -> None:
    client = openai.OpenAI(base_url=cap.base_url, api_key="k", max_retries=0)
    before = len(client._client.event_hooks["request"])
    assert sdk.instrument(sdk.instrument(client)) is client
    assert len(client._client.event_hooks["request"]) == before + 1
    copy = sdk.attribute(client, project="p")
    with sdk.attribution(session="via-copy"):
        chat(copy)
    assert cap.last()["x-daytwo-session"] == "via-copy"


def test_instrument_refuses_what_is_not_a_client() -> None:
    with pytest.raises(TypeError, match=r"openai or anthropic client .*not object"):
        sdk.instrument(object())


def test_async_client_concurrent_tasks_keep_their_own_scope(cap: Capture) -> None:
    async def run() -> None:
        async with sdk.instrument(
            openai.AsyncOpenAI(base_url=cap.base_url, api_key="k", max_retries=0)
        ) as client:

            async def one(session: str) -> None:
                with sdk.attribution(session=session):
                    await client.chat.completions.create(model="gpt-4o-mini", messages=USER)

            await asyncio.gather(*(one(f"s{i}") for i in range(8)))

    asyncio.run(run())
    assert sorted(r["x-daytwo-session"] for r in cap.requests) == [f"s{i}" for i in range(8)]


# -- through the gateway: its ledger row carries the app's trace id and the attribution --------


def test_openai_call_is_recorded_with_the_apps_trace(gw: RunningGateway, spans: Spans) -> None:
    client = sdk.attribute(sdk.instrument(gw.openai()), project="helpdesk", environment="staging")
    with (
        sdk.attribution(workflow="rag", feature="answers", session="s-1", user="u-7"),
        sdk.agent("bot", tracer_provider=spans.provider) as bot,
    ):
        raw = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=USER)
    row = gw.record(raw.headers["x-daytwo-call-id"])
    assert row["trace_id"] == bot.trace_id
    assert (row["project"], row["environment"]) == ("helpdesk", "staging")
    assert (row["workflow"], row["feature"], row["session"], row["user"]) == (
        "rag",
        "answers",
        "s-1",
        "u-7",
    )
    assert row["status"] == "ok"


def test_async_openai_calls_keep_their_own_trace_and_session(
    gw: RunningGateway, spans: Spans
) -> None:
    async def run() -> dict[str, str]:
        async with sdk.instrument(
            openai.AsyncOpenAI(base_url=gw.base_url, api_key="k", max_retries=0)
        ) as client:

            async def one(session: str) -> tuple[str, str]:
                async with (
                    sdk.attribution(session=session),
                    sdk.agent(session, tracer_provider=spans.provider) as a,
                ):
                    await client.chat.completions.create(model="gpt-4o-mini", messages=USER)
                return session, a.trace_id

            return dict(await asyncio.gather(*(one(f"s{i}") for i in range(4))))

    traces = asyncio.run(run())
    rows = gw.records()
    assert len(rows) == 4
    assert {r["session"]: r["trace_id"] for r in rows} == traces
    assert len(set(traces.values())) == 4


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_anthropic_call_is_recorded_with_the_apps_trace(
    gw: RunningGateway, spans: Spans, kind: str
) -> None:
    async def call_async() -> str:
        async with sdk.attribute(
            sdk.instrument(anthropic.AsyncAnthropic(base_url=gw.url, api_key="k", max_retries=0)),
            project="claude-app",
        ) as client:
            with sdk.attribution(workflow="summary"):
                async with sdk.agent("writer", tracer_provider=spans.provider) as a:
                    await client.messages.create(model="gpt-4o-mini", max_tokens=50, messages=USER)
            return a.trace_id

    def call_sync() -> str:
        with sdk.attribute(
            sdk.instrument(anthropic.Anthropic(base_url=gw.url, api_key="k", max_retries=0)),
            project="claude-app",
        ) as client:
            with (
                sdk.attribution(workflow="summary"),
                sdk.agent("writer", tracer_provider=spans.provider) as a,
            ):
                client.messages.create(model="gpt-4o-mini", max_tokens=50, messages=USER)
            return a.trace_id

    trace_id = asyncio.run(call_async()) if kind == "async" else call_sync()
    (row,) = gw.records()
    assert (row["trace_id"], row["project"], row["workflow"]) == (
        trace_id,
        "claude-app",
        "summary",
    )
    assert row["status"] == "ok"
