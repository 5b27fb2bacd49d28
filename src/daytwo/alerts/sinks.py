"""Where notifications go: one class per sink type, built from the config's ``alerts.sinks``.

Each sink's :meth:`~Sink.send` delivers one notification once, or raises
:class:`~daytwo.alerts.errors.DeliveryFailed` (``retryable`` says whether trying again can
help); retries and backoff belong to :mod:`daytwo.alerts.delivery`. Secrets (the HMAC key, the
Slack URL, the PagerDuty routing key, the SMTP password) are resolved from their references at
each send, so a rotated secret file is picked up, and every error message goes through the
redactor.

HTTP sinks share one aiohttp session each, opened on first use; unless the sink says
``allow_private``, its connections reach public addresses only (:mod:`daytwo.alerts.ssrf`).
Mail goes through :mod:`smtplib` in a worker thread, under the same rule: the SMTP host is
resolved once, and the connection goes to a public address of that answer only (no second
lookup, so no DNS rebinding), unless the sink says ``allow_private``.
"""

from __future__ import annotations

import asyncio
import logging
import smtplib
import socket
import ssl
from collections.abc import Mapping
from typing import Protocol

import aiohttp
import orjson
from yarl import URL

from daytwo.alerts import ssrf
from daytwo.alerts.errors import DeliveryFailed
from daytwo.alerts.notify import (
    SIGNATURE_HEADER,
    Notification,
    email_message,
    pagerduty_body,
    signature,
    slack_body,
    webhook_body,
)
from daytwo.config.alerts import (
    AlertsConfig,
    EmailSink,
    LogSink,
    PagerDutySink,
    SinkConfig,
    SlackSink,
    WebhookSink,
)
from daytwo.core.secrets import SecretError, SecretRegistry, parse_ref

log = logging.getLogger("daytwo.alerts")

#: Statuses worth another try: the receiver was busy, not wrong.
RETRYABLE_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
_USER_AGENT = "daytwo-alerts"


class Sink(Protocol):
    name: str
    type: str

    async def send(self, n: Notification) -> None: ...

    async def aclose(self) -> None: ...


def build_sinks(cfg: AlertsConfig, secrets: SecretRegistry) -> dict[str, Sink]:
    return {name: build_sink(name, spec, secrets) for name, spec in cfg.sinks.items()}


def build_sink(name: str, spec: SinkConfig, secrets: SecretRegistry) -> Sink:
    if isinstance(spec, WebhookSink):
        return Webhook(name, spec, secrets)
    if isinstance(spec, SlackSink):
        return Slack(name, spec, secrets)
    if isinstance(spec, PagerDutySink):
        return PagerDuty(name, spec, secrets)
    if isinstance(spec, EmailSink):
        return Email(name, spec, secrets)
    return Log(name, spec)


def secret_refs(spec: SinkConfig) -> list[str]:
    """The secret references a sink needs (checked when the gateway starts)."""
    if isinstance(spec, WebhookSink):
        refs = [spec.secret] if spec.secret else []
        return refs + [v for v in spec.headers.values() if _is_ref(v)]
    if isinstance(spec, SlackSink):
        return [spec.url]
    if isinstance(spec, PagerDutySink):
        return [spec.routing_key]
    if isinstance(spec, EmailSink):
        return [spec.password] if spec.password else []
    return []


def _is_ref(value: str) -> bool:
    try:
        parse_ref(value)
    except SecretError:
        return False
    return True


