"""``POST /v1/feedback``: what the application learnt about an answer (a thumb, a score, a
label, whether the task succeeded, a comment), stored as scores of the call
(``feedback:<kind>``, source ``feedback``) in the ledger's ``scores`` table.

Authenticated like a model call (a virtual key; with ``gateway.require_keys`` off, as the
doors are). The call is named by ``call_id`` (the ``x-daytwo-call-id`` header of its answer)
or ``trace_id`` (its latest call within a week). A key may only give feedback on its own
project's calls: the call's row decides (403 otherwise).

The writer's flush delay: a call answered a moment ago may still be queued for the ledger.
A lookup that misses asks the writer to flush (:data:`FLUSH_WAIT_S` at most) and looks again:
still missing → 404. When the writer cannot flush in time (the database is slow or down) a
well-formed ``call_id`` is accepted unverified (``"verified": false``; the report joins
scores to calls when it reads them); a ``trace_id`` cannot be resolved then (503, retry).

Off the event loop: lookups, the flush and the insert run in a worker thread (the scores are
few and written at once, in one transaction, not through the calls' writer queue).
Free text (``label``, ``comment``) is stored with secrets and key shapes redacted.
"""

from __future__ import annotations

import asyncio
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from daytwo.core.errors import DaytwoError, InvalidRequest, NotFound, PermissionDenied
from daytwo.core.ids import new_call_id
from daytwo.core.score import ScoreRecord
from daytwo.core.secrets import SecretRegistry
from daytwo.gateway import openai_format as oai
from daytwo.gateway.http import JSON_HEADERS, Receive, Scope, Send, read_body, send_bytes
from daytwo.gateway.pipeline import Pipeline
from daytwo.ledger.errors import LedgerUnavailable
from daytwo.ledger.quality import CallOwner, find_call
from daytwo.ledger.writer import Ledger

PATH = "/v1/feedback"
#: The largest body accepted.
MAX_BODY_BYTES = 16 * 1024
MAX_COMMENT_CHARS = 2_000
MAX_LABEL_CHARS = 64
#: How long a lookup that missed waits for the ledger writer to store what it holds.
FLUSH_WAIT_S = 2.0
#: The version of this module's mapping from feedback to scores.
EVALUATOR_VERSION = "1"

_CALL_ID = re.compile(r"[0-9a-f]{28}")
_TRACE_ID = re.compile(r"[0-9a-f]{32}")
_FIELDS = ("call_id", "trace_id", "thumbs", "score", "label", "task_success", "comment")
_JUDGEMENTS = ("thumbs", "score", "label", "task_success", "comment")


@dataclass(frozen=True, slots=True)
class Feedback:
    """A validated request body."""

    call_id: str | None
    trace_id: str | None
    thumbs: str | None = None
    score: float | None = None
    label: str | None = None
    task_success: bool | None = None
    comment: str | None = None


