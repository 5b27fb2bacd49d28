"""Checks of one answer that need no judge, as pure functions: is it a refusal, does it have
the format the request asked for, was it cut short, are its tool calls valid against the
offered tools, is it in the request's language, does it leak what the redaction detectors find,
how long is it.

The online evaluators run them on live traffic (:mod:`daytwo.quality.evaluate`); the evals
room's ``is-refusal`` assertion and the gate's refusal and format-compliance rates use the
same functions (one implementation).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from daytwo.core.redact import Redactor

#: Finish reasons providers use to say the model declined or was stopped by a filter.
REFUSAL_FINISH_REASONS = frozenset({"refusal", "content_filter"})

#: Openings of a declined answer. Matched in the first :data:`REFUSAL_WINDOW` characters of the
#: lower-cased text, with straight and curly apostrophes alike. A heuristic: providers that
#: signal refusals (OpenAI ``message.refusal``, Anthropic ``stop_reason: refusal``) are read
#: first; this catches the models that only say it in prose.
REFUSAL_PHRASES = (
    "i'm sorry, but i can't",
    "i'm sorry, but i cannot",
    "i am sorry, but i cannot",
    "i'm sorry, i can't",
    "i'm sorry, i cannot",
    "sorry, but i can't",
    "i can't help with that",
    "i cannot help with that",
    "i can't assist with",
    "i cannot assist with",
    "i can't provide",
    "i cannot provide",
    "i'm unable to help",
    "i am unable to help",
    "i'm not able to help",
    "i won't be able to help",
    "i must decline",
    "i can't comply",
    "i cannot comply",
    "as an ai language model, i cannot",
)
#: Characters of the answer's start the phrases are looked for in: a refusal says so up front;
#: a long helpful answer that quotes one later is not a refusal.
REFUSAL_WINDOW = 160


class AnswerLike(Protocol):
    """What the checks read of an answer (the evals room's ``Output`` has these too)."""

    @property
    def text(self) -> str: ...
    @property
    def refusal(self) -> str | None: ...
    @property
    def finish_reason(self) -> str | None: ...
    @property
    def tool_calls(self) -> Sequence[Any]: ...


@dataclass(frozen=True, slots=True)
class ToolCallSeen:
    """One tool call of an answer: the function's name and its arguments as sent (JSON text)."""

    name: str
    arguments: str


@dataclass(frozen=True, slots=True)
class Answer:
    """The first choice of an OpenAI-shaped chat answer, as the checks read it."""

    text: str
    refusal: str | None = None
    finish_reason: str | None = None
    tool_calls: tuple[ToolCallSeen, ...] = ()


def answer_of(response: Mapping[str, Any] | None) -> Answer | None:
    """The first choice of a ``chat.completion`` body; None when there is none to read."""
    if response is None:
        return None
    choices = response.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], Mapping):
        return None
    choice = choices[0]
    message = choice.get("message")
    if not isinstance(message, Mapping):
        return None
    content = message.get("content")
    text = content if isinstance(content, str) else parts_text(content)
    refusal = message.get("refusal")
    finish = choice.get("finish_reason")
    return Answer(
        text=text,
        refusal=refusal if isinstance(refusal, str) else None,
        finish_reason=finish if isinstance(finish, str) else None,
        tool_calls=_tool_calls(message.get("tool_calls")),
    )


def parts_text(content: Any) -> str:
    if not isinstance(content, list):
        return ""
    return "".join(
        p["text"] for p in content if isinstance(p, Mapping) and isinstance(p.get("text"), str)
    )


def _tool_calls(raw: Any) -> tuple[ToolCallSeen, ...]:
    if not isinstance(raw, list):
        return ()
    out = []
    for call in raw:
        fn = call.get("function") if isinstance(call, Mapping) else None
        if isinstance(fn, Mapping):
            name, args = fn.get("name"), fn.get("arguments")
            out.append(
                ToolCallSeen(
                    name if isinstance(name, str) else "", args if isinstance(args, str) else ""
                )
            )
    return tuple(out)


def is_refusal(output: AnswerLike) -> bool:
    """True when the answer declines: the provider's refusal signal, a refusal or content-filter
    finish reason, or one of :data:`REFUSAL_PHRASES` at the start of the text."""
    return refusal_reason(output) is not None


