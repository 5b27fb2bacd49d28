"""The cheap checks as pure functions, the language guess, and the ``quality`` section's
validation (errors naming the key path)."""

from __future__ import annotations

from typing import Any

import pytest

from daytwo.config.load import validate_config
from daytwo.config.quality import LeakConfig, LeakPattern
from daytwo.core.errors import ConfigError
from daytwo.core.secrets import SecretRegistry
from daytwo.quality.checks import (
    Answer,
    ToolCallSeen,
    answer_of,
    format_problem,
    refusal_reason,
    tool_call_problem,
    truncation_label,
)
from daytwo.quality.evaluate import draw, leak_redactor, leak_verdict, run_checks
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


PROVIDER_KEY = "upstream-secret-value-0042"
OPENAI_KEY = "sk-proj-Abcdefghijklmnop12345678"
MARKER = "INTERNAL-4471"


def leak_check(secrets: SecretRegistry | None = None, **cfg: Any) -> Any:
    patterns = (LeakPattern(name="internal_marker", regex="INTERNAL-[0-9]+"),)
    redactor = leak_redactor(LeakConfig(patterns=patterns, **cfg), secrets)
    return lambda answer: leak_verdict(answer, redactor)


@pytest.mark.parametrize(
    ("answer", "label", "explanation"),
    [
        (Answer(f"Use {PROVIDER_KEY} for that."), "secrets", "found by secrets (1)"),
        (Answer(f"...and then {PROVIDER_KEY[3:21]}"), "secrets", "found by secrets (1)"),  # a piece
        (Answer(f"Try {OPENAI_KEY}."), "key_shapes", "found by key_shapes (1)"),
        (Answer(f"{MARKER}: see INTERNAL-9."), "internal_marker", "found by internal_marker (2)"),
        (
            Answer(f"{MARKER}: call with {OPENAI_KEY}."),
            "key_shapes",  # the built-in detector first, then the organisation's patterns
            "found by key_shapes (1), internal_marker (1)",
        ),
        (Answer("", refusal=f"Not with {OPENAI_KEY}."), "key_shapes", "found by key_shapes (1)"),
        (
            Answer("", tool_calls=(ToolCallSeen("lookup", f'{{"q": "{MARKER}"}}'),)),
            "internal_marker",
            "found by internal_marker (1)",
        ),
    ],
)
def test_leak_names_the_detector_never_the_value(
    answer: Answer, label: str, explanation: str
) -> None:
    secrets = SecretRegistry()
    secrets.register(PROVIDER_KEY)
    verdict = leak_check(secrets)(answer)
    assert (verdict.value, verdict.label, verdict.explanation) == (0.0, label, explanation)
    assert verdict.failed
    said = f"{verdict.label} {verdict.explanation}"
    assert not any(v in said for v in (PROVIDER_KEY, PROVIDER_KEY[3:21], OPENAI_KEY, MARKER))


def test_leak_passes_an_answer_with_nothing_to_hide() -> None:
    check = leak_check(SecretRegistry())
    assert check(Answer("Refunds take 5 days. Write to help@example.com.")).label == "ok"
    assert check(Answer("The key is in the drawer.")).value == 1.0
    # what it looks for is configured: e-mail addresses only when asked for
    with_email = leak_check(detectors=("key_shapes", "email"))
    verdict = with_email(Answer("Write to help@example.com."))
    assert (verdict.value, verdict.label) == (0.0, "email")


def test_run_checks_runs_leak_only_with_a_redactor() -> None:
    req = {"messages": [{"role": "user", "content": "hi"}]}
    answer = chat_answer(f"Use {OPENAI_KEY}.")
    assert run_checks(("leak",), req, answer, 1) == []
    redactor = leak_redactor(LeakConfig(), None)
    (verdict,) = run_checks(("leak",), req, answer, 1, leak=redactor)
    assert (verdict.evaluator, verdict.label) == ("leak", "key_shapes")


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


def pattern(name: str, regex: str) -> dict[str, Any]:
    return {"patterns": [{"name": name, "regex": regex}]}


@pytest.mark.parametrize(
    ("leak", "where", "what"),
    [
        (pattern("m", "INTERNAL-[0-9"), "patterns.0", "regex: the pattern does not compile"),
        (pattern("m", "x*"), "patterns.0", "regex: the pattern matches the empty string"),
        (pattern("email", "x"), "patterns.0", "name: `email` is a built-in detector's name"),
        (pattern("Marker", "x"), "patterns.0.name", "should match pattern"),
        (pattern("m" * 33, "x"), "patterns.0.name", "at most 32 characters"),
        ({"patterns": [*pattern("m", "x")["patterns"]] * 2}, "", "the name `m` is used twice"),
        ({"detectors": ["secrets", "secrets"]}, "", "detectors: `secrets` is listed twice"),
        ({"detectors": ["passwords"]}, "detectors.0", "'secrets', 'key_shapes', 'email'"),
        ({"detectors": []}, "", "nothing to look for: name a detector or a pattern"),
        ({"paterns": []}, "paterns", "unknown key"),
    ],
)
def test_leak_config_errors_name_the_key_path(leak: dict[str, Any], where: str, what: str) -> None:
    key = f"quality.leak.{where}" if where else "quality.leak"
    assert f"{key}: " in (error := quality_error({"leak": leak})) and what in error, error
