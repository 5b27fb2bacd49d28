"""A real gateway (loopback HTTP, the in-process simulator with its quality knobs, a SQLite
ledger) with a ``quality`` section, and readers of the scores it wrote."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from tests.gateway.harness import RunningGateway, route, sim_config

#: Every cheap check on every call of the default project.
ALL_CHECKS_EVALUATOR: dict[str, Any] = {"name": "all", "checks": "all"}


def quality_config(
    tmp_path: Path, quality: dict[str, Any], *, sim: dict[str, Any] | None = None, **extra: Any
) -> dict[str, Any]:
    cfg = sim_config(tmp_path, **({"quality": sim} if sim is not None else {}))
    cfg["models"]["judge"] = route("sim", "gpt-4o")
    cfg["quality"] = quality
    cfg.update(extra)
    return cfg


def scores(gw: RunningGateway) -> list[dict[str, Any]]:
    """Every score row, after the writer stored what it was handed."""
    assert gw.app.ledger is not None and gw.db is not None
    gw.app.ledger.flush(10.0)
    return read_scores(gw.db)


def read_scores(db: Path) -> list[dict[str, Any]]:
    conn = sqlite3.connect(db)
    try:
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute("SELECT * FROM scores ORDER BY at")]
    finally:
        conn.close()


def of_call(rows: list[dict[str, Any]], call_id: str) -> dict[str, dict[str, Any]]:
    """The scores of one call, by evaluator (one each)."""
    out: dict[str, dict[str, Any]] = {}
    for row in rows:
        if row["call_id"] == call_id:
            assert row["evaluator"] not in out, f"two {row['evaluator']} scores for {call_id}"
            out[row["evaluator"]] = row
    return out
