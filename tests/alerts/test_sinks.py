"""Each sink type delivers to a real loopback server: Slack's and PagerDuty's payloads, mail
over SMTP, retries with backoff, and failures that keep secrets out of their messages."""

from __future__ import annotations

import asyncio
import email
import email.policy
import re
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest
from tests.alerts.receiver import Receiver
from tests.alerts.smtp import SMTPServer

from daytwo.alerts.delivery import Dispatcher, backoff
from daytwo.alerts.errors import DeliveryFailed
from daytwo.alerts.notify import Notification
from daytwo.alerts.sinks import Email, PagerDuty, Slack, build_sink
from daytwo.config.alerts import EmailSink, LogSink, PagerDutySink, SlackSink, WebhookSink
from daytwo.core.secrets import SecretRegistry

pytestmark = pytest.mark.integration
T = TypeVar("T")


def _n(status: str = "firing") -> Notification:
    return Notification(
        status=status,  # type: ignore[arg-type]
        rule="slow-answers",
        kind="p95_latency",
        severity="critical",
        labels={"alias": "gpt-4o"},
        value=2400.0,
        threshold=1500.0,
        unit="ms",
        started_at=1_714_521_600.0,
        at=1_714_521_660.0,
        fingerprint="0f0f",
    )


def _run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


async def _send(sink: Any, *notes: Notification) -> None:
    try:
        for n in notes:
            await sink.send(n)
    finally:
        await sink.aclose()


