"""``daytwo admin tokens``: create, list and revoke the admin API's tokens.

These work directly on the database (like ``daytwo keys``): whoever can reach the database is
the root of trust, and the admin API itself cannot mint credentials. A token is printed once,
when it is created. Exit codes: 0 done, 1 runtime failure (database unreachable, unknown id,
revoking a revoked token), 2 usage error. Every failure is one line on stderr.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import click

from daytwo.cli.common import (
    actor,
    db_options,
    echo_json,
    json_option,
    open_key_store,
    print_table,
    when,
)
from daytwo.cli.oneline import one_line_family

if TYPE_CHECKING:
    from daytwo.keys.admin_tokens import AdminTokens

_PREFIX = "daytwo admin"
#: The roles of :mod:`daytwo.keys.admin_tokens` (spelled out so ``--help`` imports no database
#: code; a test checks they agree).
ROLE_NAMES = ("viewer", "operator", "admin")


_UsageError, _OneLineCommand, _OneLineGroup = one_line_family(_PREFIX)


@contextmanager
def _open(ledger: str | None, config_path: str | None, *, create: bool) -> Iterator[AdminTokens]:
    from daytwo.keys.admin_tokens import AdminTokens

    with open_key_store(ledger, config_path, create=create, usage=_UsageError) as store:
        yield AdminTokens(store)


@click.group(cls=_OneLineGroup)
def admin() -> None:
    """Administration of the admin API (see docs/admin-api.md)."""


@admin.group()
def tokens() -> None:
    """Admin API tokens: roles viewer < operator < admin, optionally limited to a project."""


@tokens.command()
@click.option("--role", required=True, type=click.Choice(ROLE_NAMES), help="What it may do.")
@click.option("--project", help="Limit the token to this project [every project].")
@click.option("--name", help="Who or what holds it (shown in the admin event log).")
@db_options
@json_option
def create(
    role: str,
    project: str | None,
    name: str | None,
    ledger: str | None,
    config_path: str | None,
    as_json: bool,
) -> None:
    """Create an admin token and print it (once)."""
    from daytwo.keys.admin_tokens import parse_role

    if project is not None and not project.strip():
        raise _UsageError("--project: must not be empty")
    with _open(ledger, config_path, create=True) as store:
        issued = store.create(parse_role(role), actor=actor(), project=project, name=name)
    record = issued.record
    if as_json:
        echo_json({"token": issued.secret, **record.to_json()})
        return
    click.echo(issued.secret)
    click.echo(
        f"id {record.id}  role {record.role}  project {record.project or '(all)'}  "
        "(the token is shown only now: store it in your secret manager)",
        err=True,
    )


@tokens.command(name="list")
@db_options
@json_option
def list_(ledger: str | None, config_path: str | None, as_json: bool) -> None:
    """List admin tokens (never their secrets)."""
    with _open(ledger, config_path, create=False) as store:
        records = store.list_tokens()
    if as_json:
        echo_json({"tokens": [r.to_json() for r in records]})
        return
    columns = ("id", "prefix", "role", "project", "name", "state", "created")
    rows = [
        (
            r.id,
            r.prefix + "…",
            r.role,
            r.project or "(all)",
            r.name or "",
            "active" if r.active else "revoked",
            when(r.created_at),
        )
        for r in records
    ]
    print_table(f"{len(records)} admin token(s)", columns, rows)


@tokens.command()
@click.argument("token_id")
@db_options
@json_option
def revoke(token_id: str, ledger: str | None, config_path: str | None, as_json: bool) -> None:
    """Revoke an admin token now (the next request with it is refused)."""
    with _open(ledger, config_path, create=False) as store:
        record = store.revoke(token_id, actor=actor())
    if as_json:
        echo_json(record.to_json())
    else:
        click.echo(f"revoked {record.id} ({record.prefix}…)")
