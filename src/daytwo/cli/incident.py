"""``daytwo incident``: record an incident (start, notes, end) in the audit trail, list them,
and write its postmortem skeleton (docs/incidents.md).

Works on the database directly, like ``daytwo keys``: every change is an admin event chained
in the control stream, naming ``cli:<login>``.

::

    daytwo incident start --title "wrong refunds" --severity sev2 --scope project=support \\
        [--commander alice]                          # prints the incident's id
    daytwo incident note ID "rolled support-reply back to v3"
    daytwo incident end ID [--summary "..."]
    daytwo incident list [--json]
    daytwo incident report ID [--out FILE] [--lead 1h]

Exit codes: 0 done, 1 unknown incident, a change that does not apply, database failure, 2
usage error. Every failure is one line on stderr.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import NoReturn

import click

from daytwo.cli.common import (
    actor,
    db_options,
    echo_json,
    fail,
    json_option,
    ledger_url_or_fail,
    open_key_store,
    open_ledger_or_fail,
    print_table,
    when,
)
from daytwo.cli.oneline import one_line_family

_PREFIX = "daytwo incident"
_UsageError, _Command, _Group = one_line_family(_PREFIX)


def _fail(message: str) -> NoReturn:
    fail(message, prefix=_PREFIX)


def _scope(pairs: tuple[str, ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs:
        key, eq, value = pair.partition("=")
        if not eq:
            raise _UsageError(f"--scope: expected FIELD=VALUE, got {pair!r}")
        if key in out:
            raise _UsageError(f"--scope: {key} is given twice")
        out[key.strip()] = value.strip()
    return out


def _duration(text: str) -> float:
    from daytwo.config.slos import parse_duration

    try:
        return parse_duration(text).total_seconds()
    except ValueError as exc:
        raise _UsageError(f"--lead: {exc}") from None


@click.group(cls=_Group)
def incident() -> None:
    """The incident record: start, notes, end, and the postmortem skeleton."""


@incident.command()
@click.option("--title", required=True, help="What is happening, in a few words.")
@click.option("--severity", required=True, metavar="sev1..sev4", help="sev1 is the worst.")
@click.option(
    "--scope",
    "scope_pairs",
    multiple=True,
    metavar="FIELD=VALUE",
    help="What is affected (repeatable): project, workflow, feature, agent, alias, provider, "
    "user, key. The report's figures count these calls only.",
)
@click.option("--commander", help="Who leads the response [nobody named].")
@db_options
@json_option
def start(
    title: str,
    severity: str,
    scope_pairs: tuple[str, ...],
    commander: str | None,
    ledger: str | None,
    config_path: str | None,
    as_json: bool,
) -> None:
    """Open an incident and print its id."""
    from daytwo.incidents import record

    scope = _scope(scope_pairs)
    with open_key_store(ledger, config_path, create=False, usage=_UsageError) as store:
        found = record.start(
            store,
            title=title,
            severity=severity,
            scope=scope,
            commander=commander,
            actor=actor(),
        )
    if as_json:
        echo_json(found.to_json())
    else:
        click.echo(found.id)


@incident.command()
@click.argument("incident_id", metavar="ID")
@click.argument("text")
@db_options
def note(incident_id: str, text: str, ledger: str | None, config_path: str | None) -> None:
    """Add a note to the incident's record (what was tried, what was seen)."""
    from daytwo.incidents import record

    with open_key_store(ledger, config_path, create=False, usage=_UsageError) as store:
        found = record.note(store, incident_id, text, actor=actor())
    click.echo(f"noted ({len(found.notes)} notes on {found.id})")


@incident.command()
@click.argument("incident_id", metavar="ID")
@click.option("--summary", help="What happened, in a few sentences (the report's summary).")
@db_options
def end(incident_id: str, summary: str | None, ledger: str | None, config_path: str | None) -> None:
    """End the incident."""
    from daytwo.incidents import record

    with open_key_store(ledger, config_path, create=False, usage=_UsageError) as store:
        found = record.end(store, incident_id, summary=summary, actor=actor())
    assert found.ended_at is not None
    minutes = (found.ended_at - found.started_at) / 60
    click.echo(f"ended {found.id} after {minutes:.0f} min")


@incident.command("list")
@db_options
@json_option
def list_(ledger: str | None, config_path: str | None, as_json: bool) -> None:
    """Every incident, newest first."""
    from daytwo.incidents import record

    with open_key_store(ledger, config_path, create=False, usage=_UsageError) as store:
        found = record.list_incidents(store)
    if as_json:
        echo_json({"object": "list", "data": [i.to_json() for i in found]})
        return
    rows = [
        (
            i.id,
            i.severity,
            i.status,
            i.title,
            ", ".join(f"{k}={v}" for k, v in sorted(i.scope.items())) or "–",
            i.commander or "–",
            when(i.started_at),
            when(i.ended_at),
        )
        for i in found
    ]
    print_table(
        "Incidents",
        ("id", "sev", "status", "title", "scope", "commander", "started", "ended"),
        rows,
    )


@incident.command()
@click.argument("incident_id", metavar="ID")
@click.option("--out", type=click.Path(dir_okay=False), help="Write here [default: stdout].")
@click.option(
    "--lead",
    default="1h",
    show_default=True,
    metavar="DURATION",
    help="History before the start that the timeline and rates show.",
)
@db_options
def report(
    incident_id: str, out: str | None, lead: str, ledger: str | None, config_path: str | None
) -> None:
    """The postmortem skeleton in Markdown: impact, timeline, alerts, rates, notes,
    follow-ups."""
    from daytwo.core.errors import DaytwoError
    from daytwo.incidents import postmortem, record
    from daytwo.keys.store import KeyStore

    lead_s = _duration(lead)
    url = ledger_url_or_fail(ledger, config_path, _UsageError)
    store = open_ledger_or_fail(url, _PREFIX)
    try:
        found = record.get(KeyStore(store), incident_id)
        text = postmortem.markdown(postmortem.build(store, found, now=time.time(), lead_s=lead_s))
    except DaytwoError as exc:
        _fail(exc.message)
    finally:
        store.close()
    if out is None:
        click.echo(text, nl=False)
        return
    try:
        Path(out).write_text(text, encoding="utf-8")
    except OSError as exc:
        _fail(f"--out: cannot write {out}: {exc.strerror}")
    click.echo(f"wrote {out}", err=True)
