"""A suite file (``evals/<name>.yaml``) loaded and checked: its shape, its dataset, its targets
resolved, every case's variables checked against what its targets read, every assertion parsed,
and what model-graded assertions need (a judge, an embedding model) present.

The format is the shared contract of the loader, the promptfoo importer, the docs and the demo
(see docs/evals.md). Relative paths resolve against the suite file's folder. Every problem is a
:class:`~daytwo.evals.model.SuiteError` naming the file and the key path
(``evals/support.yaml: tests[3].assert[0].type``), shown by the CLI on one line.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

import orjson
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from daytwo.config.schema import Config
from daytwo.evals import assertions, local_embeddings
from daytwo.evals.dataset import SAFE_LOADER, read_rows
from daytwo.evals.model import AssertionSpec, Case, GateCriteria, JudgeSettings, SuiteError
from daytwo.evals.targets import Plan, Resolver, Template, compile_messages
from daytwo.prompts.sandbox import Sandbox, TemplateRefused

#: The project a suite's calls are attributed to unless it names one.
DEFAULT_PROJECT = "evals"
DEFAULT_CONCURRENCY = 8
MAX_CONCURRENCY = 256
MAX_REPEAT = 100
M = TypeVar("M", bound=BaseModel)


class _Raw(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class RawMessage(_Raw):
    role: Literal["system", "developer", "user", "assistant"]
    content: str


class RawTarget(_Raw):
    id: str | None = Field(None, min_length=1)
    model: str = Field(min_length=1)
    params: dict[str, Any] = Field(default_factory=dict)
    messages: list[RawMessage] | None = Field(None, min_length=1)


class RawOptions(_Raw):
    #: The judge alias for this test's model-graded assertions (over the suite's ``judge``).
    provider: str | None = Field(None, min_length=1)


class RawTest(_Raw):
    id: str | None = Field(None, min_length=1, max_length=200)
    description: str | None = None
    vars: dict[str, Any] = Field(default_factory=dict)
    expected: Any = None
    context: list[str] | str | None = None
    assert_: list[dict[str, Any]] = Field(default_factory=list, alias="assert")
    options: RawOptions | None = None


class RawDefault(_Raw):
    vars: dict[str, Any] = Field(default_factory=dict)
    assert_: list[dict[str, Any]] = Field(default_factory=list, alias="assert")
    options: RawOptions | None = None


class RawJudge(_Raw):
    model: str | None = Field(None, min_length=1)
    require_other_family: bool = False


class RawGate(_Raw):
    min_pass_rate: float | None = Field(None, ge=0, le=1)
    min_score: float | None = Field(None, ge=0, le=1)
    no_regression: tuple[str, ...] = ()
    margin: float = Field(0.0, ge=0)
    max_cost_per_call_usd: float | None = Field(None, ge=0)
    max_cost_ratio: float | None = Field(None, gt=0)
    max_latency_p95_ms: float | None = Field(None, gt=0)
    max_refusal_rate: float | None = Field(None, ge=0, le=1)
    min_format_compliance: float | None = Field(None, ge=0, le=1)


class RawSuite(_Raw):
    description: str = ""
    project: str = Field(
        DEFAULT_PROJECT, min_length=1, max_length=128, pattern=r"^[^\x00-\x1f\x7f]+$"
    )
    prompts: str | None = Field(None, min_length=1)
    targets: list[Any] = Field(min_length=1)
    messages: list[RawMessage] | None = Field(None, min_length=1)
    params: dict[str, Any] = Field(default_factory=dict)
    dataset: str | None = Field(None, min_length=1)
    tests: list[RawTest] = Field(default_factory=list)
    default_test: RawDefault = Field(default_factory=RawDefault, alias="defaultTest")
    judge: RawJudge = Field(default_factory=RawJudge)
    embedding_model: str | None = Field(None, min_length=1)
    repeat: int = Field(1, ge=1, le=MAX_REPEAT)
    concurrency: int = Field(DEFAULT_CONCURRENCY, ge=1, le=MAX_CONCURRENCY)
    max_cost: float | None = Field(None, gt=0)
    gate: RawGate = Field(default_factory=RawGate)


@dataclass(frozen=True)
class Suite:
    """A loaded suite: what to run, on which targets, graded how."""

    path: str
    description: str
    project: str
    #: Target labels, in the suite's order (the first is the baseline by default).
    targets: tuple[str, ...]
    cases: tuple[Case, ...]
    gate: GateCriteria
    judge: JudgeSettings
    repeat: int
    concurrency: int
    max_cost_usd: float | None
    #: The resolved targets by label.
    plans: Mapping[str, Plan]
    #: Per case (by index): the judge alias its ``options.provider`` names, if any.
    case_judges: Mapping[int, str] = field(default_factory=dict)
    #: Per case (by index): the key path errors name it by.
    case_where: tuple[str, ...] = ()
    prompt_dir: Path | None = None
    config: Config | None = None
    resolver: Resolver | None = None

    @property
    def stem(self) -> str:
        """The suite's name: its file name without the extension."""
        return Path(self.path).stem

    def plan(self, label: str) -> Plan:
        """The plan of a target: one of the suite's, or a new one (``--target``), resolved and
        checked against every case now."""
        got = self.plans.get(label)
        if got is not None:
            return got
        assert self.resolver is not None
        plan = self.resolver.resolve(label, f"--target {label}")
        for case, where in zip(self.cases, self.case_where, strict=True):
            plan.check(case, where)
        return plan

    def judge_for(self, case: Case) -> JudgeSettings:
        alias = self.case_judges.get(case.index)
        if alias is None:
            return self.judge
        return JudgeSettings(
            model=alias,
            require_other_family=self.judge.require_other_family,
            embedding_model=self.judge.embedding_model,
        )


