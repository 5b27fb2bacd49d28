"""``daytwo config check``: validate a config file, one line per problem."""

from __future__ import annotations

import click

from daytwo.cli.common import load_or_fail
from daytwo.core.secrets import SecretError, SecretRegistry


@click.group()
def config() -> None:
    """Work with daytwo.yaml."""


@config.command()
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    default="daytwo.yaml",
    show_default=True,
    help="The file to check.",
)
def check(config_path: str) -> None:
    """Validate a config file: exit 0 if it is good, 1 with one line per problem."""
    cfg = load_or_fail(config_path)
    problems = []
    registry = SecretRegistry()
    for name, provider in cfg.providers.items():
        ref = getattr(provider, "api_key", None)
        if ref is not None:
            try:
                registry.resolve(ref)
            except SecretError as exc:
                problems.append(f"{config_path}: providers.{name}.api_key: {exc}")
    for line in problems:
        click.echo(f"daytwo: {line}", err=True)
    if problems:
        raise SystemExit(1)
    click.echo(
        f"{config_path}: ok ({len(cfg.providers)} providers, {len(cfg.models)} model aliases)"
    )
