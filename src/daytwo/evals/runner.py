"""Running a suite: every case under every target, ``repeat`` times, through a daytwo gateway,
graded by the suite's assertions.

The gateway is either embedded (the user's ``daytwo.yaml`` served in this process on a
loopback port: the real pipeline, budgets and ledger) or a running one (``--gateway URL``).
Items run concurrently up to ``concurrency``; a call that fails for good makes its item an
error (reported apart from failures); a spent budget, a kill switch, a refused key or an
unreachable gateway stop the run (:class:`RunAborted`).

The run's cost cap (``max_cost``): with an embedded gateway it is a real budget added to the
in-memory config -- scoped to the run's project and session (the run id), window ``month``,
action ``block`` -- so the gateway's reservation-based admission holds it exactly; with a remote
gateway the runner stops launching items when what was spent plus what the calls in flight may
cost (the dearest item so far, each) would pass the cap. Either way the run then stops with
:class:`RunAborted` and nothing is written but the cache entries of completed calls: the saved
run (``<cache_dir>/runs/<run_id>.json``) is written, atomically, only after a complete run.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from daytwo.config.schema import Config
from daytwo.core.files import write_atomic
from daytwo.core.ids import new_call_id
from daytwo.evals import assertions
from daytwo.evals.cache import EvalCache
from daytwo.evals.capped import run_capped
from daytwo.evals.client import Attribution, BudgetRefused, GatewayClient, Meter
from daytwo.evals.model import (
    CallFailed,
    Case,
    GradeContext,
    ItemResult,
    RunAborted,
    RunResult,
    SuiteError,
)
from daytwo.evals.suite import Suite, load
from daytwo.evals.targets import Plan

DEFAULT_CONFIG = Path("daytwo.yaml")
#: The environment variable a remote gateway's key is read from.
API_KEY_ENV = "DAYTWO_API_KEY"
RUNS_DIR = "runs"
#: A temporary key (a config that requires keys) lasts this long past the run's start.
KEY_LIFETIME_S = 24 * 3600.0


@dataclass(frozen=True)
class RunOptions:
    """How to run a suite (flags of ``daytwo eval run``; None: the suite's own setting)."""

    targets: tuple[str, ...] = ()  # override the suite's targets (labels)
    config: Path | None = None  # daytwo.yaml for an embedded gateway (default ./daytwo.yaml)
    gateway_url: str | None = None  # a running gateway instead; key: api_key / DAYTWO_API_KEY
    api_key: str | None = None
    repeat: int | None = None
    concurrency: int | None = None
    max_cost_usd: float | None = None
    use_cache: bool = True
    cache_dir: Path = Path(".daytwo")
    progress: bool = False


def load_suite(
    path: Path, config: Config | None = None, *, config_dir: Path | None = None
) -> Suite:
    """Load and check a suite (raises :class:`SuiteError`); ``config``: the gateway's config
    when known (aliases checked, its prompt directory), ``config_dir``: that file's folder."""
    return load(path, config, config_dir)


def execute(suite: Suite, options: RunOptions) -> RunResult:
    """Run ``suite`` and save the run (``<cache_dir>/runs/<run_id>.json``); raises
    :class:`RunAborted` (nothing saved) or :class:`SuiteError` (a ``--target`` that does not
    fit the suite)."""
    run_id = new_call_id()
    labels = tuple(dict.fromkeys(options.targets or suite.targets))
    plans = tuple(suite.plan(label) for label in labels)
    cap = options.max_cost_usd if options.max_cost_usd is not None else suite.max_cost_usd
    if cap is not None and cap <= 0:
        raise RunAborted("the cost cap must be more than $0")
    started = time.time()
    with ExitStack() as stack:
        url, headers, exact = stack.enter_context(_gateway(suite, options, run_id, cap))
        cache = EvalCache(options.cache_dir)
        stack.callback(cache.close)
        run = _Run(
            suite=suite,
            plans=plans,
            run_id=run_id,
            repeat=options.repeat or suite.repeat,
            concurrency=options.concurrency or suite.concurrency,
            cap=cap,
            cap_in_gateway=exact,
            progress=options.progress,
        )
        items, meter = asyncio.run(run.run(url, headers, cache, options.use_cache))
    result = RunResult(
        run_id=run_id,
        suite=suite.path,
        description=suite.description,
        started_at=started,
        finished_at=time.time(),
        targets=tuple(p.target for p in plans),
        items=items,
        cache_hits=sum(1 for i in items if i.output is not None and i.output.cached),
        calls=meter.calls,
        spent_usd=meter.spent_usd,
    )
    save_run(result, options.cache_dir / RUNS_DIR / f"{run_id}.json")
    return result


def save_run(result: RunResult, path: Path) -> None:
    """The run as JSON at ``path``, written atomically (a reader never sees half a file)."""
    write_atomic(path, orjson.dumps(result.to_json(), option=orjson.OPT_INDENT_2))


# -- the gateway ----------------------------------------------------------------------------


@contextmanager
def _gateway(
    suite: Suite, options: RunOptions, run_id: str, cap: float | None
) -> Iterator[tuple[str, dict[str, str], bool]]:
    """(base URL, headers, whether the cost cap is a gateway budget)."""
    if options.gateway_url is not None:
        key = options.api_key or os.environ.get(API_KEY_ENV)
        headers = {"authorization": f"Bearer {key}"} if key else {}
        yield options.gateway_url, headers, False
        return
    path = options.config
    if path is None:
        if not DEFAULT_CONFIG.is_file():
            raise RunAborted(
                "no gateway to run through: pass --config daytwo.yaml (a gateway in this "
                "process) or --gateway URL (a running one)"
            )
        path = DEFAULT_CONFIG
    from daytwo.core.errors import ConfigError
    from daytwo.core.secrets import SecretError
    from daytwo.gateway.app import Gateway
    from daytwo.gateway.embedded import EmbeddedFailed, embedded

    cfg = _embedded_config(_config(path), suite, run_id, cap)
    try:
        app = Gateway(cfg, config_path=path)
    except (SecretError, ConfigError) as exc:
        raise RunAborted(f"{path}: {exc}") from None
    serve = embedded(
        app,
        project=suite.project,
        workflow=f"eval:{suite.stem}",
        description=f"temporary key of eval run {run_id}",
        actor="daytwo eval run",
        lasts_s=KEY_LIFETIME_S,
    )
    try:
        with serve as served:
            yield served.url, dict(served.headers), cap is not None
    except EmbeddedFailed as exc:
        raise RunAborted(str(exc)) from None


def _config(path: Path) -> Config:
    from daytwo.config.load import load_config
    from daytwo.core.errors import ConfigError

    if not path.is_file():
        raise RunAborted(f"config file not found: {path}")
    try:
        return load_config(path)
    except ConfigError as exc:
        raise RunAborted("; ".join(exc.problems)) from None


def _embedded_config(cfg: Config, suite: Suite, run_id: str, cap: float | None) -> Config:
    """The config the embedded gateway serves: no reloads (the run's setup stays what it
    read), the suite's prompt directory, and the run's cost cap as a budget."""
    from daytwo.config.spend import BudgetConfig

    update: dict[str, Any] = {
        "server": cfg.server.model_copy(update={"reload_poll_s": 0.0}),
    }
    if suite.prompt_dir is not None:
        update["prompts"] = cfg.prompts.model_copy(
            update={"dir": str(suite.prompt_dir.resolve()), "reload_poll_s": 0.0}
        )
    if cap is not None:
        budget = BudgetConfig(
            name=f"eval-run-{run_id}",
            scope={"project": suite.project, "session": run_id},
            window="month",
            usd=Decimal(f"{cap:.9f}"),
            actions=("block",),
        )
        spend = cfg.spend_control
        update["spend_control"] = spend.model_copy(update={"budgets": (*spend.budgets, budget)})
    return cfg.model_copy(update=update)


# -- the run --------------------------------------------------------------------------------


@dataclass
class _Run:
    suite: Suite
    plans: tuple[Plan, ...]
    run_id: str
    repeat: int
    concurrency: int
    cap: float | None
    cap_in_gateway: bool
    progress: bool

    async def run(
        self, url: str, headers: dict[str, str], cache: EvalCache, use_cache: bool
    ) -> tuple[tuple[ItemResult, ...], Meter]:
        meter = Meter()
        jobs = [
            (case, plan, r)
            for plan in self.plans
            for case in self.suite.cases
            for r in range(self.repeat)
        ]
        timeout = aiohttp.ClientTimeout(total=None)
        connector = aiohttp.TCPConnector(limit=self.concurrency * 2)
        async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
            client = GatewayClient(
                url,
                session,
                Attribution(self.suite.project, f"eval:{self.suite.stem}", self.run_id),
                identity=self._identity,
                cache=cache,
                meter=meter,
                headers=headers,
                use_cache=use_cache,
            )
            with _progress(self.progress, len(jobs)) as advance:
                items = await self._all(jobs, client, meter, advance)
        order = {p.target.label: i for i, p in enumerate(self.plans)}
        items.sort(key=lambda i: (order[i.target], i.case_index, i.repeat))
        return tuple(items), meter

    def _identity(self, model: str) -> str:
        for plan in self.plans:
            if plan.target.model == model:
                return plan.target.identity
        resolver = self.suite.resolver
        return resolver.alias_identity(model) if resolver is not None else model

    async def _all(
        self,
        jobs: list[tuple[Case, Plan, int]],
        client: GatewayClient,
        meter: Meter,
        advance: Any,
    ) -> list[ItemResult]:
        def cost(item: ItemResult) -> float | None:
            return item.cost_usd if item.output is not None and not item.output.cached else None

        # A remote gateway: stop before what is spent + what the calls in flight may cost
        # passes the cap (an embedded gateway enforces it as a budget).
        got = await run_capped(
            jobs,
            lambda job: self._item(job[0], job[1], job[2], client.for_repeat(job[2])),
            concurrency=self.concurrency,
            spent=lambda: meter.spent_usd,
            cap=None if self.cap_in_gateway else self.cap,
            cost_of=cost,
            on_done=lambda _item: advance(),
            cancel_on_failure=True,
        )
        if got.failure is not None:
            raise self._aborted(got.failure, len(got.done), len(jobs))
        if got.capped:
            raise RunAborted(self._cap_message(len(got.done), len(jobs)))
        return got.done

    def _aborted(self, exc: BaseException, done: int, total: int) -> BaseException:
        if isinstance(exc, BudgetRefused) and exc.scope and f"session={self.run_id}" in exc.scope:
            return RunAborted(self._cap_message(done, total))
        return exc

    def _cap_message(self, done: int, total: int) -> str:
        cap = format(Decimal(str(self.cap)).normalize(), "f")
        return (
            f"the run's cost cap ${cap} is reached after {done} of {total} items; "
            "raise it with --max-cost or `max_cost` in the suite (no run was saved)"
        )

    async def _item(self, case: Case, plan: Plan, repeat: int, client: GatewayClient) -> ItemResult:
        label = plan.target.label
        try:
            req = plan.request(case)
        except SuiteError as exc:
            return ItemResult(case.id, case.index, label, repeat, None, error=str(exc))
        try:
            output = await client.chat(req.body, purpose="answer")
        except CallFailed as exc:
            return ItemResult(case.id, case.index, label, repeat, None, error=str(exc))
        ctx = GradeContext(
            case=case,
            output=output,
            target=plan.target,
            question=req.question,
            client=client,
            judge=self.suite.judge_for(case),
            tools=req.tools,
            response_format=req.response_format,
        )
        try:
            grades = await assertions.grade(case.assertions, ctx)
        except CallFailed as exc:
            return ItemResult(
                case.id, case.index, label, repeat, output, error=f"grading failed: {exc}"
            )
        return ItemResult(case.id, case.index, label, repeat, output, grades)


@contextmanager
def _progress(show: bool, total: int) -> Iterator[Any]:
    """A Rich progress bar on stderr (``advance()`` per finished item), or nothing."""
    if not show:
        yield lambda: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(file=sys.stderr),
        transient=True,
    ) as bar:
        task = bar.add_task("eval", total=total)
        yield lambda: bar.advance(task)
