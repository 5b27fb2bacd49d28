"""A rollout as data: what it moves, through which stages, and where it stands.

A rollout moves one thing from a *control* to a *candidate*:

* ``prompt``: a prompt label (``support-reply@production``) from the version it names to a new
  version -- calls that reach the prompt by that label get the candidate's version;
* ``alias``: a model alias (``support-chat``) to another configured alias's deployments --
  calls that ask for the alias are served by the candidate alias.

Through declared stages: ``shadow`` (a sample of the control's calls is mirrored to the
candidate; clients always get the control's answer), ``canary`` steps (that share of sticky
keys is served by the candidate), then ``full`` (100 %). ``stages`` parses the CLI's
``shadow:10%,canary:5%,25%,100%``.
"""

from __future__ import annotations

import itertools
import re
import secrets
from dataclasses import dataclass, field, replace
from typing import Any, Literal

Kind = Literal["prompt", "alias"]
StageKind = Literal["shadow", "canary", "full"]
#: ``running``: routing and advancing; ``waiting``: a stage passed, waiting for an approval;
#: ``paused``: routing its current split, not advancing; ``completed``: the candidate serves
#: everything; ``rolled_back``: the control serves everything (a failed criterion, or a person).
Status = Literal["running", "waiting", "paused", "completed", "rolled_back"]
Sticky = Literal["session", "user", "key"]
STICKY: tuple[Sticky, ...] = ("session", "user", "key")
#: Statuses whose split still moves (the controller evaluates them).
LIVE: frozenset[str] = frozenset({"running", "waiting", "paused"})
#: The label names a prompt rollout may move (prompts' own label grammar).
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_PERCENT = re.compile(r"^([0-9]+(?:\.[0-9]+)?)%?$")


class RolloutError(ValueError):
    """A rollout that cannot be declared or moved as asked; the message names what is wrong."""


@dataclass(frozen=True, slots=True)
class Stage:
    kind: StageKind
    #: Share of the rollout's calls: mirrored (shadow) or served by the candidate (canary).
    percent: float

    def __str__(self) -> str:
        if self.kind == "full":
            return "full"
        return f"{self.kind} {self.percent:g}%"


@dataclass(frozen=True, slots=True)
class Criteria:
    """What a stage must show before the next: candidate vs control over the same window."""

    #: A stage lasts at least this long (seconds) and sees this many candidate calls (shadow:
    #: mirrored pairs) before it is judged.
    min_duration_s: float = 300.0
    min_calls: int = 100
    #: Non-inferiority margins: the candidate's rate may be worse by at most this much
    #: (absolute) with 95 % confidence -- errors, refusals (and any failing check).
    max_error_increase: float = 0.02
    max_refusal_increase: float = 0.02
    #: Ratios the candidate's p95 latency and cost per call may reach (1.2: 20 % worse).
    max_latency_ratio: float = 1.5
    max_cost_ratio: float = 1.25
    #: How much the pairwise judge's loss share may exceed its win share on the shadow pairs
    #: (absolute: 0.05 = 5 points) with 95 % confidence.
    max_pairwise_loss: float = 0.05

    def to_json(self) -> dict[str, Any]:
        return {
            "min_duration_s": self.min_duration_s,
            "min_calls": self.min_calls,
            "max_error_increase": self.max_error_increase,
            "max_refusal_increase": self.max_refusal_increase,
            "max_latency_ratio": self.max_latency_ratio,
            "max_cost_ratio": self.max_cost_ratio,
            "max_pairwise_loss": self.max_pairwise_loss,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Criteria:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


@dataclass(frozen=True, slots=True)
class Rollout:
    id: str
    kind: Kind
    #: prompt: ``NAME@LABEL``; alias: the alias.
    target: str
    #: prompt: the version numbers as text; alias: alias names.
    control: str
    candidate: str
    stages: tuple[Stage, ...]
    stage: int
    status: Status
    sticky: Sticky
    approve_each: bool
    criteria: Criteria
    created_at: float
    created_by: str
    stage_started_at: float
    updated_at: float
    #: Bumped by every change: a change applies only to the version it was read at (two
    #: replicas' controllers never both advance the same stage).
    version: int = 1
    reason: str = ""
    #: The last decision's evidence, one line each.
    evidence: tuple[str, ...] = field(default=())

    @property
    def current(self) -> Stage:
        return self.stages[self.stage]

    @property
    def live(self) -> bool:
        return self.status in LIVE

    def serving_percent(self) -> float:
        """Share of calls the candidate answers now (0 in shadow, 100 when completed)."""
        if self.status == "completed":
            return 100.0
        if self.status == "rolled_back":
            return 0.0
        stage = self.current
        return 0.0 if stage.kind == "shadow" else stage.percent

    def shadow_percent(self) -> float:
        if self.live and self.current.kind == "shadow":
            return self.current.percent
        return 0.0

    def moved(self, at: float, **changes: Any) -> Rollout:
        return replace(self, updated_at=at, version=self.version + 1, **changes)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "target": self.target,
            "control": self.control,
            "candidate": self.candidate,
            "stages": [{"kind": s.kind, "percent": s.percent} for s in self.stages],
            "stage": self.stage,
            "current": str(self.current),
            "status": self.status,
            "serving_percent": self.serving_percent(),
            "shadow_percent": self.shadow_percent(),
            "sticky": self.sticky,
            "approve_each": self.approve_each,
            "criteria": self.criteria.to_json(),
            "created_at": self.created_at,
            "created_by": self.created_by,
            "stage_started_at": self.stage_started_at,
            "updated_at": self.updated_at,
            "version": self.version,
            "reason": self.reason,
            "evidence": list(self.evidence),
        }


