"""How many ledger records a crash loses: SIGKILL ``daytwo serve`` under steady load.

Each repetition starts ``daytwo serve`` with a fresh SQLite ledger in front of the fake upstream
(or, with ``--sim``, the in-process simulator), drives an open loop at ``--rate`` req/s with
``bench/loadgen.py`` (counting the 200 responses clients read), sends the signal mid-load
(at ``--kill-after`` s plus a random fraction of the flush interval, so the kill lands at every
phase of the writer's cycle), then counts the rows with status ``ok`` in the ledger:

    lost = 200 responses read by clients - ok rows in the ledger

The writer flushes every ``ledger.flush_interval_ms`` (default 100) or ``batch_size`` records,
so after SIGKILL about ``rate x flush interval`` records should be lost (the window between a
response and the commit that holds its record). After SIGTERM the graceful shutdown drains the
queue: any loss fails the bench (exit code 1).

With ``--capture POLICY`` the gateway also keeps the audit trail with that capture policy
(``metadata``, ``redacted``, ``full``; docs/audit.md). A call's audit entry and content are
written in the transaction of its ledger row, so the audit trail must lose exactly what the
ledger loses: each run checks that the chained call entries equal the ledger rows (and the
content rows equal the entries), and any mismatch fails the bench.

    .venv/bin/python bench/ledger_kill.py [--json] [--rate 500] [--reps 5] [--sim]
    .venv/bin/python bench/ledger_kill.py --capture redacted
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import signal
import sqlite3
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import harness as h

DEFAULT_FLUSH_MS = 100
LOAD_TAIL_S = 1.5  # load keeps coming after the signal (refused) so the kill is mid-load


@dataclass(frozen=True)
class Settings:
    rate: int
    reps: int
    term_reps: int
    kill_after: float
    flush_ms: int
    sim: bool
    keep: bool
    as_json: bool
    capture: str | None = None


def one_run(s: Settings, work: Path, upstream_port: int | None, sig: int, i: int) -> dict[str, Any]:
    d = work / f"{signal.Signals(sig).name.lower()}{i}"
    d.mkdir()
    db = d / "ledger.db"
    config = h.write_daytwo_config(
        d / "daytwo.yaml", upstream_port, db, flush_interval_ms=s.flush_ms
    )
    if s.capture is not None:
        with config.open("a") as f:
            f.write(f"audit: {{capture: {s.capture}}}\n")
    proc = h.start_daytwo(config, d / "daytwo.log")
    target = h.Target("daytwo", proc.port)
    delay = s.kill_after + random.uniform(0, s.flush_ms / 1000)
    load = subprocess.Popen(
        [
            sys.executable, str(h.LOADGEN), "open", "--url", target.url, "--model", h.MODEL,
            "--rate", str(s.rate), "-d", f"{delay + LOAD_TAIL_S:.3f}",
        ],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        time.sleep(delay + 0.3)  # the generator starts its schedule ~0.3 s after launch
        t0 = time.monotonic()
        code = proc.stop(sig)
        stop_s = time.monotonic() - t0
        out, _ = load.communicate(timeout=120)
    finally:
        if proc.alive():
            proc.stop(signal.SIGKILL)
        if load.poll() is None:
            load.kill()
    result = json.loads(out.strip().splitlines()[-1])
    count = h.count_ledger(db)
    rows_ok = count.by_status.get("ok", 0)
    lost = result["ok"] - rows_ok
    run = {
        "ok_responses": result["ok"],
        "ledger_rows": count.rows,
        "ledger_ok_rows": rows_ok,
        "lost": max(lost, 0),
        "extra_ok_rows": max(-lost, 0),
        "lost_window_ms": round(max(lost, 0) / s.rate * 1000, 1),
        "signal_after_s": round(delay, 3),
        "stop_s": round(stop_s, 3),
        "exit_code": code,
        "client_errors": result["errors"],
    }
    if s.capture is not None:
        entries, contents = audit_counts(db)
        run["audit_entries"], run["content_rows"] = entries, contents
        want_content = count.rows if s.capture in ("redacted", "full") else 0
        run["audit_matches_ledger"] = entries == count.rows and contents == want_content
    h.log(f"{signal.Signals(sig).name} {i + 1}: {json.dumps(run)}")
    return run


def audit_counts(db: Path) -> tuple[int, int]:
    """(chained call entries, content rows) in a ledger."""
    with contextlib.closing(sqlite3.connect(db)) as conn:
        entries = conn.execute("SELECT count(*) FROM audit_entries WHERE kind = 'call'")
        n_entries = int(entries.fetchone()[0])
        n_content = int(conn.execute("SELECT count(*) FROM call_content").fetchone()[0])
    return n_entries, n_content


def summary(runs: list[dict[str, Any]], rate: int) -> dict[str, Any]:
    lost = [r["lost"] for r in runs]
    return {
        "runs": runs,
        "lost_max": max(lost),
        "lost_median": statistics.median(lost),
        "window_max_ms": round(max(lost) / rate * 1000, 1),
        "window_median_ms": round(statistics.median(lost) / rate * 1000, 1),
    }


def run(s: Settings) -> dict[str, Any]:
    with h.workspace(s.keep, "daytwo-ledger-kill-") as work:
        upstream: h.Proc | None = None
        kind = "daytwo sim (in-process)"
        if not s.sim:
            upstream, kind = h.start_upstream(work)
        try:
            port = upstream.port if upstream else None
            kills = [one_run(s, work, port, signal.SIGKILL, i) for i in range(s.reps)]
            terms = [one_run(s, work, port, signal.SIGTERM, i) for i in range(s.term_reps)]
        finally:
            if upstream is not None:
                h.stop_upstream(upstream, work)
    term = summary(terms, s.rate)
    return {
        "bench": "ledger_kill",
        "env": h.environment(kind),
        "rate": s.rate,
        "flush_interval_ms": s.flush_ms,
        "expected_loss_after_sigkill": s.rate * s.flush_ms // 1000,
        "sigkill": summary(kills, s.rate),
        "sigterm": term,
        "sigterm_lossless": term["lost_max"] == 0 and all(r["extra_ok_rows"] == 0 for r in terms),
        "capture": s.capture,
        "audit_matches_ledger": None
        if s.capture is None
        else all(r["audit_matches_ledger"] for r in (*kills, *terms)),
    }


def print_report(r: dict[str, Any]) -> None:
    print(f"rate {r['rate']} req/s, flush interval {r['flush_interval_ms']} ms "
          f"(rate x interval = {r['expected_loss_after_sigkill']} records)")  # fmt: skip
    for name in ("sigkill", "sigterm"):
        x = r[name]
        per_run = ", ".join(str(run["lost"]) for run in x["runs"])
        print(f"{name.upper():8} lost records: max {x['lost_max']}, median {x['lost_median']} "
              f"(window max {x['window_max_ms']} ms, median {x['window_median_ms']} ms); "
              f"per run: {per_run}")  # fmt: skip
    print(f"SIGTERM lossless: {'yes' if r['sigterm_lossless'] else 'NO'}")
    if r["capture"] is not None:
        ok = "yes" if r["audit_matches_ledger"] else "NO"
        print(f"audit ({r['capture']}) entries and content = ledger rows in every run: {ok}")


def parse_args(argv: list[str] | None) -> Settings:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    ap.add_argument("--rate", type=int, default=500, help="offered req/s (default 500)")
    ap.add_argument("--reps", type=int, default=5, help="SIGKILL repetitions (default 5)")
    ap.add_argument("--term-reps", type=int, default=3, help="SIGTERM repetitions (default 3)")
    ap.add_argument(
        "--kill-after", type=float, default=4.0, help="seconds of load before the signal"
    )
    ap.add_argument("--flush-ms", type=int, default=DEFAULT_FLUSH_MS,
                    help="ledger.flush_interval_ms for the gateway (default 100)")  # fmt: skip
    ap.add_argument("--sim", action="store_true", help="use the in-process simulator upstream")
    ap.add_argument("--keep", action="store_true", help="keep the work dir (logs, ledgers)")
    ap.add_argument(
        "--capture",
        choices=["metadata", "redacted", "full"],
        default=None,
        help="keep the audit trail with this capture policy, and check it against the ledger",
    )
    a = ap.parse_args(argv)
    return Settings(
        a.rate, a.reps, a.term_reps, a.kill_after, a.flush_ms, a.sim, a.keep, a.json, a.capture
    )


def main(argv: list[str] | None = None) -> int:
    s = parse_args(argv)
    h.exit_on_signals()
    try:
        report = run(s)
    except h.BenchError as exc:
        print(f"bench failed: {exc}", file=sys.stderr)
        return 1
    if s.as_json:
        print(json.dumps(report, indent=1))
    else:
        print_report(report)
    if not report["sigterm_lossless"]:
        print("LEDGER CHECK FAILED: records lost after a graceful SIGTERM", file=sys.stderr)
        return 1
    if report["audit_matches_ledger"] is False:
        print("AUDIT CHECK FAILED: the audit trail and the ledger disagree", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
