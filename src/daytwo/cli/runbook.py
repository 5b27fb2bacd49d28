"""``daytwo runbook list`` and ``daytwo runbook show NAME [--format md]``: the runbooks that
come with daytwo and a team's own (``incidents.runbooks_dir``), docs/incidents.md.

The config file is optional: without one, the shipped runbooks. ``list`` also checks that every
alert rule's ``runbook:`` names a runbook that exists (exit 1 naming the rule if not).

Exit codes: 0 done, 1 a runbook file breaks the format, an unknown name (the line lists the
known ones) or a rule naming a missing runbook, 2 usage error.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import click

from daytwo.cli.common import DEFAULT_CONFIG, echo_json, fail, json_option, print_table
from daytwo.cli.oneline import one_line_family

if TYPE_CHECKING:
    from daytwo.config.schema import Config
    from daytwo.incidents.runbooks import Book

_PREFIX = "daytwo runbook"
_UsageError, _Command, _Group = one_line_family(_PREFIX)


def _fail(message: str) -> NoReturn:
    fail(message, prefix=_PREFIX)


def _config(config_path: str | None) -> tuple[Config | None, Path | None]:
    """The config (None when no file is named and ./daytwo.yaml does not exist)."""
    from daytwo.config.load import load_config
    from daytwo.core.errors import ConfigError

    explicit = config_path or os.environ.get("DAYTWO_CONFIG")
    path = Path(explicit or DEFAULT_CONFIG)
    if not path.is_file():
        if explicit:
            raise _UsageError(f"config file not found: {path}")
        return None, None
    try:
        return load_config(path), path.parent
    except ConfigError as exc:
        _fail("; ".join(exc.problems))


def _book(config: Config | None, base_dir: Path | None) -> Book:
    from daytwo.incidents.runbooks import RunbookError, load_book, team_dir

    folder = None if config is None else team_dir(config.incidents.runbooks_dir, base_dir)
    try:
        return load_book(folder)
    except RunbookError as exc:
        _fail(str(exc))


_config_option = click.option(
    "--config",
    "config_path",
    metavar="PATH",
    help="daytwo.yaml naming incidents.runbooks_dir [default: $DAYTWO_CONFIG, else "
    "./daytwo.yaml if present; without one: the shipped runbooks].",
)


@click.group(cls=_Group)
def runbook() -> None:
    """Runbooks: what to do for each kind of incident (docs/incidents.md)."""


@runbook.command("list")
@_config_option
@json_option
def list_(config_path: str | None, as_json: bool) -> None:
    """Every runbook: name, title, severity, who to page, the alerts that point to it."""
    from daytwo.incidents.runbooks import problems

    config, base_dir = _config(config_path)
    book = _book(config, base_dir)
    refs = []
    if config is not None:
        refs = [
            (f"alerts.rules.{i}.runbook", r.runbook)
            for i, r in enumerate(config.alerts.rules)
            if r.runbook is not None
        ]
    if as_json:
        echo_json(
            {
                "object": "list",
                "data": [
                    {k: v for k, v in book.runbooks[n].to_json().items() if k != "sections"}
                    for n in book.names()
                ],
            }
        )
    else:
        rows = []
        for name in book.names():
            r = book.runbooks[name]
            source = "yours (replaces shipped)" if name in book.overridden else r.source
            if source != "shipped" and name not in book.overridden:
                source = "yours"
            rows.append((name, r.title, r.severity, r.page, ", ".join(r.alerts) or "–", source))
        print_table("Runbooks", ("name", "title", "sev", "page", "alerts", "source"), rows)
    found = problems(book, refs)
    for line in found:
        click.echo(f"{_PREFIX}: {line}", err=True)
    if found:
        sys.exit(1)


@runbook.command()
@click.argument("name")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["rich", "md"]),
    default="rich",
    show_default=True,
    help="rich: laid out for the terminal; md: plain Markdown (to paste or publish).",
)
@_config_option
@json_option
def show(name: str, fmt: str, config_path: str | None, as_json: bool) -> None:
    """One runbook: symptoms, the first three checks, how to stop the bleeding, recovery,
    what to tell users, follow-ups."""
    from daytwo.incidents.runbooks import markdown, rich

    config, base_dir = _config(config_path)
    book = _book(config, base_dir)
    found = book.get(name)
    if found is None:
        _fail(f"no runbook named `{name}` (known: {', '.join(book.names())})")
    if as_json:
        echo_json(found.to_json())
    elif fmt == "md":
        click.echo(markdown(found), nl=False)
    else:
        from rich.console import Console

        Console(highlight=False, width=None if sys.stdout.isatty() else 100).print(rich(found))
