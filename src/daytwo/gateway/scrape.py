"""What ``GET /metrics`` reads from the running gateway besides the calls it observed: breaker
states, budget counters of the concrete budget scopes (one state read for all), kill switches,
the ledger writer and the retry budget."""

from __future__ import annotations

from typing import TYPE_CHECKING

from daytwo.control.gate import SpendGate
from daytwo.control.windows import window_at
from daytwo.core.errors import StateUnavailable
from daytwo.gateway.runtime import Runtime
from daytwo.ledger.writer import LedgerStats
from daytwo.telemetry.state import BudgetUse, DeploymentHealth, ListenerConnections, ScrapeState

if TYPE_CHECKING:
    from daytwo.gateway.connections import Guard


async def scrape_state(
    runtime: Runtime, ledger: LedgerStats | None, listeners: dict[str, Guard] | None = None
) -> ScrapeState:
    res = runtime.resilience
    by_dep = {t.deployment: t.provider for r in runtime.routes.values() for t in r.targets}
    deployments = tuple(
        DeploymentHealth(
            deployment=s.deployment,
            provider=by_dep.get(s.deployment, ""),
            state=s.state,
            error_rate=s.error_rate,
            remaining_requests=s.remaining_requests,
            remaining_tokens=s.remaining_tokens,
        )
        for s in res.health.snapshot()
    )
    gate = runtime.gate
    window = res.budget.snapshot()
    return ScrapeState(
        deployments=deployments,
        budgets=await budget_use(gate) if gate is not None else (),
        active_switches=len(gate.switches.active()) if gate is not None else 0,
        inflight=runtime.inflight,
        ledger_queued=ledger.queued if ledger else 0,
        ledger_spilled=ledger.spilled if ledger else 0,
        ledger_rejected=ledger.rejected if ledger else 0,
        ledger_scores_dropped=ledger.scores_dropped if ledger else 0,
        ledger_write_errors=ledger.write_errors if ledger else 0,
        retry_budget_requests=window["requests"],
        retry_budget_retries=window["retries"],
        connections=tuple(
            ListenerConnections(name, guard.open, dict(guard.tally))
            for name, guard in (listeners or {}).items()
        ),
    )


async def budget_use(gate: SpendGate) -> tuple[BudgetUse, ...]:
    """The current window of every budget whose scope names one subject (``project=acme``;
    per-value ``*`` scopes would be a series per value: the admin API lists those)."""
    budgets = gate.budgets
    now = budgets.clock()
    lines = [b for b in budgets.budgets if b.window != "request" and b.scope.is_concrete]
    if not lines:
        return ()
    windows = [window_at(b.window, now, budgets.tz) for b in lines]
    keys = [b.counter_key(b.scope.key(), w) for b, w in zip(lines, windows, strict=True)]
    try:
        counters = await budgets.state.counters(keys)
    except StateUnavailable:
        return ()
    return tuple(
        BudgetUse(
            name=b.name,
            scope=b.scope.key(),
            window=b.window,
            cap_nanousd=b.cap_nanos,
            spent_nanousd=c.spent_nanos,
            cap_tokens=b.cap_tokens,
            spent_tokens=c.spent_tokens,
        )
        for b, c in zip(lines, counters, strict=True)
    )
