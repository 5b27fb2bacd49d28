"""Where the money is wasted (``daytwo optimize``): rules over ledger aggregates, each a pure
function that turns the window's figures into :class:`Opportunity` rows with a dollar estimate
per month, its evidence and the command that acts on it.

The aggregates (:mod:`daytwo.finops.optimize_read`) are the window's rollup totals, one row per
(workflow, model, provider, stream, prompt version) of the calls answered upstream, and the
failed attempts of calls that succeeded. Every figure is exact integer nano-dollars; a window's
saving becomes a monthly one by :func:`per_month` (30 days, floored).

What the ledger cannot tell is not guessed: it keeps no hash of a request (exact duplicates
show only as response-cache hits) and no size of the retrieved context an application sends
(``daytwo_context`` stays in memory for the judges), so neither has a rule.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from daytwo.core.money import nanos_to_usd
from daytwo.core.types import Usage
from daytwo.pricing.catalog import PriceBook
from daytwo.pricing.cost import compute_cost
from daytwo.pricing.entry import PriceEntry

MONTH_S = 30 * 86_400
#: A "simple task": at most this many input and output tokens per call on average.
SIMPLE_INPUT_TOKENS = 1_000
SIMPLE_OUTPUT_TOKENS = 250
#: A model is "expensive" for a group when the group cost at least this many times what the
#: reference model would have charged for the same tokens.
EXPENSIVE_FACTOR = 2
#: The default reference: a small, priced chat model in the bundled catalog.
REFERENCE_MODEL = "gpt-4o-mini"
#: A prompt version "grew" when its input per call is at least this much above the previous
#: version's (20 %).
VERBOSE_GROWTH = 1.2
#: Providers' smallest cacheable prefix (OpenAI and Anthropic: 1,024 tokens).
CACHE_MIN_PREFIX = 1_024
#: Below this share of input read from the cache, a long stable prompt is not being cached.
CACHE_LOW_SHARE = 0.1
#: The part of a named prompt's uncached input assumed to be its stable prefix (a half: the
#: ledger does not store how long the system prompt is).
CACHE_PREFIX_NUM, CACHE_PREFIX_DEN = 1, 2
#: Provider types whose APIs offer prompt caching and a batch API at half price.
CACHING_PROVIDERS = frozenset({"openai", "azure_openai", "anthropic", "gemini", "google", "sim"})
BATCH_PROVIDERS = frozenset({"openai", "azure_openai", "anthropic", "gemini", "google", "sim"})
BATCH_DISCOUNT_NUM, BATCH_DISCOUNT_DEN = 1, 2
#: Batch APIs answer within 24 h: only a workflow with this many calls a month is worth moving.
BATCH_MIN_CALLS_PER_MONTH = 1_000
#: How many opportunities are highlighted as "pick these".
PICK = 3


@dataclass(frozen=True, slots=True)
class Group:
    """Calls answered upstream (status ok, no cache hit) in one (workflow, model, provider,
    stream, prompt version) cell of the window. ``cost_nanousd`` sums the priced ones."""

    workflow: str | None
    model: str
    provider: str | None
    stream: bool
    prompt: str | None
    version: int | None
    calls: int
    input_tokens: int
    output_tokens: int
    cached_input_tokens: int
    cost_nanousd: int
    priced_calls: int


@dataclass(frozen=True, slots=True)
class Waste:
    """The window's rollup totals the rules read (money in nano-dollars)."""

    calls: int = 0
    cost_nanousd: int = 0
    failed_calls: int = 0
    failed_cost_nanousd: int = 0
    retried_calls: int = 0
    extra_attempts: int = 0
    unpriced_calls: int = 0
    unattributed_calls: int = 0
    unattributed_cost_nanousd: int = 0


@dataclass(frozen=True, slots=True)
class FailedAttempts:
    """Failed attempts of calls that were answered in the end, at one deployment."""

    provider: str
    deployment: str
    attempts: int
    cost_nanousd: int
    #: The most failed attempts (of every call) in one UTC hour: a retry storm.
    peak_hour_attempts: int = 0


