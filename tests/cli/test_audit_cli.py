"""``daytwo audit verify`` and ``daytwo audit export`` through click's CliRunner, on SQLite and
PostgreSQL: exit 0 verified, 1 tampered (the first broken link first), 2 usage errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from tests.audit.trail import Trail, build, sql

from daytwo.audit.digest import Signer, public_pem
from daytwo.cli.main import cli
from daytwo.ledger.store import LedgerStore, open_store


@pytest.fixture
def trail(db_url: str) -> Iterator[Trail]:
    store: LedgerStore = open_store(db_url)
    try:
        yield build(store, Signer.generate(), replicas=("gw-1", "gw-2"))
    finally:
        store.close()


@pytest.fixture
def pub(trail: Trail, tmp_path: Path) -> str:
    path = tmp_path / "audit.pub"
    path.write_text(public_pem(trail.signer.public))
    return str(path)


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, ["audit", *args], env={"DAYTWO_CONFIG": ""})


def url(trail: Trail) -> str:
    return trail.store.engine.url.render_as_string(hide_password=False)


def test_verify_passes_on_an_untouched_trail(trail: Trail, pub: str) -> None:
    result = run("verify", "--ledger", url(trail), "--public-key", pub)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1].endswith(": 30 entries, verified")
    assert "note:" not in result.stdout


def test_verify_without_a_public_key_says_it_is_weaker(trail: Trail) -> None:
    result = run("verify", "--ledger", url(trail), "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["ok"] and report["keys"] == "stored" and "audit_keys" in report["notes"][0]


def test_verify_names_the_first_broken_link_and_exits_1(trail: Trail, pub: str) -> None:
    sql(trail.store, "DELETE FROM audit_entries WHERE stream = 'replica:gw-1' AND seq = 7")
    result = run("verify", "--ledger", url(trail), "--public-key", pub)
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[0] == "FIRST BROKEN LINK: replica:gw-1 #8 follows #6: entry #7 was deleted"
    assert "TAMPERED: 1 problem(s)" in lines[-1]


def test_verify_json(trail: Trail, pub: str) -> None:
    sql(trail.store, "UPDATE calls SET cost_nanousd = 5 WHERE id = 'call-00003'")
    result = run("verify", "--ledger", url(trail), "--public-key", pub, "--json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["first"]["kind"] == "call_edited" and "call-00003" in report["first"]["message"]


def test_export_then_verify_the_bundle(trail: Trail, pub: str, tmp_path: Path) -> None:
    out = tmp_path / "b.jsonl"
    result = run(
        "export",
        "--ledger",
        url(trail),
        "--from",
        "2024-05-01",
        "--to",
        "2024-05-02",
        "--project",
        "search",
        "--out",
        str(out),
        "--json",
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["omitted"] > 0 and out.is_file()
    result = run("verify", "--bundle", str(out), "--public-key", pub)
    assert result.exit_code == 0, result.output
    assert "omitted" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["verify", "--from", "yesterday"], "daytwo audit: --from: expected an ISO date or time"),
        (
            ["verify", "--public-key", "/nonexistent.pem"],
            "daytwo audit: --public-key /nonexistent.pem: No such file",
        ),
        (
            ["verify", "--bundle", "b.jsonl", "--from", "2024-05-01"],
            "daytwo audit: a bundle is verified whole",
        ),
        (
            ["export", "--from", "2024-05-02", "--to", "2024-05-01", "--out", "x"],
            "daytwo audit: --to must be after --from",
        ),
        (
            [
                "export",
                "--from",
                "2024-05-01",
                "--to",
                "2024-05-02",
                "--out",
                "x",
                "--format",
                "csv",
            ],
            "daytwo audit: Invalid value for '--format'",
        ),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(args: list[str], message: str) -> None:
    result = run(*args)
    assert result.exit_code == 2
    assert result.stderr.startswith(message) and len(result.stderr.splitlines()) == 1


def test_a_public_key_that_is_not_one(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pem"
    bad.write_text("hello")
    result = run("verify", "--public-key", str(bad))
    assert result.exit_code == 2
    assert result.stderr.startswith(f"daytwo audit: --public-key {bad}: not an Ed25519 public key")


def test_a_missing_bundle_is_one_line(tmp_path: Path) -> None:
    result = run("verify", "--bundle", str(tmp_path / "none.jsonl"))
    assert result.exit_code == 1
    assert result.stderr == f"daytwo audit: no bundle at {tmp_path / 'none.jsonl'}\n"
