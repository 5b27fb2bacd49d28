"""Helpers shared by the CLI commands: config discovery, one-line failures, the database
options and key store of the commands that work on the database directly (``keys``,
``admin``), and their output.

Light on purpose: click and the standard library only at import time, so every command's
``--help`` stays fast; configuration and database code load when a command runs.
"""

from __future__ import annotations

import getpass
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from daytwo.cli.oneline import OneLineUsageError
from daytwo.core.errors import ConfigError

if TYPE_CHECKING:
    from daytwo.config.schema import Config
    from daytwo.keys.store import KeyStore
    from daytwo.ledger.store import LedgerStore

DEFAULT_CONFIG = "daytwo.yaml"
F = TypeVar("F", bound=Callable[..., Any])

config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    default=lambda: os.environ.get("DAYTWO_CONFIG", DEFAULT_CONFIG),
    show_default="$DAYTWO_CONFIG or daytwo.yaml",
    help="Path to daytwo.yaml.",
)


def fail(message: str, code: int = 1, *, prefix: str = "daytwo") -> NoReturn:
    """One line on stderr (``<prefix>: <message>``), then exit with ``code``."""
    click.echo(f"{prefix}: {message}", err=True)
    sys.exit(code)


def load_or_fail(path: str) -> Config:
    from daytwo.config.load import load_config

    try:
        return load_config(path)
    except ConfigError as exc:
        for line in exc.problems:
            click.echo(f"daytwo: {line}", err=True)
        sys.exit(1)


class ConfigFileMissing(Exception):
    """An explicitly named config file (``--config`` or ``$DAYTWO_CONFIG``) does not exist."""


def resolve_ledger_url(ledger: str | None, config_path: str | None) -> str:
    """The ledger URL for a command: ``--ledger``, else the config file's ``ledger.url``, else
    the default SQLite file. Raises :class:`ConfigFileMissing` (a usage error) or
    :class:`~daytwo.core.errors.ConfigError` (the file is invalid)."""
    if ledger:
        return ledger
    explicit = config_path or os.environ.get("DAYTWO_CONFIG")
    path = Path(explicit or DEFAULT_CONFIG)
    if not path.is_file():
        if explicit:
            raise ConfigFileMissing(f"config file not found: {path}")
        from daytwo.ledger.store import DEFAULT_URL

        return DEFAULT_URL
    from daytwo.config.load import load_config  # pydantic: imported only when there is a file

    return load_config(path).ledger.url


def ledger_url_or_fail(
    ledger: str | None, config_path: str | None, usage: type[OneLineUsageError]
) -> str:
    """:func:`resolve_ledger_url` for a command: a missing file is its usage error (exit 2),
    an invalid one a one-line failure (exit 1)."""
    try:
        return resolve_ledger_url(ledger, config_path)
    except ConfigFileMissing as exc:
        raise usage(str(exc)) from None
    except ConfigError as exc:
        fail("; ".join(exc.problems), prefix=usage.prefix)


def parse_when(option: str, text: str, usage: type[OneLineUsageError]) -> datetime:
    """An ISO date or time given to ``option`` (UTC unless it has an offset); ``usage``'s
    one-line error otherwise."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise usage(f"{option}: expected an ISO date or time, got {text!r}") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def open_ledger_or_fail(url: str, prefix: str) -> LedgerStore:
    """The ledger at ``url`` for a report command; one line and exit 1 when it is missing (with
    the hint to name it or run the gateway first) or cannot be opened."""
    from daytwo.ledger.errors import LedgerError, LedgerNotFound
    from daytwo.ledger.store import open_store

    try:
        return open_store(url, create=False)
    except LedgerNotFound as exc:
        fail(f"{exc.message} (pass --ledger URL, or run the gateway first)", prefix=prefix)
    except LedgerError as exc:
        fail(exc.message, prefix=prefix)


# ---------------------------------------------------------------- commands on the key store


def db_options(f: F) -> F:
    """``--ledger URL`` and ``--config PATH``: where the database is."""
    f = click.option(
        "--ledger", metavar="URL", help="Database URL (sqlite:///… or postgresql://…)."
    )(f)
    return click.option(
        "--config",
        "config_path",
        metavar="PATH",
        help="daytwo.yaml to read ledger.url from [default: $DAYTWO_CONFIG, else ./daytwo.yaml].",
    )(f)


def json_option(f: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON.")(f)


@contextmanager
def open_key_store(
    ledger: str | None,
    config_path: str | None,
    *,
    create: bool,
    usage: type[OneLineUsageError],
) -> Iterator[KeyStore]:
    """The key store the options name, closed afterwards; its errors (opening, or in the
    block) are one-line failures under ``usage``'s prefix."""
    url = ledger_url_or_fail(ledger, config_path, usage)
    from daytwo.core.errors import DaytwoError
    from daytwo.keys.hashing import pepper_from_env
    from daytwo.keys.store import KeyStore
    from daytwo.ledger.errors import LedgerNotFound

    try:
        store = KeyStore.open(url, pepper=pepper_from_env(), create=create)
    except LedgerNotFound as exc:
        fail(f"{exc.message} (pass --ledger URL)", prefix=usage.prefix)
    except DaytwoError as exc:
        fail(exc.message, prefix=usage.prefix)
    try:
        yield store
    except DaytwoError as exc:
        fail(exc.message, prefix=usage.prefix)
    finally:
        store.close()


def actor() -> str:
    """Who the admin event log names for a command run here: ``cli:<login>``."""
    try:
        return f"cli:{getpass.getuser()}"
    except (OSError, KeyError):  # no login name (containers without a passwd entry)
        return "cli"


def echo_json(data: Any) -> None:
    import orjson

    click.echo(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode())


def when(ts: float | None) -> str:
    if ts is None:
        return "–"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC")


def print_table(title: str, columns: Sequence[str], rows: Iterable[Sequence[str]]) -> None:
    """A Rich table on stdout (140 columns wide when stdout is not a terminal)."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for col in columns:
        table.add_column(col)
    for row in rows:
        table.add_row(*row)
    Console(highlight=False, width=None if sys.stdout.isatty() else 140).print(table)
