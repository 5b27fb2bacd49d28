"""Deliveries refuse private, loopback, link-local and other non-public targets -- checked on
the addresses actually connected to -- unless the sink says ``allow_private``."""

from __future__ import annotations

import asyncio
import socket

import pytest
from aiohttp.abc import AbstractResolver, ResolveResult
from tests.alerts.receiver import Receiver, receiving

from daytwo.alerts.errors import DeliveryFailed
from daytwo.alerts.notify import Notification
from daytwo.alerts.sinks import Webhook
from daytwo.alerts.ssrf import PublicOnlyResolver, UnsafeAddress, check_url_host, is_public
from daytwo.config.alerts import WebhookSink
from daytwo.core.secrets import SecretRegistry

N = Notification(
    status="firing",
    rule="r",
    kind="error_rate",
    severity="warning",
    labels={},
    value=0.5,
    threshold=0.1,
    unit="ratio",
    started_at=0.0,
    at=0.0,
    fingerprint="f",
)


def _send(url: str, *, allow_private: bool = False) -> None:
    sink = Webhook(
        "hook",
        WebhookSink(type="webhook", url=url, allow_private=allow_private, timeout_s=5),
        SecretRegistry(),
    )

    async def run() -> None:
        try:
            await sink.send(N)
        finally:
            await sink.aclose()

    asyncio.run(run())


def _port(r: Receiver) -> int:
    return int(r.url.rsplit(":", 1)[1])


@pytest.mark.parametrize(
    "host",
    ["127.0.0.1", "localhost", "169.254.169.254", "10.1.2.3", "192.168.0.10", "[::ffff:127.0.0.1]"],
)
def test_non_public_targets_are_refused_before_anything_is_sent(
    receiver: Receiver, host: str
) -> None:
    with pytest.raises(DeliveryFailed) as err:
        _send(f"http://{host}:{_port(receiver)}/hook")
    assert "refused to connect" in err.value.message
    assert "allow_private" in err.value.message
    assert not err.value.retryable
    assert receiver.received == []


@pytest.mark.integration
def test_ipv6_loopback_is_refused_and_allowed_with_the_flag() -> None:
    with receiving("::1") as r:
        url = f"http://[::1]:{_port(r)}/hook"
        with pytest.raises(DeliveryFailed, match="::1 is not a public address"):
            _send(url)
        assert r.received == []
        _send(url, allow_private=True)
        assert len(r.received) == 1


@pytest.mark.integration
@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_allow_private_delivers_to_loopback(receiver: Receiver, host: str) -> None:
    _send(f"http://{host}:{_port(receiver)}/hook", allow_private=True)
    assert [r.path for r in receiver.received] == ["/hook"]


@pytest.mark.integration
def test_a_redirect_is_a_failed_delivery_never_followed(receiver: Receiver) -> None:
    receiver.statuses = [302]
    with pytest.raises(DeliveryFailed, match="answered 302") as err:
        _send(f"{receiver.url}/hook", allow_private=True)
    assert not err.value.retryable
    assert len(receiver.received) == 1


class _Rebinding(AbstractResolver):
    """A DNS server that answers a public address once, then loopback (DNS rebinding)."""

    def __init__(self) -> None:
        self.answers = [["93.184.216.34"], ["127.0.0.1"], ["93.184.216.34", "10.0.0.7"]]

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        return [
            ResolveResult(hostname=host, host=a, port=port, family=family, proto=0, flags=0)
            for a in self.answers.pop(0)
        ]

    async def close(self) -> None:
        return None


def test_every_resolution_is_filtered_so_rebinding_gets_nowhere() -> None:
    async def run() -> list[list[str]]:
        resolver = PublicOnlyResolver(_Rebinding())
        first = await resolver.resolve("hooks.example.com", 443)
        with pytest.raises(UnsafeAddress, match=r"resolves to 127\.0\.0\.1"):
            await resolver.resolve("hooks.example.com", 443)
        third = await resolver.resolve("hooks.example.com", 443)
        return [[r["host"] for r in first], [r["host"] for r in third]]

    assert asyncio.run(run()) == [["93.184.216.34"], ["93.184.216.34"]]


@pytest.mark.parametrize(
    ("host", "public"),
    [
        ("8.8.8.8", True),
        ("2001:4860:4860::8888", True),
        ("224.0.0.1", False),  # multicast counts as "global" to ipaddress
        ("100.64.0.1", False),
        ("0.0.0.0", False),
        ("fe80::1", False),
        ("fc00::1", False),
    ],
)
def test_what_counts_as_public(host: str, public: bool) -> None:
    import ipaddress

    assert is_public(ipaddress.ip_address(host)) is public
    if not public:
        with pytest.raises(UnsafeAddress):
            check_url_host(host)