@dataclass(frozen=True, slots=True)
class Aggregates:
    window_s: int
    waste: Waste
    groups: tuple[Group, ...] = ()
    failed_attempts: tuple[FailedAttempts, ...] = ()
    #: Models whose calls had no price, with their call counts.
    unpriced_models: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True, slots=True)
class Opportunity:
    """One way to spend less. ``monthly_nanousd`` None: the amount is unknown (unpriced)."""

    kind: str
    title: str
    monthly_nanousd: int | None
    command: str
    evidence: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "title": self.title,
            "per_month": None if self.monthly_nanousd is None else money(self.monthly_nanousd),
            "command": self.command,
            "evidence": self.evidence,
        }


def per_month(nanos: int, window_s: int) -> int:
    """A window's nano-dollars scaled to 30 days (floored)."""
    return nanos * MONTH_S // window_s


def money(nanos: int) -> dict[str, Any]:
    return {"usd": f"{nanos_to_usd(nanos):.9f}", "nanos": nanos}


def reference_entry(book: PriceBook, model: str = REFERENCE_MODEL) -> PriceEntry:
    """The price the simple-task rule re-prices with; ValueError when ``model`` is unpriced."""
    entry = book.lookup(model)
    if entry is None:
        raise ValueError(f"reference model `{model}` has no price in the catalog")
    return entry


# ---------------------------------------------------------------------- rules


def simple_tasks(
    groups: Iterable[Group], reference: PriceEntry, window_s: int
) -> list[Opportunity]:
    """Workflows on models costing ``EXPENSIVE_FACTOR`` x the reference for short calls: the
    saving is what they paid minus the reference's price for the same tokens."""
    out = []
    for key, g in _merge(groups, lambda g: (g.workflow, g.model, g.provider)).items():
        workflow, model, provider = key
        if workflow is None or g.priced_calls != g.calls or not g.calls:
            continue
        if g.input_tokens > SIMPLE_INPUT_TOKENS * g.calls:
            continue
        if g.output_tokens > SIMPLE_OUTPUT_TOKENS * g.calls:
            continue
        usage = Usage(
            input_tokens=g.input_tokens,
            output_tokens=g.output_tokens,
            cached_input_tokens=g.cached_input_tokens,
        )
        repriced = compute_cost(usage, reference)
        if g.cost_nanousd < EXPENSIVE_FACTOR * repriced or g.cost_nanousd == repriced:
            continue
        out.append(
            Opportunity(
                kind="simple_tasks",
                title=f"{workflow}: short calls on {model}; {reference.model} would do",
                monthly_nanousd=per_month(g.cost_nanousd - repriced, window_s),
                command="daytwo recommend --since 30d",
                evidence={
                    "workflow": workflow,
                    "model": model,
                    "provider": provider,
                    "calls": g.calls,
                    "input_tokens_per_call": round(g.input_tokens / g.calls, 1),
                    "output_tokens_per_call": round(g.output_tokens / g.calls, 1),
                    "cost": money(g.cost_nanousd),
                    "reference_model": reference.model,
                    "reference_cost": money(repriced),
                },
            )
        )
    return out


def retry_waste(waste: Waste, failed: Sequence[FailedAttempts], window_s: int) -> list[Opportunity]:
    """What failures cost: calls that ended failed, plus the failed attempts of calls that were
    answered in the end (a retry or a failover paid for the attempt before it)."""
    attempts_cost = sum(f.cost_nanousd for f in failed)
    total = waste.failed_cost_nanousd + attempts_cost
    if total <= 0:
        return []
    worst = sorted(failed, key=lambda f: (-f.cost_nanousd, -f.attempts, f.deployment))[:3]
    return [
        Opportunity(
            kind="retry_waste",
            title="Failed calls and retried attempts that were billed",
            monthly_nanousd=per_month(total, window_s),
            command="daytwo providers status",
            evidence={
                "failed_calls": waste.failed_calls,
                "failed_calls_cost": money(waste.failed_cost_nanousd),
                "retried_calls": waste.retried_calls,
                "extra_attempts": waste.extra_attempts,
                "failed_attempts_cost": money(attempts_cost),
                "retry_storm_peak_per_hour": max((f.peak_hour_attempts for f in failed), default=0),
                "deployments": [
                    {
                        "deployment": f.deployment,
                        "failed_attempts": f.attempts,
                        "cost": money(f.cost_nanousd),
                    }
                    for f in worst
                ],
            },
        )
    ]


