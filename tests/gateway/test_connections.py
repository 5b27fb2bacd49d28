"""What a connection may cost the gateway before it has proven anything (issue 11 item 9), over
real sockets: the head-size cap (431), the head, body and keep-alive clocks, the connection cap
(idle connections shed first, 503 when all are busy), and the open-files limit."""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.gateway.harness import RunningGateway, http, sim_config, wait_for
from tests.gateway.procs import Proc, wait_ready
from tests.gateway.rawsock import closed_by_peer, connect, error_of, read_answer, request_bytes

from daytwo.gateway.server import free_port

pytestmark = pytest.mark.integration

CAP = 16 * 1024


def _cfg(tmp_path: Path, **server: Any) -> dict[str, Any]:
    cfg = sim_config(tmp_path)
    cfg["server"] = {"max_header_bytes": CAP, **server}
    return cfg


def test_a_head_past_the_cap_gets_431_and_the_connection_is_closed(
    tmp_path: Path, gateway_factory: Callable[..., RunningGateway]
) -> None:
    gw = gateway_factory(_cfg(tmp_path))
    # just under the cap: served
    with connect(gw.url) as s:
        s.sendall(request_bytes("GET", "/healthz", {"x-fill": "a" * (CAP - 200)}))
        assert read_answer(s)[0] == 200
    # one header over the cap, sent whole: 431 in the client's error shape, then closed
    with connect(gw.url) as s:
        s.sendall(request_bytes("GET", "/healthz", {"x-fill": "a" * (CAP + 1)}))
        status, headers, body = read_answer(s)
        assert status == 431 and headers["connection"] == "close"
        assert headers["x-should-retry"] == "false"  # the SDKs must not send it again
        assert error_of(body)["code"] == "request_header_fields_too_large"
        assert closed_by_peer(s, 5)
    # a header that never ends, trickled in 4 KiB pieces: refused at the cap, not buffered on
    sent = _push_endless_header(gw.url, 64 * 1024 * 1024, 4096)
    assert sent < 8 * 1024 * 1024  # the gateway hung up long before 64 MB went through
    # operators see it: the refusals are counted per listener and reason
    status, _, text = http("GET", gw.url + "/metrics")
    assert status == 200
    refused = b'daytwo_connections_refused_total{listener="data",reason="header_too_large"}'
    assert refused + b" 2.0" in text
    assert b'daytwo_connections_open{listener="data"}' in text
    # and a POST whose body shares the head's first read is not mistaken for a big head
    body = json.dumps({"model": "text-embedding-3-small", "input": "x" * (3 * CAP)}).encode()
    status, _, _ = http("POST", gw.url + "/v1/embeddings", body)
    assert status == 200


def test_150_mb_of_headers_on_ten_connections_leave_the_gateway_memory_flat(
    tmp_path: Path,
) -> None:
    """The issue's attack on a real `daytwo serve` process: ten connections pushing up to 150 MB
    of headers each. Each is cut at the cap; the process grows by a few MB at most."""
    cfg = sim_config(tmp_path)
    with _serve(cfg, tmp_path) as (proc, url):
        before = _rss_mb(proc.p.pid)
        pushed = [_push_endless_header(url, 150 * 1024 * 1024, 65536) for _ in range(10)]
        assert http("GET", url + "/healthz")[0] == 200
        grown = _rss_mb(proc.p.pid) - before
    assert max(pushed) < 16 * 1024 * 1024, pushed
    assert grown < 30, f"RSS grew by {grown:.1f} MB"


