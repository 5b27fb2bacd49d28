"""``daytwo drift status``: the drift evaluation over a seeded ledger as of a given time -- the
model whose refusal rate rose is listed with its numbers, the steady one only with ``--all``;
bad input is one line."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
import yaml
from click.testing import CliRunner, Result
from tests.drift.seed import NOW, WINDOW_S, refusal_shift, steady, write

from daytwo.cli.main import cli
from daytwo.ledger.store import open_store

AT = datetime.fromtimestamp(NOW, UTC).isoformat()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    db = tmp_path / "ledger.db"
    store = open_store(f"sqlite:///{db}")
    try:
        write(store, [*refusal_shift(), *steady()], seed=11)
    finally:
        store.close()
    config = {
        "providers": {"sim": {"type": "sim"}},
        "models": {"chat": {"deployments": [{"provider": "sim", "model": "gpt-4o-mini"}]}},
        "ledger": {"url": f"sqlite:///{db}"},
        "drift": {"window_s": WINDOW_S, "baseline_s": 86_400},
    }
    path = tmp_path / "daytwo.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def drift(*args: str) -> Result:
    return CliRunner().invoke(cli, ["drift", "status", *args])


def test_the_moved_group_is_listed_with_its_numbers(project: Path) -> None:
    got = drift("--config", str(project), "--at", AT, "--json")
    assert got.exit_code == 0, got.output
    (moved,) = orjson.loads(got.stdout)
    assert (moved["model"], moved["evaluator"], moved["moved"]) == ("chat", "refusal", True)
    assert moved["current"]["n"] == 1400 and moved["baseline"]["n"] == 4000
    assert moved["message"].startswith("refusal bad rate ")
    every = orjson.loads(drift("--config", str(project), "--at", AT, "--json", "--all").stdout)
    assert {(f["model"], f["moved"]) for f in every} == {("chat", True), ("steady", False)}
    table = drift("--config", str(project), "--at", AT)
    assert table.exit_code == 0 and "1 of 2 groups moved" in table.stdout


def test_nothing_in_the_window_lists_nothing(project: Path) -> None:
    got = drift("--config", str(project), "--at", "2024-01-01T00:00:00Z", "--json")
    assert got.exit_code == 0 and orjson.loads(got.stdout) == []


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--at", "yesterday"], "--at: expected an ISO date or time"),
        (["--ledger", "sqlite:////no/such/dir/ledger.db"], "run the gateway first"),
    ],
)
def test_bad_input_is_one_line(project: Path, args: list[str], says: str) -> None:
    got = drift("--config", str(project), *args)
    assert got.exit_code in (1, 2), got.output
    lines = got.output.strip().splitlines()
    assert len(lines) == 1 and says in lines[0] and "Traceback" not in got.output
