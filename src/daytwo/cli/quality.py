"""``daytwo quality``: per evaluator and group (model, prompt version, workflow, ...), the rate
of good answers over a window against the window of the same length before it, from the
ledger's ``scores`` joined to ``calls`` (daytwo.quality.report).

Exit codes: 0 report printed, 1 runtime failure (no ledger, database unreachable, invalid
config), 2 usage error (bad duration or dimension). Every failure is one line on stderr.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, NoReturn

import click

from daytwo.cli.common import fail, ledger_url_or_fail, open_ledger_or_fail
from daytwo.cli.oneline import OneLineCommand, OneLineUsageError
from daytwo.cli.spend import parse_duration
from daytwo.ledger.dims import QUALITY_DIMS

if TYPE_CHECKING:
    from daytwo.quality.report import QualityReport, QualityRow, Window

DEFAULT_SINCE = "24h"
DIMENSIONS = QUALITY_DIMS


class _UsageError(OneLineUsageError):
    prefix = "daytwo quality"


class _OneLineCommand(OneLineCommand):
    usage_error = _UsageError


def _fail(message: str) -> NoReturn:
    fail(message, prefix=_UsageError.prefix)


@click.command(cls=_OneLineCommand)
@click.option(
    "--config",
    "config_path",
    metavar="PATH",
    help="daytwo.yaml to read ledger.url from [default: $DAYTWO_CONFIG, else ./daytwo.yaml].",
)
@click.option("--ledger", metavar="URL", help="Ledger URL (sqlite:///… or postgresql://…).")
@click.option("--since", default=DEFAULT_SINCE, show_default=True, metavar="DURATION",
              help="Window ending now: 30m, 24h, 7d, 2w.")  # fmt: skip
@click.option("--by", multiple=True, metavar="DIM",
              help=f"Group by (repeatable): {', '.join(DIMENSIONS)}.")  # fmt: skip
@click.option(
    "--evaluator", metavar="NAME", help="Only this evaluator (refusal, feedback:thumbs…)."
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
def quality(
    config_path: str | None,
    ledger: str | None,
    since: str,
    by: tuple[str, ...],
    evaluator: str | None,
    as_json: bool,
) -> None:
    """Rates per evaluator and group, compared with the window before."""
    try:
        length = parse_duration(since).total_seconds()
    except ValueError as exc:
        raise _UsageError(str(exc)) from None
    for name in by:
        if name not in DIMENSIONS:
            choices = ", ".join(DIMENSIONS)
            raise _UsageError(f"--by: unknown dimension {name!r} (choose from {choices})")
    if len(set(by)) != len(by):
        raise _UsageError("--by: a dimension is named twice")
    if evaluator is not None and not evaluator.strip():
        raise _UsageError("--evaluator: expected a name")
    url = ledger_url_or_fail(ledger, config_path, _UsageError)

    from daytwo.ledger.errors import LedgerError
    from daytwo.quality.report import quality_report

    store = open_ledger_or_fail(url, _UsageError.prefix)
    end = time.time()
    try:
        report = quality_report(store, end - length, end, by, evaluator=evaluator)
        where = store.safe_url
    except LedgerError as exc:
        _fail(exc.message)
    finally:
        store.close()
    if as_json:
        from daytwo.cli.common import echo_json

        echo_json({"ledger": where, **report.to_json()})
        return
    render(report, since, where)


def render(report: QualityReport, since: str, ledger: str) -> None:
    """The report as one Rich table."""
    from daytwo.cli.common import print_table, when

    title = (
        f"Quality {when(report.start)} → {when(report.end)} ({since}), "
        f"compared with the {since} before"
    )
    if not report.rows:
        click.echo(f"{title}: no scores in either window.")
    else:
        columns = ["evaluator", *report.by, "n", "rate", "95% CI", "previous", "Δ", "p", "verdict"]
        print_table(title, columns, (_cells(r) for r in report.rows))
        if any(r.approximate for r in report.rows):
            click.echo("~ scores between 0 and 1: successes are their sum, rounded")
    click.echo(f"ledger: {ledger}")


def _cells(r: QualityRow) -> list[str]:
    group = ["(none)" if r.group[d] is None else str(r.group[d]) for d in r.group]
    measured = r.verdict == "measurement"
    arrow = {"better": "↑ ", "worse": "↓ ", "no change": "= "}.get(r.verdict, "")
    name = r.evaluator + (" ~" if r.approximate else "")
    return [
        name,
        *group,
        str(r.now.n),
        _rate(r.now, measured),
        _ci(r.now),
        f"{_rate(r.before, measured)} (n={r.before.n})",
        "–" if r.delta is None else (f"{r.delta:+.1f}" if measured else f"{r.delta * 100:+.1f} pt"),
        "–" if r.p_value is None else f"{r.p_value:.3g}",
        arrow + r.verdict,
    ]


def _rate(w: Window, measured: bool) -> str:
    if w.mean is None:
        return "–"
    return f"{w.mean:.1f}" if measured else f"{w.mean * 100:.1f}%"


def _ci(w: Window) -> str:
    if w.ci_low is None or w.ci_high is None:
        return "–"
    return f"{w.ci_low * 100:.1f}–{w.ci_high * 100:.1f}%"
