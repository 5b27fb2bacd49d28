"""``daytwo reconcile``: the ledger against a provider's bill, every difference attributed.

Reads ``finops.reconcile.providers`` from the config for the admin key (a reference), the base
URL, the daytwo providers the bill covers and the provider's ids of daytwo's keys. Exit codes:
0 report printed, 1 runtime failure (no config entry, admin API refused, ledger missing), 2
usage error. Every failure is one line on stderr; the admin key is never printed.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from typing import NoReturn

import click

from daytwo.cli.common import (
    echo_json,
    fail,
    load_or_fail,
    open_ledger_or_fail,
    parse_when,
    print_table,
)
from daytwo.cli.oneline import OneLineCommand, OneLineUsageError


class _UsageError(OneLineUsageError):
    prefix = "daytwo reconcile"


class _OneLineCommand(OneLineCommand):
    usage_error = _UsageError


def _fail(message: str) -> NoReturn:
    fail(message, prefix=_UsageError.prefix)


@click.command(cls=_OneLineCommand)
@click.option("--provider", "kind", type=click.Choice(["openai", "anthropic"]), required=True)
@click.option("--from", "from_", metavar="DATE", help="First UTC day [yesterday].")
@click.option("--to", metavar="DATE", help="Day after the last one [today].")
@click.option(
    "--config",
    "config_path",
    metavar="PATH",
    help="daytwo.yaml [default: $DAYTWO_CONFIG, else ./daytwo.yaml].",
)
@click.option("--ledger", metavar="URL", help="Ledger URL [the config's ledger.url].")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def reconcile(
    kind: str,
    from_: str | None,
    to: str | None,
    config_path: str | None,
    ledger: str | None,
    as_json: bool,
) -> None:
    """Compare the ledger with the provider's own usage and cost reports."""
    from daytwo.core.secrets import SecretError, SecretRegistry
    from daytwo.finops.provider_bills import BillError, fetch_bill
    from daytwo.finops.reconcile import read_ledger
    from daytwo.finops.reconcile import reconcile as compare
    from daytwo.pricing.catalog import PriceBook

    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    start = parse_when("--from", from_, _UsageError) if from_ else today - timedelta(days=1)
    end = parse_when("--to", to, _UsageError) if to else today + timedelta(days=1)
    if end <= start:
        raise _UsageError("--to must be after --from")
    cfg = load_or_fail(config_path or os.environ.get("DAYTWO_CONFIG", "daytwo.yaml"))
    entry = next((p for p in cfg.finops.reconcile.providers if p.kind == kind), None)
    if entry is None:
        _fail(f"finops.reconcile.providers has no entry of kind {kind}: add one with its admin_key")
    try:
        admin_key = SecretRegistry().resolve(entry.admin_key)
    except SecretError as exc:
        _fail(f"admin_key: {exc}")
    names = entry.ledger_providers or tuple(
        name for name, p in cfg.providers.items() if p.type == kind
    )
    deployments = {dep.id: dep.model for alias in cfg.models.values() for dep in alias.deployments}
    try:
        bill = fetch_bill(
            kind,  # type: ignore[arg-type]  # click.Choice checked it
            admin_key,
            start,
            end,
            base_url=None if entry.base_url is None else str(entry.base_url),
        )
    except BillError as exc:
        _fail(exc.message)
    store = open_ledger_or_fail(ledger or cfg.ledger.url, _UsageError.prefix)
    with store, store.connect() as conn:
        groups = read_ledger(conn, names, start, end, deployments)
    keys = None if entry.api_key_ids is None else frozenset(entry.api_key_ids)
    prices = PriceBook.from_config(cfg.pricing)
    report = compare(bill, groups, prices, start=start, end=end, provider_type=kind, key_ids=keys)
    if as_json:
        from daytwo.finops.reconcile import to_json

        echo_json(to_json(report))
        return
    from daytwo.core.money import format_usd

    print_table(
        f"{kind} bill vs ledger, {start:%Y-%m-%d} to {end:%Y-%m-%d}",
        ("day", "model", "billed", "ledger", "difference", "unexplained"),
        (
            (
                str(r.day),
                r.model,
                format_usd(r.billed_nanos),
                format_usd(r.ledger_nanos),
                format_usd(r.difference_nanos),
                format_usd(r.remainder_nanos),
            )
            for r in report.rows
        ),
    )
    for cause, nanos in report.causes.items():
        if nanos:
            click.echo(f"  {cause}: {format_usd(nanos)}")
    click.echo(
        f"unexplained remainder: {format_usd(report.remainder_nanos)} "
        f"({report.remainder_pct:.2f}% of the bill)"
    )
    for note in report.notes:
        click.echo(f"note: {note}")
