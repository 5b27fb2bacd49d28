"""A scripted provider for the gateway's tests: :class:`BadUpstream`, a raw asyncio server on a
loopback port that answers every request with hand-written bytes (test_malformed_upstream.py
plays broken ones, test_provider_matrix_usage.py each provider's reference answers). Its
module-scoped ``bad`` fixture reaches the tests through tests/gateway/conftest.py."""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Iterator

import pytest

#: In a script: stop sending and keep the connection open until the client gives up.
HOLD = None


class BadUpstream:
    """A broken provider: answers every request with the bytes of the current ``script``, then
    closes the connection (or, at ``HOLD``, waits for the client to close it)."""

    def __init__(self) -> None:
        self.script: list[bytes | None] = []
        self.paths: list[str] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop = asyncio.new_event_loop()
        started = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(started,), daemon=True)
        self._thread.start()
        if not started.wait(10):
            raise RuntimeError("the bad upstream did not start")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _run(self, started: threading.Event) -> None:
        loop = self._loop
        asyncio.set_event_loop(loop)
        server = loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", 0))
        self.port: int = server.sockets[0].getsockname()[1]
        started.set()
        loop.run_forever()
        for task in self._tasks:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*self._tasks, return_exceptions=True))
        server.close()
        loop.run_until_complete(server.wait_closed())
        loop.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        script = list(self.script)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            length = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
            await reader.readexactly(int(length.group(1)) if length else 0)
            self.paths.append(head.split(b" ")[1].decode())
            for step in script:
                if step is HOLD:
                    await reader.read()  # returns once the gateway gives up and closes
                    break
                writer.write(step)
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            self._tasks.discard(task)

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


def head(
    ctype: str = "text/event-stream", *, length: int | None = None, chunked: bool = False
) -> bytes:
    """A 200 status line and headers; without a length the body runs until the close."""
    lines = ["HTTP/1.1 200 OK", f"Content-Type: {ctype}", "Connection: close"]
    if length is not None:
        lines.append(f"Content-Length: {length}")
    if chunked:
        lines.append("Transfer-Encoding: chunked")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def whole(ctype: str, body: bytes) -> bytes:
    return head(ctype, length=len(body)) + body


@pytest.fixture(scope="module")
def bad() -> Iterator[BadUpstream]:
    upstream = BadUpstream()
    yield upstream
    upstream.stop()
