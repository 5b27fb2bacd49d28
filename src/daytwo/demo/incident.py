"""``daytwo demo --incident``: one AI incident played end to end against a real gateway (in a
background thread, SQLite ledger, simulated model), told step by step as it happens:

1. the support app calls ``prompt:support-reply`` (v1 in production) while the ledger fills;
2. the change: labels.yaml moves production to v2, and the gateway reloads it by itself;
3. the refusal SLO's page fires; the notification names its runbook, whose first three
   checks are shown;
4. the operator opens an incident (admin API, operator token) and runs triage over the
   window since the change against the time before it;
5. degraded mode (``POST /admin/switches/degrade``, ``cached``): the app keeps being answered;
6. replay: captured v2 calls re-run against v1 through the gateway, refusal rates paired;
7. the rollback: labels.yaml back to v1, the degraded scope revived;
8. recovery: the refusal rate back down, the page resolving if its windows allow;
9. the incident ended and its postmortem written to ``incident-report.md``.

Every call -- the app's, the replay's, the admin API's -- goes over HTTP through the gateway.
No step pretends: each waits for its condition (a reload the gateway made, a notification
its alert engine sent, rows its ledger wrote), with a deadline, and a missed deadline ends
the run with :class:`IncidentFailed` naming the step. A step that needs traffic to
accumulate also lasts at least its share of ``seconds``, which sets the run's pace.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import orjson
from rich.console import Console

from daytwo.admin.mount import create_app
from daytwo.alerts.notify import Notification
from daytwo.config.load import validate_config
from daytwo.demo import incident_render as show
from daytwo.demo.embedded import (
    DemoFailed,
    admin_request,
    alert_log,
    fresh_ledger,
    operator_token,
    serving,
)
from daytwo.demo.incident_config import (
    ALERT_LOG,
    PROJECT,
    PROMPT,
    SLO_NAME,
    WORKFLOW,
    incident_config,
    set_production,
    slo_windows,
    write_config,
    write_prompts,
)
from daytwo.demo.incident_ledger import Refusals, degraded_rows, refusals
from daytwo.demo.incident_traffic import SupportApp, tally
from daytwo.gateway.app import Gateway
from daytwo.gateway.server import free_port
from daytwo.incidents.replay import ReplayRefused, Selection
from daytwo.incidents.replay_build import against
from daytwo.incidents.replay_job import ReplayOptions, run_replay
from daytwo.incidents.replay_report import ReplayReport
from daytwo.incidents.runbooks import load_book
from daytwo.incidents.triage import Triage, triage
from daytwo.ledger.store import LedgerStore, open_store

#: Shares of the run: the baseline before the change, degraded mode before the replay, the
#: recovery after the rollback.
BASELINE_SHARE = 0.3
DEGRADED_SHARE = 0.2
RECOVERY_SHARE = 0.3
#: The least evidence a step waits for: scored v1 answers before the change, degraded
#: answers, scored v1 answers after the rollback.
MIN_BASELINE_SCORED = 40
MIN_DEGRADED = 10
MIN_RECOVERY_SCORED = 30
#: Added to a step's own share of the run for its deadline.
GRACE_S = 20.0
POLL_S = 0.1
#: The replay: at most this many captured calls, at most this much spent.
REPLAY_SAMPLE = 40
REPLAY_MAX_COST_USD = 0.25
REPLAY_CONCURRENCY = 8
#: The demo's gateway takes no key: the replay must not send the user's own $DAYTWO_API_KEY
#: (meant for their gateway) to it, so it reads this variable, which nothing sets.
REPLAY_KEY_ENV = "DAYTWO_DEMO_NO_KEY"
#: The page of the refusal SLO (the alert engine's rule name).
PAGE = f"slo:{SLO_NAME}:page"
INCIDENT_TITLE = "Support answers refused after a prompt change"
DEGRADED_MESSAGE = (
    "Our assistant is paused while we fix a problem. Your question was received: "
    "a person will answer by email."
)
OPERATOR = "on-call"

_T = TypeVar("_T")


class IncidentFailed(DemoFailed):
    """A step did not reach its condition in time, or the gateway refused it; the message
    names the step and what was missing."""


@dataclass(frozen=True, slots=True)
class IncidentResult:
    incident_id: str
    report_path: Path
    ledger_path: Path
    config_path: Path
    alert_log: Path


def run_incident(workdir: Path, seconds: float, console: Console, port: int = 0) -> IncidentResult:
    """Play the incident in ``workdir`` (a fresh ledger every run) over about ``seconds``."""
    ledger_path = fresh_ledger(workdir)
    prompts_root = write_prompts(workdir)
    config_path = workdir / "daytwo.yaml"
    raw = incident_config(ledger_path, prompts_root, port or free_port(), seconds)
    write_config(config_path, raw)
    app = create_app(validate_config(raw, source=str(config_path)), config_path=config_path)
    with (
        alert_log(workdir / ALERT_LOG),
        serving(app, raw["server"]["port"], IncidentFailed) as handle,
    ):
        story = _Story(app, handle.url, seconds, console, workdir, config_path, prompts_root)
        incident_id = asyncio.run(story.play())
    return IncidentResult(
        incident_id,
        workdir / "incident-report.md",
        ledger_path,
        config_path,
        workdir / ALERT_LOG,
    )


def _serving(app: Gateway) -> int | None:
    """The version the gateway's prompt set labels ``production`` now."""
    current = app.prompts.current if app.prompts is not None else None
    if current is None:
        return None
    return current.labels.get(PROMPT, {}).get("production")


