"""``daytwo init``: write a commented starter ``daytwo.yaml`` that works at once, offline."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

import click

from daytwo.cli.common import fail


def starter_config() -> str:
    return files("daytwo.config").joinpath("starter.yaml").read_text(encoding="utf-8")


@click.command()
@click.option(
    "--dir", "directory", type=click.Path(file_okay=False), default=".", show_default=True
)
@click.option("--force", is_flag=True, help="Overwrite an existing daytwo.yaml.")
def init(directory: str, force: bool) -> None:
    """Write a starter daytwo.yaml (sim-backed aliases: no provider keys needed)."""
    target = Path(directory) / "daytwo.yaml"
    if target.exists() and not force:
        fail(f"{target} exists; use --force to overwrite it", 1)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(starter_config(), encoding="utf-8")
    except OSError as exc:
        fail(f"cannot write {target}: {exc.strerror}")
    click.echo(f"wrote {target}")
    click.echo(f"next: daytwo keys create --project hello --config {target}   (your first key)")
    click.echo(f"      daytwo serve --config {target}")
