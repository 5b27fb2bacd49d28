"""How fast ``daytwo audit verify`` checks a trail: entries per second over a SQLite ledger of
``--entries`` call entries (default 1,000,000) on one replica stream, each with its ``calls``
row (so the batched cross-check is part of the figure), and a signed digest every
``--period`` entries; then again with ``rows=False`` (``daytwo audit verify --no-rows``: the
chains, digests and signatures only). Goal: >= 100,000 entries/s.

    .venv/bin/python bench/audit_verify.py                  # ~1 min to build, then verify
    .venv/bin/python bench/audit_verify.py --entries 200000 --json
    .venv/bin/python bench/audit_verify.py --profile        # + cProfile's top functions

The store is built with the writers' own functions (``chain``, ``write_digest``) and bulk
inserts; the build is not timed. stdout: a table, or one JSON object with ``--json``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from daytwo.audit.chain import Item, chain, move_head, replica_stream
from daytwo.audit.digest import Signer, write_digest
from daytwo.audit.verify import verify
from daytwo.audit.writer import summary as call_summary
from daytwo.core.record import CallRecord
from daytwo.ledger.store import open_store

GOAL = 100_000
T0 = 1_714_521_600.0
STREAM = replica_stream("bench")
_CALL_SQL = (
    "INSERT INTO calls (id, started_at, ended_at, hour_start, latency_ms, status, http_status, "
    "operation, alias, trace_id, stream, project, tags, attributed, attempts, input_tokens, "
    "output_tokens, cached_input_tokens, cache_write_tokens, reasoning_tokens, "
    "tokens_estimated, cost_nanousd, served_model) "
    "VALUES (?, ?, ?, ?, 500.0, 'ok', 200, 'chat', 'smart', 't', 0, ?, '{}', 1, 1, ?, 20, 0, 0, 0, "
    "0, ?, 'gpt-4o')"
)


def build(path: Path, entries: int, period: int) -> tuple[str, Signer, float]:
    url = f"sqlite:///{path}"
    store = open_store(url)
    signer = Signer.generate()
    head = (0, "0" * 64)
    at = T0
    raw = store.engine.raw_connection()
    try:
        for start in range(0, entries, period):
            items, calls = [], []
            for i in range(start, min(start + period, entries)):
                at = T0 + i * 0.01
                call_id = f"call-{i:09d}"
                project = "search" if i % 3 else "support"
                record = CallRecord(
                    id=call_id,
                    started_at=at,
                    ended_at=at + 0.5,
                    latency_ms=500.0,
                    status="ok",
                    http_status=200,
                    operation="chat",
                    alias="smart",
                    trace_id="t",
                    project=project,
                    attributed=True,
                    attempts=1,
                    input_tokens=100 + i % 50,
                    output_tokens=20,
                    cost_nanousd=1_000 + i % 7,
                    served_model="gpt-4o",
                )
                summary = call_summary(record)  # what the gateway's writer chains
                body = {"call": summary, "decisions": {"budget": "ok"}, "content": None}
                items.append(Item(at, "call", call_id, "key:k1", body, project))
                hour = int(at // 3600) * 3600
                calls.append(
                    (
                        call_id,
                        at,
                        at + 0.5,
                        hour,
                        project,
                        summary["input_tokens"],
                        summary["cost_nanousd"],
                    )
                )
            new = chain(STREAM, head, items)
            cur = raw.cursor()
            cur.execute("BEGIN")  # the engine's connections are in autocommit mode
            cur.executemany(_CALL_SQL, calls)
            cur.executemany(
                "INSERT INTO audit_entries VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [e.values() for e in new],
            )
            cur.execute("COMMIT")
            with store.engine.begin() as conn:
                move_head(conn, STREAM, head, (new[-1].seq, new[-1].hash), owner="bench")
                write_digest(conn, signer, STREAM, now=at + 1)
            head = (new[-1].seq, new[-1].hash)
    finally:
        raw.close()
        store.close()
    return url, signer, at + 2


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--entries", type=int, default=1_000_000)
    ap.add_argument("--period", type=int, default=10_000, help="entries per digest")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="daytwo-audit-bench-") as tmp:
        path = Path(tmp) / "ledger.db"
        t = time.perf_counter()
        url, signer, now = build(path, args.entries, args.period)
        built_s = time.perf_counter() - t
        print(f"built {args.entries:,} entries in {built_s:.1f} s", file=sys.stderr)
        store = open_store(url, create=False)
        try:
            if args.profile:
                import cProfile
                import pstats

                prof = cProfile.Profile()
                prof.enable()
            t = time.perf_counter()
            report = verify(store, public_keys=[signer.public], now=now)
            seconds = time.perf_counter() - t
            if args.profile:
                prof.disable()
                pstats.Stats(prof, stream=sys.stderr).sort_stats("tottime").print_stats(15)
            t = time.perf_counter()
            chains = verify(store, public_keys=[signer.public], now=now, rows=False)
            chain_s = time.perf_counter() - t
        finally:
            store.close()
        size = path.stat().st_size
    rate = report.entries / seconds
    result: dict[str, Any] = {
        "entries": report.entries,
        "digests": sum(s.digests for s in report.streams),
        "ok": report.ok,
        "seconds": round(seconds, 3),
        "entries_per_s": round(rate),
        "goal_entries_per_s": GOAL,
        "goal_met": rate >= GOAL,
        "chains_only_seconds": round(chain_s, 3),
        "chains_only_entries_per_s": round(chains.entries / chain_s),
        "chains_only_ok": chains.ok,
        "db_bytes": size,
    }
    if args.json:
        print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())
    else:
        for key, value in result.items():
            print(
                f"{key:>20}  {value:,}"
                if isinstance(value, int) and not isinstance(value, bool)
                else f"{key:>20}  {value}"
            )
    return 0 if report.ok and chains.ok else 1


if __name__ == "__main__":
    sys.exit(main())
