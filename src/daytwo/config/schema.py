"""The schema of ``daytwo.yaml``. Every model is frozen and forbids unknown keys.

Secrets appear only as references (``env:NAME`` or ``file:/path``); a value that looks like a key
is refused at load time.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    HttpUrl,
    model_validator,
)

from daytwo.config.alerts import AlertsConfig
from daytwo.config.audit import AuditConfig
from daytwo.config.drift import DriftConfig
from daytwo.config.finops import FinopsConfig
from daytwo.config.incidents import IncidentsConfig
from daytwo.config.prompts import PromptsConfig
from daytwo.config.quality import QualityConfig
from daytwo.config.replay import CacheConfig, IdempotencyConfig
from daytwo.config.resilience import ResilienceConfig
from daytwo.config.rollouts import RolloutsConfig
from daytwo.config.server import ServerConfig
from daytwo.config.sim_billing import SimBilling
from daytwo.config.sim_quality import SimQuality
from daytwo.config.slos import SloConfig, check_slos
from daytwo.config.spend import SpendControlConfig
from daytwo.config.telemetry import TelemetryConfig
from daytwo.core.secrets import parse_ref


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_ref(value: str) -> str:
    parse_ref(value)  # raises SecretError (a ValueError) with a message that names no value
    return value


SecretRef = Annotated[str, AfterValidator(_check_ref)]
Name = Annotated[
    str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/@+-]*$")
]


class GatewayConfig(Model):
    #: Every call must carry a daytwo virtual key (``Authorization: Bearer dt2_sk_...``).
    #: Turn off only for the embedded demo and local use.
    require_keys: bool = True
    #: How often the in-memory key snapshot is refreshed from the database, seconds: a revoked
    #: or rotated-out key stops within this delay; a new key works at once (looked up).
    key_cache_ttl_s: float = Field(default=5.0, gt=0)


class LoggingConfig(Model):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["json", "text"] = "json"
    #: Log one line per call (access log) with the call id, alias, status and latency.
    access_log: bool = True


# ---------------------------------------------------------------- providers


class SimFaults(Model):
    """Probabilities (0..1) of each fault per request, drawn from the seeded generator.

    One draw per request decides at most one fault, so the rates must add up to at most 1.
    """

    rate_429: float = Field(default=0.0, ge=0, le=1)
    rate_500: float = Field(default=0.0, ge=0, le=1)
    rate_503: float = Field(default=0.0, ge=0, le=1)
    #: The request hangs (no bytes) for ``hang_s`` seconds, then the connection closes.
    rate_timeout: float = Field(default=0.0, ge=0, le=1)
    #: The body (or a stream chunk) is cut or not valid JSON.
    rate_malformed: float = Field(default=0.0, ge=0, le=1)
    #: The connection closes without an answer (non-streamed) or mid-stream after some chunks.
    rate_reset: float = Field(default=0.0, ge=0, le=1)
    retry_after_s: int = Field(default=1, ge=0)
    hang_s: float = Field(default=30.0, ge=0)

    @model_validator(mode="after")
    def _total(self) -> SimFaults:
        total = (
            self.rate_429
            + self.rate_500
            + self.rate_503
            + self.rate_timeout
            + self.rate_malformed
            + self.rate_reset
        )
        if total > 1.0 + 1e-9:
            raise ValueError(f"the fault rates add up to {total:g}; at most 1 is possible")
        return self


class SimOutage(Model):
    """A scheduled outage, in seconds from the simulator's start."""

    start_s: float = Field(ge=0)
    duration_s: float = Field(gt=0)
    mode: Literal["503", "500", "429", "hang", "malformed", "reset"] = "503"


