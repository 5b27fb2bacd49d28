"""The runtime: everything built from one config that a call needs (adapters, alias table, price
book), swapped atomically on reload.

In-flight calls keep the runtime they started with; a replaced runtime closes the adapters that
the new one no longer uses once its last call has finished.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from daytwo.config.checkpoint import checkpoint
from daytwo.config.schema import Config, DeploymentConfig, ProviderConfig
from daytwo.control.gate import SpendGate
from daytwo.core.errors import InvalidRequest
from daytwo.core.secrets import SecretRegistry
from daytwo.core.types import NativeRequest
from daytwo.pricing.catalog import PriceBook
from daytwo.pricing.entry import PriceEntry
from daytwo.providers.base import Adapter, Target
from daytwo.providers.registry import build_adapter
from daytwo.resilience.plan import Resilience

log = logging.getLogger("daytwo.gateway")


@dataclass(frozen=True, slots=True)
class Route:
    """A model alias resolved to its ordered deployments."""

    alias: str
    kind: str
    targets: tuple[Target, ...]
    #: The deployments that adjust the request (params, drop_params, system_prefix), by id.
    adjusted: Mapping[str, DeploymentConfig] = field(default_factory=dict)


#: (project, workflow) pairs whose capture policy is cached (beyond it, looked up each time).
CAPTURE_CACHE = 10_000


class Runtime:
    def __init__(
        self,
        config: Config,
        adapters: dict[str, Adapter],
        provider_configs: dict[str, ProviderConfig],
        prices: PriceBook,
        *,
        previous_resilience: Resilience | None = None,
    ) -> None:
        self.config = config
        self.adapters = adapters
        self.provider_configs = provider_configs
        self.prices = prices
        self.routes = {
            alias: Route(
                alias,
                spec.kind,
                tuple(Target(d.provider, d.model, d.id) for d in spec.deployments),
                {d.id: d for d in spec.deployments if d.adjusts},
            )
            for alias, spec in config.models.items()
        }
        self.provider_types = {name: p.type for name, p in config.providers.items()}
        #: The config checkpoint every call under this runtime records (and its text, which the
        #: audit trail keeps once per hash).
        self.config_hash, self.config_text = checkpoint(config)
        #: Audit capture policy per (project, workflow): mode and content retention, seconds.
        self._capture: dict[tuple[str, str | None], tuple[str, float]] = {}
        self._dep_prices: dict[str, float] | None = None
        #: Retry policies, routers and tiers per alias, over breakers that outlive a reload.
        self.resilience = Resilience(
            config.resilience,
            config.models,
            price=self._output_price,
            previous=previous_resilience,
        )
        #: Spend control for this config; set by the gateway once the state store is open.
        self.gate: SpendGate | None = None
        self.inflight = 0
        self._retired = False
        self._to_close: list[Adapter] = []
        self._closed = asyncio.Event()

    @classmethod
    def build(
        cls,
        config: Config,
        secrets: SecretRegistry,
        previous: Runtime | None = None,
        *,
        base_dir: Path | None = None,
    ) -> Runtime:
        """Build adapters for ``config``, reusing the previous runtime's adapters whose provider
        config is unchanged (their connection pools stay warm). Raises on invalid secrets."""
        adapters: dict[str, Adapter] = {}
        for name, pcfg in config.providers.items():
            if previous is not None and previous.provider_configs.get(name) == pcfg:
                adapters[name] = previous.adapters[name]
            else:
                adapters[name] = build_adapter(pcfg, secrets)
        prices = PriceBook.from_config(config.pricing, base_dir=base_dir)
        return cls(
            config,
            adapters,
            dict(config.providers),
            prices,
            previous_resilience=previous.resilience if previous is not None else None,
        )

    def capture_policy(self, project: str, workflow: str | None) -> tuple[str, float]:
        """The audit capture mode and content retention (seconds) of a call (cached)."""
        key = (project, workflow)
        got = self._capture.get(key)
        if got is None:
            mode, keep = self.config.audit.policy(project, workflow)
            got = (mode, keep.total_seconds())
            if len(self._capture) < CAPTURE_CACHE:
                self._capture[key] = got
        return got

    def price_of(self, target: Target) -> PriceEntry | None:
        """The price of one deployment (the default price under the ``estimate`` policy)."""
        prices = self.prices
        entry = prices.lookup(
            target.model,
            provider=target.provider,
            provider_type=self.provider_types.get(target.provider),
        )
        if entry is None and prices.unpriced == "estimate":
            return prices.default
        return entry

    def _output_price(self, deployment: str) -> float | None:
        """USD per million tokens in plus out of a deployment id (``lowest_cost`` routing)."""
        if self._dep_prices is None:
            self._dep_prices = {}
            for route in self.routes.values():
                for target in route.targets:
                    entry = self.price_of(target)
                    if entry is not None:
                        self._dep_prices[target.deployment] = float(entry.input + entry.output)
        return self._dep_prices.get(deployment)

    def retire(self, successor: Runtime | None) -> None:
        """Stop serving new calls; close adapters the successor does not share when idle."""
        kept = {id(a) for a in successor.adapters.values()} if successor else set()
        self._to_close = [a for a in self.adapters.values() if id(a) not in kept]
        self._retired = True
        if self.inflight == 0:
            self._closed.set()

    def release(self) -> None:
        self.inflight -= 1
        if self._retired and self.inflight == 0:
            self._closed.set()

    async def close_when_idle(self, timeout_s: float) -> None:
        try:
            await asyncio.wait_for(self._closed.wait(), timeout_s)
        except TimeoutError:
            log.warning("closing a replaced runtime with %d calls still in flight", self.inflight)
        for adapter in self._to_close:
            await adapter.aclose()


def same_wire(route: Route, native: NativeRequest, provider_types: Mapping[str, str]) -> Route:
    """The route's deployments that speak the client's wire format, for a request using a
    field only they honour (Anthropic's ``thinking``); 400 naming that field when none does."""
    keep = tuple(t for t in route.targets if provider_types.get(t.provider) == native.wire)
    if not keep:
        raise InvalidRequest(
            f"`{native.requires}` needs an {native.wire} upstream, and no deployment of the model "
            f"`{route.alias}` is one.",
            param=native.requires,
        )
    return route if len(keep) == len(route.targets) else replace(route, targets=keep)
