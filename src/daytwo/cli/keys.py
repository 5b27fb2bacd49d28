"""``daytwo keys``: create, list, show, revoke and rotate virtual keys; check a key's format;
show a key's blast radius (``blast-radius``, in :mod:`daytwo.cli.keys_blast`).

Exit codes: 0 done, 1 runtime failure (database unreachable, unknown key id, a change that
does not apply, a malformed key for ``check``), 2 usage error. Every failure is one line on
stderr. A secret is printed once, when it is created, and never again.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, NoReturn

import click

from daytwo.cli.common import (
    actor,
    db_options,
    echo_json,
    fail,
    json_option,
    open_key_store,
    print_table,
    when,
)
from daytwo.cli.oneline import one_line_family

if TYPE_CHECKING:
    from daytwo.keys.model import IssuedKey, KeyRecord
    from daytwo.keys.store import KeyStore

_PREFIX = "daytwo keys"


_UsageError, _OneLineCommand, _OneLineGroup = one_line_family(_PREFIX)


def _fail(message: str) -> NoReturn:
    fail(message, prefix=_PREFIX)


def _open(
    ledger: str | None, config_path: str | None, *, create: bool
) -> AbstractContextManager[KeyStore]:
    return open_key_store(ledger, config_path, create=create, usage=_UsageError)


def _parse(option: str, parse: Callable[[str], Any], text: str | None) -> Any:
    if text is None:
        return None
    try:
        return parse(text)
    except ValueError as exc:
        raise _UsageError(f"{option}: {exc}") from None


def _print_issued(issued: IssuedKey, as_json: bool, *, now: float) -> None:
    if as_json:
        echo_json({"key": issued.secret, **issued.record.to_json(now)})
        return
    click.echo(issued.secret)
    click.echo(
        f"id {issued.record.id}  project {issued.record.spec.project}  "
        "(the key is shown only now: store it in your secret manager)",
        err=True,
    )


# ---------------------------------------------------------------------- commands


@click.group(cls=_OneLineGroup)
def keys() -> None:
    """Virtual keys: what applications send to daytwo instead of provider keys."""


@keys.command()
@click.option("--project", required=True, help="Project every call with this key belongs to.")
@click.option("--workflow", help="Workflow attribution (overrides headers).")
@click.option("--feature", help="Feature attribution (overrides headers).")
@click.option("--environment", help="Environment attribution (overrides headers).")
@click.option("--models", metavar="A,B", help="Model aliases the key may use [all].")
@click.option("--budget", metavar="USD/WINDOW", help="e.g. 50/day, 0.50/request.")
@click.option("--rpm", type=click.IntRange(min=1), help="Requests per minute.")
@click.option("--tpm", type=click.IntRange(min=1), help="Tokens per minute.")
@click.option("--expires", metavar="DURATION", help="Lifetime: 30d, 12h, 2w [never].")
@click.option("--description", help="Free text shown in list/show.")
@db_options
@json_option
def create(
    project: str,
    workflow: str | None,
    feature: str | None,
    environment: str | None,
    models: str | None,
    budget: str | None,
    rpm: int | None,
    tpm: int | None,
    expires: str | None,
    description: str | None,
    ledger: str | None,
    config_path: str | None,
    as_json: bool,
) -> None:
    """Create a key and print it (once)."""
    from daytwo.keys.model import KeySpec
    from daytwo.keys.specs import parse_budget, parse_duration, parse_models

    if not project.strip():
        raise _UsageError("--project: must not be empty")
    budget_spec = _parse("--budget", parse_budget, budget)
    lifetime = _parse("--expires", parse_duration, expires)
    now = time.time()
    spec = KeySpec(
        project=project,
        workflow=workflow,
        feature=feature,
        environment=environment,
        models=_parse("--models", parse_models, models),
        budget=None if budget_spec is None else budget_spec.text,
        rpm=rpm,
        tpm=tpm,
        expires_at=None if lifetime is None else now + lifetime,
        description=description,
    )
    with _open(ledger, config_path, create=True) as store:
        issued = store.create(spec, actor=actor(), now=now)
    _print_issued(issued, as_json, now=now)


@keys.command(name="list")
@click.option("--project", help="Only this project's keys.")
@db_options
@json_option
def list_(project: str | None, ledger: str | None, config_path: str | None, as_json: bool) -> None:
    """List keys (never their secrets)."""
    with _open(ledger, config_path, create=False) as store:
        records = store.list_keys(project=project)
    now = time.time()
    if as_json:
        echo_json({"keys": [r.to_json(now) for r in records]})
        return
    columns = ("id", "prefix", "project", "workflow", "state", "models", "budget", "expires")
    rows = [
        (
            r.id,
            r.prefix + "…",
            r.spec.project,
            r.spec.workflow or "",
            r.state(now),
            "all" if r.spec.models is None else ",".join(r.spec.models),
            r.spec.budget or "",
            when(r.spec.expires_at),
        )
        for r in records
    ]
    print_table(f"{len(records)} key(s)", columns, rows)


@keys.command()
@click.argument("key_id")
@db_options
@json_option
def show(key_id: str, ledger: str | None, config_path: str | None, as_json: bool) -> None:
    """Show one key's attributes and state."""
    with _open(ledger, config_path, create=False) as store:
        record = store.require(key_id)
    _print_record(record, as_json)


