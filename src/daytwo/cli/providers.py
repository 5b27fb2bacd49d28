"""``daytwo providers status``: the health of every deployment of a running gateway.

A thin client of ``GET /admin/providers``, with the conventions of ``daytwo kill``: the gateway
is ``--gateway URL`` (default ``$DAYTWO_GATEWAY_URL``, else ``http://127.0.0.1:4000``), the
admin token (any role) comes from the environment variable named by ``--token-env``, never
from the command line. A table of deployments (breaker state in colour, error rate, latency,
time to first token, the upstream's quota, the aliases that route there), each alias's retry
policy, and the retry budget; ``--json`` prints the gateway's answer.

Exit codes: 0 reported (whatever the breakers say), 1 the gateway refused or cannot be reached,
2 usage error (no token in the environment, a URL that is not http(s)).
"""

from __future__ import annotations

import os
from typing import Any

import click

from daytwo.cli.common import echo_json, fail, print_table
from daytwo.cli.oneline import one_line_family
from daytwo.cli.switches import DEFAULT_GATEWAY, DEFAULT_TOKEN_ENV, GATEWAY_ENV, TIMEOUT_S

_PREFIX = "daytwo providers"
_STATE_STYLE = {"closed": "green", "half_open": "yellow", "open": "bold red"}
DASH = "–"


_UsageError, _OneLineCommand, _OneLineGroup = one_line_family(_PREFIX)


@click.group(cls=_OneLineGroup)
def providers() -> None:
    """The gateway's upstream deployments (see docs/admin-api.md)."""


@providers.command()
@click.option(
    "--gateway",
    metavar="URL",
    default=lambda: os.environ.get(GATEWAY_ENV) or DEFAULT_GATEWAY,
    show_default=f"${GATEWAY_ENV}, else {DEFAULT_GATEWAY}",
    help="The gateway's base URL.",
)
@click.option(
    "--token-env",
    metavar="NAME",
    default=DEFAULT_TOKEN_ENV,
    show_default=True,
    help="Environment variable holding the admin token (any role).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the gateway's JSON.")
def status(gateway: str, token_env: str, as_json: bool) -> None:
    """Each deployment's circuit breaker, error rate, latency and quota; the retry budget."""
    data = _get(gateway, token_env, "/admin/providers")
    if as_json:
        echo_json(data)
        return
    _print(data)


def _get(gateway: str, token_env: str, path: str) -> dict[str, Any]:
    """GET from the admin API; the decoded answer, or one line and exit 1 (2: usage)."""
    import urllib.error
    import urllib.request

    import orjson

    if not gateway.startswith(("http://", "https://")):
        raise _UsageError(f"--gateway: expected an http:// or https:// URL, got {gateway!r}")
    token = os.environ.get(token_env, "").strip()
    if not token:
        raise _UsageError(
            f"no admin token: set ${token_env} (or name another variable: --token-env)"
        )
    url = gateway.rstrip("/") + path
    req = urllib.request.Request(  # noqa: S310  # the scheme is checked above
        url, method="GET", headers={"authorization": f"Bearer {token}"}
    )
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT_S) as resp:  # noqa: S310  # checked
            data: Any = orjson.loads(resp.read())
    except urllib.error.HTTPError as err:
        with err:
            raw = err.read()
        fail(f"the gateway refused ({err.code}): {_message(raw)}", prefix=_PREFIX)
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        fail(f"cannot reach the gateway at {gateway}: {reason}", prefix=_PREFIX)
    except orjson.JSONDecodeError:
        fail(f"{gateway} answered with something that is not JSON", prefix=_PREFIX)
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        fail(f"{gateway} answered with something that is not a providers list", prefix=_PREFIX)
    return data


def _message(raw: bytes) -> str:
    import orjson

    try:
        return str(orjson.loads(raw)["error"]["message"])
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return raw[:200].decode("utf-8", "replace").strip() or "no details"


# -- the table --------------------------------------------------------------------------------


def _print(data: dict[str, Any]) -> None:
    from rich.markup import escape

    rows = []
    for d in data["data"]:
        rows.append(
            (
                escape(str(d["deployment"])),
                _state(d),
                _rate(d),
                _pair(d.get("p50_ms"), d.get("p95_ms")),
                _ms(d.get("ttft_ewma_ms")),
                escape(_quota(d)),
                escape(", ".join(d.get("aliases") or ())),
            )
        )
    print_table(
        "Deployments",
        ("deployment", "state", "error rate", "p50 / p95", "TTFT", "quota left", "aliases"),
        rows,
    )
    aliases = data.get("aliases") or {}
    if aliases:
        print_table(
            "Aliases",
            ("alias", "strategy", "attempts", "deadline", "per try"),
            [
                (
                    escape(name),
                    str(p.get("strategy")),
                    str(p.get("max_attempts")),
                    _seconds(p.get("deadline_s")),
                    _seconds(p.get("try_timeout_s")),
                )
                for name, p in aliases.items()
            ],
        )
    b = data.get("retry_budget") or {}
    if b:
        click.echo(
            f"retry budget: {b.get('retries')} retries for {b.get('requests')} requests in the "
            f"last {_seconds(b.get('window_s'))} (allowed: {_pct(b.get('ratio'))} of requests "
            f"+ {b.get('min_retries')})"
        )


def _state(d: dict[str, Any]) -> str:
    state = str(d.get("state"))
    text = state.replace("_", "-")
    if state == "open" and d.get("open_for_s"):
        text += f" ({_seconds(d['open_for_s'])} left)"
    if d.get("throttled_for_s"):
        text += f", throttled {_seconds(d['throttled_for_s'])}"
    style = _STATE_STYLE.get(state)
    return f"[{style}]{text}[/]" if style else text


def _rate(d: dict[str, Any]) -> str:
    n = d.get("window_calls")
    if not n:
        return DASH
    return f"{_pct(d.get('error_rate'))} of {n}"


def _pct(x: Any) -> str:
    return DASH if x is None else f"{float(x) * 100:.0f}%"


def _ms(x: Any) -> str:
    return DASH if x is None else f"{float(x):,.0f} ms"


def _pair(a: Any, b: Any) -> str:
    if a is None and b is None:
        return DASH
    return f"{_ms(a).removesuffix(' ms')} / {_ms(b)}"


def _seconds(x: Any) -> str:
    return DASH if x is None else f"{float(x):,.1f}".rstrip("0").rstrip(".") + " s"


def _quota(d: dict[str, Any]) -> str:
    parts = []
    if d.get("remaining_requests") is not None:
        parts.append(f"{d['remaining_requests']:,} req")
    if d.get("remaining_tokens") is not None:
        parts.append(f"{d['remaining_tokens']:,} tok")
    return ", ".join(parts) or DASH
