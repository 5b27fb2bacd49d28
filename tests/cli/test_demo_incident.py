"""`daytwo demo --incident` plays one AI incident end to end: a prompt change that makes the
model refuse, the SLO page and its runbook, an incident opened over the admin API, triage
ranking the prompt first, degraded mode answering the app, a replay showing v1 refusing less,
the rollback, the recovery and the postmortem -- every step on a real gateway, its SQLite
ledger and the simulator.

The pieces are tested on their own (the ledger reads over a real SQLite ledger, the config
and prompts as the gateway loads them, the narrative's helpers); the subprocess run checks the
whole story shows, with the ledger and the report agreeing with what it printed."""

from __future__ import annotations

import re
from pathlib import Path

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
