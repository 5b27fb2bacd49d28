"""Calls the gateway makes on its own behalf (the quality room's judges), through its own ASGI
app in the same process: the same door, pipeline, admission, budgets and ledger as any client's
call, without a socket. The caller names the attribution in headers (``X-Daytwo-Project``...)
and, when ``gateway.require_keys`` is on, a virtual key.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any, NamedTuple

import orjson

from daytwo.gateway.http import Message, Receive, Scope, Send

CHAT_PATH = "/v1/chat/completions"


class Answer(NamedTuple):
    status: int
    #: The response headers, names lower-cased (the last of a repeated name).
    headers: dict[str, str]
    #: The JSON answer; {} if none.
    body: dict[str, Any]


async def post_json(
    app: Any, path: str, body: Mapping[str, Any], headers: Mapping[str, str]
) -> tuple[int, dict[str, Any]]:
    """POST ``body`` to ``path`` of the ASGI ``app``: (status, the JSON answer; {} if none)."""
    answer = await post(app, path, body, headers)
    return answer.status, answer.body


async def post(app: Any, path: str, body: Mapping[str, Any], headers: Mapping[str, str]) -> Answer:
    """POST ``body`` to ``path`` of the ASGI ``app``: the status, headers and JSON answer."""
    raw = orjson.dumps(body)
    hdrs = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    hdrs += [(b"content-type", b"application/json"), (b"content-length", str(len(raw)).encode())]
    scope: Scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": hdrs,
        "client": ("127.0.0.1", 0),
        "server": ("127.0.0.1", 0),
    }
    status = 0
    got: dict[str, str] = {}
    chunks: list[bytes] = []
    done = asyncio.Event()
    given = False

    async def receive() -> Message:
        nonlocal given
        if not given:
            given = True
            return {"type": "http.request", "body": raw, "more_body": False}
        await done.wait()  # as a server does: "disconnect" once the response is complete
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
            for name, value in message.get("headers", ()):
                got[bytes(name).decode("latin-1").lower()] = bytes(value).decode("latin-1")
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                done.set()

    recv: Receive = receive
    snd: Send = send
    try:
        await app(scope, recv, snd)
    finally:
        done.set()
    data = b"".join(chunks)
    try:
        parsed = orjson.loads(data) if data else {}
    except orjson.JSONDecodeError:
        parsed = {}
    return Answer(status, got, parsed if isinstance(parsed, dict) else {})
