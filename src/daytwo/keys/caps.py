"""The most a virtual key can cost: its caps per day and per month.

Pure: from the key, the ``spend_control`` section and the prices of the models the key may
reach, with no database and no clock of its own. What bounds a key's spend:

* its own budget (``50/day``) and the configured budgets that count **every** call of the key
  in one counter (a scope whose fields the key fixes: ``{key: "*"}``, ``{project: P}`` for the
  key's project, ``{}`` the organisation; a budget shared with other keys bounds this one too
  and is marked ``shared``). Only budgets that refuse (``block`` or ``trip``) bound anything:
  ``alert`` counts and ``downgrade`` moves calls elsewhere;
* its RPM times the most one call may cost (a per-request budget or request cap), and its TPM
  (own or configured) times the dearest per-token price among the models it may reach.

A *day* and a *month* are calendar ones in ``spend_control.timezone`` (the budgets' calendar):
their longest length over the coming year is measured, so a 25-hour DST day counts 25 hourly
windows and 1,500 rate-limit minutes. A month holds at most 31 daily windows and touches at
most 6 weekly ones. Every bound is an upper bound, and holds as the budgets' guarantee does
(:mod:`daytwo.control.budgets`): exceeded only by calls whose upstream ignored ``max_tokens``.
USD budgets cannot count calls to unpriced models; those are listed, never silently dropped.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from daytwo.config.spend import BudgetConfig, SpendControlConfig
from daytwo.core.money import format_usd, usd_to_nanos
from daytwo.core.types import Usage
from daytwo.keys.model import KeyRecord
from daytwo.keys.specs import parse_budget
from daytwo.ledger.report import money
from daytwo.pricing.cost import compute_cost
from daytwo.pricing.entry import PriceEntry

#: Budget actions that refuse calls (and so bound spend).
REFUSING = frozenset({"block", "trip"})
#: Calendar windows of each kind that a day / a month can overlap, beyond the hourly ones.
_PER_DAY = {"day": 1, "week": 1, "month": 1}
_PER_MONTH = {"day": 31, "week": 6, "month": 1}
#: Scope fields a key fixes for every one of its calls (its attribution overrides headers).
_KEY_FIELDS = ("project", "workflow", "feature", "environment")


@dataclass(frozen=True, slots=True)
class PricedModel:
    """One deployment a key may reach: through which alias, and its price (None: unpriced)."""

    alias: str
    deployment: str
    entry: PriceEntry | None

    @property
    def dearest_token_usd_per_mtok(self) -> Decimal | None:
        """The highest of its per-token prices (input, output, cached, cache write)."""
        e = self.entry
        if e is None:
            return None
        return max(p for p in (e.input, e.output, e.cached_input, e.cache_write) if p is not None)


@dataclass(frozen=True, slots=True)
class Bound:
    """One limit on the key's spend, as USD (nano-dollars) per calendar day and month."""

    source: str
    detail: str
    per_day_nanos: int | None
    per_month_nanos: int | None
    #: The counter also counts other keys' calls (it bounds this key, not only it).
    shared: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "detail": self.detail,
            "per_day": money_or_none(self.per_day_nanos),
            "per_month": money_or_none(self.per_month_nanos),
            "shared": self.shared,
        }


@dataclass(frozen=True, slots=True)
class Caps:
    timezone: str
    #: The longest calendar day and month in ``timezone`` over the coming year, seconds.
    day_s: int
    month_s: int
    bounds: tuple[Bound, ...]
    #: The tightest RPM and TPM that count every call of the key, and where each comes from.
    rpm: int | None
    rpm_source: str | None
    tpm: int | None
    tpm_source: str | None
    #: The aliases the key may call (None: every alias).
    models: tuple[str, ...] | None
    #: The deployment with the dearest per-token price among those it may reach.
    priciest: PricedModel | None
    #: Reachable deployments without a price: USD budgets do not count their calls.
    unpriced: tuple[str, ...]
    #: How the reachable models were found, and what each bound assumes.
    assumptions: tuple[str, ...]

    @property
    def per_day(self) -> Bound | None:
        """The tightest bound per day (None: nothing bounds the key's daily spend)."""
        return _tightest(self.bounds, "per_day_nanos")

    @property
    def per_month(self) -> Bound | None:
        return _tightest(self.bounds, "per_month_nanos")

    def to_json(self) -> dict[str, Any]:
        day, month = self.per_day, self.per_month
        p = self.priciest
        return {
            "max_per_day": None if day is None else money_or_none(day.per_day_nanos),
            "max_per_day_by": None if day is None else f"{day.source} ({day.detail})",
            "max_per_month": None if month is None else money_or_none(month.per_month_nanos),
            "max_per_month_by": None if month is None else f"{month.source} ({month.detail})",
            "bounds": [b.to_json() for b in self.bounds],
            "rpm": self.rpm,
            "rpm_source": self.rpm_source,
            "tpm": self.tpm,
            "tpm_source": self.tpm_source,
            "models": None if self.models is None else list(self.models),
            "priciest_model": None
            if p is None
            else {
                "alias": p.alias,
                "deployment": p.deployment,
                "usd_per_mtok": str(p.dearest_token_usd_per_mtok),
            },
            "unpriced_models": list(self.unpriced),
            "timezone": self.timezone,
            "longest_day_hours": self.day_s / 3600,
            "longest_month_days": self.month_s / 86_400,
            "assumptions": list(self.assumptions),
        }


