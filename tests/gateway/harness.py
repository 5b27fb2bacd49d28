"""Helpers that run a real gateway (uvicorn on a loopback port, in a thread) in front of the
in-process simulator, with a real SQLite ledger in the test's temporary directory."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import openai

from daytwo.admin.mount import create_app
from daytwo.config.load import validate_config
from daytwo.gateway.app import Gateway
from daytwo.gateway.server import ServerHandle, serve_in_thread


def gateway_config(db: Path, providers: dict[str, Any], models: dict[str, Any]) -> dict[str, Any]:
    """A test gateway's config: no keys required, quiet logs, the SQLite ledger ``db``
    flushed every 5 ms (so a test reads its rows at once)."""
    return {
        "gateway": {"require_keys": False},
        "logging": {"level": "warning", "access_log": False},
        "providers": providers,
        "models": models,
        "ledger": {"url": f"sqlite:///{db}", "flush_interval_ms": 5},
    }


def route(provider: str, model: str, kind: str | None = None) -> dict[str, Any]:
    """A model alias served by one deployment (``kind``: ``embeddings`` for an embedder)."""
    out: dict[str, Any] = {"deployments": [{"provider": provider, "model": model}]}
    return out if kind is None else {"kind": kind, **out}


def sim_config(tmp_path: Path, **sim: Any) -> dict[str, Any]:
    return gateway_config(
        tmp_path / "ledger.db",
        {"sim": {"type": "sim", "sim": {"seed": 7, **sim}}},
        {
            "gpt-4o-mini": route("sim", "gpt-4o-mini"),
            "text-embedding-3-small": route("sim", "text-embedding-3-small", "embeddings"),
        },
    )


class RunningGateway:
    def __init__(self, app: Gateway, handle: ServerHandle, db: Path | None) -> None:
        self.app = app
        self.handle = handle
        self.db = db

    @property
    def url(self) -> str:
        return self.handle.url

    @property
    def base_url(self) -> str:
        return f"{self.handle.url}/v1"

    def openai(self, **options: Any) -> openai.OpenAI:
        """The official OpenAI client pointed at this gateway (no retries: a test sees every
        answer as it came)."""
        return openai.OpenAI(base_url=self.base_url, api_key="unused", max_retries=0, **options)

    def records(self) -> list[dict[str, Any]]:
        """Every ledger row, oldest first, after the writer has flushed what was submitted."""
        assert self.app.ledger is not None and self.db is not None
        self.app.ledger.flush(10.0)
        with sqlite3.connect(self.db) as conn:
            conn.row_factory = sqlite3.Row
            rows = conn.execute("SELECT * FROM calls ORDER BY started_at").fetchall()
        conn.close()
        return [dict(r) for r in rows]

    def record(self, call_id: str) -> dict[str, Any]:
        (row,) = [r for r in self.records() if r["id"] == call_id]
        return row


@contextmanager
def running_gateway(
    config: dict[str, Any], config_path: Path | None = None
) -> Iterator[RunningGateway]:
    cfg = validate_config(config)
    app = create_app(cfg, config_path=config_path)
    handle = serve_in_thread(app)
    url = cfg.ledger.url
    db = Path(url.removeprefix("sqlite:///")) if url.startswith("sqlite:///") else None
    try:
        yield RunningGateway(app, handle, db)
    finally:
        handle.stop()


def http(
    method: str, url: str, body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    """One raw HTTP request over loopback: (status, lower-cased headers, body)."""
    import urllib.error
    import urllib.request

    hdrs = {"content-type": "application/json", **(headers or {})}
    req = urllib.request.Request(url, data=body, headers=hdrs, method=method)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()
    except urllib.error.HTTPError as err:
        with err:
            return err.code, {k.lower(): v for k, v in err.headers.items()}, err.read()


def wait_for(predicate: Callable[[], Any], timeout_s: float = 10.0, what: str = "condition") -> Any:
    """Poll ``predicate`` until it returns something truthy, or fail after ``timeout_s``."""
    import time

    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
        time.sleep(0.02)
