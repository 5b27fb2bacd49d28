"""A key's blast radius: everything one virtual key was used for, and what it can still do.

For an incident responder holding a key id (a leaked secret, a runaway service):

* the key: its state, rotation chain, first and last use;
* what it did in the window (``since``, default 30 days): calls, spend, tokens and errors per
  UTC day, and every project, workflow, feature, agent, environment, user, alias, served
  model, provider, deployment and client IP it was used from, each with calls, spend and
  first/last seen (the ``top`` values by calls, with the count of all of them and the rest
  summed: a key used from 100,000 addresses is one line, not 100,000);
* its caps (:mod:`daytwo.keys.caps`): the most it can cost per day and per month;
* what revoking it now would stop (its calls of the last 24 h and 7 days, from which
  workflow, feature, agent and client IP), and what rotating it would take.

A secret belongs to exactly one key id: ``rotate`` issues a new secret under a new id. The
blast radius of a leaked secret is therefore the usage of the key id it authenticates as;
the chain of rotations around it is listed, each key with its own usage, because each of
their secrets is a separate credential.

Cost: every query reads only the key's own rows through the ledger's ``(key_id,
started_at)`` index, and aggregates in the database -- one grouped query for the totals, one
for the days, one per dimension (ranked and limited in SQL), one for the recent consumers,
one for the chain. Nothing loops over calls in Python.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from daytwo.config.schema import Config, GatewayConfig, PricingConfig
from daytwo.config.spend import SpendControlConfig
from daytwo.core.money import format_usd
from daytwo.keys.caps import Caps, PricedModel, key_caps
from daytwo.keys.model import KeyRecord
from daytwo.keys.store import KeyStore
from daytwo.ledger.report import money
from daytwo.ledger.schema import DAY, calls
from daytwo.pricing.catalog import PriceBook

#: What a dimension's values are read from (``calls`` columns).
DIMENSIONS = (
    "project",
    "workflow",
    "feature",
    "agent",
    "environment",
    "user",
    "alias",
    "served_model",
    "provider",
    "deployment",
    "client_ip",
)
#: What identifies a consumer that revoking or rotating the key would break.
CONSUMER_FIELDS = ("workflow", "feature", "agent", "client_ip")
#: The recent windows revoking is measured over.
RECENT = (("24h", DAY), ("7d", 7 * DAY))
DEFAULT_SINCE_S = 30 * DAY
DEFAULT_TOP = 10
MAX_TOP = 1000
#: How long the old key keeps working after ``daytwo keys rotate`` by default.
DEFAULT_GRACE_S = DAY


@dataclass(frozen=True, slots=True)
class Figures:
    """Sums over a set of the key's calls. ``cost_nanousd`` counts priced calls only."""

    calls: int = 0
    errors: int = 0
    rejected: int = 0
    cost_nanousd: int = 0
    unpriced_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    first_at: float | None = None
    last_at: float | None = None

    def minus(self, parts: Sequence[Figures]) -> Figures:
        """What is left of these figures once ``parts`` are taken out (first/last unknown)."""
        left = {
            f.name: getattr(self, f.name) - sum(getattr(p, f.name) for p in parts)
            for f in fields(self)
            if f.name not in ("first_at", "last_at")
        }
        return Figures(**left)

    def to_json(self) -> dict[str, Any]:
        return {
            "calls": self.calls,
            "errors": self.errors,
            "rejected": self.rejected,
            "cost": money(self.cost_nanousd),
            "unpriced_calls": self.unpriced_calls,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "first_at": self.first_at,
            "last_at": self.last_at,
        }


@dataclass(frozen=True, slots=True)
class Day:
    start: int
    figures: Figures

    def to_json(self) -> dict[str, Any]:
        day = datetime.fromtimestamp(self.start, UTC).date().isoformat()
        return {"day": day, "start": self.start, **self.figures.to_json()}


