"""The evals room's shared vocabulary: what a suite asks for, what a target produced, how it was
graded, and how two runs compare.

Everything here is plain data (frozen dataclasses), so the runner, the assertions, the
statistics, the reports and the gate agree on one shape. A saved run is this data as JSON
(:meth:`RunResult.to_json` / :meth:`RunResult.from_json`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Protocol

# -- errors ----------------------------------------------------------------------------------


class SuiteError(ValueError):
    """A suite cannot be used as written. ``where`` names the file and the key path
    (``evals/support.yaml: tests[3].assert[0].type``); the CLI prints ``where: message`` on one
    line and exits 2."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"{where}: {message}")
        self.where = where
        self.message = message


class RunAborted(RuntimeError):
    """The run cannot go on: the cost cap or a budget is exhausted, the gateway or every
    provider is unreachable. The CLI prints the message and exits 2; no report is written."""


# -- what a suite asks for -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Target:
    """What produces the outputs under test."""

    #: As written in the suite or on the command line: ``prompt:support-reply@production``,
    #: ``prompt:support-reply@v4``, ``gpt-4o-mini``, or an ``id`` given in the suite.
    label: str
    kind: Literal["prompt", "model"]
    #: The ``model`` sent to the gateway: ``prompt:NAME@vN`` (the label resolved to its version
    #: when the run starts, so one run never mixes versions) or a model alias.
    model: str
    #: Prompt targets: the prompt's name and resolved version.
    prompt: str | None = None
    version: int | None = None
    #: Cache identity: the prompt version's content hash, or the alias; plus the alias's
    #: deployments (provider/model) as configured, so a config change invalidates the cache.
    identity: str = ""
    #: Request parameters the suite sets for this target (temperature, max_tokens, ...).
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AssertionSpec:
    """One assertion as written (promptfoo's vocabulary), checked when the suite loads."""

    #: The type without its ``not-`` prefix: ``contains``, ``llm-rubric``, ``python`` ...
    type: str
    negate: bool = False
    value: Any = None
    #: A score at or above this passes (types with a score); None: the type's own rule.
    threshold: float | None = None
    weight: float = 1.0
    #: The name the metric is reported and compared under (default: the type as written).
    metric: str = ""
    #: Type-specific options (``provider``/``judge`` model, ``n`` for rouge-n, a schema ...).
    config: Mapping[str, Any] = field(default_factory=dict)
    #: What the type's parser made of ``value`` (a compiled regex, a loaded schema, a function).
    parsed: Any = None

    @property
    def name(self) -> str:
        return self.metric or (f"not-{self.type}" if self.negate else self.type)


@dataclass(frozen=True, slots=True)
class Case:
    """One test of the dataset (after ``defaultTest`` is merged in)."""

    index: int
    #: Stable across runs: the test's ``id`` if given, else a hash of its vars.
    id: str
    description: str
    vars: Mapping[str, Any]
    #: The reference answer, if any (``expected`` in the dataset).
    expected: str | None = None
    #: Reference context for RAG metrics (retrieved chunks, in rank order).
    context: tuple[str, ...] = ()
    assertions: tuple[AssertionSpec, ...] = ()


# -- what a target produced ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ToolCall:
    name: str
    #: The arguments as the model wrote them (a JSON text, possibly invalid).
    arguments: str


@dataclass(frozen=True, slots=True)
class Output:
    """One answer, as read from the gateway's response (or the eval cache)."""

    text: str
    tool_calls: tuple[ToolCall, ...] = ()
    finish_reason: str | None = None
    #: The provider's own refusal signal (OpenAI ``message.refusal``; Anthropic
    #: ``stop_reason: refusal`` maps to finish reason ``refusal``).
    refusal: str | None = None
    served_model: str | None = None
    fingerprint: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    #: What the gateway charged for the call (its ``x-daytwo-cost-usd`` header).
    cost_usd: float = 0.0
    latency_ms: float = 0.0
    #: The ledger row (``x-daytwo-call-id``).
    call_id: str | None = None
    #: Answered from the eval cache: no call was made on this run.
    cached: bool = False


@dataclass(frozen=True, slots=True)
class Grade:
    """One assertion's verdict on one output."""

    assertion: str  # the type as written, ``not-`` included
    metric: str
    passed: bool
    score: float  # 0..1
    reason: str
    weight: float = 1.0
    #: What the judge / embedding calls this grade made cost.
    cost_usd: float = 0.0
    #: Grading itself failed (the judge's answer unusable after retries): the item counts as
    #: an error, not a failure.
    error: str | None = None


