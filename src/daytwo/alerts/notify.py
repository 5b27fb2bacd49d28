"""Notifications and what each sink sends for one: pure functions, no I/O.

* webhook: the notification as JSON (:meth:`Notification.to_json`), signed with
  HMAC-SHA256 over ``<unix seconds>.<body>`` in ``X-Daytwo-Signature: t=<unix>,v1=<hex>``
  (:func:`signature`; a receiver checks it with :func:`verify`);
* Slack: an incoming-webhook message (``text`` plus one section block);
* PagerDuty: an Events API v2 ``trigger`` or ``resolve`` with ``dedup_key``
  ``daytwo/<rule>/<fingerprint>``, so a resolve closes the incident its trigger opened;
* email: a plain-text message.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any, Literal

import orjson

SIGNATURE_HEADER = "X-Daytwo-Signature"
#: A signature older than this is refused by :func:`verify` (replayed deliveries).
SIGNATURE_TOLERANCE_S = 300

Status = Literal["firing", "resolved"]
_PD_SEVERITY = {"info": "info", "warning": "warning", "critical": "critical"}


@dataclass(frozen=True, slots=True)
class Notification:
    status: Status
    rule: str
    kind: str
    severity: str
    labels: dict[str, str]
    value: float | None
    threshold: float
    unit: str
    #: When the alert started firing (Unix seconds).
    started_at: float | None
    #: When this notification was made (for ``resolved``: when the alert ended).
    at: float
    fingerprint: str
    window_s: float | None = None
    #: What daytwo did about it (``switched off project=acme``), if anything.
    action: str | None = None
    #: Sent by ``daytwo alerts test``: not a real alert.
    test: bool = False
    detail: dict[str, Any] = field(default_factory=dict)
    #: The alert's own sentence, for kinds whose condition is not "value above threshold"
    #: (``model_changed``, drift); replaces that phrase in :attr:`summary`.
    message: str | None = None
    #: Where the on-call reads what to do: a URL, or the command that prints the runbook
    #: (``daytwo runbook show provider-down``; docs/incidents.md).
    runbook: str | None = None

    @property
    def dedup_key(self) -> str:
        return f"daytwo/{self.rule}/{self.fingerprint}"

    @property
    def summary(self) -> str:
        if self.kind == "test":
            return "[test] a test notification from daytwo: this sink works"
        if self.kind == "weekly_report":  # not an alert: the review's summary as it is
            return self.message or ""
        where = ", ".join(f"{k}={v}" for k, v in sorted(self.labels.items()))
        head = f"[test] {self.rule}" if self.test else self.rule
        head += f" ({where})" if where else ""
        value = fmt(self.value, self.unit)
        limit = fmt(self.threshold, self.unit)
        if self.message is not None:
            text = f"{head}: {self.message}" if self.status == "firing" else f"{head}: resolved"
        elif self.status == "firing":
            text = f"{head}: {_KIND_TEXT.get(self.kind, self.kind)} {value} above {limit}"
        else:
            text = f"{head}: resolved ({_KIND_TEXT.get(self.kind, self.kind)} {value}, "
            text += f"threshold {limit})"
        if self.action:
            text += f"; {self.action}"
        if self.runbook:
            text += f"; runbook: {self.runbook}"
        return text

    def to_json(self) -> dict[str, Any]:
        """The webhook body (and the log sink's fields)."""
        return {
            "status": self.status,
            "rule": self.rule,
            "kind": self.kind,
            "severity": self.severity,
            "labels": self.labels,
            "value": self.value,
            "threshold": self.threshold,
            "unit": self.unit,
            "window_s": self.window_s,
            "started_at": iso(self.started_at),
            "ended_at": iso(self.at) if self.status == "resolved" else None,
            "at": iso(self.at),
            "fingerprint": self.fingerprint,
            "dedup_key": self.dedup_key,
            "summary": self.summary,
            "action": self.action,
            "test": self.test,
            "detail": self.detail,
            "runbook": self.runbook,
        }


_KIND_TEXT = {
    "spend_per_hour": "spend",
    "daily_cost": "cost today",
    "request_tokens": "tokens in one call",
    "budget_threshold": "budget used",
    "error_rate": "error rate",
    "p95_latency": "p95 latency",
    "p95_ttft": "p95 time to first token",
    "fallback_rate": "fallback rate",
    "unpriced_calls": "unpriced calls",
    "slo_burn": "error budget burn rate",
    "budget_projection": "projected budget use",
    "spend_anomaly": "hours outside the forecast",
    "reconciliation_gap": "unexplained remainder of the bill",
}


def fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "n/a"
    if unit == "usd/h":
        return f"${value:,.4f}/h"
    if unit == "usd":
        return f"${value:,.4f}"
    if unit == "ratio":
        return f"{value * 100:.1f}%"
    if unit == "%":
        return f"{value:g}%"
    if unit == "burn":
        return f"{value:,.1f}x"
    if unit == "ms":
        return f"{value:,.0f} ms"
    return f"{value:,.0f} {unit}"


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# ---------------------------------------------------------------- webhook


def webhook_body(n: Notification) -> bytes:
    return orjson.dumps(n.to_json())


def signature(secret: bytes, body: bytes, t: int | None = None) -> str:
    """The ``X-Daytwo-Signature`` value: ``t=<unix>,v1=<hex HMAC-SHA256(secret, t.body)>``."""
    t = int(time.time()) if t is None else t
    mac = hmac.new(secret, f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def verify(
    secret: bytes,
    body: bytes,
    header: str,
    *,
    now: float | None = None,
    tolerance_s: float = SIGNATURE_TOLERANCE_S,
) -> bool:
    """What a receiver does: the header's MAC matches the body and its time is recent."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        t = int(parts["t"])
        given = parts["v1"]
    except (KeyError, ValueError):
        return False
    now = time.time() if now is None else now
    if abs(now - t) > tolerance_s:
        return False
    expected = hmac.new(secret, f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, given)


# ---------------------------------------------------------------- Slack


_SLACK_ICON = {"firing": {"critical": ":red_circle:", "warning": ":warning:"}, "resolved": {}}


def slack_body(n: Notification) -> dict[str, Any]:
    if n.kind == "weekly_report":
        return {"text": n.summary}
    icon = _SLACK_ICON[n.status].get(n.severity, ":information_source:")
    if n.status == "resolved":
        icon = ":white_check_mark:"
    title = f"{icon} *{n.status.upper()}* ({n.severity}) {n.summary}"
    fields = [f"*{k}*: {v}" for k, v in sorted(n.labels.items())]
    if n.started_at is not None:
        fields.append(f"*since*: {iso(n.started_at)}")
    return {
        "text": f"{n.status.upper()}: {n.summary}",
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": title}},
            *(
                [{"type": "context", "elements": [{"type": "mrkdwn", "text": " · ".join(fields)}]}]
                if fields
                else []
            ),
        ],
    }


# ---------------------------------------------------------------- PagerDuty


def pagerduty_body(n: Notification, routing_key: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "routing_key": routing_key,
        "event_action": "trigger" if n.status == "firing" else "resolve",
        "dedup_key": n.dedup_key,
    }
    if n.status == "firing":
        body["payload"] = {
            "summary": n.summary[:1024],
            "source": "daytwo",
            "severity": _PD_SEVERITY.get(n.severity, "warning"),
            "timestamp": iso(n.started_at or n.at),
            "component": n.labels.get("alias") or n.labels.get("project") or "daytwo",
            "group": n.rule,
            "class": n.kind,
            "custom_details": {
                "value": n.value,
                "threshold": n.threshold,
                "unit": n.unit,
                "labels": n.labels,
                "action": n.action,
                "test": n.test,
            },
        }
        if n.runbook and n.runbook.startswith(("https://", "http://")):
            body["links"] = [{"href": n.runbook, "text": "runbook"}]
        elif n.runbook:  # a command (`daytwo runbook show NAME`): not a link
            body["payload"]["custom_details"]["runbook"] = n.runbook
    return body


# ---------------------------------------------------------------- email


def email_message(n: Notification, sender: str, to: tuple[str, ...]) -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"] = f"[daytwo] {n.status.upper()} {n.severity}: {n.summary}"[:250]
    msg["From"] = sender
    msg["To"] = ", ".join(to)
    lines = [
        n.summary,
        "",
        f"status:    {n.status}",
        f"rule:      {n.rule} ({n.kind})",
        f"severity:  {n.severity}",
        f"value:     {fmt(n.value, n.unit)}",
        f"threshold: {fmt(n.threshold, n.unit)}",
    ]
    if n.started_at is not None:
        lines.append(f"since:     {iso(n.started_at)}")
    if n.status == "resolved":
        lines.append(f"ended:     {iso(n.at)}")
    if n.runbook:
        lines.append(f"runbook:   {n.runbook}")
    lines += [f"label {k}: {v}" for k, v in sorted(n.labels.items())]
    msg.set_content("\n".join(lines) + "\n")
    return msg
