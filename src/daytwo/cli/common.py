"""Helpers shared by the CLI commands: config discovery and one-line failures."""

from __future__ import annotations

import os
import sys
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
