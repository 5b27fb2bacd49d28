"""The cheap checks of one finished call, as pure steps: which evaluators apply to it, which of
their checks are sampled in, and what each says (:class:`Verdict`). The room
(:mod:`daytwo.quality.room`) turns verdicts into score rows off the response path.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from daytwo.config.quality import ALL_CHECKS, CheckName, EvaluatorConfig, LeakConfig, Match
from daytwo.core.record import CallRecord
from daytwo.core.redact import Redactor
from daytwo.core.secrets import SecretRegistry
from daytwo.quality import checks
from daytwo.quality.checks import Answer
from daytwo.quality.language import detect

#: The version of each check's logic, stored with its scores (a changed check starts a new
#: series rather than mixing with its earlier self).
CHECK_VERSIONS: dict[CheckName, str] = {
    "refusal": "1",
    "format": "1",
    "truncation": "1",
    "tool_call": "1",
    "language": "1",
    "leak": "1",
    "length": "1",
}


@dataclass(frozen=True, slots=True)
class Verdict:
    """What one check said of one answer (a score row's evaluator, value, label, explanation)."""

    evaluator: CheckName
    value: float | None
    label: str | None
    explanation: str | None = None

    @property
    def failed(self) -> bool:
        """A pass/fail check that failed (``length`` is a measurement: never)."""
        return self.evaluator != "length" and self.value is not None and self.value < 1.0


def draw(seed: int, name: str, call_id: str) -> float:
    """A uniform number in [0, 1) fixed by (seed, evaluator name, call id): the same call is
    sampled the same way on every replica and every run."""
    digest = hashlib.blake2b(f"{seed}:{name}:{call_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def matches(match: Match, record: CallRecord) -> bool:
    """Whether every selector ``match`` names equals the call's. A rollout's mirrored call
    (arm ``shadow``, project ``experiment``) is matched as the call it mirrors -- its source
    project and alias -- so that the candidate is checked by the control's evaluators."""
    project, alias = record.project, record.alias
    if record.rollout_arm == "shadow":
        project = record.tags.get("source_project", project)
        alias = record.tags.get("source_alias", alias)
    return (
        (match.project is None or match.project == project)
        and (match.workflow is None or match.workflow == record.workflow)
        and (match.prompt is None or match.prompt == record.prompt_name)
        and (match.alias is None or match.alias == alias)
    )


def sampled_checks(
    evaluators: Sequence[EvaluatorConfig], call_id: str, seed: int
) -> tuple[CheckName, ...]:
    """The checks the matching ``evaluators`` want run on this call (each once), in order."""
    wanted: set[CheckName] = set()
    for ev in evaluators:
        for check in ev.checks:
            rate = ev.sample.get(check, 1.0)
            if rate >= 1.0 or draw(seed, f"{ev.name}/{check}", call_id) < rate:
                wanted.add(check)
    return tuple(c for c in ALL_CHECKS if c in wanted)


def leak_redactor(cfg: LeakConfig, secrets: SecretRegistry | None) -> Redactor:
    """What the ``leak`` check looks with: the configured redaction detectors (``secrets``
    reads the registry as it grows) and the organisation's patterns."""
    patterns = [(p.name, p.regex) for p in cfg.patterns]
    return Redactor(cfg.detectors, patterns=patterns, secrets=secrets)


def run_checks(
    names: Iterable[CheckName],
    request: Mapping[str, Any] | None,
    response: Mapping[str, Any] | None,
    output_tokens: int,
    *,
    leak: Redactor | None = None,
) -> list[Verdict]:
    """Every named check that applies to this answer (a check with nothing to check -- no
    ``response_format``, no tools offered, a language that cannot be told, no ``leak``
    redactor -- says nothing)."""
    answer = checks.answer_of(response)
    if answer is None:
        return []
    req = request or {}
    out: list[Verdict] = []
    for name in names:
        if name == "leak":
            verdict = None if leak is None else leak_verdict(answer, leak)
        else:
            verdict = _CHECKS[name](answer, req, output_tokens)
        if verdict is not None:
            out.append(verdict)
    return out


def leak_verdict(answer: Answer, redactor: Redactor) -> Verdict:
    """The ``leak`` check: its label names the detector that found something (the first by
    priority), its explanation how much each found -- never what."""
    found = checks.leak_findings(answer, redactor)
    if not found:
        return Verdict("leak", 1.0, "ok")
    what = ", ".join(f"{name} ({n})" for name, n in found)
    return Verdict("leak", 0.0, found[0][0], f"found by {what}")


def _refusal(answer: Answer, req: Mapping[str, Any], _: int) -> Verdict | None:
    why = checks.refusal_reason(answer)
    if why is None:
        return Verdict("refusal", 1.0, "ok")
    return Verdict("refusal", 0.0, "refusal", f"refusal ({why})")


def _format(answer: Answer, req: Mapping[str, Any], _: int) -> Verdict | None:
    fmt = req.get("response_format")
    problem = checks.format_problem(answer, fmt if isinstance(fmt, Mapping) else None)
    if problem is None:
        return None
    if problem == "":
        return Verdict("format", 1.0, "valid")
    return Verdict("format", 0.0, "invalid", problem)


def _truncation(answer: Answer, req: Mapping[str, Any], _: int) -> Verdict | None:
    label = checks.truncation_label(answer)
    if label == "ok":
        return Verdict("truncation", 1.0, "ok")
    why = "finish_reason length" if label == "length" else "no content, no tool call"
    return Verdict("truncation", 0.0, label, why)


def _tool_call(answer: Answer, req: Mapping[str, Any], _: int) -> Verdict | None:
    if not answer.tool_calls:
        return None
    problem = checks.tool_call_problem(answer.tool_calls, req.get("tools"))
    if problem is None:
        return Verdict("tool_call", 1.0, "valid")
    return Verdict("tool_call", 0.0, "invalid", problem)


def _language(answer: Answer, req: Mapping[str, Any], _: int) -> Verdict | None:
    if answer.tool_calls and not answer.text:
        return None
    asked = detect(last_user_text(req))
    got = detect(answer.text) if asked is not None else None
    if asked is None or got is None:
        return None
    if got == asked:
        return Verdict("language", 1.0, got)
    return Verdict("language", 0.0, got, f"asked in `{asked}`, answered in `{got}`")


def _length(answer: Answer, req: Mapping[str, Any], output_tokens: int) -> Verdict | None:
    return Verdict("length", float(output_tokens), None)


_CHECKS = {
    "refusal": _refusal,
    "format": _format,
    "truncation": _truncation,
    "tool_call": _tool_call,
    "language": _language,
    "length": _length,
}


def last_user_text(request: Mapping[str, Any]) -> str:
    """The text of the request's last user message ('' when there is none)."""
    messages = request.get("messages")
    if not isinstance(messages, list):
        return ""
    for message in reversed(messages):
        if isinstance(message, Mapping) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content
            return checks.parts_text(content)
    return ""
