"""``daytwo keys``: create, list, show, revoke and rotate virtual keys; check a key's format.

Exit codes: 0 done, 1 runtime failure (database unreachable, unknown key id, a change that
does not apply, a malformed key for ``check``), 2 usage error. Every failure is one line on
stderr. A secret is printed once, when it is created, and never again.
"""

from __future__ import annotations

import getpass
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from daytwo.cli.oneline import OneLineCommand, OneLineUsageError

if TYPE_CHECKING:
    from daytwo.keys.model import IssuedKey, KeyRecord
    from daytwo.keys.store import KeyStore

_PREFIX = "daytwo keys"
F = TypeVar("F", bound=Callable[..., Any])


class _UsageError(OneLineUsageError):
    prefix = _PREFIX


class _OneLineCommand(OneLineCommand):
    usage_error = _UsageError


class _OneLineGroup(click.Group):
    command_class = _OneLineCommand


def _fail(message: str) -> NoReturn:
    click.echo(f"{_PREFIX}: {message}", err=True)
    raise SystemExit(1)


def _ledger_url(ledger: str | None, config_path: str | None) -> str:
    from daytwo.cli.common import ConfigFileMissing, resolve_ledger_url
    from daytwo.core.errors import ConfigError

    try:
        return resolve_ledger_url(ledger, config_path)
    except ConfigFileMissing as exc:
        raise _UsageError(str(exc)) from None
    except ConfigError as exc:
        _fail("; ".join(exc.problems))


def _db_options(f: F) -> F:
    f = click.option(
        "--ledger", metavar="URL", help="Database URL (sqlite:///… or postgresql://…)."
    )(f)
    return click.option(
        "--config",
        "config_path",
        metavar="PATH",
        help="daytwo.yaml to read ledger.url from [default: $DAYTWO_CONFIG, else ./daytwo.yaml].",
    )(f)


def _json_option(f: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON.")(f)


@contextmanager
def _open(ledger: str | None, config_path: str | None, *, create: bool) -> Iterator[KeyStore]:
    url = _ledger_url(ledger, config_path)
    from daytwo.core.errors import DaytwoError
    from daytwo.keys.hashing import pepper_from_env
    from daytwo.keys.store import KeyStore
    from daytwo.ledger.errors import LedgerNotFound

    try:
        store = KeyStore.open(url, pepper=pepper_from_env(), create=create)
    except LedgerNotFound as exc:
        _fail(f"{exc.message} (pass --ledger URL)")
    except DaytwoError as exc:
        _fail(exc.message)
    try:
        yield store
    except DaytwoError as exc:
        _fail(exc.message)
    finally:
        store.close()


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (OSError, KeyError):  # no login name (containers without a passwd entry)
        return "cli"


def _echo_json(data: Any) -> None:
    import orjson

    click.echo(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode())


def _when(ts: float | None) -> str:
    if ts is None:
        return "–"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _parse(option: str, parse: Callable[[str], Any], text: str | None) -> Any:
    if text is None:
        return None
    try:
        return parse(text)
    except ValueError as exc:
        raise _UsageError(f"{option}: {exc}") from None


def _print_issued(issued: IssuedKey, as_json: bool, *, now: float) -> None:
    if as_json:
        _echo_json({"key": issued.secret, **issued.record.to_json(now)})
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
@_db_options
@_json_option
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
        issued = store.create(spec, actor=_actor(), now=now)
    _print_issued(issued, as_json, now=now)


@keys.command(name="list")
@click.option("--project", help="Only this project's keys.")
@_db_options
@_json_option
def list_(project: str | None, ledger: str | None, config_path: str | None, as_json: bool) -> None:
    """List keys (never their secrets)."""
    with _open(ledger, config_path, create=False) as store:
        records = store.list_keys(project=project)
    now = time.time()
    if as_json:
        _echo_json({"keys": [r.to_json(now) for r in records]})
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{len(records)} key(s)", title_justify="left")
    for name in ("id", "prefix", "project", "workflow", "state", "models", "budget", "expires"):
        table.add_column(name)
    for r in records:
        s = r.spec
        table.add_row(
            r.id,
            r.prefix + "…",
            s.project,
            s.workflow or "",
            r.state(now),
            "all" if s.models is None else ",".join(s.models),
            s.budget or "",
            _when(s.expires_at),
        )
    Console(highlight=False, width=None if sys.stdout.isatty() else 140).print(table)


@keys.command()
@click.argument("key_id")
@_db_options
@_json_option
def show(key_id: str, ledger: str | None, config_path: str | None, as_json: bool) -> None:
    """Show one key's attributes and state."""
    with _open(ledger, config_path, create=False) as store:
        record = store.require(key_id)
    _print_record(record, as_json)


def _print_record(record: KeyRecord, as_json: bool) -> None:
    now = time.time()
    data = record.to_json(now)
    if as_json:
        _echo_json(data)
        return
    for name, value in data.items():
        if name.endswith(("_at", "_until")):
            value = _when(value)
        elif isinstance(value, list):
            value = ",".join(value)
        click.echo(f"{name:13} {'–' if value is None else value}")


@keys.command()
@click.argument("key_id")
@_db_options
@_json_option
def revoke(key_id: str, ledger: str | None, config_path: str | None, as_json: bool) -> None:
    """Revoke a key now (gateways stop accepting it within their cache TTL)."""
    with _open(ledger, config_path, create=False) as store:
        record = store.revoke(key_id, actor=_actor())
    if as_json:
        _echo_json(record.to_json(time.time()))
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
@_db_options
@_json_option
def rotate(
    key_id: str, grace: str, ledger: str | None, config_path: str | None, as_json: bool
) -> None:
    """Issue a new key with the same attributes; print it (once)."""
    from daytwo.keys.specs import parse_duration

    seconds = _parse("--grace", lambda t: parse_duration(t, allow_zero=True), grace)
    now = time.time()
    with _open(ledger, config_path, create=False) as store:
        issued = store.rotate(key_id, grace=seconds, actor=_actor(), now=now)
    _print_issued(issued, as_json, now=now)
    if not as_json:
        click.echo(f"{key_id} keeps working until {_when(now + seconds)}", err=True)


@keys.command()
@click.argument("key")
@_json_option
def check(key: str, as_json: bool) -> None:
    """Check a key's format and checksum (no database). KEY `-` reads it from stdin."""
    from daytwo.keys.format import KeyFormatError, parse_secret

    if key == "-":
        key = sys.stdin.readline().strip()
    try:
        parsed = parse_secret(key)
    except KeyFormatError as exc:
        if as_json:
            _echo_json({"well_formed": False, "reason": str(exc)})
            raise SystemExit(1) from None
        _fail(f"not a well-formed daytwo key: {exc}")
    if as_json:
        _echo_json({"well_formed": True, "prefix": parsed.display_prefix + "…"})
    else:
        click.echo(f"well-formed daytwo key {parsed.display_prefix}… (checksum ok)")
