"""Shared pieces of the gateway benches: the fake upstream, ``daytwo serve`` and LiteLLM as child
processes, wrk and loadgen runs, /proc sampling, and the ledger count.

The fake upstream and the LiteLLM helper scripts are reused from the shared reference bench
(``$DAYTWO_SHARED_BENCH``, default ``/work/shared/bench``); nothing there is modified.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import platform
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
SHARED = Path(os.environ.get("DAYTWO_SHARED_BENCH", "/work/shared/bench"))
LOADGEN = BENCH_DIR / "loadgen.py"
WRK_LUA = BENCH_DIR / "chat_count.lua"
DAYTWO_BIN = Path(sys.executable).parent / "daytwo"
LITELLM_WORK = Path(os.environ.get("BENCH_WORK", "/tmp/daytwo-litellm-bench"))
LITELLM_BIN = LITELLM_WORK / "venv" / "bin" / "litellm"
LITELLM_KEY = "sk-bench-master-1234"
LITELLM_MODEL = "fake-gpt"
MODEL = "gpt-4o-mini"
CLIENT_KEY = "sk-fake"
UPSTREAM_KEY_ENV = "BENCH_UPSTREAM_KEY"
PYCACHE = Path(tempfile.gettempdir()) / "daytwo-bench-pycache"
LEDGER_TABLE = "calls"
CHAT_PATH = "/v1/chat/completions"
LUA_MODULES = (
    Path("/usr/lib/nginx/modules/ndk_http_module.so"),
    Path("/usr/lib/nginx/modules/ngx_http_lua_module.so"),
)
WRK_MISSING = "wrk not found: install it with `apt-get install -y wrk` (Debian/Ubuntu) and re-run."
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 60.0


class BenchError(RuntimeError):
    """A bench step failed (not a goal missed: the harness could not measure)."""


def exit_on_signals() -> None:
    """SIGTERM/SIGINT raise SystemExit, so ``finally`` blocks stop the servers we started
    (a background job inherits SIGINT ignored, and SIGTERM would skip the clean-up)."""

    def stop(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- HTTP probes


def http_status(
    port: int,
    method: str = "GET",
    path: str = "/readyz",
    body: bytes | None = None,
    timeout: float = 5.0,
) -> int:
    """Status of one request, 0 when nothing answered."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {CLIENT_KEY}"}
    try:
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        resp.read()
        return resp.status
    except OSError:
        return 0
    finally:
        conn.close()


def chat_once(port: int, model: str = MODEL, timeout: float = 10.0) -> int:
    body = json.dumps({"model": model, "messages": [{"role": "user", "content": "hi"}]})
    return http_status(port, "POST", CHAT_PATH, body.encode(), timeout)


# ---------------------------------------------------------------- /proc


def tree_pids(root: int) -> list[int]:
    kids: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                stat = Path(f"/proc/{d}/stat").read_text()
                kids.setdefault(int(stat[stat.rindex(")") + 2 :].split()[1]), []).append(int(d))
            except (OSError, ValueError, IndexError):
                continue
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        if Path(f"/proc/{p}").exists():
            out.append(p)
            todo.extend(kids.get(p, []))
    return out


def rss_mb(root: int) -> float:
    """Summed VmRSS of a process tree, MiB."""
    total_kb = 0
    for p in tree_pids(root):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_kb += int(line.split()[1])
    return round(total_kb / 1024, 1)


