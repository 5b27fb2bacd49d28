"""The gateway writes its ledger to the real PostgreSQL exactly as it does to SQLite."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import openai
import psycopg
import pytest
from tests.gateway.harness import RunningGateway, sim_config

pytestmark = [pytest.mark.integration, pytest.mark.postgres]


def test_calls_land_in_postgres(
    tmp_path: Path, pg_url: str, gateway_factory: Callable[..., RunningGateway]
) -> None:
    cfg = sim_config(tmp_path)
    cfg["ledger"] = {"url": pg_url, "flush_interval_ms": 5}
    gw = gateway_factory(cfg)
    with openai.OpenAI(base_url=gw.base_url, api_key="x", max_retries=0) as client:
        for i in range(5):
            client.chat.completions.create(
                model="gpt-4o-mini",
                messages=[{"role": "user", "content": f"q{i}"}],
                extra_headers={"X-Daytwo-Project": "pg", "X-Daytwo-Tags": "run=1"},
                stream=i % 2 == 0,
            )
    assert gw.app.ledger is not None and gw.app.ledger.flush(10)
    with psycopg.connect(pg_url) as conn:
        rows = conn.execute(
            "SELECT project, status, stream, output_tokens, cost_nanousd FROM calls"
        ).fetchall()
        rollup = conn.execute(
            "SELECT SUM(calls) FROM rollup_hourly WHERE dim = 'project' AND value = 'pg'"
        ).fetchone()
    assert len(rows) == 5
    assert all(r[0] == "pg" and r[1] == "ok" and r[3] > 0 and r[4] > 0 for r in rows)
    assert sorted(bool(r[2]) for r in rows) == [False, False, True, True, True]
    assert rollup is not None and rollup[0] == 5
