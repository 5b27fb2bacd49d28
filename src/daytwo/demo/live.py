"""The demo's live terminal view: per-app traffic from the clients' side, spend from the ledger."""

from __future__ import annotations

from collections.abc import Mapping

from rich.console import Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from daytwo.core.money import format_usd
from daytwo.demo.traffic import AppStats
from daytwo.state.base import SwitchRecord


def render(
    stats: list[AppStats],
    *,
    elapsed_s: float,
    total_s: float,
    gateway_url: str,
    spend_by_project: dict[str, int | None],
    failovers: int,
    ledger_written: int,
    ledger_queued: int,
    switches: Mapping[str, SwitchRecord] | None = None,
) -> Group:
    apps = Table(title="traffic (as the apps saw it)", expand=True)
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
    spend = Table(title="spend so far (from the ledger)", expand=True)
    spend.add_column("project")
    spend.add_column("cost", justify="right")
    total = 0
    for project, nanos in sorted(spend_by_project.items(), key=lambda kv: -(kv[1] or 0)):
        total += nanos or 0
        label = project + (" (unattributed)" if project == "default" else "")
        spend.add_row(label, format_usd(nanos, 4))
    spend.add_row(Text("total", style="bold"), Text(format_usd(total, 4), style="bold"))
    head = Text.assemble(
        ("daytwo demo ", "bold cyan"),
        f"{elapsed_s:4.0f}s / {total_s:.0f}s   gateway {gateway_url}   ",
        f"ledger: {ledger_written:,} written, {ledger_queued:,} queued\n",
        (
            f"failover: {failovers:,} calls hit a failing primary and were answered by the backup",
            "yellow" if failovers else "dim",
        ),
    )
    control = Table(title="spend control: scopes switched off", expand=True)
    for col in ("scope", "by", "why"):
        control.add_column(col)
    for key, rec in sorted((switches or {}).items()):
        who = "budget trip" if rec.source == "budget" else rec.who
        control.add_row(Text(key, style="bold red"), who, rec.reason)
    if not switches:
        control.add_row(Text("none", style="dim"), "", "")
    return Group(Panel(head), apps, spend, control)
