"""``daytwo alerts list|test|history``: the alert rules, a test notification, what happened.

They read the config file (``--config``, default ``$DAYTWO_CONFIG``, else ``./daytwo.yaml``)
and the ledger database it names (``--ledger`` overrides), where the gateway keeps the alert
history; no gateway needs to run.

* ``list`` -- every rule with its threshold, window and sinks, how many of its alerts are
  firing or pending now, and when it last fired (from the history the evaluating gateway
  writes);
* ``test [--sink NAME | --rule NAME]`` -- sends a test notification (marked as a test) to one
  sink, to a rule's sinks, or to every sink, with the configured retries; exit 1 if a delivery
  failed;
* ``history [--since 24h] [--rule NAME]`` -- transitions and delivery attempts, oldest first.

Exit codes: 0 done, 1 a delivery failed / the config or database is unusable, 2 usage error.
"""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Any, NoReturn

import click

from daytwo.cli.common import config_option, echo_json, fail, load_or_fail, print_table, when
from daytwo.cli.oneline import OneLineCommand, OneLineUsageError
from daytwo.core.errors import DaytwoError

if TYPE_CHECKING:
    from daytwo.alerts.history import AlertHistory, HistoryRow
    from daytwo.alerts.notify import Notification
    from daytwo.config.alerts import AlertRule
    from daytwo.config.schema import Config

_PREFIX = "daytwo alerts"
DASH = "–"


class _UsageError(OneLineUsageError):
    prefix = _PREFIX


class _OneLineCommand(OneLineCommand):
    usage_error = _UsageError


class _OneLineGroup(click.Group):
    command_class = _OneLineCommand


def _fail(message: str) -> NoReturn:
    fail(message, prefix=_PREFIX)


ledger_option = click.option(
    "--ledger", metavar="URL", help="Database URL [default: the config's ledger.url]."
)


@click.group(cls=_OneLineGroup)
def alerts() -> None:
    """Alert rules, test notifications and the alert history (see docs/alerting.md)."""


# ---------------------------------------------------------------------- list


@alerts.command("list")
@config_option
@ledger_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_(config_path: str, ledger: str | None, as_json: bool) -> None:
    """The rules, their alerts firing now, and when each last fired."""
    config = load_or_fail(config_path)
    firing: dict[str, list[HistoryRow]] = {}
    last: dict[str, float] = {}
    history = _history(ledger or config.ledger.url, required=False)
    if history is not None:
        try:
            rows = history.latest_transitions([r.name for r in config.alerts.rules])
            last = history.last_fired()
        except DaytwoError as exc:
            _fail(exc.message)
        finally:
            history.close()
        for row in rows:
            if row.state in ("firing", "pending"):
                firing.setdefault(row.rule, []).append(row)
    from daytwo.alerts.engine import with_defaults

    rules = [with_defaults(r, config) for r in config.alerts.rules]
    if as_json:
        echo_json([_rule_json(r, firing.get(r.name, []), last.get(r.name)) for r in rules])
        return
    if not rules:
        click.echo(f"no alert rules in {config_path} (see docs/alerting.md)")
        return
    print_table(
        "Alert rules",
        ("rule", "kind", "threshold", "window", "for", "severity", "sinks", "state", "last fired"),
        [
            (
                r.name,
                r.kind,
                _threshold(r),
                _seconds(r.window_s) if r.window_s else ("day" if r.kind == "daily_cost" else DASH),
                _seconds(r.for_),
                r.severity,
                ", ".join(r.sinks),
                _state(firing.get(r.name, [])),
                when(last.get(r.name)),
            )
            for r in rules
        ],
    )