@dataclass(frozen=True, slots=True)
class Value:
    value: str | None
    figures: Figures

    def to_json(self) -> dict[str, Any]:
        return {"value": self.value, **self.figures.to_json()}


@dataclass(frozen=True, slots=True)
class Dimension:
    name: str
    #: How many values (``null`` counted as one) the key's calls had in the window.
    distinct: int
    top: tuple[Value, ...]
    #: The other values' calls, summed (None when ``top`` holds them all).
    other: Figures | None

    def to_json(self) -> dict[str, Any]:
        return {
            "distinct": self.distinct,
            "top": [v.to_json() for v in self.top],
            "other": None if self.other is None else self.other.to_json(),
        }


@dataclass(frozen=True, slots=True)
class Consumer:
    """One (workflow, feature, agent, client IP) the key was used from in the last 7 days."""

    fields: tuple[tuple[str, str | None], ...]
    recent: tuple[tuple[str, int, int], ...]  # (window, calls, cost in nano-dollars)
    last_at: float

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = dict(self.fields)
        for name, n, cost in self.recent:
            out[f"calls_{name}"] = n
            out[f"cost_{name}"] = money(cost)
        out["last_at"] = self.last_at
        return out


@dataclass(frozen=True, slots=True)
class Impact:
    """What revoking the key now would stop, and what rotating it would take."""

    #: Whether the key authenticates now (nothing to stop otherwise).
    usable: bool
    recent: tuple[tuple[str, Figures], ...]
    consumers: tuple[Consumer, ...]
    #: All consumers of the last 7 days (``consumers`` holds the ``top`` by calls).
    consumer_count: int
    #: Gateways stop accepting a revoked key within their key-cache TTL.
    propagation_s: float
    revoke: tuple[str, ...]
    rotate: tuple[str, ...]
    can_rotate: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "usable": self.usable,
            "recent": {name: f.to_json() for name, f in self.recent},
            "consumers": [c.to_json() for c in self.consumers],
            "consumer_count": self.consumer_count,
            "propagation_s": self.propagation_s,
            "revoke": list(self.revoke),
            "rotate": list(self.rotate),
            "can_rotate": self.can_rotate,
        }


@dataclass(frozen=True, slots=True)
class Link:
    """One key of the rotation chain, with its usage in the window."""

    record: KeyRecord
    figures: Figures

    def to_json(self, now: float) -> dict[str, Any]:
        r = self.record
        return {
            "id": r.id,
            "prefix": r.prefix + "…",
            "state": r.state(now),
            "created_at": r.created_at,
            "rotated_from": r.rotated_from,
            "grace_until": r.grace_until,
            "revoked_at": r.revoked_at,
            **self.figures.to_json(),
        }


@dataclass(frozen=True, slots=True)
class BlastRadius:
    record: KeyRecord
    now: float
    since: float
    first_use: float | None
    last_use: float | None
    lifetime_calls: int
    window: Figures
    days: tuple[Day, ...]
    dimensions: tuple[Dimension, ...]
    caps: Caps
    impact: Impact
    #: The rotation chain, oldest first (this key included).
    chain: tuple[Link, ...]

    @property
    def secret_scope(self) -> str:
        others = [link.record.id for link in self.chain if link.record.id != self.record.id]
        text = (
            f"a leaked secret of this key authenticates as {self.record.id} only: its blast "
            f"radius is this key id's usage"
        )
        if others:
            text += f"; the other keys of its rotation chain ({', '.join(others)}) have their "
            text += "own secrets"
        return text

    def dimension(self, name: str) -> Dimension:
        return next(d for d in self.dimensions if d.name == name)

    def to_json(self) -> dict[str, Any]:
        return {
            "object": "key_blast_radius",
            "key": self.record.to_json(self.now),
            "as_of": self.now,
            "since": self.since,
            "secret_scope": self.secret_scope,
            "first_use": self.first_use,
            "last_use": self.last_use,
            "lifetime_calls": self.lifetime_calls,
            "window": self.window.to_json(),
            "days": [d.to_json() for d in self.days],
            "dimensions": {d.name: d.to_json() for d in self.dimensions},
            "caps": self.caps.to_json(),
            "impact": self.impact.to_json(),
            "rotation_chain": [link.to_json(self.now) for link in self.chain],
        }


