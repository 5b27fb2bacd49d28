"""``daytwo admin tokens``: create, list and revoke the admin API's tokens.

These work directly on the database (like ``daytwo keys``): whoever can reach the database is
the root of trust, and the admin API itself cannot mint credentials. A token is printed once,
when it is created. Exit codes: 0 done, 1 runtime failure (database unreachable, unknown id,
revoking a revoked token), 2 usage error. Every failure is one line on stderr.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, NoReturn

import click

from daytwo.cli.keys import _actor, _db_options, _echo_json, _json_option, _when
from daytwo.cli.oneline import OneLineCommand, OneLineUsageError

if TYPE_CHECKING:
    from daytwo.keys.admin_tokens import AdminTokens

_PREFIX = "daytwo admin"
#: The roles of :mod:`daytwo.keys.admin_tokens` (spelled out so ``--help`` imports no database
#: code; a test checks they agree).
ROLE_NAMES = ("viewer", "operator", "admin")


class _UsageError(OneLineUsageError):
    prefix = _PREFIX


class _OneLineCommand(OneLineCommand):
    usage_error = _UsageError


class _OneLineGroup(click.Group):
    command_class = _OneLineCommand
    group_class = type  # subgroups are one-line groups too


def _fail(message: str) -> NoReturn:
    click.echo(f"{_PREFIX}: {message}", err=True)
    raise SystemExit(1)


@contextmanager
def _open(ledger: str | None, config_path: str | None, *, create: bool) -> Iterator[AdminTokens]:
    from daytwo.cli.common import ConfigFileMissing, resolve_ledger_url
    from daytwo.core.errors import ConfigError, DaytwoError
    from daytwo.keys.admin_tokens import AdminTokens
    from daytwo.keys.hashing import pepper_from_env
    from daytwo.keys.store import KeyStore
    from daytwo.ledger.errors import LedgerNotFound

    try:
        url = resolve_ledger_url(ledger, config_path)
    except ConfigFileMissing as exc:
        raise _UsageError(str(exc)) from None
    except ConfigError as exc:
        _fail("; ".join(exc.problems))
    try:
        store = KeyStore.open(url, pepper=pepper_from_env(), create=create)
    except LedgerNotFound as exc:
        _fail(f"{exc.message} (pass --ledger URL)")
    except DaytwoError as exc:
        _fail(exc.message)
    try:
        yield AdminTokens(store)
    except DaytwoError as exc:
        _fail(exc.message)
    finally:
        store.close()


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
@_db_options
@_json_option
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
        issued = store.create(parse_role(role), actor=_actor(), project=project, name=name)
    record = issued.record
    if as_json:
        _echo_json({"token": issued.secret, **record.to_json()})
        return
    click.echo(issued.secret)
    click.echo(
        f"id {record.id}  role {record.role}  project {record.project or '(all)'}  "
        "(the token is shown only now: store it in your secret manager)",
        err=True,
    )


@tokens.command(name="list")
@_db_options
@_json_option
def list_(ledger: str | None, config_path: str | None, as_json: bool) -> None:
    """List admin tokens (never their secrets)."""
    with _open(ledger, config_path, create=False) as store:
        records = store.list_tokens()
    if as_json:
        _echo_json({"tokens": [r.to_json() for r in records]})
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{len(records)} admin token(s)", title_justify="left")
    for col in ("id", "prefix", "role", "project", "name", "state", "created"):
        table.add_column(col)
    for r in records:
        table.add_row(
            r.id,
            r.prefix + "…",
            r.role,
            r.project or "(all)",
            r.name or "",
            "active" if r.active else "revoked",
            _when(r.created_at),
        )
    Console(highlight=False, width=None if sys.stdout.isatty() else 140).print(table)


@tokens.command()
@click.argument("token_id")
@_db_options
@_json_option
def revoke(token_id: str, ledger: str | None, config_path: str | None, as_json: bool) -> None:
    """Revoke an admin token now (the next request with it is refused)."""
    with _open(ledger, config_path, create=False) as store:
        record = store.revoke(token_id, actor=_actor())
    if as_json:
        _echo_json(record.to_json())
    else:
        click.echo(f"revoked {record.id} ({record.prefix}…)")
