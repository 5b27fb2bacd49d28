"""Real clients against a real gateway: keyed gateways, the Node clients as subprocesses.

The Node project in ``node/`` (``package.json`` + ``package-lock.json``, installed by
``scripts/bootstrap`` with ``npm ci``) pins the openai SDK and the Vercel AI SDK;
``node/client.mjs`` makes one call and prints what the client returned or raised as one JSON
line.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from tests.gateway.harness import RunningGateway, wait_for
from tests.gateway.spend_harness import spend_config, usd, worst_case

from daytwo.control.windows import window_at
from daytwo.keys.model import KeySpec
from daytwo.keys.store import KeyStore

NODE_DIR = Path(__file__).parent / "node"


def issue_key(gw: RunningGateway, **spec: Any) -> str:
    """Create a virtual key in the gateway's database and make the gateway see it at once."""
    store = KeyStore.open(gw.app.config.ledger.url)
    try:
        issued = store.create(KeySpec(**spec), actor="test")
    finally:
        store.close()
    assert gw.app.keys is not None
    gw.app.keys.refresh()
    return issued.secret


def keyed_gateway(
    tmp_path: Path, factory: Callable[..., RunningGateway], spend: dict[str, Any]
) -> tuple[RunningGateway, str]:
    """A gateway on the simulator with ``spend`` as its spend control, requiring keys, and
    a key for project ``acme``."""
    cfg = spend_config(tmp_path, spend)
    cfg["gateway"] = {"require_keys": True}
    gw = factory(cfg)
    return gw, issue_key(gw, project="acme")


def spent_budget() -> dict[str, Any]:
    """A spend-control section whose monthly ``acme`` budget cannot pay for one call: every
    call is refused."""
    cap = worst_case() // 2
    budget = {"name": "acme-monthly", "scope": {"project": "acme"}, "window": "month"}
    return {"budgets": [{**budget, "usd": usd(cap)}]}


def node_call(spec: dict[str, Any], timeout_s: float = 30.0) -> dict[str, Any]:
    """Run ``node/client.mjs`` with ``spec``; a client that hangs fails the test at
    ``timeout_s`` instead of hanging it."""
    node = shutil.which("node")
    if node is None or not (NODE_DIR / "node_modules" / "openai").is_dir():
        pytest.fail("the Node clients are not installed: run scripts/bootstrap (needs node + npm)")
    try:
        done = subprocess.run(
            [node, str(NODE_DIR / "client.mjs")],
            input=json.dumps(spec),  # on stdin: the key stays off the command line
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired:
        shown = {k: v for k, v in spec.items() if k != "apiKey"}
        pytest.fail(f"the Node client did not return within {timeout_s} s: {shown}")
    assert done.returncode == 0, done.stderr
    out: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return out


def month_end() -> float:
    """When the current UTC month's budgets reset; if that is under two minutes away, first
    wait for it (a refusal a minute before its reset is rightly worth waiting for, and these
    tests check the refusals that are not)."""
    end = window_at("month", time.time(), ZoneInfo("UTC")).end
    if end - time.time() < 120:
        wait_for(lambda: time.time() > end, timeout_s=130, what="the month to turn")
        end = window_at("month", time.time(), ZoneInfo("UTC")).end
    return end