def key_caps(
    record: KeyRecord,
    *,
    spend: SpendControlConfig,
    reachable: Sequence[PricedModel],
    basis: str,
    now: float,
) -> Caps:
    """The caps of ``record`` under ``spend``; ``reachable`` are the deployments it may call
    (``basis`` says how they were found: it is the first assumption stated)."""
    tz = ZoneInfo(spend.timezone)
    day_s, month_s = longest_day_and_month(tz, now)
    windows = _Windows(day_s, month_s)
    priced = [m for m in reachable if m.entry is not None]
    priciest = max(priced, key=_dearest, default=None)
    unpriced = tuple(sorted({m.deployment for m in reachable if m.entry is None}))
    token_price = None if priciest is None else priciest.dearest_token_usd_per_mtok
    assumptions = [basis]
    if priciest is not None:
        via = f" (alias {priciest.alias})" if priciest.alias else ""
        assumptions.append(
            f"token-based bounds price every token at ${token_price}/Mtok, the dearest price "
            f"of {priciest.deployment}{via}"
        )
    if unpriced:
        assumptions.append(
            f"calls to unpriced deployments ({', '.join(unpriced)}) are not counted by USD "
            "budgets: their spend is bounded only by what the provider bills"
        )

    bounds: list[Bound] = []
    per_call: list[tuple[int, str]] = []
    key_budget = None if record.spec.budget is None else parse_budget(record.spec.budget)
    if key_budget is not None:
        cap = usd_to_nanos(key_budget.usd)
        if key_budget.window == "request":
            per_call.append((cap, f"key budget {key_budget.text}"))
        else:
            bounds.append(windows.bound("key budget", key_budget.text, key_budget.window, cap))
    for b in spend.budgets:
        shared = _covers(b.scope, record)
        if shared is None or not REFUSING & set(b.actions):
            continue
        for cap, unit in _budget_caps(b, token_price):
            detail = f"{unit}/{b.window}, scope {_scope_text(b.scope)}"
            if b.window == "request":
                per_call.append((cap, f"budget {b.name}"))
            else:
                bounds.append(windows.bound(f"budget {b.name}", detail, b.window, cap, shared))
    for c in spend.request_caps:
        if _covers(c.scope, record) is None:
            continue
        if c.usd is not None:
            per_call.append((usd_to_nanos(c.usd), f"request cap {_scope_text(c.scope)}"))
        elif c.max_input_tokens is not None and c.max_output_tokens is not None and priced:
            worst = max(
                worst_call_nanos(e, c.max_input_tokens, c.max_output_tokens)
                for e in (m.entry for m in priced)
                if e is not None
            )
            per_call.append((worst, f"request cap {_scope_text(c.scope)} (token limits)"))

    rpm, rpm_source = _tightest_rate(record, spend, "rpm")
    tpm, tpm_source = _tightest_rate(record, spend, "tpm")
    minutes_day, minutes_month = day_s // 60, month_s // 60
    if rpm is not None and per_call:
        call_cap, call_source = min(per_call)
        bounds.append(
            Bound(
                f"rpm ({rpm_source})",
                f"{rpm:,} calls/min x {format_usd(call_cap)} per call ({call_source})",
                rpm * minutes_day * call_cap,
                rpm * minutes_month * call_cap,
            )
        )
    if tpm is not None and token_price is not None:
        bounds.append(
            Bound(
                f"tpm ({tpm_source})",
                f"{tpm:,} tokens/min at ${token_price}/Mtok",
                _tokens_nanos(tpm * minutes_day, token_price),
                _tokens_nanos(tpm * minutes_month, token_price),
            )
        )
    if not bounds:
        assumptions.append("nothing that refuses calls bounds this key's spend")
    return Caps(
        timezone=spend.timezone,
        day_s=day_s,
        month_s=month_s,
        bounds=tuple(bounds),
        rpm=rpm,
        rpm_source=rpm_source,
        tpm=tpm,
        tpm_source=tpm_source,
        models=record.spec.models,
        priciest=priciest,
        unpriced=unpriced,
        assumptions=tuple(assumptions),
    )


