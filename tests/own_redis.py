"""A redis-server of a test's own, on a free port: one a test may kill, restart empty or flush
(never the shared Redis on 6379, which other tests use)."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis
from tests.gateway.harness import wait_for

from daytwo.gateway.server import free_port

REDIS_SERVER = "/usr/bin/redis-server"
#: No persistence at all: a restart comes back empty.
EPHEMERAL = ("--save", "", "--appendonly", "no")


class OwnRedis:
    def __init__(self, workdir: Path, *args: str) -> None:
        self.port = free_port()
        self.args = [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1"]
        self.args += ["--dir", str(workdir), *args]
        self.log = workdir / f"redis-{self.port}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, socket_connect_timeout=1)

    def _up(self) -> bool:
        c = self.client()
        try:
            return bool(c.ping())
        except redis.exceptions.ConnectionError:
            return False
        finally:
            c.close()

    def start(self) -> None:
        with self.log.open("ab") as fh:
            self.proc = subprocess.Popen(self.args, stdout=fh, stderr=subprocess.STDOUT)
        wait_for(self._up, 10, f"redis-server on port {self.port}")

    def kill(self) -> None:
        """SIGKILL: whatever it held in memory is gone."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self.proc = None

    def flushall(self) -> None:
        c = self.client()
        try:
            c.flushall()
        finally:
            c.close()

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None


@contextmanager
def own_redis(workdir: Path, *args: str) -> Iterator[OwnRedis]:
    server = OwnRedis(workdir, *args)
    server.start()
    try:
        yield server
    finally:
        server.stop()
