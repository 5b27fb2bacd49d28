"""What a ``/metrics`` scrape reads from the running gateway, besides the calls it observed:
plain values the gateway gathers (some from Redis) just before rendering, so the telemetry room
needs nothing above it."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class DeploymentHealth:
    deployment: str
    provider: str
    #: ``closed``, ``open`` or ``half_open``.
    state: str
    error_rate: float
    remaining_requests: int | None = None
    remaining_tokens: int | None = None


@dataclass(frozen=True, slots=True)
class BudgetUse:
    """One budget line's current window for one concrete scope."""

    name: str
    scope: str  #: e.g. ``project=acme``
    window: str  #: hour, day, week, month
    cap_nanousd: int | None
    spent_nanousd: int
    cap_tokens: int | None
    spent_tokens: int


@dataclass(frozen=True, slots=True)
class ListenerConnections:
    """One listener's connections: open now, and refused or shed since start, by reason."""

    listener: str  #: ``data`` or ``admin``
    open: int
    refused: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ScrapeState:
    deployments: tuple[DeploymentHealth, ...] = ()
    budgets: tuple[BudgetUse, ...] = ()
    #: Kill switches (and tripped budgets) on now.
    active_switches: int = 0
    #: Calls in flight in this process.
    inflight: int = 0
    #: The ledger writer: records not yet stored, spilled to disk, refused by the database.
    ledger_queued: int = 0
    ledger_spilled: int = 0
    ledger_rejected: int = 0
    ledger_write_errors: int = 0
    #: Scores (the quality room's) the ledger writer dropped: they are never spilled.
    ledger_scores_dropped: int = 0
    #: The retry budget's current window.
    retry_budget_requests: int = 0
    retry_budget_retries: int = 0
    #: Per listener (``server.admin_listen`` adds the second).
    connections: tuple[ListenerConnections, ...] = ()
    extra: dict[str, float] = field(default_factory=dict)
