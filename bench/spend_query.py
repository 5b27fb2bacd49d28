"""How fast is `daytwo spend` over a large ledger? (goal: < 1 s per report over 10M calls)

Builds a realistic ledger of --rows calls over 30 days through the SAME code path the gateway's
writer uses (LedgerStore.insert_batch: raw rows + rollups in one transaction), then times
spend_report(--since 7d) by every dimension: cold (first report on a freshly opened store: new
connection, empty SQLite page cache; the OS page cache is warm) and warm (median of --runs).
Finally times the CLI end to end once (`daytwo spend --json` in a subprocess, process start
included).

    .venv/bin/python bench/spend_query.py --rows 1000000
    .venv/bin/python bench/spend_query.py --rows 10000000 --db /tmp/ledger-10m.db --keep --json

With --keep an existing --db that already holds --rows calls is reused (no regeneration).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from daytwo.ledger.report import spend_report, trailing_window
from daytwo.ledger.schema import REPORT_DIMS
from daytwo.ledger.store import LedgerStore, open_store
from daytwo.ledger.synth import Synth

DAYS = 30
GOAL_S = 1.0


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def generate(
    store: LedgerStore, rows: int, batch: int, end: float, days: int = DAYS
) -> dict[str, float]:
    """``rows`` synthetic calls over the ``days`` before ``end``, inserted in batches (the
    ledger benches share it)."""
    synth = Synth(seed=1)
    started = time.perf_counter()
    buf = []
    done = 0
    next_report = max(rows // 20, 1)
    for record in synth.records(rows, start=end - days * 86_400, end=end):
        buf.append(record)
        if len(buf) >= batch:
            store.insert_batch(buf)
            done += len(buf)
            buf = []
            if done >= next_report:
                rate = done / (time.perf_counter() - started)
                log(
                    f"  {done:>12,} / {rows:,} rows  {rate:,.0f} rows/s  "
                    f"eta {(rows - done) / rate:,.0f}s"
                )
                next_report += max(rows // 20, 1)
    if buf:
        store.insert_batch(buf)
    seconds = time.perf_counter() - started
    return {"seconds": round(seconds, 1), "rows_per_s": round(rows / seconds)}


def describe(store: LedgerStore) -> dict[str, Any]:
    with store.connect() as conn:
        distinct = dict(
            conn.execute(
                sa.text("SELECT dim, COUNT(DISTINCT value) FROM rollup_hourly GROUP BY dim")
            ).all()
        )
        users = conn.execute(sa.text('SELECT COUNT(DISTINCT "user") FROM rollup_daily_user'))
        distinct["user"] = users.scalar()
        distinct.pop("total", None)
        t = conn.execute(
            sa.text(
                "SELECT SUM(calls), SUM(errors), SUM(failed_calls), SUM(unpriced_calls),"
                " SUM(unattributed_calls) FROM rollup_hourly WHERE dim = 'total'"
            )
        ).one()
        hourly = conn.execute(sa.text("SELECT COUNT(*) FROM rollup_hourly")).scalar()
        daily = conn.execute(sa.text("SELECT COUNT(*) FROM rollup_daily_user")).scalar()
    calls = int(t[0] or 0)
    return {
        # distinct values seen, '' (none) included where a dimension can be empty
        "cardinalities": {k: int(v or 0) for k, v in sorted(distinct.items())},
        "calls": calls,
        "error_share": round(int(t[1] or 0) / calls, 4) if calls else None,
        "failed_share": round(int(t[2] or 0) / calls, 4) if calls else None,
        "unpriced_share": round(int(t[3]) / calls, 4) if calls else None,
        "unattributed_share": round(int(t[4]) / calls, 4) if calls else None,
        "rollup_hourly_rows": int(hourly or 0),
        "rollup_daily_user_rows": int(daily or 0),
    }


def time_reports(url: str, now: datetime, runs: int) -> dict[str, dict[str, float]]:
    out = {}
    for by in REPORT_DIMS:
        start, end = trailing_window(timedelta(days=7), by=by, now=now)
        with open_store(url) as store:  # fresh engine: a new connection, a cold page cache
            t = time.perf_counter()
            report = spend_report(store, start=start, end=end, by=by)
            cold = time.perf_counter() - t
            warm = []
            for _ in range(runs):
                t = time.perf_counter()
                spend_report(store, start=start, end=end, by=by)
                warm.append(time.perf_counter() - t)
        out[by] = {
            "cold_ms": round(cold * 1000, 1),
            "warm_median_ms": round(statistics.median(warm) * 1000, 1),
            "warm_max_ms": round(max(warm) * 1000, 1),
            "groups": report.group_count,
            "calls_in_window": report.totals.calls,
        }
        log(
            f"  by {by:<12} cold {out[by]['cold_ms']:>7.1f} ms  "
            f"warm {out[by]['warm_median_ms']:>7.1f} ms  ({report.totals.calls:,} calls)"
        )
    return out


def time_cli(url: str) -> dict[str, Any]:
    exe = Path(sys.executable).with_name("daytwo")
    cmd = [str(exe), "spend", "--ledger", url, "--since", "7d", "--by", "workflow", "--json"]
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - t
    ok = proc.returncode == 0 and json.loads(proc.stdout)["by"] == "workflow"
    return {"command": " ".join(cmd), "wall_ms": round(seconds * 1000), "ok": ok}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--db", help="SQLite file to build (default: a temporary file)")
    ap.add_argument("--keep", action="store_true", help="keep the file; reuse it if complete")
    ap.add_argument("--batch", type=int, default=10_000, help="records per insert_batch")
    ap.add_argument("--runs", type=int, default=5, help="warm runs per dimension")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args()

    tmp = None
    if args.db:
        path = Path(args.db).resolve()
    else:
        tmp = tempfile.mkdtemp(prefix="daytwo-spend-query-")
        path = Path(tmp) / "ledger.db"
    url = f"sqlite:///{path}"
    now = datetime.now(UTC)
    generation: dict[str, Any] = {"reused": True}
    with open_store(url) as store:
        have = store.count_calls()
        if have and not (args.keep and have == args.rows):
            log(f"{path} holds {have:,} calls, not {args.rows:,}: pass a new --db path")
            return 2
        if have:
            latest = store.recent(1)[0].started_at
            now = datetime.fromtimestamp(latest, UTC)  # report on the data's own "now"
            log(f"reusing {path} ({have:,} calls)")
        else:
            log(f"generating {args.rows:,} calls over {DAYS} days into {path}")
            generation = generate(store, args.rows, args.batch, now.timestamp())
        shape = describe(store)
    log(f"timing spend_report --since 7d by each dimension ({args.runs} warm runs)")
    reports = time_reports(url, now, args.runs)
    cli = time_cli(url)
    size = sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))
    worst = max(max(r["cold_ms"], r["warm_median_ms"]) for r in reports.values())
    result = {
        "bench": "spend_query",
        "rows": args.rows,
        "db": str(path),
        "db_bytes": size,
        "generation": generation,
        "shape": shape,
        "reports": reports,
        "worst_report_ms": worst,
        "cli": cli,
        "goal": f"every report < {GOAL_S * 1000:.0f} ms",
        "goal_met": worst < GOAL_S * 1000 and cli["ok"],
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "sqlite": sqlite3.sqlite_version,
        },
    }
    if tmp and not args.keep:
        for p in path.parent.glob(path.name + "*"):
            p.unlink()
        os.rmdir(tmp)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"\nspend_query: {args.rows:,} calls, {size / 1e9:.2f} GB at {path}")
        if generation.get("reused") is not True:
            print(
                f"  generated in {generation['seconds']:,}s ({generation['rows_per_s']:,} rows/s)"
            )
        print(f"  cardinalities: {shape['cardinalities']}")
        print(
            f"  errors {shape['error_share']:.1%}, unpriced {shape['unpriced_share']:.1%}, "
            f"unattributed {shape['unattributed_share']:.1%}; rollup rows: "
            f"{shape['rollup_hourly_rows']:,} hourly, {shape['rollup_daily_user_rows']:,} daily"
        )
        for by, r in reports.items():
            print(
                f"  --by {by:<12} cold {r['cold_ms']:>7.1f} ms"
                f"   warm {r['warm_median_ms']:>7.1f} ms"
            )
        print(f"  CLI end to end ({cli['command'].split(' spend ')[1]}): {cli['wall_ms']} ms")
        print(f"  goal ({result['goal']}): {'met' if result['goal_met'] else 'NOT met'}")
    return 0 if result["goal_met"] else 1


if __name__ == "__main__":
    sys.exit(main())