def test_slack_gets_an_incoming_webhook_message(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLACK_URL", f"{receiver.url}/services/T0/B0/s3cr3tpath")
    spec = SlackSink(type="slack", url="env:SLACK_URL", allow_private=True)
    _run(_send(Slack("chat", spec, SecretRegistry()), _n()))
    (got,) = receiver.received
    assert got.path == "/services/T0/B0/s3cr3tpath"
    body = got.json()
    assert (
        body["text"] == "FIRING: slow-answers (alias=gpt-4o): p95 latency 2,400 ms above 1,500 ms"
    )
    assert body["blocks"][0]["type"] == "section"
    assert got.headers["content-type"] == "application/json"


def test_a_failing_slack_delivery_never_shows_its_url(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLACK_URL", f"{receiver.url}/services/T0/B0/s3cr3tpath")
    receiver.default_status = 404
    spec = SlackSink(type="slack", url="env:SLACK_URL", allow_private=True)
    with pytest.raises(DeliveryFailed) as err:
        _run(_send(Slack("chat", spec, SecretRegistry()), _n()))
    assert "answered 404" in err.value.message and not err.value.retryable
    assert "s3cr3tpath" not in err.value.message


def test_pagerduty_triggers_then_resolves_with_one_dedup_key(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PD_KEY", "R0UT1NGKEY0123456789")
    spec = PagerDutySink(
        type="pagerduty",
        routing_key="env:PD_KEY",
        url=f"{receiver.url}/v2/enqueue",  # type: ignore[arg-type]
        allow_private=True,
    )
    receiver.default_status = 202
    _run(_send(PagerDuty("pager", spec, SecretRegistry()), _n(), _n("resolved")))
    trigger, resolve = receiver.bodies()
    assert [r.path for r in receiver.received] == ["/v2/enqueue", "/v2/enqueue"]
    assert (trigger["event_action"], resolve["event_action"]) == ("trigger", "resolve")
    assert trigger["dedup_key"] == resolve["dedup_key"] == "daytwo/slow-answers/0f0f"
    assert trigger["routing_key"] == resolve["routing_key"] == "R0UT1NGKEY0123456789"
    p = trigger["payload"]
    assert p["severity"] == "critical" and p["source"] == "daytwo"
    assert p["summary"].startswith("slow-answers (alias=gpt-4o): p95 latency")
    assert p["custom_details"]["threshold"] == 1500.0


def _mail_spec(port: int, **kw: Any) -> EmailSink:
    fields: dict[str, Any] = {
        "type": "email",
        "host": "127.0.0.1",
        "port": port,
        "starttls": False,
        "from": "daytwo@example.com",
        "to": ["oncall@example.com", "lead@example.com"],
        "username": "alerts",
        "password": "env:SMTP_PW",
        "timeout_s": 5,
        "allow_private": True,  # the test's SMTP server is on loopback
    }
    fields.update(kw)
    return EmailSink.model_validate(fields)


def test_mail_goes_out_over_smtp_with_login(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMTP_PW", "right")

    async def run() -> SMTPServer:
        server = SMTPServer()
        await server.start()
        try:
            await _send(Email("mail", _mail_spec(server.port), SecretRegistry()), _n())
        finally:
            await server.stop()
        return server

    server = _run(run())
    assert server.logins == [("alerts", "right")]
    (mail,) = server.mails
    assert mail.sender == "daytwo@example.com"
    assert mail.recipients == ["oncall@example.com", "lead@example.com"]
    msg = email.message_from_bytes(mail.data, policy=email.policy.default)
    assert msg["Subject"].startswith("[daytwo] FIRING critical: slow-answers")
    assert "value:     2,400 ms" in msg.get_body().get_content()  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("password", "kw", "expected"),
    [
        ("wrong", {}, "refused the login (535)"),
        ("right", {"starttls": True}, "does not offer STARTTLS"),
    ],
)
def test_mail_failures_that_a_retry_cannot_fix(
    monkeypatch: pytest.MonkeyPatch, password: str, kw: dict[str, Any], expected: str
) -> None:
    monkeypatch.setenv("SMTP_PW", password)

    async def run() -> None:
        server = SMTPServer()
        await server.start()
        try:
            await _send(Email("mail", _mail_spec(server.port, **kw), SecretRegistry()), _n())
        finally:
            await server.stop()

    with pytest.raises(DeliveryFailed, match=re.escape(expected)) as err:
        _run(run())
    assert not err.value.retryable and password not in err.value.message


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1"])
def test_mail_to_a_private_smtp_host_is_refused_unless_allowed(
    monkeypatch: pytest.MonkeyPatch, host: str
) -> None:
    """The email sink has the webhooks' address guard: a loopback SMTP server that would accept
    the mail is never connected to, by address or by a name resolving to it."""
    monkeypatch.setenv("SMTP_PW", "right")

    async def run() -> SMTPServer:
        server = SMTPServer()
        await server.start()
        try:
            spec = _mail_spec(server.port, host=host, allow_private=False)
            with pytest.raises(DeliveryFailed, match="not a public address") as err:
                await _send(Email("mail", spec, SecretRegistry()), _n())
            assert not err.value.retryable and "allow_private" in err.value.message
        finally:
            await server.stop()
        return server

    server = _run(run())
    assert server.mails == [] and server.logins == []


def test_a_missing_secret_fails_the_delivery_without_retrying(receiver: Receiver) -> None:
    spec = SlackSink(type="slack", url="env:DAYTWO_TEST_NOT_SET", allow_private=True)
    with pytest.raises(DeliveryFailed, match="DAYTWO_TEST_NOT_SET is not set") as err:
        _run(_send(Slack("chat", spec, SecretRegistry()), _n()))
    assert not err.value.retryable


def test_deliveries_retry_with_backoff_and_record_every_attempt(receiver: Receiver) -> None:
    receiver.statuses = [503, 500]
    sink = build_sink(
        "hook",
        WebhookSink(type="webhook", url=f"{receiver.url}/h", allow_private=True),  # type: ignore[arg-type]
        SecretRegistry(),
    )
    rows: list[dict[str, Any]] = []

    async def run() -> str | None:
        d = Dispatcher(rows.append, replica="t", clock=lambda: 0.0, attempts=4, backoff_s=0.05)
        try:
            return await d.deliver_now(_n(), sink)
        finally:
            await sink.aclose()

    assert _run(run()) is None
    assert [(r["attempt"], r["outcome"]) for r in rows] == [(1, "failed"), (2, "failed"), (3, "ok")]
    assert "answered 503" in rows[0]["detail"]
    assert len(receiver.received) == 3


def test_retries_are_bounded(receiver: Receiver) -> None:
    receiver.default_status = 500
    sink = build_sink(
        "hook",
        WebhookSink(type="webhook", url=f"{receiver.url}/h", allow_private=True),  # type: ignore[arg-type]
        SecretRegistry(),
    )
    rows: list[dict[str, Any]] = []

    async def run() -> str | None:
        d = Dispatcher(rows.append, replica="t", clock=lambda: 0.0, attempts=3, backoff_s=0.01)
        try:
            return await d.deliver_now(_n(), sink)
        finally:
            await sink.aclose()

    error = _run(run())
    assert error is not None and "answered 500" in error
    assert [r["outcome"] for r in rows] == ["failed"] * 3 and len(receiver.received) == 3
    assert [backoff(n, 1.0, 5.0) for n in range(1, 6)] == [1.0, 2.0, 4.0, 5.0, 5.0]


def test_the_log_sink_writes_to_the_alerts_logger(caplog: pytest.LogCaptureFixture) -> None:
    sink = build_sink("log", LogSink(type="log"), SecretRegistry())
    with caplog.at_level("INFO", logger="daytwo.alerts"):
        _run(_send(sink, _n(), _n("resolved")))
    fired, resolved = [r for r in caplog.records if r.name == "daytwo.alerts"]
    assert (fired.levelname, resolved.levelname) == ("ERROR", "INFO")  # critical fires loudly
    assert fired.getMessage().startswith("alert firing: slow-answers (alias=gpt-4o)")
    assert fired.__dict__["labels"] == {"alias": "gpt-4o"}
    assert fired.__dict__["fingerprint"] == "0f0f"
