"""`daytwo demo --incident` plays one AI incident end to end: a prompt change that makes the
model refuse, the SLO page and its runbook, an incident opened over the admin API, triage
ranking the prompt first, degraded mode answering the app, a replay showing v1 refusing less,
the rollback, the recovery and the postmortem -- every step on a real gateway, its SQLite
ledger and the simulator.

The pieces are tested on their own (the ledger reads over a real SQLite ledger, the config
and prompts as the gateway loads them, the narrative's helpers); the subprocess run checks the
whole story shows, with the ledger and the report agreeing with what it printed."""

from __future__ import annotations

import os
import re
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from tests.cli.records import call_record

from daytwo.config.load import validate_config
from daytwo.core.score import ScoreRecord
from daytwo.demo.incident_config import (
    EFFECT_WHEN,
    PROMPT,
    incident_config,
    set_production,
    write_prompts,
)
from daytwo.demo.incident_ledger import degraded_rows, refusals
from daytwo.demo.incident_render import checks, runbook_name, timeline_head
from daytwo.demo.incident_traffic import TOPICS, Seen, tally
from daytwo.gateway.prompt_stage import PromptSource
from daytwo.incidents.runbooks import load_book
from daytwo.ledger.store import open_store

NOW = 10_000.0


def test_refusals_count_scored_answers_of_the_span_leaving_out_degraded_ones(
    tmp_path: Path,
) -> None:
    plan = [
        # (started at, prompt version, degraded, refused)
        (NOW + 1, 1, None, False),
        (NOW + 2, 1, None, True),
        (NOW + 3, 2, None, True),
        (NOW + 4, 2, None, True),
        (NOW + 5, 2, None, False),
        (NOW + 6, 2, "cached", True),  # no model wrote it: not counted
        (NOW + 7, 2, "static", False),
        (NOW + 20, 1, None, True),  # after the span
    ]
    records = [
        call_record(
            i, at, project="support", prompt_name=PROMPT, prompt_version=v, degraded=how,
            cost_nanousd=0 if how else 1000,
        )
        for i, (at, v, how, _) in enumerate(plan)
    ]  # fmt: skip
    records.append(call_record(99, NOW + 3, project="search"))  # another project
    marks = [
        ScoreRecord(f"s{i}", f"c{i:04d}", at + 1, "refusal", "1", "online", 0.0 if bad else 1.0)
        for i, (at, _, _, bad) in enumerate(plan)
    ]
    marks.append(ScoreRecord("s99", "c0099", NOW + 4, "refusal", "1", "online", 0.0))
    store = open_store(f"sqlite:///{tmp_path / 'ledger.db'}")
    try:
        store.insert_batch(records)
        store.insert_scores(marks)
        everything = refusals(store, NOW, NOW + 10)
        v2 = refusals(store, NOW, NOW + 10, version=2)
        v1 = refusals(store, NOW, NOW + 10, version=1)
        degraded = degraded_rows(store, NOW, NOW + 10)
        nothing = refusals(store, NOW + 30, NOW + 40)
    finally:
        store.close()
    assert (everything.n, everything.refused) == (5, 3)
    assert (v2.n, v2.refused) == (3, 2) and v2.text() == "66.7% (2 of 3 answers)"
    assert (v1.n, v1.refused) == (2, 1)
    assert degraded == {"cached": 1, "static": 1}
    assert nothing.rate is None and nothing.text() == "– (0 of 0 answers)"


def test_only_v2_triggers_the_refusal_effect_and_labels_move_production(tmp_path: Path) -> None:
    root = write_prompts(tmp_path)
    raw = incident_config(tmp_path / "ledger.db", root, 0, 25)
    cfg = validate_config(raw)
    source = PromptSource(cfg.prompts, tmp_path)
    prompts = source.load()
    assert prompts is not None
    assert prompts.labels[PROMPT] == {"production": 1}
    systems = {v: prompts.versions[PROMPT][v].spec.system or "" for v in (1, 2)}
    assert not re.search(EFFECT_WHEN, systems[1])
    assert re.search(EFFECT_WHEN, systems[2])
    set_production(root, 2)
    moved = source.load()
    assert moved is not None and moved.labels[PROMPT] == {"production": 2}
    assert not list(root.glob(".labels*"))  # replaced in one step, nothing left behind
    slo = cfg.slos[0]
    assert slo.sli.type == "refusal" and slo.scope.project == "support"