def test_idle_and_slowloris_connections_are_closed_by_the_clocks(
    tmp_path: Path, gateway_factory: Callable[..., RunningGateway]
) -> None:
    gw = gateway_factory(
        _cfg(tmp_path, header_timeout_s=0.5, keepalive_timeout_s=0.5, body_timeout_s=0.5)
    )
    with ExitStack() as stack:
        silent = stack.enter_context(connect(gw.url))  # opens, never speaks
        kept = stack.enter_context(connect(gw.url))  # one request, then idles kept alive
        kept.sendall(request_bytes("GET", "/healthz"))
        assert read_answer(kept)[0] == 200
        slow = stack.enter_context(connect(gw.url))  # slowloris: a byte every 50 ms
        slow_body = stack.enter_context(connect(gw.url))  # headers, then a body that stalls
        slow_body.sendall(
            b"POST /v1/embeddings HTTP/1.1\r\nhost: t\r\ncontent-type: application/json\r\n"
            b"content-length: 100\r\n\r\n{"
        )
        t0 = time.monotonic()
        head = b"GET /healthz HTTP/1.1\r\nhost: t\r\nx-a: "
        i = 0
        answer = b""
        slow.settimeout(0.05)
        while time.monotonic() - t0 < 8:
            try:
                slow.sendall(head[i : i + 1] if i < len(head) else b"a")
            except OSError:
                break
            i += 1
            try:
                chunk = slow.recv(65536)
            except TimeoutError:
                continue
            answer += chunk
            if not chunk:
                break
        elapsed = time.monotonic() - t0
        assert 0.4 < elapsed < 5, elapsed  # the trickle did not keep it open
        assert answer.startswith(b"HTTP/1.1 408 "), answer[:80]
        assert closed_by_peer(silent, 3) and closed_by_peer(kept, 3)
        status, _, body = read_answer(slow_body, 3)
        assert status == 408 and error_of(body)["code"] == "request_timeout"
        assert closed_by_peer(slow_body, 3)
    # and the gateway serves as before
    assert http("GET", gw.url + "/healthz")[0] == 200


def test_an_answer_slower_than_the_clocks_is_not_cut_and_the_connection_is_reused(
    tmp_path: Path, gateway_factory: Callable[..., RunningGateway]
) -> None:
    """The clocks run only while no request is being answered: a 0.8 s answer on a connection
    with 0.3 s clocks completes, the connection serves a second request, then idles out."""
    cfg = _cfg(tmp_path, header_timeout_s=0.3, keepalive_timeout_s=0.3)
    cfg["providers"]["sim"]["sim"]["ttft_ms"] = 800
    gw = gateway_factory(cfg)
    chat = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]})
    with connect(gw.url) as s:
        for _ in range(2):
            t0 = time.monotonic()
            s.sendall(
                b"POST /v1/chat/completions HTTP/1.1\r\nhost: t\r\n"
                b"content-type: application/json\r\n"
                + f"content-length: {len(chat)}\r\n\r\n{chat}".encode()
            )
            status, _, body = read_answer(s)
            assert status == 200, body
            assert time.monotonic() - t0 >= 0.8
        assert closed_by_peer(s, 3)


def test_a_head_on_a_kept_alive_connection_gets_the_head_clock_not_the_keepalive_one(
    tmp_path: Path, gateway_factory: Callable[..., RunningGateway]
) -> None:
    gw = gateway_factory(_cfg(tmp_path, header_timeout_s=0.5, keepalive_timeout_s=30))
    with connect(gw.url) as s:
        s.sendall(request_bytes("GET", "/healthz"))
        assert read_answer(s)[0] == 200
        t0 = time.monotonic()
        s.sendall(b"GET /healthz HTTP/1.1\r\nhost: t\r\n")  # and never the blank line
        status, _, body = read_answer(s, 10)
        assert status == 408 and error_of(body)["code"] == "request_timeout"
        assert 0.4 < time.monotonic() - t0 < 3


