"""How many call records per second does the ledger writer store? (goal: >= 20,000/s on SQLite)

A producer thread submits --records realistic call records through Ledger.submit as fast as it
can (the hot path the gateway uses), then waits for Ledger.flush. The sustained rate is records
stored / (time from the first submit until everything is stored). The database is counted
afterwards: it must hold exactly what was submitted (nothing dropped). Records that overflowed
the queue (--queue-size) went through the spill file and were replayed; they are counted
separately.

The records are generated before the clock starts and then frozen out of the garbage collector
(gc.freeze), so the run measures the ledger, not the collector walking the test's own records.

    .venv/bin/python bench/ledger_ingest.py
    .venv/bin/python bench/ledger_ingest.py --records 500000 --queue-size 1000000 --json
    .venv/bin/python bench/ledger_ingest.py --url postgresql://postgres@127.0.0.1:5432/bench
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import platform
import sqlite3
import sys
import tempfile
import time
import uuid
from dataclasses import replace
from pathlib import Path

from daytwo.config.schema import LedgerConfig
from daytwo.ledger.store import open_store
from daytwo.ledger.synth import Synth
from daytwo.ledger.writer import Ledger

GOAL = 20_000


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--records", type=int, default=500_000)
    ap.add_argument("--url", help="ledger URL (default: a temporary SQLite file)")
    ap.add_argument("--queue-size", type=int, default=LedgerConfig().queue_size)
    ap.add_argument("--batch-size", type=int, default=LedgerConfig().batch_size)
    ap.add_argument("--flush-interval-ms", type=int, default=LedgerConfig().flush_interval_ms)
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s", stream=sys.stderr)

    tmp = tempfile.mkdtemp(prefix="daytwo-ingest-")
    url = args.url or f"sqlite:///{Path(tmp) / 'ledger.db'}"
    cfg = LedgerConfig(
        url=url,
        queue_size=args.queue_size,
        batch_size=args.batch_size,
        flush_interval_ms=args.flush_interval_ms,
    )
    print(f"generating {args.records:,} records", file=sys.stderr, flush=True)
    run = uuid.uuid4().hex[:8]  # ids unique across runs into the same database
    now = time.time()
    records = [
        replace(r, id=f"{run}-{r.id}")
        for r in Synth(seed=2).records(args.records, start=now - 3_600, end=now)
    ]
    gc.collect()
    gc.freeze()

    with open_store(url) as store:
        before = store.count_calls()
    ledger = Ledger.open(cfg, spill_path=str(Path(tmp) / "spill.jsonl"))
    ledger.flush(30)  # the writer is up and any old spill is replayed before the clock starts
    print(f"submitting into {ledger.store.safe_url}", file=sys.stderr, flush=True)

    submit = ledger.submit
    clock = time.perf_counter_ns
    lat = []
    t0 = time.perf_counter()
    for i, r in enumerate(records):
        if i % 100 == 0:  # sample every 100th call's latency (timing each would slow the loop)
            s = clock()
            submit(r)
            lat.append(clock() - s)
        else:
            submit(r)
    t_submit = time.perf_counter() - t0
    stored = ledger.flush(timeout_s=1_800)
    elapsed = time.perf_counter() - t0
    stats = ledger.stats()
    ledger.close(60)
    with open_store(url) as store:
        counted = store.count_calls() - before

    lat.sort()
    result = {
        "bench": "ledger_ingest",
        "url": ledger.store.safe_url,
        "records": args.records,
        "config": cfg.model_dump(exclude={"url"}),
        "submit": {
            "producer_seconds": round(t_submit, 3),
            "per_call_ns_mean": round(t_submit * 1e9 / args.records),
            "sampled_ns_p50": lat[len(lat) // 2],
            "sampled_ns_p99": lat[int(len(lat) * 0.99)],
            "sampled_ns_max": lat[-1],
        },
        "seconds_until_all_stored": round(elapsed, 2),
        "sustained_records_per_s": round(args.records / elapsed),
        "stored_in_db": counted,
        "nothing_dropped": stored and counted == args.records,
        "spilled_and_replayed": stats.spilled,
        "write_errors": stats.write_errors,
        "rejected": stats.rejected,
        "goal": f">= {GOAL:,} records/s",
        "goal_met": stored and counted == args.records and args.records / elapsed >= GOAL,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "sqlite": sqlite3.sqlite_version,
        },
    }
    if not args.url:
        for p in Path(tmp).iterdir():
            p.unlink()
    if not any(Path(tmp).iterdir()):
        os.rmdir(tmp)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        s = result["submit"]
        print(f"\nledger_ingest: {args.records:,} records into {result['url']}")
        print(
            f"  queue_size {cfg.queue_size:,}, batch_size {cfg.batch_size:,}, "
            f"flush_interval_ms {cfg.flush_interval_ms}"
        )
        print(
            f"  submit: {s['per_call_ns_mean']} ns/call mean, p50 {s['sampled_ns_p50']} ns, "
            f"p99 {s['sampled_ns_p99']} ns, max {s['sampled_ns_max']:,} ns (producer "
            f"done in {s['producer_seconds']} s)"
        )
        print(
            f"  all stored after {result['seconds_until_all_stored']} s: "
            f"{result['sustained_records_per_s']:,} records/s sustained"
        )
        print(
            f"  in the database: {counted:,} of {args.records:,} "
            f"({'nothing dropped' if result['nothing_dropped'] else 'RECORDS MISSING'}); "
            f"{stats.spilled:,} went through the spill file"
        )
        print(f"  goal ({result['goal']}): {'met' if result['goal_met'] else 'NOT met'}")
    return 0 if result["goal_met"] else 1


if __name__ == "__main__":
    sys.exit(main())
