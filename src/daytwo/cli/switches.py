"""``daytwo kill``, ``daytwo degrade`` and ``daytwo revive``: switch a scope off, put it in
degraded mode (answered with a static message, the last good cached answer or by a safe alias),
or back on, on a running gateway.

They talk to the gateway's admin API (``POST /admin/switches``, ``/admin/switches/degrade`` and
``/admin/switches/revive``),
so the change goes through the gateway's switch board and reaches every replica. The gateway is
``--gateway URL`` (default ``$DAYTWO_GATEWAY_URL``, else ``http://127.0.0.1:4000``); the admin
token is read from the environment variable named by ``--token-env`` (default
``DAYTWO_ADMIN_TOKEN``), never from the command line, where it would land in shell history and
``ps``.

One line on success (``killed project=acme: runaway agent``), one line naming the problem on
failure. Exit codes: 0 done, 1 the gateway refused or cannot be reached, 2 usage error (no
scope, no token in the environment, a malformed URL).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar

import click

from daytwo.cli.common import echo_json, fail
from daytwo.cli.oneline import OneLineCommand, OneLineUsageError

DEFAULT_GATEWAY = "http://127.0.0.1:4000"
GATEWAY_ENV = "DAYTWO_GATEWAY_URL"
DEFAULT_TOKEN_ENV = "DAYTWO_ADMIN_TOKEN"  # noqa: S105  # the variable's name, not a token
#: ``daytwo.control.switches.SWITCH_FIELDS``, spelled out so the CLI imports no control code
#: (a test checks they agree).
SCOPE_FLAGS = ("project", "workflow", "feature", "agent", "session", "key", "model", "provider")
TIMEOUT_S = 10.0

F = TypeVar("F", bound=Callable[..., Any])


class _KillUsage(OneLineUsageError):
    prefix = "daytwo kill"


class _ReviveUsage(OneLineUsageError):
    prefix = "daytwo revive"


class _DegradeUsage(OneLineUsageError):
    prefix = "daytwo degrade"


class _DegradeCommand(OneLineCommand):
    usage_error = _DegradeUsage


class _KillCommand(OneLineCommand):
    usage_error = _KillUsage


class _ReviveCommand(OneLineCommand):
    usage_error = _ReviveUsage


def _common(f: F) -> F:
    for name in reversed(SCOPE_FLAGS):
        f = click.option(f"--{name}", metavar=name.upper(), help=f"Scope: this {name}.")(f)
    return admin_options(f)


def admin_options(f: F) -> F:
    """``--gateway``, ``--token-env`` and ``--json``: the options of a command that talks to a
    running gateway's admin API."""
    f = click.option(
        "--gateway",
        metavar="URL",
        default=lambda: os.environ.get(GATEWAY_ENV) or DEFAULT_GATEWAY,
        show_default=f"${GATEWAY_ENV}, else {DEFAULT_GATEWAY}",
        help="The gateway's base URL.",
    )(f)
    f = click.option(
        "--token-env",
        metavar="NAME",
        default=DEFAULT_TOKEN_ENV,
        show_default=True,
        help="Environment variable holding the admin token.",
    )(f)
    return click.option("--json", "as_json", is_flag=True, help="Print the gateway's JSON.")(f)


def _scope(usage: type[OneLineUsageError], fields: dict[str, str | None]) -> dict[str, str]:
    scope = {k: v for k, v in fields.items() if v is not None}
    if not scope:
        flags = ", ".join(f"--{f}" for f in SCOPE_FLAGS)
        raise usage(f"name the scope with at least one of {flags}")
    empty = [k for k, v in scope.items() if not v.strip() or v == "*"]
    if empty:
        raise usage(f"--{empty[0]}: needs a value (not empty, not `*`)")
    return scope


