"""What the connection guard (``gateway/connections.py``) costs per request, in isolation.

Drives uvicorn's ``HttpToolsProtocol`` and daytwo's ``GuardedHttp`` in one process over a fake
transport with a trivial ASGI app: one keep-alive connection, one POST (an SDK's headers and a
small JSON body) per iteration, answered at once. Only the HTTP protocol layer differs, so the
difference is what the head cap, the clocks and the connection cap add. Rounds alternate
between the two protocols; each figure is the median of the rounds (CPU time per request).

Usage::

    .venv/bin/python bench/connection_guard.py [--requests 20000] [--rounds 8]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from typing import Any

import uvicorn
import uvloop
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from daytwo.config.server import ServerConfig
from daytwo.gateway.connections import Guard, Limits, protocol_for

BODY = b'{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}'
REQUEST = (
    b"POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1:4000\r\n"
    b"content-type: application/json\r\n"
    b"authorization: Bearer dt2_sk_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n"
    b"user-agent: OpenAI/Python 1.0\r\naccept: application/json\r\nx-stainless-lang: python\r\n"
    + b"content-length: %d\r\n\r\n" % len(BODY)
    + BODY
)


class _Transport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.closing = False
        self.writes = 0

    def write(self, data: Any) -> None:
        self.writes += 1

    def close(self) -> None:
        self.closing = True

    def is_closing(self) -> bool:
        return self.closing

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        addrs = {"sockname": ("127.0.0.1", 4000), "peername": ("127.0.0.1", 50000)}
        return addrs.get(name, default)

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


async def _app(scope: Any, receive: Any, send: Any) -> None:
    while (await receive()).get("more_body"):
        pass
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]}
    )
    await send({"type": "http.response.body", "body": b"{}"})


def _config(protocol: Any) -> uvicorn.Config:
    config = uvicorn.Config(
        _app,
        http=protocol,
        ws="none",
        lifespan="off",
        log_config=None,
        interface="asgi3",
        proxy_headers=False,  # as the gateway runs
    )
    config.load()
    return config


async def _per_request_us(config: uvicorn.Config, n: int) -> float:
    state = ServerState()
    proto = config.http_protocol_class(  # type: ignore[call-arg]
        config=config, server_state=state, app_state={}
    )
    transport = _Transport()
    proto.connection_made(transport)
    t0 = time.process_time()
    for _ in range(n):
        proto.data_received(REQUEST)
        for task in list(state.tasks):  # the request's ASGI task: wait for its answer
            await task
    elapsed = time.process_time() - t0
    proto.connection_lost(None)
    assert transport.writes == 2 * n, "every request must be answered"
    return elapsed / n * 1e6


async def _main(requests: int, rounds: int) -> None:
    plain = _config(HttpToolsProtocol)
    guarded = _config(protocol_for(Guard(Limits.of(ServerConfig()))))
    a: list[float] = []
    b: list[float] = []
    for _ in range(rounds):
        a.append(await _per_request_us(plain, requests))
        b.append(await _per_request_us(guarded, requests))
    base, mine = statistics.median(a), statistics.median(b)
    print(f"uvicorn HttpToolsProtocol: {base:7.2f} us/request (median of {rounds})")
    print(f"daytwo GuardedHttp:        {mine:7.2f} us/request")
    print(f"added:                     {mine - base:+7.2f} us/request")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=20_000)
    ap.add_argument("--rounds", type=int, default=8)
    args = ap.parse_args()
    uvloop.run(_main(args.requests, args.rounds))


if __name__ == "__main__":
    main()
