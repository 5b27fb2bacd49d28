"""``daytwo triage``: what changed? The incident window (``--since``, ending now) against a
baseline (the same length just before it, ``--baseline 24h-before``: the 24 hours before it, or
``--baseline-from/--baseline-to``), suspects ranked with their evidence
(daytwo.incidents.triage).

Exit codes: 0 whatever was found (it informs), 1 runtime failure (no ledger, database
unreachable, invalid config), 2 usage error. Every failure is one line on stderr.
"""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING

import click

from daytwo.cli.common import fail, ledger_url_or_fail, open_ledger_or_fail, parse_when
from daytwo.cli.oneline import OneLineCommand, OneLineUsageError
from daytwo.cli.spend import parse_duration

if TYPE_CHECKING:
    from daytwo.incidents.triage import Triage

DEFAULT_SINCE = "2h"


class _UsageError(OneLineUsageError):
    prefix = "daytwo triage"


class _OneLineCommand(OneLineCommand):
    usage_error = _UsageError


def baseline_span(
    start: float,
    baseline: str | None,
    baseline_from: str | None,
    baseline_to: str | None,
) -> tuple[float, float]:
    """The baseline of a window starting at ``start``: ``DURATION-before`` (the default: the
    window's own length, given as ``None``) or an explicit ISO range. Raises ``_UsageError``."""
    if baseline is not None and (baseline_from or baseline_to):
        raise _UsageError("use either --baseline or --baseline-from/--baseline-to, not both")
    if baseline_from or baseline_to:
        if not (baseline_from and baseline_to):
            raise _UsageError("--baseline-from and --baseline-to go together")
        low = parse_when("--baseline-from", baseline_from, _UsageError).timestamp()
        high = parse_when("--baseline-to", baseline_to, _UsageError).timestamp()
        if high <= low:
            raise _UsageError("--baseline-to must be after --baseline-from")
        return low, high
    assert baseline is not None
    m = re.fullmatch(r"\s*(\S+?)-before\s*", baseline)
    if m is None:
        raise _UsageError(f"--baseline: expected DURATION-before (24h-before), got {baseline!r}")
    try:
        length = parse_duration(m.group(1)).total_seconds()
    except ValueError:
        raise _UsageError(
            f"--baseline: expected DURATION-before (24h-before), got {baseline!r}"
        ) from None
    return start - length, start


@click.command(cls=_OneLineCommand)
@click.option("--since", default=DEFAULT_SINCE, show_default=True, metavar="DURATION",
              help="The incident window, ending now: 30m, 2h, 1d.")  # fmt: skip
@click.option("--baseline", metavar="DURATION-before",
              help="Baseline: the DURATION before the window [default: its length].")  # fmt: skip
@click.option("--baseline-from", metavar="ISO", help="Baseline start (with --baseline-to).")
@click.option("--baseline-to", metavar="ISO", help="Baseline end.")
@click.option("--project", metavar="P", help="Only this project's calls.")
@click.option("--workflow", metavar="W", help="Only this workflow's calls.")
@click.option("--alias", metavar="A", help="Only calls to this model alias.")
@click.option(
    "--config",
    "config_path",
    metavar="PATH",
    help="daytwo.yaml to read ledger.url from [default: $DAYTWO_CONFIG, else ./daytwo.yaml].",
)
@click.option("--ledger", metavar="URL", help="Ledger URL (sqlite:///… or postgresql://…).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
def triage(
    since: str,
    baseline: str | None,
    baseline_from: str | None,
    baseline_to: str | None,
    project: str | None,
    workflow: str | None,
    alias: str | None,
    config_path: str | None,
    ledger: str | None,
    as_json: bool,
) -> None:
    """What changed? Suspects ranked, the likely cause first."""
    try:
        length = parse_duration(since).total_seconds()
    except ValueError as exc:
        raise _UsageError(str(exc)) from None
    end = time.time()
    start = end - length
    if baseline is None and not (baseline_from or baseline_to):
        baseline = f"{since.strip()}-before"
    base = baseline_span(start, baseline, baseline_from, baseline_to)
    if base[0] < end and start < base[1]:
        raise _UsageError("the baseline overlaps the incident window")
    for name, value in (("--project", project), ("--workflow", workflow), ("--alias", alias)):
        if value is not None and not value.strip():
            raise _UsageError(f"{name}: expected a name")
    url = ledger_url_or_fail(ledger, config_path, _UsageError)

    from daytwo.incidents.triage import triage as run
    from daytwo.ledger.errors import LedgerError

    store = open_ledger_or_fail(url, _UsageError.prefix)
    try:
        result = run(
            store,
            window=(start, end),
            baseline=base,
            project=project,
            workflow=workflow,
            alias=alias,
            since=since.strip(),
        )
        where = store.safe_url
    except LedgerError as exc:
        fail(exc.message, prefix=_UsageError.prefix)
    finally:
        store.close()
    if as_json:
        from daytwo.cli.common import echo_json

        echo_json({"ledger": where, **result.to_json()})
        return
    render(result, since, where)


def render(result: Triage, since: str, ledger: str) -> None:
    """The suspects as one Rich table, then each one's why and where to dig."""
    from daytwo.cli.common import print_table, when

    title = (
        f"Triage {when(result.window.start)} → {when(result.window.end)} ({since}, "
        f"{result.window_calls} calls) against {when(result.baseline.start)} → "
        f"{when(result.baseline.end)} ({result.baseline_calls} calls)"
    )
    for note in result.notes:
        click.echo(f"note: {note}")
    if not result.suspects:
        click.echo(f"{title}: nothing changed that triage can see.")
    else:
        columns = ["#", "kind", "what changed", "before", "after", "when", "calls", "score"]
        print_table(
            title,
            columns,
            (
                [
                    str(s.rank),
                    s.kind,
                    s.what,
                    s.before,
                    s.after,
                    when(s.when),
                    str(s.calls),
                    f"{s.score:.2f}" + (f" ← #{s.consequence_of}" if s.consequence_of else ""),
                ]
                for s in result.suspects
            ),
        )
        for s in result.suspects:
            if s.consequence_of is not None:
                continue
            click.echo(f"#{s.rank} {s.why}")
            for line in s.evidence:
                click.echo(f"    evidence: {line}")
            for command in s.dig:
                click.echo(f"    dig: {command}")
    click.echo(f"ledger: {ledger}")
