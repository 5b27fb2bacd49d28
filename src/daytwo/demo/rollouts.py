"""``daytwo demo --rollouts``: a cheaper model shipped and a bad prompt rolled back, by the
rollout controller, against a real gateway (in a background thread, SQLite ledger, simulated
models), told step by step as it happens:

1. the helpdesk's triage app calls alias ``smart`` (gpt-4o) and the support app
   ``prompt:support-reply`` (v1 in production), in sessions, for the whole run;
2. the operator starts an alias rollout ``smart`` → ``cheap`` (gpt-4o-mini,
   ``shadow:50%,canary:25%,100%``) over the admin API;
3. each stage change the controller makes, with its evidence, until ``completed``; then the
   triage workflow's cost per call before and after, and what the shadow stage's mirrored
   calls cost the ``experiment`` project;
4. GitOps: ``rollouts.yaml`` declares how support-reply's production label moves and
   ``labels.yaml`` moves it to v2, whose legal-safety rule makes the model refuse; the
   gateway starts the rollout itself;
5. the controller rolls it back at its first canary step on refusals: the evidence, the
   notification its log sink delivered, the support calls back on v1, and the status note
   telling the operator to revert the label; reverting it retires the rollout;
6. a summary of both rollouts, and the audit trail's rollout entries, verified.

Every call -- the apps', the admin API's -- goes over HTTP through the gateway. No step
pretends: each waits for its condition (a rollout event the controller wrote, rows its ledger
wrote, a delivery its sink recorded), with a deadline, and a missed deadline ends the run with
:class:`RolloutsFailed` naming the step. Steps that need traffic also last their share of
``seconds``, and each stage lasts at least ``rollouts_config.stage_s(seconds)``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import orjson
from rich.console import Console

from daytwo.admin.mount import create_app
from daytwo.alerts.history import AlertHistory, HistoryRow
from daytwo.audit.digest import load_public
from daytwo.audit.verify import Report, verify
from daytwo.config.load import validate_config
from daytwo.demo import rollouts_render as show
from daytwo.demo.embedded import (
    DemoFailed,
    admin_request,
    alert_log,
    fresh_ledger,
    operator_token,
    serving,
)
from daytwo.demo.incident_config import PROMPT, set_production, write_prompts
from daytwo.demo.incident_ledger import refusals
from daytwo.demo.incident_render import detail, step
from daytwo.demo.rollouts_config import (
    ALERT_LOG,
    ALIAS_CRITERIA,
    ALIAS_STAGES,
    BOARD_POLL_S,
    CANDIDATE_ALIAS,
    CONTROL_ALIAS,
    LABEL,
    PROMPT_CRITERIA,
    PROMPT_STAGES,
    TRIAGE_PROJECT,
    TRIAGE_WORKFLOW,
    rollouts_config,
    stage_s,
    write_config,
    write_policy,
)
from daytwo.demo.rollouts_ledger import (
    Cost,
    arms,
    cost,
    experiment_spend,
    rollout_entries,
    rows_of,
    served,
)
from daytwo.demo.rollouts_traffic import App, failures, support_app, triage_app
from daytwo.gateway.app import Gateway
from daytwo.gateway.server import free_port
from daytwo.ledger.store import LedgerStore, open_store
from daytwo.rollout.controller import ROLLBACK as ROLLBACK_RULE
from daytwo.rollout.gitops import POLICY_FILE

#: Shares of the run: the baseline before the first rollout, the calls watched after the
#: rollback.
BASELINE_SHARE = 0.1
AFTER_SHARE = 0.1
#: The least evidence a step waits for: answered calls of each app before the first rollout,
#: calls read back after a rollout finished.
MIN_BASELINE = 30
MIN_AFTER = 20
#: Added to a step's own length for its deadline.
GRACE_S = 20.0
POLL_S = 0.2
OPERATOR = "release-manager"
ALIAS_REASON = "gpt-4o-mini should triage tickets as well as gpt-4o at a fraction of the price"


class RolloutsFailed(DemoFailed):
    """A step did not reach its condition in time, or the gateway refused it; the message
    names the step and what was missing."""


@dataclass(frozen=True, slots=True)
class RolloutsResult:
    alias_rollout: str
    prompt_rollout: str
    ledger_path: Path
    config_path: Path
    alert_log: Path
    audit: Report


def run_rollouts(workdir: Path, seconds: float, console: Console, port: int = 0) -> RolloutsResult:
    """Play both rollouts in ``workdir`` (a fresh ledger every run) over about ``seconds``."""
    ledger_path = fresh_ledger(workdir)
    prompts_root = write_prompts(workdir)
    (prompts_root / POLICY_FILE).unlink(missing_ok=True)  # the story writes it
    config_path = workdir / "daytwo.yaml"
    raw = rollouts_config(ledger_path, prompts_root, port or free_port(), seconds)
    write_config(config_path, raw)
    app = create_app(validate_config(raw, source=str(config_path)), config_path=config_path)
    with (
        alert_log(workdir / ALERT_LOG),
        serving(app, raw["server"]["port"], RolloutsFailed) as handle,
    ):
        story = _Story(app, handle.url, seconds, console, workdir, prompts_root)
        alias_id, prompt_id = asyncio.run(story.play())
    store = open_store(f"sqlite:///{ledger_path}", create=False)
    try:
        console.print(show.audit_table(rollout_entries(store), story.t0))
        public = ledger_path.with_name(ledger_path.name + ".audit-key.pem.pub")
        audit = verify(store, public_keys=[load_public(public.read_bytes())])
    finally:
        store.close()
    return RolloutsResult(alias_id, prompt_id, ledger_path, config_path, workdir / ALERT_LOG, audit)


Detail = dict[str, Any]


@dataclass
class _Story:
    app: Gateway
    url: str
    seconds: float
    console: Console
    workdir: Path
    prompts_root: Path
    triage: App = field(init=False)
    support: App = field(init=False)
    t0: float = 0.0
    step_number: int = 0
    _printed: set[int] = field(default_factory=set)
    _store: LedgerStore | None = None
    _admin: aiohttp.ClientSession | None = None

    def __post_init__(self) -> None:
        self.triage = triage_app(self.url)
        self.support = support_app(self.url)

    # -- the story --------------------------------------------------------------------------

    async def play(self) -> tuple[str, str]:
        token = await asyncio.to_thread(self._operator_token)
        self._store = open_store(f"sqlite:///{self.workdir / 'ledger.db'}", create=False)
        self._admin = aiohttp.ClientSession(
            headers={"authorization": f"Bearer {token}"},
            timeout=aiohttp.ClientTimeout(total=30),
        )
        self.t0 = time.time()
        apps = (self.triage, self.support)
        traffic = [asyncio.create_task(a.run()) for a in apps]
        try:
            await self._baseline()
            cheap = await self._ship_cheaper_model()
            prompt = await self._roll_out_prompt()
            for a in apps:
                a.stop()
            await asyncio.gather(*traffic)
            await self._summary(cheap, prompt)
            return str(cheap["id"]), str(prompt["id"])
        finally:
            for a in apps:
                a.stop()
            await asyncio.gather(*traffic, return_exceptions=True)
            await self._admin.close()
            self._store.close()

    def _operator_token(self) -> str:
        """An operator admin token for the story's admin API calls."""
        token_id, secret = operator_token(self.workdir / "ledger.db", OPERATOR)
        self.console.print(
            f"[bold cyan]daytwo demo --rollouts[/]: gateway {self.url}, SQLite ledger, simulated "
            f"models; the helpdesk's triage app calls alias {CONTROL_ALIAS} and the support app "
            f"prompt:{PROMPT}, in sessions, throughout.\n"
            f"operator admin token {token_id} ({OPERATOR}) created, as "
            f"`daytwo admin tokens create --role operator` does"
        )
        return secret

    async def _baseline(self) -> None:
        share = self.seconds * BASELINE_SHARE

        def enough() -> bool:
            now = time.time()
            triaged = self._cost(self.t0, now).calls
            answered = refusals(self._ledger(), self.t0, now, version=1).n
            return self._elapsed() >= share and min(triaged, answered) >= MIN_BASELINE

        await self._until(f"{MIN_BASELINE} answered calls of each app", enough, share + GRACE_S)
        now = time.time()
        spent = self._cost(self.t0, now)
        v1 = refusals(self._ledger(), self.t0, now, version=1)
        self._say("baseline")
        self._lines(
            f"triage ({TRIAGE_PROJECT}/{TRIAGE_WORKFLOW}) on alias {CONTROL_ALIAS}: "
            f"{spent.calls} calls, {show.usd(spent.per_call_usd)} per call "
            f"({', '.join(spent.deployments)})",
            f"support on prompt:{PROMPT}@{LABEL} (v1): refusal rate {v1.text()}",
            f"{self.triage.sessions + self.support.sessions} sessions so far; a rollout keeps "
            "each session on one arm",
        )

    async def _ship_cheaper_model(self) -> Detail:
        started = await self._request(
            "POST",
            "/admin/rollouts",
            {
                "target": f"alias:{CONTROL_ALIAS}",
                "candidate": CANDIDATE_ALIAS,
                "stages": ALIAS_STAGES,
                "sticky": "session",
                "criteria": ALIAS_CRITERIA,
                "reason": ALIAS_REASON,
            },
        )
        self._say(f"the operator starts an alias rollout: POST /admin/rollouts (token {OPERATOR})")
        self._lines(*show.started_lines(started))
        rid = str(started["id"])
        stages = len(started["stages"])
        done = await self._follow(
            rid,
            lambda r: r["status"] != "running",
            stages * stage_s(self.seconds) + GRACE_S,
            f"rollout {rid} to complete",
        )
        if done["status"] != "completed":
            raise RolloutsFailed(
                f"step {self.step_number}: rollout {rid} ended {done['status']}, not completed: "
                f"{done['reason']}"
            )
        completed_at = float(done["updated_at"])
        await self._until(
            f"{MIN_AFTER} triage calls since the rollout completed",
            lambda: self._cost(completed_at, time.time()).calls >= MIN_AFTER,
            GRACE_S,
        )
        before = self._cost(self.t0, float(started["created_at"]))
        after = self._cost(completed_at, time.time())
        shadow = experiment_spend(self._ledger(), rid)
        self._say("the bill, from the ledger")
        self._lines(*show.cost_lines(before, after, shadow, str(started["stages"][0]["name"])))
        return done

    async def _roll_out_prompt(self) -> Detail:
        write_policy(self.prompts_root)
        set_production(self.prompts_root, 2)
        moved_at = time.time()
        self._say(f"GitOps: a pull request adds {POLICY_FILE} and moves {PROMPT}@{LABEL} to v2")
        self._lines(
            f"{POLICY_FILE}: {PROMPT}.{LABEL}: stages {PROMPT_STAGES}, sticky session, criteria "
            + ", ".join(f"{k} {v:g}" for k, v in PROMPT_CRITERIA.items()),
            f"labels.yaml: {PROMPT}: {{{LABEL}: 2}} (was 1); the gateway reloads it by itself",
        )
        found: list[Detail] = []

        async def started() -> bool:
            listed = await self._request("GET", "/admin/rollouts?active=true")
            found[:] = [r for r in listed["data"] if r["target"] == f"{PROMPT}@{LABEL}"]
            return bool(found)

        await self._until_async("the gateway to start the label's rollout", started, GRACE_S)
        first = found[0]
        rid = str(first["id"])
        created_at = float(first["created_at"])
        self._say(
            f"the gateway started {rid} itself, {created_at - moved_at:.1f}s after the change",
            at=created_at,
        )
        self._lines(*show.started_lines(first))
        stages = len(first["stages"])
        back = await self._follow(
            rid,
            lambda r: r["status"] != "running",
            stages * stage_s(self.seconds) + GRACE_S,
            f"rollout {rid} to be decided",
        )
        if back["status"] != "rolled_back":
            raise RolloutsFailed(
                f"step {self.step_number}: rollout {rid} ended {back['status']}, not rolled "
                f"back: {back['reason']}"
            )
        await self._after_rollback(back, since=time.time() + BOARD_POLL_S)
        return await self._revert(back)

    async def _after_rollback(self, r: Detail, *, since: float) -> None:
        """``since``: a poll after the admin API said it was rolled back. Calls that started
        while the controller judged went by the split; a board poll that read the table just
        before the change may route by it until its next poll."""
        rid = str(r["id"])
        back_at = since
        heard: list[HistoryRow] = []

        def delivered() -> bool:
            heard[:] = self._notifications(rid)
            return any(h.kind == "delivery" and h.outcome == "ok" for h in heard)

        await self._until(f"the {ROLLBACK_RULE} notification to be delivered", delivered, GRACE_S)
        sent = next(h for h in heard if h.kind == "transition")
        delivery = next(h for h in heard if h.kind == "delivery" and h.outcome == "ok")
        self._say(f"notification {ROLLBACK_RULE} ({sent.severity})", at=sent.at)
        self._lines(
            sent.detail or "",
            f"delivered to sink {delivery.sink} ({ALERT_LOG}) on attempt {delivery.attempt}; "
            "in `daytwo alerts history`",
        )
        share = self.seconds * AFTER_SHARE

        def settled() -> bool:
            calls = sum(served(self._ledger(), PROMPT, back_at, time.time()).values())
            return time.time() - back_at >= share and calls >= MIN_AFTER

        await self._until(f"{MIN_AFTER} support calls since the rollback", settled, share + GRACE_S)
        rows = served(self._ledger(), PROMPT, back_at, time.time())
        now = await self._detail(rid)
        self._say("back on v1")
        self._lines(
            *show.served_lines(rows, "since the rollback"),
            f"refusal rate since the rollback: "
            f"{refusals(self._ledger(), back_at, time.time()).text()}",
            f"status note: {now['note']}",
        )

    async def _revert(self, r: Detail) -> Detail:
        rid = str(r["id"])
        set_production(self.prompts_root, 1)
        self._say(f"the operator reverts the label: labels.yaml {PROMPT}: {{{LABEL}: 1}}")
        latest: list[Detail] = []

        async def retired() -> bool:
            latest[:] = [await self._detail(rid)]
            return bool(latest[0]["retired"])

        await self._until_async(f"the gateway to retire {rid}", retired, GRACE_S)
        event = next(e for e in reversed(latest[0]["history"]) if e["action"] == "rollout.retire")
        self._lines(
            f"the gateway retired {rid} ({event['action']} by {event['actor']}: "
            f"{event['after'].get('why', '')}); {PROMPT}@{LABEL} serves v1 by the file again"
        )
        return latest[0]

    async def _summary(self, cheap: Detail, prompt: Detail) -> None:
        apps = (self.triage, self.support)
        sent = sum(len(a.seen) for a in apps)
        projects = tuple(a.project for a in apps)
        await self._until(
            f"the ledger to hold the {sent:,} calls the apps made",
            lambda: rows_of(self._ledger(), projects) >= sent,
            GRACE_S,
        )
        final = [await self._detail(str(r["id"])) for r in (cheap, prompt)]
        self._say("summary")
        rows = [(r, arms(self._ledger(), str(r["id"]))) for r in final]
        self.console.print(show.summary(rows))
        self._lines(f"the ledger holds every one of the {sent:,} calls the apps made")
        for a in apps:
            failed = failures(a.seen)
            shown = ", ".join(f"{k}: {n}" for k, n in failed.items()) or "no client errors"
            self._lines(
                f"the {a.name} app: {len(a.seen):,} calls in {a.sessions:,} sessions, {shown}"
            )

    # -- the parts --------------------------------------------------------------------------

    async def _follow(
        self, rid: str, done: Callable[[Detail], bool], timeout_s: float, what: str
    ) -> Detail:
        """Poll the rollout over the admin API, telling each change after its start (its
        history), until ``done``; fail the step after ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        with self.console.status(f"waiting for {what} (the controller judges every stage) ..."):
            while True:
                r = await self._detail(rid)
                for event in r["history"]:
                    if event["id"] in self._printed or event["action"] == "rollout.start":
                        continue
                    self._printed.add(event["id"])
                    self._say(show.change_title(event), at=float(event["at"]))
                    self._lines(*show.evidence_lines(event))
                if done(r):
                    return r
                if time.monotonic() > deadline:
                    raise RolloutsFailed(
                        f"step {self.step_number + 1}: no {what} within {timeout_s:.0f}s "
                        f"(it is {r['status']} at {r['current']})"
                    )
                await asyncio.sleep(POLL_S)

    def _notifications(self, rid: str) -> list[HistoryRow]:
        rows = AlertHistory(self._ledger()).since(self.t0, rules=[ROLLBACK_RULE])
        return [h for h in rows if h.labels.get("rollout") == rid]

    def _elapsed(self) -> float:
        return time.time() - self.t0

    def _say(self, title: str, *, at: float | None = None) -> None:
        self.step_number += 1
        when = (at or time.time()) - self.t0
        self.console.print(step(when, self.step_number, title))

    def _lines(self, *lines: str) -> None:
        if lines:
            self.console.print(detail(*lines), soft_wrap=True)

    def _ledger(self) -> LedgerStore:
        assert self._store is not None
        return self._store

    def _cost(self, start: float, end: float) -> Cost:
        return cost(self._ledger(), start, end, project=TRIAGE_PROJECT, workflow=TRIAGE_WORKFLOW)

    async def _until(self, what: str, done: Callable[[], bool], timeout_s: float) -> None:
        """Wait for ``done`` (blocking reads: in a worker thread), or fail the next step after
        ``timeout_s``."""

        async def check() -> bool:
            return await asyncio.to_thread(done)

        await self._until_async(what, check, timeout_s)

    async def _until_async(
        self, what: str, done: Callable[[], Awaitable[bool]], timeout_s: float
    ) -> None:
        deadline = time.monotonic() + timeout_s
        with self.console.status(f"waiting for {what} ..."):
            while not await done():
                if time.monotonic() > deadline:
                    raise RolloutsFailed(
                        f"step {self.step_number + 1}: no {what} within {timeout_s:.0f}s"
                    )
                await asyncio.sleep(POLL_S)

    async def _detail(self, rid: str) -> Detail:
        return await self._request("GET", f"/admin/rollouts/{quote(rid)}")

    async def _request(
        self, method: str, path: str, body: Mapping[str, Any] | None = None
    ) -> Detail:
        """One admin API call with the operator's token; an answer other than 2xx fails the
        step with the API's own message."""
        assert self._admin is not None
        raw = await admin_request(
            self._admin, self.url + path, self.step_number + 1, method, body, RolloutsFailed
        )
        answer: Detail = orjson.loads(raw)
        return answer