def _rule_json(r: AlertRule, active: list[HistoryRow], last: float | None) -> dict[str, Any]:
    from daytwo.alerts.notify import iso

    return {
        "name": r.name,
        "kind": r.kind,
        "threshold": r.limit,
        "unit": r.spec.unit,
        "window_s": r.window_s,
        "for_s": r.for_,
        "severity": r.severity,
        "scope": r.scope.fields(),
        "by": list(r.group_by),
        "sinks": list(r.sinks),
        "cooldown_s": r.cooldown,
        "action": r.action,
        "alerts": [
            {
                "state": a.state,
                "labels": a.labels,
                "value": a.value,
                "since": iso(a.started_at or a.at),
            }
            for a in active
        ],
        "last_fired": iso(last),
    }


def _state(active: list[HistoryRow]) -> str:
    n_firing = sum(1 for a in active if a.state == "firing")
    n_pending = len(active) - n_firing
    parts = []
    if n_firing:
        parts.append(f"[bold red]firing ({n_firing})[/]")
    if n_pending:
        parts.append(f"[yellow]pending ({n_pending})[/]")
    return ", ".join(parts) or "[green]ok[/]"


def _threshold(r: AlertRule) -> str:
    from daytwo.alerts.notify import fmt

    if r.kind == "budget_threshold":
        return f"≥ {r.limit:g}% of a budget" + (f" ({r.budget})" if r.budget else "")
    if r.kind == "budget_projection":
        return f"> {r.limit:g}% of a budget projected" + (f" ({r.budget})" if r.budget else "")
    return "> " + fmt(r.limit, r.spec.unit)


def _seconds(s: float | None) -> str:
    if s is None:
        return DASH
    if s >= 3600 and s % 3600 == 0:
        return f"{s / 3600:g}h"
    if s >= 60 and s % 60 == 0:
        return f"{s / 60:g}m"
    return f"{s:g}s"


# ---------------------------------------------------------------------- test


@alerts.command()
@config_option
@ledger_option
@click.option("--sink", "sink_name", metavar="NAME", help="Send to this sink only.")
@click.option("--rule", "rule_name", metavar="NAME", help="Send as this rule, to its sinks.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def test(
    config_path: str,
    ledger: str | None,
    sink_name: str | None,
    rule_name: str | None,
    as_json: bool,
) -> None:
    """Send a test notification (exit 1 if a delivery fails)."""
    if sink_name is not None and rule_name is not None:
        raise _UsageError("use either --sink or --rule, not both")
    config = load_or_fail(config_path)
    cfg = config.alerts
    if sink_name is not None and sink_name not in cfg.sinks:
        raise _UsageError(f"--sink: no sink named {sink_name!r} (sinks: {_names(cfg.sinks)})")
    rules = {r.name: r for r in cfg.rules}
    if rule_name is not None and rule_name not in rules:
        raise _UsageError(f"--rule: no rule named {rule_name!r} (rules: {_names(rules)})")
    if not cfg.sinks:
        _fail(f"no alert sinks in {config_path} (see docs/alerting.md)")
    rule = rules.get(rule_name) if rule_name else None
    names = [sink_name] if sink_name else list(rule.sinks) if rule else list(cfg.sinks)
    n = _test_notification(rule)
    results, rows = _deliver(config, n, names)
    history = _history(ledger or config.ledger.url, required=False)
    if history is not None:
        try:
            history.write(rows)
        except DaytwoError as exc:  # the deliveries happened: say so, and why no record
            click.echo(f"{_PREFIX}: not recorded in the history: {exc.message}", err=True)
        finally:
            history.close()
    failed = [r for r in results if r["error"] is not None]
    if as_json:
        echo_json(results)
    else:
        for r in results:
            tries = f"{r['attempts']} attempt" + ("s" if r["attempts"] != 1 else "")
            if r["error"] is None:
                click.echo(f"sent to {r['sink']} ({r['type']}) after {tries}")
            else:
                click.echo(
                    f"{_PREFIX}: {r['sink']} ({r['type']}): failed after {tries}: {r['error']}",
                    err=True,
                )
    if failed:
        sys.exit(1)


