"""``daytwo rollout``: start a rollout of a prompt label or a model alias on a running gateway,
watch it, and steer it by hand.

    daytwo rollout start prompt:support-reply@v5 --stages shadow:10%,canary:5%,25%,100%
    daytwo rollout start alias:support-chat --to cheap-chat --stages canary:5%,50%,100%
    daytwo rollout status [ID]        # the stage ladder, the split, the evidence, the history
    daytwo rollout list
    daytwo rollout pause|resume|promote|rollback|retire ID --reason "..."

A thin client of ``/admin/rollouts`` with the conventions of ``daytwo kill``: the gateway is
``--gateway URL`` (default ``$DAYTWO_GATEWAY_URL``, else ``http://127.0.0.1:4000``), the admin
token comes from the environment variable named by ``--token-env`` (an ``operator`` token to
start and steer, any role to read), never from the command line; ``--json`` prints the
gateway's answer.

Exit codes: 0 done, 1 the gateway refused or cannot be reached, 2 usage error (a malformed
target or stages, no token in the environment, a missing ``--reason``).
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import click

from daytwo.cli.common import echo_json, print_table, when
from daytwo.cli.oneline import one_line_family
from daytwo.cli.switches import admin_call, admin_options
from daytwo.rollout.model import STICKY, Criteria, RolloutError, parse_prompt_target, parse_stages

_PREFIX = "daytwo rollout"
_UsageError, _OneLineCommand, _OneLineGroup = one_line_family(_PREFIX)
DASH = "–"
_STATUS_STYLE = {
    "running": "green",
    "waiting": "yellow",
    "paused": "yellow",
    "completed": "bold green",
    "rolled_back": "bold red",
}
_DONE = {
    "pause": "paused",
    "resume": "resumed",
    "promote": "promoted",
    "rollback": "rolled back",
    "retire": "retired",
}
#: The criteria ``--criteria NAME=VALUE`` may set, and which are whole numbers.
_CRITERIA = tuple(Criteria.__dataclass_fields__)
_WHOLE = frozenset({"min_calls"})


@click.group(cls=_OneLineGroup)
def rollout() -> None:
    """Rollouts of prompt labels and model aliases: shadow, canary, full (docs/rollouts.md)."""


# -- start ----------------------------------------------------------------------------------


@rollout.command()
@click.argument("target")
@click.option(
    "--stages",
    required=True,
    metavar="STAGES",
    help="e.g. shadow:10%,canary:5%,25%,100% (full is added when missing).",
)
@click.option(
    "--to",
    "candidate",
    metavar="ALIAS",
    help="Alias rollouts: the alias that serves the candidate arm.",
)
@click.option("--approve-each", is_flag=True, help="Wait for `rollout promote` after each stage.")
@click.option(
    "--sticky",
    type=click.Choice(STICKY),
    default="session",
    show_default=True,
    help="What keeps a caller on one arm.",
)
@click.option(
    "--criteria",
    "criteria_given",
    multiple=True,
    metavar="NAME=VALUE",
    help=f"Override one criterion ({', '.join(_CRITERIA)}); repeatable.",
)
@click.option("--reason", default="", help="Why (kept with the rollout, in the audit trail).")
@admin_options
def start(
    target: str,
    stages: str,
    candidate: str | None,
    approve_each: bool,
    sticky: str,
    criteria_given: tuple[str, ...],
    reason: str,
    gateway: str,
    token_env: str,
    as_json: bool,
) -> None:
    """Start a rollout: TARGET is prompt:NAME@vN (the default label moves to version N),
    prompt:NAME@LABEL=vN, or alias:ALIAS (with --to CANDIDATE)."""
    _check_target(target, candidate)
    try:
        parse_stages(stages)
    except RolloutError as exc:
        raise _UsageError(f"--stages: {str(exc).removeprefix('stages: ')}") from None
    body: dict[str, Any] = {
        "target": target,
        "stages": stages,
        "sticky": sticky,
        "approve_each": approve_each,
        "reason": reason,
    }
    if candidate is not None:
        body["candidate"] = candidate
    if criteria_given:
        body["criteria"] = _criteria(criteria_given)
    data = admin_call(_UsageError, gateway, token_env, "POST", "/admin/rollouts", body)
    if as_json:
        echo_json(data)
        return
    ladder = " → ".join(s["name"] for s in data["stages"])
    click.echo(
        f"started {data['id']}: {_what(data)} {_arm(data, 'control')} → "
        f"{_arm(data, 'candidate')} ({ladder})"
    )
    if data.get("note"):
        click.echo(f"note: {data['note']}")


def _check_target(target: str, candidate: str | None) -> None:
    if target.startswith("alias:"):
        if not target.removeprefix("alias:"):
            raise _UsageError("TARGET: alias: needs the alias, e.g. alias:support-chat")
        if candidate is None or not candidate.strip():
            raise _UsageError("an alias rollout needs --to: the alias that serves the candidate")
    elif target.startswith("prompt:"):
        if candidate is not None:
            raise _UsageError("--to: a prompt rollout's candidate is the version in TARGET")
        try:
            parse_prompt_target(target, "production")
        except RolloutError as exc:
            raise _UsageError(f"TARGET: {exc}") from None
    else:
        raise _UsageError(
            f"TARGET: expected prompt:NAME@vN, prompt:NAME@LABEL=vN or alias:ALIAS, got {target!r}"
        )


def _criteria(given: tuple[str, ...]) -> dict[str, float | int]:
    out: dict[str, float | int] = {}
    for item in given:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or name not in _CRITERIA:
            raise _UsageError(
                f"--criteria: expected NAME=VALUE, NAME one of {', '.join(_CRITERIA)}"
            )
        try:
            out[name] = int(value) if name in _WHOLE else float(value)
        except ValueError:
            kind = "a whole number" if name in _WHOLE else "a number"
            raise _UsageError(f"--criteria: {name}: expected {kind}, got {value!r}") from None
    return out


# -- reading --------------------------------------------------------------------------------


@rollout.command()
@click.argument("rollout_id", metavar="[ID]", required=False)
@admin_options
def status(rollout_id: str | None, gateway: str, token_env: str, as_json: bool) -> None:
    """One rollout (or every rollout still routing calls): the stage ladder, the split, the
    evidence and the history."""
    if rollout_id is not None:
        details = [_get(gateway, token_env, f"/admin/rollouts/{_id(rollout_id)}")]
    else:
        active = _get(gateway, token_env, "/admin/rollouts?active=true")["data"]
        details = [_get(gateway, token_env, f"/admin/rollouts/{_id(r['id'])}") for r in active]
    if as_json:
        echo_json(details[0] if rollout_id is not None else {"object": "list", "data": details})
        return
    if not details:
        click.echo("no rollout routes calls now (`daytwo rollout list` shows finished ones)")
    for i, detail in enumerate(details):
        if i:
            click.echo("")
        _print_detail(detail)


@rollout.command(name="list")
@click.option(
    "--limit", type=click.IntRange(1, 1000), default=50, show_default=True, help="At most."
)
@admin_options
def list_(limit: int, gateway: str, token_env: str, as_json: bool) -> None:
    """Rollouts, newest first."""
    data = _get(gateway, token_env, f"/admin/rollouts?limit={limit}")
    if as_json:
        echo_json(data)
        return
    if not data["data"]:
        click.echo("no rollouts yet")
        return
    from rich.markup import escape

    print_table(
        "Rollouts",
        ("id", "target", "control → candidate", "stage", "status", "started"),
        [
            (
                r["id"],
                escape(r["target"]),
                escape(f"{_arm(r, 'control')} → {_arm(r, 'candidate')}"),
                r["current"],
                _status(r),
                when(r["created_at"]),
            )
            for r in data["data"]
        ],
    )


def _get(gateway: str, token_env: str, path: str) -> dict[str, Any]:
    return admin_call(_UsageError, gateway, token_env, "GET", path)


def _id(rollout_id: str) -> str:
    if not rollout_id.strip():
        raise _UsageError("ID: must not be empty")
    return quote(rollout_id, safe="")


# -- steering -------------------------------------------------------------------------------


def _steer_command(action: str, help_text: str) -> None:
    @rollout.command(name=action, help=help_text)
    @click.argument("rollout_id", metavar="ID")
    @click.option("--reason", required=True, help="Why (kept in the audit trail).")
    @admin_options
    def command(rollout_id: str, reason: str, gateway: str, token_env: str, as_json: bool) -> None:
        if not reason.strip():
            raise _UsageError("--reason: must not be empty")
        path = f"/admin/rollouts/{_id(rollout_id)}/{action}"
        data = admin_call(_UsageError, gateway, token_env, "POST", path, {"reason": reason})
        if as_json:
            echo_json(data)
            return
        click.echo(_steered(action, data))
        if data.get("note"):
            click.echo(f"note: {data['note']}")


_steer_command("pause", "Pause a rollout: its split stays, it stops advancing.")
_steer_command("resume", "Resume a paused rollout.")
_steer_command(
    "promote",
    "Approve a stage waiting for an approval, or skip the current stage "
    "(past the last one: completed).",
)
_steer_command("rollback", "Roll back now: every call goes to the control.")
_steer_command("retire", "Retire a finished rollout: it stops overriding its label or alias.")


def _steered(action: str, data: dict[str, Any]) -> str:
    head = f"{_DONE[action]} {data['id']} ({_what(data)})"
    if action == "promote":
        if data["status"] == "completed":
            return f"{head}: completed, every call goes to {_arm(data, 'candidate')}"
        return f"{head}: now at {data['current']}" + (
            " (still paused)" if data["status"] == "paused" else ""
        )
    if action == "rollback":
        return f"{head}: every call goes to {_arm(data, 'control')}"
    return f"{head}: {data['status'].replace('_', ' ')} at {data['current']}"


# -- the status screen ----------------------------------------------------------------------


def _what(r: dict[str, Any]) -> str:
    return f"{r['kind']} {r['target']}"


def _arm(r: dict[str, Any], which: str) -> str:
    value = str(r[which])
    return f"v{value}" if r["kind"] == "prompt" else value


def _status(r: dict[str, Any]) -> str:
    text = str(r["status"]).replace("_", " ")
    if r.get("retired"):
        text += ", retired"
    style = _STATUS_STYLE.get(str(r["status"]))
    return f"[{style}]{text}[/]" if style else text


def _split(r: dict[str, Any]) -> str:
    control, candidate = _arm(r, "control"), _arm(r, "candidate")
    serving = float(r["serving_percent"])
    text = f"{serving:g}% of calls to {candidate}, {100 - serving:g}% to {control}"
    if r["shadow_percent"]:
        text += f"; {float(r['shadow_percent']):g}% mirrored to {candidate} (shadow)"
    if r.get("retired"):
        text = "retired: the label or alias serves what its config says"
    return text


def _print_detail(r: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.markup import escape

    console = Console(highlight=False, width=None if sys.stdout.isatty() else 140)
    console.print(
        f"[bold]{r['id']}[/]  {escape(_what(r))}: {escape(_arm(r, 'control'))} → "
        f"{escape(_arm(r, 'candidate'))}  {_status(r)}  (sticky by {r['sticky']}"
        + (", approve each stage)" if r["approve_each"] else ")")
    )
    console.print(f"split: {escape(_split(r))}")
    marks = {
        "done": "✓ done",
        "current": "[bold]▶ current[/]",
        "next": DASH,
        "stopped": "[bold red]✗ rolled back here[/]",
    }
    print_table(
        "Stages",
        ("#", "stage", "state"),
        [(str(i + 1), s["name"], marks[s["state"]]) for i, s in enumerate(r["stages"])],
    )
    c = r["criteria"]
    console.print(
        f"criteria: ≥ {c['min_duration_s']:g} s and ≥ {c['min_calls']} calls a stage; errors "
        f"+{c['max_error_increase'] * 100:g} pt, refusals +{c['max_refusal_increase'] * 100:g} "
        f"pt, p95 ×{c['max_latency_ratio']:g}, cost ×{c['max_cost_ratio']:g}, pairwise "
        f"losses +{c['max_pairwise_loss'] * 100:g} pt at most"
    )
    if r["evidence"]:
        console.print("evidence:")
        for line in r["evidence"]:
            console.print(f"  {escape(line)}")
    if r.get("note"):
        console.print(f"[yellow]note: {escape(r['note'])}[/]")
    print_table(
        "History",
        ("when", "who", "what", "stage", "status", "reason"),
        [_event_row(e) for e in r["history"]],
    )


def _event_row(e: dict[str, Any]) -> tuple[str, ...]:
    from rich.markup import escape

    after = e.get("after") or {}
    reason = after.get("why") or after.get("reason") or ""
    return (
        datetime.fromtimestamp(e["at"], UTC).strftime("%Y-%m-%d %H:%M:%S"),
        escape(str(e["actor"])),
        str(e["action"]).removeprefix("rollout."),
        escape(str(after.get("stage", DASH))),
        str(after.get("status", DASH)).replace("_", " "),
        escape(str(reason)),
    )
