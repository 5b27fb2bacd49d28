"""Application feedback on an answer: ``POST /v1/feedback`` on the gateway, stored as scores of
the call (``feedback:thumbs``, ``feedback:score``, ``feedback:task_success``,
``feedback:label``) that ``daytwo quality`` reports per model, prompt version and workflow.

::

    import openai
    from daytwo import sdk

    client = openai.OpenAI(base_url="http://localhost:4000/v1", api_key=key)
    raw = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=msgs)
    answer = raw.parse()
    call_id = raw.headers["x-daytwo-call-id"]
    ...
    sdk.feedback(call_id, thumbs="up", comment="solved my problem")

The gateway and key come from ``DAYTWO_BASE_URL`` and ``DAYTWO_API_KEY`` (as
``daytwo.sdk.prompts``), or from ``base_url=`` / ``api_key=``. Standard library HTTP only.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from typing import Any, Literal

from daytwo.sdk.prompts import API_KEY_ENV, BASE_URL_ENV, DEFAULT_BASE_URL

#: The response header that carries the id of the call that made an answer.
CALL_ID_HEADER = "x-daytwo-call-id"


class FeedbackError(Exception):
    """The gateway refused the feedback (``status``: its HTTP status, 0 when unreachable;
    ``param``: the field it named; ``code``: its error code)."""

    def __init__(
        self, message: str, status: int, param: str | None = None, code: str | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.param = param
        self.code = code


def feedback(
    call_id: str | None = None,
    trace_id: str | None = None,
    *,
    thumbs: Literal["up", "down"] | None = None,
    score: float | None = None,
    label: str | None = None,
    task_success: bool | None = None,
    comment: str | None = None,
    base_url: str | None = None,
    api_key: str | None = None,
    timeout_s: float = 5.0,
) -> dict[str, Any]:
    """Send feedback on the call ``call_id`` (or the latest call of ``trace_id``); returns the
    gateway's answer (the scores stored). Raises :class:`FeedbackError`."""
    body = {
        k: v
        for k, v in (
            ("call_id", call_id),
            ("trace_id", trace_id),
            ("thumbs", thumbs),
            ("score", score),
            ("label", label),
            ("task_success", task_success),
            ("comment", comment),
        )
        if v is not None
    }
    base = (base_url or os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL).rstrip("/")
    key = api_key if api_key is not None else os.environ.get(API_KEY_ENV)
    headers = {"content-type": "application/json"}
    if key:
        headers["authorization"] = f"Bearer {key}"
    url = f"{base}/v1/feedback"
    if not url.startswith(("http://", "https://")):
        raise FeedbackError(f"{BASE_URL_ENV} must be an http(s) URL, got {base!r}", 0)
    data = json.dumps(body).encode()
    req = urllib.request.Request(url, data, headers, method="POST")  # noqa: S310  # http(s), checked
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as resp:  # noqa: S310  # as above
            answer: dict[str, Any] = json.loads(resp.read())
            return answer
    except urllib.error.HTTPError as exc:
        with exc:
            raise _refusal(exc.code, exc.read()) from None
    except (urllib.error.URLError, OSError) as exc:
        raise FeedbackError(f"{url}: {exc}", 0) from None


def _refusal(status: int, raw: bytes) -> FeedbackError:
    try:
        err = json.loads(raw)["error"]
        return FeedbackError(str(err["message"]), status, err.get("param"), err.get("code"))
    except (ValueError, KeyError, TypeError):
        return FeedbackError(f"HTTP {status}", status)