def refusal_reason(output: AnswerLike) -> str | None:
    """Why the answer counts as a refusal (``signal``, ``finish_reason``, ``phrase``), or None."""
    if output.refusal:
        return "signal"
    if output.finish_reason in REFUSAL_FINISH_REASONS:
        return "finish_reason"
    head = output.text[:REFUSAL_WINDOW].lower().replace("\u2019", "'")
    if any(phrase in head for phrase in REFUSAL_PHRASES):
        return "phrase"
    return None


def format_ok(output: AnswerLike, response_format: Mapping[str, Any] | None) -> bool | None:
    """Whether the answer has the format the request asked for: JSON for ``json_object``, JSON
    valid against the schema for ``json_schema``. None when no format was asked (or ``text``),
    or when the answer is a tool call rather than a message. A refusal is not compliant."""
    problem = format_problem(output, response_format)
    return None if problem is None else problem == ""


def format_problem(output: AnswerLike, response_format: Mapping[str, Any] | None) -> str | None:
    """``""`` when the answer meets ``response_format``, the problem when it does not, None
    when there is nothing to check (see :func:`format_ok`)."""
    if response_format is None:
        return None
    kind = response_format.get("type")
    if kind not in ("json_object", "json_schema"):
        return None
    if output.tool_calls and not output.text:
        return None
    if output.refusal:
        return "a refusal"
    try:
        value = orjson.loads(output.text)
    except orjson.JSONDecodeError:
        return "not JSON"
    if kind == "json_object":
        return "" if isinstance(value, dict) else "not a JSON object"
    spec = response_format.get("json_schema")
    schema = spec.get("schema") if isinstance(spec, Mapping) else None
    if not isinstance(schema, Mapping):
        return "" if isinstance(value, dict) else "not a JSON object"
    return schema_errors(schema, value) or ""


def schema_errors(schema: Mapping[str, Any], value: Any) -> str | None:
    """None when ``value`` is valid against ``schema``, else the first problem, with its path."""
    import jsonschema  # type: ignore[import-untyped]  # first schema checked: ~0.1 s of imports

    validator_cls = jsonschema.validators.validator_for(schema)
    error = jsonschema.exceptions.best_match(validator_cls(schema).iter_errors(value))
    if error is None:
        return None
    where = "/".join(str(p) for p in error.absolute_path)
    return f"{where or '(root)'}: {error.message}"


def tool_call_problem(calls: Sequence[ToolCallSeen], tools: Any) -> str | None:
    """None when every tool call names an offered function and its arguments are a JSON object
    valid against that function's ``parameters`` schema; else the first problem."""
    offered: dict[str, Any] = {}
    if isinstance(tools, list):
        for tool in tools:
            fn = tool.get("function") if isinstance(tool, Mapping) else None
            if isinstance(fn, Mapping) and isinstance(fn.get("name"), str):
                offered[fn["name"]] = fn.get("parameters")
    for call in calls:
        if call.name not in offered:
            return f"`{call.name}` is not an offered tool"
        try:
            args = orjson.loads(call.arguments or "{}")
        except orjson.JSONDecodeError:
            return f"`{call.name}`: arguments are not JSON"
        if not isinstance(args, dict):
            return f"`{call.name}`: arguments are not a JSON object"
        schema = offered[call.name]
        if isinstance(schema, Mapping):
            problem = schema_errors(schema, args)
            if problem is not None:
                return f"`{call.name}`: {problem}"
    return None


def truncation_label(output: AnswerLike) -> str:
    """``length`` (the model hit its token limit), ``empty`` (no text, no tool call, no
    refusal), else ``ok``."""
    if output.finish_reason == "length":
        return "length"
    if not output.text.strip() and not output.tool_calls and not output.refusal:
        return "empty"
    return "ok"


def leak_findings(output: AnswerLike, redactor: Redactor) -> list[tuple[str, int]]:
    """What ``redactor``'s detectors find in the answer's text, refusal and tool-call
    arguments: (detector name, findings) for each that found something, highest priority
    first; empty when nothing. The values themselves are never returned."""
    strings = [output.text, output.refusal or "", *(c.arguments for c in output.tool_calls)]
    counts = redactor.tree(strings).counts
    return [(d.name, counts[d.key]) for d in redactor.detectors if d.key in counts]
