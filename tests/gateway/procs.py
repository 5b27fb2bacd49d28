"""`daytwo serve` as real OS processes, for tests of signals and of replicas sharing state."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml
from tests.gateway.harness import http, wait_for

from daytwo.gateway.server import free_port

DAYTWO = [sys.executable, "-m", "daytwo.cli"]


class Proc:
    def __init__(self, args: list[str], log: Path, env: dict[str, str] | None = None) -> None:
        self.log = log
        self._fh = log.open("wb")
        self.p = subprocess.Popen(
            args, stdout=self._fh, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}
        )

    def lines(self) -> list[dict[str, Any]]:
        out = []
        for line in self.log.read_text().splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                out.append({"raw": line})
        return out

    def stop(self) -> int:
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
        try:
            return self.p.wait(30)
        finally:
            self._fh.close()


def wait_ready(proc: Proc, url: str) -> None:
    """Wait until the gateway at ``url`` answers ``/readyz`` with 200; fails at once, with its
    log, if the process exits first."""

    def ready() -> bool:
        assert proc.p.poll() is None, proc.log.read_text()
        try:
            return http("GET", url + "/readyz")[0] == 200
        except OSError:
            return False

    wait_for(ready, 20, "the gateway to be ready")


def start_gateway(
    cfg: dict[str, Any], workdir: Path, name: str = "serve", env: dict[str, str] | None = None
) -> tuple[Proc, str, Path]:
    """Write ``cfg`` to ``workdir/<name>.yaml``, start ``daytwo serve`` on a free port, and wait
    until it is ready. Returns the process, its base URL and the config path."""
    port = free_port()
    cfg.setdefault("server", {}).update({"port": port, "reload_poll_s": 0})
    cfg["logging"] = {"level": "info", "access_log": True}
    path = workdir / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    proc = Proc([*DAYTWO, "serve", "--config", str(path)], workdir / f"{name}.log", env)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(proc, url)
    except BaseException:
        proc.stop()
        raise
    return proc, url, path
