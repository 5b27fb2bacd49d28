"""What daytwo adds on the request path: direct-to-upstream against through-daytwo, in one run.

Starts a fake OpenAI upstream that is never the bottleneck (nginx+lua, one worker; the uvloop
``fake_upstream.py`` when nginx+lua is missing), starts ``daytwo serve`` (one worker process,
ledger on SQLite, logging warning, access log off) on a temporary config, and measures:

* closed loop (wrk) at concurrency 1, 16, 64: requests/s, p50/p99;
* open loop (``bench/loadgen.py``) at offered 100, 500, 1,000 req/s: p50/p99 from the
  *scheduled* send time, errors, achieved rate;
* a prompt reference (``model: prompt:...``) against a plain call, both through daytwo, at
  concurrency 1 (``bench/prompt_case.py``);
* streaming: time to first chunk at concurrency 1 and at an offered 500 req/s, and streaming
  throughput with wrk at concurrency 16;
* cold start: launch of ``daytwo serve`` to the first proxied 200 (median of 3 launches);
* RSS of the gateway: idle after start, max under load, and with ``--soak S`` sampled every
  10 s over an S-second constant-rate run (start/end/max and slope);
* the ledger: after a graceful stop (SIGTERM drains the writer queue), the rows in SQLite must
  equal the requests sent to the gateway, or the bench fails (exit code 1).

Telemetry is off in the measured gateway unless ``--telemetry``: then Prometheus metrics are on
and every call's spans are exported over OTLP/HTTP to a sink in this process that accepts every
export (the collector's own cost is not daytwo's); run with and without it to compare.

Direct and gateway runs are interleaved (alternating order per repetition) and each figure is
the median over ``--reps``. Load generator, upstream and gateway share the machine's cores;
nothing is pinned. ``added`` = gateway percentile - direct percentile, per scenario.

Usage::

    .venv/bin/python bench/gateway_overhead.py              # ~9 min, readable table
    .venv/bin/python bench/gateway_overhead.py --quick      # ~1 min smoke run
    .venv/bin/python bench/gateway_overhead.py --json --litellm --soak 600 > result.json
    .venv/bin/python bench/gateway_overhead.py --telemetry  # metrics + traces on
    .venv/bin/python bench/gateway_overhead.py --prompt     # the prompt-reference case only
    .venv/bin/python bench/gateway_overhead.py --quality    # every cheap check on vs off only
    .venv/bin/python bench/gateway_overhead.py --audit redacted  # audit capture on vs off only

``--quality`` runs two gateways side by side on the same upstream, one without a ``quality``
section and one with an evaluator running every cheap check on every call, and reports what
the checks add to p50/p99 at concurrency 1 and at an offered 500 req/s (``added`` = quality on
- quality off); it checks that the "on" gateway wrote a ``length`` score for every call.
``--audit POLICY`` does the same with the audit trail off (``audit.enabled: false``) and on
with that capture policy, adding a throughput point at concurrency 64; it checks that every
call has its chained entry (and its content row), and reports the bytes stored per call.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sqlite3
import statistics
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import harness as h
import spy
from overhead_report import evaluate, loadgen_check, print_table
from prompt_case import PROMPT_MODEL, add_prompts

# ---------------------------------------------------------------- the matrix
CLOSED_CONCS = (1, 16, 64)
OPEN_RATES = (100, 500, 1_000)
STREAM_TTFT_CONC = 1
STREAM_OPEN_RATE = 500
STREAM_WRK_CONC = 16
COLD_START_REPS = 3
SOAK_SAMPLE_S = 10.0
PAUSE_S = 1.0
PROFILE_S = 15
QUIET_MAX_BUSY_PCT = 10.0


@dataclass(frozen=True)
class Settings:
    duration: float
    reps: int
    warmup: float
    quick: bool
    stream_only: bool
    soak: float
    soak_rate: int
    litellm: bool
    profile: bool
    keep: bool
    as_json: bool
    spend: str | None = None
    telemetry: bool = False
    prompt_only: bool = False
    quality: bool = False
    audit: str | None = None
    shadow: float | None = None


@dataclass(frozen=True)
class Point:
    """One scenario: how to run it and which result fields hold rps, p50 and p99."""

    mode: str
    param: str  # "concurrency" or "rate"
    value: int
    run: Callable[[h.Target], dict[str, Any]]
    rps: str = "rps"
    p50: str = "lat_p50_ms"
    p99: str = "lat_p99_ms"


@dataclass
class Ctx:
    s: Settings
    work: Path
    direct: h.Target
    notes: list[str] = field(default_factory=list)
    #: The fake Anthropic upstream, for the translation case (None: nginx+lua missing).
    direct_anthropic: h.Target | None = None
    #: ``--telemetry``: where the gateway exports its spans.
    otlp: OtlpSink | None = None


# ---------------------------------------------------------------- telemetry


class OtlpSink:
    """An OTLP/HTTP endpoint on loopback that accepts every export and counts them."""

    def __init__(self) -> None:
        sink = self
        self.exports = 0
        self.bytes = 0

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                size = int(self.headers.get("content-length") or 0)
                self.rfile.read(size)
                sink.exports += 1
                sink.bytes += size
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def add_telemetry(config: Path, otlp: OtlpSink | None) -> None:
    """Telemetry on (metrics, and traces to ``otlp``) or, without a sink, explicitly off."""
    if otlp is None:
        block = "telemetry: {metrics: {enabled: false}, traces: {enabled: false}}\n"
    else:
        traces = f'{{enabled: true, exporter: otlp_http, endpoint: "{otlp.url}"}}'
        block = f"telemetry:\n  metrics: {{enabled: true}}\n  traces: {traces}\n"
    with config.open("a") as f:
        f.write(block)


def scrape_metrics(gw: h.Target) -> dict[str, Any]:
    """One ``/metrics`` scrape after the load: its size and time, and the calls it counted."""
    t0 = time.perf_counter()
    with urllib.request.urlopen(f"http://127.0.0.1:{gw.port}/metrics", timeout=30) as resp:
        body = resp.read().decode()
    took_ms = (time.perf_counter() - t0) * 1000
    counted = sum(
        float(line.rsplit(" ", 1)[1])
        for line in body.splitlines()
        if line.startswith("daytwo_requests_total{")
    )
    return {"scrape_ms": round(took_ms, 1), "scrape_bytes": len(body), "calls_counted": counted}


# ---------------------------------------------------------------- scenario definitions


def wrk_point(mode: str, conc: int, duration: float, stream: bool = False) -> Point:
    return Point(mode, "concurrency", conc, lambda t: h.run_wrk(t, conc, duration, stream))


def loadgen_point(mode: str, param: str, value: int, args: list[str], ttft: bool) -> Point:
    keys = {"p50": "ttft_p50_ms", "p99": "ttft_p99_ms"} if ttft else {}
    return Point(mode, param, value, lambda t: h.run_loadgen(t, *args), rps="achieved_rps", **keys)


def plain_points(s: Settings) -> list[Point]:
    d = f"{s.duration:g}"
    points = [wrk_point("closed", c, s.duration) for c in CLOSED_CONCS]
    points += [
        loadgen_point("open", "rate", r, ["open", "--rate", str(r), "-d", d], ttft=False)
        for r in OPEN_RATES
    ]
    return points


def stream_points(s: Settings) -> list[Point]:
    d = f"{s.duration:g}"
    c, r = STREAM_TTFT_CONC, STREAM_OPEN_RATE
    return [
        loadgen_point(
            "stream_ttft", "concurrency", c, ["closed", "--conc", str(c), "-d", d, "--stream"], True
        ),
        loadgen_point(
            "stream_ttft_open", "rate", r, ["open", "--rate", str(r), "-d", d, "--stream"], True
        ),
        wrk_point("stream", STREAM_WRK_CONC, s.duration, stream=True),
    ]


def translation_points(s: Settings) -> list[Point]:
    """OpenAI-format clients through daytwo to an Anthropic upstream, against the same clients
    straight to that upstream: what translating the stream adds to the first chunk."""
    d = f"{s.duration:g}"
    c, r = STREAM_TTFT_CONC, STREAM_OPEN_RATE
    return [
        loadgen_point(
            "translate_ttft",
            "concurrency",
            c,
            ["closed", "--conc", str(c), "-d", d, "--stream"],
            True,
        ),
        loadgen_point(
            "translate_ttft_open", "rate", r, ["open", "--rate", str(r), "-d", d, "--stream"], True
        ),
    ]


def litellm_points(s: Settings) -> list[Point]:
    """LiteLLM serves ~60 req/s here: an open loop at 100+ req/s would only measure its queue."""
    return [wrk_point("closed", c, s.duration) for c in CLOSED_CONCS] + [
        p for p in stream_points(s) if p.mode != "stream_ttft_open"
    ]


# ---------------------------------------------------------------- running the matrix


def run_matrix(
    ctx: Ctx,
    gw: h.Target,
    points: list[Point],
    sampler: h.RssSampler,
    direct: h.Target | None = None,
) -> list[dict[str, Any]]:
    """Each repetition runs every point direct and through the gateway, alternating the order."""
    direct = direct or ctx.direct
    runs: dict[int, tuple[list[h.Measured], list[h.Measured]]] = {
        i: ([], []) for i in range(len(points))
    }
    for rep in range(ctx.s.reps):
        for i, p in enumerate(points):
            pair = [(gw, runs[i][0]), (direct, runs[i][1])]
            for target, bucket in pair if rep % 2 else reversed(pair):
                time.sleep(PAUSE_S)
                m = h.measured(target, sampler, p.run)
                bucket.append(m)
                h.log(f"{gw.label if target is gw else 'direct':>8} rep{rep + 1} {describe(p, m)}")
    return [make_row(p, gw.label, *runs[i]) for i, p in enumerate(points)]


def describe(p: Point, m: h.Measured) -> str:
    r = m.result
    cpu = f" cpu={m.cpu_ms_per_req}ms/req rss={m.rss_max_mb}MB" if m.cpu_ms_per_req else ""
    return (
        f"{p.mode} {p.param}={p.value}: {r[p.rps]:.0f} req/s p50={r[p.p50]} p99={r[p.p99]} ms "
        f"errors={r['errors']}{cpu}"
    )


def med(xs: list[Any]) -> float | None:
    vals = [x for x in xs if x is not None]
    return round(statistics.median(vals), 3) if vals else None


def diff(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else round(a - b, 3)


def make_row(
    p: Point, label: str, gw: list[h.Measured], direct: list[h.Measured]
) -> dict[str, Any]:
    def pick(ms: list[h.Measured], key: str) -> list[Any]:
        return [m.result.get(key) for m in ms]

    g50, d50 = med(pick(gw, p.p50)), med(pick(direct, p.p50))
    g99, d99 = med(pick(gw, p.p99)), med(pick(direct, p.p99))
    row: dict[str, Any] = {
        "mode": p.mode,
        p.param: p.value,
        "gateway": label,
        "gateway_rps": med(pick(gw, p.rps)),
        "direct_rps": med(pick(direct, p.rps)),
        "gateway_p50_ms": g50,
        "direct_p50_ms": d50,
        "gateway_p99_ms": g99,
        "direct_p99_ms": d99,
        "added_p50_ms": diff(g50, d50),
        "added_p99_ms": diff(g99, d99),
        "errors": sum(pick(gw, "errors")),
        "direct_errors": sum(pick(direct, "errors")),
        "gateway_rss_mb": max((m.rss_max_mb for m in gw if m.rss_max_mb), default=None),
        "gateway_cpu_ms_per_req": med([m.cpu_ms_per_req for m in gw]),
        "reps": len(gw),
        "gateway_rps_runs": pick(gw, p.rps),
        "added_p50_runs_ms": [
            diff(a, b) for a, b in zip(pick(gw, p.p50), pick(direct, p.p50), strict=True)
        ],
    }
    if p.param == "rate":
        row["direct_send_lag_p99_ms"] = med(pick(direct, "send_lag_p99_ms"))
    return row


# ---------------------------------------------------------------- cold start, RSS, soak


def first_200(
    ctx: Ctx, upstream_port: int, name: str, pycache: Path | None
) -> tuple[float, dict[str, Any]]:
    """One launch → first proxied 200, with its own ledger (checked after SIGTERM)."""
    d = ctx.work / name
    d.mkdir()
    db = d / "ledger.db"
    config = h.write_daytwo_config(d / "daytwo.yaml", upstream_port, db)
    port = h.free_port()
    t0 = time.monotonic()
    proc = h.launch_daytwo(config, port, d / "daytwo.log", pycache)
    answered = 0
    try:
        while True:
            status = h.chat_once(port, timeout=5.0)
            answered += status != 0
            if status == 200:
                break
            if not proc.alive() or time.monotonic() - t0 > h.START_TIMEOUT_S:
                raise h.BenchError(f"daytwo did not serve a 200:\n{proc.log_tail()}")
            time.sleep(0.005)
        took = round(time.monotonic() - t0, 3)
    finally:
        proc.stop()
    count = h.count_ledger(db)
    h.log(f"{name}: {took} s to the first 200; ledger {count.rows}/{answered}")
    return took, {"what": name, "rows": count.rows, "expected": answered}


def cold_start(ctx: Ctx, upstream_port: int) -> dict[str, Any]:
    """Median launch → first 200 with bytecode cached (after one untimed priming launch, as an
    installed package has it), and as the environment is (PYTHONDONTWRITEBYTECODE may be set:
    then daytwo's own modules compile at every start)."""
    first_200(ctx, upstream_port, "cold-prime", h.PYCACHE)
    cached = [
        first_200(ctx, upstream_port, f"cold{i + 1}", h.PYCACHE) for i in range(COLD_START_REPS)
    ]
    as_is = [
        first_200(ctx, upstream_port, f"cold-asis{i + 1}", None) for i in range(COLD_START_REPS)
    ]
    return {
        "cold_start_s": statistics.median(t for t, _ in cached),
        "cold_start_runs_s": [t for t, _ in cached],
        "cold_start_env_as_is_s": statistics.median(t for t, _ in as_is),
        "cold_start_env_as_is_runs_s": [t for t, _ in as_is],
        "ledger_checks": [c for _, c in cached + as_is],
    }


def idle_rss(proc: h.Proc, target: h.Target) -> tuple[float, float]:
    """RSS when ready, and 2 s after one completion."""
    ready = h.rss_mb(proc.pid)
    if h.chat_once(proc.port) != 0:
        target.sent += 1
    time.sleep(2.0)
    return ready, h.rss_mb(proc.pid)


def slope_mb_per_min(samples: list[tuple[float, float]]) -> float | None:
    if len(samples) < 3:
        return None
    t0 = samples[0][0]
    xs = [(t - t0) / 60 for t, _ in samples]
    ys = [r for _, r in samples]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    var = sum((x - mx) ** 2 for x in xs)
    return (
        round(sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / var, 4)
        if var
        else None
    )


def plateau_from_min(samples: list[tuple[float, float]], band_mb: float = 1.0) -> float | None:
    """Minutes into the soak after which RSS stays within ``band_mb`` of its final value."""
    if not samples:
        return None
    t0, final = samples[0][0], samples[-1][1]
    since = samples[-1][0]
    for t, r in reversed(samples):
        if abs(r - final) > band_mb:
            break
        since = t
    return round((since - t0) / 60, 1)


def soak(ctx: Ctx, gw: h.Target, proc: h.Proc) -> dict[str, Any]:
    h.log(
        f"soak: {ctx.s.soak:g} s at an offered {ctx.s.soak_rate} req/s, "
        f"RSS every {SOAK_SAMPLE_S:g} s"
    )
    args = ["open", "--rate", str(ctx.s.soak_rate), "-d", f"{ctx.s.soak:g}"]
    with h.RssSampler(proc.pid, SOAK_SAMPLE_S) as rss:
        result = h.run_loadgen(gw, *args)
    samples = [(t, r) for t, r in rss.samples]
    tail = samples[len(samples) // 2 :]
    out = {
        "duration_s": ctx.s.soak,
        "rate": ctx.s.soak_rate,
        "achieved_rps": result["achieved_rps"],
        "errors": result["errors"],
        "lat_p50_ms": result["lat_p50_ms"],
        "lat_p99_ms": result["lat_p99_ms"],
        "rss_start_mb": samples[0][1] if samples else None,
        "rss_end_mb": samples[-1][1] if samples else None,
        "rss_max_mb": max((r for _, r in samples), default=None),
        "slope_mb_per_min": slope_mb_per_min(samples),
        "slope_last_half_mb_per_min": slope_mb_per_min(tail),
        "plateau_from_min": plateau_from_min(samples),
        "rss_samples_mb": [r for _, r in samples],
    }
    h.log(f"soak: {json.dumps({k: v for k, v in out.items() if k != 'rss_samples_mb'})}")
    return out


# ---------------------------------------------------------------- profile (py-spy)


def profile(ctx: Ctx, gw: h.Target, proc: h.Proc) -> dict[str, Any]:
    """py-spy over a wrk run at concurrency 64: where the gateway's CPU goes (not in figures)."""
    out = ctx.work / "pyspy.txt"
    recorder = spy.record(proc.pid, PROFILE_S, out)
    time.sleep(1.0)
    w = h.run_wrk(gw, 64, PROFILE_S - 2)
    _, err = recorder.communicate(timeout=PROFILE_S + 60)
    if not out.exists():
        return {"error": err.decode(errors="replace")[-500:]}
    summary = spy.summarize(out, PROFILE_S)
    return summary | {"rps_while_profiled": w["rps"], "raw": str(out)}


# ---------------------------------------------------------------- gateway phases


def daytwo_phase(ctx: Ctx, upstream_port: int) -> dict[str, Any]:
    s = ctx.s
    db = ctx.work / "ledger.db"
    anthropic = ctx.direct_anthropic
    config = h.write_daytwo_config(
        ctx.work / "daytwo.yaml",
        upstream_port,
        db,
        spend=s.spend,
        anthropic_port=anthropic.port if anthropic else None,
    )
    add_telemetry(config, ctx.otlp)
    add_prompts(config)
    key = h.CLIENT_KEY
    if s.spend:
        h.clear_redis_prefix("daytwo-bench:")
        key = h.create_bench_key(db)
    proc = h.start_daytwo(config, ctx.work / "daytwo.log")
    gw = h.Target("daytwo", proc.port, key=key, proc=proc)
    out: dict[str, Any] = {}
    try:
        out["rss_ready_mb"], out["rss_idle_mb"] = idle_rss(proc, gw)
        h.log(
            f"daytwo pid {proc.pid} on :{proc.port}; RSS ready {out['rss_ready_mb']} MB, "
            f"idle after 1 request {out['rss_idle_mb']} MB"
        )
        with h.RssSampler(proc.pid) as sampler:
            for t in (ctx.direct, gw):
                h.run_wrk(t, 64, s.warmup)
            points = ([] if s.stream_only else plain_points(s)) + stream_points(s)
            out["rows"] = [] if s.prompt_only else run_matrix(ctx, gw, points, sampler)
            prompted = h.Target("daytwo", proc.port, model=PROMPT_MODEL, key=key, proc=proc)
            point = wrk_point("prompt_vs_plain", 1, s.duration)
            out["rows"] += run_matrix(ctx, prompted, [point], sampler, gw)
            gw.sent += prompted.sent
            gw.ok += prompted.ok
            if anthropic is not None and not s.prompt_only:
                claude = h.Target("daytwo", proc.port, model=h.ANTHROPIC_ALIAS, key=key, proc=proc)
                rows = run_matrix(ctx, claude, translation_points(s), sampler, anthropic)
                out["rows"] += rows
                gw.sent += claude.sent
                gw.ok += claude.ok
            if s.profile:
                out["profile"] = profile(ctx, gw, proc)
            out["rss_load_max_mb"] = sampler.max()
        if s.soak:
            out["soak"] = soak(ctx, gw, proc)
        if ctx.otlp is not None:
            out["telemetry"] = scrape_metrics(gw)
    finally:
        t0 = time.monotonic()
        code = proc.stop(signal.SIGTERM)
        out["shutdown_s"] = round(time.monotonic() - t0, 2)
        out["exit_code"] = code
    if ctx.otlp is not None:  # the exporter flushed its last batch at shutdown
        out.setdefault("telemetry", {}).update(
            otlp_exports=ctx.otlp.exports, otlp_bytes=ctx.otlp.bytes
        )
    count = h.count_ledger(db)
    out.update(
        ledger_rows=count.rows,
        ledger_expected=gw.sent,
        ledger_by_status=count.by_status,
        ok_responses=gw.ok,
    )
    h.log(
        f"daytwo stopped (exit {code}, {out['shutdown_s']} s); ledger rows {count.rows} "
        f"{count.by_status}, requests sent {gw.sent}, 200s read by clients {gw.ok}"
    )
    return out


def litellm_phase(ctx: Ctx, upstream_port: int) -> dict[str, Any]:
    h.log("starting LiteLLM (one worker, no database) ...")
    t0 = time.monotonic()
    proc = h.start_litellm(ctx.work, upstream_port)
    started = round(time.monotonic() - t0, 1)
    gw = h.Target("litellm", proc.port, model=h.LITELLM_MODEL, key=h.LITELLM_KEY, proc=proc)
    try:
        time.sleep(2.0)
        idle = h.rss_mb(proc.pid)
        with h.RssSampler(proc.pid) as sampler:
            h.run_wrk(gw, 16, ctx.s.warmup)
            rows = run_matrix(ctx, gw, litellm_points(ctx.s), sampler)
            load_max = sampler.max()
    finally:
        proc.stop(signal.SIGTERM, timeout_s=20)
    return {
        "version": h.litellm_version(),
        "start_to_first_200_s": started,
        "rss_idle_mb": idle,
        "rss_load_max_mb": load_max,
        "rows": rows,
    }


# ---------------------------------------------------------------- a stage on vs off (A/B)

QUALITY_BLOCK = "quality:\n  evaluators:\n    - {name: all, checks: all}\n"
AB_OPEN_RATE = 500
#: The throughput point of an A/B run: enough concurrency to saturate one gateway process.
AB_THROUGHPUT_CONC = 64


def ab_points(s: Settings, name: str) -> list[Point]:
    d = f"{s.duration:g}"
    r = AB_OPEN_RATE
    points = [
        wrk_point(f"{name}_closed", 1, s.duration),
        loadgen_point(f"{name}_open", "rate", r, ["open", "--rate", str(r), "-d", d], ttft=False),
    ]
    if name == "audit":
        points.append(wrk_point(f"{name}_closed", AB_THROUGHPUT_CONC, s.duration))
    return points


def count_scores(db: Path) -> int:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        return int(
            conn.execute("SELECT count(*) FROM scores WHERE evaluator = 'length'").fetchone()[0]
        )


def count_audit(db: Path) -> tuple[int, int, int]:
    """(call entries, content rows, content bytes stored) in a ledger."""
    with contextlib.closing(sqlite3.connect(db)) as conn:
        entries = conn.execute("SELECT count(*) FROM audit_entries WHERE kind = 'call'").fetchone()
        content = conn.execute(
            "SELECT count(*), coalesce(sum(length(content)), 0) FROM call_content"
        ).fetchone()
    return int(entries[0]), int(content[0]), int(content[1])


#: The shadow A/B's candidate alias (the same upstream model: only the mirroring is measured).
SHADOW_CANDIDATE = "candidate"


def count_shadow(db: Path) -> tuple[int, int]:
    """(client calls, mirrored calls) in a ledger."""
    with contextlib.closing(sqlite3.connect(db)) as conn:
        mirrored, total = conn.execute(
            "SELECT coalesce(sum(rollout_arm = 'shadow'), 0), count(*) FROM calls"
        ).fetchone()
    return int(total) - int(mirrored), int(mirrored)


def start_shadow_rollout(db: Path, percent: float) -> None:
    """A shadow stage mirroring ``percent`` % of the bench alias's calls to the candidate,
    stored before the gateway starts (it migrates the same database)."""
    import time as _time

    from daytwo.rollout.model import Criteria, Rollout, new_id, parse_stages
    from daytwo.rollout.store import RolloutStore

    now = _time.time()
    store = RolloutStore.open(f"sqlite:///{db}")
    try:
        store.create(
            Rollout(
                id=new_id(),
                kind="alias",
                target=h.MODEL,
                control=h.MODEL,
                candidate=SHADOW_CANDIDATE,
                stages=parse_stages(f"shadow:{percent:g}%"),
                stage=0,
                status="running",
                sticky="session",
                approve_each=False,
                criteria=Criteria(min_duration_s=10**9),  # never advances during the bench
                created_at=now,
                created_by="bench",
                stage_started_at=now,
                updated_at=now,
            ),
            "bench",
        )
    finally:
        store.close()


def ab_blocks(s: Settings) -> tuple[str, dict[str, str]]:
    """The stage an A/B run measures and the config block each side appends."""
    if s.shadow is not None:
        return "shadow", {"off": "", "on": ""}
    if s.audit is not None:
        return "audit", {
            "off": "audit: {enabled: false}\n",
            "on": f"audit: {{capture: {s.audit}}}\n",
        }
    return "quality", {"off": "", "on": QUALITY_BLOCK}


def ab_phase(ctx: Ctx, upstream_port: int) -> dict[str, Any]:
    """The same gateway twice, the stage off and on, measured against each other."""
    stage, blocks = ab_blocks(ctx.s)
    procs: dict[str, h.Proc] = {}
    targets: dict[str, h.Target] = {}
    dbs: dict[str, Path] = {}
    for name in ("off", "on"):
        d = ctx.work / f"{stage}-{name}"
        d.mkdir()
        dbs[name] = d / "ledger.db"
        config = h.write_daytwo_config(d / "daytwo.yaml", upstream_port, dbs[name])
        add_telemetry(config, None)
        with config.open("a") as f:
            f.write(blocks[name])
        if stage == "shadow":  # both sides serve the candidate alias; only "on" mirrors to it
            text = config.read_text()
            line = f"  {SHADOW_CANDIDATE}: {{deployments: [{{provider: up, model: {h.MODEL}}}]}}\n"
            config.write_text(text.replace("models:\n", "models:\n" + line, 1))
            if name == "on":
                assert ctx.s.shadow is not None
                start_shadow_rollout(dbs[name], ctx.s.shadow)
        procs[name] = h.start_daytwo(config, d / "daytwo.log")
        targets[name] = h.Target(
            f"{stage}-{name}", procs[name].port, key=h.CLIENT_KEY, proc=procs[name]
        )
    out: dict[str, Any] = {"stage": stage}
    try:
        with h.RssSampler(procs["on"].pid) as sampler:
            for t in targets.values():
                h.run_wrk(t, 16, ctx.s.warmup)
            out["rows"] = run_matrix(
                ctx, targets["on"], ab_points(ctx.s, stage), sampler, targets["off"]
            )
    finally:
        for proc in procs.values():
            proc.stop(signal.SIGTERM)
    counts = {name: h.count_ledger(db) for name, db in dbs.items()}
    out["ledger_checks"] = [
        {"what": f"{stage} {name}", "rows": c.rows, "expected": targets[name].sent}
        for name, c in counts.items()
    ]
    if stage == "shadow":
        client, mirrored = count_shadow(dbs["on"])
        out["ledger_checks"][1] = {
            "what": "shadow on: client calls",
            "rows": client,
            "expected": targets["on"].sent,
        }
        out["mirrored_calls"] = mirrored
        out["mirrored_share"] = round(mirrored / client, 4) if client else None
    elif stage == "quality":
        answered = counts["on"].by_status.get("ok", 0)  # a 200 cut off before wrk read it counts
        scored = count_scores(dbs["on"])
        out["ledger_checks"].append(
            {"what": "quality on: length scores of ok calls", "rows": scored, "expected": answered}
        )
    else:
        entries, contents, stored = count_audit(dbs["on"])
        out["ledger_checks"].append(
            {"what": "audit on: call entries", "rows": entries, "expected": counts["on"].rows}
        )
        if ctx.s.audit in ("redacted", "full"):
            out["ledger_checks"].append(
                {"what": "audit on: content rows", "rows": contents, "expected": entries}
            )
            out["content_bytes_per_call"] = round(stored / contents, 1) if contents else None
        out["db_bytes_per_call"] = {
            name: round(db.stat().st_size / max(1, counts[name].rows), 1)
            for name, db in dbs.items()
        }
    h.log(f"{stage}: ledger {[(n, c.rows) for n, c in counts.items()]}")
    return out


def run_ab(s: Settings) -> dict[str, Any]:
    with h.workspace(s.keep, "daytwo-bench-") as work, contextlib.ExitStack() as stack:
        upstream, kind = h.start_upstream(work)
        stack.callback(h.stop_upstream, upstream, work)
        ctx = Ctx(s, work, h.Target("direct", upstream.port))
        stage = ab_blocks(s)[0]
        report: dict[str, Any] = {
            "bench": f"gateway_overhead --{stage}",
            "env": h.environment(kind),
            "settings": {k: v for k, v in vars(s).items() if k != "as_json"},
        }
        report["env"]["machine_busy_pct_before"] = quiet_check(ctx)
        report.update(ab_phase(ctx, upstream.port))
        report["ledger_ok"] = all(c["rows"] == c["expected"] for c in report["ledger_checks"])
        report["env"]["machine_busy_pct_after"] = quiet_check(ctx)
        report["notes"] = ctx.notes
        return report


def print_ab(report: dict[str, Any]) -> None:
    print(f"{report['stage']} on vs off (added = on - off), median of reps")
    for r in report["rows"]:
        where = f"c={r['concurrency']}" if "concurrency" in r else f"{r['rate']} req/s"
        print(
            f"  {r['mode']:<15} {where:<12} p50 off {r['direct_p50_ms']} on {r['gateway_p50_ms']}"
            f" added {r['added_p50_ms']} ms (runs {r['added_p50_runs_ms']}); p99 added "
            f"{r['added_p99_ms']} ms; req/s off {r.get('direct_rps')} on {r.get('gateway_rps')};"
            f" errors {r['errors']}"
        )
    for c in report["ledger_checks"]:
        print(f"  {c['what']}: {c['rows']} / {c['expected']}")
    for key in ("content_bytes_per_call", "db_bytes_per_call", "mirrored_calls", "mirrored_share"):
        if key in report:
            print(f"  {key}: {report[key]}")


# ---------------------------------------------------------------- main


def quiet_check(ctx: Ctx) -> float:
    """The machine should be idle around the bench: other load skews every figure."""
    busy = h.machine_busy_pct()
    if busy > QUIET_MAX_BUSY_PCT:
        who = "; ".join(h.busy_processes()) or "unknown"
        msg = f"machine {busy}% busy outside the bench (figures are skewed): {who}"
        h.log(f"WARNING: {msg}")
        ctx.notes.append(msg)
    return busy


def parse_args(argv: list[str] | None) -> Settings:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    ap.add_argument(
        "--litellm", action="store_true", help="also run the LiteLLM proxy (one worker)"
    )
    ap.add_argument("--duration", type=float, default=None, help="seconds per run (default 8)")
    ap.add_argument("--reps", type=int, default=None, help="repetitions per point (default 3)")
    ap.add_argument("--quick", action="store_true", help="~1-minute smoke run (2 s runs, 1 rep)")
    ap.add_argument("--stream", action="store_true", help="streaming scenarios only")
    ap.add_argument(
        "--soak",
        type=float,
        default=0,
        metavar="SECONDS",
        help="constant-load run sampling RSS every 10 s (e.g. 600)",
    )
    ap.add_argument("--soak-rate", type=int, default=500, help="offered req/s during --soak")
    ap.add_argument("--profile", action="store_true", help="py-spy the gateway at concurrency 64")
    ap.add_argument("--keep", action="store_true", help="keep the work dir (logs, ledger)")
    ap.add_argument(
        "--spend",
        choices=sorted(h.SPEND_STATES),
        default=None,
        help="spend control on (virtual key, budgets, rate limits) with this state backend",
    )
    ap.add_argument(
        "--prompt", action="store_true", help="only the prompt-reference case (concurrency 1)"
    )
    ap.add_argument(
        "--telemetry",
        action="store_true",
        help="metrics and traces on (OTLP/HTTP to a local sink); off by default",
    )
    ap.add_argument(
        "--quality",
        action="store_true",
        help="only: every cheap quality check on vs off (concurrency 1, offered 500 req/s)",
    )
    ap.add_argument(
        "--audit",
        choices=["metadata", "redacted", "full"],
        default=None,
        help="only: the audit trail with this capture policy on vs audit off (c=1, c=64, "
        "offered 500 req/s)",
    )
    ap.add_argument(
        "--shadow",
        type=float,
        default=None,
        metavar="PCT",
        help="only: a rollout's shadow stage mirroring PCT %% of calls vs no rollout (c=1, "
        "offered 500 req/s)",
    )
    a = ap.parse_args(argv)
    return Settings(
        duration=a.duration or (2.0 if a.quick else 8.0),
        reps=a.reps or (1 if a.quick else 3),
        warmup=1.0 if a.quick else 3.0,
        quick=a.quick,
        stream_only=a.stream,
        soak=a.soak,
        soak_rate=a.soak_rate,
        litellm=a.litellm,
        profile=a.profile,
        keep=a.keep,
        as_json=a.json,
        spend=a.spend,
        telemetry=a.telemetry,
        prompt_only=a.prompt,
        quality=a.quality,
        audit=a.audit,
        shadow=a.shadow,
    )


def run(s: Settings) -> dict[str, Any]:
    with h.workspace(s.keep, "daytwo-bench-") as work, contextlib.ExitStack() as stack:
        upstream, kind = h.start_upstream(work)
        stack.callback(h.stop_upstream, upstream, work)
        h.log(f"upstream: {kind} on :{upstream.port}")
        ctx = Ctx(s, work, h.Target("direct", upstream.port))
        if s.telemetry:
            ctx.otlp = OtlpSink()
            stack.callback(ctx.otlp.close)
        anthropic = h.start_anthropic_upstream(work)
        if anthropic is not None:
            stack.callback(h.stop_anthropic_upstream, work)
            ctx.direct_anthropic = h.Target(
                "direct", anthropic.port, model=h.ANTHROPIC_ALIAS, path=h.MESSAGES_PATH
            )
        report: dict[str, Any] = {
            "bench": "gateway_overhead",
            "env": h.environment(kind),
            "settings": {k: v for k, v in vars(s).items() if k != "as_json"},
        }
        report["env"]["machine_busy_pct_before"] = quiet_check(ctx)
        report.update(cold_start(ctx, upstream.port))
        checks = report.pop("ledger_checks")
        phase = daytwo_phase(ctx, upstream.port)
        report.update(phase)
        checks.append(
            {
                "what": "load runs",
                "rows": phase["ledger_rows"],
                "expected": phase["ledger_expected"],
            }
        )
        report["ledger_checks"] = checks
        report["ledger_ok"] = all(c["rows"] == c["expected"] for c in checks)
        if s.litellm:
            report["litellm"] = litellm_phase(ctx, upstream.port)
            report["rows"] = report["rows"] + report["litellm"]["rows"]
        report["loadgen_check"] = loadgen_check(report["rows"])
        if report["loadgen_check"].get("ok") is False:
            ctx.notes.append(
                "the open-loop generator could not sustain 1000 req/s against the bare "
                "upstream: open-loop figures at that rate understate the load"
            )
        # uvicorn re-raises the SIGTERM it handled once shutdown is done: -15 is graceful.
        if phase["exit_code"] not in (0, -signal.SIGTERM, None):
            ctx.notes.append(f"daytwo exited with code {phase['exit_code']} after SIGTERM")
        report["env"]["machine_busy_pct_after"] = quiet_check(ctx)
        report["goals"] = evaluate(report)
        report["notes"] = ctx.notes
        return report


def main(argv: list[str] | None = None) -> int:
    s = parse_args(argv)
    h.exit_on_signals()
    if not h.check_wrk():
        print(h.WRK_MISSING, file=sys.stderr)
        return 2
    try:
        report = run_ab(s) if s.quality or s.audit or s.shadow is not None else run(s)
    except h.BenchError as exc:
        print(f"bench failed: {exc}", file=sys.stderr)
        return 1
    if s.as_json:
        print(json.dumps(report, indent=1))
    elif s.quality or s.audit or s.shadow is not None:
        print_ab(report)
    else:
        print_table(report)
    if not report["ledger_ok"]:
        print(
            f"LEDGER CHECK FAILED: {report['ledger_checks']} -- the gateway lost call records",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
