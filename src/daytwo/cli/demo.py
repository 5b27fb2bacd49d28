"""``daytwo demo``: the embedded default, no keys and no servers needed."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import click
from rich.console import Console

from daytwo.cli.oneline import one_line_family
from daytwo.core.money import format_usd

_UsageError, _OneLineCommand, _ = one_line_family("daytwo demo")


@click.command(cls=_OneLineCommand)
@click.option("--seconds", type=click.FloatRange(min=3), default=60, show_default=True)
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("daytwo-demo"),
    show_default=True,
    help="Where the demo's config and ledger go.",
)
@click.option(
    "--port", type=click.IntRange(0, 65535), default=0, help="Gateway port (0: any free)."
)
@click.option(
    "--incident",
    is_flag=True,
    help="Play one AI incident end to end instead: alert, runbook, triage, degraded mode, "
    "replay, rollback, recovery, postmortem.",
)
@click.option(
    "--rollouts",
    is_flag=True,
    help="Play two rollouts instead: a cheaper model shipped from shadow to full, and a prompt "
    "version that refuses rolled back at its first canary step.",
)
def demo(seconds: float, directory: Path, port: int, incident: bool, rollouts: bool) -> None:
    """Run a gateway on SQLite with simulated providers and drive realistic traffic at it."""
    if incident and rollouts:
        raise _UsageError("--incident and --rollouts are two demos: choose one")
    console = Console()
    if incident:
        _incident(directory, seconds, port, console)
        return
    if rollouts:
        _rollouts(directory, seconds, port, console)
        return
    from daytwo.cli.common import fail
    from daytwo.demo.embedded import DemoFailed
    from daytwo.demo.run import run_demo

    console.print(
        f"[bold cyan]daytwo demo[/]: a gateway with simulated OpenAI-, Anthropic- and "
        f"Gemini-shaped providers, four apps and an ad-hoc script calling it for "
        f"{seconds:.0f}s; partway through, the OpenAI-shaped provider has an outage and "
        f"the Anthropic-shaped one silently swaps its model."
    )
    try:
        result = run_demo(directory, seconds, console, port)
    except DemoFailed as exc:
        fail(str(exc), 1, prefix="daytwo demo")
    console.rule("spend report (daytwo spend --by workflow)")
    from daytwo.cli.spend import render_report
    from daytwo.demo.outage import render_outage

    render_report(result.report, console)
    console.rule("provider outage")
    console.print(render_outage(result.outage))
    if result.quality is not None:
        from daytwo.demo.quality import render_quality

        console.rule("silent model change (daytwo quality, daytwo slo status)")
        console.print(render_quality(result.quality))
    if result.prompts:
        from daytwo.demo.prompts import NAME, versions_table

        console.rule(f"prompt versions (daytwo prompts stats {NAME})")
        console.print(versions_table(result.prompts))
        if len(result.prompts) > 1 and all(r.cost_per_call_nanousd for r in result.prompts):
            first, last = result.prompts[0], result.prompts[-1]
            ratio = (last.cost_per_call_nanousd or 0) / (first.cost_per_call_nanousd or 1)
            console.print(
                f"{NAME} v{last.version} costs {ratio:.2f}x v{first.version} per call "
                f"({last.input_per_call - first.input_per_call:+,.0f} input tokens per call)"
            )
    if result.gate is not None:
        from daytwo.demo.gate import render as render_gate

        console.rule("deploy gate (daytwo gate)")
        console.print(render_gate(result.gate, compact=console.width < 120))
    console.print(
        f"\n{len(result.samples):,} calls from the apps ({result.failed:,} failed, "
        f"{result.refused:,} refused by spend control), "
        f"{format_usd(result.report.totals.cost_nanousd)} recorded."
    )
    audit = result.audit
    if audit is not None:
        verdict = (
            "verified"
            if audit.ok
            else f"NOT verified: {audit.first.message if audit.first else ''}"
        )
        console.print(
            f"audit trail: {audit.entries:,} chained entries in {len(audit.streams)} streams, "
            f"signed and {verdict} (daytwo audit verify --config {result.config_path})"
        )
    console.print(f"ledger: [bold]{result.ledger_path}[/]   config: {result.config_path}")
    console.print(
        f"next: daytwo spend --ledger sqlite:///{result.ledger_path} --since 1h --by model"
    )
    console.print(
        f"      daytwo quality --ledger sqlite:///{result.ledger_path} --since 1h "
        f"--by provider --by model;  daytwo slo status --config {result.config_path}"
    )
    review = _weekly_review(result.config_path, result.ledger_path, directory)
    console.print(f"weekly review: [bold]{review}[/]")


def _incident(directory: Path, seconds: float, port: int, console: Console) -> None:
    from daytwo.cli.common import fail
    from daytwo.demo.incident import IncidentFailed, run_incident

    try:
        result = run_incident(directory, seconds, console, port)
    except IncidentFailed as exc:
        fail(str(exc), 1, prefix="daytwo demo --incident")
    ledger = f"sqlite:///{result.ledger_path}"
    console.print(f"\npostmortem: [bold]{result.report_path}[/]   alerts: {result.alert_log}")
    console.print(f"ledger: [bold]{result.ledger_path}[/]   config: {result.config_path}")
    console.print(
        f"next: daytwo incident report {result.incident_id} --ledger {ledger}\n"
        f"      daytwo audit search --ledger {ledger} --project support;  "
        f"daytwo quality --ledger {ledger} --since 1h --by prompt_version"
    )


def _rollouts(directory: Path, seconds: float, port: int, console: Console) -> None:
    from daytwo.cli.common import fail
    from daytwo.demo.rollouts import RolloutsFailed, run_rollouts

    try:
        result = run_rollouts(directory, seconds, console, port)
    except RolloutsFailed as exc:
        fail(str(exc), 1, prefix="daytwo demo --rollouts")
    audit = result.audit
    verdict = (
        "verified" if audit.ok else f"NOT verified: {audit.first.message if audit.first else ''}"
    )
    console.print(
        f"audit trail: {audit.entries:,} chained entries in {len(audit.streams)} streams, "
        f"signed and {verdict} (daytwo audit verify --config {result.config_path})"
    )
    ledger = f"sqlite:///{result.ledger_path}"
    console.print(f"ledger: [bold]{result.ledger_path}[/]   config: {result.config_path}")
    console.print(f"alerts: {result.alert_log}")
    console.print(
        f"next: daytwo spend --ledger {ledger} --since 1h --by project\n"
        f"      daytwo alerts history --config {result.config_path} --rule rollout_rollback;  "
        f"daytwo audit verify --config {result.config_path}"
    )
    if not audit.ok:
        raise SystemExit(1)


def _weekly_review(config_path: Path, ledger_path: Path, directory: Path) -> Path:
    """The demo's week as the weekly review (``daytwo report weekly --html``) in ``directory``."""
    from daytwo.config.load import load_config
    from daytwo.finops.weekly import build_weekly
    from daytwo.finops.weekly_forecast import find_forecaster
    from daytwo.finops.weekly_render import html
    from daytwo.ledger.report import trailing_window
    from daytwo.ledger.store import open_store
    from daytwo.pricing.catalog import PriceBook

    config = load_config(config_path)
    book = PriceBook.from_config(config.pricing, base_dir=config_path.parent)
    start, end = trailing_window(timedelta(days=7))
    with open_store(f"sqlite:///{ledger_path}", create=False) as store:
        review = build_weekly(
            store, start=start, end=end, config=config, book=book, forecaster=find_forecaster()
        )
    path = directory / "weekly-review.html"
    path.write_text(html(review), encoding="utf-8")
    return path
