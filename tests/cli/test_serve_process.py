"""`daytwo serve` as a real process: signals, graceful drain, JSON logs without secrets."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.gateway.harness import http, sim_config, wait_for
from tests.gateway.procs import DAYTWO, Proc, start_gateway

pytestmark = pytest.mark.integration


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Any]:
    procs: list[Proc] = []

    def start(cfg: dict[str, Any], env: dict[str, str] | None = None) -> tuple[Proc, str, Path]:
        proc, url, path = start_gateway(cfg, tmp_path, "serve", env)
        procs.append(proc)
        return proc, url, path

    yield start
    for proc in procs:
        proc.stop()


def _rows(db: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT status, http_status, project FROM calls").fetchall()
    conn.close()
    return rows


def test_sigterm_drains_in_flight_calls_and_the_ledger(tmp_path: Path, serve: Any) -> None:
    proc, url, _ = serve(sim_config(tmp_path, ttft_ms=400))
    body = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]})
    results: list[int] = []

    def call() -> None:
        status, _, _ = http(
            "POST", url + "/v1/chat/completions", body.encode(), {"X-Daytwo-Project": "drain"}
        )
        results.append(status)

    threads = [threading.Thread(target=call) for _ in range(20)]
    for t in threads:
        t.start()
    wait_for(
        lambda: json.loads(http("GET", url + "/readyz")[2])["inflight"] == 20,
        what="all 20 calls in flight",
    )
    proc.p.send_signal(signal.SIGTERM)
    for t in threads:
        t.join(30)
    proc.p.wait(30)
    assert results == [200] * 20
    assert _rows(tmp_path / "ledger.db") == [("ok", 200, "drain")] * 20
    messages = [line.get("msg") for line in proc.lines()]
    assert "ledger drained" in messages


def test_sighup_reloads_and_logs_are_json_with_call_ids(tmp_path: Path, serve: Any) -> None:
    cfg = sim_config(tmp_path)
    proc, url, path = serve(cfg)
    cfg["models"]["gpt-4o"] = {"deployments": [{"provider": "sim", "model": "gpt-4o"}]}
    path.write_text(yaml.safe_dump(cfg))
    proc.p.send_signal(signal.SIGHUP)

    def has_alias() -> bool:
        models = json.loads(http("GET", url + "/v1/models")[2])["data"]
        return "gpt-4o" in {m["id"] for m in models}

    wait_for(has_alias, what="SIGHUP reload")
    body = json.dumps({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]})
    status, headers, _ = http("POST", url + "/v1/chat/completions", body.encode())
    assert status == 200
    call_id = headers["x-daytwo-call-id"]
    access = wait_for(
        lambda: [line for line in proc.lines() if line.get("call_id") == call_id],
        what="the access log line",
    )[0]
    assert access["alias"] == "gpt-4o" and access["status"] == "ok" and access["level"] == "info"
    assert all("raw" not in line for line in proc.lines()), "every log line is JSON"


def test_missing_config_is_one_line_and_exit_1(tmp_path: Path) -> None:
    result = subprocess.run(
        [*DAYTWO, "serve", "--config", str(tmp_path / "nope.yaml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.strip() == f"daytwo: {tmp_path / 'nope.yaml'}: file not found"
