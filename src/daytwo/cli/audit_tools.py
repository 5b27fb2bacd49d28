"""``daytwo audit show | search | seal | keygen``: a call's story, a search over audited calls,
signing the digests now, and making a signing key. (``verify`` and ``export`` live in
cli/audit.py, the group these join.)

Exit codes: 0 done, 1 runtime failure (unknown call, unreadable key, database), 2 usage error;
every failure is one line on stderr.
"""

from __future__ import annotations

import os
import time
from datetime import timedelta
from pathlib import Path
from typing import Any, NoReturn

import click

from daytwo.cli.common import (
    actor,
    db_options,
    echo_json,
    fail,
    json_option,
    ledger_url_or_fail,
    open_ledger_or_fail,
    parse_when,
    print_table,
    when,
)
from daytwo.cli.oneline import one_line_family

_PREFIX = "daytwo audit"
_UsageError, _Command, _Group = one_line_family(_PREFIX)


def _fail(message: str) -> NoReturn:
    fail(message, prefix=_PREFIX)


def _audit_config(config_path: str | None) -> Any:
    """The config's ``audit`` section (defaults without a config file)."""
    from daytwo.config.audit import AuditConfig

    path = Path(config_path or os.environ.get("DAYTWO_CONFIG") or "daytwo.yaml")
    if not path.is_file():
        return AuditConfig()
    from daytwo.cli.common import load_or_fail

    return load_or_fail(str(path)).audit


@click.command(cls=_Command)
@click.argument("call_id")
@db_options
@json_option
@click.option("--reveal", is_flag=True, help="Put reversibly-redacted values back (audited).")
def show(
    call_id: str, ledger: str | None, config_path: str | None, as_json: bool, reveal: bool
) -> None:
    """One call's story: who, what, under which rules, its content and its proof."""
    from daytwo.audit.show import CONTENT_PARTS, AuditLookupError, call_story
    from daytwo.core.errors import DaytwoError

    url = ledger_url_or_fail(ledger, config_path, _UsageError)
    vault = None
    if reveal:
        ref = _audit_config(config_path).redaction.reversible_key
        if ref is None:
            _fail("--reveal: audit.redaction.reversible_key is not set in the config")
        from daytwo.audit.vault import Vault
        from daytwo.core.secrets import SecretError, SecretRegistry

        try:
            vault = Vault.from_secret(SecretRegistry().resolve(ref))
        except (SecretError, ValueError) as exc:
            _fail(f"--reveal: {exc}")
    store = open_ledger_or_fail(url, _PREFIX)
    try:
        story = call_story(store, call_id, vault=vault, actor=actor())
    except AuditLookupError as exc:
        _fail(str(exc))
    except (DaytwoError, ValueError) as exc:
        _fail(getattr(exc, "message", str(exc)))
    finally:
        store.close()
    if as_json:
        echo_json(story.to_json())
        return
    c = story.summary
    lines = [
        f"call {story.call_id}  {c.get('status')} {c.get('http_status')}  "
        f"{when(c.get('started_at'))}",
        f"who      key {c.get('key_id') or '–'}  project {c.get('project')}  workflow "
        f"{c.get('workflow') or '–'}  user {c.get('user') or '–'}  "
        f"from {c.get('client_ip') or '–'}",
        f"model    {c.get('alias')} → {c.get('provider') or '–'}/{c.get('served_model') or '–'}"
        f"  fingerprint {c.get('fingerprint') or '–'}",
        f"prompt   {c.get('prompt_name') or '–'}"
        + (f" v{c.get('prompt_version')} ({c.get('prompt_hash')})" if c.get("prompt_name") else ""),
        f"config   {c.get('config_hash') or '–'}"
        + ("" if story.config_known else "  (checkpoint text not kept)"),
        f"rules    {story.decisions or '–'}",
        f"cost     {_usd(c.get('cost_nanousd'))}  tokens {c.get('input_tokens')} in / "
        f"{c.get('output_tokens')} out",
    ]
    content = story.content
    if content is None:
        lines.append("content  not captured (policy: metadata)")
    else:
        lines.append(
            f"content  {content['mode']}  redactions {content.get('redactions') or {}}  "
            f"expires {when(content.get('expires_at'))}  intact {content.get('intact', '–')}"
        )
        import orjson

        for part in CONTENT_PARTS:
            if part in content:
                text = orjson.dumps(content[part], option=orjson.OPT_INDENT_2).decode()
                lines.append(f"  {part}: {text}")
    p = story.proof
    digest = p.digest
    lines.append(
        f"proof    {p.stream} #{p.seq} hash {p.hash}  "
        + (
            f"signed in digest #{digest[0]} at {when(digest[1])} by key {digest[2]}"
            if digest
            else "not signed yet"
        )
    )
    for note in story.notes:
        lines.append(f"note     {note}")
    click.echo("\n".join(lines))


def _usd(nanos: int | None) -> str:
    return "unpriced" if nanos is None else f"${nanos / 1e9:.6f}"