@dataclass(frozen=True, slots=True)
class ItemResult:
    """One case under one target, one repeat."""

    case_id: str
    case_index: int
    target: str  # Target.label
    repeat: int
    output: Output | None
    grades: tuple[Grade, ...] = ()
    #: The call failed after its retries (or a grade could not be made): an error, reported
    #: apart from failures.
    error: str | None = None

    @property
    def is_error(self) -> bool:
        return self.error is not None or any(g.error is not None for g in self.grades)

    @property
    def passed(self) -> bool:
        return not self.is_error and all(g.passed for g in self.grades)

    @property
    def score(self) -> float:
        """Weighted mean of the grades' scores (1.0 with no assertions, 0.0 on error)."""
        if self.is_error:
            return 0.0
        total = sum(g.weight for g in self.grades)
        if total <= 0:
            return 1.0 if self.passed else 0.0
        return sum(g.score * g.weight for g in self.grades) / total

    @property
    def cost_usd(self) -> float:
        """The answer's cost plus its grading's."""
        own = self.output.cost_usd if self.output is not None else 0.0
        return own + sum(g.cost_usd for g in self.grades)


@dataclass(frozen=True, slots=True)
class RunResult:
    """A whole run: every item of every target."""

    run_id: str
    suite: str  # the suite file as given
    description: str
    started_at: float  # unix seconds
    finished_at: float
    targets: tuple[Target, ...]
    items: tuple[ItemResult, ...]
    #: Items answered from the eval cache, calls made, and what the run spent (answers and
    #: grading; cached answers cost nothing on this run).
    cache_hits: int = 0
    calls: int = 0
    spent_usd: float = 0.0

    def for_target(self, label: str) -> tuple[ItemResult, ...]:
        return tuple(item for item in self.items if item.target == label)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for target in data["targets"]:
            target["params"] = dict(target["params"])
        for item in data["items"]:
            for grade in item["grades"]:
                grade.pop("parsed", None)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RunResult:
        targets = tuple(Target(**t) for t in data["targets"])
        items = tuple(
            ItemResult(
                case_id=i["case_id"],
                case_index=i["case_index"],
                target=i["target"],
                repeat=i["repeat"],
                output=None
                if i["output"] is None
                else Output(
                    **{
                        **i["output"],
                        "tool_calls": tuple(ToolCall(**c) for c in i["output"]["tool_calls"]),
                    }
                ),
                grades=tuple(Grade(**g) for g in i["grades"]),
                error=i["error"],
            )
            for i in data["items"]
        )
        return cls(
            run_id=data["run_id"],
            suite=data["suite"],
            description=data["description"],
            started_at=data["started_at"],
            finished_at=data["finished_at"],
            targets=targets,
            items=items,
            cache_hits=data.get("cache_hits", 0),
            calls=data.get("calls", 0),
            spent_usd=data.get("spent_usd", 0.0),
        )


# -- how two runs compare --------------------------------------------------------------------

Verdict = Literal["better", "worse", "no detectable difference"]
MetricKind = Literal["rate", "score", "cost", "latency"]


@dataclass(frozen=True, slots=True)
class MetricComparison:
    """One metric under baseline and candidate, on the same items."""

    metric: str
    kind: MetricKind
    #: Paired items (repeats folded per item first).
    n: int
    baseline: float
    candidate: float
    delta: float  # candidate - baseline
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    #: ``mcnemar-exact``, ``paired-bootstrap``, ``wilcoxon`` ...
    test: str
    verdict: Verdict
    #: The smallest |delta| this sample could detect (two-sided alpha 0.05, power 0.8).
    mde: float | None
    higher_is_better: bool = True
    #: Rates only: items passing under baseline only / candidate only (McNemar's b and c).
    discordant: tuple[int, int] | None = None
    #: Score-like metrics: the Wilcoxon signed-rank p-value of the per-item differences.
    wilcoxon_p: float | None = None


@dataclass(frozen=True, slots=True)
class Comparison:
    baseline: str
    candidate: str
    n_items: int
    metrics: tuple[MetricComparison, ...]
    #: Items present under one side only, or left with only errored repeats (not compared).
    unpaired: int = 0

    def metric(self, name: str) -> MetricComparison | None:
        return next((m for m in self.metrics if m.metric == name), None)


# -- what assertions may call ----------------------------------------------------------------


