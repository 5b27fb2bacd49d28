"""A client that disconnects mid-stream still leaves a record, billed for what was produced."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.gateway.harness import RunningGateway, sim_config, wait_for

pytestmark = pytest.mark.integration


def _open_stream(gw: RunningGateway, body: dict[str, object]) -> socket.socket:
    payload = json.dumps(body).encode()
    sock = socket.create_connection((gw.handle.host, gw.handle.port), timeout=10)
    sock.sendall(
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"X-Daytwo-Project: cancels\r\nContent-Length: %d\r\n\r\n%s" % (len(payload), payload)
    )
    return sock


def _read_until(sock: socket.socket, count: int) -> bytes:
    data = b""
    while data.count(b"data: ") < count:
        chunk = sock.recv(65536)
        assert chunk, "connection closed early"
        data += chunk
    return data


def test_disconnect_mid_stream_records_cancelled_call_with_tokens_so_far(
    tmp_path: Path, gateway_factory: Callable[..., RunningGateway]
) -> None:
    gw = gateway_factory(
        sim_config(tmp_path, per_token_ms=20, min_output_tokens=400, max_output_tokens=400)
    )
    sock = _open_stream(
        gw,
        {"model": "gpt-4o-mini", "stream": True, "messages": [{"role": "user", "content": "long"}]},
    )
    head = _read_until(sock, 6)
    assert head.startswith(b"HTTP/1.1 200")
    sock.close()  # the client goes away after a handful of tokens

    def cancelled() -> dict[str, object] | None:
        rows = [r for r in gw.records() if r["status"] == "cancelled"]
        return rows[0] if rows else None

    row = wait_for(cancelled, what="the cancelled call's record")
    assert row["http_status"] == 499 and row["project"] == "cancels"
    # Tokens produced so far are billed (estimated: the upstream never sent its final count).
    assert 0 < row["output_tokens"] < 400
    assert row["tokens_estimated"] == 1
    assert row["input_tokens"] > 0 and row["cost_nanousd"] > 0


def test_disconnect_while_waiting_for_a_slow_completion(
    tmp_path: Path, gateway_factory: Callable[..., RunningGateway]
) -> None:
    gw = gateway_factory(sim_config(tmp_path, ttft_ms=30_000))
    sock = _open_stream(
        gw, {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "slow"}]}
    )
    wait_for(lambda: gw.app.runtime.inflight == 1, what="the call to be in flight")
    sock.close()
    row = wait_for(lambda: gw.records(), what="a record")[0]
    assert (row["status"], row["http_status"], row["output_tokens"]) == ("cancelled", 499, 0)
    assert gw.app.runtime.inflight == 0
