"""``sdk.retrieval`` / ``context_assembly`` / ``tool_call`` / ``agent``: span names, kinds and
attributes per the GenAI conventions, nesting, errors, and the decorator forms."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator

import pytest
from opentelemetry.trace import SpanKind, StatusCode
from tests.sdk.otel import Spans, attrs, parent_of, span_id, trace_hex

from daytwo import sdk


def test_retrieval_span_and_its_results(spans: Spans) -> None:
    with sdk.retrieval(
        "help-centre", query="late parcel", k=3, tracer_provider=spans.provider
    ) as r:
        r.record(["kb-02", "kb-11"], [3.5, 1], collection="articles")
    span = spans.named("retrieval help-centre")
    assert span.kind is SpanKind.CLIENT
    assert attrs(span) == {
        "gen_ai.operation.name": "retrieval",
        "gen_ai.data_source.id": "help-centre",
        "gen_ai.retrieval.query.text": "late parcel",
        "daytwo.retrieval.k": 3,
        "daytwo.retrieval.document_ids": ("kb-02", "kb-11"),
        "daytwo.retrieval.scores": (3.5, 1.0),
        "daytwo.retrieval.returned": 2,
        "daytwo.retrieval.collection": "articles",
    }
    assert span.status.status_code is StatusCode.UNSET


def test_retrieval_leaves_out_what_was_not_given(spans: Spans) -> None:
    with sdk.retrieval("kb", tracer_provider=spans.provider) as r:
        r.record([])
    assert attrs(spans.named("retrieval kb")) == {
        "gen_ai.operation.name": "retrieval",
        "gen_ai.data_source.id": "kb",
        "daytwo.retrieval.document_ids": (),
        "daytwo.retrieval.returned": 0,
    }


def test_context_assembly_span(spans: Spans) -> None:
    with sdk.context_assembly(budget_tokens=500, tracer_provider=spans.provider) as c:
        c.record(tokens=480, documents=3, truncated=True, characters=1900)
    span = spans.named("context_assembly")
    assert span.kind is SpanKind.INTERNAL
    assert attrs(span) == {
        "daytwo.context.budget_tokens": 500,
        "daytwo.context.tokens": 480,
        "daytwo.context.documents": 3,
        "daytwo.context.truncated": True,
        "daytwo.context.characters": 1900,
    }


def test_tool_call_span(spans: Spans) -> None:
    with sdk.tool_call(
        "get_weather",
        call_id="call_1",
        arguments={"city": "Zürich", "days": 2},
        tracer_provider=spans.provider,
    ) as t:
        t.record_result({"forecast": "rain"})
    span = spans.named("execute_tool get_weather")
    assert span.kind is SpanKind.INTERNAL
    assert attrs(span) == {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": "get_weather",
        "gen_ai.tool.type": "function",
        "gen_ai.tool.call.id": "call_1",
        "gen_ai.tool.call.arguments": '{"city":"Zürich","days":2}',
        "gen_ai.tool.call.result": '{"forecast":"rain"}',
    }


def test_agent_span_is_the_parent_of_the_steps_inside(spans: Spans) -> None:
    tp = spans.provider
    with sdk.agent("help-desk", id="hd-1", description="answers", tracer_provider=tp) as a:
        with sdk.retrieval("kb", tracer_provider=tp):
            pass
        with (
            sdk.tool_call("lookup", tracer_provider=tp),
            sdk.retrieval("orders", tracer_provider=tp),
        ):
            pass
        assert sdk.current_trace_id() == a.trace_id
    assert sdk.current_trace_id() is None
    root = spans.named("invoke_agent help-desk")
    assert attrs(root) == {
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.agent.name": "help-desk",
        "gen_ai.agent.id": "hd-1",
        "gen_ai.agent.description": "answers",
    }
    assert root.parent is None and trace_hex(root) == a.trace_id
    tool = spans.named("execute_tool lookup")
    assert parent_of(spans.named("retrieval kb")) == span_id(root)
    assert parent_of(tool) == span_id(root)
    assert parent_of(spans.named("retrieval orders")) == span_id(tool)
    assert {trace_hex(s) for s in spans.finished()} == {a.trace_id}


def test_a_failing_step_records_the_error_and_lets_it_through(spans: Spans) -> None:
    tp = spans.provider
    with (
        sdk.agent("a", tracer_provider=tp),
        pytest.raises(TimeoutError),
        sdk.tool_call("slow", tracer_provider=tp),
    ):
        raise TimeoutError("upstream took too long")
    tool = spans.named("execute_tool slow")
    assert tool.status.status_code is StatusCode.ERROR
    assert tool.status.description == "TimeoutError: upstream took too long"
    assert attrs(tool)["error.type"] == "TimeoutError"
    assert [e.name for e in tool.events] == ["exception"]
    # the agent caught it: not an error of the agent's
    agent = spans.named("invoke_agent a")
    assert agent.status.status_code is StatusCode.UNSET
    assert "error.type" not in attrs(agent)


def test_decorated_sync_function_gets_a_span_per_call(spans: Spans) -> None:
    @sdk.retrieval("kb", k=2, tracer_provider=spans.provider)
    def search(query: str) -> list[str]:
        found = ["d1", "d2"] if "parcel" in query else []
        sdk.Retrieval.current().record(found, [0.9, 0.5][: len(found)], query=query)
        return found

    assert search("parcel") == ["d1", "d2"]
    assert search("nothing") == []
    first, second = spans.finished()
    assert first.name == second.name == "retrieval kb"
    assert attrs(first)["daytwo.retrieval.returned"] == 2
    assert attrs(second)["daytwo.retrieval.returned"] == 0
    assert attrs(second)["gen_ai.retrieval.query.text"] == "nothing"
    assert search.__name__ == "search"


def test_decorated_async_function_and_its_errors(spans: Spans) -> None:
    @sdk.tool_call("fetch", tracer_provider=spans.provider)
    async def fetch(url: str) -> str:
        await asyncio.sleep(0)
        sdk.ToolCall.current().record_result(url.upper())
        if url == "bad":
            raise ConnectionError("refused")
        return url.upper()

    @sdk.agent("crawler", tracer_provider=spans.provider)
    async def crawl() -> list[str]:
        ok = await asyncio.gather(fetch("a"), fetch("b"))
        with contextlib.suppress(ConnectionError):
            await fetch("bad")
        return list(ok)

    assert asyncio.run(crawl()) == ["A", "B"]
    root = spans.named("invoke_agent crawler")
    tools = [s for s in spans.finished() if s.name == "execute_tool fetch"]
    assert len(tools) == 3 and all(parent_of(t) == span_id(root) for t in tools)
    results = sorted(attrs(t)["gen_ai.tool.call.result"] for t in tools)
    assert results == ["A", "B", "BAD"]
    failed = [t for t in tools if t.status.status_code is StatusCode.ERROR]
    assert [attrs(f)["error.type"] for f in failed] == ["ConnectionError"]


def test_async_with_works_too(spans: Spans) -> None:
    async def run() -> None:
        async with sdk.context_assembly(tracer_provider=spans.provider) as c:
            c.record(tokens=10, documents=1)

    asyncio.run(run())
    assert attrs(spans.named("context_assembly")) == {
        "daytwo.context.tokens": 10,
        "daytwo.context.documents": 1,
        "daytwo.context.truncated": False,
    }


def test_current_finds_the_innermost_step_of_its_kind(spans: Spans) -> None:
    tp = spans.provider
    with (
        sdk.retrieval("outer", tracer_provider=tp) as outer,
        sdk.tool_call("t", tracer_provider=tp) as tool,
    ):
        assert sdk.Retrieval.current() is outer
        assert sdk.ToolCall.current() is tool
        with sdk.retrieval("inner", tracer_provider=tp) as inner:
            assert sdk.Retrieval.current() is inner
        assert sdk.Retrieval.current() is outer
    with pytest.raises(RuntimeError, match=r"no retrieval step is open here"):
        sdk.Retrieval.current()


def test_misuse_is_refused_clearly(spans: Spans) -> None:
    step = sdk.retrieval("kb", tracer_provider=spans.provider)
    with pytest.raises(RuntimeError, match="not open: record inside it"):
        step.record(["d"])
    with step:
        pass
    with pytest.raises(RuntimeError, match="already entered"), step:
        pass
    with pytest.raises(RuntimeError, match="not open"):
        step.record(["d"])

    def gen() -> Iterator[int]:
        yield 1

    with pytest.raises(TypeError, match="generator function"):
        sdk.agent("a")(gen)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: sdk.retrieval(""), "data_source must be a non-empty string"),
        (lambda: sdk.retrieval("kb", k=0), "k must be a positive integer"),
        (lambda: sdk.retrieval("kb", k=True), "k must be a positive integer"),
        (lambda: sdk.context_assembly(budget_tokens=-1), "budget_tokens must be a non-negative"),
        (lambda: sdk.tool_call(" "), "name must be a non-empty string"),
        (lambda: sdk.tool_call("t", arguments={"x": object()}), "arguments must be a string or"),
        (lambda: sdk.agent("a", id=""), "id must be a non-empty string"),
    ],
)
def test_bad_arguments_are_refused(make: Callable[[], object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make()


def test_bad_results_are_refused(spans: Spans) -> None:
    with sdk.retrieval("kb", tracer_provider=spans.provider) as r:
        with pytest.raises(ValueError, match="2 scores for 1 document ids"):
            r.record(["d"], [1.0, 2.0])
        with pytest.raises(ValueError, match="document_ids must be a sequence of strings"):
            r.record("d1")
    with (
        sdk.context_assembly(tracer_provider=spans.provider) as c,
        pytest.raises(ValueError, match="tokens must be a non-negative integer"),
    ):
        c.record(tokens=-5, documents=1)