def verbose_prompts(groups: Iterable[Group], window_s: int) -> list[Opportunity]:
    """A prompt whose newest version sends ``VERBOSE_GROWTH`` x the input per call of the
    version before it: the saving is the newest version's cost above what its calls would have
    cost at the previous version's cost per call."""
    by_prompt: dict[str, dict[int, Group]] = defaultdict(dict)
    for (name, version), g in _merge(groups, lambda g: (g.prompt, g.version)).items():
        if name is not None and version is not None and g.calls and g.priced_calls == g.calls:
            by_prompt[name][version] = g
    out = []
    for name, versions in sorted(by_prompt.items()):
        if len(versions) < 2:
            continue
        new_v, old_v = sorted(versions, reverse=True)[:2]
        new, old = versions[new_v], versions[old_v]
        if new.input_tokens * old.calls < VERBOSE_GROWTH * old.input_tokens * new.calls:
            continue
        extra = new.cost_nanousd - old.cost_nanousd * new.calls // old.calls
        if extra <= 0:
            continue
        out.append(
            Opportunity(
                kind="verbose_prompt",
                title=f"{name}: v{new_v} sends more input per call than v{old_v}",
                monthly_nanousd=per_month(extra, window_s),
                command=f"daytwo prompts diff {name} v{old_v} v{new_v}",
                evidence={
                    "prompt": name,
                    "versions": {
                        f"v{v}": {
                            "calls": g.calls,
                            "input_tokens_per_call": round(g.input_tokens / g.calls, 1),
                            "cost_per_call_usd": f"{g.cost_nanousd / g.calls / 1e9:.9f}",
                        }
                        for v, g in ((old_v, old), (new_v, new))
                    },
                },
            )
        )
    return out


def prompt_caching(groups: Iterable[Group], book: PriceBook, window_s: int) -> list[Opportunity]:
    """Named prompts with long inputs at a provider that caches prompts, but almost nothing
    read from the cache: the saving is half their uncached input (the assumed stable prefix)
    at the cached-input price instead of the input price."""
    out = []
    merged = _merge(groups, lambda g: (g.prompt, g.model, g.provider))
    for (name, model, provider), g in sorted(merged.items(), key=lambda kv: str(kv[0])):
        if name is None or provider not in CACHING_PROVIDERS or not g.calls:
            continue
        if g.input_tokens < CACHE_MIN_PREFIX * g.calls:
            continue
        if g.cached_input_tokens >= CACHE_LOW_SHARE * g.input_tokens:
            continue
        entry = book.lookup(model, provider_type=provider)
        if entry is None or entry.cached_input is None or entry.cached_input >= entry.input:
            continue
        uncached = g.input_tokens - g.cached_input_tokens
        prefix = uncached * CACHE_PREFIX_NUM // CACHE_PREFIX_DEN
        now = Usage(
            input_tokens=g.input_tokens,
            output_tokens=g.output_tokens,
            cached_input_tokens=g.cached_input_tokens,
        )
        cached = Usage(
            input_tokens=g.input_tokens,
            output_tokens=g.output_tokens,
            cached_input_tokens=g.cached_input_tokens + prefix,
        )
        saving = compute_cost(now, entry) - compute_cost(cached, entry)
        if saving <= 0:
            continue
        share = _pct(g.cached_input_tokens, g.input_tokens)
        out.append(
            Opportunity(
                kind="prompt_caching",
                title=f"{name} on {model}: long prompt, {share} of it read from a cache",
                monthly_nanousd=per_month(saving, window_s),
                command=f"daytwo prompts show {name}",
                evidence={
                    "prompt": name,
                    "model": model,
                    "provider": provider,
                    "calls": g.calls,
                    "input_tokens_per_call": round(g.input_tokens / g.calls, 1),
                    "cached_input_tokens": g.cached_input_tokens,
                    "assumed_stable_prefix_tokens": prefix,
                },
            )
        )
    return out