def blast_radius(
    store: KeyStore,
    key_id: str,
    *,
    since: float | None = None,
    now: float | None = None,
    config: Config | None = None,
    prices: PriceBook | None = None,
    top: int = DEFAULT_TOP,
) -> BlastRadius:
    """The blast radius of ``key_id`` over the calls started at or after ``since`` (default:
    30 days before ``now``). ``config`` supplies the configured budgets, rate limits, request
    caps, alias table and key-cache TTL (without it only the key's own limits count and the
    models it may reach are those it was seen calling); ``prices`` the price book (default:
    built from ``config.pricing``). Raises :class:`~daytwo.keys.errors.KeyNotFound`."""
    if not 1 <= top <= MAX_TOP:
        raise ValueError(f"top must be between 1 and {MAX_TOP}")
    now = time.time() if now is None else now
    since = now - DEFAULT_SINCE_S if since is None else since
    record = store.require(key_id)
    chain = _chain(store, record)
    if prices is None:
        prices = PriceBook.from_config(config.pricing if config else PricingConfig())
    key = calls.c.key_id == key_id
    in_window = sa.and_(key, calls.c.started_at >= since)
    with store.read() as conn:
        lifetime = _figures(conn.execute(sa.select(*_sums()).where(key)).mappings().one())
        window = _figures(conn.execute(sa.select(*_sums()).where(in_window)).mappings().one())
        days = _days(conn, in_window)
        dims = tuple(_dimension(conn, name, in_window, window, top) for name in DIMENSIONS)
        recent, consumers, consumer_count = _consumers(conn, key, now, top)
        usage = _chain_usage(conn, [r.id for r in chain], since)
    reachable, basis = _reachable(record, config, prices, dims)
    spend = config.spend_control if config is not None else SpendControlConfig()
    caps = key_caps(record, spend=spend, reachable=reachable, basis=basis, now=now)
    ttl = (config.gateway if config is not None else GatewayConfig()).key_cache_ttl_s
    impact = _impact(record, now, recent, consumers, consumer_count, ttl)
    return BlastRadius(
        record=record,
        now=now,
        since=since,
        first_use=lifetime.first_at,
        last_use=lifetime.last_at,
        lifetime_calls=lifetime.calls,
        window=window,
        days=days,
        dimensions=dims,
        caps=caps,
        impact=impact,
        chain=tuple(Link(r, usage.get(r.id, Figures())) for r in chain),
    )


# ---------------------------------------------------------------------- queries


def _sums() -> list[sa.Label[Any]]:
    c = calls.c
    used_tokens = c.input_tokens + c.output_tokens > 0
    return [
        sa.func.count().label("calls"),
        sa.func.sum(sa.case((c.status == "error", 1), else_=0)).label("errors"),
        sa.func.sum(sa.case((c.status == "rejected", 1), else_=0)).label("rejected"),
        sa.func.sum(c.cost_nanousd).label("cost_nanousd"),
        sa.func.sum(sa.case((sa.and_(c.cost_nanousd.is_(None), used_tokens), 1), else_=0)).label(
            "unpriced_calls"
        ),
        sa.func.sum(c.input_tokens).label("input_tokens"),
        sa.func.sum(c.output_tokens).label("output_tokens"),
        sa.func.min(c.started_at).label("first_at"),
        sa.func.max(c.started_at).label("last_at"),
    ]


