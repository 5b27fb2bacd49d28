"""``daytwo models check``: configured and recently served models that the providers retire.

Exit codes: 0 nothing retired or retiring within the window (deprecations are listed, not
failed), 1 something is (so CI can gate on it) or a runtime failure (invalid config, ledger
unreachable), 2 usage error. Every failure is one line on stderr.
"""

from __future__ import annotations

import os
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from daytwo.cli.oneline import OneLineCommand, OneLineUsageError

if TYPE_CHECKING:
    from daytwo.config.schema import Config
    from daytwo.lifecycle.check import Finding, ModelUse

DEFAULT_DAYS = 90
DEFAULT_SINCE = "30d"


class _UsageError(OneLineUsageError):
    prefix = "daytwo models"


class _Command(OneLineCommand):
    usage_error = _UsageError


class _Group(click.Group):
    command_class = _Command

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        try:
            return super().resolve_command(ctx, args)
        except click.UsageError as exc:
            raise _UsageError(exc.format_message()) from None


def _fail(message: str) -> NoReturn:
    click.echo(f"daytwo models: {message}", err=True)
    raise SystemExit(1)


@click.group(cls=_Group)
def models() -> None:
    """Model lifecycle: deprecations and retirements of the models you use."""


@models.command()
@click.option(
    "--config",
    "config_path",
    metavar="PATH",
    help="daytwo.yaml whose deployments to check [default: $DAYTWO_CONFIG, else ./daytwo.yaml].",
)
@click.option("--ledger", metavar="URL", help="Ledger URL [default: the config's ledger.url].")
@click.option(
    "--days",
    default=DEFAULT_DAYS,
    show_default=True,
    type=click.IntRange(min=0),
    help="Fail on models retiring within this many days.",
)
@click.option(
    "--since",
    default=DEFAULT_SINCE,
    show_default=True,
    metavar="DURATION",
    help="Also check models served in this window (30m, 24h, 7d, 2w).",
)
@click.option("--today", metavar="YYYY-MM-DD", help="Check as of this date [today, UTC].")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def check(
    config_path: str | None,
    ledger: str | None,
    days: int,
    since: str,
    today: str | None,
    as_json: bool,
) -> None:
    """List configured or recently used models that are deprecated or retire within --days."""
    from daytwo.cli.spend import parse_duration

    try:
        window = parse_duration(since)
    except ValueError as exc:
        raise _UsageError(str(exc)) from None
    day = _today(today)
    cfg, cfg_path = _config(config_path, required=ledger is None)

    from daytwo.lifecycle.catalog import load_bundled
    from daytwo.lifecycle.check import check as run_check
    from daytwo.lifecycle.check import configured_models

    uses: list[ModelUse] = [] if cfg is None else configured_models(cfg)
    url = ledger or (None if cfg is None else cfg.ledger.url)
    where = None
    if url is not None:
        where, served = _served(url, time.time() - window.total_seconds(), since, cfg, ledger)
        uses.extend(served)
    catalog = load_bundled()
    findings = run_check(uses, day, days, catalog=catalog)
    failing = [f for f in findings if f.failing]

    if as_json:
        import orjson

        doc: dict[str, Any] = {
            "today": day.isoformat(),
            "within_days": days,
            "since": since,
            "config": cfg_path,
            "ledger": where,
            "catalog_version": catalog.version,
            "failing": len(failing),
            "findings": [f.to_json() for f in findings],
        }
        click.echo(orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode())
    else:
        _render(findings, day=day, days=days, catalog_version=catalog.version, ledger=where)
    if failing:
        sys.exit(1)


def _today(text: str | None) -> date:
    if text is None:
        return datetime.now(UTC).date()
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise _UsageError(f"--today: expected a date YYYY-MM-DD, got {text!r}") from None


def _config(path: str | None, *, required: bool) -> tuple[Config | None, str | None]:
    explicit = path or os.environ.get("DAYTWO_CONFIG")
    file = Path(explicit or "daytwo.yaml")
    if not file.is_file():
        if explicit:
            raise _UsageError(f"config file not found: {file}")
        if required:
            raise _UsageError("nothing to check: no ./daytwo.yaml; pass --config or --ledger")
        return None, None
    from daytwo.config.load import load_config
    from daytwo.core.errors import ConfigError

    try:
        return load_config(file), str(file)
    except ConfigError as exc:
        _fail("; ".join(exc.problems))


def _served(
    url: str, since_ts: float, since: str, cfg: Config | None, explicit: str | None
) -> tuple[str | None, list[ModelUse]]:
    from daytwo.ledger.errors import LedgerError, LedgerNotFound
    from daytwo.ledger.store import open_store
    from daytwo.ledger.usage import models_served_since
    from daytwo.lifecycle.check import ModelUse

    try:
        store = open_store(url, create=False)
    except LedgerNotFound as exc:
        if explicit:
            _fail(exc.message)
        # The gateway has not written a ledger yet: the configured models are still checked.
        click.echo(f"daytwo models: {exc.message}; checking configured models only", err=True)
        return None, []
    except LedgerError as exc:
        _fail(exc.message)
    try:
        rows = models_served_since(store, since_ts)
        where = store.safe_url
    except LedgerError as exc:
        _fail(exc.message)
    finally:
        store.close()
    providers = {} if cfg is None else cfg.providers
    uses = []
    for row in rows:
        spec = providers.get(row.provider) if row.provider else None
        via = f" via {row.provider}" if row.provider else ""
        uses.append(
            ModelUse(
                model=row.model,
                where=f"{row.calls:,} calls in the last {since}{via}",
                provider=row.provider,
                provider_type=None if spec is None else spec.type,
            )
        )
    return where, uses


def _render(
    findings: list[Finding], *, day: date, days: int, catalog_version: str, ledger: str | None
) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False, width=None if sys.stdout.isatty() else 160)
    failing = sum(f.failing for f in findings)
    if not findings:
        console.print(f"No deprecated models in use; nothing retires within {days} days of {day}.")
    else:
        table = Table(
            title=f"Model lifecycle as of {day} (window {days} days)", title_justify="left"
        )
        for name in ("Model", "Status", "Date", "Days left", "Successor", "Used by"):
            table.add_column(name, justify="right" if name == "Days left" else "left")
        style = {"retired": "bold red", "retiring": "yellow", "deprecated": "dim"}
        for f in findings:
            table.add_row(
                f"{f.model}\n[dim]{f.entry.key}[/dim]",
                f"[{style[f.status]}]{f.status}[/]",
                f.date.isoformat(),
                str(f.days_left),
                f.successor or (f"[dim]{f.entry.note}[/dim]" if f.entry.note else "–"),
                "\n".join(f.used_in),
            )
        console.print(table)
        console.print(
            f"{failing} model(s) retired or retiring within {days} days, "
            f"{len(findings) - failing} deprecated later."
        )
    console.print(
        f"[dim]lifecycle catalog {catalog_version}"
        + (f"; ledger: {ledger}" if ledger else "")
        + "[/dim]"
    )
