"""A rollout's shadow stage: calls sampled in are mirrored to the candidate after the control's
answer went out, through this gateway's own door and pipeline (admission, budgets, ledger).

* **Never in the client's way**: the mirrored call is started off the response path once the
  control's call is finished (recorded), and is read by nobody but the ledger.
* **Its own budget**: a mirrored call is attributed to project ``experiment`` (its workflow,
  feature, agent, session and user stay the original's; tags ``rollout``, ``source_project``,
  ``source_alias`` and ``source_call`` say where it came from: the online evaluators check it
  as the call it mirrors), so no tenant budget counts it, a budget on
  ``project: experiment`` caps it, and ``daytwo spend --by project`` shows it as experiment
  spend. Its ledger row has ``rollout_arm = shadow``.
* **Bounded**: at most ``rollouts.shadow.max_concurrency`` mirrored calls in flight per replica
  (more are skipped, counted); a call that offers tools is never mirrored while
  ``rollouts.shadow.tools_unsafe`` (the candidate could act on them).
* **Unforgeable**: the marker header carries a per-process secret, so a client cannot make its
  own calls count as shadow calls.
* **Judged in pairs** (``rollouts.shadow.judge``): once the candidate answered, the control's
  answer and the candidate's are compared by the pairwise judge (quality/pairwise.py) in the
  same background task, and its ``pairwise`` score goes to the shadow call. A streamed control
  answer nobody assembled cannot be compared: that pair is skipped and counted.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from collections import Counter
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from daytwo.config.rollouts import RolloutsConfig, ShadowJudgeConfig
from daytwo.core.secrets import SecretRegistry
from daytwo.gateway import loopback
from daytwo.gateway.call import Call
from daytwo.quality.pairwise import PairwiseJudge, sampled

log = logging.getLogger("daytwo.rollout")

#: The header that marks a mirrored call: ``<rollout id>;<this process's secret>``.
SHADOW_HEADER = b"x-daytwo-shadow"
#: The project mirrored calls are attributed to (their own budget scope).
EXPERIMENT_PROJECT = "experiment"
#: Request fields a mirrored call never carries (it is read whole).
_DROPPED = ("stream", "stream_options")
#: The response header naming the call (the shadow call's id, which its score names).
_CALL_ID = "x-daytwo-call-id"


@dataclass(frozen=True, slots=True)
class _Judging:
    """What a sampled pair's judgment needs of the control's call (references, no copies)."""

    spec: ShadowJudgeConfig
    rollout_id: str
    request: dict[str, Any] | None
    answer: dict[str, Any]


class ShadowRunner:
    def __init__(
        self,
        app: Any,
        config: Callable[[], RolloutsConfig],
        secrets_: SecretRegistry,
        background: Callable[[Coroutine[Any, Any, Any]], None],
        *,
        pairwise: PairwiseJudge | None = None,
    ) -> None:
        self._app = app
        self._config = config
        self._secrets = secrets_
        self._background = background
        self._token = secrets.token_hex(16)
        self.inflight = 0
        self.sent = 0
        #: Mirrors not made, by reason (``tools``, ``concurrency``).
        self.skipped: Counter[str] = Counter()
        #: Judges shadow pairs when ``rollouts.shadow.judge`` asks for it.
        self.pairwise = pairwise

    def rollout_of(self, value: bytes) -> str | None:
        """The rollout a marker header names, when it carries this process's secret."""
        rollout_id, _, token = value.decode("latin-1").partition(";")
        if hmac.compare_digest(token.encode(), self._token.encode()) and rollout_id:
            return rollout_id
        return None

    def mirror(self, call: Call, body: dict[str, Any]) -> None:
        """Mirror ``call`` (answered by the control) to its rollout's candidate with ``body``."""
        cfg = self._config().shadow
        if cfg.tools_unsafe and body.get("tools"):
            self.skipped["tools"] += 1
            return
        if self.inflight >= cfg.max_concurrency:
            self.skipped["concurrency"] += 1
            return
        rollout = call.mirror
        assert rollout is not None
        a = call.attribution
        headers = {
            "x-daytwo-project": EXPERIMENT_PROJECT,
            "x-daytwo-tags": (
                f"rollout={rollout.id},source_project={a.project},source_alias={call.alias},"
                f"source_call={call.id}"
            ),
            SHADOW_HEADER.decode(): f"{rollout.id};{self._token}",
        }
        for name in ("workflow", "feature", "agent", "session", "user", "environment"):
            value = getattr(a, name)
            if value:
                headers[f"x-daytwo-{name}"] = value
        key = cfg.key
        if key is not None:
            headers["authorization"] = f"Bearer {self._secrets.resolve(key)}"
        mirrored = {k: v for k, v in body.items() if k not in _DROPPED}
        self.inflight += 1
        self._background(self._send(mirrored, headers, self._judging(call, cfg.judge)))

    def _judging(self, call: Call, spec: ShadowJudgeConfig | None) -> _Judging | None:
        """What the pairwise judge needs, when it is on and samples this call in."""
        rollout = call.mirror
        if spec is None or self.pairwise is None or rollout is None:
            return None
        if not sampled(spec.sample, rollout.id, call.id):
            return None
        if call.answer is None:  # a stream nobody assembled
            self.pairwise.skipped["unassembled"] += 1
            return None
        request = call.request.body if call.request is not None else None
        return _Judging(spec, rollout.id, request, call.answer)

    async def _send(
        self, body: dict[str, Any], headers: dict[str, str], judging: _Judging | None
    ) -> None:
        try:
            answer = await loopback.post(self._app, loopback.CHAT_PATH, body, headers)
            self.sent += 1
            if answer.status >= 400:
                err = answer.body.get("error")
                message = err.get("message") if isinstance(err, dict) else None
                log.warning(f"shadow call refused ({answer.status}): {message or 'no details'}")
        finally:
            self.inflight -= 1
        if judging is not None:
            await self._judge(judging, answer)

    async def _judge(self, judging: _Judging, answer: loopback.Answer) -> None:
        """The pairwise judgment of a shadow pair (after the mirror's slot was freed)."""
        judge = self.pairwise
        assert judge is not None
        shadow_call = answer.headers.get(_CALL_ID)
        if answer.status != 200 or shadow_call is None:
            judge.skipped["shadow_failed"] += 1
            return
        try:
            await judge.judge(
                judging.spec,
                judging.rollout_id,
                shadow_call,
                judging.request,
                judging.answer,
                answer.body,
            )
        except Exception:  # a bug in the judge must not escape a background task unseen
            log.exception(f"pairwise judgment of shadow call {shadow_call} failed")