def cpu_s(root: int) -> float:
    """utime + stime of a process tree (live processes), seconds."""
    ticks = 0
    for p in tree_pids(root):
        with contextlib.suppress(OSError, ValueError, IndexError):
            stat = Path(f"/proc/{p}/stat").read_text()
            rest = stat[stat.rindex(")") + 2 :].split()
            ticks += int(rest[11]) + int(rest[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def machine_busy_pct(window_s: float = 1.0) -> float:
    """Share of all cores busy over ``window_s`` (100 = every core), from /proc/stat."""

    def snap() -> tuple[int, int]:
        v = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        return sum(v), v[3] + v[4]

    t0, i0 = snap()
    time.sleep(window_s)
    t1, i1 = snap()
    return round(100.0 * (1 - (i1 - i0) / max(1, t1 - t0)), 1)


def busy_processes(min_cpu_pct: float = 10.0) -> list[str]:
    """Processes using more than ``min_cpu_pct`` of a core right now (to name noisy neighbours)."""
    out = subprocess.run(
        ["ps", "-eo", "pcpu=,pid=,args=", "--sort=-pcpu"],
        capture_output=True,
        text=True,
        check=False,
    )
    busy = []
    for line in out.stdout.splitlines()[:10]:
        pcpu, pid, args = [*line.split(None, 2), "", ""][:3]
        with contextlib.suppress(ValueError):
            if float(pcpu) >= min_cpu_pct and int(pid) != os.getpid():
                busy.append(f"{pcpu}% {pid} {args[:120]}")
    return busy


class RssSampler:
    """Samples the RSS of a process tree every ``interval`` seconds on a daemon thread."""

    def __init__(self, pid: int, interval: float = 0.5) -> None:
        self.pid = pid
        self.interval = interval
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.monotonic(), rss_mb(self.pid)))
            self._stop.wait(self.interval)

    def max_between(self, t0: float, t1: float) -> float | None:
        xs = [r for t, r in self.samples if t0 <= t <= t1]
        return max(xs) if xs else None

    def max(self) -> float | None:
        return max((r for _, r in self.samples), default=None)


# ---------------------------------------------------------------- processes


@dataclass
class Proc:
    """A child server process we started (or, for nginx, a daemon whose PID we were given)."""

    name: str
    pid: int
    port: int
    popen: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None

    def alive(self) -> bool:
        if self.popen is not None:
            return self.popen.poll() is None
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        return True

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = STOP_TIMEOUT_S) -> int | None:
        """Send ``sig`` to the process, wait; SIGKILL leftovers by PID. Returns the exit code."""
        pids = tree_pids(self.pid)
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, sig)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and self.alive():
            time.sleep(0.05)
        for p in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(p, signal.SIGKILL)
        if self.popen is not None:
            return self.popen.wait(10)
        return None

    def log_tail(self, n: int = 20) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])


def wait_until(pred: Any, timeout_s: float, proc: Proc | None = None, what: str = "") -> float:
    """Poll ``pred`` until true; returns the seconds waited. Raises if the process dies."""
    t0 = time.monotonic()
    while not pred():
        if proc is not None and not proc.alive():
            raise BenchError(f"{proc.name} exited while waiting for {what}:\n{proc.log_tail()}")
        if time.monotonic() - t0 > timeout_s:
            raise BenchError(f"timed out after {timeout_s:.0f}s waiting for {what}")
        time.sleep(0.005)
    return time.monotonic() - t0


def nginx_lua_available() -> bool:
    return shutil.which("nginx") is not None and all(p.exists() for p in LUA_MODULES)


