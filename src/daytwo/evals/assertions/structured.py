"""Assertions on the answer's structure and its call: JSON (with a JSON schema), tool calls
against the tools the request offered, refusals, the finish reason, latency and cost. Pure:
no call is made."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

import jsonschema  # type: ignore[import-untyped]  # no stubs in the lock
import yaml

from daytwo.evals.assertions.base import (
    Kind,
    Place,
    Verdict,
    binary,
    scored,
    text_list,
    text_value,
    threshold_of,
)
from daytwo.evals.model import AssertionSpec, GradeContext, ToolCall
from daytwo.quality.checks import is_refusal, schema_errors

#: ``tool-call-f1`` needed without a threshold: exactly the expected tools.
TOOL_F1_THRESHOLD = 1.0


def parse_schema(value: Any, place: Place) -> Mapping[str, Any] | None:
    """An optional JSON schema: inline, or ``file://schema.json`` / ``.yaml`` next to the
    suite. Checked against its meta-schema when the suite loads."""
    if value is None:
        return None
    if isinstance(value, str):
        if not value.startswith("file://"):
            raise place.error("value", "expected a JSON schema (a mapping) or file://schema.json")
        path = place.base_dir / value.removeprefix("file://")
        try:
            value = yaml.safe_load(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise place.error("value", f"cannot read {path}: {exc.strerror}") from None
        except yaml.YAMLError:
            raise place.error("value", f"{path} is not JSON or YAML") from None
    if not isinstance(value, dict):
        raise place.error("value", "expected a JSON schema (a mapping)")
    try:
        jsonschema.validators.validator_for(value).check_schema(value)
    except jsonschema.SchemaError as exc:
        raise place.error("value", f"invalid JSON schema: {exc.message}") from None
    return value


async def _is_json(spec: AssertionSpec, ctx: GradeContext) -> Verdict:
    try:
        value = json.loads(ctx.output.text)
    except ValueError as exc:
        return binary(False, f"not JSON: {exc}")
    if spec.parsed is None:
        return binary(True, "valid JSON")
    problem = schema_errors(spec.parsed, value)
    return binary(problem is None, problem or "valid JSON matching the schema")


def json_values(text: str) -> Iterator[Any]:
    """Every JSON object or array embedded in ``text``, left to right (nested ones are part of
    the outer value)."""
    decoder = json.JSONDecoder()
    i = 0
    while i < len(text):
        if text[i] in "{[":
            try:
                value, end = decoder.raw_decode(text, i)
            except ValueError:
                i += 1
                continue
            yield value
            i = end
        else:
            i += 1


async def _contains_json(spec: AssertionSpec, ctx: GradeContext) -> Verdict:
    problems: list[str] = []
    for value in json_values(ctx.output.text):
        if spec.parsed is None:
            return binary(True, "contains JSON")
        problem = schema_errors(spec.parsed, value)
        if problem is None:
            return binary(True, "contains JSON matching the schema")
        problems.append(problem)
    if problems:
        return binary(False, f"no JSON in the output matches the schema: {problems[0]}")
    return binary(False, "no JSON object or array in the output")


def _offered(ctx: GradeContext) -> dict[str, Mapping[str, Any]]:
    """The request's functions by name: their parameters' schema."""
    out: dict[str, Mapping[str, Any]] = {}
    for tool in ctx.tools:
        fn = tool.get("function") if tool.get("type", "function") == "function" else None
        if isinstance(fn, Mapping) and isinstance(fn.get("name"), str):
            params = fn.get("parameters")
            out[fn["name"]] = params if isinstance(params, Mapping) else {"type": "object"}
    return out


def call_problem(call: ToolCall, offered: Mapping[str, Mapping[str, Any]]) -> str | None:
    """Why a tool call is not valid for the tools offered (None when it is)."""
    if call.name not in offered:
        return f"`{call.name}` is not one of the offered tools ({', '.join(sorted(offered))})"
    try:
        args = json.loads(call.arguments or "{}")
    except ValueError:
        return f"`{call.name}`: the arguments are not JSON"
    problem = schema_errors(offered[call.name], args)
    return None if problem is None else f"`{call.name}` arguments: {problem}"


async def _valid_tools_call(spec: AssertionSpec, ctx: GradeContext) -> Verdict:
    offered = _offered(ctx)
    if not offered:
        return binary(False, "the request offered no tools")
    if not ctx.output.tool_calls:
        return binary(False, "no tool call in the output")
    for call in ctx.output.tool_calls:
        problem = call_problem(call, offered)
        if problem is not None:
            return binary(False, problem)
    return binary(True, f"{len(ctx.output.tool_calls)} valid tool call(s)")


def _parse_tool_call(value: Any, place: Place) -> tuple[str, Mapping[str, Any] | None]:
    if isinstance(value, str) and value:
        return value, None
    if isinstance(value, dict) and isinstance(value.get("name"), str):
        unknown = set(value) - {"name", "arguments"}
        if unknown:
            raise place.error(
                f"value.{sorted(unknown)[0]}", "unknown key (expected name, arguments)"
            )
        args = value.get("arguments")
        if args is not None and not isinstance(args, dict):
            raise place.error("value.arguments", "expected a mapping of argument values")
        return value["name"], args
    raise place.error("value", "expected a tool name or {name, arguments}")


async def _tool_call(spec: AssertionSpec, ctx: GradeContext) -> Verdict:
    name, want = spec.parsed
    offered = _offered(ctx)
    calls = [c for c in ctx.output.tool_calls if c.name == name]
    if not calls:
        called = [c.name for c in ctx.output.tool_calls]
        return binary(False, f"`{name}` was not called (called: {called or 'nothing'})")
    last = ""
    for call in calls:
        if name in offered:
            problem = call_problem(call, offered)
            if problem is not None:
                last = problem
                continue
        if want is None:
            return binary(True, f"`{name}` called")
        try:
            args = json.loads(call.arguments or "{}")
        except ValueError:
            last = f"`{name}`: the arguments are not JSON"
            continue
        differ = [k for k, v in want.items() if not isinstance(args, dict) or args.get(k) != v]
        if not differ:
            return binary(True, f"`{name}` called with the expected arguments")
        last = f"`{name}` arguments differ at {differ}"
    return binary(False, last)


async def _tool_call_f1(spec: AssertionSpec, ctx: GradeContext) -> Verdict:
    want = set(spec.parsed)
    got = {c.name for c in ctx.output.tool_calls}
    hits = len(want & got)
    precision = hits / len(got) if got else 0.0
    recall = hits / len(want)
    f1 = 2 * precision * recall / (precision + recall) if hits else 0.0
    return scored(
        f1,
        threshold_of(spec, TOOL_F1_THRESHOLD),
        f"tool-call F1 of called {sorted(got)} against expected {sorted(want)}",
    )


async def _is_refusal(spec: AssertionSpec, ctx: GradeContext) -> Verdict:
    hit = is_refusal(ctx.output)
    return binary(hit, "the answer is a refusal" if hit else "the answer is not a refusal")


#: Provider finish reasons with the same meaning as OpenAI's.
_FINISH_ALIASES = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "function_call": "tool_calls",
}


def _finish(reason: str | None) -> str | None:
    if reason is None:
        return None
    reason = reason.lower()
    return _FINISH_ALIASES.get(reason, reason)


async def _finish_reason(spec: AssertionSpec, ctx: GradeContext) -> Verdict:
    got, want = _finish(ctx.output.finish_reason), _finish(spec.parsed)
    return binary(got == want, f"finish reason {got!r} (expected {want!r})")


async def _latency(spec: AssertionSpec, ctx: GradeContext) -> Verdict:
    ms, limit = ctx.output.latency_ms, float(spec.threshold or 0.0)
    return binary(ms <= limit, f"{ms:.0f} ms (at most {limit:g} ms)")


async def _cost(spec: AssertionSpec, ctx: GradeContext) -> Verdict:
    usd, limit = ctx.output.cost_usd, float(spec.threshold or 0.0)
    return binary(usd <= limit, f"${usd:.6f} (at most ${limit:g})")


KINDS = (
    Kind("is-json", _is_json, value="optional", parse=parse_schema),
    Kind("contains-json", _contains_json, value="optional", parse=parse_schema),
    Kind("is-valid-openai-tools-call", _valid_tools_call, value="none"),
    Kind("tool-call", _tool_call, parse=_parse_tool_call),
    Kind("tool-call-f1", _tool_call_f1, parse=text_list, default_threshold=TOOL_F1_THRESHOLD),
    Kind("is-refusal", _is_refusal, value="none"),
    Kind("finish-reason", _finish_reason, parse=text_value),
    Kind("latency", _latency, value="none", threshold_required=True),
    Kind("cost", _cost, value="none", threshold_required=True),
)
