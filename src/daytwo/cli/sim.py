"""``daytwo sim``: run the built-in LLM simulator (OpenAI wire format) for load tests and drills."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
import yaml
from pydantic import ValidationError

from daytwo.cli.common import fail
from daytwo.config.schema import SimFaults, SimOutage, SimSettings
from daytwo.config.sim_quality import SimQuality
from daytwo.core.secrets import SecretError, SecretRegistry

_D = SimSettings()
_F = SimFaults()
_RATES = ("429", "500", "503", "timeout", "malformed", "reset")
_F_or_C = TypeVar("_F_or_C", bound=Callable[..., Any])


class OutageParam(click.ParamType[SimOutage, Any]):
    """``START:DURATION[:MODE]`` in seconds from start-up, e.g. ``60:30:503``."""

    name = "START:DURATION[:MODE]"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> SimOutage:
        if isinstance(value, SimOutage):
            return value
        parts = str(value).split(":")
        if len(parts) not in (2, 3):
            self.fail(f"{value!r} is not START:DURATION[:MODE]", param, ctx)
        try:
            start, duration = float(parts[0]), float(parts[1])
        except ValueError:
            self.fail(f"{value!r}: START and DURATION must be numbers of seconds", param, ctx)
        fields: dict[str, Any] = {"start_s": start, "duration_s": duration}
        if len(parts) == 3:
            fields["mode"] = parts[2]
        try:
            return SimOutage(**fields)
        except ValidationError as exc:
            self.fail(f"{value!r}: {_first_problem(exc)}", param, ctx)


def _rate_option(name: str) -> Callable[[_F_or_C], _F_or_C]:
    return click.option(
        f"--rate-{name}",
        f"rate_{name}",
        type=click.FloatRange(0, 1),
        default=getattr(_F, f"rate_{name}"),
        show_default=True,
        help=f"Probability (0..1) of a {name} fault per request.",
    )


@click.group()
def sim() -> None:
    """The built-in LLM simulator: OpenAI's API with no cost, for load tests and outage drills."""


@sim.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=9000, show_default=True)
@click.option("--seed", type=int, default=_D.seed, show_default=True, help="Seed of every draw.")
@click.option("--ttft-ms", type=click.FloatRange(min=0), default=_D.ttft_ms, show_default=True,
              help="Milliseconds before the first byte.")  # fmt: skip
@click.option("--per-token-ms", type=click.FloatRange(min=0), default=_D.per_token_ms,
              show_default=True, help="Milliseconds between streamed tokens.")  # fmt: skip
@click.option("--min-output-tokens", type=click.IntRange(min=0), default=_D.min_output_tokens,
              show_default=True)  # fmt: skip
@click.option("--max-output-tokens", type=click.IntRange(min=0), default=_D.max_output_tokens,
              show_default=True)  # fmt: skip
@_rate_option("429")
@_rate_option("500")
@_rate_option("503")
@_rate_option("timeout")
@_rate_option("malformed")
@_rate_option("reset")
@click.option("--retry-after-s", type=click.IntRange(min=0), default=_F.retry_after_s,
              show_default=True, help="retry-after of a 429.")  # fmt: skip
@click.option("--hang-s", type=click.FloatRange(min=0), default=_F.hang_s, show_default=True,
              help="How long a timeout fault hangs before closing the connection.")  # fmt: skip
@click.option("--outage", "outages", type=OutageParam(), multiple=True,
              help="Scheduled outage, seconds from start; MODE: 503 (default), 500, 429, hang, "
              "malformed, reset. Repeatable.")  # fmt: skip
@click.option("--quota-requests", type=click.IntRange(min=1), default=None,
              help="Requests per --quota-window-s before 429s; the rate-limit headers count "
              "down.")  # fmt: skip
@click.option("--quota-window-s", type=click.FloatRange(min=0, min_open=True),
              default=_D.quota_window_s, show_default=True)  # fmt: skip
@click.option("--no-stream-usage", is_flag=True,
              help="Never report usage in streams (like providers that don't).")  # fmt: skip