def start_upstream(workdir: Path) -> tuple[Proc, str]:
    """The fake OpenAI upstream: nginx+lua (one worker) if installed, else the uvloop one."""
    port = free_port()
    env = dict(os.environ, BENCH_WORK=str(workdir))
    if nginx_lua_available():
        out = subprocess.run(
            [str(SHARED / "upstream" / "start_upstream.sh"), str(port)],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        proc = Proc("upstream(nginx)", int(out.stdout.split()[-1]), port)
        kind = "nginx+lua (1 worker)"
    else:
        log(
            "nginx with lua not found: using the uvloop fake upstream (slower, still not the limit)"
        )
        log_path = workdir / "upstream.log"
        popen = subprocess.Popen(
            [sys.executable, str(SHARED / "upstream" / "fake_upstream.py"), "--port", str(port)],
            stdout=log_path.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        proc = Proc("upstream(python)", popen.pid, port, popen, log_path)
        kind = "python uvloop fake_upstream.py"
    wait_until(lambda: http_status(port, path="/health") == 200, START_TIMEOUT_S, proc, "upstream")
    return proc, kind


#: The translation bench's fake Anthropic upstream (nginx + lua) and the alias that reaches it.
ANTHROPIC_CONF = BENCH_DIR / "upstream" / "anthropic.conf.tmpl"
ANTHROPIC_ALIAS = "claude-bench"
MESSAGES_PATH = "/v1/messages"


def start_anthropic_upstream(workdir: Path) -> Proc | None:
    """The fake Anthropic upstream, or None when nginx+lua is not installed."""
    if not nginx_lua_available():
        log("nginx with lua not found: the translation case is skipped")
        return None
    port = free_port()
    run = workdir / "anthropic-upstream"
    run.mkdir(parents=True, exist_ok=True)
    conf = run / "nginx.conf"
    text = ANTHROPIC_CONF.read_text().replace("__DIR__", str(run)).replace("__PORT__", str(port))
    conf.write_text(text)
    subprocess.run(["nginx", "-c", str(conf), "-p", str(run)], check=True, capture_output=True)
    pid_file = run / "nginx.pid"
    wait_until(lambda: pid_file.exists() and pid_file.read_text().strip() != "", 5.0, None, "nginx")
    proc = Proc("anthropic(nginx)", int(pid_file.read_text()), port)
    wait_until(lambda: http_status(port, path="/health") == 200, START_TIMEOUT_S, proc, "nginx")
    return proc


def stop_anthropic_upstream(workdir: Path) -> None:
    run = workdir / "anthropic-upstream"
    subprocess.run(
        ["nginx", "-c", str(run / "nginx.conf"), "-p", str(run), "-s", "quit"],
        check=False,
        capture_output=True,
    )


def stop_upstream(proc: Proc, workdir: Path) -> None:
    if proc.popen is not None:
        proc.stop()
        return
    env = dict(os.environ, BENCH_WORK=str(workdir))
    subprocess.run([str(SHARED / "upstream" / "stop_upstream.sh")], env=env, check=False)


#: ``--spend``: spend control on, as a production gateway runs it -- every call needs a
#: virtual key, and passes an org budget, a per-project daily budget, a per-key budget and
#: per-key/per-project rate limits (caps high enough never to refuse: the cost is measured,
#: not the refusals).
SPEND_BLOCK = """\
spend_control:
  state: {state}
  budgets:
    - {{name: org-month, window: month, usd: 1000000}}
    - name: project-day
      scope: {{project: "*"}}
      window: day
      usd: 100000
  rate_limits:
    - name: per-project
      scope: {{project: "*"}}
      rpm: 100000000
      tpm: 10000000000
      concurrent: 100000
"""
SPEND_STATES = {
    "memory": "{backend: memory}",
    "redis": "{backend: redis, url: 'redis://127.0.0.1:6379/0', prefix: 'daytwo-bench:'}",
}


def create_bench_key(ledger_db: Path) -> str:
    """A virtual key with its own budget and rate limits, in the bench's ledger database."""
    from daytwo.keys.model import KeySpec
    from daytwo.keys.store import KeyStore

    with KeyStore.open(f"sqlite:///{ledger_db}", pepper=b"") as store:
        spec = KeySpec(project="bench", budget="100000/day", rpm=100_000_000, tpm=10**10)
        return store.create(spec, actor="bench").secret


def write_daytwo_config(
    path: Path,
    upstream_port: int | None,
    ledger_db: Path,
    spend: str | None = None,
    anthropic_port: int | None = None,
    **ledger: Any,
) -> Path:
    """A gateway config: the fake upstream on ``upstream_port``, or the in-process sim if None.
    ``spend``: None (off) or the state backend (``memory``/``redis``) of :data:`SPEND_BLOCK`."""
    if upstream_port is None:
        provider = "{type: sim}"
    else:
        base = f"http://127.0.0.1:{upstream_port}/v1"
        provider = f'{{type: openai, base_url: "{base}", api_key: "env:{UPSTREAM_KEY_ENV}"}}'
    extra = "".join(f", {k}: {v}" for k, v in ledger.items())
    path.write_text(
        "server: {host: 127.0.0.1, port: 4000}\n"
        f"gateway: {{require_keys: {'true' if spend else 'false'}}}\n"
        "logging: {level: warning, access_log: false}\n"
        f"providers:\n  up: {provider}\n"
        + (
            f'  anth: {{type: anthropic, base_url: "http://127.0.0.1:{anthropic_port}"}}\n'
            if anthropic_port
            else ""
        )
        + f"models:\n  {MODEL}: {{deployments: [{{provider: up, model: {MODEL}}}]}}\n"
        + (
            f"  {ANTHROPIC_ALIAS}: {{deployments: [{{provider: anth, model: claude-haiku-4-5}}]}}\n"
            if anthropic_port
            else ""
        )
        + f'ledger: {{url: "sqlite:///{ledger_db}"{extra}}}\n'
        + (SPEND_BLOCK.format(state=SPEND_STATES[spend]) if spend else "")
    )
    return path


def launch_daytwo(config: Path, port: int, log_path: Path, pycache: Path | None = None) -> Proc:
    """Start ``daytwo serve`` without waiting (cold start times from here).

    With ``pycache``, bytecode is cached there (``PYTHONPYCACHEPREFIX``) even where the
    environment says ``PYTHONDONTWRITEBYTECODE``, as an installed package would have it.
    """
    env = dict(os.environ, **{UPSTREAM_KEY_ENV: "sk-fake-upstream"})
    if pycache is not None:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(pycache)
    popen = subprocess.Popen(
        [str(DAYTWO_BIN), "serve", "--config", str(config), "--port", str(port)],
        stdout=log_path.open("wb"),
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
        cwd=config.parent,
    )
    return Proc("daytwo", popen.pid, port, popen, log_path)


def start_daytwo(config: Path, log_path: Path) -> Proc:
    proc = launch_daytwo(config, free_port(), log_path)
    wait_until(lambda: http_status(proc.port) == 200, START_TIMEOUT_S, proc, "daytwo /readyz")
    return proc


def start_litellm(workdir: Path, upstream_port: int) -> Proc:
    """LiteLLM proxy, one worker, no database, via the shared start script."""
    if not LITELLM_BIN.exists():
        raise BenchError(f"{LITELLM_BIN} missing: run {SHARED / 'setup.sh'} first")
    config = workdir / "litellm.yaml"
    config.write_text(
        "model_list:\n"
        f"  - model_name: {LITELLM_MODEL}\n"
        "    litellm_params:\n"
        "      model: openai/gpt-4o-mini\n"
        f"      api_base: http://127.0.0.1:{upstream_port}/v1\n"
        "      api_key: sk-fake-upstream-key\n"
        f"general_settings:\n  master_key: {LITELLM_KEY}\n"
    )
    port = free_port()
    log_path = workdir / "litellm.log"
    env = dict(
        os.environ, LITELLM_BIN=str(LITELLM_BIN), MASTER_KEY=LITELLM_KEY, MODEL=LITELLM_MODEL
    )
    out = subprocess.run(
        [str(SHARED / "tools" / "start_litellm.sh"), str(config), str(port), "1", str(log_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if out.returncode != 0:
        raise BenchError(f"litellm did not start: {out.stderr.strip()}")
    return Proc("litellm", int(out.stdout.split()[-1]), port, log_path=log_path)


# ---------------------------------------------------------------- load runs


@dataclass
class Target:
    """Where load goes: the direct upstream or a gateway (whose requests the ledger must hold)."""

    label: str
    port: int
    model: str = MODEL
    key: str = CLIENT_KEY
    proc: Proc | None = None  # the gateway, for CPU/RSS; None for the upstream
    sent: int = 0  # requests written to this target (the ledger's expected rows)
    ok: int = 0  # 200 responses the clients read
    path: str = CHAT_PATH

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path}"


def check_wrk() -> bool:
    return shutil.which("wrk") is not None


def run_wrk(target: Target, conc: int, duration: float, stream: bool = False) -> dict[str, Any]:
    env = dict(
        os.environ,
        BENCH_MODEL=target.model,
        BENCH_KEY=target.key,
        BENCH_STREAM="1" if stream else "0",
    )
    cmd = [
        "wrk",
        "-t1",
        f"-c{conc}",
        f"-d{max(1, round(duration))}s",
        "--timeout",
        "10s",
        "-s",
        str(WRK_LUA),
        target.url,
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=duration + 60)
    for line in out.stdout.splitlines():
        if line.startswith("WRKJSON "):
            w: dict[str, Any] = json.loads(line[8:])
            errs = sum(
                w[k] for k in ("err_connect", "err_read", "err_write", "err_status", "err_timeout")
            )
            w["errors"] = errs
            target.sent += w["sent"]
            target.ok += w["requests"] - w["err_status"]
            return w
    raise BenchError(f"wrk failed: {out.stdout}\n{out.stderr}")


def run_loadgen(target: Target, mode: str, *extra: str) -> dict[str, Any]:
    """Run ``bench/loadgen.py MODE`` in its own process against ``target``; returns its JSON."""
    cmd = [
        sys.executable,
        str(LOADGEN),
        mode,
        "--url",
        target.url,
        "--model",
        target.model,
        "--key",
        target.key,
        *extra,
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=3600)
    if out.returncode != 0 or not out.stdout.strip():
        raise BenchError(f"loadgen failed: {out.stderr[-2000:]}")
    res: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    target.sent += res["written"]
    target.ok += res["ok"]
    return res


@dataclass
class Measured:
    """One load run with the gateway's CPU and RSS over it."""

    result: dict[str, Any]
    cpu_ms_per_req: float | None = None
    rss_max_mb: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def measured(target: Target, sampler: RssSampler | None, fn: Any, *args: Any) -> Measured:
    proc = target.proc
    c0 = cpu_s(proc.pid) if proc else 0.0
    t0 = time.monotonic()
    result = fn(target, *args)
    t1 = time.monotonic()
    m = Measured(result)
    if proc is not None:
        done = result.get("requests", result.get("completed", 0))
        m.cpu_ms_per_req = round((cpu_s(proc.pid) - c0) * 1000 / done, 3) if done else None
        m.rss_max_mb = sampler.max_between(t0, t1) if sampler else rss_mb(proc.pid)
    return m


# ---------------------------------------------------------------- ledger


@dataclass
class LedgerCount:
    rows: int
    by_status: dict[str, int]


def count_ledger(db: Path, table: str = LEDGER_TABLE) -> LedgerCount:
    if not db.exists():
        raise BenchError(f"ledger database {db} does not exist")
    # Read-write: after a SIGKILL the first connection may have to recover the WAL.
    with contextlib.closing(sqlite3.connect(db)) as conn:
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if table not in names:
            raise BenchError(f"ledger {db} has no table `{table}` (tables: {sorted(names)})")
        rows = conn.execute(f"SELECT status, COUNT(*) FROM {table} GROUP BY status").fetchall()  # noqa: S608 - table name is ours
    by_status = {str(s): int(n) for s, n in rows}
    return LedgerCount(sum(by_status.values()), by_status)


# ---------------------------------------------------------------- environment


def _version(cmd: list[str]) -> str | None:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = (out.stdout + out.stderr).strip().splitlines()
    return text[0] if text else None


def _pkg(name: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def environment(upstream_kind: str) -> dict[str, Any]:
    cpu_model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        None,
    )
    commit = _version(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"])
    dirty = _version(["git", "-C", str(REPO), "status", "--porcelain", "--", "src"])
    return {
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "host": platform.node(),
        "cpu_count": os.cpu_count(),
        "cpu_model": cpu_model,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "daytwo": _pkg("daytwo"),
        "daytwo_commit": f"{commit}{'+dirty' if dirty else ''}" if commit else None,
        "uvicorn": _pkg("uvicorn"),
        "uvloop": _pkg("uvloop"),
        "httptools": _pkg("httptools"),
        "aiohttp": _pkg("aiohttp"),
        "wrk": _version(["wrk", "--version"]),
        "nginx": _version(["nginx", "-v"]) if nginx_lua_available() else None,
        "upstream": upstream_kind,
        "PYTHONDONTWRITEBYTECODE": os.environ.get("PYTHONDONTWRITEBYTECODE"),
        "note": "load generator, upstream and gateway share the same cores (nothing pinned)",
    }


def litellm_version() -> str | None:
    py = LITELLM_BIN.parent / "python"
    return _version([str(py), "-c", "import importlib.metadata as m; print(m.version('litellm'))"])


@contextlib.contextmanager
def workspace(keep: bool, prefix: str) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield path
    finally:
        if keep:
            log(f"kept work dir {path}")
        else:
            shutil.rmtree(path, ignore_errors=True)


def clear_redis_prefix(prefix: str) -> None:
    """Start a spend-control run from empty counters."""
    import redis

    client = redis.Redis.from_url("redis://127.0.0.1:6379/0")
    try:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()
