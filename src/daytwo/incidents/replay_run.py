"""The replay's calls: every rebuilt request, and every judge verdict, is an HTTP call to a
daytwo gateway (the evals room's :class:`~daytwo.evals.client.GatewayClient`), so admission,
budgets, kill switches and the ledger apply to the replay itself. A rebuilt request goes to the
door of its wire format (:data:`DOORS`); the judge to the OpenAI door.

Both answers of a pair are read in the same shape: the one the replay's door gave its client.
The captured answer is the ``chat.completion`` the gateway had before the original's door
encoded it, so for the Anthropic door it is encoded as that door encodes answers and read back
(:func:`as_seen`), as the replay's own answer is (:func:`as_completion`): a refusal the OpenAI
shape keeps in ``message.refusal`` is text on both sides, a finish reason is the one a Messages
client sees on both.

Attribution: project :data:`~daytwo.incidents.replay.REPLAY_PROJECT` and workflow ``replay``
(its own budget scope: never production's), session = the run id, tags ``run=<run id>`` and
``purpose=answer|judge``. The gateway is embedded (``--config``: the config served in this
process, with a temporary key bound to that attribution when keys are required) or running
(``--gateway URL``: a key of project ``replay`` keeps the attribution; a key of another project
bills that one).

The cost cap (``--max-cost``): no pair is started when what was spent plus what the pairs in
flight and the next may cost (the dearest pair so far, each) would pass the cap; with an
embedded gateway it is also a real budget (scope: project ``replay`` and the run's session,
action ``block``), so the gateway's reservations hold it even on the first pair. Either way the
replay stops and reports the pairs done (``Outcome.stopped``).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp

from daytwo.config.schema import Config
from daytwo.core.errors import DaytwoError
from daytwo.core.types import LLMResponse, Usage
from daytwo.evals.assertions.judge import JudgeError
from daytwo.evals.assertions.pairwise import PairVerdict, pairwise
from daytwo.evals.capped import run_capped
from daytwo.evals.client import Attribution, BudgetRefused, GatewayClient, Meter, read_output
from daytwo.evals.model import CallFailed, JudgeSettings, Output, RunAborted
from daytwo.incidents.replay import REPLAY_PROJECT, CapturedCall, ReplayRefused
from daytwo.incidents.replay_build import Rebuilt
from daytwo.providers.openai_wire import usage_from_openai

#: The environment variable a running gateway's key is read from by default.
API_KEY_ENV = "DAYTWO_API_KEY"
#: A temporary key (a config that requires keys) lasts this long past the replay's start.
KEY_LIFETIME_S = 6 * 3600.0
DEFAULT_CONCURRENCY = 4
#: The door a rebuilt request of each wire format is sent to.
DOORS = {"openai": "/v1/chat/completions", "anthropic": "/v1/messages"}


@dataclass(frozen=True, slots=True)
class Job:
    call: CapturedCall
    rebuilt: Rebuilt


@dataclass(frozen=True, slots=True)
class Pair:
    """One call and its replay: the answers, the judge's verdict (a = original, b = replay),
    and what went wrong (``error``: the replay call; ``judge_error``: the judging)."""

    call: CapturedCall
    rebuilt: Rebuilt
    original: Output
    replay: Output | None
    verdict: PairVerdict | None = None
    error: str | None = None
    judge_error: str | None = None

    @property
    def cost_usd(self) -> float:
        own = self.replay.cost_usd if self.replay is not None else 0.0
        return own + (self.verdict.cost_usd if self.verdict is not None else 0.0)


@dataclass(frozen=True, slots=True)
class Outcome:
    pairs: tuple[Pair, ...]
    calls: int
    spent_usd: float
    #: Why the replay stopped before every job ran (the cost cap), else None.
    stopped: str | None = None


@dataclass(frozen=True, slots=True)
class Where:
    """How to reach a gateway: base URL, headers (a key), whether the cap is a gateway
    budget."""

    url: str
    headers: Mapping[str, str]
    cap_in_gateway: bool


def original_output(call: CapturedCall, wire: str = "openai") -> Output:
    """The captured answer as the evals room's :class:`Output`, as the door of ``wire`` gives
    it (cost and latency from the ledger row)."""
    out = read_output(as_seen(wire, call.response or {}), {}, call.latency_ms)
    return replace(out, cost_usd=call.cost_usd or 0.0, call_id=call.call_id)


def as_seen(wire: str, completion: dict[str, Any]) -> dict[str, Any]:
    """A ``chat.completion`` as the door of ``wire`` encodes it for its client, read back."""
    if wire == "openai":
        return completion
    from daytwo.gateway.anthropic_encode import message

    usage = usage_from_openai(completion.get("usage")) or Usage()
    return as_completion(wire, message(LLMResponse(body=completion, usage=usage)))


def as_completion(wire: str, answer: dict[str, Any]) -> dict[str, Any]:
    """The answer of the door of ``wire`` as a ``chat.completion`` (raises
    :class:`CallFailed` when it is not that door's answer)."""
    if wire == "openai":
        return answer
    from daytwo.providers.anthropic_wire import to_openai_completion

    try:
        return to_openai_completion(answer)
    except DaytwoError:
        raise CallFailed(f"the answer of {DOORS[wire]} is not a Messages answer") from None


async def replay_call(client: GatewayClient, rebuilt: Rebuilt) -> Output:
    """The rebuilt request through the door of its wire format, its answer read."""
    path = DOORS[rebuilt.wire]
    data, headers, latency_ms = await client.send(
        path, rebuilt.body, purpose="answer", headers=rebuilt.headers
    )
    return read_output(as_completion(rebuilt.wire, data), headers, latency_ms)


# -- the gateway ----------------------------------------------------------------------------


@contextmanager
def remote(url: str, key_env: str) -> Iterator[Where]:
    """A running gateway; its key from ``$key_env`` (none sent when unset)."""
    key = os.environ.get(key_env)
    yield Where(url.rstrip("/"), {"authorization": f"Bearer {key}"} if key else {}, False)


@contextmanager
def embedded_gateway(
    cfg: Config,
    config_path: Path,
    run_id: str,
    cap: float | None,
    extra_models: Mapping[str, Any],
) -> Iterator[Where]:
    """``cfg`` served in this process for the replay: no reloads, the cap as a budget, and
    ``extra_models`` (a checkpoint's aliases) added. Raises :class:`ReplayRefused` when the
    gateway cannot be set up."""
    from daytwo.core.errors import ConfigError
    from daytwo.core.secrets import SecretError
    from daytwo.gateway.app import Gateway
    from daytwo.gateway.embedded import EmbeddedFailed, embedded

    served = replay_config(cfg, run_id, cap, extra_models)
    try:
        app = Gateway(served, config_path=config_path)
    except (SecretError, ConfigError) as exc:
        raise ReplayRefused(f"{config_path}: {exc}") from None
    serve = embedded(
        app,
        project=REPLAY_PROJECT,
        workflow=REPLAY_PROJECT,
        description=f"temporary key of replay {run_id}",
        actor="daytwo replay",
        lasts_s=KEY_LIFETIME_S,
    )
    try:
        with serve as got:
            yield Where(got.url, dict(got.headers), cap is not None)
    except EmbeddedFailed as exc:
        raise ReplayRefused(str(exc)) from None


def replay_config(
    cfg: Config, run_id: str, cap: float | None, extra_models: Mapping[str, Any]
) -> Config:
    """The config the embedded gateway serves (see :func:`embedded_gateway`)."""
    from pydantic import ValidationError

    from daytwo.config.schema import ModelAlias
    from daytwo.config.spend import BudgetConfig

    update: dict[str, Any] = {
        "server": cfg.server.model_copy(update={"reload_poll_s": 0.0}),
        "prompts": cfg.prompts.model_copy(update={"reload_poll_s": 0.0}),
    }
    if extra_models:
        models = dict(cfg.models)
        for name, spec in extra_models.items():
            try:
                alias = ModelAlias.model_validate(spec)
            except ValidationError as exc:
                raise ReplayRefused(f"the checkpoint's alias cannot be served: {exc}") from None
            missing = sorted({d.provider for d in alias.deployments} - set(cfg.providers))
            if missing:
                raise ReplayRefused(
                    f"the checkpoint's alias uses provider(s) {', '.join(missing)}, which the "
                    "current config does not define"
                )
            models[name] = alias
        update["models"] = models
    if cap is not None:
        budget = BudgetConfig(
            name=f"replay-{run_id}",
            scope={"project": REPLAY_PROJECT, "session": run_id},
            window="month",
            usd=Decimal(f"{cap:.9f}"),
            actions=("block",),
        )
        spend = cfg.spend_control
        update["spend_control"] = spend.model_copy(update={"budgets": (*spend.budgets, budget)})
    return cfg.model_copy(update=update)


# -- the calls ------------------------------------------------------------------------------


@dataclass
class Replayer:
    """Runs the jobs against a gateway, ``concurrency`` pairs in flight."""

    where: Where
    run_id: str
    judge: str | None = None
    cap: float | None = None
    concurrency: int = DEFAULT_CONCURRENCY

    def run(self, jobs: Sequence[Job]) -> Outcome:
        """Every job (until the cap); raises :class:`RunAborted` when the gateway refuses the
        replay for good (a kill switch, its key, unreachable)."""
        return asyncio.run(self._run(jobs))

    async def _run(self, jobs: Sequence[Job]) -> Outcome:
        meter = Meter()
        timeout = aiohttp.ClientTimeout(total=None)
        connector = aiohttp.TCPConnector(limit=self.concurrency * 4)
        async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
            client = GatewayClient(
                self.where.url,
                session,
                Attribution(REPLAY_PROJECT, REPLAY_PROJECT, self.run_id),
                identity=lambda model: model,
                cache=None,
                meter=meter,
                headers=self.where.headers,
                use_cache=False,
            )
            pairs, stopped = await self._all(jobs, client, meter)
        pairs.sort(key=lambda p: (p.call.started_at, p.call.call_id))
        return Outcome(tuple(pairs), meter.calls, meter.spent_usd, stopped)

    async def _all(
        self, jobs: Sequence[Job], client: GatewayClient, meter: Meter
    ) -> tuple[list[Pair], str | None]:
        got = await run_capped(
            jobs,
            lambda job: self._pair(job, client),
            concurrency=self.concurrency,
            spent=lambda: meter.spent_usd,
            cap=self.cap,
            cost_of=lambda pair: pair.cost_usd,
        )
        done = got.done
        stopped: str | None = "cap" if got.capped else None
        exc = got.failure
        if exc is not None:
            if (
                isinstance(exc, BudgetRefused)
                and exc.scope
                and f"session={self.run_id}" in exc.scope
            ):
                stopped = "cap"
            else:
                raise exc
        if stopped is not None:
            stopped = self._cap_message(len(done), len(jobs), meter.spent_usd)
        return done, stopped

    def _cap_message(self, done: int, total: int, spent: float) -> str:
        cap = format(Decimal(str(self.cap)).normalize(), "f")
        return (
            f"--max-cost ${cap} reached: the next pair could pass it; {done} of {total} calls "
            f"replayed (${spent:.6f} spent)"
        )

    async def _pair(self, job: Job, client: GatewayClient) -> Pair:
        call, rebuilt = job.call, job.rebuilt
        original = original_output(call, rebuilt.wire)
        try:
            answer = await replay_call(client, rebuilt)
        except CallFailed as exc:
            return Pair(call, rebuilt, original, None, error=str(exc))
        if self.judge is None:
            return Pair(call, rebuilt, original, answer)
        try:
            verdict = await pairwise(
                rebuilt.question,
                original.text,
                answer.text,
                client=client,
                judge=JudgeSettings(model=self.judge),
            )
        except (JudgeError, CallFailed) as exc:
            return Pair(call, rebuilt, original, answer, judge_error=str(exc))
        return Pair(call, rebuilt, original, answer, verdict)


__all__ = ["Job", "Outcome", "Pair", "Replayer", "RunAborted", "embedded_gateway", "remote"]
