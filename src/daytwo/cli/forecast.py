"""``daytwo forecast``: spend per series ahead with prediction intervals, month-end projections,
budget exhaustion dates, backtests and what-if scenarios (docs/finops.md, "Forecasts").

Exit codes: 0 forecast printed, 1 runtime failure (no ledger, database unreachable, invalid
config), 2 usage error (bad duration, dimension, time or scenario). Every failure is one line
on stderr.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import click

from daytwo.cli.common import (
    DEFAULT_CONFIG,
    fail,
    ledger_url_or_fail,
    load_or_fail,
    open_ledger_or_fail,
    parse_when,
)
from daytwo.cli.oneline import OneLineCommand, OneLineUsageError

if TYPE_CHECKING:
    from rich.console import Console

    from daytwo.config.schema import Config
    from daytwo.finops.forecast import Band, Forecast, SeriesForecast
    from daytwo.pricing.catalog import PriceBook

#: Mirrors daytwo.finops.forecast.FORECAST_DIMS (kept here so ``--help`` stays light).
DIMENSIONS = ("project", "workflow", "model", "provider", "feature", "agent", "environment")


class _UsageError(OneLineUsageError):
    prefix = "daytwo forecast"


class _OneLineCommand(OneLineCommand):
    usage_error = _UsageError


def _fail(message: str) -> NoReturn:
    fail(message, prefix=_UsageError.prefix)


def _days(option: str, text: str) -> int:
    from daytwo.cli.spend import parse_duration

    try:
        length = parse_duration(text)
    except ValueError:
        raise _UsageError(
            f"{option}: expected whole days or weeks such as 30d or 8w, got {text!r}"
        ) from None
    if length % timedelta(days=1):
        raise _UsageError(f"{option}: expected whole days or weeks such as 30d or 8w, got {text!r}")
    return length.days


@click.command(cls=_OneLineCommand)
@click.option(
    "--config",
    "config_path",
    metavar="PATH",
    help="daytwo.yaml (ledger, budgets, prices) [default: $DAYTWO_CONFIG, else ./daytwo.yaml].",
)
@click.option("--ledger", metavar="URL", help="Ledger URL (sqlite:///… or postgresql://…).")
@click.option("--by", default="project", show_default=True, help=f"{', '.join(DIMENSIONS)}.")
@click.option("--horizon", default="30d", show_default=True, help="How far ahead: 14d, 30d, 8w.")
@click.option("--since", default="8w", show_default=True, help="History to fit on: 4w, 8w, 90d.")
@click.option(
    "--limit",
    default=10,
    show_default=True,
    type=click.IntRange(min=1, max=100),
    help="Series fitted on their own (the rest are summed as `(other)`).",
)
@click.option("--backtest", is_flag=True, help="Also backtest each series (MAPE, coverage).")
@click.option(
    "--what-if",
    "what_if",
    metavar="SCENARIO",
    help='Re-price a series: "workflow=triage model=gpt-4o-mini".',
)
@click.option("--at", metavar="ISO", help="Forecast as of this instant [now].")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of tables.")
def forecast(
    config_path: str | None,
    ledger: str | None,
    by: str,
    horizon: str,
    since: str,
    limit: int,
    backtest: bool,
    what_if: str | None,
    at: str | None,
    as_json: bool,
) -> None:
    """Forecast spend per series, with intervals, month-end and budget exhaustion."""
    if by not in DIMENSIONS:
        raise _UsageError(f"--by: unknown dimension {by!r} (choose from {', '.join(DIMENSIONS)})")
    horizon_days = _days("--horizon", horizon)
    since_days = _days("--since", since)
    now = None if at is None else parse_when("--at", at, _UsageError).timestamp()
    from daytwo.core.errors import InvalidRequest

    scenario = None
    if what_if is not None:
        from daytwo.finops.forecast_whatif import parse_what_if

        try:
            scenario = parse_what_if(what_if)
        except InvalidRequest as exc:
            raise _UsageError(exc.message) from None
    url = ledger_url_or_fail(ledger, config_path, _UsageError)
    config = _config(config_path)

    from daytwo.finops.forecast import forecast as run
    from daytwo.ledger.errors import LedgerError

    prices = _prices(config, config_path) if scenario is not None else None
    spend = None if config is None else config.spend_control
    store = open_ledger_or_fail(url, _UsageError.prefix)
    try:
        report = run(
            store,
            by=by,
            horizon_days=horizon_days,
            since_days=since_days,
            now=now,
            limit=limit,
            budgets=() if spend is None else spend.budgets,
            timezone="UTC" if spend is None else spend.timezone,
            run_backtest=backtest,
            what_if=scenario,
            prices=prices,
        )
        where = store.safe_url
    except InvalidRequest as exc:
        raise _UsageError(exc.message) from None
    except LedgerError as exc:
        _fail(exc.message)
    finally:
        store.close()

    if as_json:
        import orjson

        data = {"ledger": where, **report.to_json()}
        click.echo(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode())
        return
    import sys

    from rich.console import Console

    console = Console(highlight=False, width=None if sys.stdout.isatty() else 140)
    render(report, console, ledger=where)


def _config(config_path: str | None) -> Config | None:
    """The config file when there is one (budgets, timezone, prices); None without. A file
    named explicitly (``--config``, ``$DAYTWO_CONFIG``) must exist."""
    explicit = config_path or os.environ.get("DAYTWO_CONFIG")
    path = Path(explicit or DEFAULT_CONFIG)
    if not path.is_file():
        if explicit:
            raise _UsageError(f"config file not found: {path}")
        return None
    return load_or_fail(str(path))


def _prices(config: Config | None, config_path: str | None) -> PriceBook:
    from daytwo.config.schema import PricingConfig
    from daytwo.core.errors import ConfigError
    from daytwo.pricing.catalog import PriceBook as Book

    try:
        if config is None:
            return Book.from_config(PricingConfig())
        base = Path(config_path or os.environ.get("DAYTWO_CONFIG") or DEFAULT_CONFIG).parent
        return Book.from_config(config.pricing, base_dir=base)
    except ConfigError as exc:
        _fail("; ".join(exc.problems))


# ---------------------------------------------------------------------- tables


def render(r: Forecast, console: Console, *, ledger: str | None = None) -> None:
    """Print a forecast as Rich tables."""
    from rich.table import Table

    from daytwo.core.money import format_usd

    console.print(
        f"[bold]Spend forecast by {r.by}[/bold]  as of {r.now:%Y-%m-%d %H:%M} UTC, "
        f"fitted on days since {r.history_start:%Y-%m-%d}, {r.horizon_days} days ahead"
    )
    table = Table(title=f"By {r.by} ({r.series_count} with spend)", title_justify="left")
    columns = [r.by, "Model", "Last 7d", f"Next {r.horizon_days}d", "80% interval", "Month-end"]
    backtested = r.total.backtest is not None
    if backtested:
        columns += ["MAPE", "80% cover", "95% cover"]
    for name in columns:
        table.add_column(name, justify="left" if name in (r.by, "Model") else "right")
    for s in (*r.series, r.total):
        row = [
            "TOTAL" if s.key is None else s.key or "(none)",
            s.model or "–",
            format_usd(s.last_7d),
            _mean(s.horizon),
            _interval(s.horizon),
            _mean(s.month_end),
        ]
        if backtested:
            row += _backtest_cells(s)
        table.add_row(*row)
    console.print(table)
    overall = r.backtest_overall
    if overall is not None:
        mape = "–" if overall["mape"] is None else f"{overall['mape'] * 100:.1f}%"
        cover = overall["coverage"]
        console.print(
            f"Backtest over {overall['series']} series ({overall['points']} days): MAPE {mape}, "
            f"80% interval covered {cover['p80'] * 100:.0f}%, 95% covered "
            f"{cover['p95'] * 100:.0f}%"
        )
    for s in (r.total, *r.series):
        if s.note:
            console.print(f"[dim]{'TOTAL' if s.key is None else s.key or '(none)'}: {s.note}[/dim]")
    if r.budgets:
        budgets = Table(title="Budgets", title_justify="left")
        for name in ("Budget", "Window", "Spent", "Projected", "80% interval", "Cap", "Runs out"):
            budgets.add_column(name, justify="left" if name in ("Budget", "Window") else "right")
        budgets.add_column("P(over)", justify="right")
        for b in r.budgets:
            budgets.add_row(
                b.name,
                f"{b.window} to {b.window_end:%m-%d %H:%M}",
                "–" if b.spent is None else format_usd(b.spent),
                _mean(b.projected),
                _interval(b.projected),
                format_usd(b.cap),
                "–" if b.exhaustion is None else f"{b.exhaustion:%Y-%m-%d %H:%M}",
                "–" if b.probability is None else f"{b.probability * 100:.0f}%",
            )
        console.print(budgets)
        for b in r.budgets:
            if b.note:
                console.print(f"[dim]{b.name}: {b.note}[/dim]")
    if r.what_if is not None:
        w = r.what_if
        console.print(f"[bold]What if {w.label}[/bold] (priced by {w.price_ref})")
        for label, before, after in (
            (w.label.split()[0], w.baseline, w.changed),
            ("TOTAL", w.baseline_total, r.total),
        ):
            console.print(
                f"  {label}: next {r.horizon_days}d {_mean(before.horizon)} → "
                f"{_mean(after.horizon)}; month-end {_mean(before.month_end)} → "
                f"{_mean(after.month_end)}"
            )
    for note in r.notes:
        console.print(f"[dim]{note}[/dim]")
    if ledger:
        console.print(f"[dim]ledger: {ledger}[/dim]")


def _mean(b: Band | None) -> str:
    from daytwo.core.money import format_usd

    return "–" if b is None else format_usd(b.mean)


def _interval(b: Band | None) -> str:
    from daytwo.core.money import format_usd

    return "–" if b is None else f"{format_usd(b.lo80)} – {format_usd(b.hi80)}"


def _backtest_cells(s: SeriesForecast) -> list[str]:
    bt = s.backtest
    if bt is None or not bt.points:
        return ["–", "–", "–"]
    mape = "–" if bt.mape is None else f"{bt.mape * 100:.1f}%"
    return [mape, *(f"{bt.coverage[level] * 100:.0f}%" for level in (0.80, 0.95))]