@dataclass
class _Alerts:
    """The page's notifications, heard from the gateway's alert engine (its thread)."""

    heard: deque[Notification] = field(default_factory=deque)
    fired: Notification | None = None
    resolved: Notification | None = None

    def listen(self, n: Notification) -> None:
        self.heard.append(n)  # deque.append: thread-safe

    def update(self) -> None:
        while self.heard:
            n = self.heard.popleft()
            if n.rule != PAGE:
                continue
            if n.status == "firing" and self.fired is None:
                self.fired = n
            elif n.status == "resolved" and self.fired is not None and self.resolved is None:
                self.resolved = n


@dataclass
class _Story:
    app: Gateway
    url: str
    seconds: float
    console: Console
    workdir: Path
    config_path: Path
    prompts_root: Path
    support: SupportApp = field(init=False)
    alerts: _Alerts = field(default_factory=_Alerts)
    t0: float = 0.0
    #: When each step happened (Unix seconds).
    changed_at: float = 0.0
    degraded_at: float = 0.0
    rolled_back_at: float = 0.0
    _store: LedgerStore | None = None
    _admin: aiohttp.ClientSession | None = None

    def __post_init__(self) -> None:
        self.support = SupportApp(self.url)
        self.app.alerts.add_listener(self.alerts.listen)

    # -- the story --------------------------------------------------------------------------

    async def play(self) -> str:
        token = await asyncio.to_thread(self._operator_token)
        self._store = open_store(f"sqlite:///{self.workdir / 'ledger.db'}", create=False)
        headers = {"authorization": f"Bearer {token}"}
        self._admin = aiohttp.ClientSession(
            headers=headers, timeout=aiohttp.ClientTimeout(total=30)
        )
        self.t0 = time.time()
        traffic = asyncio.create_task(self.support.run())
        try:
            await self._baseline()
            await self._change()
            await self._alert()
            incident_id = await self._open_and_triage()
            await self._degrade(incident_id)
            await self._replay(incident_id)
            await self._roll_back(incident_id)
            await self._recovery()
            self.support.stop()
            await traffic
            await self._report(incident_id)
            return incident_id
        finally:
            self.support.stop()
            await asyncio.gather(traffic, return_exceptions=True)
            await self._admin.close()
            self._store.close()

    def _operator_token(self) -> str:
        """An operator admin token for the story's admin API calls."""
        token_id, secret = operator_token(self.workdir / "ledger.db", OPERATOR)
        self.console.print(
            f"[bold cyan]daytwo demo --incident[/]: gateway {self.url}, SQLite ledger, a "
            f"simulated model; the support app calls prompt:{PROMPT} throughout.\n"
            f"operator admin token {token_id} ({OPERATOR}) created, as "
            f"`daytwo admin tokens create --role operator` does"
        )
        return secret

    async def _baseline(self) -> None:
        share = self.seconds * BASELINE_SHARE
        await self._until(
            1,
            f"{MIN_BASELINE_SCORED} scored answers on v1",
            lambda: (
                self._elapsed() >= share
                and self._refusals(self.t0, time.time(), 1).n >= MIN_BASELINE_SCORED
            ),
            share + GRACE_S,
        )
        seen = self._refusals(self.t0, time.time(), 1)
        long, short = slo_windows(self.seconds)
        self._say(1, f"baseline: {PROMPT} v1 in production")
        self._lines(
            f"{len(self.support.seen)} calls so far; refusal rate {seen.text()}",
            f"SLO {SLO_NAME}: refusals ≤ 10 %, paged when the {long}s and {short}s windows "
            "both burn its budget at 2x",
        )

    async def _change(self) -> None:
        self.changed_at = time.time()
        set_production(self.prompts_root, 2)
        self._say(2, f"the change: labels.yaml moves {PROMPT} production v1 → v2")
        await self._until(
            2, "the gateway to reload the labels", lambda: _serving(self.app) == 2, GRACE_S
        )
        self._lines(f"the gateway reloaded it by itself ({self._elapsed():.1f}s); no restart")

    async def _alert(self) -> None:
        await self._until(
            3,
            f"the {PAGE} alert to fire",
            lambda: self._heard().fired is not None,
            self.seconds * 0.3 + GRACE_S,
        )
        fired = self.alerts.fired
        assert fired is not None
        self._say(3, f"alert firing: {PAGE}", at=fired.at)
        self._lines(*show.alert_lines(fired))
        name = show.runbook_name(fired.runbook)
        runbook = load_book().get(name) if name else None
        if runbook is None:
            raise IncidentFailed(f"step 3: the alert names no known runbook ({fired.runbook})")
        self._lines(*show.runbook_lines(runbook))

    async def _open_and_triage(self) -> str:
        scope = {"project": PROJECT, "workflow": WORKFLOW}
        started = await self._post(
            4,
            "/admin/incidents",
            {"title": INCIDENT_TITLE, "severity": "sev2", "scope": scope, "commander": OPERATOR},
        )
        incident_id = str(started["id"])
        self._say(4, f"incident {incident_id} opened (POST /admin/incidents, sev2)")
        now = time.time()
        result: Triage = await asyncio.to_thread(
            triage,
            self._ledger(),
            window=(self.changed_at, now),
            baseline=(self.t0, self.changed_at),
            project=PROJECT,
            workflow=WORKFLOW,
        )
        if not result.suspects:
            raise IncidentFailed("step 4: triage found no suspect")
        self._lines(*show.triage_lines(result))
        top = result.suspects[0]
        await self._post(
            4,
            f"/admin/incidents/{incident_id}/notes",
            {"text": f"triage ranks first: {top.what} (score {top.score:.2f})"},
        )
        return incident_id

    async def _degrade(self, incident_id: str) -> None:
        scope = {"project": PROJECT, "workflow": WORKFLOW}
        self.degraded_at = time.time()
        await self._post(
            5,
            "/admin/switches/degrade",
            {
                "scope": scope,
                "mode": "cached",
                "message": DEGRADED_MESSAGE,
                "reason": f"{incident_id}: answers refused after {PROMPT} v2",
            },
        )
        self._say(5, "degraded mode: project=support, workflow=answer (cached)")
        self._lines("POST /admin/switches/degrade: the last good cached answer, else a message")
        share = self.seconds * DEGRADED_SHARE
        await self._until(
            5,
            f"{MIN_DEGRADED} degraded answers",
            lambda: (
                time.time() - self.degraded_at >= share
                and tally(self.support.since(self.degraded_at)).degraded_total >= MIN_DEGRADED
            ),
            share + GRACE_S,
        )
        self._lines(*show.degraded_lines(tally(self.support.since(self.degraded_at))))

    async def _replay(self, incident_id: str) -> None:
        options = ReplayOptions(
            selection=Selection(
                start=self.changed_at,
                end=self.degraded_at,
                project=PROJECT,
                workflow=WORKFLOW,
                prompt=f"{PROMPT}@v2",
                sample=REPLAY_SAMPLE,
            ),
            against=against(f"prompt:{PROMPT}@v1", None, None),
            config_path=self.config_path,
            gateway_url=self.url,
            key_env=REPLAY_KEY_ENV,
            max_cost_usd=REPLAY_MAX_COST_USD,
            concurrency=REPLAY_CONCURRENCY,
        )
        self._say(6, f"replay: would v1 have done better? (at most ${REPLAY_MAX_COST_USD})")
        try:
            report: ReplayReport = await asyncio.to_thread(run_replay, options)
        except ReplayRefused as exc:
            raise IncidentFailed(f"step 6: the replay was refused: {exc}") from None
        self._lines(*show.replay_lines(report, "v1", "v2"))
        rate = show.refusal_rate(report)
        if rate is not None:
            await self._post(
                6,
                f"/admin/incidents/{incident_id}/notes",
                {
                    "text": f"replay of {rate.n} v2 calls against v1: v1 refuses "
                    f"{rate.replay:.1%}, v2 {rate.original:.1%}"
                },
            )

    async def _roll_back(self, incident_id: str) -> None:
        self.rolled_back_at = time.time()
        set_production(self.prompts_root, 1)
        self._say(7, f"roll back: labels.yaml moves {PROMPT} production v2 → v1")
        await self._until(
            7, "the gateway to reload the labels", lambda: _serving(self.app) == 1, GRACE_S
        )
        revived = await self._post(
            7, "/admin/switches/revive", {"scope": {"project": PROJECT, "workflow": WORKFLOW}}
        )
        revived_at = time.time()
        self._lines(
            f"the gateway serves v1 again ({self._elapsed():.1f}s); POST /admin/switches/revive: "
            f"{revived.get('scope')} revived={revived.get('revived')}"
        )

        def settled() -> bool:
            # Answered normally again, and every degraded answer the app saw is in the ledger.
            after = self.support.since(revived_at)
            seen, marked = self._degraded_counts()
            return any(s.status == 200 and s.degraded is None for s in after) and seen == marked

        if not await self._wait(settled, GRACE_S):
            seen, marked = self._degraded_counts()
            raise IncidentFailed(
                f"step 7: the app saw {seen} degraded answers, the ledger marks {marked}"
            )
        self._lines(
            *show.degraded_total_lines(
                tally(self.support.seen), degraded_rows(self._ledger(), 0.0, time.time())
            )
        )

    async def _recovery(self) -> None:
        share = self.seconds * RECOVERY_SHARE
        long, _ = slo_windows(self.seconds)

        def recovered() -> bool:
            return (
                time.time() - self.rolled_back_at >= share
                and self._refusals(self.rolled_back_at, time.time(), 1).n >= MIN_RECOVERY_SCORED
            )

        await self._until(
            8, f"{MIN_RECOVERY_SCORED} scored answers on v1", recovered, share + GRACE_S
        )
        # The page resolves once its short window is clean: wait for it, never beyond two
        # long windows (then the line says it still fires).
        deadline = self.rolled_back_at + 2 * long + 2
        await self._wait(lambda: self._heard().resolved is not None, deadline - time.time())
        now = time.time()
        during = self._refusals(self.changed_at, self.degraded_at, 2)
        after = self._refusals(self.rolled_back_at, now, 1)
        fired, resolved = self.alerts.fired, self.alerts.resolved
        firing_for = resolved.at - fired.at if resolved is not None and fired is not None else None
        self._say(8, "recovery")
        self._lines(*show.recovery_lines(during, after, firing_for, now - self.rolled_back_at))

    async def _report(self, incident_id: str) -> None:
        during = self._refusals(self.changed_at, self.degraded_at, 2)
        summary = (
            f"{PROMPT} v2's legal-safety rule made the model refuse {during.text()}; degraded "
            "mode (cached) answered the app meanwhile; a replay showed v1 refusing less; "
            "production rolled back to v1."
        )
        await self._post(9, f"/admin/incidents/{incident_id}/end", {"summary": summary})
        markdown = await self._get_text(9, f"/admin/incidents/{incident_id}/report")
        path = self.workdir / "incident-report.md"
        path.write_text(markdown, encoding="utf-8")
        self._say(9, f"incident {incident_id} ended; the postmortem: {path}")
        self._lines("timeline (from the audit trail and the alert history):")
        self._lines(*show.timeline_head(markdown))

    # -- the parts --------------------------------------------------------------------------

    def _elapsed(self) -> float:
        return time.time() - self.t0

    def _say(self, number: int, title: str, *, at: float | None = None) -> None:
        self.console.print(show.step((at or time.time()) - self.t0, number, title))

    def _lines(self, *lines: str) -> None:
        if lines:
            self.console.print(show.detail(*lines), soft_wrap=True)

    def _heard(self) -> _Alerts:
        self.alerts.update()
        return self.alerts

    def _ledger(self) -> LedgerStore:
        assert self._store is not None
        return self._store

    def _degraded_counts(self) -> tuple[int, int]:
        """Degraded answers over the whole run: as the app saw them, as the ledger marks
        them."""
        seen = tally(self.support.seen).degraded_total
        return seen, sum(degraded_rows(self._ledger(), 0.0, time.time()).values())

    def _refusals(self, start: float, end: float, version: int) -> Refusals:
        return refusals(self._ledger(), start, end, version=version)

    async def _until(
        self, number: int, what: str, done: Callable[[], bool], timeout_s: float
    ) -> None:
        """Wait for ``done`` (a spinner says what for, on a terminal), or fail the step after
        ``timeout_s``."""
        with self.console.status(f"step {number}: waiting for {what} ..."):
            reached = await self._wait(done, timeout_s)
        if not reached:
            raise IncidentFailed(f"step {number}: no {what} within {timeout_s:.0f}s")

    @staticmethod
    async def _wait(done: Callable[[], bool], timeout_s: float) -> bool:
        """Poll ``done`` (blocking reads: in a worker thread) until it holds (True) or
        ``timeout_s`` passed (False)."""
        deadline = time.monotonic() + timeout_s
        while True:
            if await asyncio.to_thread(done):
                return True
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(POLL_S)

    async def _post(self, number: int, path: str, body: dict[str, Any]) -> dict[str, Any]:
        return await self._call(number, "POST", path, body, lambda raw: orjson.loads(raw))

    async def _get_text(self, number: int, path: str) -> str:
        return await self._call(number, "GET", path, None, lambda raw: raw.decode("utf-8"))

    async def _call(
        self,
        number: int,
        method: str,
        path: str,
        body: dict[str, Any] | None,
        read: Callable[[bytes], _T],
    ) -> _T:
        """One admin API call with the operator's token; an answer other than 2xx fails the
        step with the API's own message."""
        assert self._admin is not None
        raw = await admin_request(
            self._admin, self.url + path, number, method, body, IncidentFailed
        )
        return read(raw)