def parse_feedback(raw: bytes) -> Feedback:
    """The body checked field by field; :class:`InvalidRequest` names the first bad field."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise InvalidRequest("The body is not valid JSON.", code="invalid_json") from None
    if not isinstance(body, dict):
        raise InvalidRequest("The body must be a JSON object.", code="invalid_type")
    for name in body:
        if name not in _FIELDS:
            raise _bad(name, f"Unknown field `{name}`.", "unknown_parameter")
    call_id = _ident(body, "call_id", _CALL_ID, "28 lower-case hex characters")
    trace_id = _ident(body, "trace_id", _TRACE_ID, "32 lower-case hex characters")
    if trace_id is not None and trace_id == "0" * 32:
        raise _bad("trace_id", "`trace_id` must not be all zeros.")
    if call_id is None and trace_id is None:
        raise _bad("call_id", "Name the call: `call_id` or `trace_id` is required.", "missing")
    if all(body.get(k) is None for k in _JUDGEMENTS):
        raise _bad("thumbs", f"Give at least one of {', '.join(_JUDGEMENTS)}.", "missing")
    thumbs = body.get("thumbs")
    if thumbs is not None and thumbs not in ("up", "down"):
        raise _bad("thumbs", '`thumbs` must be "up" or "down".')
    score = body.get("score")
    if score is not None:
        ok = isinstance(score, int | float) and not isinstance(score, bool)
        if not ok or not math.isfinite(score) or not 0.0 <= score <= 1.0:
            raise _bad("score", "`score` must be a number from 0 to 1.")
        score = float(score)
    task_success = body.get("task_success")
    if task_success is not None and not isinstance(task_success, bool):
        raise _bad("task_success", "`task_success` must be true or false.")
    return Feedback(
        call_id=call_id,
        trace_id=trace_id,
        thumbs=thumbs,
        score=score,
        label=_text(body, "label", MAX_LABEL_CHARS),
        task_success=task_success,
        comment=_text(body, "comment", MAX_COMMENT_CHARS),
    )


def _bad(param: str, message: str, code: str = "invalid_value") -> InvalidRequest:
    return InvalidRequest(message, param=param, code=code)


def _ident(body: dict[str, Any], name: str, shape: re.Pattern[str], what: str) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or shape.fullmatch(value) is None:
        raise _bad(name, f"`{name}` must be {what}.")
    return value


def _text(body: dict[str, Any], name: str, limit: int) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise _bad(name, f"`{name}` must be a non-empty string.")
    if len(value) > limit:
        raise _bad(name, f"`{name}` is longer than {limit} characters.", "string_above_max_length")
    return value


def feedback_scores(
    fb: Feedback, call_id: str, trace_id: str | None, at: float, redact: Callable[[str], str]
) -> list[ScoreRecord]:
    """One score per judgement given; the comment is every score's explanation (alone, it is
    a ``feedback:comment`` score without a value)."""
    comment = None if fb.comment is None else redact(fb.comment)
    kinds: list[tuple[str, float | None, str | None]] = []
    if fb.thumbs is not None:
        kinds.append(("thumbs", 1.0 if fb.thumbs == "up" else 0.0, f"thumbs_{fb.thumbs}"))
    if fb.score is not None:
        kinds.append(("score", fb.score, None))
    if fb.task_success is not None:
        outcome = "success" if fb.task_success else "failure"
        kinds.append(("task_success", float(fb.task_success), outcome))
    if fb.label is not None:
        kinds.append(("label", None, redact(fb.label)))
    if not kinds:
        kinds.append(("comment", None, None))
    return [
        ScoreRecord(
            id=new_call_id(),
            call_id=call_id,
            at=at,
            evaluator=f"feedback:{kind}",
            evaluator_version=EVALUATOR_VERSION,
            source="feedback",
            value=value,
            label=label,
            explanation=comment,
            trace_id=trace_id,
        )
        for kind, value, label in kinds
    ]


class FeedbackRoute:
    """The ASGI handler of ``POST /v1/feedback``."""

    def __init__(
        self, pipeline: Pipeline, ledger: Callable[[], Ledger | None], secrets: SecretRegistry
    ) -> None:
        self._pipeline = pipeline
        self._ledger = ledger
        self._secrets = secrets

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = dict(scope["headers"])
        call = self._pipeline.open("feedback")
        try:
            await self._pipeline.identify(call, headers)
            fb = parse_feedback(await read_body(receive, headers, MAX_BODY_BYTES))
            project = None if call.principal is None else call.principal.project
            answer = await asyncio.to_thread(self._store, fb, project)
        except DaytwoError as exc:
            wire = [(k.encode(), v.encode()) for k, v in exc.wire_headers().items()]
            await send_bytes(send, exc.status_code(), oai.error_body(exc), JSON_HEADERS + wire)
            return
        finally:
            call.runtime.release()
        await send_bytes(send, 200, orjson.dumps(answer))

    def _store(self, fb: Feedback, project: str | None) -> dict[str, Any]:
        """In a worker thread: find the call, check the project, write the scores."""
        ledger = self._ledger()
        if ledger is None:
            raise LedgerUnavailable("The ledger is not open.")
        owner, verified = self._owner(ledger, fb)
        if owner is not None and project is not None and owner.project != project:
            what = "call" if fb.call_id is not None else "trace"
            raise PermissionDenied(
                f"This key may not give feedback on another project's {what}.",
                param="call_id" if fb.call_id is not None else "trace_id",
                code="project_mismatch",
            )
        call_id = owner.call_id if owner is not None else fb.call_id
        assert call_id is not None  # _owner found the call, or fb named it
        trace_id = owner.trace_id if owner is not None else fb.trace_id
        records = feedback_scores(fb, call_id, trace_id, time.time(), self._secrets.redact)
        ledger.store.insert_scores(records)
        return {
            "object": "feedback",
            "call_id": call_id,
            "trace_id": trace_id,
            "verified": verified,
            "scores": [
                {"id": r.id, "evaluator": r.evaluator, "value": r.value, "label": r.label}
                for r in records
            ],
        }

    @staticmethod
    def _owner(ledger: Ledger, fb: Feedback) -> tuple[CallOwner | None, bool]:
        """The call and whether the ledger vouched for it (see the module docstring)."""
        owner = _lookup(ledger, fb)
        if owner is None:
            if not ledger.flush(FLUSH_WAIT_S):
                if fb.call_id is not None:
                    return None, False
                raise LedgerUnavailable(
                    "The ledger is behind; the trace cannot be looked up now. Retry shortly.",
                    headers={"retry-after": "1"},
                )
            owner = _lookup(ledger, fb)
        if owner is None:
            name = "call_id" if fb.call_id is not None else "trace_id"
            raise NotFound(f"No call with this {name} is known.", param=name, code="not_found")
        if fb.call_id is not None and fb.trace_id is not None and owner.trace_id != fb.trace_id:
            raise _bad("trace_id", "`trace_id` is not the trace of the call `call_id` names.")
        return owner, True


def _lookup(ledger: Ledger, fb: Feedback) -> CallOwner | None:
    return find_call(ledger.store, call_id=fb.call_id, trace_id=fb.trace_id)
