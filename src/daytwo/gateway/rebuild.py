"""Re-counting spend-control counters from the ledger (the record of truth; counters are a cache
of it): every configured budget, every virtual key's own budget, and the current minute of every
RPM/TPM counter, configured or a key's.

:func:`recount` is the pure read (run it off the event loop): a few grouped queries -- one per
configured budget or rate limit, and ONE for all virtual keys together, whatever their number --
turned into a :class:`~daytwo.state.base.Restore` of counter values. It is written with SET
semantics (:meth:`State.restore`), so two replicas rebuilding the same lost Redis at once leave
the same values, never twice the spend.

Windows are the ones admission would use at the same instant: budgets' calendar windows in the
configured timezone, rate limits' fixed UTC minute, keyed exactly as the gate keys them. A
call counts in the window its ``started_at`` falls in (admission time, where its reservation
was taken). RPM counts calls admitted (every status but ``rejected``); TPM and budgets count
the tokens and cost the ledger recorded.

What a ledger cannot know: calls in flight at the moment of loss (not recorded yet) and calls
still in a replica's ledger queue (written within ``ledger.flush_interval_ms``). Their spend is
what the bound says may be missing (docs/spend-control.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from daytwo.control.budgets import COUNTER_GRACE_S, Budget, Budgets
from daytwo.control.gate import SpendGate, key_rules
from daytwo.control.ratelimits import RateLimit, RateLimiter
from daytwo.control.scopes import EACH, Subject
from daytwo.control.windows import Window, minute_window, window_at
from daytwo.keys.model import KeyPrincipal
from daytwo.keys.specs import parse_budget
from daytwo.ledger.store import LedgerStore, open_store
from daytwo.ledger.totals import WindowTotal, totals_by_window
from daytwo.state.base import Restore

#: The window name rate limits use in a grouped query (budgets use their kind).
MINUTE = "minute"


def marker(budget: Budget, window_id: int) -> str:
    """The counter that says a configured budget's window was re-counted in this store (so a
    second replica, or a reload, does not add the ledger's totals again)."""
    return f"rebuilt:{budget.name}:{window_id}"


@dataclass(slots=True)
class _Out:
    budgets: list[tuple[str, int, int, float]] = field(default_factory=list)
    rates: list[tuple[str, int, float]] = field(default_factory=list)

    def restore(self) -> Restore:
        return Restore(tuple(self.budgets), tuple(self.rates))


def recount(gate: SpendGate, keys: Iterable[KeyPrincipal], ledger_url: str, now: float) -> Restore:
    """Every counter the gate and the keys would use at ``now``, from the ledger (blocking)."""
    store = open_store(ledger_url, create=False)
    try:
        out = _Out()
        budgets = gate.budgets
        for b in budgets.budgets:
            if b.window != "request":
                _budget(store, budgets, b, now, out)
        for lim in gate.limiter.limits:
            _limit(store, gate, lim, now, out)
        _keys(store, gate, list(keys), now, out)
        return out.restore()
    finally:
        store.close()


def _split(fields: Sequence[tuple[str, str]]) -> tuple[dict[str, str], list[str]]:
    fixed = {f: v for f, v in fields if v != EACH}
    return fixed, [f for f, v in fields if v == EACH]


def _subject(fixed: dict[str, str], row: dict[str, str | None]) -> Subject:
    return Subject(**{**fixed, **{k: v for k, v in row.items() if v}})


def _budget(store: LedgerStore, budgets: Budgets, b: Budget, now: float, out: _Out) -> None:
    w = window_at(b.window, now, budgets.tz)
    fixed, each = _split(b.scope.fields)
    for row in totals_by_window(store, {b.window: w.start}, group_by=each, where=fixed):
        key = b.scope.resolve(_subject(fixed, row.fields))
        t = row.windows.get(b.window)
        if key is not None and t is not None:
            ttl = w.end - w.start + COUNTER_GRACE_S
            out.budgets.append((b.counter_key(key, w), t.nanos, t.tokens, ttl))
    out.rates.append((marker(b, w.id), 1, w.end - now + COUNTER_GRACE_S))


def _rate_lines(
    limiter: RateLimiter, lims: Sequence[RateLimit], subject: Subject, t: WindowTotal, out: _Out
) -> None:
    plan = limiter.plan(subject, 0, extra=lims)
    for line, (kind, _, _) in zip(plan.lines, plan.kinds, strict=True):
        out.rates.append((line.key, t.calls if kind == "requests" else t.tokens, line.ttl_s))


def _limit(store: LedgerStore, gate: SpendGate, lim: RateLimit, now: float, out: _Out) -> None:
    if lim.rpm is None and lim.tpm is None:
        return  # concurrency only: leases lapse by themselves, nothing to count
    fixed, each = _split(lim.scope.fields)
    m = minute_window(now)
    limiter = RateLimiter(gate.limiter.state, [], clock=lambda: now)
    for row in totals_by_window(store, {MINUTE: m.start}, group_by=each, where=fixed):
        t = row.windows.get(MINUTE)
        if t is not None:
            _rate_lines(limiter, (lim,), _subject(fixed, row.fields), t, out)


def _keys(
    store: LedgerStore, gate: SpendGate, keys: list[KeyPrincipal], now: float, out: _Out
) -> None:
    """Every key's own budget and RPM/TPM, in one query grouped by key id. Rules are built
    only for keys the ledger has something for (most keys of a large fleet are idle)."""
    limited = {p.key_id: p for p in keys if p.budget or p.rpm or p.tpm}
    if not limited:
        return
    tz = gate.budgets.tz
    kinds: dict[str, str] = {}  # budget text -> window kind (a fleet shares a few texts)
    windows: dict[str, Window] = {}
    for p in limited.values():
        if p.budget is not None and p.budget not in kinds:
            kinds[p.budget] = parse_budget(p.budget).window
        if p.rpm or p.tpm:
            windows[MINUTE] = minute_window(now)
    for kind in set(kinds.values()) - {"request"}:
        windows[kind] = window_at(kind, now, tz)  # type: ignore[arg-type]  # parse_budget checked it
    starts = {name: w.start for name, w in windows.items()}
    limiter = RateLimiter(gate.limiter.state, [], clock=lambda: now)
    for row in totals_by_window(store, starts, group_by=["key"], present=["key"]):
        key_id = row.fields["key"]
        found = limited.get(key_id) if key_id is not None else None
        if found is None or key_id is None:
            continue
        rules = key_rules(found)
        subject = Subject(key=key_id)
        for b in rules.budgets:
            t = row.windows.get(b.window)
            scope_key = b.scope.resolve(subject)
            if b.window == "request" or t is None or scope_key is None:
                continue
            w = windows[b.window]
            ttl = w.end - w.start + COUNTER_GRACE_S
            out.budgets.append((b.counter_key(scope_key, w), t.nanos, t.tokens, ttl))
        t = row.windows.get(MINUTE)
        if t is not None and rules.limits:
            _rate_lines(limiter, rules.limits, subject, t, out)
