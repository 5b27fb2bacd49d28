"""``daytwo recommend`` as a command: an empty ledger says so, and every bad input -- a
duration, a tolerance, a recommendation that does not exist, stages, no admin token, a gateway
nobody answers at, a missing config or ledger -- is one line and a meaningful exit code."""

from __future__ import annotations

import socket
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from click.testing import CliRunner, Result

from daytwo.cli.main import cli
from daytwo.core.record import CallRecord
from daytwo.ledger.store import open_store

CONFIG: dict[str, Any] = {
    "providers": {"sim": {"type": "sim"}},
    "models": {
        "smart": {"deployments": [{"provider": "sim", "model": "gpt-4o"}]},
        "cheap": {"deployments": [{"provider": "sim", "model": "gpt-4o-mini"}]},
    },
}


def write_config(tmp_path: Path, *, calls: int) -> Path:
    db = tmp_path / "ledger.db"
    store = open_store(f"sqlite:///{db}")
    now = time.time()
    try:
        store.insert_batch(
            [
                CallRecord(
                    id=f"c{i}",
                    started_at=now - 60 - i,
                    ended_at=now - 59 - i,
                    latency_ms=1000.0,
                    status="ok",
                    http_status=200,
                    operation="chat",
                    alias="smart",
                    trace_id="t",
                    project="support",
                    workflow="triage",
                    input_tokens=1_000,
                    output_tokens=100,
                    cost_nanousd=3_500_000,
                )
                for i in range(calls)
            ]
        )
    finally:
        store.close()
    path = tmp_path / "daytwo.yaml"
    path.write_text(yaml.safe_dump({**CONFIG, "ledger": {"url": f"sqlite:///{db}"}}))
    return path


def run(config: Path, *args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli, ["recommend", "--config", str(config), *args], env=env)


def one_line(got: Result, code: int, says: str) -> None:
    assert got.exit_code == code, got.output
    lines = got.output.strip().splitlines()
    assert len(lines) == 1 and says in lines[0], got.output
    assert lines[0].startswith("daytwo") and "Traceback" not in got.output


def test_an_empty_ledger_recommends_nothing(tmp_path: Path) -> None:
    config = write_config(tmp_path, calls=0)
    got = run(config)
    assert got.exit_code == 0, got.output
    assert "no configured alias is cheaper for any of the 0 workflow / prompt groups" in got.stdout
    data = orjson.loads(run(config, "--json").stdout)
    assert (data["groups"], data["recommendations"]) == (0, [])
    one_line(run(config, "--apply", "1"), 2, "--apply 1: no such recommendation (there are none)")


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize(
    ("args", "env", "code", "says"),
    [
        (["--since", "a fortnight"], {}, 2, "--since: expected a duration such as"),
        (["--tolerance", "2"], {}, 2, "'--tolerance': 2.0 is not in the range"),
        (["--apply", "0"], {}, 2, "'--apply': 0 is not in the range x>=1"),
        (["--apply", "2"], {}, 2, "--apply 2: no such recommendation (there are 1)"),
        (["--apply", "1", "--stages", "shadow:0%"], {}, 2,
         "--stages: `shadow:0%`: a share is above 0%"),
        (["--apply", "1"], {"DAYTWO_ADMIN_TOKEN": ""}, 2,
         "no admin token: set $DAYTWO_ADMIN_TOKEN"),
        (["--apply", "1", "--gateway", "ftp://x"], {"DAYTWO_ADMIN_TOKEN": "t"}, 2,
         "--gateway: expected an http:// or https:// URL"),
        (["--ledger", "sqlite:////no/such/dir/ledger.db"], {}, 1, "run the gateway first"),
    ],
)  # fmt: skip
def test_bad_input_is_one_line(
    tmp_path: Path, args: list[str], env: dict[str, str], code: int, says: str
) -> None:
    one_line(run(write_config(tmp_path, calls=3), *args, env=env), code, says)


def test_a_gateway_nobody_answers_at_is_one_line(tmp_path: Path) -> None:
    config = write_config(tmp_path, calls=3)
    gateway = f"http://127.0.0.1:{closed_port()}"
    got = run(config, "--apply", "1", "--gateway", gateway, env={"DAYTWO_ADMIN_TOKEN": "t"})
    one_line(got, 1, f"daytwo recommend: cannot reach the gateway at {gateway}")


def test_a_missing_config_is_one_line(tmp_path: Path) -> None:
    one_line(run(tmp_path / "nope.yaml"), 1, "nope.yaml")