def _figures(row: sa.RowMapping) -> Figures:
    # PostgreSQL's SUM(bigint) is numeric (a Decimal); an empty set sums to NULL.
    def whole(name: str) -> int:
        return int(row[name] or 0)

    return Figures(
        calls=whole("calls"),
        errors=whole("errors"),
        rejected=whole("rejected"),
        cost_nanousd=whole("cost_nanousd"),
        unpriced_calls=whole("unpriced_calls"),
        input_tokens=whole("input_tokens"),
        output_tokens=whole("output_tokens"),
        first_at=row["first_at"],
        last_at=row["last_at"],
    )


def _days(conn: sa.Connection, where: sa.ColumnElement[bool]) -> tuple[Day, ...]:
    day = (calls.c.hour_start // DAY).label("day")
    query = sa.select(day, *_sums()).where(where).group_by(day).order_by(day)
    return tuple(
        Day(int(row["day"]) * DAY, _figures(row)) for row in conn.execute(query).mappings()
    )


def _dimension(
    conn: sa.Connection, name: str, where: sa.ColumnElement[bool], window: Figures, top: int
) -> Dimension:
    col = calls.c[name]
    sums = _sums()
    query = (
        sa.select(col.label("value"), *sums, sa.func.count().over().label("distinct"))
        .where(where)
        .group_by(col)
        .order_by(sums[0].desc(), sa.func.coalesce(sums[3], 0).desc(), col.is_(None), col)
        .limit(top)
    )
    rows = list(conn.execute(query).mappings())
    values = tuple(Value(row["value"], _figures(row)) for row in rows)
    distinct = int(rows[0]["distinct"]) if rows else 0
    other = window.minus([v.figures for v in values]) if distinct > len(values) else None
    return Dimension(name, distinct, values, other)


def _consumers(
    conn: sa.Connection, key: sa.ColumnElement[bool], now: float, top: int
) -> tuple[tuple[tuple[str, Figures], ...], tuple[Consumer, ...], int]:
    at = calls.c.started_at
    oldest = now - max(span for _, span in RECENT)
    where = sa.and_(key, at >= oldest)
    recent = tuple(
        (
            name,
            _figures(
                conn.execute(sa.select(*_sums()).where(key, at >= now - span)).mappings().one()
            ),
        )
        for name, span in RECENT
    )
    cols = [calls.c[f] for f in CONSUMER_FIELDS]
    cost = sa.func.coalesce(calls.c.cost_nanousd, 0)
    per_window = []
    for name, span in RECENT:
        inside = at >= now - span
        per_window += [
            sa.func.sum(sa.case((inside, 1), else_=0)).label(f"calls_{name}"),
            sa.func.sum(sa.case((inside, cost), else_=0)).label(f"cost_{name}"),
        ]
    widest = per_window[-2]
    query = (
        sa.select(*cols, *per_window, sa.func.max(at).label("last_at"))
        .add_columns(sa.func.count().over().label("groups"))
        .where(where)
        .group_by(*cols)
        .order_by(widest.desc(), *(sa.func.coalesce(c, "") for c in cols))
        .limit(top)
    )
    rows = list(conn.execute(query).mappings())
    consumers = tuple(
        Consumer(
            fields=tuple((f, row[f]) for f in CONSUMER_FIELDS),
            recent=tuple(
                (name, int(row[f"calls_{name}"] or 0), int(row[f"cost_{name}"] or 0))
                for name, _ in RECENT
            ),
            last_at=row["last_at"],
        )
        for row in rows
    )
    return recent, consumers, int(rows[0]["groups"]) if rows else 0


def _chain(store: KeyStore, record: KeyRecord) -> list[KeyRecord]:
    """The keys rotated into ``record`` and out of it, oldest first."""
    chain = [record]
    seen = {record.id}
    back = record
    while back.rotated_from is not None and back.rotated_from not in seen:
        previous = store.get(back.rotated_from)
        if previous is None:
            break
        chain.insert(0, previous)
        seen.add(previous.id)
        back = previous
    forward: KeyRecord | None = record
    while forward is not None:
        forward = store.successor(forward.id)
        if forward is None or forward.id in seen:
            break
        chain.append(forward)
        seen.add(forward.id)
    return chain


def _chain_usage(conn: sa.Connection, ids: list[str], since: float) -> dict[str, Figures]:
    query = (
        sa.select(calls.c.key_id, *_sums())
        .where(calls.c.key_id.in_(ids), calls.c.started_at >= since)
        .group_by(calls.c.key_id)
    )
    return {row["key_id"]: _figures(row) for row in conn.execute(query).mappings()}


# ---------------------------------------------------------------------- caps and impact


def _reachable(
    record: KeyRecord, config: Config | None, prices: PriceBook, dims: Sequence[Dimension]
) -> tuple[list[PricedModel], str]:
    """The deployments the key may call, priced, and a sentence saying how they were found."""
    if config is None:
        seen = next(d for d in dims if d.name == "served_model")
        names = [v.value for v in seen.top if v.value is not None]
        models = [PricedModel("", name, prices.lookup(name)) for name in names]
        basis = (
            "no config: the models the key may reach are taken to be those it was seen "
            f"calling in the window ({', '.join(names) or 'none'})"
        )
        return models, basis
    aliases = record.spec.models if record.spec.models is not None else tuple(config.models)
    models = []
    for alias in aliases:
        spec = config.models.get(alias)
        for d in () if spec is None else spec.deployments:
            provider = config.providers.get(d.provider)
            entry = prices.lookup(
                d.model,
                provider=d.provider,
                provider_type=None if provider is None else provider.type,
            )
            if entry is None and prices.unpriced == "estimate":
                entry = prices.default
            models.append(PricedModel(alias, d.id, entry))
    missing = [a for a in aliases if a not in config.models]
    scope = "every alias of the config" if record.spec.models is None else "its allowed aliases"
    basis = f"the models the key may reach: {scope} ({', '.join(aliases) or 'none'})"
    if missing:
        basis += f"; not in the config, so unreachable: {', '.join(missing)}"
    return models, basis


def _impact(
    record: KeyRecord,
    now: float,
    recent: tuple[tuple[str, Figures], ...],
    consumers: tuple[Consumer, ...],
    consumer_count: int,
    ttl: float,
) -> Impact:
    state = record.state(now)
    usable = record.usable(now)
    revoke: tuple[str, ...]
    rotate: tuple[str, ...]
    week = dict(recent)["7d"]
    who = f"{consumer_count} consumer(s) (workflow, feature, agent, client IP) of the last 7 days"
    if not usable:
        revoke = (f"nothing: the key is {state} and no longer authenticates",)
    else:
        revoke = (
            f"stops {week.calls} call(s) a week ({format_usd(week.cost_nanousd)}) from "
            f"{who}, on every gateway within {ttl:g} s (the key-cache TTL)",
        )
        if state == "grace" and record.grace_until is not None:
            revoke += (
                f"it is in its rotation grace: it would otherwise work until "
                f"{_iso(record.grace_until)}",
            )
    if state == "active":
        rotate = (
            f"issues a new secret (a new key id) with the same attributes; this key keeps "
            f"working for the grace (default {DEFAULT_GRACE_S // 3600} h), so {who} must "
            "switch to the new secret before it ends",
            "the new key id counts its own budget and rate limits: during the grace both keys "
            "can each spend up to the key's caps",
            "for a leaked secret the grace keeps the leak working: revoke, or rotate with "
            "--grace 0s",
        )
    else:
        rotate = (f"not possible: the key is {state} (only an active key can be rotated)",)
    return Impact(
        usable=usable,
        recent=recent,
        consumers=consumers,
        consumer_count=consumer_count,
        propagation_s=ttl,
        revoke=revoke,
        rotate=rotate,
        can_rotate=state == "active",
    )


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")