def load(path: Path, config: Config | None = None, config_dir: Path | None = None) -> Suite:
    """Load and check the suite at ``path`` (raises :class:`SuiteError`). ``config``: the
    gateway's config when known (aliases are checked against it; it names the prompt
    directory when the suite does not); ``config_dir``: its folder (for its relative paths)."""
    shown = str(path)
    raw = _read(path, shown)
    base = path.parent
    prompt_dir = _prompt_dir(raw, base, config, config_dir)
    sandbox = Sandbox()
    messages: tuple[Template, ...] = ()
    if raw.messages is not None:
        messages = compile_messages(
            sandbox, [m.model_dump() for m in raw.messages], f"{shown}: messages"
        )
    resolver = Resolver(
        config=config,
        prompt_dir=prompt_dir,
        messages=messages,
        params=raw.params,
        sandbox=sandbox,
    )
    plans: dict[str, Plan] = {}
    for i, spec in enumerate(raw.targets):
        where = f"{shown}: targets[{i}]"
        plan = resolver.resolve(_target_spec(spec, where), where)
        if plan.target.label in plans:
            raise SuiteError(
                where, f"two targets are labelled `{plan.target.label}` (give one an `id`)"
            )
        plans[plan.target.label] = plan
    judge = JudgeSettings(
        model=raw.judge.model,
        require_other_family=raw.judge.require_other_family,
        embedding_model=raw.embedding_model,
    )
    if raw.embedding_model is not None and local_embeddings.is_local(raw.embedding_model):
        problem = local_embeddings.check_model(raw.embedding_model)
        if problem is not None:
            raise SuiteError(f"{shown}: embedding_model", problem)
    defaults = [
        _assertion(a, f"{shown}: defaultTest.assert[{j}]", base)
        for j, a in enumerate(raw.default_test.assert_)
    ]
    entries: list[tuple[str, RawTest]] = [
        (f"{shown}: tests[{i}]", t) for i, t in enumerate(raw.tests)
    ]
    if raw.dataset is not None:
        data_path = base / raw.dataset
        for where, row in read_rows(data_path, str(data_path)):
            entries.append((where, _validate(RawTest, row, where)))
    if not entries:
        raise SuiteError(f"{shown}: tests", "the suite has no test cases (`tests` or `dataset`)")
    cases, case_where, case_judges = _cases(
        entries, raw.default_test, defaults, judge, base, sandbox, shown
    )
    for plan in plans.values():
        for case, where in zip(cases, case_where, strict=True):
            plan.check(case, where)
    return Suite(
        path=shown,
        description=raw.description,
        project=raw.project,
        targets=tuple(plans),
        cases=cases,
        gate=GateCriteria(**raw.gate.model_dump()),
        judge=judge,
        repeat=raw.repeat,
        concurrency=raw.concurrency,
        max_cost_usd=raw.max_cost,
        plans=plans,
        case_judges=case_judges,
        case_where=case_where,
        prompt_dir=prompt_dir,
        config=config,
        resolver=resolver,
    )


