"""``daytwo optimize``: where the money is wasted, ranked by dollars per month, each opportunity
with its evidence and the command that acts on it (daytwo.finops.optimize, docs/finops.md).

Exit codes: 0 report printed, 1 runtime failure (no ledger, database unreachable, invalid
config), 2 usage error. Every failure is one line on stderr.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import click

from daytwo.cli.common import DEFAULT_CONFIG, echo_json, fail, open_ledger_or_fail
from daytwo.cli.oneline import OneLineCommand, OneLineUsageError
from daytwo.cli.spend import parse_duration

if TYPE_CHECKING:
    from daytwo.finops.optimize import Opportunity
    from daytwo.pricing.catalog import PriceBook

PREFIX = "daytwo optimize"
DEFAULT_SINCE = "30d"


class _UsageError(OneLineUsageError):
    prefix = PREFIX


class _Command(OneLineCommand):
    usage_error = _UsageError


def _fail(message: str) -> NoReturn:
    fail(message, prefix=PREFIX)


@click.command(cls=_Command)
@click.option(
    "--config",
    "config_path",
    metavar="PATH",
    help="daytwo.yaml for ledger.url and pricing [default: $DAYTWO_CONFIG, else ./daytwo.yaml].",
)
@click.option("--ledger", metavar="URL", help="Ledger URL (sqlite:///… or postgresql://…).")
@click.option("--since", default=DEFAULT_SINCE, show_default=True, metavar="DURATION",
              help="Window ending now: 24h, 7d, 30d.")  # fmt: skip
@click.option("--limit", default=10, show_default=True, type=click.IntRange(min=1))
@click.option("--reference", default=None, metavar="MODEL",
              help="The cheap model short calls are re-priced with [gpt-4o-mini].")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
def optimize(
    config_path: str | None,
    ledger: str | None,
    since: str,
    limit: int,
    reference: str | None,
    as_json: bool,
) -> None:
    """Opportunities to spend less, most dollars per month first; pick the top three."""
    try:
        length = parse_duration(since)
    except ValueError as exc:
        raise _UsageError(str(exc)) from None
    url, book = _config(config_path, ledger)

    from daytwo.finops.optimize import REFERENCE_MODEL, find_opportunities, reference_entry
    from daytwo.finops.optimize_read import read_aggregates
    from daytwo.ledger.errors import LedgerError
    from daytwo.ledger.report import snap_window, trailing_window

    try:
        ref = reference_entry(book, reference or REFERENCE_MODEL)
    except ValueError as exc:
        raise _UsageError(f"--reference: {exc}") from None
    start, end = trailing_window(length)
    lo, hi = snap_window(start, end)
    store = open_ledger_or_fail(url, PREFIX)
    try:
        agg = read_aggregates(store, lo, hi)
        where = store.safe_url
    except LedgerError as exc:
        _fail(exc.message)
    finally:
        store.close()
    found = find_opportunities(agg, book, ref)
    if as_json:
        echo_json(
            {
                "ledger": where,
                "since": since,
                "window": {"start": start.isoformat(), "end": end.isoformat()},
                "reference_model": ref.model,
                "opportunities": [
                    {"rank": i, "pick": i <= 3, **o.to_json()}
                    for i, o in enumerate(found[:limit], 1)
                ],
                "more": max(0, len(found) - limit),
            }
        )
        return
    _render(found[:limit], since, more=max(0, len(found) - limit))


def _config(config_path: str | None, ledger: str | None) -> tuple[str, PriceBook]:
    from daytwo.config.schema import PricingConfig
    from daytwo.core.errors import ConfigError
    from daytwo.ledger.store import DEFAULT_URL
    from daytwo.pricing.catalog import PriceBook

    explicit = config_path or os.environ.get("DAYTWO_CONFIG")
    path = Path(explicit or DEFAULT_CONFIG)
    if not path.is_file():
        if explicit:
            raise _UsageError(f"config file not found: {path}")
        return ledger or DEFAULT_URL, PriceBook.from_config(PricingConfig())
    from daytwo.config.load import load_config

    try:
        cfg = load_config(path)
        return ledger or cfg.ledger.url, PriceBook.from_config(cfg.pricing, base_dir=path.parent)
    except ConfigError as exc:
        _fail("; ".join(exc.problems))


def _render(found: list[Opportunity], since: str, *, more: int) -> None:
    import sys

    from rich.console import Console
    from rich.table import Table

    from daytwo.core.money import format_usd

    console = Console(highlight=False, width=None if sys.stdout.isatty() else 140)
    if not found:
        console.print(f"No opportunities found in the last {since}.")
        return
    table = Table(title=f"Where the money is wasted (last {since}, per month)")
    for col in ("#", "per month", "opportunity", "act"):
        table.add_column(col, justify="right" if col in ("#", "per month") else "left")
    for i, o in enumerate(found, 1):
        amount = "unknown" if o.monthly_nanousd is None else format_usd(o.monthly_nanousd)
        mark = f"[bold]{i} pick[/bold]" if i <= 3 else str(i)
        table.add_row(mark, amount, o.title, o.command)
    console.print(table)
    if more:
        console.print(f"{more} more (raise --limit to see them)")
