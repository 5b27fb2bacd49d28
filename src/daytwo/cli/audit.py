"""``daytwo audit``: the audit trail -- ``verify`` (the chains, digests and rows, on the
database or an exported bundle) and ``export`` (a bundle for off-site retention or a SIEM).

Exit codes of ``verify``: 0 the trail verifies, 1 it does not (or the database cannot be
read), 2 usage error. Every failure is one line on stderr.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NoReturn

import click

from daytwo.cli.common import (
    db_options,
    echo_json,
    fail,
    json_option,
    ledger_url_or_fail,
    open_ledger_or_fail,
    parse_when,
)
from daytwo.cli.oneline import one_line_family

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from daytwo.audit.verify import Report

UsageError, Command, Group = one_line_family("daytwo audit")


def _fail(message: str) -> NoReturn:
    fail(message, prefix=UsageError.prefix)


@click.group(cls=Group)
def audit() -> None:
    """The audit trail: verify, export, show a call, search, seal digests, make a key."""


def _range(from_: str | None, to: str | None) -> tuple[float | None, float | None]:
    start = parse_when("--from", from_, UsageError).timestamp() if from_ else None
    end = parse_when("--to", to, UsageError).timestamp() if to else None
    if start is not None and end is not None and end <= start:
        raise UsageError("--to must be after --from")
    return start, end


def _public_keys(paths: tuple[str, ...]) -> list[Ed25519PublicKey]:
    from daytwo.audit.digest import SigningKeyError, load_public

    keys = []
    for path in paths:
        try:
            with open(path, "rb") as f:
                keys.append(load_public(f.read()))
        except OSError as exc:
            raise UsageError(f"--public-key {path}: {exc.strerror or exc}") from None
        except SigningKeyError as exc:
            raise UsageError(f"--public-key {path}: {exc}") from None
    return keys


@audit.command()
@db_options
@click.option("--bundle", metavar="FILE", help="Verify an exported bundle instead (offline).")
@click.option(
    "--public-key",
    "public_key",
    metavar="PEM",
    multiple=True,
    help="File with the digests' Ed25519 public key (PEM or base64); repeatable. Without it "
    "the keys stored in the database are used (weaker).",
)
@click.option("--from", "from_", metavar="ISO", help="Check the digest periods from this time.")
@click.option("--to", metavar="ISO", help="... up to this time.")
@click.option("--interval", default=3600.0, show_default=True, help="Digest interval, seconds.")
@click.option(
    "--rows/--no-rows",
    default=True,
    show_default=True,
    help="Also compare the calls, content and admin-event rows the entries describe.",
)
@json_option
def verify(
    ledger: str | None,
    config_path: str | None,
    bundle: str | None,
    public_key: tuple[str, ...],
    from_: str | None,
    to: str | None,
    interval: float,
    rows: bool,
    as_json: bool,
) -> None:
    """Check hashes, links, digests and signatures, and the rows the entries vouch for."""
    start, end = _range(from_, to)
    keys = _public_keys(public_key)
    from daytwo.audit.verify import verify as run
    from daytwo.core.errors import DaytwoError

    if bundle is not None:
        if ledger or config_path:
            raise UsageError("--bundle is verified on its own: drop --ledger/--config")
        if start is not None or end is not None:
            raise UsageError("a bundle is verified whole: --from/--to choose what to export")
        from daytwo.audit.bundle import open_bundle

        try:
            with open_bundle(bundle) as source:
                report = run(source, public_keys=keys, interval_s=interval, rows=rows)
        except DaytwoError as exc:
            _fail(exc.message)
    else:
        store = open_ledger_or_fail(
            ledger_url_or_fail(ledger, config_path, UsageError), UsageError.prefix
        )
        try:
            report = run(
                store, public_keys=keys, start=start, end=end, interval_s=interval, rows=rows
            )
        except DaytwoError as exc:
            _fail(exc.message)
        finally:
            store.close()
    if as_json:
        echo_json(report.to_json())
    else:
        _print(report)
    raise SystemExit(0 if report.ok else 1)


def _print(report: Report) -> None:
    if report.first is not None:
        click.echo(f"FIRST BROKEN LINK: {report.first.message}")
        for p in report.problems[1:10]:
            click.echo(f"  also: {p.message}")
        if report.problem_count > 10:
            click.echo(f"  ... {report.problem_count - 10} more (--json lists up to 1,000)")
    for note in report.notes:
        click.echo(f"note: {note}")
    for s in report.streams:
        extra = f", {s.omitted:,} omitted" if s.omitted else ""
        click.echo(
            f"{s.stream}: {s.entries:,} entries{extra}, {s.digests:,} digests, "
            f"{s.unsigned:,} not yet signed"
        )
    verdict = "verified" if report.ok else f"TAMPERED: {report.problem_count:,} problem(s)"
    click.echo(f"{report.source}: {report.entries:,} entries, {verdict}")


@audit.command()
@db_options
@click.option("--from", "from_", metavar="ISO", required=True, help="Range start (UTC).")
@click.option("--to", metavar="ISO", required=True, help="Range end (UTC).")
@click.option("--project", metavar="NAME", help="Only this project's entries (others omitted).")
@click.option(
    "--format", "fmt", type=click.Choice(["jsonl", "parquet"]), default="jsonl", show_default=True
)
@click.option("--content", is_flag=True, help="Include captured content (compressed, base64).")
@click.option("--out", metavar="FILE", required=True, type=click.Path(dir_okay=False))
@json_option
def export(
    ledger: str | None,
    config_path: str | None,
    from_: str,
    to: str,
    project: str | None,
    fmt: str,
    content: bool,
    out: str,
    as_json: bool,
) -> None:
    """Write the trail of a time range (whole digest periods) to a bundle that verifies offline."""
    start, end = _range(from_, to)
    from daytwo.audit.bundle import export as run
    from daytwo.core.errors import DaytwoError

    store = open_ledger_or_fail(
        ledger_url_or_fail(ledger, config_path, UsageError), UsageError.prefix
    )
    try:
        summary = run(
            store,
            out,
            start=start,
            end=end,
            project=project,
            fmt="parquet" if fmt == "parquet" else "jsonl",  # click.Choice checked it
            content=content,
        )
    except DaytwoError as exc:
        _fail(exc.message)
    except OSError as exc:
        _fail(f"cannot write {out}: {exc.strerror or exc}")
    finally:
        store.close()
    if as_json:
        echo_json(summary.to_json())
        return
    click.echo(
        f"{summary.path}: {summary.entries:,} entries ({summary.omitted:,} omitted), "
        f"{summary.digests:,} digests, {summary.calls:,} calls, {summary.contents:,} contents, "
        f"{summary.admin_events:,} admin events, {summary.bytes:,} bytes"
    )


def _more() -> None:
    from daytwo.cli.audit_tools import COMMANDS

    for command in COMMANDS:
        audit.add_command(command)


_more()
