"""``triage`` on a seeded ledger (SQLite and PostgreSQL), ``daytwo triage`` (table, JSON, usage
errors as one line) and ``GET /admin/triage`` (roles, project scope, bad queries).

The ledger is written through its own API with times relative to now: the hour before the last
one is the baseline (prompt v1), the last hour the incident (prompt v2: ten times the input
tokens), so the defaults of the command (``--since 1h``, the hour before as baseline) see both.
"""

from __future__ import annotations

import time
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner
from tests.admin.client import admin_client, error_of
from tests.gateway.harness import running_gateway, sim_config

from daytwo.cli.main import cli
from daytwo.core.record import CallRecord
from daytwo.incidents.triage import triage
from daytwo.ledger.store import LedgerStore, open_store

HOUR = 3600.0
N = 120


def _call(i: int, at: float, version: int, project: str) -> CallRecord:
    tokens = 100 if version == 1 else 1000
    return CallRecord(
        id=f"c-{version}-{project}-{i:04d}",
        started_at=at,
        ended_at=at + 0.3,
        latency_ms=300.0,
        status="ok",
        http_status=200,
        operation="chat",
        alias="support",
        trace_id=f"{version:04x}{i:028x}",
        project=project,
        provider="sim",
        deployment="sim/gpt-4o-mini",
        served_model="gpt-4o-mini",
        attempts=1,
        input_tokens=tokens + i % 7,
        output_tokens=30 + i % 5,
        cost_nanousd=(tokens + i % 7) * 150 + (30 + i % 5) * 600,
        prompt_name="support-reply",
        prompt_version=version,
        config_hash="cfg1",
    )


def seed(store: LedgerStore, now: float, project: str = "shop") -> None:
    records = []
    for i in range(N):
        records.append(_call(i, now - 2 * HOUR + 60 + i * (HOUR - 120) / N, 1, project))
        records.append(_call(i, now - HOUR + 60 + i * (HOUR - 120) / N, 2, project))
    store.insert_batch(records)


@pytest.fixture
def seeded(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    with open_store(url) as store:
        seed(store, time.time())
    return url


def test_triage_ranks_the_prompt_version_on_sqlite_and_postgresql(db_url: str) -> None:
    now = time.time()
    with open_store(db_url) as store:
        seed(store, now)
        seed(store, now, project="other")
        result = triage(
            store, window=(now - HOUR, now), baseline=(now - 2 * HOUR, now - HOUR), project="shop"
        )
        with pytest.raises(ValueError, match="overlaps"):
            triage(store, window=(now - HOUR, now), baseline=(now - 1.5 * HOUR, now - 0.5 * HOUR))
    assert (result.window_calls, result.baseline_calls) == (N, N)  # the other project left out
    cause = result.suspects[0]
    assert (cause.kind, cause.what) == ("prompt", "prompt support-reply: v1 → v2")
    assert cause.calls == N and cause.explains["cost_per_call"] == 1.0
    tokens = next(s for s in result.suspects if s.detail.get("metric") == "input_tokens")
    assert tokens.consequence_of == 1 and tokens.effect is not None
    assert tokens.effect.ratio is not None and 9.0 < tokens.effect.ratio < 10.5


def test_the_command_prints_the_ranked_table_and_json(seeded: str) -> None:
    runner = CliRunner()
    out = runner.invoke(cli, ["triage", "--since", "1h", "--ledger", seeded])
    assert out.exit_code == 0, out.output
    assert "prompt support-reply: v1 → v2" in out.output
    assert "#1 prompt support-reply: v1 → v2" in out.output
    assert "dig: daytwo prompts diff support-reply 1 2" in out.output
    out = runner.invoke(
        cli, ["triage", "--since", "1h", "--baseline", "1h-before", "--ledger", seeded, "--json"]
    )
    assert out.exit_code == 0, out.output
    data = orjson.loads(out.output)
    assert data["object"] == "triage" and data["calls"] == {"window": N, "baseline": N}
    first = data["suspects"][0]
    assert (first["rank"], first["kind"], first["calls"]) == (1, "prompt", N)
    assert first["effect"]["metric"] in ("cost_per_call", "input_tokens")
    # a scope with no calls informs, and still exits 0
    out = runner.invoke(cli, ["triage", "--since", "1h", "--ledger", seeded, "--alias", "nope"])
    assert out.exit_code == 0 and "no calls in the incident window" in out.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "2x"], "daytwo triage: --since: expected a duration"),
        (["--baseline", "yesterday"], "daytwo triage: --baseline: expected DURATION-before"),
        (["--baseline-from", "2024-01-01"], "--baseline-from and --baseline-to go together"),
        (
            ["--baseline", "1h-before", "--baseline-from", "x", "--baseline-to", "y"],
            "use either --baseline or --baseline-from/--baseline-to",
        ),
        (
            ["--baseline-from", "2024-01-02", "--baseline-to", "2024-01-01"],
            "--baseline-to must be after --baseline-from",
        ),
        (["--baseline-from", "nope", "--baseline-to", "2024-01-01"], "expected an ISO date"),
        (["--project", " "], "--project: expected a name"),
        (["--nope"], "daytwo triage: No such option '--nope'"),
    ],
)
def test_bad_usage_is_one_line_and_exit_2(seeded: str, args: list[str], message: str) -> None:
    out = CliRunner().invoke(cli, ["triage", "--ledger", seeded, *args])
    assert out.exit_code == 2, out.output
    lines = out.output.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], out.output


def test_a_missing_ledger_is_one_line_and_exit_1(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'none.db'}"
    out = CliRunner().invoke(cli, ["triage", "--ledger", url])
    assert out.exit_code == 1 and len(out.output.strip().splitlines()) == 1, out.output
    assert out.output.startswith("daytwo triage: ")


def test_the_admin_route_answers_viewers_within_their_project(tmp_path: Path) -> None:
    cfg = sim_config(tmp_path)
    cfg["gateway"] = {"require_keys": True}
    now = time.time()
    with running_gateway(cfg) as gw, admin_client(gw) as admin:
        assert gw.app.ledger is not None
        seed(gw.app.ledger.store, now)
        seed(gw.app.ledger.store, now, project="other")
        viewer = admin.token("viewer")
        status, data = admin.get("/admin/triage?since=1h", viewer)
        assert status == 200, data
        assert data["calls"] == {"window": 2 * N, "baseline": 2 * N}
        assert data["suspects"][0]["kind"] == "prompt"
        scoped = admin.token("viewer", project="shop")
        status, data = admin.get("/admin/triage?since=1h", scoped)
        assert status == 200 and data["scope"]["project"] == "shop"
        assert data["calls"] == {"window": N, "baseline": N}
        status, data = admin.get("/admin/triage?since=1h&project=other", scoped)
        assert status == 403 and error_of(data)["code"] == "project_scope"
        status, data = admin.get("/admin/triage?since=soon", viewer)
        assert status == 400 and error_of(data)["param"] == "since"
        status, data = admin.get("/admin/triage?since=1h&baseline_from=2024-01-01", viewer)
        assert status == 400 and error_of(data)["param"] == "baseline_to"
        assert admin.get("/admin/triage", None)[0] == 401
