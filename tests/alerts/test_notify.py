"""What the sinks send: the signed webhook body, Slack's and PagerDuty's shapes, the mail."""

from __future__ import annotations

import time

from daytwo.alerts.notify import (
    Notification,
    email_message,
    pagerduty_body,
    signature,
    slack_body,
    verify,
    webhook_body,
)

KEY = b"whsec-0123456789"


def _n(status: str = "firing", **kw: object) -> Notification:
    fields: dict[str, object] = {
        "status": status,
        "rule": "support-errors",
        "kind": "error_rate",
        "severity": "critical",
        "labels": {"alias": "gpt-4o", "team": "ml"},
        "value": 0.25,
        "threshold": 0.05,
        "unit": "ratio",
        "started_at": 1_714_521_600.0,
        "at": 1_714_521_660.0,
        "fingerprint": "abc123",
    }
    fields.update(kw)
    return Notification(**fields)  # type: ignore[arg-type]


def test_the_signature_verifies_and_catches_tampering_and_replays() -> None:
    body = webhook_body(_n())
    now = int(time.time())
    header = signature(KEY, body, now)
    assert header.startswith(f"t={now},v1=")
    assert verify(KEY, body, header)
    assert not verify(KEY, body + b" ", header)
    assert not verify(b"another-key", body, header)
    assert not verify(KEY, body, signature(KEY, body, now - 3600))  # too old: a replay
    assert not verify(KEY, body, "v1=deadbeef")


def test_the_webhook_body_says_what_fired() -> None:
    import orjson

    data = orjson.loads(webhook_body(_n()))
    assert data["status"] == "firing" and data["rule"] == "support-errors"
    assert data["started_at"] == "2024-05-01T00:00:00.000Z" and data["ended_at"] is None
    assert data["summary"] == (
        "support-errors (alias=gpt-4o, team=ml): error rate 25.0% above 5.0%"
    )
    resolved = orjson.loads(webhook_body(_n("resolved")))
    assert resolved["ended_at"] == "2024-05-01T00:01:00.000Z"


def test_pagerduty_triggers_and_resolves_the_same_incident() -> None:
    trigger, resolve = pagerduty_body(_n(), "RKEY"), pagerduty_body(_n("resolved"), "RKEY")
    assert trigger["event_action"] == "trigger" and resolve["event_action"] == "resolve"
    assert trigger["dedup_key"] == resolve["dedup_key"] == "daytwo/support-errors/abc123"
    assert trigger["routing_key"] == "RKEY"
    payload = trigger["payload"]
    assert (payload["severity"], payload["source"], payload["component"]) == (
        "critical",
        "daytwo",
        "gpt-4o",
    )
    assert "payload" not in resolve


def test_slack_gets_text_and_blocks() -> None:
    body = slack_body(_n())
    assert body["text"].startswith("FIRING: support-errors")
    assert body["blocks"][0]["text"]["type"] == "mrkdwn"
    assert ":white_check_mark:" in slack_body(_n("resolved"))["blocks"][0]["text"]["text"]


def test_the_mail_names_the_alert_in_its_subject() -> None:
    msg = email_message(_n(), "daytwo@example.com", ("a@example.com", "b@example.com"))
    assert msg["Subject"].startswith("[daytwo] FIRING critical: support-errors")
    assert msg["To"] == "a@example.com, b@example.com"
    assert "threshold: 5.0%" in msg.get_content()