def test_runbook_helpers_name_the_runbook_and_its_three_checks() -> None:
    assert runbook_name("daytwo runbook show quality-regression") == "quality-regression"
    assert runbook_name("https://wiki.example.com/runbooks/provider-down") == "provider-down"
    assert runbook_name(None) is None
    runbook = load_book().get("quality-regression")
    assert runbook is not None
    lines = checks(runbook)
    assert [line[:3] for line in lines] == ["1. ", "2. ", "3. "]
    assert [cmd.split()[1] for cmd in runbook.checks()] == ["triage", "quality", "drift"]
    assert all(f"`{cmd}`" in line for cmd, line in zip(runbook.checks(), lines, strict=True))


def test_timeline_head_is_the_timeline_table_only() -> None:
    markdown = "\n".join(
        [
            "# Postmortem: x",
            "",
            "## Impact",
            "| | |",
            "## Timeline (UTC, from 2026-01-01 00:00:00)",
            "",
            "| time | source | what | who |",
            "|---|---|---|---|",
            "| 00:01 | audit | prompts reloaded | prompts |",
            "| 00:02 | alert | page fired | critical |",
            "",
            "## Alerts",
            "| alert | severity |",
        ]
    )
    assert timeline_head(markdown) == [
        "| time | source | what | who |",
        "|---|---|---|---|",
        "| 00:01 | audit | prompts reloaded | prompts |",
        "| 00:02 | alert | page fired | critical |",
    ]
    assert timeline_head(markdown, 3)[-1] == "| 00:01 | audit | prompts reloaded | prompts |"
    assert timeline_head("# nothing") == []


def test_tally_counts_degraded_answers_by_how_and_refusals_apart() -> None:
    seen = [
        Seen(1.0, 200),
        Seen(2.0, 200, degraded="cached"),
        Seen(3.0, 200, degraded="static"),
        Seen(4.0, 200, degraded="cached"),
        Seen(5.0, 403, "feature_disabled"),
        Seen(6.0, 0, "ClientConnectorError"),
    ]
    t = tally(seen)
    assert (t.calls, t.answered, t.forbidden, t.failed) == (6, 4, 1, 1)
    assert t.degraded == {"cached": 2, "static": 1} and t.degraded_total == 3
    assert len(set(TOPICS)) == len(TOPICS) >= 150  # enough questions to measure a rate