class SimSettings(Model):
    seed: int = 0
    #: Time to first token, milliseconds (non-streamed answers wait ttft + all tokens too).
    ttft_ms: float = Field(default=0.0, ge=0)
    #: Time between streamed tokens, milliseconds.
    per_token_ms: float = Field(default=0.0, ge=0)
    min_output_tokens: int = Field(default=8, ge=0)
    max_output_tokens: int = Field(default=64, ge=0)
    #: Simulate providers that do not report usage in streams (daytwo then counts and estimates).
    stream_usage: bool = True
    #: Simulate an upstream that ignores ``max_tokens`` (daytwo's stream guard must end it).
    ignore_max_tokens: bool = False
    faults: SimFaults = SimFaults()
    outages: tuple[SimOutage, ...] = ()
    #: A request quota like a provider's RPM limit: at most this many requests per
    #: ``quota_window_s`` (then 429 with retry-after), and the remaining count reported in the
    #: rate-limit headers of every answer (None: unlimited, constant headers).
    quota_requests: int | None = Field(default=None, ge=1)
    quota_window_s: float = Field(default=60.0, gt=0)
    #: Scripted answer quality (``config/sim_quality.py``); None: generated prose, as always.
    quality: SimQuality | None = None
    #: The admin usage / cost endpoints and their planted discrepancies (``config/sim_billing.py``).
    billing: SimBilling = SimBilling()

    @model_validator(mode="after")
    def _lengths(self) -> SimSettings:
        if self.max_output_tokens < self.min_output_tokens:
            raise ValueError("max_output_tokens must be >= min_output_tokens")
        return self


class HTTPProviderConfig(Model):
    """Connection knobs every HTTP upstream shares."""

    #: Whole-call timeout and connect timeout, seconds.
    timeout_s: float = Field(600.0, gt=0)
    connect_timeout_s: float = Field(10.0, gt=0)
    max_connections: int = Field(1000, ge=1)
    #: For an upstream known to ignore ``max_tokens``: end a stream (``reservation_exhausted``)
    #: once the upstream's own streamed usage reports more output than the call reserved.
    enforce_output_cap: bool = False


class OpenAIProviderConfig(HTTPProviderConfig):
    """OpenAI or any OpenAI-compatible server (vLLM, Ollama, Groq, Together, Mistral, sim)."""

    type: Literal["openai"]
    base_url: HttpUrl = HttpUrl("https://api.openai.com/v1")
    api_key: SecretRef | None = None
    organization: str | None = None
    #: Ask for ``stream_options.include_usage`` (exact streamed usage). Turn off for servers
    #: that reject it; daytwo then counts tokens and flags the record as estimated.
    stream_usage: bool = True


class AzureOpenAIProviderConfig(HTTPProviderConfig):
    """Azure OpenAI: ``{endpoint}/openai/deployments/{deployment}/chat/completions?api-version=``.

    A deployment's ``model`` is the Azure *deployment name*; the ledger records the model Azure
    reports serving.
    """

    type: Literal["azure_openai"]
    #: ``https://{resource}.openai.azure.com``
    endpoint: HttpUrl
    api_key: SecretRef | None = None
    api_version: str = Field("2024-10-21", min_length=1)
    stream_usage: bool = True


class AnthropicProviderConfig(HTTPProviderConfig):
    """Anthropic's Messages API (``POST {base_url}/v1/messages``)."""

    type: Literal["anthropic"]
    base_url: HttpUrl = HttpUrl("https://api.anthropic.com")
    api_key: SecretRef | None = None
    #: The ``anthropic-version`` header sent with every request.
    anthropic_version: str = Field("2023-06-01", min_length=1)
    #: ``max_tokens`` sent when a request gives none (Anthropic requires one).
    default_max_tokens: int = Field(4096, ge=1)
    #: The ``anthropic-beta`` flags a client of the Anthropic door may send on to this
    #: provider (``"*"``: any). Flags not listed are dropped, not refused (the SDKs add some
    #: on their own); the upstream then answers as without them.
    beta_headers: tuple[str, ...] = ()


class GeminiProviderConfig(HTTPProviderConfig):
    """Google Gemini API: ``{base_url}/{api_version}/models/{model}:generateContent`` (and
    ``:streamGenerateContent?alt=sse``, ``:batchEmbedContents``), key in ``x-goog-api-key``."""

    type: Literal["gemini"]
    base_url: HttpUrl = HttpUrl("https://generativelanguage.googleapis.com")
    api_key: SecretRef | None = None
    api_version: str = Field("v1beta", min_length=1)


