"""``daytwo keys`` through click's CliRunner, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from daytwo.cli.main import cli
from daytwo.keys.format import is_well_formed, new_secret
from daytwo.keys.hashing import PEPPER_ENV
from daytwo.keys.store import KeyStore


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgresql", marks=[pytest.mark.postgres, pytest.mark.integration]),
    ]
)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.db'}"
    pg: str = request.getfixturevalue("pg_url")
    return pg


def run(*args: str, input: str | None = None) -> Result:
    env = {PEPPER_ENV: "cli-pepper", "DAYTWO_CONFIG": ""}
    return CliRunner().invoke(cli, ["keys", *args], input=input, env=env)


def run_json(*args: str) -> Any:
    result = run(*args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def one_line_error(result: Result, code: int, *needles: str) -> None:
    assert result.exit_code == code, result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("daytwo keys: ")
    for needle in needles:
        assert needle in lines[0]


def test_create_prints_the_key_once_and_it_authenticates(url: str) -> None:
    result = run(
        "create", "--project", "search", "--workflow", "rag", "--models", "gpt-4o,fast",
        "--budget", "50/day", "--rpm", "600", "--tpm", "200000", "--expires", "90d",
        "--description", "backend", "--ledger", url,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    secret = result.stdout.strip()
    assert is_well_formed(secret)
    assert "key_" in result.stderr
    with KeyStore.open(url, pepper=b"cli-pepper") as store:
        p = store.authenticate(secret)
    assert p is not None
    assert (p.project, p.workflow, p.models, p.budget, p.rpm) == (
        "search", "rag", ("gpt-4o", "fast"), "50/day", 600,
    )  # fmt: skip

    listed = run("list", "--ledger", url)
    assert listed.exit_code == 0
    assert p.key_id in listed.stdout and "search" in listed.stdout
    shown = run("show", p.key_id, "--ledger", url)
    assert "50/day" in shown.stdout
    for out in (listed.stdout, shown.stdout, json.dumps(run_json("list", "--ledger", url))):
        assert secret not in out
        assert secret[11:] not in out  # nothing past the display prefix


def test_json_create_list_show_revoke(url: str) -> None:
    created = run_json("create", "--project", "ops", "--ledger", url)
    key_id = created["id"]
    assert is_well_formed(created["key"]) and created["state"] == "active"
    run_json("create", "--project", "search", "--ledger", url)
    assert [k["id"] for k in run_json("list", "--project", "ops", "--ledger", url)["keys"]] == [
        key_id
    ]
    assert run_json("show", key_id, "--ledger", url)["models"] is None
    revoked = run_json("revoke", key_id, "--ledger", url)
    assert revoked["state"] == "revoked"
    one_line_error(run("revoke", key_id, "--ledger", url), 1, "already revoked")


def test_rotate_prints_a_new_key_and_keeps_the_old_one_in_grace(url: str) -> None:
    created = run_json("create", "--project", "ops", "--ledger", url)
    rotated = run_json("rotate", created["id"], "--grace", "1h", "--ledger", url)
    assert rotated["key"] != created["key"] and rotated["rotated_from"] == created["id"]
    assert run_json("show", created["id"], "--ledger", url)["state"] == "grace"
    with KeyStore.open(url, pepper=b"cli-pepper") as store:
        assert store.authenticate(created["key"]) is not None
        assert store.authenticate(rotated["key"]) is not None
    text = run("rotate", rotated["id"], "--grace", "0s", "--ledger", url)
    assert text.exit_code == 0 and is_well_formed(text.stdout.strip())
    assert run_json("show", rotated["id"], "--ledger", url)["state"] == "rotated"


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["create", "--project", "p", "--budget", "50/fortnight"], "--budget"),
        (["create", "--project", "p", "--budget", "-1/day"], "--budget"),
        (["create", "--project", "p", "--expires", "forever"], "--expires"),
        (["create", "--project", "p", "--models", ","], "--models"),
        (["create", "--project", "p", "--rpm", "0"], "--rpm"),
        (["create", "--project", " "], "--project"),
        (["create"], "--project"),
        (["rotate", "key_x", "--grace", "soon"], "--grace"),
        (["show"], "KEY_ID"),
    ],
)
def test_usage_errors_are_one_line_exit_2(args: list[str], needle: str, tmp_path: Path) -> None:
    one_line_error(run(*args, "--ledger", f"sqlite:///{tmp_path / 'l.db'}"), 2, needle)


def test_bad_config_path_without_ledger_is_a_usage_error() -> None:
    one_line_error(run("list", "--config", "/nonexistent/daytwo.yaml"), 2, "not found")


def test_unknown_key_id_and_missing_ledger_are_runtime_errors(tmp_path: Path, url: str) -> None:
    run_json("create", "--project", "p", "--ledger", url)
    for cmd in ("show", "revoke", "rotate"):
        one_line_error(run(cmd, "key_missing000", "--ledger", url), 1, "key_missing000")
    missing = f"sqlite:///{tmp_path / 'nope.db'}"
    one_line_error(run("list", "--ledger", missing), 1, "no ledger")
    assert not (tmp_path / "nope.db").exists()


def test_unreachable_database_is_one_line() -> None:
    one_line_error(run("list", "--ledger", "postgresql://nobody@127.0.0.1:1/none"), 1)


def test_check_needs_no_database() -> None:
    key = new_secret()
    ok = run("check", key)
    assert ok.exit_code == 0 and key[:11] in ok.stdout and key not in ok.stdout
    assert run("check", "-", input=key + "\n").exit_code == 0
    typo = key[:-1] + ("a" if key[-1] != "a" else "b")
    one_line_error(run("check", typo), 1, "checksum")
    one_line_error(run("check", "sk-something"), 1, "dt2_sk_")
    bad = run("check", typo, "--json")
    assert bad.exit_code == 1 and json.loads(bad.stdout)["well_formed"] is False


def test_ledger_url_comes_from_the_config_file(tmp_path: Path) -> None:
    from daytwo.cli.init import starter_config

    db = tmp_path / "from-config.db"
    config = tmp_path / "daytwo.yaml"
    text = starter_config()
    assert "sqlite:///daytwo-ledger.db" in text
    config.write_text(text.replace("sqlite:///daytwo-ledger.db", f"sqlite:///{db}"))
    result = run("create", "--project", "p", "--config", str(config))
    assert result.exit_code == 0, result.output
    assert db.exists()
    assert len(run_json("list", "--config", str(config))["keys"]) == 1
