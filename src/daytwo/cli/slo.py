"""``daytwo slo``: service-level objectives (docs/slos.md).

* ``status`` -- per SLO: objective, SLI over its window, error budget left, burn rate per
  alert window, how long the budget lasts at the last hour's burn, the alert firing; computed
  now from the ledger of ``--config``;
* ``rules`` -- Prometheus recording and burn-rate alerting rules for the SLOs Prometheus can
  compute from daytwo's metrics.

Exit codes: 0 done, 1 the config or the ledger is unusable, 2 usage error.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import click

from daytwo.cli.common import config_option, echo_json, fail, load_or_fail, print_table
from daytwo.cli.oneline import one_line_family

if TYPE_CHECKING:
    from daytwo.slo.status import SloStatus

PREFIX = "daytwo slo"
_UsageError, _Command, _Group = one_line_family(PREFIX)


@click.group(cls=_Group)
def slo() -> None:
    """Service-level objectives: error budgets, burn rates, Prometheus rules."""


@slo.command("status")
@config_option
@click.option("--ledger", metavar="URL", help="Database URL [default: the config's ledger.url].")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def status(config_path: str, ledger: str | None, as_json: bool) -> None:
    """Where each SLO stands now: SLI, budget left, burn rates, alerts firing."""
    from daytwo.core.errors import DaytwoError
    from daytwo.ledger.store import open_store
    from daytwo.slo.status import evaluate_slo

    config = load_or_fail(config_path)
    if not config.slos:
        if as_json:
            echo_json([])
            return
        click.echo(f"no SLOs in {config_path} (see docs/slos.md)")
        return
    try:
        store = open_store(ledger or config.ledger.url, create=False)
    except DaytwoError as exc:
        fail(f"{exc.message} (pass --ledger URL, or run the gateway first)", prefix=PREFIX)
    try:
        now = time.time()
        statuses = [evaluate_slo(store, s, now) for s in config.slos]
    except DaytwoError as exc:
        fail(exc.message, prefix=PREFIX)
    finally:
        store.close()
    if as_json:
        echo_json([s.to_json() for s in statuses])
        return
    print_table(
        "SLOs",
        [
            "slo",
            "sli",
            "objective",
            "sli now",
            "budget left",
            "burn rates",
            "exhausted in",
            "firing",
        ],
        [_row(s) for s in statuses],
    )


def _row(s: SloStatus) -> list[str]:
    data = s.to_json()
    bad, total = s.period_counts
    value = "–" if s.sli is None else f"{s.sli:.3%} ({total - bad}/{total})"
    rates = " ".join(f"{w}:{r:.1f}" for w, r in data["burn_rates"].items())
    return [
        s.slo.name,
        _sli_text(data["sli"]),
        f"{s.slo.objective:.3%} / {s.slo.window}",
        value,
        f"{s.budget_remaining:.1%}",
        rates,
        _duration(data["exhaustion_s"]),
        s.severity or "–",
    ]


def _sli_text(sli: dict[str, Any]) -> str:
    kind = str(sli["type"])
    if "le_ms" in sli:
        return f"{kind} ≤ {sli['le_ms']:g} ms"
    if sli.get("rubric"):
        return f"judge:{sli['rubric']} ≥ {sli['threshold']:g}"
    if sli.get("kind"):
        return f"feedback:{sli['kind']} ≥ {sli['threshold']:g}"
    return kind


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "never"
    if seconds <= 0:
        return "exhausted"
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds:.0f}s"


@slo.command("rules")
@config_option
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False), help="Write here [default: stdout]."
)
def rules(config_path: str, output: str | None) -> None:
    """Prometheus recording and multiwindow burn-rate alerting rules for the SLOs."""
    from pathlib import Path

    from daytwo.slo.prometheus import build_rules, dump_rules

    config = load_or_fail(config_path)
    built = build_rules(config.slos, config.incidents.runbook_base_url)
    for name, why in built.skipped:
        click.echo(f"{PREFIX}: skipped {name}: {why}", err=True)
    for name, what in built.notes:
        click.echo(f"{PREFIX}: {name}: {what}", err=True)
    text = dump_rules(built, config_path)
    if output is None:
        click.echo(text, nl=False)
        return
    Path(output).write_text(text)
    click.echo(f"wrote {len(built.groups)} SLO rule groups to {output}", err=True)
