"""How long does `daytwo keys blast-radius` take for a busy key in a large ledger?

Builds a ledger of --rows background calls over 30 days (the realistic synthetic traffic of
daytwo.ledger.synth, each call with a client address) plus --key-calls calls of one virtual key
(created through KeyStore) spread over the same 30 days from --ips addresses, --users users and
a few workflows -- a leaked key used from many places -- all written through
LedgerStore.insert_batch (the gateway writer's path). Then times blast_radius() for that key
over 30 days (every query of it: totals, days, 11 dimensions, consumers, chain): cold (a freshly
opened store) and warm (median of --runs), and over 7 days.

    .venv/bin/python bench/blast_radius.py                       # SQLite, 1M + 100k
    .venv/bin/python bench/blast_radius.py --db postgresql://postgres@127.0.0.1:5432/bench
    .venv/bin/python bench/blast_radius.py --rows 200000 --key-calls 20000 --json

A PostgreSQL --db must be an empty database (it is filled, not cleaned up).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from daytwo.core.record import CallRecord
from daytwo.keys.blast import blast_radius
from daytwo.keys.model import KeySpec
from daytwo.keys.store import KeyStore
from daytwo.ledger.store import LedgerStore, open_store
from daytwo.ledger.synth import Synth

DAYS = 30
DAY = 86_400


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def background(rows: int, end: float) -> Iterator[CallRecord]:
    rng = random.Random(2)
    for record in Synth(seed=1).records(rows, start=end - DAYS * DAY, end=end):
        ip = f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
        yield dataclasses.replace(record, client_ip=ip)


def hot_key_calls(key_id: str, n: int, ips: int, users: int, end: float) -> Iterator[CallRecord]:
    rng = random.Random(3)
    start = end - DAYS * DAY
    for i in range(n):
        at = start + (end - start) * i / n
        failed = rng.random() < 0.03
        yield CallRecord(
            id=f"hot-{i:09d}",
            started_at=at,
            ended_at=at + 0.8,
            latency_ms=800.0,
            status="error" if failed else "ok",
            http_status=502 if failed else 200,
            operation="chat",
            alias=rng.choice(("smart", "fast")),
            trace_id=f"{i:032x}",
            project="search",
            workflow=rng.choice(("rag", "batch", "chat", "triage")),
            agent=rng.choice((None, "planner", "coder")),
            user=f"user-{int(rng.paretovariate(1.2)) % users:05d}",
            attributed=True,
            key_id=key_id,
            provider="openai",
            served_model=rng.choice(("gpt-4o", "gpt-4o-mini")),
            attempts=1,
            input_tokens=rng.randrange(200, 4000),
            output_tokens=rng.randrange(20, 800),
            cost_nanousd=None if failed else rng.randrange(100_000, 20_000_000),
            client_ip=f"203.0.{(i * 7919 % ips) // 250}.{(i * 7919 % ips) % 250 + 1}",
        )


def fill(store: LedgerStore, records: Iterator[CallRecord], batch: int, what: str) -> float:
    started = time.perf_counter()
    buf: list[CallRecord] = []
    done = 0
    for record in records:
        buf.append(record)
        if len(buf) >= batch:
            store.insert_batch(buf)
            done += len(buf)
            buf = []
            if done % (batch * 50) == 0:
                log(f"  {what}: {done:,} rows, {done / (time.perf_counter() - started):,.0f}/s")
    store.insert_batch(buf)
    return time.perf_counter() - started


def timed(url: str, key_id: str, since_days: int, now: float) -> tuple[float, Any]:
    with KeyStore.open(url) as store:
        t = time.perf_counter()
        radius = blast_radius(store, key_id, since=now - since_days * DAY, now=now)
        return time.perf_counter() - t, radius


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000, help="background calls")
    ap.add_argument("--key-calls", type=int, default=100_000, help="calls of the measured key")
    ap.add_argument("--ips", type=int, default=5_000)
    ap.add_argument("--users", type=int, default=2_000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--batch", type=int, default=2_000)
    ap.add_argument("--db", help="database URL (default: a SQLite file in a temp dir)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    tmp = None
    url = args.db
    if url is None:
        tmp = tempfile.TemporaryDirectory(prefix="daytwo-blast-")
        url = f"sqlite:///{Path(tmp.name) / 'ledger.db'}"
    end = time.time()
    with KeyStore.open(url) as keys:
        spec = KeySpec(project="search", budget="50/day", tpm=200_000)
        key_id = keys.create(spec, actor="bench", now=end - 40 * DAY).record.id
    log(f"filling {url.split('@')[-1]}: {args.rows:,} background + {args.key_calls:,} key calls")
    with open_store(url) as ledger:
        fill_bg = fill(ledger, background(args.rows, end), args.batch, "background")
        calls = hot_key_calls(key_id, args.key_calls, args.ips, args.users, end)
        fill_key = fill(ledger, calls, args.batch, "key")

    cold, radius = timed(url, key_id, DAYS, end)
    warm = [timed(url, key_id, DAYS, end)[0] for _ in range(args.runs)]
    week = [timed(url, key_id, 7, end)[0] for _ in range(args.runs)]
    result = {
        "db": "postgresql" if url.startswith("postgresql") else "sqlite",
        "rows": args.rows + args.key_calls,
        "key_calls": radius.window.calls,
        "key_ips": radius.dimension("client_ip").distinct,
        "key_users": radius.dimension("user").distinct,
        "fill_s": round(fill_bg + fill_key, 1),
        "cold_30d_s": round(cold, 3),
        "warm_30d_s": round(statistics.median(warm), 3),
        "warm_7d_s": round(statistics.median(week), 3),
        "key_calls_per_s_30d": round(radius.window.calls / statistics.median(warm)),
        "python": platform.python_version(),
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for name, value in result.items():
            print(f"{name:22} {value}")
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
