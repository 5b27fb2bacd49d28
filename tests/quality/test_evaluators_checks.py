"""The cheap checks as pure functions, the language guess, and the ``quality`` section's
validation (errors naming the key path)."""

from __future__ import annotations

from typing import Any

import pytest

from daytwo.config.load import validate_config
from daytwo.core.errors import ConfigError
from daytwo.quality.checks import (
    Answer,
    ToolCallSeen,
    answer_of,
    format_problem,
    refusal_reason,
    tool_call_problem,
    truncation_label,
)
from daytwo.quality.evaluate import draw, run_checks
from daytwo.quality.language import detect

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "lookup",
            "parameters": {
                "type": "object",
                "required": ["id"],
                "properties": {"id": {"type": "integer"}},
            },
        },
    }
]


def chat_answer(content: Any = "Fine.", finish: str = "stop", **message: Any) -> dict[str, Any]:
    msg = {"role": "assistant", "content": content, **message}
    return {"choices": [{"index": 0, "finish_reason": finish, "message": msg}]}


@pytest.mark.parametrize(
    ("answer", "why"),
    [
        (Answer("", refusal="I can't do that."), "signal"),
        (Answer("No.", finish_reason="content_filter"), "finish_reason"),
        (Answer("I\u2019m sorry, but I can\u2019t help with that."), "phrase"),
        (Answer("Sure! " + "x" * 200 + " i cannot provide more."), None),  # past the window
        (Answer("Paris is the capital of France."), None),
    ],
)
def test_refusal_reason(answer: Answer, why: str | None) -> None:
    assert refusal_reason(answer) == why


def test_format_problems_name_what_is_wrong() -> None:
    schema = {
        "type": "json_schema",
        "json_schema": {"schema": {"type": "object", "required": ["a"]}},
    }
    assert format_problem(Answer('{"a": 1}'), schema) == ""
    assert format_problem(Answer('{"b": 1}'), schema) == "(root): 'a' is a required property"
    assert format_problem(Answer("{oops"), {"type": "json_object"}) == "not JSON"
    assert format_problem(Answer("[1]"), {"type": "json_object"}) == "not a JSON object"
    assert format_problem(Answer("text"), {"type": "text"}) is None
    assert format_problem(Answer("text"), None) is None


def test_tool_call_problems() -> None:
    ok = ToolCallSeen("lookup", '{"id": 3}')
    assert tool_call_problem([ok], TOOLS) is None
    assert tool_call_problem([ToolCallSeen("nope", "{}")], TOOLS) == "`nope` is not an offered tool"
    assert (
        tool_call_problem([ToolCallSeen("lookup", "{")], TOOLS)
        == "`lookup`: arguments are not JSON"
    )
    problem = tool_call_problem([ToolCallSeen("lookup", '{"id": "3"}')], TOOLS)
    assert problem is not None and problem.startswith("`lookup`: id: ")


def test_truncation_labels() -> None:
    assert truncation_label(Answer("cut", finish_reason="length")) == "length"
    assert truncation_label(Answer("  ")) == "empty"
    assert truncation_label(Answer("", tool_calls=(ToolCallSeen("lookup", "{}"),))) == "ok"
    assert truncation_label(Answer("done", finish_reason="stop")) == "ok"


def test_answer_of_reads_content_parts_and_tool_calls() -> None:
    calls = [{"id": "1", "type": "function", "function": {"name": "lookup", "arguments": "{}"}}]
    got = answer_of(chat_answer([{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]))
    assert got is not None and got.text == "ab"
    got = answer_of(chat_answer(None, "tool_calls", tool_calls=calls))
    assert got is not None and got.tool_calls == (ToolCallSeen("lookup", "{}"),)
    assert answer_of({"object": "list", "data": []}) is None  # embeddings: nothing to check


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("What is the capital of France? Tell me about it.", "en"),
        ("La capital de Francia es París, y es una ciudad muy bonita.", "es"),
        ("Paris est la capitale de la France et elle est très belle.", "fr"),
        ("Die Hauptstadt von Frankreich ist Paris und sie ist schön.", "de"),
        ("Il gatto è sul tavolo e non vuole scendere per la cena.", "it"),
        ("Você sabe onde fica a estação? Não é longe da praça.", "pt"),
        ("Het is een mooie dag en ik wil niet werken.", "nl"),
        ("Привет, как дела? Всё хорошо.", "ru"),
        ("こんにちは、元気ですか？今日はいい天気ですね。", "ja"),
        ("你好，今天天气很好，我们去公园吧。", "zh"),
        ("안녕하세요, 오늘 날씨가 좋네요.", "ko"),
        ("ok", None),
        ("Refunds take 5 days.", None),  # too few function words to tell
    ],
)
def test_language_guess(text: str, lang: str | None) -> None:
    assert detect(text) == lang


def test_run_checks_says_nothing_when_there_is_nothing_to_check() -> None:
    req = {"messages": [{"role": "user", "content": "hi"}]}
    got = {
        v.evaluator: v
        for v in run_checks(("format", "tool_call", "language"), req, chat_answer(), 1)
    }
    assert got == {}  # no response_format, no tool calls, a language that cannot be told


def test_draw_is_fixed_by_seed_name_and_call() -> None:
    assert draw(1, "e/length", "c1") == draw(1, "e/length", "c1")
    assert draw(1, "e/length", "c1") != draw(2, "e/length", "c1")
    share = sum(draw(0, "e/x", f"c{i}") < 0.5 for i in range(4000)) / 4000
    assert 0.46 < share < 0.54


def quality_error(quality: dict[str, Any], **extra: Any) -> str:
    cfg = {"models": {"m": {"deployments": [{"provider": "p", "model": "m"}]}}, **extra}
    cfg["providers"] = {"p": {"type": "sim"}}
    with pytest.raises(ConfigError) as err:
        validate_config({**cfg, "quality": quality})
    return str(err.value)


def test_config_errors_name_the_key_path() -> None:
    assert "quality.evaluators.0: sample.format: `format` is not among" in quality_error(
        {"evaluators": [{"name": "a", "checks": ["refusal"], "sample": {"format": 0.5}}]}
    )
    assert "quality.evaluators.0.checks.0" in quality_error(
        {"evaluators": [{"name": "a", "checks": ["spelling"]}]}
    )
    judged = {"name": "a", "judges": [{"name": "j", "rubric": "Polite."}]}
    assert "judge.model" in quality_error({"evaluators": [judged]})
    assert "quality.judge.model: unknown model alias `nope`" in quality_error(
        {"evaluators": [judged], "judge": {"model": "nope"}}
    )
    no_budget = {"evaluators": [judged], "judge": {"model": "m"}}
    assert "quality.judge.project: the judge calls' project `quality` needs a budget" in (
        quality_error(no_budget, gateway={"require_keys": False})
    )
    assert "quality.judge.key: gateway.require_keys is on" in quality_error(no_budget)