def _read(path: Path, shown: str) -> RawSuite:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SuiteError(shown, "suite file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SuiteError(shown, f"cannot read the suite: {exc}") from None
    try:
        data = yaml.load(text, Loader=SAFE_LOADER)  # noqa: S506  # the C safe loader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""
        raise SuiteError(f"{shown}{at}", getattr(exc, "problem", None) or "invalid YAML") from None
    if not isinstance(data, dict):
        raise SuiteError(shown, "a suite is a mapping (targets, tests, ...)")
    return _validate(RawSuite, data, shown)


def _validate(model: type[M], data: Any, where: str) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        path = key_path(err["loc"])
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        elif err["type"] == "missing":
            msg = "required key is missing"
        else:
            msg = str(err["msg"]).removeprefix("Value error, ")
        raise SuiteError(join(where, path), msg) from None


def join(where: str, path: str) -> str:
    """``file`` + ``tests[3]`` → ``file: tests[3]``; ``file: tests[3]`` + ``vars`` →
    ``file: tests[3].vars``."""
    if not path:
        return where
    return f"{where}.{path}" if ": " in where else f"{where}: {path}"


def key_path(loc: Sequence[int | str]) -> str:
    """pydantic's error location as a key path: ``tests[3].assert[0].type``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _prompt_dir(
    raw: RawSuite, base: Path, config: Config | None, config_dir: Path | None
) -> Path | None:
    if raw.prompts is not None:
        return base / raw.prompts
    if config is not None and config.prompts.dir is not None:
        folder = Path(config.prompts.dir)
        return folder if folder.is_absolute() or config_dir is None else config_dir / folder
    default = Path("prompts")
    return default if default.is_dir() else None


def _target_spec(spec: Any, where: str) -> str | dict[str, Any]:
    if isinstance(spec, str):
        if not spec.strip():
            raise SuiteError(where, "a target is a prompt reference or a model alias")
        return spec.strip()
    if isinstance(spec, dict):
        target = _validate(RawTarget, spec, where)
        out = target.model_dump()
        if target.messages is not None:
            out["messages"] = [m.model_dump() for m in target.messages]
        return out
    raise SuiteError(where, "a target is a string or a mapping {id, model, params, messages}")


def _assertion(raw: Any, where: str, base: Path) -> AssertionSpec:
    if not isinstance(raw, Mapping):
        raise SuiteError(where, "an assertion is a mapping {type, value, ...}")
    return assertions.parse_assertion(raw, where, base_dir=base)


def _cases(
    entries: list[tuple[str, RawTest]],
    default: RawDefault,
    defaults: list[AssertionSpec],
    judge: JudgeSettings,
    base: Path,
    sandbox: Sandbox,
    shown: str,
) -> tuple[tuple[Case, ...], tuple[str, ...], dict[int, str]]:
    cases: list[Case] = []
    wheres: list[str] = []
    judges: dict[int, str] = {}
    seen: dict[str, str] = {}
    for index, (where, test) in enumerate(entries):
        variables = {**default.vars, **test.vars}
        specs = [
            _assertion(
                _with_vars(a, variables, sandbox, f"{where}.assert[{j}]"),
                f"{where}.assert[{j}]",
                base,
            )
            for j, a in enumerate(test.assert_)
        ]
        for j, (raw_default, parsed) in enumerate(zip(default.assert_, defaults, strict=True)):
            if _templated(raw_default):
                at = f"{shown}: defaultTest.assert[{j}]"
                parsed = _assertion(
                    _with_vars(raw_default, variables, sandbox, at, where), at, base
                )
            specs.append(parsed)
        options = test.options or default.options
        provider = options.provider if options is not None else None
        for j, spec in enumerate(specs):
            _check_requirements(spec, judge, provider, f"{where}.assert[{j}]")
        case_id = test.id or _vars_id(variables)
        if case_id in seen:
            if test.id is not None:
                raise SuiteError(f"{where}.id", f"`{case_id}` is also the id of {seen[case_id]}")
            n = 2
            while f"{case_id}-{n}" in seen:
                n += 1
            case_id = f"{case_id}-{n}"
        seen[case_id] = where
        context = test.context
        cases.append(
            Case(
                index=index,
                id=case_id,
                description=test.description or "",
                vars=variables,
                expected=_text(test.expected),
                context=(context,) if isinstance(context, str) else tuple(context or ()),
                assertions=tuple(specs),
            )
        )
        wheres.append(where)
        if provider is not None:
            judges[index] = provider
    return tuple(cases), tuple(wheres), judges


def _templated(raw: Any) -> bool:
    """Whether an assertion's ``value`` (a string, or a list of strings) is a template."""
    value = raw.get("value") if isinstance(raw, Mapping) else None
    values = value if isinstance(value, list) else [value]
    return any(isinstance(v, str) and ("{{" in v or "{%" in v) for v in values)


def _with_vars(
    raw: Any, variables: Mapping[str, Any], sandbox: Sandbox, where: str, case: str = ""
) -> Any:
    """The assertion with its ``value`` rendered with the case's variables (promptfoo's
    ``value: "{{ expected_city }}"``), in the prompts' sandbox: a template is data, never
    code. ``case``: the test a ``defaultTest`` assertion was rendered for (in errors)."""
    if not _templated(raw):
        return raw

    def render(text: Any) -> Any:
        if not isinstance(text, str):
            return text
        try:
            return sandbox.compile(text).render(variables)
        except TemplateRefused as exc:
            for_case = f" (for {case.split(': ', 1)[-1]})" if case else ""
            raise SuiteError(f"{where}.value", f"template{for_case}: {exc}") from None

    value = raw["value"]
    rendered = [render(v) for v in value] if isinstance(value, list) else render(value)
    return {**raw, "value": rendered}


def _check_requirements(
    spec: AssertionSpec, judge: JudgeSettings, provider: str | None, where: str
) -> None:
    """What model-graded assertions need, present (the assertion's own ``provider`` is
    counted by :func:`assertions.requirements`; a test's ``options.provider`` here)."""
    needs = assertions.requirements(spec)
    if "judge" in needs and not (provider or judge.model):
        raise SuiteError(
            f"{where}.type",
            f"`{spec.name}` is graded by a judge model: set `judge.model` in the suite "
            "(or `provider:` on the assertion)",
        )
    if "embeddings" in needs and not judge.embedding_model:
        raise SuiteError(
            f"{where}.type",
            f"`{spec.name}` needs embeddings: set `embedding_model` in the suite "
            "(or `provider:` on the assertion)",
        )


def _vars_id(variables: Mapping[str, Any]) -> str:
    canon = orjson.dumps(variables, option=orjson.OPT_SORT_KEYS, default=str)
    return hashlib.sha256(canon).hexdigest()[:12]


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
