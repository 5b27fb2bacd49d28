"""``daytwo drift status``: what the drift evaluation finds in the ledger now (or at ``--at``):
per model x prompt version x evaluator, the window against its trailing baseline, with the
same settings (``drift:`` of ``--config``) and code the gateway's drift service uses
(docs/drift.md). Exit 0 when it ran (whatever it found), 1 when the config or the ledger is
unusable, 2 on a usage error."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import click

from daytwo.cli.common import (
    config_option,
    echo_json,
    fail,
    load_or_fail,
    open_ledger_or_fail,
    parse_when,
    print_table,
)
from daytwo.cli.oneline import one_line_family

if TYPE_CHECKING:
    from daytwo.drift.monitor import Finding

PREFIX = "daytwo drift"
_UsageError, _Command, _Group = one_line_family(PREFIX)


@click.group(cls=_Group)
def drift() -> None:
    """Changes nobody made: drift of quality rates and score distributions."""


@drift.command("status", cls=_Command)
@config_option
@click.option("--ledger", metavar="URL", help="Database URL [default: the config's ledger.url].")
@click.option("--at", "at", metavar="ISO", help="Evaluate as of this time [default: now].")
@click.option("--all", "show_all", is_flag=True, help="Every group compared, not only moved ones.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def status(
    config_path: str, ledger: str | None, at: str | None, show_all: bool, as_json: bool
) -> None:
    """The groups whose rates or distributions moved against their baseline."""
    from daytwo.core.errors import DaytwoError
    from daytwo.drift.monitor import find_drift

    config = load_or_fail(config_path)
    now = parse_when("--at", at, _UsageError).timestamp() if at is not None else time.time()
    store = open_ledger_or_fail(ledger or config.ledger.url, PREFIX)
    try:
        findings = find_drift(store, config.drift, now)
    except DaytwoError as exc:
        fail(exc.message, prefix=PREFIX)
    finally:
        store.close()
    shown = findings if show_all else [f for f in findings if f.flagged]
    if as_json:
        echo_json([_json(f) for f in shown])
        return
    moved = sum(1 for f in findings if f.flagged)
    print_table(
        f"drift: {moved} of {len(findings)} groups moved "
        f"(window {config.drift.window_s:g} s vs the {config.drift.baseline_s:g} s before it)",
        ["model", "prompt", "evaluator", "moved", "what"],
        [
            [f.group.model, f.group.prompt, f.group.evaluator, "yes" if f.flagged else "no",
             f.message()]
            for f in shown
        ],
    )  # fmt: skip


def _json(f: Finding) -> dict[str, object]:
    return {**f.group.labels(), "moved": f.flagged, "message": f.message(), **f.detail()}