def longest_day_and_month(tz: ZoneInfo, now: float) -> tuple[int, int]:
    """The longest calendar day and month in ``tz`` (seconds) over the year from ``now``."""
    today = datetime.fromtimestamp(now, tz).date()

    def midnight(d: date) -> float:
        return datetime(d.year, d.month, d.day, tzinfo=tz).timestamp()

    day_s = max(
        round(midnight(today + timedelta(days=i + 1)) - midnight(today + timedelta(days=i)))
        for i in range(366)
    )
    month_s = 0
    y, m = today.year, today.month
    for _ in range(13):
        ny, nm = (y + 1, 1) if m == 12 else (y, m + 1)
        month_s = max(month_s, round(midnight(date(ny, nm, 1)) - midnight(date(y, m, 1))))
        y, m = ny, nm
    return day_s, month_s


@dataclass(frozen=True, slots=True)
class _Windows:
    day_s: int
    month_s: int

    def bound(self, source: str, detail: str, window: str, cap: int, shared: bool = False) -> Bound:
        if window == "hour":
            per_day = math.ceil(self.day_s / 3600)
            per_month = math.ceil(self.month_s / 3600)
        else:
            per_day, per_month = _PER_DAY[window], _PER_MONTH[window]
        return Bound(source, detail, cap * per_day, cap * per_month, shared)


def _covers(scope: dict[str, str], record: KeyRecord) -> bool | None:
    """None when the scope does not count every call of the key in one counter; else whether
    that counter is shared with calls of other keys."""
    s = record.spec
    fixed: dict[str, str | None] = {
        **{f: getattr(s, f) for f in _KEY_FIELDS},
        "key": record.id,
        "model": s.models[0] if s.models is not None and len(s.models) == 1 else None,
    }
    for name, want in scope.items():
        have = fixed.get(name)
        if have is None or (want != "*" and want != have):
            return None
    return "key" not in scope


def _budget_caps(b: BudgetConfig, token_price: Decimal | None) -> list[tuple[int, str]]:
    out = []
    if b.usd is not None:
        out.append((usd_to_nanos(b.usd), f"${b.usd}"))
    if b.tokens is not None and token_price is not None:
        out.append((_tokens_nanos(b.tokens, token_price), f"{b.tokens:,} tokens"))
    return out


def _tightest_rate(
    record: KeyRecord, spend: SpendControlConfig, what: str
) -> tuple[int | None, str | None]:
    found: list[tuple[int, str]] = []
    own = getattr(record.spec, what)
    if own is not None:
        found.append((own, "key"))
    for r in spend.rate_limits:
        value = getattr(r, what)
        if value is not None and _covers(r.scope, record) is not None:
            found.append((value, f"rate limit {r.name}"))
    if not found:
        return None, None
    value, source = min(found)
    return value, source


def worst_call_nanos(price: PriceEntry, input_tokens: int, output_tokens: int) -> int:
    """The most one call can cost (as spend control reserves it): all input at its dearest
    input rate, plus the output cap."""
    plain = Usage(input_tokens=input_tokens, output_tokens=output_tokens)
    as_writes = Usage(
        input_tokens=input_tokens, output_tokens=output_tokens, cache_write_tokens=input_tokens
    )
    return max(compute_cost(plain, price), compute_cost(as_writes, price))


def _tokens_nanos(tokens: int, usd_per_mtok: Decimal) -> int:
    """``tokens`` at ``usd_per_mtok``, in nano-dollars rounded up (an upper bound)."""
    return math.ceil(Decimal(tokens) * usd_per_mtok * 1000)


def _dearest(m: PricedModel) -> Decimal:
    price = m.dearest_token_usd_per_mtok
    return Decimal(0) if price is None else price


def _tightest(bounds: Sequence[Bound], attr: str) -> Bound | None:
    known = [b for b in bounds if getattr(b, attr) is not None]
    return min(known, key=lambda b: (getattr(b, attr), b.shared), default=None)


def _scope_text(scope: dict[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in scope.items()) or "org"


def money_or_none(nanos: int | None) -> dict[str, Any] | None:
    return None if nanos is None else money(nanos)
