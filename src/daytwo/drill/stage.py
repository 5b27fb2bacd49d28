"""Where a drill plays: a gateway in this process, on a free loopback port, in front of either

* **a self-contained setup** -- two simulator upstreams over real HTTP, ``openai`` (OpenAI's
  wire format) and ``anthropic`` (Anthropic's Messages API), behind one alias ``chat`` whose
  ordered fallback chain starts with the provider under test; a fresh SQLite ledger in a
  temporary directory; or
* **the user's own config** (validated as ``daytwo serve`` validates it), with its providers,
  routing, resilience settings and ledger. When it requires virtual keys, the drill issues
  itself a temporary key (project ``daytwo-drill``, expiring soon) and revokes it afterwards.

Either way the drill talks to the gateway over HTTP like any client.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

from daytwo.config.schema import Config, SimFaults, SimOutage, SimSettings
from daytwo.drill.faults import RETRY_AFTER_S, Mode
from daytwo.gateway.app import Gateway
from daytwo.gateway.embedded import EmbeddedFailed, embedded, serving

#: Attribution of the drill's calls (a temporary key carries it when keys are required).
DRILL_PROJECT = "daytwo-drill"
DRILL_WORKFLOW = "outage-drill"
#: The self-contained setup's providers: name → (type, priced model).
SELF_PROVIDERS = {
    "openai": ("openai", "gpt-4o-mini"),
    "anthropic": ("anthropic", "claude-haiku-4-5"),
}
SELF_ALIAS = "chat"
#: The self-contained setup's retry policy: a short per-try timeout, so that a hanging
#: provider is failed over within a second (the defaults allow minutes, as real LLM calls may).
#: The self-contained setup's resilience: a 2 s first open period, so that even a short drill's
#: recovery phase (5 s) sees the breaker probe the provider back and close.
SELF_RESILIENCE: dict[str, Any] = {
    "defaults": {"deadline_s": 10.0, "try_timeout_s": 1.0},
    "breaker": {"open_s": 2.0},
}

Setup = Literal["self-contained", "config"]


class DrillUsageError(ValueError):
    """The drill cannot run as asked: an unknown provider or alias, an invalid config."""


class DrillFailed(RuntimeError):
    """The drill could not run: the gateway did not start, the key store is unreachable."""


@dataclass(frozen=True, slots=True)
class Stage:
    """A running gateway ready for the drill's traffic."""

    gateway: Gateway
    url: str
    setup: Setup
    alias: str
    provider: str
    #: The alias's deployment ids in configured order, and those on the provider under test.
    deployments: tuple[str, ...]
    drilled: tuple[str, ...]
    #: ``simulator``: the upstream itself fails; ``adapter``: the gateway's adapter is swapped.
    injected: Literal["simulator", "adapter"]
    #: Sent with every drill request (attribution; a temporary key's bearer header).
    headers: Mapping[str, str] = field(default_factory=dict)
    config_path: Path | None = None

    @property
    def failover_possible(self) -> bool:
        return any(d not in self.drilled for d in self.deployments)

    @property
    def deadline_s(self) -> float:
        return float(self.gateway.runtime.resilience.plans[self.alias].policy.deadline_s)


def _attribution() -> dict[str, str]:
    return {"x-daytwo-project": DRILL_PROJECT, "x-daytwo-workflow": DRILL_WORKFLOW}


T = TypeVar("T")


def _enter(stack: ExitStack, cm: AbstractContextManager[T]) -> T:
    """The embedded gateway's set-up failures are the drill's (:class:`DrillFailed`)."""
    try:
        return stack.enter_context(cm)
    except EmbeddedFailed as exc:
        raise DrillFailed(str(exc)) from exc


# -- the self-contained setup ---------------------------------------------------------------


def _sim(seed: int, outage: SimOutage | None, hang_s: float) -> SimSettings:
    return SimSettings(
        seed=seed,
        ttft_ms=30,
        per_token_ms=1,
        min_output_tokens=8,
        max_output_tokens=24,
        faults=SimFaults(retry_after_s=RETRY_AFTER_S, hang_s=hang_s),
        outages=() if outage is None else (outage,),
    )


def self_contained_config(ledger: Path, urls: Mapping[str, str], provider: str) -> dict[str, Any]:
    """Two simulator upstreams behind ``chat``: ``provider`` first, the other as its fallback."""
    order = sorted(SELF_PROVIDERS, key=lambda name: name != provider)
    providers: dict[str, Any] = {}
    for name in order:
        kind = SELF_PROVIDERS[name][0]
        url = urls[name]  # the simulator's OpenAI base URL: .../v1
        base = url if kind == "openai" else url.removesuffix("/v1")
        providers[name] = {"type": kind, "base_url": base}
    return {
        "server": {"host": "127.0.0.1", "reload_poll_s": 0},
        "gateway": {"require_keys": False},  # loopback simulators: no credentials at stake
        "logging": {"level": "warning", "access_log": False},
        "providers": providers,
        "models": {
            SELF_ALIAS: {
                "deployments": [
                    {"provider": name, "model": SELF_PROVIDERS[name][1]} for name in order
                ]
            }
        },
        "ledger": {"url": f"sqlite:///{ledger}", "flush_interval_ms": 50},
        "resilience": SELF_RESILIENCE,
    }


