"""What every demo does around its story: a fresh ledger in its directory, the alert log sink
written to a file while the terminal tells the story, the embedded gateway started (or one
line saying why not) and stopped gracefully, and admin API calls that fail the step with the
API's own message."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from daytwo.gateway.server import ServerHandle, serve_in_thread


def operator_token(ledger: Path, name: str) -> tuple[str, str]:
    """What ``daytwo admin tokens create --role operator`` does: a token straight in the
    database (the API cannot mint credentials). (token id, secret)."""
    import time

    from daytwo.keys.admin_tokens import AdminTokens
    from daytwo.keys.hashing import pepper_from_env
    from daytwo.keys.store import KeyStore

    store = KeyStore.open(f"sqlite:///{ledger}", pepper=pepper_from_env())
    try:
        issued = AdminTokens(store).create(
            "operator", actor="daytwo demo", name=name, now=time.time()
        )
    finally:
        store.close()
    return issued.record.id, issued.secret


class DemoFailed(RuntimeError):
    """The demo cannot go on (its gateway did not start, a step did not reach its condition in
    time, the gateway refused it): one line for the CLI, naming the step."""


def fresh_ledger(workdir: Path) -> Path:
    """``workdir``'s ledger path, with what an earlier run left there removed (every run
    starts a fresh ledger)."""
    workdir.mkdir(parents=True, exist_ok=True)
    for stale in workdir.glob("ledger.db*"):
        stale.unlink()
    for spill in workdir.glob("*.spill*"):
        shutil.rmtree(spill) if spill.is_dir() else spill.unlink()
    return workdir / "ledger.db"


@contextmanager
def alert_log(path: Path) -> Iterator[None]:
    """The alert engine's log sink writes to ``path`` while the story owns the terminal."""
    logger = logging.getLogger("daytwo.alerts")
    handler = logging.FileHandler(path, mode="w", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    propagate, level = logger.propagate, logger.level
    logger.addHandler(handler)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.propagate, logger.level = propagate, level
        handler.close()


@contextmanager
def serving(app: Any, port: int, failed: type[DemoFailed] = DemoFailed) -> Iterator[ServerHandle]:
    """The gateway ``app`` served on ``port`` for the block, stopped gracefully after it
    (in-flight calls and the ledger queue drained); ``failed`` when it does not start."""
    try:
        handle = serve_in_thread(app, port=port)
    except RuntimeError as exc:
        raise failed(f"the gateway did not start on 127.0.0.1:{port}: {exc}") from None
    try:
        yield handle
    finally:
        handle.stop()


async def admin_request(
    session: aiohttp.ClientSession,
    url: str,
    step: int,
    method: str,
    body: Mapping[str, Any] | None,
    failed: type[DemoFailed],
) -> bytes:
    """One admin API call with the session's token; an answer other than 2xx fails step
    ``step`` with the API's own message."""
    data = None if body is None else orjson.dumps(body)
    headers = {"content-type": "application/json"} if body is not None else {}
    path = url.split("/admin/", 1)[-1]
    try:
        async with session.request(method, url, data=data, headers=headers) as resp:
            raw = await resp.read()
            status = resp.status
    except (TimeoutError, aiohttp.ClientError) as exc:
        raise failed(f"step {step}: {method} /admin/{path}: {exc}") from None
    if status >= 300:
        raise failed(f"step {step}: {method} /admin/{path}: {status} {_message(raw)}")
    return raw


def _message(raw: bytes) -> str:
    try:
        error = orjson.loads(raw).get("error") or {}
    except (orjson.JSONDecodeError, AttributeError):
        return raw[:200].decode("utf-8", "replace")
    return str(error.get("message", "")) if isinstance(error, dict) else ""
