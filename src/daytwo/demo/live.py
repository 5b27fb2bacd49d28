"""The demo's live terminal view: per-app traffic from the clients' side, provider health from
the gateway, spend from the ledger, and an event log of what changed. Fits 100 columns."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from rich import box
from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from daytwo.core.money import format_usd
from daytwo.demo.config import Outage
from daytwo.demo.prompts import versions_table
from daytwo.demo.providers import RECENT_S, Event, Served
from daytwo.demo.traffic import AppStats
from daytwo.ledger.prompts import VersionStats
from daytwo.resilience.breaker import DeploymentSnapshot
from daytwo.state.base import SwitchRecord

#: Events shown at once while the run goes on (the newest); the last frame shows them all.
EVENTS_SHOWN = 14


@dataclass(frozen=True, slots=True)
class Clock:
    """Where the run is: seconds elapsed of the total, and the outage drill."""

    elapsed_s: float
    total_s: float
    outage: Outage


def render(
    stats: list[AppStats],
    *,
    clock: Clock,
    gateway_url: str,
    spend_by_project: dict[str, int | None],
    served: Served,
    health: Sequence[DeploymentSnapshot],
    events: Sequence[Event],
    ledger_written: int,
    ledger_queued: int,
    switches: Mapping[str, SwitchRecord] | None = None,
    width: int = 100,
    prompts: Sequence[VersionStats] = (),
    events_shown: int = EVENTS_SHOWN,
) -> Group:
    """``width``: the terminal's; below 100 columns, spend and switches stack.
    ``events_shown``: the newest this many events (the last frame passes all of them)."""
    spend = _spend(spend_by_project)
    control = _switches(switches or {})
    if width >= 100:
        side_by_side = Table.grid(expand=True, padding=(0, 3))
        side_by_side.add_column()
        side_by_side.add_column(ratio=1)
        side_by_side.add_row(spend, control)
        money: list[RenderableType] = [side_by_side]
    else:
        spend.expand = True
        money = [spend, control]
    return Group(
        Panel(_head(clock, gateway_url, served, ledger_written, ledger_queued)),
        _apps(stats),
        _providers(health, served),
        *money,
        *([versions_table(prompts)] if prompts else []),
        _events(events, events_shown),
    )


def _head(clock: Clock, url: str, served: Served, written: int, queued: int) -> Text:
    o = clock.outage
    now = clock.elapsed_s
    if now < o.start_s:
        when, style = "ahead", "dim"
    elif now < o.end_s:
        when, style = "NOW", "bold red"
    else:
        when, style = "over", "dim"
    digits = 0 if clock.total_s >= 20 else 1
    window = f"{o.start_s:.{digits}f}s to {o.end_s:.{digits}f}s"
    around = served.failed_over - served.after_failed_try
    return Text.assemble(
        ("daytwo demo ", "bold cyan"),
        f"{now:4.0f}s / {clock.total_s:.0f}s   gateway {url}\n",
        f"ledger: {written:,} written, {queued:,} queued   metrics: {url}/metrics\n",
        (f"outage drill: {o.provider} answers {o.mode} from {window} ({when})\n", style),
        (
            f"failover: {served.failed_over:,} calls answered by a fallback "
            f"({served.after_failed_try:,} after a failed try, {around:,} past an open breaker)",
            "yellow" if served.failed_over else "dim",
        ),
    )


def _table(title: str) -> Table:
    return Table(
        title=title,
        expand=True,
        box=box.SIMPLE_HEAD,
        show_edge=False,
        title_justify="left",
        title_style="bold",
    )


def _apps(stats: list[AppStats]) -> Table:
    apps = _table("traffic (as the apps saw it)")
    for col in ("app", "project", "calls", "errors", "tokens", "p50 ms", "last error"):
        apps.add_column(
            col, justify="right" if col in ("calls", "errors", "tokens", "p50 ms") else "left"
        )
    for s in stats:
        apps.add_row(
            s.name,
            s.project,
            f"{s.calls:,}",
            Text(f"{s.errors:,}", style="red" if s.errors else ""),
            f"{s.tokens:,}",
            f"{s.p50_ms():.0f}",
            s.last_error,
        )
    return apps


_STATE_STYLE = {"closed": "green", "half_open": "bold yellow", "open": "bold red"}


def _providers(health: Sequence[DeploymentSnapshot], served: Served) -> Table:
    table = _table("providers (breaker per deployment, from the gateway)")
    table.add_column("deployment")
    table.add_column("breaker")
    table.add_column("error rate", justify="right")
    table.add_column("p50 ms", justify="right")
    table.add_column(f"served, last {RECENT_S:.0f}s", justify="right")
    for snap in health:
        state = snap.state.replace("_", "-")
        if snap.state == "open":
            state += f" {snap.open_for_s:.1f}s"
        rate = f"{snap.error_rate:.0%}" if snap.window_calls else "–"
        table.add_row(
            snap.deployment,
            Text(state, style=_STATE_STYLE[snap.state]),
            Text(rate, style="red" if snap.error_rate >= 0.2 else ""),
            f"{snap.p50_ms:.0f}" if snap.p50_ms is not None else "–",
            f"{served.recent.get(snap.deployment, 0):,}",
        )
    if not health:
        table.add_row(Text("no calls yet", style="dim"), "", "", "", "")
    return table


def _spend(spend_by_project: dict[str, int | None]) -> Table:
    spend = _table("spend so far (ledger)")
    spend.add_column("project")
    spend.add_column("cost", justify="right")
    total = 0
    for project, nanos in sorted(spend_by_project.items(), key=lambda kv: -(kv[1] or 0)):
        total += nanos or 0
        label = project + (" (unattributed)" if project == "default" else "")
        spend.add_row(label, format_usd(nanos, 4))
    spend.add_row(Text("total", style="bold"), Text(format_usd(total, 4), style="bold"))
    spend.expand = False
    return spend


def _switches(switches: Mapping[str, SwitchRecord]) -> Table:
    control = _table("spend control: scopes switched off")
    control.add_column("scope", overflow="fold", max_width=22)
    control.add_column("by whom, why", ratio=1)
    for key, rec in sorted(switches.items()):
        who = "budget trip" if rec.source == "budget" else rec.who
        control.add_row(Text(key, style="bold red"), f"{who}: {rec.reason}")
    if not switches:
        control.add_row(Text("none", style="dim"), "")
    return control


def _events(events: Sequence[Event], shown_at_most: int) -> RenderableType:
    lines = Text()
    shown = events[-shown_at_most:] if shown_at_most > 0 else []
    for i, e in enumerate(shown):
        lines.append(f"{e.at_s:5.1f}s  ", "dim")
        lines.append(e.text, e.style)
        if i < len(shown) - 1:
            lines.append("\n")
    if not shown:
        lines.append("nothing yet", "dim")
    return Panel(lines, title="events", title_align="left")
