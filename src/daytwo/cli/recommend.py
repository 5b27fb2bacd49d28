"""``daytwo recommend``: per workflow / prompt, the configured aliases that would have cost
less for the same tokens, with the evidence of shadow pairs (daytwo.rollout.recommend,
docs/recommend.md). ``--apply N`` opens an alias rollout of recommendation N through the
gateway's admin API (``POST /admin/rollouts``): it starts with a shadow stage, never a switch.

Exit codes: 0 report printed (or rollout opened), 1 runtime failure (invalid config, no
ledger, the gateway refused), 2 usage error. Every failure is one line on stderr.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any

import click

from daytwo.cli.common import config_option, echo_json, fail, load_or_fail, open_ledger_or_fail
from daytwo.cli.oneline import OneLineCommand, OneLineUsageError
from daytwo.cli.spend import parse_duration
from daytwo.cli.switches import DEFAULT_GATEWAY, DEFAULT_TOKEN_ENV, GATEWAY_ENV, admin_call

if TYPE_CHECKING:
    from daytwo.rollout.recommend import Recommendation, Report

PREFIX = "daytwo recommend"
DEFAULT_SINCE = "14d"
DEFAULT_STAGES = "shadow:10%,canary:5%,25%,100%"
#: The admin API keeps a reason of at most this many characters.
MAX_REASON = 500


class _UsageError(OneLineUsageError):
    prefix = PREFIX


class _Command(OneLineCommand):
    usage_error = _UsageError


@click.command(cls=_Command)
@config_option
@click.option("--ledger", metavar="URL", help="Database URL [default: the config's ledger.url].")
@click.option("--since", default=DEFAULT_SINCE, show_default=True, metavar="DURATION",
              help="Window ending now: 24h, 14d, 2w.")  # fmt: skip
@click.option(
    "--tolerance",
    type=click.FloatRange(0.0, 1.0),
    default=0.1,
    show_default=True,
    help="How far a candidate's judge score may fall below the control's and still match.",
)
@click.option("--apply", "apply", type=click.IntRange(min=1), metavar="N",
              help="Open an alias rollout of recommendation N (it starts in shadow).")  # fmt: skip
@click.option("--stages", default=DEFAULT_STAGES, show_default=True,
              help="The rollout's stages (with --apply).")  # fmt: skip
@click.option("--yes", is_flag=True, help="Apply even when the alias serves other workflows.")
@click.option(
    "--gateway",
    metavar="URL",
    default=lambda: os.environ.get(GATEWAY_ENV) or DEFAULT_GATEWAY,
    show_default=f"${GATEWAY_ENV}, else {DEFAULT_GATEWAY}",
    help="The gateway's base URL (with --apply).",
)
@click.option("--token-env", metavar="NAME", default=DEFAULT_TOKEN_ENV, show_default=True,
              help="Environment variable holding the admin token (with --apply).")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def recommend(
    config_path: str,
    ledger: str | None,
    since: str,
    tolerance: float,
    apply: int | None,
    stages: str,
    yes: bool,
    gateway: str,
    token_env: str,
    as_json: bool,
) -> None:
    """Cheaper models per workflow and prompt, with the evidence of shadow pairs."""
    try:
        window_s = int(parse_duration(since).total_seconds())
    except ValueError as exc:
        raise _UsageError(str(exc)) from None
    if apply is not None:
        from daytwo.rollout.model import RolloutError, parse_stages

        try:
            parse_stages(stages)
        except RolloutError as exc:
            raise _UsageError(f"--stages: {str(exc).removeprefix('stages: ')}") from None
    report = _report(config_path, ledger, window_s, tolerance)
    if apply is None:
        if as_json:
            echo_json(report.to_json())
        else:
            render(report, since)
        return
    chosen = _chosen(report, apply, yes)
    body = rollout_body(chosen, apply, stages)
    data = admin_call(_UsageError, gateway, token_env, "POST", "/admin/rollouts", body)
    if as_json:
        echo_json({"recommendation": {"n": apply, **chosen.to_json()}, "rollout": data})
        return
    click.echo(chosen.sentence())
    click.echo(
        f"opened rollout {data.get('id')}: alias {chosen.group.alias} → {chosen.candidate} "
        f"({data.get('current') or stages})"
    )


def _report(config_path: str, ledger: str | None, window_s: int, tolerance: float) -> Report:
    from pathlib import Path

    from daytwo.core.errors import DaytwoError
    from daytwo.pricing.catalog import PriceBook
    from daytwo.rollout.recommend import recommend as build

    config = load_or_fail(config_path)
    try:
        prices = PriceBook.from_config(config.pricing, base_dir=Path(config_path).parent)
    except DaytwoError as exc:
        fail(exc.message, prefix=PREFIX)
    store = open_ledger_or_fail(ledger or config.ledger.url, PREFIX)
    try:
        return build(store, config, prices, time.time(), window_s, tolerance=tolerance)
    except DaytwoError as exc:
        fail(exc.message, prefix=PREFIX)
    finally:
        store.close()


def _chosen(report: Report, n: int, yes: bool) -> Recommendation:
    count = len(report.recommendations)
    if n > count:
        have = f"there are {count}" if count else "there are none"
        raise _UsageError(f"--apply {n}: no such recommendation ({have})")
    chosen = report.recommendations[n - 1]
    if chosen.shared_with and not yes:
        others = ", ".join(chosen.shared_with)
        raise _UsageError(
            f"--apply {n}: alias {chosen.group.alias} also serves {others}; the rollout moves "
            "them too (pass --yes)"
        )
    return chosen


def rollout_body(r: Recommendation, n: int, stages: str) -> dict[str, Any]:
    """What ``POST /admin/rollouts`` is sent for recommendation ``n``."""
    return {
        "target": f"alias:{r.group.alias}",
        "candidate": r.candidate,
        "stages": stages,
        "reason": f"daytwo recommend #{n}: {r.sentence()}"[:MAX_REASON],
    }


def render(report: Report, since: str) -> None:
    from daytwo.cli.common import print_table, when

    title = f"Cheaper models {when(report.start)} → {when(report.end)} ({since})"
    if not report.recommendations:
        click.echo(
            f"{title}: no configured alias is cheaper for any of the {report.groups} "
            "workflow / prompt groups."
        )
        return
    columns = ["#", "workflow · prompt", "alias", "calls/wk", "cost/wk", "tokens/call",
               "candidate", "cost", "saving/wk", "evidence", "to get evidence"]  # fmt: skip
    print_table(title, columns, (_cells(i, r) for i, r in enumerate(report.recommendations, 1)))
    shared = {r.group.alias: (r.group.label, *r.shared_with) for r in report.recommendations}
    for alias, labels in sorted(shared.items()):
        if len(labels) > 1:
            click.echo(
                f"{alias} serves {', '.join(sorted(labels))}: a rollout of it moves them all "
                "(--apply needs --yes)"
            )
    click.echo(
        "match: neither answer failed an online check, and no judge scored the candidate more "
        f"than {report.tolerance:g} below; apply one with --apply N (a rollout from shadow)"
    )


def _cells(i: int, r: Recommendation) -> list[str]:
    from daytwo.rollout.recommend import WEEK_S, percent, usd, weekly

    g = r.group
    per_call = max(g.priced_calls, 1)
    ci = r.evidence.interval
    if ci is None:
        evidence = "none"
    else:
        evidence = (
            f"{percent(ci.estimate)} match (n={r.evidence.pairs:,}, "
            f"CI {percent(ci.low, False)}–{percent(ci.high)})"
        )
    if r.evidence.unscored:
        evidence += f"; {r.evidence.unscored:,} unscored"
    return [
        str(i),
        g.label,
        g.alias,
        f"{g.calls * WEEK_S / r.window_s:,.0f}",
        usd(weekly(g.cost_nanousd, r.window_s)),
        f"{g.usage.input_tokens / per_call:,.0f} in / {g.usage.output_tokens / per_call:,.0f} out",
        r.candidate,
        percent(r.cost_ratio),
        f"−{usd(r.saving_per_week)}",
        evidence,
        "–" if r.proposal is None else str(r.proposal),
    ]