@click.command(cls=_Command)
@db_options
@json_option
@click.option("--since", metavar="DURATION", help="Window ending now: 30m, 24h, 7d [24h].")
@click.option("--from", "start", metavar="ISO", help="Window start (instead of --since).")
@click.option("--to", "end", metavar="ISO", help="Window end [now].")
@click.option("--project")
@click.option("--key", help="A key id.")
@click.option("--user")
@click.option("--model", help="The alias asked for or the served model.")
@click.option("--status", type=click.Choice(["ok", "error", "rejected", "cancelled"]))
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000))
def search(
    ledger: str | None,
    config_path: str | None,
    as_json: bool,
    since: str | None,
    start: str | None,
    end: str | None,
    project: str | None,
    key: str | None,
    user: str | None,
    model: str | None,
    status: str | None,
    limit: int,
) -> None:
    """Audited calls by time, project, key, user, model and status (newest first)."""
    from daytwo.audit.show import search as find
    from daytwo.cli.spend import parse_duration

    if since and start:
        raise _UsageError("give --since or --from, not both")
    stop = parse_when("--to", end, _UsageError).timestamp() if end else time.time()
    if start:
        begin = parse_when("--from", start, _UsageError).timestamp()
    else:
        try:
            span = parse_duration(since) if since else timedelta(hours=24)
        except ValueError as exc:
            raise _UsageError(f"--since: {exc}") from None
        begin = stop - span.total_seconds()
    url = ledger_url_or_fail(ledger, config_path, _UsageError)
    store = open_ledger_or_fail(url, _PREFIX)
    try:
        found = find(
            store,
            start=begin,
            end=stop,
            project=project,
            key=key,
            user=user,
            model=model,
            status=status,
            limit=limit,
        )
    finally:
        store.close()
    if as_json:
        echo_json(
            [
                {"call_id": f.call_id, "at": f.at, "stream": f.stream, "seq": f.seq, "call": f.call}
                for f in found
            ]
        )
        return
    print_table(
        f"{len(found)} audited calls",
        ("when", "call", "project", "key", "user", "model", "status", "cost", "entry"),
        (
            (
                when(f.at),
                f.call_id,
                str(f.call.get("project")),
                str(f.call.get("key_id") or "–"),
                str(f.call.get("user") or "–"),
                str(f.call.get("served_model") or f.call.get("alias")),
                str(f.call.get("status")),
                _usd(f.call.get("cost_nanousd")),
                f"{f.stream} #{f.seq}",
            )
            for f in found
        ),
    )


@click.command(cls=_Command)
@db_options
@click.option(
    "--signing-key",
    metavar="REF",
    help="env:NAME or file:/path of the Ed25519 private key [audit.signing_key; else the key "
    "kept beside a SQLite ledger].",
)
def seal(ledger: str | None, config_path: str | None, signing_key: str | None) -> None:
    """Sign a digest now for every stream with entries no digest covers yet (after changes
    made from the command line, or a replica that stopped without its shutdown digest)."""
    import sqlalchemy as sa

    from daytwo.audit.digest import Signer, SigningKeyError, local_key_path, write_digest
    from daytwo.audit.schema import audit_digests, audit_heads
    from daytwo.core.secrets import SecretError, SecretRegistry

    url = ledger_url_or_fail(ledger, config_path, _UsageError)
    ref = signing_key or _audit_config(config_path).signing_key
    store = open_ledger_or_fail(url, _PREFIX)
    try:
        if ref is not None:
            try:
                signer = Signer.from_text(SecretRegistry().resolve(ref))
            except (SecretError, SigningKeyError) as exc:
                _fail(f"signing key: {exc}")
        else:
            key = local_key_path(store)
            if not key.exists():
                _fail("no signing key: pass --signing-key REF or set audit.signing_key")
            signer = Signer.from_text(key.read_bytes())
        written = []
        with store.connect() as conn:
            heads = conn.execute(sa.select(audit_heads.c.stream, audit_heads.c.seq)).all()
            signed = dict(
                conn.execute(
                    sa.select(
                        audit_digests.c.stream, sa.func.max(audit_digests.c.last_seq)
                    ).group_by(audit_digests.c.stream)
                ).all()
            )
        for stream, seq in heads:
            last = signed.get(stream)
            if not seq or (last is not None and last >= seq):
                continue
            with store.engine.connect() as conn:
                conn.execution_options(daytwo_begin="IMMEDIATE")
                with conn.begin():
                    got = write_digest(conn, signer, stream)
            if got is not None:
                written.append(got)
    finally:
        store.close()
    for d in written:
        click.echo(f"{d.stream}: digest #{d.n} covers entries {d.first_seq}..{d.last_seq}")
    if not written:
        click.echo("every stream is signed up to its last entry")


@click.command(cls=_Command)
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(dir_okay=False),
    help="Private key file (PEM, mode 0600); the public key goes to OUT.pub.",
)
def keygen(out: str) -> None:
    """Make an Ed25519 signing key for audit digests."""
    from daytwo.audit.digest import Signer, public_pem

    path = Path(out)
    if path.exists():
        _fail(f"{path} exists: refusing to overwrite a signing key")
    signer = Signer.generate()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        _fail(f"cannot write {path}: {exc.strerror}")
    with os.fdopen(fd, "wb") as f:
        f.write(signer.private_pem())
    pub = path.with_name(path.name + ".pub")
    pub.write_text(public_pem(signer.public))
    click.echo(f"key id {signer.key_id}")
    click.echo(f"private key {path} (set audit.signing_key: file:{path.resolve()})")
    click.echo(f"public key  {pub} (give it to whoever verifies: daytwo audit verify --public-key)")


COMMANDS = (show, search, seal, keygen)
