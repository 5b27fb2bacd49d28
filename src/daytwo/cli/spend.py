"""``daytwo spend``: who spent what, and what changed, answered from the ledger's rollups.

Exit codes: 0 report printed, 1 runtime failure (no ledger, database unreachable, invalid
config), 2 usage error (bad duration, date or dimension). Every failure is one line on stderr.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, NoReturn

import click

from daytwo.cli.common import fail, ledger_url_or_fail, open_ledger_or_fail, parse_when
from daytwo.cli.oneline import OneLineCommand, OneLineUsageError
from daytwo.ledger.dims import REPORT_DIMS

if TYPE_CHECKING:
    from rich.console import Console

    from daytwo.ledger.report import GroupRow, SpendReport, Totals

DEFAULT_SINCE = "7d"
DIMENSIONS = REPORT_DIMS
_UNITS = {"m": 60, "h": 3_600, "d": 86_400, "w": 604_800}


class _UsageError(OneLineUsageError):
    prefix = "daytwo spend"


class _OneLineCommand(OneLineCommand):
    usage_error = _UsageError


def _fail(message: str) -> NoReturn:
    fail(message, prefix=_UsageError.prefix)


def parse_duration(text: str) -> timedelta:
    """``30m``, ``24h``, ``7d``, ``2w`` → a timedelta. Raises ValueError otherwise."""
    m = re.fullmatch(r"\s*(\d+)\s*([mhdw])\s*", text)
    if not m or int(m.group(1)) == 0:
        raise ValueError(f"--since: expected a duration such as 30m, 24h, 7d or 2w, got {text!r}")
    return timedelta(seconds=int(m.group(1)) * _UNITS[m.group(2)])


def _window(
    since: str | None, from_: str | None, to: str | None, by: str
) -> tuple[datetime, datetime]:
    if since is not None and (from_ is not None or to is not None):
        raise _UsageError("use either --since or --from/--to, not both")
    if from_ is None:
        if to is not None:
            raise _UsageError("--to needs --from")
        try:
            length = parse_duration(since or DEFAULT_SINCE)
        except ValueError as exc:
            raise _UsageError(str(exc)) from None
        from daytwo.ledger.report import trailing_window

        return trailing_window(length, by=by)
    start = parse_when("--from", from_, _UsageError)
    end = parse_when("--to", to, _UsageError) if to is not None else datetime.now(UTC)
    if end <= start:
        raise _UsageError("--to must be after --from")
    return start, end


@click.command(cls=_OneLineCommand)
@click.option(
    "--config",
    "config_path",
    metavar="PATH",
    help="daytwo.yaml to read ledger.url from [default: $DAYTWO_CONFIG, else ./daytwo.yaml].",
)
@click.option("--ledger", metavar="URL", help="Ledger URL (sqlite:///… or postgresql://…).")
@click.option("--since", metavar="DURATION", help="Window ending now: 30m, 24h, 7d, 2w [7d].")
@click.option(
    "--from", "from_", metavar="ISO", help="Window start (UTC unless an offset is given)."
)
@click.option("--to", metavar="ISO", help="Window end [now].")
@click.option("--by", default="project", show_default=True, help=f"{', '.join(DIMENSIONS)}.")
@click.option("--limit", default=10, show_default=True, type=click.IntRange(min=1))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of tables.")
def spend(
    config_path: str | None,
    ledger: str | None,
    since: str | None,
    from_: str | None,
    to: str | None,
    by: str,
    limit: int,
    as_json: bool,
) -> None:
    """Spend over a window by one dimension, compared with the window before it."""
    if by not in DIMENSIONS:
        raise _UsageError(f"--by: unknown dimension {by!r} (choose from {', '.join(DIMENSIONS)})")
    start, end = _window(since, from_, to, by)
    url = ledger_url_or_fail(ledger, config_path, _UsageError)

    from daytwo.ledger.errors import LedgerError
    from daytwo.ledger.report import spend_report

    store = open_ledger_or_fail(url, _UsageError.prefix)
    try:
        report = spend_report(store, start=start, end=end, by=by, limit=limit)
        where = store.safe_url
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

    console = Console(highlight=False, width=None if sys.stdout.isatty() else 120)
    render_report(report, console, ledger=where)


# ---------------------------------------------------------------------- tables


def render_report(r: SpendReport, console: Console, *, ledger: str | None = None) -> None:
    """Print a spend report as Rich tables (also used by ``daytwo demo``)."""
    from rich.table import Table

    from daytwo.core.money import format_usd

    t, p = r.totals, r.previous
    span = _span(r.end - r.start)
    console.print(
        f"[bold]Spend by {r.by}[/bold]  {_when(r.start)} → {_when(r.end)} UTC ({span}), "
        f"compared with the {span} before"
    )
    summary = Table.grid(padding=(0, 2))
    summary.add_row("Cost", format_usd(t.cost_nanousd), _vs(t.cost_nanousd, p.cost_nanousd, True))
    summary.add_row("Calls", f"{t.calls:,}", _vs(t.calls, p.calls, False))
    summary.add_row("Tokens", f"{t.input_tokens:,} in", f"{t.output_tokens:,} out")
    console.print(summary)
    if t.unpriced_calls:
        console.print(
            f"[bold red]⚠ {t.unpriced_calls:,} UNPRICED call(s): their cost is NOT in these "
            f"totals. Add a price (pricing.overrides) to count them.[/bold red]"
        )
    console.print(
        f"Failed calls: {_pct(r.failed_cost_share)} of cost   "
        f"Retried calls: {_pct(r.retried_cost_share)} of cost   "
        f"Unattributed: {t.unattributed_calls:,} calls ({_pct(r.unattributed_call_share)}), "
        f"{format_usd(t.unattributed_cost_nanousd)}"
    )
    resilience = _resilience(t)
    if resilience:
        console.print(resilience, soft_wrap=True)  # one line, even past the console's width

    groups = Table(title=f"By {r.by} ({r.group_count} with calls)", title_justify="left")
    for name in (r.by, "Cost", "Share", "Change", "Change %", "Calls", "In tok", "Out tok"):
        groups.add_column(name, justify="left" if name == r.by else "right")
    rows = [*r.groups, *([r.other] if r.other else [])]
    for i, g in enumerate(rows):
        label = f"(other {r.group_count - len(r.groups)})" if i == len(r.groups) else _key(g)
        groups.add_row(
            label,
            format_usd(g.cost_nanousd),
            _pct(g.share),
            _signed_usd(g.change_nanousd),
            _pct_change(g.change_pct),
            f"{g.calls:,}",
            f"{g.input_tokens:,}",
            f"{g.output_tokens:,}",
        )
    console.print(groups)

    if r.drivers:
        drivers = Table(title="Top drivers of the change", title_justify="left")
        for name in (r.by, "Before", "Now", "Change"):
            drivers.add_column(name, justify="left" if name == r.by else "right")
        for g in r.drivers:
            drivers.add_row(
                _key(g),
                format_usd(g.previous_cost_nanousd),
                format_usd(g.cost_nanousd),
                _signed_usd(g.change_nanousd),
            )
        console.print(drivers)
    if ledger:
        console.print(f"[dim]ledger: {ledger}[/dim]")


def _resilience(t: Totals) -> str:
    """``Retries: … · Cache: …``, each part only when it has something to say."""
    from daytwo.core.money import format_usd

    parts = []
    if t.extra_attempts or t.failed_attempts:
        parts.append(
            f"Retries: {_count(t.extra_attempts, 'extra attempt')} on "
            f"{_count(t.retried_calls, 'call')} ({_count(t.failed_attempts, 'failed attempt')}, "
            f"{format_usd(t.failed_attempt_cost_nanousd)} spent on them)"
        )
    if t.cache_hits or t.replays or t.saved_nanousd:
        parts.append(
            f"Cache: {_count(t.cache_hits, 'hit')}, {_count(t.replays, 'replay')}, "
            f"{format_usd(t.saved_nanousd)} saved"
        )
    return " · ".join(parts)


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def _key(g: GroupRow) -> str:
    return "(none)" if g.key is None else g.key


def _vs(now: int, before: int, money: bool) -> str:
    from daytwo.core.money import format_usd

    was = format_usd(before) if money else f"{before:,}"
    pct = None if before == 0 else (now - before) * 100 / before
    return f"{_pct_change(pct)} (was {was})"


def _signed_usd(nanos: int) -> str:
    from daytwo.core.money import format_usd

    return ("+" if nanos > 0 else "-" if nanos < 0 else "") + format_usd(abs(nanos))


def _pct(share: float | None) -> str:
    return "–" if share is None else f"{share * 100:.1f}%"


def _pct_change(pct: float | None) -> str:
    return "new" if pct is None else f"{pct:+.1f}%"


def _span(delta: timedelta) -> str:
    hours = int(delta.total_seconds() // 3600)
    return f"{hours // 24}d" if hours % 24 == 0 else f"{hours}h"


def _when(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M")