@contextmanager
def self_contained(
    provider: str,
    mode: Mode,
    *,
    outage_start_s: float,
    outage_s: float,
    clock: Callable[[], float],
) -> Iterator[Stage]:
    """The simulators and the gateway, running. The simulator plays every ``mode`` but
    ``refused`` itself, from ``outage_start_s`` on ``clock`` (the drill's timeline)."""
    from daytwo.admin.mount import create_app
    from daytwo.config.load import validate_config
    from daytwo.providers.sim.run import running_sim_server

    if provider not in SELF_PROVIDERS:
        raise DrillUsageError(
            f"--provider: {provider!r} is not one of the drill's simulated providers "
            f"({', '.join(SELF_PROVIDERS)}); pass --config to drill your own"
        )
    plays = mode != "refused"
    outage = SimOutage(start_s=outage_start_s, duration_s=outage_s, mode=mode) if plays else None
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="daytwo-drill-")))
        urls = {
            name: stack.enter_context(
                running_sim_server(
                    _sim(seed, outage if name == provider else None, hang_s=outage_s),
                    clock=clock,
                )
            )
            for seed, name in enumerate(SELF_PROVIDERS, start=1)
        }
        cfg = validate_config(
            self_contained_config(tmp / "ledger.db", urls, provider), source="<drill>"
        )
        app = create_app(cfg)
        url = _enter(stack, serving(app))
        deployments = cfg.models[SELF_ALIAS].deployments
        yield Stage(
            gateway=app,
            url=url,
            setup="self-contained",
            alias=SELF_ALIAS,
            provider=provider,
            deployments=tuple(d.id for d in deployments),
            drilled=tuple(d.id for d in deployments if d.provider == provider),
            injected="simulator" if plays else "adapter",
            headers=_attribution(),
        )


# -- the user's config ----------------------------------------------------------------------


def pick_alias(cfg: Config, provider: str, model: str | None) -> str:
    """``model`` when it is a chat alias with a deployment on ``provider``; else the first
    chat alias that has one."""
    if model is not None:
        spec = cfg.models.get(model)
        if spec is None:
            known = ", ".join(cfg.models) or "none"
            raise DrillUsageError(f"--model: no model alias {model!r} (configured: {known})")
        if spec.kind != "chat":
            raise DrillUsageError(f"--model: {model!r} is an {spec.kind} alias, not a chat one")
        if not any(d.provider == provider for d in spec.deployments):
            raise DrillUsageError(
                f"--model: no deployment of {model!r} is on provider {provider!r}"
            )
        return model
    for alias, spec in cfg.models.items():
        if spec.kind == "chat" and any(d.provider == provider for d in spec.deployments):
            return alias
    raise DrillUsageError(f"--provider: no chat model alias routes to provider {provider!r}")


@contextmanager
def from_config(path: Path, provider: str, model: str | None, *, lasts_s: float) -> Iterator[Stage]:
    """The user's config, validated, served by a gateway in this process (config reloads off:
    the drill's setup stays what it read). ``lasts_s``: the drill's planned length."""
    from daytwo.admin.mount import create_app
    from daytwo.config.load import load_config
    from daytwo.core.errors import ConfigError
    from daytwo.core.secrets import SecretError

    try:
        cfg = load_config(path)
    except ConfigError as exc:
        raise DrillUsageError("; ".join(exc.problems)) from None
    if provider not in cfg.providers:
        known = ", ".join(cfg.providers) or "none"
        raise DrillUsageError(f"--provider: no provider {provider!r} in {path} (it has: {known})")
    alias = pick_alias(cfg, provider, model)
    cfg = cfg.model_copy(update={"server": cfg.server.model_copy(update={"reload_poll_s": 0.0})})
    try:
        app = create_app(cfg, config_path=path)
    except SecretError as exc:
        raise DrillUsageError(f"{path}: {exc}") from None
    except ConfigError as exc:  # a pricing catalog file that cannot be read
        raise DrillUsageError("; ".join(exc.problems)) from None
    deployments = cfg.models[alias].deployments
    serve = embedded(
        app,
        project=DRILL_PROJECT,
        workflow=DRILL_WORKFLOW,
        description="temporary key of an outage drill",
        actor="daytwo drill outage",
        lasts_s=lasts_s,
    )
    with ExitStack() as stack:
        served = _enter(stack, serve)
        yield Stage(
            gateway=app,
            url=served.url,
            setup="config",
            alias=alias,
            provider=provider,
            deployments=tuple(d.id for d in deployments),
            drilled=tuple(d.id for d in deployments if d.provider == provider),
            injected="adapter",
            headers={**_attribution(), **served.headers},
            config_path=path,
        )