class _HTTPSink:
    """POST a JSON body; 2xx is delivered."""

    type = "http"

    def __init__(
        self, name: str, spec: WebhookSink | SlackSink | PagerDutySink, secrets: SecretRegistry
    ) -> None:
        self.name = name
        self.spec = spec
        self.secrets = secrets
        self._session: aiohttp.ClientSession | None = None

    def request(self, n: Notification) -> tuple[str, bytes, dict[str, str]]:
        raise NotImplementedError

    def _secret(self, ref: str) -> str:
        try:
            return self.secrets.resolve(ref)
        except SecretError as exc:
            raise DeliveryFailed(f"sink {self.name}: {exc}", retryable=False) from None

    async def send(self, n: Notification) -> None:
        url_text, body, headers = self.request(n)
        url = URL(url_text)
        if url.scheme not in ("http", "https") or not url.host:
            raise DeliveryFailed(f"sink {self.name}: the URL is not http(s)", retryable=False)
        allow = self.spec.allow_private
        try:
            if not allow:
                ssrf.check_url_host(url.host)
            if self._session is None:
                self._session = ssrf.session(allow_private=allow, timeout_s=self.spec.timeout_s)
            async with self._session.post(
                url, data=body, headers=headers, allow_redirects=False
            ) as resp:
                status = resp.status
                text = (await resp.content.read(300)).decode("utf-8", "replace")
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise self._failure(exc, url) from exc
        if 200 <= status < 300:
            return
        detail = " ".join(text.split())[:200]
        raise DeliveryFailed(
            self.secrets.redact(f"sink {self.name}: {url.host} answered {status}: {detail}"),
            retryable=status in RETRYABLE_STATUSES,
        )

    def _failure(self, exc: BaseException, url: URL) -> DeliveryFailed:
        unsafe = ssrf.unsafe_cause(exc)
        if unsafe is not None:
            return DeliveryFailed(
                f"sink {self.name}: refused to connect: {unsafe} "
                "(set allow_private: true on the sink to allow it)",
                retryable=False,
            )
        if isinstance(exc, TimeoutError):
            what = f"no answer from {url.host} within {self.spec.timeout_s:g}s"
        else:
            what = f"cannot reach {url.host}: {type(exc).__name__}: {exc}"
        return DeliveryFailed(self.secrets.redact(f"sink {self.name}: {what}"))

    async def aclose(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()


def _json_headers(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    return {"content-type": "application/json", "user-agent": _USER_AGENT, **(extra or {})}


class Webhook(_HTTPSink):
    type = "webhook"
    spec: WebhookSink

    def request(self, n: Notification) -> tuple[str, bytes, dict[str, str]]:
        body = webhook_body(n)
        extra = {k: self._secret(v) if _is_ref(v) else v for k, v in self.spec.headers.items()}
        headers = _json_headers(extra)
        if self.spec.secret is not None:
            key = self._secret(self.spec.secret).encode()
            headers[SIGNATURE_HEADER] = signature(key, body)
        return str(self.spec.url), body, headers


class Slack(_HTTPSink):
    type = "slack"
    spec: SlackSink

    def request(self, n: Notification) -> tuple[str, bytes, dict[str, str]]:
        return self._secret(self.spec.url), orjson.dumps(slack_body(n)), _json_headers()


class PagerDuty(_HTTPSink):
    type = "pagerduty"
    spec: PagerDutySink

    def request(self, n: Notification) -> tuple[str, bytes, dict[str, str]]:
        key = self._secret(self.spec.routing_key)
        return str(self.spec.url), orjson.dumps(pagerduty_body(n, key)), _json_headers()


class Email:
    type = "email"

    def __init__(self, name: str, spec: EmailSink, secrets: SecretRegistry) -> None:
        self.name = name
        self.spec = spec
        self.secrets = secrets

    async def send(self, n: Notification) -> None:
        password = None
        if self.spec.password is not None:
            try:
                password = self.secrets.resolve(self.spec.password)
            except SecretError as exc:
                raise DeliveryFailed(f"sink {self.name}: {exc}", retryable=False) from None
        await asyncio.to_thread(self._send, n, password)

    def _send(self, n: Notification, password: str | None) -> None:
        s = self.spec
        msg = email_message(n, s.from_, s.to)
        where = f"{s.host}:{s.port}"
        try:
            with _GuardedSMTP(
                s.host, s.port, timeout=s.timeout_s, allow_private=s.allow_private
            ) as smtp:
                if s.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if s.username is not None and password is not None:
                    smtp.login(s.username, password)
                smtp.send_message(msg)
        except smtplib.SMTPAuthenticationError as exc:
            raise DeliveryFailed(
                f"sink {self.name}: {where} refused the login ({exc.smtp_code})", retryable=False
            ) from exc
        except smtplib.SMTPNotSupportedError as exc:
            raise DeliveryFailed(
                f"sink {self.name}: {where} does not offer STARTTLS (set starttls: false to "
                "send without it)",
                retryable=False,
            ) from exc
        except ssrf.UnsafeAddress as exc:
            raise DeliveryFailed(
                f"sink {self.name}: refused to connect: {exc} "
                "(set allow_private: true on the sink to allow it)",
                retryable=False,
            ) from exc
        except (smtplib.SMTPException, OSError) as exc:
            what = self.secrets.redact(f"{type(exc).__name__}: {exc}")
            raise DeliveryFailed(f"sink {self.name}: mail to {where} failed: {what}") from exc

    async def aclose(self) -> None:
        return None


class _GuardedSMTP(smtplib.SMTP):
    """:class:`smtplib.SMTP` connecting only to public addresses of the host (unless
    ``allow_private``). The host name stays the one STARTTLS verifies the certificate against."""

    def __init__(self, host: str, port: int, *, timeout: float, allow_private: bool) -> None:
        self._allow_private = allow_private
        super().__init__(host, port, timeout=timeout)

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        if self._allow_private:
            return super()._get_socket(host, port, timeout)  # type: ignore[misc,no-any-return]  # smtplib's untyped internals
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        public = [i for i in infos if _public(str(i[4][0]))]
        if not public:
            shown = ", ".join(sorted({str(i[4][0]) for i in infos})) or "nothing"
            raise ssrf.UnsafeAddress(f"{host} resolves to {shown}: not a public address")
        error: OSError | None = None
        for family, kind, proto, _, addr in public:
            sock = socket.socket(family, kind, proto)
            try:
                sock.settimeout(timeout)
                sock.connect(addr)
                return sock
            except OSError as exc:
                sock.close()
                error = exc
        assert error is not None
        raise error


def _public(host: str) -> bool:
    addr = ssrf.literal(host)
    return addr is not None and ssrf.is_public(addr)


_LOG_LEVEL: dict[str, int] = {"info": logging.INFO, "warning": logging.WARNING}


class Log:
    type = "log"

    def __init__(self, name: str, spec: LogSink) -> None:
        self.name = name
        self.spec = spec

    async def send(self, n: Notification) -> None:
        level = logging.INFO
        if n.status == "firing":
            level = _LOG_LEVEL.get(n.severity, logging.ERROR)
        log.log(
            level,
            f"alert {n.status}: {n.summary}",
            extra={
                "alert": n.rule,
                "alert_status": n.status,
                "severity": n.severity,
                "labels": n.labels,
                "value": n.value,
                "threshold": n.threshold,
                "fingerprint": n.fingerprint,
            },
        )

    async def aclose(self) -> None:
        return None