@click.option("--require-key", metavar="env:NAME|file:PATH",
              help="Accept only this bearer key (401 otherwise); default: any key.")  # fmt: skip
@click.option("--quality", "quality_file", type=click.Path(dir_okay=False), metavar="FILE",
              help="Scripted answers and quality rates: a YAML file with a `sim.quality` "
                   "block's keys (docs/simulator.md).")  # fmt: skip
def serve(
    host: str,
    port: int,
    outages: tuple[SimOutage, ...],
    no_stream_usage: bool,
    require_key: str | None,
    quality_file: str | None,
    retry_after_s: int,
    hang_s: float,
    **knobs: Any,
) -> None:
    """Serve the simulator over HTTP (OpenAI's API under /v1) until interrupted."""
    from daytwo.providers.sim.run import listen
    from daytwo.providers.sim.run import serve as run_server
    from daytwo.providers.sim.server import SimApp

    rates = {f"rate_{name}": knobs.pop(f"rate_{name}") for name in _RATES}
    quality = _quality(quality_file) if quality_file is not None else None
    try:
        settings = SimSettings(
            **knobs,
            stream_usage=not no_stream_usage,
            faults=SimFaults(**rates, retry_after_s=retry_after_s, hang_s=hang_s),
            outages=outages,
            quality=quality,
        )
    except ValidationError as exc:
        fail(_first_problem(exc), 2)
    key = None
    if require_key is not None:
        try:
            key = SecretRegistry().resolve(require_key)
        except SecretError as exc:
            fail(f"--require-key: {exc}", 2)
    try:
        sock = listen(host, port)
    except OSError as exc:
        fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}", 1)
    bound = sock.getsockname()[1]
    click.echo(f"daytwo sim: OpenAI API on http://{host}:{bound}/v1 ({_summary(settings, key)})")
    # uvicorn re-raises the Ctrl-C it handled once it has shut down; stopping is success.
    with contextlib.suppress(KeyboardInterrupt):
        run_server(sock, SimApp(settings, require_key=key))


def _quality(path: str) -> SimQuality:
    """``--quality FILE``: the block's keys in YAML; ``answers_file`` relative to the file."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        fail(f"--quality: {path}: file not found", 2)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        fail(f"--quality: {path}: cannot read it: {str(exc).splitlines()[0]}", 2)
    if not isinstance(data, dict):
        fail(f"--quality: {path}: a mapping of quality settings (answers, correct_rate, ...)", 2)
    try:
        return SimQuality.model_validate(data, context={"base_dir": str(Path(path).parent)})
    except ValidationError as exc:
        err = exc.errors()[0]
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err["loc"])
        msg = str(err["msg"]).removeprefix("Value error, ")
        fail(f"--quality: {path}: {where.lstrip('.')}: {msg}", 2)


def _summary(s: SimSettings, key: str | None) -> str:
    faults = ", ".join(
        f"{name} {rate:.1%}" for name in _RATES if (rate := getattr(s.faults, f"rate_{name}")) > 0
    )
    parts = [
        f"seed {s.seed}",
        f"ttft {s.ttft_ms:g} ms",
        f"{s.per_token_ms:g} ms/token",
        f"{s.min_output_tokens}-{s.max_output_tokens} tokens",
        f"faults: {faults or 'none'}",
    ]
    if s.outages:
        parts.append(f"{len(s.outages)} outage(s)")
    if s.quota_requests is not None:
        parts.append(f"quota {s.quota_requests} requests / {s.quota_window_s:g} s")
    if not s.stream_usage:
        parts.append("no stream usage")
    if s.quality is not None:
        parts.append(f"scripted quality ({len(s.quality.answers)} answers inline)")
    if key is not None:
        parts.append("key required")
    return "; ".join(parts)


def _first_problem(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"])
    msg = str(err["msg"]).removeprefix("Value error, ")
    return f"{where.replace('_', '-')}: {msg}" if where else msg
