"""``daytwo report weekly``: the weekly review (daytwo.finops.weekly, docs/finops.md).

Prints the Markdown summary (or, with ``--json``, the whole review as one JSON object); writes
the self-contained HTML report with ``--html FILE`` and the summary with ``--markdown FILE``;
``--send`` posts the summary to the alert sinks named by ``finops.weekly.sinks``.

Exit codes: 0 done, 1 runtime failure (no ledger, invalid config, a delivery failed),
2 usage error. Every failure is one line on stderr.
"""

from __future__ import annotations

import os
import time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import click

from daytwo.cli.common import DEFAULT_CONFIG, echo_json, fail, open_ledger_or_fail
from daytwo.cli.oneline import OneLineCommand, OneLineUsageError

if TYPE_CHECKING:
    from daytwo.config.schema import Config
    from daytwo.finops.weekly import WeeklyReport

PREFIX = "daytwo report"
_FILE = click.Path(dir_okay=False, path_type=Path)


class _UsageError(OneLineUsageError):
    prefix = PREFIX


class _Command(OneLineCommand):
    usage_error = _UsageError


class _Group(click.Group):
    command_class = _Command


def _fail(message: str) -> NoReturn:
    fail(message, prefix=PREFIX)


@click.group(cls=_Group)
def report() -> None:
    """Reports for people: the weekly review (docs/finops.md)."""


@report.command()
@click.option(
    "--config",
    "config_path",
    metavar="PATH",
    help="daytwo.yaml [default: $DAYTWO_CONFIG, else ./daytwo.yaml if present].",
)
@click.option("--ledger", metavar="URL", help="Ledger URL [default: the config's ledger.url].")
@click.option("--week", metavar="YYYY-Www", help="An ISO week (UTC), e.g. 2026-W49.")
@click.option("--since", metavar="DURATION", help="Window ending now [default: 7d].")
@click.option("--html", "html_path", metavar="FILE", type=_FILE,
              help="Write the self-contained HTML report here.")  # fmt: skip
@click.option("--markdown", "md_path", metavar="FILE", type=_FILE,
              help="Write the Markdown summary here.")  # fmt: skip
@click.option("--send", is_flag=True, help="Send the summary to finops.weekly.sinks.")
@click.option("--json", "as_json", is_flag=True, help="Print the review as one JSON object.")
def weekly(
    config_path: str | None,
    ledger: str | None,
    week: str | None,
    since: str | None,
    html_path: Path | None,
    md_path: Path | None,
    send: bool,
    as_json: bool,
) -> None:
    """The weekly review: spend and its drivers week over week, forecast, budgets, top
    opportunities, reconciliation, quality and SLOs, incidents and alerts, prompts, rollouts,
    models nearing retirement."""
    from daytwo.cli.spend import parse_duration
    from daytwo.finops.weekly import iso_week

    if week is not None and since is not None:
        raise _UsageError("use either --week or --since, not both")
    if week is not None:
        try:
            start, end = iso_week(week)
        except ValueError as exc:
            raise _UsageError(f"--week: {exc}") from None
    else:
        from daytwo.ledger.report import trailing_window

        try:
            start, end = trailing_window(parse_duration(since or "7d"))
        except ValueError as exc:
            raise _UsageError(str(exc)) from None
    config, base_dir = _config(config_path)
    if send:
        from daytwo.finops.weekly_send import unknown_sinks

        if not config.finops.weekly.sinks:
            _fail("--send: no sinks in finops.weekly.sinks (see docs/finops.md)")
        missing = unknown_sinks(config)
        if missing:
            _fail(f"finops.weekly.sinks: no alert sink named {missing[0]!r} in alerts.sinks")

    url = ledger or config.ledger.url
    review = _build(config, base_dir, url, start, end)

    from daytwo.finops.weekly_render import html, markdown

    summary = markdown(review)
    for path, text in ((html_path, html(review) if html_path else ""), (md_path, summary)):
        if path is not None:
            try:
                path.write_text(text, encoding="utf-8")
            except OSError as exc:
                _fail(f"cannot write {path}: {exc.strerror or exc}")
    if as_json:
        echo_json(review.to_json())
    else:
        click.echo(summary, nl=False)
        if html_path is not None:
            click.echo(f"HTML report: {html_path}")
    if send:
        _send(config, url, summary, review.to_json(), week or review.start.strftime("%G-W%V"))


def _build(
    config: Config, base_dir: Path | None, url: str, start: datetime, end: datetime
) -> WeeklyReport:
    from daytwo.core.errors import DaytwoError
    from daytwo.finops.weekly import build_weekly
    from daytwo.finops.weekly_forecast import find_forecaster
    from daytwo.pricing.catalog import PriceBook

    book = PriceBook.from_config(config.pricing, base_dir=base_dir)
    store = open_ledger_or_fail(url, PREFIX)
    try:
        return build_weekly(
            store, start=start, end=end, config=config, book=book, forecaster=find_forecaster()
        )
    except DaytwoError as exc:
        _fail(exc.message)
    finally:
        store.close()


def _config(config_path: str | None) -> tuple[Config, Path | None]:
    from daytwo.config.load import load_config, validate_config
    from daytwo.core.errors import ConfigError

    explicit = config_path or os.environ.get("DAYTWO_CONFIG")
    path = Path(explicit or DEFAULT_CONFIG)
    if not path.is_file():
        if explicit:
            raise _UsageError(f"config file not found: {path}")
        return validate_config({}), None
    try:
        return load_config(path), path.parent
    except ConfigError as exc:
        _fail("; ".join(exc.problems))


def _send(config: Config, url: str, summary: str, detail: dict[str, object], week: str) -> None:
    from daytwo.alerts.history import AlertHistory
    from daytwo.core.errors import DaytwoError
    from daytwo.finops.weekly_send import notification, send

    n = notification(summary, week, {"report": detail}, time.time())
    results, rows = send(config, n, config.finops.weekly.sinks)
    try:
        history = AlertHistory.open(url, create=False)
        try:
            history.write(rows)
        finally:
            history.close()
    except DaytwoError as exc:  # the deliveries happened: say so, and why no record
        click.echo(f"{PREFIX}: not recorded in the alert history: {exc.message}", err=True)
    failed = [r for r in results if r.error is not None]
    for r in results:
        tries = f"{r.attempts} attempt" + ("s" if r.attempts != 1 else "")
        if r.error is None:
            click.echo(f"summary sent to {r.sink} ({r.type}) after {tries}", err=True)
        else:
            click.echo(f"{PREFIX}: {r.sink} ({r.type}): failed after {tries}: {r.error}", err=True)
    if failed:
        raise SystemExit(1)
