"""The simulator over loopback, recording every POST it is sent (path, headers, JSON body): what
an upstream actually received, for tests that prove a field or header reached it (or did not).

The recorder is an ASGI wrapper around the unchanged :class:`SimApp`; the body it reads is handed
on to the simulator as it came.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import orjson

from daytwo.config.schema import SimSettings
from daytwo.gateway.server import serve_in_thread
from daytwo.providers.sim.server import Message, Receive, Scope, Send, SimApp


@dataclass(frozen=True)
class Seen:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]


class RecordingSim:
    def __init__(self, settings: SimSettings) -> None:
        self.sim = SimApp(settings)
        self._seen: list[Seen] = []
        self._lock = threading.Lock()

    def seen(self, path: str | None = None) -> list[Seen]:
        with self._lock:
            return [s for s in self._seen if path is None or s.path == path]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.sim(scope, receive, send)
            return
        parts: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            parts.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        raw = b"".join(parts)
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            body = {}
        with self._lock:
            self._seen.append(Seen(scope["path"], headers, body if isinstance(body, dict) else {}))
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": raw, "more_body": False}
            return await receive()

        await self.sim(scope, replay, send)


@contextmanager
def recording_sim(settings: SimSettings | None = None) -> Iterator[tuple[str, RecordingSim]]:
    """A recording simulator on a loopback port: (its root URL, the recorder)."""
    app = RecordingSim(settings or SimSettings(seed=11))
    handle = serve_in_thread(app)
    try:
        yield handle.url, app
    finally:
        handle.stop()
