"""How fast is `daytwo optimize` over a large ledger? (goal: < 5 s over 10M calls)

Builds a realistic ledger of --rows calls over 30 days with the same generator and code path
as bench/spend_query.py (LedgerStore.insert_batch: raw rows, attempts and rollups in one
transaction), then times the optimize report over the last 30 days: reading the aggregates
(rollup totals, the one pass over the window's calls, the failed attempts) and running the
rules, cold (a freshly opened store) and warm (median of --runs).

    .venv/bin/python bench/optimize_bench.py --rows 1000000
    .venv/bin/python bench/optimize_bench.py --rows 10000000 --db /tmp/ledger-10m.db --keep

With --keep an existing --db that already holds --rows calls is reused (bench/spend_query.py
builds the same ledger for the same --rows).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from daytwo.config.schema import PricingConfig
from daytwo.finops.optimize import find_opportunities, reference_entry
from daytwo.finops.optimize_read import read_aggregates
from daytwo.ledger.report import snap_window, trailing_window
from daytwo.ledger.store import open_store
from daytwo.pricing.catalog import PriceBook
from spend_query import DAYS, generate, log

GOAL_S = 5.0


def stored_calls(url: str) -> int:
    with open_store(url) as store, store.connect() as conn:
        n = conn.execute(
            sa.text("SELECT COALESCE(SUM(calls), 0) FROM rollup_hourly WHERE dim = 'total'")
        ).scalar()
    return int(n or 0)


def one_run(url: str, lo: int, hi: int, book: PriceBook) -> tuple[float, float, int, int]:
    with open_store(url) as store:
        t = time.perf_counter()
        agg = read_aggregates(store, lo, hi)
        read = time.perf_counter() - t
        found = find_opportunities(agg, book, reference_entry(book))
        total = time.perf_counter() - t
    return read, total, len(found), len(agg.groups)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--db", type=Path, help="SQLite file [a temporary one]")
    ap.add_argument("--keep", action="store_true", help="reuse --db if it holds --rows calls")
    ap.add_argument("--batch", type=int, default=5_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    tmp = None
    if args.db is None:
        tmp = tempfile.TemporaryDirectory(prefix="daytwo-optimize-bench-")
        args.db = Path(tmp.name) / "ledger.db"
    url = f"sqlite:///{args.db}"
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    build: dict[str, Any] = {"reused": True}
    if not (args.keep and args.db.exists() and stored_calls(url) == args.rows):
        args.db.unlink(missing_ok=True)
        log(f"building {args.rows:,} calls over {DAYS} days in {args.db}")
        with open_store(url) as store:
            build = generate(store, args.rows, args.batch, end.timestamp())
    else:
        # A reused ledger ends where it was built: read its own last 30 days.
        with open_store(url) as store, store.connect() as conn:
            last = conn.execute(sa.text("SELECT MAX(hour_start) FROM rollup_hourly")).scalar()
        end = datetime.fromtimestamp(int(last) + 3_600, tz=UTC)
    start, stop = trailing_window(timedelta(days=DAYS), now=end)
    lo, hi = snap_window(start, stop)
    book = PriceBook.from_config(PricingConfig())

    runs = [one_run(url, lo, hi, book) for _ in range(1 + args.runs)]
    cold, warm = runs[0], runs[1:]
    result = {
        "rows": args.rows,
        "build": build,
        "cold_s": round(cold[1], 2),
        "cold_read_s": round(cold[0], 2),
        "warm_median_s": round(statistics.median(r[1] for r in warm), 2),
        "warm_max_s": round(max(r[1] for r in warm), 2),
        "groups": cold[3],
        "opportunities": cold[2],
        "goal_s": GOAL_S,
        "met": max(r[1] for r in runs) < GOAL_S,
    }
    print(json.dumps(result, indent=2) if args.json else result)
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
