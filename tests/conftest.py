"""Shared fixtures: real PostgreSQL databases (one fresh database per test), and a ledger
database on both (``db_url``)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

PG_ADMIN_DSN = os.environ.get("DAYTWO_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


@pytest.fixture(autouse=True, scope="session")
def _state_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Gateways on PostgreSQL without a signing key generate one in $DAYTWO_STATE_DIR: a
    temporary directory in tests, never the repository or the home directory."""
    old = os.environ.get("DAYTWO_STATE_DIR")
    os.environ["DAYTWO_STATE_DIR"] = str(tmp_path_factory.mktemp("state"))
    yield
    if old is None:
        os.environ.pop("DAYTWO_STATE_DIR", None)
    else:
        os.environ["DAYTWO_STATE_DIR"] = old


def _admin_connect() -> psycopg.Connection[tuple[object, ...]]:
    try:
        return psycopg.connect(PG_ADMIN_DSN, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:  # fail loudly: the suite promises real PostgreSQL
        pytest.fail(f"PostgreSQL at {PG_ADMIN_DSN} is not reachable: {exc}")


@pytest.fixture(scope="session")
def pg_server_url() -> str:
    """Base URL (no database) of the real PostgreSQL server."""
    with _admin_connect():
        pass
    return PG_ADMIN_DSN.rsplit("/", 1)[0]


@pytest.fixture
def pg_url(pg_server_url: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    name = f"daytwo_test_{uuid.uuid4().hex[:12]}"
    with _admin_connect() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{pg_server_url}/{name}"
    finally:
        with _admin_connect() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgresql", marks=[pytest.mark.postgres, pytest.mark.integration]),
    ]
)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty ledger database: a SQLite file, then a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.db'}"
    url: str = request.getfixturevalue("pg_url")
    return url