def _flat(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.integration
def test_demo_incident_plays_one_incident_end_to_end(tmp_path: Path) -> None:
    workdir = tmp_path / "demo"
    result = subprocess.run(
        [
            sys.executable, "-m", "daytwo.cli", "demo", "--incident", "--seconds", "25",
            "--dir", str(workdir),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    out = result.stdout
    flat = _flat(out)
    steps = [int(n) for n in re.findall(r"^\s+[\d.]+s\s+(\d)\. ", out, re.MULTILINE)]
    assert steps == list(range(1, 10)), out

    # 1-3: the baseline, the change, the page and its runbook's first three checks.
    assert "1. baseline: support-reply v1 in production" in flat
    assert "2. the change: labels.yaml moves support-reply production v1 → v2" in flat
    assert "the gateway reloaded it by itself" in flat
    assert "3. alert firing: slo:support-refusals:page" in flat
    assert re.search(r"error budget burn rate [\d.]+x above 2\.0x; runbook: daytwo runbook "
                     r"show quality-regression", flat)  # fmt: skip
    assert "runbook quality-regression: Wrong answers or a quality regression" in flat
    assert re.search(r"1\. `daytwo triage .*2\. `daytwo quality .*3\. `daytwo drift status`", flat)

    # 4: the incident opened over the admin API; triage ranks the prompt change first.
    opened = re.search(r"4\. incident (inc-[\w-]+) opened \(POST /admin/incidents, sev2\)", flat)
    assert opened, out
    incident_id = opened[1]
    assert "#1 prompt support-reply: v1 → v2 (prompt;" in flat, out
    assert re.search(r"why #1: prompt support-reply: v1 → v2 .*refusal failures", flat)

    # 5: degraded mode answers the app: no 403, no failure, and the ledger marks them all.
    assert "5. degraded mode: project=support, workflow=answer (cached)" in flat
    seen = re.search(r"the app sent (\d+) calls: (\d+) answered, (\d+) of them degraded", flat)
    assert seen and int(seen[3]) > 0 and seen[1] == seen[2], out
    assert "0 refused with a 403, 0 failed" in flat
    total = re.search(
        r"degraded mode answered (\d+) calls in all \(x-daytwo-degraded: cached (\d+), static "
        r"(\d+); 0 refused with a 403\); the ledger marks (\d+)",
        flat,
    )
    assert total, out
    degraded, cached, static, marked = (int(g) for g in total.groups())
    assert degraded == cached + static == marked and cached > 0

    # 6: the replay, through the gateway: v1 refuses less than v2 on the same calls.
    replayed = re.search(r"(\d+) of (\d+) captured v2 calls replayed against "
                         r"prompt:support-reply@v1 through the gateway", flat)  # fmt: skip
    assert replayed and int(replayed[1]) > 0, out
    rates = re.search(r"v1 refuses ([\d.]+)% vs v2 ([\d.]+)% on the same calls \(Δ -", flat)
    assert rates and float(rates[1]) < float(rates[2]), out
    assert re.search(r"95 % CI -[\d.]+ to [-+][\d.]+ pts, McNemar p=", flat)

    # 7-8: the rollback, the degraded scope revived, the refusal rate back down.
    assert "7. roll back: labels.yaml moves support-reply production v2 → v1" in flat
    assert "project=support,workflow=answer revived=True" in flat
    recovery = re.search(
        r"refusal rate since the rollback: ([\d.]+)% \(\d+ of \d+ answers\); during the "
        r"incident: ([\d.]+)%",
        flat,
    )
    assert recovery and float(recovery[1]) < float(recovery[2]), out
    resolved = "the refusal page resolved after firing" in flat
    assert resolved or "the refusal page was still firing" in flat

    # 9: the postmortem, written from the admin API, its timeline in the order things happened.
    report_path = workdir / "incident-report.md"
    assert f"9. incident {incident_id} ended; the postmortem: {report_path}" in flat
    report = report_path.read_text(encoding="utf-8")
    assert report.startswith("# Postmortem: Support answers refused after a prompt change")
    timeline = report.split("## Timeline", 1)[1].split("\n## ", 1)[0]
    order = [
        "prompts reloaded (support-reply: production=v2)",
        "slo:support-refusals:page (project=support, slo=support-refusals, workflow=answer) fired",
        f"incident {incident_id} started",
        "note: triage ranks first: prompt support-reply: v1 → v2",
        "degraded mode on: project=support,workflow=answer (cached)",
        "note: replay of",
        "prompts reloaded (support-reply: production=v1)",
        "degraded mode off: project=support,workflow=answer",
        f"incident {incident_id} ended",
    ]
    at = [timeline.find(event) for event in order]
    assert -1 not in at and at == sorted(at), dict(zip(order, at, strict=True))
    if resolved:
        assert "workflow=answer) resolved" in timeline
    assert "| time | source | what | who |" in out

    with sqlite3.connect(workdir / "ledger.db") as conn:
        marked_rows = dict(
            conn.execute(
                "SELECT degraded, COUNT(*) FROM calls WHERE degraded IS NOT NULL"
                " AND project = 'support' AND status = 'ok' AND cost_nanousd = 0"
                " GROUP BY degraded"
            )
        )
        others = conn.execute(
            "SELECT COUNT(*) FROM calls WHERE degraded IS NOT NULL AND project != 'support'"
        ).fetchone()[0]
        versions = dict(
            conn.execute(
                "SELECT prompt_version, COUNT(*) FROM calls WHERE project = 'support'"
                " AND degraded IS NULL GROUP BY prompt_version"
            )
        )
        replay_rows = conn.execute(
            "SELECT COUNT(*), MIN(prompt_version), MAX(prompt_version) FROM calls"
            " WHERE project = 'replay' AND status = 'ok'"
        ).fetchone()
        actions = [
            row[0]
            for row in conn.execute(
                "SELECT action FROM admin_events WHERE action LIKE 'incident.%'"
                " OR action LIKE 'switch.%' ORDER BY id"
            )
        ]
    conn.close()
    assert marked_rows == {"cached": cached, "static": static}
    assert others == 0
    assert versions.keys() == {1, 2} and versions[2] > 0
    assert replay_rows == (int(replayed[1]), 1, 1)
    assert actions == [
        "incident.start",
        "incident.note",
        "switch.degrade",
        "incident.note",
        "switch.revive",
        "incident.end",
    ]
    assert "alert firing: slo:support-refusals:page" in (workdir / "alerts.log").read_text(
        encoding="utf-8"
    )


@pytest.mark.integration
@pytest.mark.parametrize("flags", [["--incident"], []], ids=["incident", "demo"])
def test_a_gateway_that_cannot_start_is_one_line_and_exit_1(
    tmp_path: Path, flags: list[str]
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [
                sys.executable, "-m", "daytwo.cli", "demo", *flags, "--seconds", "5",
                "--dir", str(tmp_path / "demo"), "--port", str(port),
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )  # fmt: skip
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    prefix = " ".join(["daytwo demo", *flags])
    assert last.startswith(f"{prefix}: the gateway did not start on 127.0.0.1:{port}: "), (
        result.stderr
    )