class BedrockProviderConfig(HTTPProviderConfig):
    """Amazon Bedrock Runtime: Converse / ConverseStream / InvokeModel (embeddings), SigV4-signed.

    Credentials are references; ``endpoint_url`` overrides the regional endpoint (VPC endpoints,
    the simulator).
    """

    type: Literal["bedrock"]
    region: str = Field(min_length=1, pattern=r"^[a-z]{2}(-[a-z]+)+-\d+$")
    endpoint_url: HttpUrl | None = None
    access_key_id: SecretRef
    secret_access_key: SecretRef
    session_token: SecretRef | None = None


class SimProviderConfig(Model):
    """The built-in simulator, in-process: no sockets, no keys, no cost."""

    type: Literal["sim"]
    sim: SimSettings = SimSettings()
    #: See ``HTTPProviderConfig.enforce_output_cap``.
    enforce_output_cap: bool = False


ProviderConfig = Annotated[
    OpenAIProviderConfig
    | AzureOpenAIProviderConfig
    | AnthropicProviderConfig
    | GeminiProviderConfig
    | BedrockProviderConfig
    | SimProviderConfig,
    Field(discriminator="type"),
]


#: Request parameters a deployment may set: JSON scalars only (config is data).
ParamValue = str | int | float | bool | None
#: Parameters that cap the answer: a deployment's value lowers the client's, never raises it
#: (a budget reservation was sized on the client's).
_CAP_PARAMS = frozenset({"max_tokens", "max_completion_tokens"})
#: What a deployment's ``params`` may not touch: the routing and the content of the call.
_FIXED_PARAMS = frozenset({"model", "messages", "stream", "stream_options", "input", "tools"})


class DeploymentConfig(Model):
    provider: Name
    #: The model name the upstream knows.
    model: str = Field(min_length=1)
    #: A stable name for reports; defaults to ``provider/model``.
    name: Name | None = None
    #: Adjustments for this deployment when a call goes (or fails over) to it: parameters set
    #: on the request (``max_tokens`` / ``max_completion_tokens`` only ever lower the client's),
    #: parameters removed, and text put before the system prompt.
    params: dict[str, ParamValue] = Field(default_factory=dict)
    drop_params: tuple[str, ...] = ()
    system_prefix: str | None = Field(None, min_length=1)

    @model_validator(mode="after")
    def _adjustable(self) -> DeploymentConfig:
        fixed = sorted((set(self.params) | set(self.drop_params)) & _FIXED_PARAMS)
        if fixed:
            raise ValueError(f"params and drop_params cannot change {', '.join(fixed)}")
        for name in _CAP_PARAMS & set(self.params):
            value = self.params[name]
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"params.{name} must be a positive integer")
        return self

    @property
    def adjusts(self) -> bool:
        return bool(self.params or self.drop_params or self.system_prefix)

    @property
    def id(self) -> str:
        return self.name or f"{self.provider}/{self.model}"


class ModelAlias(Model):
    deployments: tuple[DeploymentConfig, ...] = Field(min_length=1)
    #: What the alias is for (shown by /v1/models and reports).
    kind: Literal["chat", "embeddings"] = "chat"


# ---------------------------------------------------------------- ledger and pricing


class LedgerConfig(Model):
    #: ``sqlite:///path/to/file.db`` (default, in the working directory) or ``postgresql://...``.
    url: str = "sqlite:///daytwo-ledger.db"
    #: Records waiting for the writer; past this, records spill to ``spill_path``.
    queue_size: int = Field(100_000, ge=100)
    batch_size: int = Field(2_000, ge=1)
    flush_interval_ms: int = Field(100, ge=1)

    @model_validator(mode="after")
    def _url(self) -> LedgerConfig:
        if not re.match(r"^(sqlite|postgresql)(\+[a-z0-9]+)?://", self.url):
            raise ValueError("url must start with sqlite:/// or postgresql://")
        return self


class Price(Model):
    """USD per million tokens."""

    input_per_mtok: Decimal = Field(ge=0)
    output_per_mtok: Decimal = Field(ge=0)
    cached_input_per_mtok: Decimal | None = Field(None, ge=0)
    cache_write_per_mtok: Decimal | None = Field(None, ge=0)


