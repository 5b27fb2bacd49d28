"""Helpers shared by the CLI commands: config discovery and one-line failures."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import NoReturn

import click

from daytwo.config.load import load_config
from daytwo.config.schema import Config
from daytwo.core.errors import ConfigError

DEFAULT_CONFIG = "daytwo.yaml"

config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    default=lambda: os.environ.get("DAYTWO_CONFIG", DEFAULT_CONFIG),
    show_default="$DAYTWO_CONFIG or daytwo.yaml",
    help="Path to daytwo.yaml.",
)


def fail(message: str, code: int = 1) -> NoReturn:
    click.echo(f"daytwo: {message}", err=True)
    sys.exit(code)


def load_or_fail(path: str) -> Config:
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
    return load_config(path).ledger.url  # pydantic: imported only when there is a file