def _print_record(record: KeyRecord, as_json: bool) -> None:
    now = time.time()
    data = record.to_json(now)
    if as_json:
        echo_json(data)
        return
    for name, value in data.items():
        if name.endswith(("_at", "_until")):
            value = when(value)
        elif isinstance(value, list):
            value = ",".join(value)
        click.echo(f"{name:13} {'–' if value is None else value}")


@keys.command()
@click.argument("key_id")
@db_options
@json_option
def revoke(key_id: str, ledger: str | None, config_path: str | None, as_json: bool) -> None:
    """Revoke a key now (gateways stop accepting it within their cache TTL)."""
    with _open(ledger, config_path, create=False) as store:
        record = store.revoke(key_id, actor=actor())
    if as_json:
        echo_json(record.to_json(time.time()))
    else:
        click.echo(f"revoked {record.id} ({record.prefix}…)")


@keys.command()
@click.argument("key_id")
@click.option(
    "--grace",
    default="24h",
    show_default=True,
    metavar="DURATION",
    help="How long the old key keeps working: 0s, 30m, 24h, 7d.",
)
@db_options
@json_option
def rotate(
    key_id: str, grace: str, ledger: str | None, config_path: str | None, as_json: bool
) -> None:
    """Issue a new key with the same attributes; print it (once)."""
    from daytwo.keys.specs import parse_duration

    seconds = _parse("--grace", lambda t: parse_duration(t, allow_zero=True), grace)
    now = time.time()
    with _open(ledger, config_path, create=False) as store:
        issued = store.rotate(key_id, grace=seconds, actor=actor(), now=now)
    _print_issued(issued, as_json, now=now)
    if not as_json:
        click.echo(f"{key_id} keeps working until {when(now + seconds)}", err=True)


@keys.command(name="blast-radius")
@click.argument("key_id")
@click.option(
    "--since",
    default="30d",
    show_default=True,
    metavar="DURATION",
    help="The window of usage shown: 24h, 7d, 30d, 90d.",
)
@click.option(
    "--top",
    type=click.IntRange(1, 1000),
    default=10,
    show_default=True,
    help="Values listed per dimension (the rest are counted and summed).",
)
@db_options
@json_option
def blast_radius(
    key_id: str,
    since: str,
    top: int,
    ledger: str | None,
    config_path: str | None,
    as_json: bool,
) -> None:
    """What a key was used for and can still do: usage per day, every project, workflow,
    model and client IP it was used from, its caps per day and month, and what revoking or
    rotating it now would stop."""
    from daytwo.cli.keys_blast import report
    from daytwo.keys.specs import parse_duration

    seconds = _parse("--since", parse_duration, since)
    report(key_id, seconds, top, ledger, config_path, as_json, usage=_UsageError)


@keys.command()
@click.argument("key")
@json_option
def check(key: str, as_json: bool) -> None:
    """Check a key's format and checksum (no database). KEY `-` reads it from stdin."""
    from daytwo.keys.format import KeyFormatError, parse_secret

    if key == "-":
        key = sys.stdin.readline().strip()
    try:
        parsed = parse_secret(key)
    except KeyFormatError as exc:
        if as_json:
            echo_json({"well_formed": False, "reason": str(exc)})
            raise SystemExit(1) from None
        _fail(f"not a well-formed daytwo key: {exc}")
    if as_json:
        echo_json({"well_formed": True, "prefix": parsed.display_prefix + "…"})
    else:
        click.echo(f"well-formed daytwo key {parsed.display_prefix}… (checksum ok)")
