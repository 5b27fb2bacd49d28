"""Deliveries that cannot be turned against the network they run in (SSRF).

A webhook URL comes from config and its host's DNS answers come from whoever runs that DNS, so
the address is checked *when connecting*, on the addresses the connection will actually use:
:class:`PublicOnlyResolver` wraps aiohttp's resolver and drops every address that is not a
public unicast one. A name that resolves to a public address when checked and to 127.0.0.1
when connecting (DNS rebinding) cannot get through: there is no second lookup. A URL whose host
is an IP literal never reaches a resolver, so :func:`check_url_host` refuses it before the
request; redirects are not followed (a 3xx is a failed delivery), so no other host is reached.

Refused: private (RFC 1918, ULA), loopback, link-local (169.254/16 -- cloud metadata services
live there -- and fe80::/10), multicast, reserved, unspecified, shared (100.64/10) and every
other non-global range, IPv4-mapped IPv6 forms of those included. ``allow_private: true`` on a
sink turns the check off for it.
"""

from __future__ import annotations

import ipaddress
import socket

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class UnsafeAddress(OSError):
    """Every address of a delivery target is private, loopback, link-local or otherwise not
    public. An ``OSError`` so that aiohttp reports it as a connection failure."""


def is_public(addr: IPAddress) -> bool:
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    return addr.is_global and not (
        addr.is_multicast
        or addr.is_private
        or addr.is_loopback
        or addr.is_link_local
        or addr.is_reserved
        or addr.is_unspecified
    )


def literal(host: str) -> IPAddress | None:
    """The address when ``host`` is an IP literal (``[::1]`` brackets allowed), else None."""
    try:
        return ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return None


def check_url_host(host: str) -> None:
    """Refuse a URL host that is a non-public IP literal (names are checked at connect time)."""
    addr = literal(host)
    if addr is not None and not is_public(addr):
        raise UnsafeAddress(f"{addr} is not a public address")


class PublicOnlyResolver(AbstractResolver):
    """Resolves like aiohttp's default resolver, then keeps public addresses only."""

    def __init__(self, inner: AbstractResolver | None = None) -> None:
        self._inner = inner or DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await self._inner.resolve(host, port, family)
        kept = [r for r in found if _public_result(r)]
        if not kept:
            shown = ", ".join(sorted({r["host"] for r in found})) or "nothing"
            raise UnsafeAddress(f"{host} resolves to {shown}: not a public address")
        return kept

    async def close(self) -> None:
        await self._inner.close()


def _public_result(r: ResolveResult) -> bool:
    addr = literal(r["host"])
    return addr is not None and is_public(addr)


def session(*, allow_private: bool, timeout_s: float) -> aiohttp.ClientSession:
    """An HTTP session for one sink: no proxies from the environment, no cookies, and (unless
    ``allow_private``) connections to public addresses only."""
    connector = (
        aiohttp.TCPConnector(limit=8)
        if allow_private
        else aiohttp.TCPConnector(limit=8, resolver=PublicOnlyResolver(), use_dns_cache=False)
    )
    return aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=timeout_s),
        trust_env=False,
        cookie_jar=aiohttp.DummyCookieJar(),
    )


def unsafe_cause(exc: BaseException) -> UnsafeAddress | None:
    """The :class:`UnsafeAddress` behind an aiohttp connection error, if that was the cause."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, UnsafeAddress):
            return seen
        os_error = getattr(seen, "os_error", None)
        if isinstance(os_error, UnsafeAddress):
            return os_error
        seen = seen.__cause__ or seen.__context__
    return None