def batchable(groups: Iterable[Group], window_s: int) -> list[Opportunity]:
    """Workflows that never stream, at batch-capable providers, with enough volume: a batch API
    would halve their cost."""
    by_workflow: dict[str, list[Group]] = defaultdict(list)
    for g in groups:
        if g.workflow is not None:
            by_workflow[g.workflow].append(g)
    out = []
    for workflow, gs in sorted(by_workflow.items()):
        if any(g.stream or g.provider not in BATCH_PROVIDERS for g in gs):
            continue
        calls = sum(g.calls for g in gs)
        if per_month(calls, window_s) < BATCH_MIN_CALLS_PER_MONTH:
            continue
        cost = sum(g.cost_nanousd for g in gs)
        saving = cost * BATCH_DISCOUNT_NUM // BATCH_DISCOUNT_DEN
        if saving <= 0:
            continue
        out.append(
            Opportunity(
                kind="batchable",
                title=f"{workflow}: never streams; a batch API would halve its cost",
                monthly_nanousd=per_month(saving, window_s),
                command=f"daytwo spend --by workflow --since 30d  # move {workflow} to a batch API",
                evidence={
                    "workflow": workflow,
                    "calls": calls,
                    "streamed_calls": 0,
                    "cost": money(cost),
                    "providers": sorted({g.provider or "" for g in gs}),
                },
            )
        )
    return out


def untagged(
    waste: Waste, unpriced_models: Sequence[tuple[str, int]], window_s: int
) -> list[Opportunity]:
    """Spend nobody owns (calls without a project) and spend nobody priced."""
    out = []
    if waste.unattributed_cost_nanousd > 0:
        out.append(
            Opportunity(
                kind="unattributed",
                title="Spend with no project: nobody owns it",
                monthly_nanousd=per_month(waste.unattributed_cost_nanousd, window_s),
                command="daytwo spend --by key --since 30d",
                evidence={
                    "calls": waste.unattributed_calls,
                    "cost": money(waste.unattributed_cost_nanousd),
                },
            )
        )
    if waste.unpriced_calls:
        out.append(
            Opportunity(
                kind="unpriced",
                title="Calls with no price: the real spend is higher than shown",
                monthly_nanousd=None,
                command="daytwo pricing list",
                evidence={
                    "calls": waste.unpriced_calls,
                    "models": [{"model": m, "calls": n} for m, n in unpriced_models],
                },
            )
        )
    return out


def find_opportunities(
    agg: Aggregates, book: PriceBook, reference: PriceEntry
) -> list[Opportunity]:
    """Every rule over ``agg``, most dollars first (unknown amounts last)."""
    found = [
        *simple_tasks(agg.groups, reference, agg.window_s),
        *retry_waste(agg.waste, agg.failed_attempts, agg.window_s),
        *verbose_prompts(agg.groups, agg.window_s),
        *prompt_caching(agg.groups, book, agg.window_s),
        *batchable(agg.groups, agg.window_s),
        *untagged(agg.waste, agg.unpriced_models, agg.window_s),
    ]
    return rank(found)


def rank(found: Iterable[Opportunity]) -> list[Opportunity]:
    return sorted(
        found,
        key=lambda o: (o.monthly_nanousd is None, -(o.monthly_nanousd or 0), o.kind, o.title),
    )


def _merge(groups: Iterable[Group], key: Any) -> dict[Any, Group]:
    out: dict[Any, Group] = {}
    for g in groups:
        k = key(g)
        o = out.get(k)
        out[k] = (
            g
            if o is None
            else Group(
                workflow=o.workflow,
                model=o.model,
                provider=o.provider,
                stream=o.stream or g.stream,
                prompt=o.prompt,
                version=o.version,
                calls=o.calls + g.calls,
                input_tokens=o.input_tokens + g.input_tokens,
                output_tokens=o.output_tokens + g.output_tokens,
                cached_input_tokens=o.cached_input_tokens + g.cached_input_tokens,
                cost_nanousd=o.cost_nanousd + g.cost_nanousd,
                priced_calls=o.priced_calls + g.priced_calls,
            )
        )
    return out


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.0f}%" if whole else "0%"
