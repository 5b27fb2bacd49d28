"""JSON, tool calls, refusals, finish reasons, latency and cost against known outputs; and
the checks the gate reuses (checks.is_refusal, checks.format_ok)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests.evals.grading import context, one

from daytwo.evals.model import Output, ToolCall
from daytwo.quality.checks import format_ok, is_refusal

SCHEMA = {
    "type": "object",
    "required": ["answer", "confidence"],
    "properties": {"answer": {"type": "string"}, "confidence": {"type": "number", "maximum": 1}},
}
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "required": ["city"],
            "properties": {"city": {"type": "string"}, "unit": {"enum": ["c", "f"]}},
            "additionalProperties": False,
        },
    },
}


def called(*calls: tuple[str, str]) -> Output:
    return Output(
        text="", tool_calls=tuple(ToolCall(n, a) for n, a in calls), finish_reason="tool_calls"
    )


def test_is_json_with_and_without_a_schema() -> None:
    assert one({"type": "is-json"}, '{"a": 1}').passed
    assert one({"type": "is-json"}, "[1, 2]").passed
    assert not one({"type": "is-json"}, 'Sure! {"a": 1}').passed
    good = '{"answer": "4", "confidence": 0.9}'
    assert one({"type": "is-json", "value": SCHEMA}, good).passed
    g = one({"type": "is-json", "value": SCHEMA}, '{"answer": "4", "confidence": 2}')
    assert not g.passed and "confidence" in g.reason


def test_schema_from_a_file_next_to_the_suite(tmp_path: Path) -> None:
    (tmp_path / "answer.schema.yaml").write_text(
        "type: object\nrequired: [answer]\nproperties: {answer: {type: string}}\n"
    )
    raw = {"type": "is-json", "value": "file://answer.schema.yaml"}
    assert one(raw, '{"answer": "x"}', tmp_path).passed
    assert not one(raw, '{"answer": 1}', tmp_path).passed


def test_contains_json_finds_a_valid_object_inside_prose() -> None:
    text = 'Here you go: {"answer": "4", "confidence": 0.5} -- and {"other": true}.'
    assert one({"type": "contains-json"}, text).passed
    assert one({"type": "contains-json", "value": SCHEMA}, text).passed
    g = one({"type": "contains-json", "value": SCHEMA}, 'Only {"other": true} here')
    assert not g.passed and "schema" in g.reason
    assert not one({"type": "contains-json"}, "no json { at all").passed


def test_valid_openai_tools_call_checks_names_and_arguments_against_the_offered_tools() -> None:
    raw = {"type": "is-valid-openai-tools-call"}
    ok = context(called(("get_weather", '{"city": "Oslo", "unit": "c"}')), tools=[WEATHER])
    assert one(raw, ok).passed
    for output, why in (
        (called(("get_time", '{"city": "Oslo"}')), "not one of the offered"),
        (called(("get_weather", '{"unit": "c"}')), "city"),
        (called(("get_weather", '{"city": "Oslo", "unit": "k"}')), "unit"),
        (called(("get_weather", "{city: Oslo}")), "not JSON"),
        (Output(text="It is sunny."), "no tool call"),
    ):
        g = one(raw, context(output, tools=[WEATHER]))
        assert not g.passed and why in g.reason, g.reason
    assert "offered no tools" in one(raw, context(called(("get_weather", "{}")))).reason


def test_tool_call_by_name_and_expected_arguments() -> None:
    ctx = context(called(("get_weather", '{"city": "Oslo", "unit": "c"}')), tools=[WEATHER])
    assert one({"type": "tool-call", "value": "get_weather"}, ctx).passed
    assert one(
        {"type": "tool-call", "value": {"name": "get_weather", "arguments": {"city": "Oslo"}}}, ctx
    ).passed
    g = one(
        {"type": "tool-call", "value": {"name": "get_weather", "arguments": {"city": "Rome"}}}, ctx
    )
    assert not g.passed and "city" in g.reason
    assert not one({"type": "tool-call", "value": "get_time"}, ctx).passed
    bad = context(called(("get_weather", '{"unit": "c"}')), tools=[WEATHER])
    assert not one({"type": "tool-call", "value": "get_weather"}, bad).passed


def test_tool_call_f1() -> None:
    out = called(("a", "{}"), ("b", "{}"))
    g = one({"type": "tool-call-f1", "value": ["a", "b"]}, out)
    assert g.passed and g.score == 1.0
    g = one({"type": "tool-call-f1", "value": ["a", "c"]}, out)  # P = R = 1/2
    assert g.score == pytest.approx(0.5) and not g.passed
    assert one({"type": "tool-call-f1", "value": "a, c", "threshold": 0.5}, out).passed


@pytest.mark.parametrize(
    ("output", "refused"),
    [
        (Output(text="", refusal="I can't help with that."), True),
        (Output(text="", finish_reason="content_filter"), True),
        (Output(text="...", finish_reason="refusal"), True),
        (Output(text="I'm sorry, but I can't help with that request."), True),
        (Output(text="I\u2019m sorry, but I cannot share it."), True),
        (Output(text="Go to Orders and press Refund."), False),
        (Output(text="Sorry for the wait! Go to Orders and press Refund."), False),
        (
            Output(text="Steps: " + "x " * 100 + "I cannot help with that, said the old docs."),
            False,
        ),
    ],
)
def test_refusals(output: Output, refused: bool) -> None:
    assert is_refusal(output) is refused
    assert one({"type": "is-refusal"}, output).passed is refused
    assert one({"type": "not-is-refusal"}, output).passed is not refused


@pytest.mark.parametrize(
    ("output", "fmt", "ok"),
    [
        (Output(text="plain"), None, None),
        (Output(text="plain"), {"type": "text"}, None),
        (Output(text='{"a": 1}'), {"type": "json_object"}, True),
        (Output(text="[1]"), {"type": "json_object"}, False),
        (Output(text='{"a": 1'), {"type": "json_object"}, False),
        (
            Output(text='{"answer": "x", "confidence": 1}'),
            {"type": "json_schema", "json_schema": {"name": "a", "schema": SCHEMA}},
            True,
        ),
        (
            Output(text='{"answer": "x"}'),
            {"type": "json_schema", "json_schema": {"name": "a", "schema": SCHEMA}},
            False,
        ),
        (Output(text="", refusal="no"), {"type": "json_object"}, False),
        (called(("get_weather", "{}")), {"type": "json_object"}, None),
    ],
)
def test_format_ok(output: Output, fmt: dict[str, Any] | None, ok: bool | None) -> None:
    assert format_ok(output, fmt) is ok


def test_finish_reason_latency_and_cost() -> None:
    out = Output(text="x", finish_reason="length", latency_ms=850.0, cost_usd=0.0012)
    assert one({"type": "finish-reason", "value": "length"}, out).passed
    assert not one({"type": "finish-reason", "value": "stop"}, out).passed
    # Anthropic's words mean the same.
    assert one({"type": "finish-reason", "value": "max_tokens"}, out).passed
    assert one({"type": "latency", "threshold": 1000}, out).passed
    assert not one({"type": "latency", "threshold": 800}, out).passed
    assert one({"type": "cost", "threshold": 0.002}, out).passed
    g = one({"type": "cost", "threshold": 0.001}, out)
    assert not g.passed and "0.001200" in g.reason