class EvalClient(Protocol):
    """The run's way to daytwo's gateway: every answer, judge verdict and embedding is a call
    through the gateway's pipeline (admission, budgets, ledger), attributed to the run."""

    async def chat(
        self,
        body: Mapping[str, Any],
        *,
        purpose: str,
        headers: Mapping[str, str] | None = None,
    ) -> Output:
        """One non-streamed chat completion (OpenAI shape). ``purpose``: ``answer``,
        ``judge``, ... (recorded as a tag). ``headers``: extra request headers (a judge sends
        ``X-Daytwo-Prompt: NAME@vN; hash=...`` so the ledger records its rubric's version).
        Retries what a retry can fix within the run's budget; raises :class:`RunAborted` when
        the run must stop and ``CallFailed`` when this call failed for good."""
        ...

    async def embed(self, texts: list[str], model: str) -> tuple[list[list[float]], float]:
        """Embeddings of ``texts`` (in order) and what they cost."""
        ...


class CallFailed(RuntimeError):
    """One call failed for good (after its retries): the item is an error, the run goes on."""


@dataclass(frozen=True, slots=True)
class JudgeSettings:
    """Who grades the model-graded assertions."""

    model: str | None = None  # an alias; None: model-graded assertions are refused at load
    #: Refuse a judge whose served model is of the same family as the target's.
    require_other_family: bool = False
    embedding_model: str | None = None


@dataclass(frozen=True, slots=True)
class GradeContext:
    """What one grading may look at."""

    case: Case
    output: Output
    target: Target
    #: The question as the target saw it: the last user message, rendered.
    question: str
    client: EvalClient
    judge: JudgeSettings
    #: What the request offered and asked for (tool-call and format assertions check against it).
    tools: tuple[Mapping[str, Any], ...] = ()
    response_format: Mapping[str, Any] | None = None


# -- the deploy gate -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GateCriteria:
    """What a candidate must meet (a suite's ``gate:`` block, overridable by flags). Unset
    criteria are not checked; a gate with no criterion at all is refused (never a pass by
    default)."""

    min_pass_rate: float | None = None
    min_score: float | None = None
    #: Metrics that must show no significant regression against the baseline beyond ``margin``
    #: (non-inferiority: the CI's bound of candidate - baseline stays above -margin).
    no_regression: tuple[str, ...] = ()
    margin: float = 0.0
    max_cost_per_call_usd: float | None = None
    #: Candidate cost per call / baseline cost per call.
    max_cost_ratio: float | None = None
    max_latency_p95_ms: float | None = None
    max_refusal_rate: float | None = None
    #: Answers whose requested format (JSON mode / schema, tools offered) was met, as a share
    #: (quality/checks.py ``format_ok``).
    min_format_compliance: float | None = None


GateStatus = Literal["pass", "fail", "cannot run"]


@dataclass(frozen=True, slots=True)
class GateCheck:
    """One criterion held against the candidate: its name (a :class:`GateCriteria` field, or
    ``no_regression:<metric>``), whether it held, and one line with the numbers (what was
    measured, against what limit)."""

    criterion: str
    passed: bool
    line: str
    #: The measured value and the limit, for JSON and the reports (None when not measured).
    value: float | None = None
    limit: float | None = None


@dataclass(frozen=True, slots=True)
class GateVerdict:
    """The gate's answer: ``pass`` (exit 0), ``fail`` (exit 1, each failed check one line) or
    ``cannot run`` (exit 2: configuration, budget exhausted, provider down; ``reason`` says
    which). Never a pass by default: a gate with no check is ``cannot run``."""

    status: GateStatus
    candidate: str
    baseline: str | None = None
    checks: tuple[GateCheck, ...] = ()
    reason: str = ""

    @property
    def exit_code(self) -> int:
        return {"pass": 0, "fail": 1, "cannot run": 2}[self.status]

    @property
    def failed(self) -> tuple[GateCheck, ...]:
        return tuple(check for check in self.checks if not check.passed)

    def lines(self) -> list[str]:
        """A headline, then the failed checks, then the ones that held (one line each)."""
        against = f" against {self.baseline}" if self.baseline else ""
        if self.status == "cannot run":
            return [f"gate: CANNOT RUN for {self.candidate}{against}: {self.reason}"]
        if self.status == "pass":
            head = f"gate: PASS for {self.candidate}{against} ({len(self.checks)} criteria held)"
        else:
            head = (
                f"gate: FAIL for {self.candidate}{against} "
                f"({len(self.failed)} of {len(self.checks)} criteria failed)"
            )
        ordered = [*self.failed, *(c for c in self.checks if c.passed)]
        return [head, *(f"  {'FAIL' if not c.passed else 'ok  '} {c.line}" for c in ordered)]

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "exit_code": self.exit_code}
