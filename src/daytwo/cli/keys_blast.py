"""``daytwo keys blast-radius KEY_ID``: what a key was used for and can still do, for an
incident responder (:mod:`daytwo.keys.blast`).

The database is ``--ledger``, else the config's ``ledger.url``. The config (``--config``,
``$DAYTWO_CONFIG``, ``./daytwo.yaml`` when present) adds the configured budgets, rate limits,
request caps and the alias table to the key's own limits; without one the caps come from the
key alone and are priced at the models it was seen calling (the output says which).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

from daytwo.cli.common import (
    DEFAULT_CONFIG,
    echo_json,
    fail,
    load_or_fail,
    open_key_store,
    print_table,
    when,
)
from daytwo.cli.oneline import OneLineUsageError
from daytwo.core.money import format_usd

if TYPE_CHECKING:
    from daytwo.config.schema import Config
    from daytwo.keys.blast import BlastRadius, Dimension, Figures
    from daytwo.pricing.catalog import PriceBook


def report(
    key_id: str,
    since_s: float,
    top: int,
    ledger: str | None,
    config_path: str | None,
    as_json: bool,
    *,
    usage: type[OneLineUsageError],
) -> None:
    from daytwo.keys.blast import blast_radius

    config, source = _config(config_path, usage)
    prices = None if config is None else _prices(config, source, usage)
    url = ledger or (config.ledger.url if config is not None else None)
    now = time.time()
    with open_key_store(url, None, create=False, usage=usage) as store:
        radius = blast_radius(
            store, key_id, since=now - since_s, now=now, config=config, prices=prices, top=top
        )
    if as_json:
        echo_json(radius.to_json())
    else:
        render(radius, source)


def _config(
    config_path: str | None, usage: type[OneLineUsageError]
) -> tuple[Config | None, Path | None]:
    explicit = config_path or os.environ.get("DAYTWO_CONFIG")
    path = Path(explicit or DEFAULT_CONFIG)
    if not path.is_file():
        if explicit:
            raise usage(f"config file not found: {path}")
        return None, None
    return load_or_fail(str(path)), path


def _prices(config: Config, source: Path | None, usage: type[OneLineUsageError]) -> PriceBook:
    from daytwo.core.errors import ConfigError
    from daytwo.pricing.catalog import PriceBook

    try:
        return PriceBook.from_config(
            config.pricing, base_dir=None if source is None else source.parent
        )
    except ConfigError as exc:
        fail("; ".join(exc.problems), prefix=usage.prefix)


# ---------------------------------------------------------------------- output


def render(r: BlastRadius, config_source: Path | None) -> None:
    rec, now = r.record, r.now
    click.echo(f"key {rec.id} ({rec.prefix}…)  project {rec.spec.project}  state {rec.state(now)}")
    click.echo(
        f"created {when(rec.created_at)}  rotated from {rec.rotated_from or '–'}  "
        f"grace until {when(rec.grace_until)}  revoked {when(rec.revoked_at)}"
    )
    click.echo(
        f"first use {when(r.first_use)}  last use {when(r.last_use)}  "
        f"calls ever {r.lifetime_calls:,}"
    )
    click.echo(r.secret_scope)
    w = r.window
    click.echo(
        f"since {when(r.since)}: {w.calls:,} calls, {_cost(w)}, {w.errors:,} errors, "
        f"{w.input_tokens:,} in / {w.output_tokens:,} out tokens"
    )
    _caps(r, config_source)
    print_table(
        "per day (UTC)",
        ("day", "calls", "errors", "rejected", "cost", "in tokens", "out tokens"),
        (
            (
                d.to_json()["day"],
                f"{d.figures.calls:,}",
                f"{d.figures.errors:,}",
                f"{d.figures.rejected:,}",
                _cost(d.figures),
                f"{d.figures.input_tokens:,}",
                f"{d.figures.output_tokens:,}",
            )
            for d in r.days
        ),
    )
    single = [d for d in r.dimensions if d.distinct == 1]
    if single:
        print_table(
            "one value in the window",
            ("dimension", "value", "first seen", "last seen"),
            (
                (
                    d.name.replace("_", " "),
                    "–" if d.top[0].value is None else d.top[0].value,
                    when(d.top[0].figures.first_at),
                    when(d.top[0].figures.last_at),
                )
                for d in single
            ),
        )
    for dim in r.dimensions:
        if dim.distinct > 1:
            _dimension(dim)
    _impact(r)
    if len(r.chain) > 1:
        print_table(
            "rotation chain (oldest first)",
            ("key", "state", "created", "grace until", "calls", "cost", "last use"),
            (
                (
                    link.record.id + (" (this key)" if link.record.id == rec.id else ""),
                    link.record.state(now),
                    when(link.record.created_at),
                    when(link.record.grace_until),
                    f"{link.figures.calls:,}",
                    _cost(link.figures),
                    when(link.figures.last_at),
                )
                for link in r.chain
            ),
        )


def _dimension(dim: Dimension) -> None:
    rows = [
        (
            "–" if v.value is None else v.value,
            f"{v.figures.calls:,}",
            _cost(v.figures),
            f"{v.figures.errors:,}",
            when(v.figures.first_at),
            when(v.figures.last_at),
        )
        for v in dim.top
    ]
    if dim.other is not None:
        others = dim.distinct - len(dim.top)
        rows.append(
            (
                f"({others:,} other{'s' if others > 1 else ''})",
                f"{dim.other.calls:,}",
                _cost(dim.other),
                f"{dim.other.errors:,}",
                "",
                "",
            )
        )
    title = f"{dim.name.replace('_', ' ')} ({dim.distinct:,} distinct)"
    print_table(title, (dim.name, "calls", "cost", "errors", "first seen", "last seen"), rows)


def _caps(r: BlastRadius, config_source: Path | None) -> None:
    caps = r.caps
    source = config_source or "none (caps from the key's own limits only)"
    click.echo(f"config: {source}")
    print_table(
        f"caps (calendar days and months in {caps.timezone})",
        ("bound", "detail", "per day", "per month", "shared"),
        (
            (
                b.source,
                b.detail,
                _usd(b.per_day_nanos),
                _usd(b.per_month_nanos),
                "yes" if b.shared else "",
            )
            for b in caps.bounds
        ),
    )
    day, month = caps.per_day, caps.per_month
    click.echo(
        "max per day: "
        + ("unbounded" if day is None else f"{_usd(day.per_day_nanos)} ({day.source})")
        + "  max per month: "
        + ("unbounded" if month is None else f"{_usd(month.per_month_nanos)} ({month.source})")
    )
    models = "all" if caps.models is None else ",".join(caps.models)
    click.echo(
        f"rpm {caps.rpm or '–'}  tpm {caps.tpm or '–'}  models {models}"
        + (f"  unpriced: {', '.join(caps.unpriced)}" if caps.unpriced else "")
    )
    for line in caps.assumptions:
        click.echo(f"  assumes: {line}")


def _impact(r: BlastRadius) -> None:
    impact = r.impact
    recent = "; ".join(f"last {name}: {f.calls:,} calls, {_cost(f)}" for name, f in impact.recent)
    click.echo(recent)
    if impact.consumers:
        shown = len(impact.consumers)
        more = f", top {shown}" if impact.consumer_count > shown else ""
        print_table(
            f"consumers in the last 7 days ({impact.consumer_count:,}{more})",
            ("workflow", "feature", "agent", "client ip", "calls 24h", "calls 7d", "cost 7d",
             "last call"),
            (
                (
                    *("–" if v is None else v for _, v in c.fields),
                    *(f"{n:,}" for _, n, _ in c.recent),
                    format_usd(c.recent[-1][2]),
                    when(c.last_at),
                )
                for c in impact.consumers
            ),
        )  # fmt: skip
    for line in impact.revoke:
        click.echo(f"revoking now: {line}")
    for line in impact.rotate:
        click.echo(f"rotating: {line}")


def _cost(f: Figures) -> str:
    text = format_usd(f.cost_nanousd)
    return text + (f" (+{f.unpriced_calls:,} unpriced)" if f.unpriced_calls else "")


def _usd(nanos: int | None) -> str:
    return "–" if nanos is None else format_usd(nanos, 2)