def _test_notification(rule: AlertRule | None) -> Notification:
    from daytwo.alerts.engine import fingerprint
    from daytwo.alerts.notify import Notification

    now = time.time()
    if rule is None:
        return Notification(
            status="firing",
            rule="daytwo-test",
            kind="test",
            severity="info",
            labels={},
            value=None,
            threshold=0.0,
            unit="",
            started_at=now,
            at=now,
            fingerprint=fingerprint("daytwo-test", {}),
            test=True,
        )
    labels = {**rule.labels, **rule.scope.fields()}
    return Notification(
        status="firing",
        rule=rule.name,
        kind=rule.kind,
        severity=rule.severity,
        labels=labels,
        value=rule.limit,
        threshold=rule.limit,
        unit=rule.spec.unit,
        started_at=now,
        at=now,
        fingerprint=fingerprint(rule.name, {"test": "1"}),
        window_s=rule.window_s,
        test=True,
    )


def _deliver(
    config: Config, n: Notification, names: list[str]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    from dataclasses import asdict

    from daytwo.alerts.delivery import deliver_once
    from daytwo.alerts.engine import default_replica

    sent, rows = deliver_once(config.alerts, n, names, f"cli:{default_replica()}")
    return [asdict(s) for s in sent], rows


# ---------------------------------------------------------------------- history


@alerts.command()
@config_option
@ledger_option
@click.option(
    "--since",
    default="24h",
    show_default=True,
    metavar="DURATION",
    help="How far back: 30m, 24h, 7d, 2w.",
)
@click.option("--rule", "rule_name", metavar="NAME", help="Only this rule's alerts.")
@click.option(
    "--limit",
    default=200,
    show_default=True,
    type=click.IntRange(min=1),
    help="At most this many (the newest).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def history(
    config_path: str,
    ledger: str | None,
    since: str,
    rule_name: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """Alert transitions and delivery attempts, oldest first."""
    from daytwo.cli.spend import parse_duration

    try:
        span = parse_duration(since)
    except ValueError as exc:
        raise _UsageError(str(exc)) from None
    url = ledger or load_or_fail(config_path).ledger.url
    store = _history(url, required=True)
    assert store is not None
    try:
        rows = store.since(
            time.time() - span.total_seconds(),
            rules=[rule_name] if rule_name else None,
            limit=limit,
        )
    except DaytwoError as exc:
        _fail(exc.message)
    finally:
        store.close()
    if as_json:
        echo_json([r.to_json() for r in rows])
        return
    if not rows:
        click.echo(f"no alert events in the last {since}")
        return
    from rich.markup import escape

    print_table(
        f"Alert history, last {since}",
        ("time", "rule", "event", "labels", "value", "detail"),
        [
            (
                _time(r.at),
                escape(r.rule),
                _event(r),
                escape(", ".join(f"{k}={v}" for k, v in sorted(r.labels.items())) or DASH),
                DASH if r.value is None else f"{r.value:,.4g}",
                escape(r.detail or ("delivered" if r.outcome == "ok" else DASH)),
            )
            for r in rows
        ],
    )


_STATE_STYLE = {"firing": "bold red", "resolved": "green", "pending": "yellow"}


def _event(r: HistoryRow) -> str:
    if r.kind == "delivery":
        style = "green" if r.outcome == "ok" else "red"
        return f"[{style}]{r.state} → {r.sink} #{r.attempt}: {r.outcome}[/]"
    look = _STATE_STYLE.get(r.state)
    return f"[{look}]{r.state}[/]" if look else r.state


def _time(ts: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S")


# ---------------------------------------------------------------------- helpers


def _history(url: str, *, required: bool) -> AlertHistory | None:
    """The alert history in the ledger at ``url`` (None when there is no ledger yet and it is
    not ``required``)."""
    from daytwo.alerts.history import AlertHistory
    from daytwo.ledger.errors import LedgerNotFound

    try:
        return AlertHistory.open(url, create=False)
    except LedgerNotFound as exc:
        if not required:
            return None
        _fail(f"{exc.message} (pass --ledger URL, or run the gateway first)")
    except DaytwoError as exc:
        _fail(exc.message)


def _names(names: Any) -> str:
    return ", ".join(sorted(names)) or "none"