def new_id() -> str:
    return "ro_" + secrets.token_hex(6)


def parse_stages(text: str) -> tuple[Stage, ...]:
    """``shadow:10%,canary:5%,25%,100%`` → stages. A bare percentage continues the previous
    kind (canary after a shadow once named); 100 % is ``full``; ``full`` is always last (added
    when missing). Canary shares strictly increase."""
    parts = [p.strip() for p in text.split(",")]
    if not text.strip() or not all(parts):
        raise RolloutError("stages: expected e.g. shadow:10%,canary:5%,25%,100%")
    out: list[Stage] = []
    kind: StageKind | None = None
    for part in parts:
        name, sep, amount = part.partition(":")
        if not sep:
            name, amount = "", part
        name = name.strip().lower()
        if name == "full" and not amount:
            out.append(Stage("full", 100.0))
            continue
        if name:
            if name not in ("shadow", "canary"):
                raise RolloutError(f"stages: unknown stage `{name}` (shadow, canary, full)")
            kind = "shadow" if name == "shadow" else "canary"
        elif kind is None:
            kind = "canary"
        m = _PERCENT.match(amount.strip())
        if m is None:
            raise RolloutError(f"stages: `{part}` is not a percentage")
        pct = float(m.group(1))
        if not 0 < pct <= 100:
            raise RolloutError(f"stages: `{part}`: a share is above 0% and at most 100%")
        if pct == 100 and kind == "canary":
            out.append(Stage("full", 100.0))
            continue
        out.append(Stage(kind, pct))
        if kind == "shadow":
            kind = "canary"  # a bare percentage after a shadow is a canary step
    if any(s.kind == "full" for s in out[:-1]):
        raise RolloutError("stages: full (100%) is the last stage")
    if not out or out[-1].kind != "full":
        out.append(Stage("full", 100.0))
    canary = [s.percent for s in out if s.kind == "canary"]
    if any(b <= a for a, b in itertools.pairwise(canary)):
        raise RolloutError("stages: canary shares must increase")
    return tuple(out)


def parse_prompt_target(text: str, default_label: str) -> tuple[str, str, int]:
    """``prompt:NAME@vN`` (the label: ``default_label``) or ``prompt:NAME@LABEL=vN`` →
    (name, label, candidate version)."""
    body = text.removeprefix("prompt:")
    name, sep, rest = body.partition("@")
    if not sep or not _NAME.match(name):
        raise RolloutError(
            f"`{text}`: expected prompt:NAME@vN (the candidate version) or prompt:NAME@LABEL=vN"
        )
    label, eq, ver = rest.partition("=")
    if not eq:
        label, ver = default_label, rest
    if not _LABEL.match(label):
        raise RolloutError(f"`{text}`: `{label}` is not a label name")
    if not re.fullmatch(r"v[1-9][0-9]{0,8}", ver):
        raise RolloutError(f"`{text}`: the candidate is a version, e.g. @v5")
    return name, label, int(ver[1:])