def admin_call(
    usage: type[OneLineUsageError],
    gateway: str,
    token_env: str,
    method: str,
    path: str,
    body: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One call of the admin API (a JSON ``body`` for a POST); the decoded answer, or one line
    and exit 1 (2: usage)."""
    import urllib.error
    import urllib.request

    import orjson

    if not gateway.startswith(("http://", "https://")):
        raise usage(f"--gateway: expected an http:// or https:// URL, got {gateway!r}")
    token = os.environ.get(token_env, "").strip()
    if not token:
        raise usage(f"no admin token: set ${token_env} (or name another variable: --token-env)")
    url = gateway.rstrip("/") + path
    headers = {"authorization": f"Bearer {token}"}
    if body is not None:
        headers["content-type"] = "application/json"
    req = urllib.request.Request(  # noqa: S310  # the scheme is checked above
        url,
        data=None if body is None else orjson.dumps(body),
        method=method,
        headers=headers,
    )
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT_S) as resp:  # noqa: S310  # checked
            data: Any = orjson.loads(resp.read())
    except urllib.error.HTTPError as err:
        with err:
            raw = err.read()
        fail(f"the gateway refused ({err.code}): {_message(raw)}", prefix=usage.prefix)
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        fail(f"cannot reach the gateway at {gateway}: {reason}", prefix=usage.prefix)
    except orjson.JSONDecodeError:
        fail(f"{gateway} answered with something that is not JSON", prefix=usage.prefix)
    if not isinstance(data, dict):
        fail(
            prefix=usage.prefix,
            message=f"{gateway} answered with something that is not a JSON object",
        )
    return data


def _message(raw: bytes) -> str:
    import orjson

    try:
        err = orjson.loads(raw)["error"]
        return str(err["message"])
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return raw[:200].decode("utf-8", "replace").strip() or "no details"


@click.command(cls=_KillCommand)
@click.option(
    "--reason", required=True, help="Why (recorded with the switch and shown to callers)."
)
@_common
def kill(reason: str, gateway: str, token_env: str, as_json: bool, **fields: str | None) -> None:
    """Switch a scope off: its calls are refused (403 feature_disabled) until revived."""
    if not reason.strip():
        raise _KillUsage("--reason: must not be empty")
    scope = _scope(_KillUsage, fields)
    data = admin_call(
        _KillUsage,
        gateway,
        token_env,
        "POST",
        "/admin/switches",
        {"scope": scope, "reason": reason},
    )
    if as_json:
        echo_json(data)
    else:
        click.echo(f"killed {data.get('scope')}: {data.get('reason')}")


@click.command(cls=_DegradeCommand)
@click.option(
    "--mode",
    type=click.Choice(["static", "cached", "alias"]),
    required=True,
    help="static: answer with --message; cached: the last good cached answer for the same "
    "request (else --message); alias: route to the safe --alias.",
)
@click.option("--message", metavar="TEXT", help="The answer (static; cached when none is).")
@click.option("--alias", "safe_alias", metavar="ALIAS", help="The safe alias (mode alias).")
@click.option("--reason", required=True, help="Why (recorded with the switch, in the audit trail).")
@_common
def degrade(
    mode: str,
    message: str | None,
    safe_alias: str | None,
    reason: str,
    gateway: str,
    token_env: str,
    as_json: bool,
    **fields: str | None,
) -> None:
    """Put a scope in degraded mode: its calls are answered in the client's wire format (with
    the `x-daytwo-degraded` header) instead of refused, until revived."""
    if not reason.strip():
        raise _DegradeUsage("--reason: must not be empty")
    if mode == "alias" and not safe_alias:
        raise _DegradeUsage("--mode alias needs --alias: the safe alias to route the calls to")
    if mode == "alias" and message is not None:
        raise _DegradeUsage("--message: mode alias answers from the safe alias, not a message")
    if mode != "alias" and safe_alias is not None:
        raise _DegradeUsage(f"--alias: mode {mode} answers with a message, not from an alias")
    if message is not None and not message.strip():
        raise _DegradeUsage("--message: must not be empty")
    scope = _scope(_DegradeUsage, fields)
    body: dict[str, Any] = {"scope": scope, "mode": mode, "reason": reason}
    if message is not None:
        body["message"] = message
    if safe_alias is not None:
        body["alias"] = safe_alias
    data = admin_call(_DegradeUsage, gateway, token_env, "POST", "/admin/switches/degrade", body)
    if as_json:
        echo_json(data)
    else:
        how = f"to {data.get('alias')}" if data.get("mode") == "alias" else f"({data.get('mode')})"
        click.echo(f"degraded {data.get('scope')} {how}: {data.get('reason')}")


@click.command(cls=_ReviveCommand)
@_common
def revive(gateway: str, token_env: str, as_json: bool, **fields: str | None) -> None:
    """Switch a killed or degraded scope back on."""
    scope = _scope(_ReviveUsage, fields)
    data = admin_call(
        _ReviveUsage, gateway, token_env, "POST", "/admin/switches/revive", {"scope": scope}
    )
    if as_json:
        echo_json(data)
    elif data.get("revived"):
        click.echo(f"revived {data.get('scope')}")
    else:
        click.echo(f"{data.get('scope')} was not switched off: nothing to revive")
