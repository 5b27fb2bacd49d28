"""Checks of one answer that do not need a judge: is it a refusal, does it have the format the
request asked for. The ``is-refusal`` assertion and the gate's refusal and format-compliance
rates use them now; online quality monitoring will run them on live traffic.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jsonschema  # type: ignore[import-untyped]  # no stubs in the lock
import orjson

from daytwo.evals.model import Output

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


def is_refusal(output: Output) -> bool:
    """True when the answer declines: the provider's refusal signal, a refusal or content-filter
    finish reason, or one of :data:`REFUSAL_PHRASES` at the start of the text."""
    if output.refusal:
        return True
    if output.finish_reason in REFUSAL_FINISH_REASONS:
        return True
    head = output.text[:REFUSAL_WINDOW].lower().replace("\u2019", "'")
    return any(phrase in head for phrase in REFUSAL_PHRASES)


def format_ok(output: Output, response_format: Mapping[str, Any] | None) -> bool | None:
    """Whether the answer has the format the request asked for: JSON for ``json_object``, JSON
    valid against the schema for ``json_schema``. None when no format was asked (or ``text``),
    or when the answer is a tool call rather than a message. A refusal is not compliant."""
    if response_format is None:
        return None
    kind = response_format.get("type")
    if kind not in ("json_object", "json_schema"):
        return None
    if output.tool_calls and not output.text:
        return None
    if output.refusal:
        return False
    try:
        value = orjson.loads(output.text)
    except orjson.JSONDecodeError:
        return False
    if kind == "json_object":
        return isinstance(value, dict)
    spec = response_format.get("json_schema")
    schema = spec.get("schema") if isinstance(spec, Mapping) else None
    if not isinstance(schema, Mapping):
        return isinstance(value, dict)
    return schema_errors(schema, value) is None


def schema_errors(schema: Mapping[str, Any], value: Any) -> str | None:
    """None when ``value`` is valid against ``schema``, else the first problem, with its path."""
    validator_cls = jsonschema.validators.validator_for(schema)
    error = jsonschema.exceptions.best_match(validator_cls(schema).iter_errors(value))
    if error is None:
        return None
    where = "/".join(str(p) for p in error.absolute_path)
    return f"{where or '(root)'}: {error.message}"