def test_past_the_connection_cap_idle_connections_are_shed_then_busy_ones_get_503(
    tmp_path: Path, gateway_factory: Callable[..., RunningGateway]
) -> None:
    gw = gateway_factory(_cfg(tmp_path, max_connections=8, header_timeout_s=30))
    with ExitStack() as stack:
        idle = [stack.enter_context(connect(gw.url)) for _ in range(8)]
        wait_for(lambda: _guard(gw).open == 8, what="8 open connections")
        # a legitimate call past the cap is served: the longest-idle connection makes room
        assert http("GET", gw.url + "/v1/models")[0] == 200
        assert closed_by_peer(idle[0], 3)
        # busy connections (a request in progress: a body still coming) are never shed
        busy = []
        for s in idle[1:]:
            s.sendall(b"POST /v1/embeddings HTTP/1.1\r\nhost: t\r\ncontent-length: 100\r\n\r\n{")
            busy.append(s)
        guard = _guard(gw)
        # (the legitimate call's connection has closed; the 7 are busy before the 8th comes,
        # so that the 8th cannot shed one of them while its head is still on the way)
        wait_for(lambda: guard.open == 7 and not guard.idle, what="7 busy connections")
        extra = stack.enter_context(connect(gw.url))
        extra.sendall(b"POST /v1/embeddings HTTP/1.1\r\nhost: t\r\ncontent-length: 100\r\n\r\n{")
        wait_for(lambda: guard.open == 8 and not guard.idle, what="8 busy connections")
        with connect(gw.url) as late:
            late.sendall(request_bytes("GET", "/v1/models"))
            status, headers, body = read_answer(late)
            assert status == 503 and headers["retry-after"] == "1"
            assert headers["x-should-retry"] == "true"
            assert error_of(body)["type"] == "overloaded"
        for s in busy:
            assert not closed_by_peer(s, 0.01)  # still open, still waiting for its body
            s.close()
        extra.close()
        # once the busy ones end, legitimate calls are served again
        wait_for(lambda: http("GET", gw.url + "/v1/models")[0] == 200, what="a 200")
    assert _guard(gw).tally["shed_idle"] >= 1 and _guard(gw).tally["overloaded"] >= 1


def test_under_ulimit_1024_a_flood_of_idle_sockets_does_not_stop_legitimate_calls(
    tmp_path: Path,
) -> None:
    """The issue's case: `ulimit -n 1024` and 1,100 idle sockets. The gateway fits its
    connection cap to the limit and sheds idle sockets, so a real call still gets through."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 2000:  # this test process holds 1,100 sockets itself
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    cfg = sim_config(tmp_path)
    with _serve(cfg, tmp_path, nofile="1024") as (proc, url), ExitStack() as stack:
        flood = []
        for _ in range(1100):
            flood.append(stack.enter_context(connect(url)))
        for _ in range(5):
            status, _, body = http(
                "POST",
                url + "/v1/chat/completions",
                json.dumps(
                    {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
                ).encode(),
            )
            assert status == 200, body
        assert _nofile(proc.p.pid) == 1024
        assert any("does not fit the open-files limit" in str(line) for line in proc.lines())


def test_the_soft_open_files_limit_is_raised_to_the_hard_one_at_start(tmp_path: Path) -> None:
    hard = min(_nofile(os.getpid(), hard=True), 4096)  # below ours: prlimit may set it
    with _serve(sim_config(tmp_path), tmp_path, nofile=f"1024:{hard}") as (proc, _):
        assert _nofile(proc.p.pid) == hard


# -- helpers ----------------------------------------------------------------------------------


def _push_endless_header(url: str, limit: int, piece: int) -> int:
    """Send one header value that never ends until the gateway hangs up (or ``limit`` bytes
    went through); return how many bytes went."""
    sent = 0
    with connect(url) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nhost: t\r\nx-endless: ")
        try:
            while sent < limit:
                s.sendall(b"a" * piece)
                sent += piece
        except (BrokenPipeError, ConnectionResetError):
            pass
    return sent


def _guard(gw: RunningGateway) -> Any:
    return gw.handle.server.config.http_protocol_class.guard  # type: ignore[attr-defined]


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def _nofile(pid: int, hard: bool = False) -> int:
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            value = line.split()[4 if hard else 3]
            return 1 << 30 if value == "unlimited" else int(value)
    raise AssertionError("no open-files limit")


@contextmanager
def _serve(
    cfg: dict[str, Any], workdir: Path, nofile: str | None = None
) -> Iterator[tuple[Proc, str]]:
    """`daytwo serve` as a real process (optionally under `prlimit --nofile`)."""
    port = free_port()
    cfg.setdefault("server", {}).update({"port": port, "reload_poll_s": 0})
    cfg["logging"] = {"level": "info", "access_log": False}
    path = workdir / "serve.yaml"
    path.write_text(yaml.safe_dump(cfg))
    args = [sys.executable, "-m", "daytwo.cli", "serve", "--config", str(path)]
    if nofile is not None:
        args = ["prlimit", f"--nofile={nofile}", "--", *args]
    proc = Proc(args, workdir / "serve.log")
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(proc, url)
        yield proc, url
    finally:
        proc.stop()
