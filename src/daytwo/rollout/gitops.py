"""Rollouts declared in git: moving a label in ``labels.yaml`` starts a rollout instead of
flipping 100 % of the label's calls at once.

``rollouts.yaml``, next to ``labels.yaml`` in the prompt directory, declares a policy per label::

    support-reply:
      production:
        stages: "shadow:10%,canary:5%,25%,100%"
        sticky: session          # session | user | key
        approve_each: false
        criteria: {min_calls: 200}   # over the `rollouts.criteria` defaults

When the gateway loads the prompt directory and a label with a policy names a new version, the
gateway starts a rollout (actor ``prompts``, audited like any other): the control is the version
the label served before, the candidate the one the file names now. The rollout overrides the
label until it is finished and the file agrees with what it finished on:

* completed: the file already says the candidate, so the rollout is retired;
* rolled back: the control keeps being served although the file says the candidate, until the
  file changes again (reverted: retired; another version: retired, and that version's rollout
  starts from the control).

:func:`plan` decides (pure); :class:`GitOps` reads the files and the event log and carries the
plan out through the :class:`RolloutStore`. A rollout someone started by hand is never stopped
here while it runs; once finished, the file changing retires it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa
import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from daytwo.config.load import format_errors
from daytwo.config.rollouts import CriteriaConfig
from daytwo.core.errors import DaytwoError
from daytwo.keys.schema import admin_events
from daytwo.prompts import PromptSet
from daytwo.prompts.spec import LabelName, PromptName
from daytwo.rollout.board import RolloutBoard
from daytwo.rollout.model import (
    Criteria,
    Rollout,
    RolloutError,
    Stage,
    Sticky,
    new_id,
    parse_stages,
)
from daytwo.rollout.steer import SteerRefused, steer

log = logging.getLogger("daytwo.rollout")

POLICY_FILE = "rollouts.yaml"
#: Who starts and stops the rollouts the label file declares (the prompt loader's own actor).
ACTOR = "prompts"
#: The prompt-set events whose ``after.labels`` say what a label served before a restart.
_LOADS = ("prompts.load", "prompts.reload")
#: Tries of a change that lost a race with another replica (re-read, decided again).
_TRIES = 3

Labels = Mapping[str, Mapping[str, int]]


# -- the policy file ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Policy:
    stages: tuple[Stage, ...]
    sticky: Sticky = "session"
    approve_each: bool = False
    #: Criteria set in the file (the rest: the gateway's ``rollouts.criteria``).
    criteria: Mapping[str, Any] = field(default_factory=dict)


class _PolicySpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    stages: str
    sticky: Sticky = "session"
    approve_each: bool = False
    criteria: CriteriaConfig | None = None

    @field_validator("stages")
    @classmethod
    def _stages(cls, text: str) -> str:
        try:
            parse_stages(text)
        except RolloutError as exc:
            raise ValueError(str(exc).removeprefix("stages: ")) from None
        return text


class _PolicyFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    policies: dict[PromptName, dict[LabelName, _PolicySpec]]


def read_policies(root: Path) -> tuple[dict[tuple[str, str], Policy], list[str]]:
    """The policies ``root/rollouts.yaml`` declares ({} without the file) and its problems,
    each naming the key path (a file with problems declares nothing)."""
    path = root / POLICY_FILE
    where = f"{root.name}/{POLICY_FILE}"
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return {}, []
    except OSError as exc:
        return {}, [f"{where}: cannot be read: {exc.strerror}"]
    try:
        data = yaml.safe_load(raw)
    except yaml.YAMLError:
        return {}, [f"{where}: invalid YAML"]
    try:
        parsed = _PolicyFile.model_validate({"policies": data or {}})
    except ValidationError as exc:
        return {}, [f"{where}: {line.removeprefix('policies.')}" for line in format_errors(exc)]
    out: dict[tuple[str, str], Policy] = {}
    for name, labels in parsed.policies.items():
        for label, spec in labels.items():
            criteria = spec.criteria
            out[(name, label)] = Policy(
                parse_stages(spec.stages),
                spec.sticky,
                spec.approve_each,
                {} if criteria is None else criteria.model_dump(include=criteria.model_fields_set),
            )
    return out, []


# -- the decision ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Stop:
    """Retire ``rollout`` (rolled back first when it still runs)."""

    rollout: Rollout
    why: str


@dataclass(frozen=True, slots=True)
class Plan:
    stops: tuple[Stop, ...] = ()
    starts: tuple[Rollout, ...] = ()
    #: What could not be done as the files ask (logged as warnings).
    notes: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.stops or self.starts)


def served(r: Rollout) -> int | None:
    """The version a finished prompt rollout serves (None: it is still splitting)."""
    if r.status == "completed":
        return int(r.candidate)
    if r.status == "rolled_back":
        return int(r.control)
    return None


def plan(
    before: Labels | None,
    prompts: PromptSet,
    policies: Mapping[tuple[str, str], Policy],
    rollouts: Iterable[Rollout],
    defaults: Criteria,
    now: float,
) -> Plan:
    """What the gateway does with its rollouts now that it serves ``prompts``, whose labels
    were ``before`` (None: unknown, nothing moved).

    A label that moved starts its policy's rollout from the version served until now; a
    finished rollout is retired when the file names what it serves, or when the file moved
    on; a running rollout of the file's is superseded when the file moved to another version.
    """
    by_target = {r.target: r for r in rollouts if r.kind == "prompt"}
    stops: list[Stop] = []
    starts: list[Rollout] = []
    notes: list[str] = []
    for name, labels in sorted(prompts.labels.items()):
        for label, now_says in sorted(labels.items()):
            target = f"{name}@{label}"
            was = None if before is None else before.get(name, {}).get(label)
            r = by_target.get(target)
            if was is None or was == now_says:
                if r is not None and r.created_by == ACTOR and served(r) == now_says:
                    stops.append(Stop(r, f"labels.yaml says v{now_says}"))
                continue
            if r is None:
                serving = was
            elif r.live:
                if now_says == int(r.candidate):
                    continue
                if r.created_by != ACTOR:
                    notes.append(
                        f"{target}: labels.yaml says v{now_says} while rollout {r.id} "
                        f"(started by {r.created_by}) moves v{r.control} → v{r.candidate}: "
                        "it goes on"
                    )
                    continue
                again = " again" if now_says == int(r.control) else " now"
                stops.append(Stop(r, f"labels.yaml says v{now_says}{again}"))
                serving = int(r.control)
            else:
                serving = int(r.candidate) if r.status == "completed" else int(r.control)
                stops.append(Stop(r, f"labels.yaml says v{now_says} now"))
            policy = policies.get((name, label))
            if policy is None or serving == now_says:
                continue
            if serving not in prompts.versions.get(name, {}):
                notes.append(
                    f"{target}: cannot roll out v{serving} → v{now_says}: v{serving} is no "
                    "longer in the directory; the label moves at once"
                )
                continue
            starts.append(_start(target, serving, now_says, policy, defaults, now))
    return Plan(tuple(stops), tuple(starts), tuple(notes))


def _start(
    target: str, control: int, candidate: int, policy: Policy, defaults: Criteria, now: float
) -> Rollout:
    return Rollout(
        id=new_id(),
        kind="prompt",
        target=target,
        control=str(control),
        candidate=str(candidate),
        stages=policy.stages,
        stage=0,
        status="running",
        sticky=policy.sticky,
        approve_each=policy.approve_each,
        criteria=replace(defaults, **policy.criteria),
        created_at=now,
        created_by=ACTOR,
        stage_started_at=now,
        updated_at=now,
        reason=f"labels.yaml moved {target} from v{control} to v{candidate}",
    )


def note(r: Rollout, labels: Labels | None) -> str | None:
    """What an operator should know about a prompt rollout that still overrides its label
    while the label file says something else (None: nothing)."""
    if r.kind != "prompt" or labels is None:
        return None
    name, _, label = r.target.partition("@")
    says = labels.get(name, {}).get(label)
    if says is None:
        return f"labels.yaml names no label `{label}` for {name}"
    control, candidate = int(r.control), int(r.candidate)
    if r.status == "rolled_back" and says != control:
        todo = "revert the label" if says == candidate else f"set the label to v{control}"
        return f"labels.yaml says v{says}; rolled back to v{control}: {todo}"
    if r.status == "completed" and says != candidate:
        return f"labels.yaml says v{says}; completed on v{candidate}: set the label to v{candidate}"
    if r.live and says not in (control, candidate):
        return f"labels.yaml says v{says}; this rollout moves v{control} → v{candidate}"
    if r.live and says == control:
        return f"labels.yaml says v{control}: set it to v{candidate} once the rollout completes"
    if not r.live and r.created_by != ACTOR:  # the file's own are retired by the gateway
        return f"labels.yaml says v{says} too: retire this rollout"
    return None


# -- carrying it out ------------------------------------------------------------------------


class GitOps:
    """The gateway's side: told of every prompt set it loads (:meth:`loaded`), and watching
    its file-started rollouts finish (:meth:`start`) to retire them."""

    def __init__(
        self,
        board: RolloutBoard,
        *,
        root: Callable[[], Path | None],
        prompts: Callable[[], PromptSet | None],
        defaults: Callable[[], Criteria],
        every_s: float,
    ) -> None:
        self.board = board
        self.store = board.store
        self._root = root
        self._prompts = prompts
        self._defaults = defaults
        self.every_s = every_s
        #: The labels of the set loaded last (what a label served before the next load).
        self._labels: Labels | None = None
        self._task: asyncio.Task[None] | None = None

    async def loaded(self, prompts: PromptSet, *, first: bool) -> None:
        """A prompt set is served from now on. Its rollouts reach the board before this
        coroutine first waits: no call sees a moved label without its rollout. ``first``: at
        start, when what the labels served before comes from the last load's event."""
        root = self._root()
        if first:
            try:
                before = await asyncio.to_thread(self._last_labels, root)
            except DaytwoError as exc:
                log.error(f"rollouts: cannot read the last prompt load: {exc.message}")
                before = None
        else:
            before = self._labels
        self._labels = {name: dict(labels) for name, labels in prompts.labels.items()}
        policies: dict[tuple[str, str], Policy] = {}
        if root is not None:
            # On the loop, on purpose: a small file, read before any call can see the labels.
            policies, problems = read_policies(root)
            if problems:
                log.error(
                    f"rollouts: {POLICY_FILE} refused, labels move at once until it is fixed: "
                    + "; ".join(problems)
                )
        decided = plan(
            before, prompts, policies, self.board.rollouts(), self._defaults(), time.time()
        )
        for r in decided.starts:
            self.board.apply(r)
        for line in decided.notes:
            log.warning(f"rollouts: {line}")
        if decided:
            await self._carry_out(decided)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._watch())

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.every_s)
            prompts = self._prompts()
            if prompts is None:
                continue
            decided = plan(None, prompts, {}, self.board.rollouts(), self._defaults(), 0.0)
            if decided:
                await self._carry_out(decided)

    async def _carry_out(self, decided: Plan) -> None:
        try:
            await asyncio.to_thread(self._write, decided)
        except DaytwoError as exc:
            log.error(f"rollouts: cannot apply {POLICY_FILE}'s rollouts: {exc.message}")
        try:
            await self.board.refresh()
        except DaytwoError as exc:
            log.error(f"rollouts: cannot read the rollouts: {exc.message}")

    def _write(self, decided: Plan) -> None:
        for stop in decided.stops:
            self._stop(stop)
        for r in decided.starts:
            try:
                self.store.create(r, ACTOR)
            except RolloutError as exc:  # another replica started it (or someone else did)
                log.info(f"rollouts: {r.target}: {exc}")
            else:
                log.info(
                    f"rollouts: {r.reason}: rollout {r.id} started "
                    f"({', '.join(str(s) for s in r.stages)})"
                )

    def _stop(self, stop: Stop) -> None:
        r: Rollout | None = stop.rollout
        for _ in range(_TRIES):
            if r is None:
                return
            if not r.live:
                if self.store.retire(r, ACTOR, stop.why):
                    log.info(f"rollouts: {stop.why}: rollout {r.id} retired")
                return
            try:
                after, action = steer(r, "rollback", time.time(), stop.why)
            except SteerRefused:
                return
            # moved meanwhile (another replica, the controller): decide again on what it is
            r = after if self.store.move(r, after, ACTOR, action) else self.store.get(r.id)
        log.warning(f"rollouts: rollout {stop.rollout.id} kept moving; not retired")

    def _last_labels(self, root: Path | None) -> Labels | None:
        if root is None:
            return None
        query = (
            sa.select(admin_events.c.after)
            .where(admin_events.c.target == str(root), admin_events.c.action.in_(_LOADS))
            .order_by(admin_events.c.id.desc())
            .limit(1)
        )
        rows = self.store.keys.rows(query)
        if not rows or rows[0]["after"] is None:
            return None
        labels = orjson.loads(rows[0]["after"]).get("labels")
        return labels if isinstance(labels, dict) else None
