"""``daytwo drill outage``: break one provider on purpose in front of a real gateway and report
what its clients saw (the drill itself lives in :mod:`daytwo.drill`; see docs/drills.md).

Exit codes: 0 the outage caused no client-visible error, 1 it did (or the drill could not
run: one line on stderr says why), 2 usage error (a bad flag, an unknown provider or alias,
an invalid config file).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, cast

import click

from daytwo.cli.common import echo_json, fail, json_option, print_table
from daytwo.cli.oneline import one_line_family
from daytwo.core.money import format_usd

if TYPE_CHECKING:
    from daytwo.drill.faults import Mode
    from daytwo.drill.report import OutageReport, PhaseReport

_PREFIX = "daytwo drill"
#: ``daytwo.drill.faults.MODES``, spelled out so ``--help`` imports no gateway code (a test
#: checks they agree).
MODES = ("refused", "503", "429", "hang")
DASH = "–"


_UsageError, _OneLineCommand, _OneLineGroup = one_line_family(_PREFIX)


@click.group(cls=_OneLineGroup)
def drill() -> None:
    """Game days: break a provider on purpose and see what clients notice."""


@drill.command()
@click.option("--provider", required=True, metavar="NAME", help="The provider that goes down.")
@click.option(
    "--seconds", required=True, type=float, metavar="N", help="How long the outage lasts."
)
@click.option(
    "--mode",
    type=click.Choice(MODES),
    default="503",
    show_default=True,
    help="How it fails: refused connections, 503s, 429s, or hanging requests.",
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="PATH",
    help="Drill this daytwo.yaml's providers [default: a self-contained setup of simulators].",
)
@click.option(
    "--model",
    metavar="ALIAS",
    help="With --config: the alias to call [default: the first with a deployment on --provider].",
)
@click.option(
    "--rate", type=float, default=20.0, show_default=True, metavar="RPS", help="Calls per second."
)
@click.option(
    "--stream-share",
    type=float,
    default=0.5,
    show_default=True,
    metavar="SHARE",
    help="Share of the calls that stream (0 to 1).",
)
@json_option
def outage(
    provider: str,
    seconds: float,
    mode: str,
    config_path: Path | None,
    model: str | None,
    rate: float,
    stream_share: float,
    as_json: bool,
) -> None:
    """Take a provider down for N seconds between a baseline and a recovery, with traffic
    throughout; report errors, latency, failover, breaker timing, retries and cost."""
    from daytwo.drill import DrillFailed, DrillUsageError, OutageSpec, run_outage

    try:
        spec = OutageSpec(
            provider=provider,
            seconds=seconds,
            mode=cast("Mode", mode),  # one of MODES: click checked it
            config_path=config_path,
            model=model,
            rate=rate,
            stream_share=stream_share,
        )
        report = run_outage(spec, None if as_json else _progress)
    except DrillUsageError as exc:
        raise _UsageError(str(exc)) from None
    except DrillFailed as exc:
        fail(str(exc), prefix=_PREFIX)
    if as_json:
        echo_json(report.to_json())
    else:
        _print(report)
    sys.exit(0 if report.ok else 1)


def _progress(line: str) -> None:
    click.echo(f"· {line}", err=True)


# -- the report -------------------------------------------------------------------------------


def _print(r: OutageReport) -> None:
    from rich.markup import escape

    where = (
        "self-contained: simulated providers"
        if r.setup == "self-contained"
        else f"config {r.config_path}"
    )
    how = "in the upstream" if r.injected == "simulator" else "in the gateway's adapter"
    click.echo(
        f"Outage drill: {r.provider} {r.mode} for {r.outage.phase.duration_s:g} s "
        f"({where}; injected {how})"
    )
    click.echo(
        f"{r.alias} → {', '.join(r.deployments)} · {r.rate:g} calls/s, "
        f"{r.stream_share:.0%} streamed"
    )
    print_table(
        "Phases",
        (
            "phase",
            "window",
            "calls",
            "errors",
            "p50 / p95",
            "served by",
            "extra attempts",
            "cost / 1k calls",
        ),
        [
            (
                p.phase.name,
                f"{p.phase.start_s:g}–{p.phase.end_s:g} s",
                str(p.requests),
                escape(_errors(p)),
                _pair(p.p50_ms, p.p95_ms),
                escape(_served(p)),
                str(p.extra_attempts),
                _usd(p.cost_per_1k_nanousd),
            )
            for p in r.phases
        ],
    )
    click.echo(
        f"failover: {r.failover_share:.0%} of the outage's answered calls served elsewhere; "
        f"latency {_signed(r.added_p50_ms)} p50, {_signed(r.added_p95_ms)} p95 vs baseline"
    )
    opened, closed = r.breaker_opened_after_s, r.breaker_closed_after_s
    breaker = (
        "never opened"
        if opened is None
        else f"opened {opened:.2f} s into the outage; "
        + (
            "still not closed at the end"
            if closed is None
            else f"closed again {closed:.2f} s after it ended"
        )
    )
    click.echo(f"breaker on {', '.join(r.drilled)}: {breaker}")
    retried = sum(p.retried_calls for p in r.phases)
    extra = sum(p.extra_attempts for p in r.phases)
    click.echo(f"retries: {extra} extra attempts over {retried} calls")
    impact = r.cost_impact_nanousd
    click.echo(
        f"cost: {_usd(r.baseline.cost_per_1k_nanousd)} per 1k calls at baseline, "
        f"{_usd(r.outage.cost_per_1k_nanousd)} during the outage; impact "
        + (DASH if impact is None else ("+" if impact >= 0 else "-") + format_usd(abs(impact)))
    )
    for note in r.notes():
        click.echo(f"note: {note}")
    if r.ok:
        click.secho("verdict: the outage caused no client-visible errors", fg="green")
    else:
        click.secho(
            f"verdict: {r.outage_errors} client-visible errors during the outage and recovery",
            fg="red",
        )


def _errors(p: PhaseReport) -> str:
    text = f"{p.errors} ({p.error_pct:.1f}%)"
    if p.errors_by_status:
        text += " " + ", ".join(f"{k}×{v}" for k, v in p.errors_by_status.items())
    return text


def _served(p: PhaseReport) -> str:
    return ", ".join(f"{k} {v:.0%}" for k, v in p.served_by.items()) or DASH


def _pair(a: float | None, b: float | None) -> str:
    if a is None or b is None:
        return DASH
    return f"{a:,.0f} / {b:,.0f} ms"


def _signed(ms: float | None) -> str:
    return DASH if ms is None else f"{ms:+,.0f} ms"


def _usd(nanos: int | None) -> str:
    return DASH if nanos is None else format_usd(nanos)