class PriceOverride(Price):
    #: The upstream model name to price (matched exactly, after ``provider`` if given).
    model: str = Field(min_length=1)
    provider: str | None = None


class PricingConfig(Model):
    #: What happens to a call whose model has no price: ``flag`` records it with unknown cost
    #: (shown loudly in reports), ``estimate`` uses ``default_price``, ``deny`` refuses it.
    unpriced: Literal["flag", "estimate", "deny"] = "flag"
    default_price: Price | None = None
    overrides: tuple[PriceOverride, ...] = ()
    #: Extra catalog files (daytwo's format or LiteLLM's model_prices_and_context_window.json).
    catalogs: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _estimate_needs_price(self) -> PricingConfig:
        if self.unpriced == "estimate" and self.default_price is None:
            raise ValueError("unpriced: estimate needs a default_price")
        return self


class Config(Model):
    server: ServerConfig = ServerConfig()
    gateway: GatewayConfig = GatewayConfig()
    logging: LoggingConfig = LoggingConfig()
    providers: dict[Name, ProviderConfig] = Field(default_factory=dict)
    models: dict[Name, ModelAlias] = Field(default_factory=dict)
    ledger: LedgerConfig = LedgerConfig()
    pricing: PricingConfig = PricingConfig()
    spend_control: SpendControlConfig = SpendControlConfig()
    finops: FinopsConfig = FinopsConfig()
    resilience: ResilienceConfig = ResilienceConfig()
    cache: CacheConfig = CacheConfig()
    idempotency: IdempotencyConfig = IdempotencyConfig()
    telemetry: TelemetryConfig = TelemetryConfig()
    alerts: AlertsConfig = AlertsConfig()
    prompts: PromptsConfig = PromptsConfig()
    #: The audit trail: chained entries, signed digests, content capture (config/audit.py).
    audit: AuditConfig = AuditConfig()
    # -- drift (config/drift.py): model_changed and quality drift ---------------------------
    drift: DriftConfig = DriftConfig()

    @model_validator(mode="after")
    def _drift_names_sinks(self) -> Config:
        problems = self.drift.problems(set(self.alerts.sinks), set(self.models))
        if problems:
            raise ValueError("; ".join(problems))
        return self

    # -- end of drift ------------------------------------------------------------------------

    #: Service-level objectives with error budgets and burn-rate alerts (config/slos.py).
    slos: tuple[SloConfig, ...] = ()

    @model_validator(mode="after")
    def _slos_name_sinks_aliases(self) -> Config:
        problems = check_slos(self.slos, sinks=set(self.alerts.sinks), aliases=set(self.models))
        if problems:
            raise ValueError("; ".join(problems))
        return self

    quality: QualityConfig = QualityConfig()
    #: Runbooks and the links alerts carry to them (config/incidents.py).
    incidents: IncidentsConfig = IncidentsConfig()
    #: Rollouts of prompt labels and model aliases (config/rollouts.py, docs/rollouts.md).
    rollouts: RolloutsConfig = RolloutsConfig()

    # -- quality (daytwo.quality): the judge alias exists, the judges' project has a budget --
    @model_validator(mode="after")
    def _quality_judges(self) -> Config:
        judge = self.quality.judge
        if not self.quality.has_judges:
            return self
        if judge.model not in self.models:
            raise ValueError(f"quality.judge.model: unknown model alias `{judge.model}`")
        if self.gateway.require_keys and judge.key is None:
            raise ValueError(
                "quality.judge.key: gateway.require_keys is on, so judge calls need a virtual "
                "key (a secret reference)"
            )
        if not any(b.scope.get("project") == judge.project for b in self.spend_control.budgets):
            raise ValueError(
                f"quality.judge.project: the judge calls' project `{judge.project}` needs a "
                f"budget of its own (spend_control.budgets, scope {{project: {judge.project}}})"
            )
        return self

    @model_validator(mode="after")
    def _rollouts_judge(self) -> Config:
        """The rollouts' sinks are alert sinks; the shadow pairs' judge asks a chat alias, as
        the quality judges' calls do."""
        known = ", ".join(sorted(self.alerts.sinks)) or "none are configured"
        for i, sink in enumerate(self.rollouts.sinks):
            if sink not in self.alerts.sinks:
                raise ValueError(
                    f"rollouts.sinks.{i}: unknown alert sink `{sink}` (known: {known})"
                )
        judge = self.rollouts.shadow.judge
        if judge is None:
            return self
        alias = self.models.get(judge.model)
        if alias is None:
            raise ValueError(f"rollouts.shadow.judge.model: unknown model alias `{judge.model}`")
        if alias.kind != "chat":
            raise ValueError(
                f"rollouts.shadow.judge.model: `{judge.model}` is an {alias.kind} alias; "
                "a judge needs a chat alias"
            )
        calls = self.quality.judge
        if self.gateway.require_keys and calls.key is None:
            raise ValueError(
                "quality.judge.key: gateway.require_keys is on, so the shadow pairs' judge "
                "calls need a virtual key (a secret reference)"
            )
        if not any(b.scope.get("project") == calls.project for b in self.spend_control.budgets):
            raise ValueError(
                f"quality.judge.project: the shadow pairs' judge calls' project "
                f"`{calls.project}` needs a budget of its own (spend_control.budgets, scope "
                f"{{project: {calls.project}}})"
            )
        return self

    @model_validator(mode="after")
    def _cache_names_aliases(self) -> Config:
        for alias in self.cache.aliases:
            if alias not in self.models:
                raise ValueError(f"cache.aliases.{alias}: unknown model alias `{alias}`")
        return self

    @model_validator(mode="after")
    def _resilience_names_aliases(self) -> Config:
        for alias, spec in self.resilience.aliases.items():
            where = f"resilience.aliases.{alias}"
            model = self.models.get(alias)
            if model is None:
                raise ValueError(f"{where}: unknown model alias `{alias}`")
            ids = {d.id for d in model.deployments}
            for dep in spec.weights or {}:
                if dep not in ids:
                    raise ValueError(
                        f"{where}.weights: `{dep}` is not a deployment of `{alias}` "
                        f"(its deployments: {', '.join(sorted(ids))})"
                    )
            for i, rule in enumerate(spec.tiers):
                to = self.models.get(rule.to)
                if to is None:
                    raise ValueError(f"{where}.tiers.{i}.to: unknown model alias `{rule.to}`")
                if to.kind != model.kind:
                    raise ValueError(
                        f"{where}.tiers.{i}.to: `{rule.to}` is a {to.kind} alias, "
                        f"`{alias}` a {model.kind} alias"
                    )
        for alias, model in self.models.items():
            listed = [d.id for d in model.deployments]
            if len(listed) != len(set(listed)):
                raise ValueError(
                    f"models.{alias}.deployments: two deployments have the same id; "
                    "give them distinct `name`s"
                )
        weights = self.resilience.defaults.weights
        if weights is not None:
            raise ValueError("resilience.defaults.weights: weights belong to an alias")
        return self

    @model_validator(mode="after")
    def _downgrades_name_aliases(self) -> Config:
        for i, budget in enumerate(self.spend_control.budgets):
            if budget.downgrade_to and budget.downgrade_to not in self.models:
                raise ValueError(
                    f"spend_control.budgets.{i}.downgrade_to: unknown model alias "
                    f"`{budget.downgrade_to}`"
                )
        return self

    @model_validator(mode="after")
    def _alerts_name_sinks_aliases_budgets(self) -> Config:
        budgets = {b.name for b in self.spend_control.budgets}
        problems = self.alerts.problems(aliases=set(self.models), budgets=budgets)
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @model_validator(mode="after")
    def _deployments_name_providers(self) -> Config:
        for alias, spec in self.models.items():
            for i, dep in enumerate(spec.deployments):
                if dep.provider not in self.providers:
                    known = ", ".join(sorted(self.providers)) or "none are configured"
                    raise ValueError(
                        f"models.{alias}.deployments.{i}.provider: unknown provider "
                        f"`{dep.provider}` (known: {known})"
                    )
        return self
