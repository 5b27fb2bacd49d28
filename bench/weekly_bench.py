"""How fast is `daytwo report weekly` over a large ledger? (goal: < 5 s over 10M calls)

Builds a realistic ledger of --rows calls over 30 days with the same generator and code path
as bench/spend_query.py (LedgerStore.insert_batch), then times the whole weekly review of the
ledger's last 7 days: gathering (three spend reports from the rollups, the opportunities' one
pass over the week's calls, budgets, the event log, alerts, quality, lifecycle) and rendering
the HTML and the Markdown summary, cold (a freshly opened store) and warm (median of --runs).

    .venv/bin/python bench/weekly_bench.py --rows 1000000
    .venv/bin/python bench/weekly_bench.py --rows 10000000 --db /tmp/ledger-10m.db --keep

With --keep an existing --db is reused whatever it holds (its calls are counted and reported),
so a ledger built by bench/spend_query.py or bench/optimize_bench.py serves as well.
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

from daytwo.config.load import validate_config
from daytwo.finops.weekly import build_weekly
from daytwo.finops.weekly_forecast import find_forecaster
from daytwo.finops.weekly_render import html, markdown
from daytwo.ledger.report import trailing_window
from daytwo.ledger.store import open_store
from daytwo.pricing.catalog import PriceBook
from spend_query import DAYS, generate, log

GOAL_S = 5.0
#: Budgets like a real deployment's: one per project and one for all traffic.
CONFIG: dict[str, Any] = {
    "spend_control": {
        "budgets": [
            {"name": "all-month", "window": "month", "usd": 100_000},
            {"name": "search-week", "scope": {"project": "search"}, "window": "week", "usd": 5_000},
            {"name": "per-project-day", "scope": {"project": "*"}, "window": "day", "usd": 2_000},
        ]
    }
}


def stored(url: str) -> tuple[int, int | None]:
    """Calls in the ledger and the newest rollup hour."""
    with open_store(url) as store, store.connect() as conn:
        n, last = conn.execute(
            sa.text(
                "SELECT COALESCE(SUM(calls), 0), MAX(hour_start) FROM rollup_hourly "
                "WHERE dim = 'total'"
            )
        ).one()
    return int(n or 0), None if last is None else int(last)


def one_run(url: str, start: datetime, end: datetime, now: datetime) -> dict[str, float]:
    cfg = validate_config(CONFIG)
    book = PriceBook.from_config(cfg.pricing)
    with open_store(url) as store:
        t = time.perf_counter()
        review = build_weekly(
            store, start=start, end=end, config=cfg, book=book, now=now,
            forecaster=find_forecaster(),
        )  # fmt: skip
        built = time.perf_counter() - t
        page = html(review)
        markdown(review)
        total = time.perf_counter() - t
    return {"build_s": built, "total_s": total, "html_kb": len(page) / 1024}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--db", type=Path, help="SQLite file [a temporary one]")
    ap.add_argument("--keep", action="store_true", help="reuse --db as it is")
    ap.add_argument("--batch", type=int, default=5_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    tmp = None
    if args.db is None:
        tmp = tempfile.TemporaryDirectory(prefix="daytwo-weekly-bench-")
        args.db = Path(tmp.name) / "ledger.db"
    url = f"sqlite:///{args.db}"
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    build: dict[str, Any] = {"reused": True}
    if not (args.keep and args.db.exists()):
        args.db.unlink(missing_ok=True)
        log(f"building {args.rows:,} calls over {DAYS} days in {args.db}")
        with open_store(url) as store:
            build = generate(store, args.rows, args.batch, end.timestamp())
    rows, last = stored(url)
    if last is not None:  # a reused ledger ends where it was built: review its own last week
        end = datetime.fromtimestamp(last + 3_600, tz=UTC)
    start, stop = trailing_window(timedelta(days=7), now=end)
    now = stop - timedelta(minutes=1)

    runs = [one_run(url, start, stop, now) for _ in range(1 + args.runs)]
    cold, warm = runs[0], runs[1:]
    result = {
        "rows": rows,
        "build": build,
        "cold_s": round(cold["total_s"], 2),
        "cold_build_s": round(cold["build_s"], 2),
        "warm_median_s": round(statistics.median(r["total_s"] for r in warm), 2),
        "warm_max_s": round(max(r["total_s"] for r in warm), 2),
        "html_kb": round(cold["html_kb"], 1),
        "goal_s": GOAL_S,
        "met": max(r["total_s"] for r in runs) < GOAL_S,
    }
    print(json.dumps(result, indent=2) if args.json else result)
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
