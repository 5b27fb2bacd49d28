"""`daytwo demo --rollouts` ships a cheaper model from shadow to full and rolls back a prompt
version that refuses at its first canary step -- both by the rollout controller, on a real
gateway, its SQLite ledger and the simulator.

The pieces are tested on their own (the ledger reads over a real SQLite ledger, the audit
entries a real rollout store chained, the config and rollouts.yaml as the gateway reads them,
the narrative's helpers); the subprocess run checks the whole story shows, with the ledger,
the alert log and the audit trail agreeing with what it printed."""

from __future__ import annotations

import os
import re
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from tests.cli.records import call_record
from tests.rollout.harness import make_rollout

from daytwo.cli.demo import demo
from daytwo.config.load import validate_config
from daytwo.demo.incident_config import PROMPT, write_prompts
from daytwo.demo.rollouts_config import (
    ALIAS_STAGES,
    PROMPT_CRITERIA,
    PROMPT_STAGES,
    SINK,
    rollouts_config,
    stage_s,
    write_policy,
)
from daytwo.demo.rollouts_ledger import (
    arms,
    cost,
    experiment_spend,
    rollout_entries,
    rows_of,
    served,
)
from daytwo.demo.rollouts_render import change_title, decisive, served_lines, stages_reached, usd
from daytwo.demo.rollouts_traffic import TICKETS, Seen, failures
from daytwo.ledger.store import open_store
from daytwo.rollout.gitops import Policy, read_policies
from daytwo.rollout.model import parse_stages
from daytwo.rollout.steer import steer
from daytwo.rollout.store import RolloutStore

NOW = 10_000.0


def test_ledger_reads_cost_arms_experiment_spend_and_what_served_a_prompt(
    tmp_path: Path,
) -> None:
    triage = {"project": "helpdesk", "workflow": "triage"}
    records = [
        # before the rollout: gpt-4o
        call_record(1, NOW + 1, deployment="sim/gpt-4o", cost_nanousd=500_000, **triage),
        call_record(2, NOW + 2, deployment="sim/gpt-4o", cost_nanousd=700_000, **triage),
        call_record(3, NOW + 3, deployment="sim/gpt-4o", status="error", cost_nanousd=0,
                    **triage),  # not answered: no cost per call
        call_record(4, NOW + 4, deployment="sim/gpt-4o", cost_nanousd=None, **triage),
        # the rollout's arms
        call_record(5, NOW + 11, deployment="sim/gpt-4o", cost_nanousd=600_000,
                    rollout_id="ro_a", rollout_arm="control", **triage),
        call_record(6, NOW + 12, deployment="sim/gpt-4o-mini", cost_nanousd=40_000,
                    rollout_id="ro_a", rollout_arm="candidate", **triage),
        call_record(7, NOW + 12, deployment="sim/gpt-4o-mini", cost_nanousd=30_000,
                    rollout_id="ro_a", rollout_arm="shadow", project="experiment",
                    workflow="triage"),
        call_record(8, NOW + 13, deployment="sim/gpt-4o-mini", cost_nanousd=20_000,
                    rollout_id="ro_a", rollout_arm="shadow", project="experiment",
                    workflow="triage"),
        call_record(9, NOW + 1, project="search"),  # another project
        # the support prompt around a rollback at NOW + 20
        call_record(10, NOW + 19, project="support", prompt_name=PROMPT, prompt_version=2,
                    rollout_id="ro_b", rollout_arm="candidate"),
        call_record(11, NOW + 21, project="support", prompt_name=PROMPT, prompt_version=1,
                    rollout_id="ro_b", rollout_arm="control"),
        call_record(12, NOW + 22, project="support", prompt_name=PROMPT, prompt_version=1,
                    rollout_id="ro_b", rollout_arm="control"),
        call_record(13, NOW + 22, project="support", prompt_name="other", prompt_version=1),
    ]  # fmt: skip
    store = open_store(f"sqlite:///{tmp_path / 'ledger.db'}")
    try:
        store.insert_batch(records)
        before = cost(store, NOW, NOW + 10, project="helpdesk", workflow="triage")
        after = cost(store, NOW + 10, NOW + 20, project="helpdesk", workflow="triage")
        everything = cost(store, NOW, NOW + 30, project="helpdesk")
        shadow = experiment_spend(store, "ro_a")
        per_arm = arms(store, "ro_a")
        since = served(store, PROMPT, NOW + 20, NOW + 30)
        around = served(store, PROMPT, NOW, NOW + 30)
        held = rows_of(store, ("helpdesk", "support"))
        nothing = cost(store, NOW + 100, NOW + 200, project="helpdesk")
    finally:
        store.close()
    assert (before.calls, before.nanousd, before.deployments) == (2, 1_200_000, ("sim/gpt-4o",))
    assert before.per_call_usd == pytest.approx(0.0006)
    assert after.deployments == ("sim/gpt-4o", "sim/gpt-4o-mini") and after.calls == 2
    assert everything.calls == 4  # answered and priced, every workflow of the project
    assert (shadow.calls, shadow.nanousd) == (2, 50_000)
    assert per_arm == {"control": 1, "candidate": 1, "shadow": 2}
    assert since == {("control", 1): 2}
    assert around == {("control", 1): 2, ("candidate", 2): 1}
    assert held == 10
    assert nothing.calls == 0 and nothing.per_call_usd is None


def test_rollout_entries_are_the_chained_rollout_events_with_status_and_why(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    open_store(url).close()  # the ledger's schema
    rollouts = RolloutStore.open(url)
    try:
        r = rollouts.create(
            make_rollout("prompt", "support-reply@production", "1", "2", PROMPT_STAGES), "prompts"
        )
        back, action = steer(r, "rollback", NOW, "refusals: worse")
        assert rollouts.move(r, back, "rollout-controller", action)
        assert rollouts.retire(back, "prompts", "labels.yaml says v1 now")
    finally:
        rollouts.close()
    store = open_store(url, create=False)
    try:
        entries = rollout_entries(store)
    finally:
        store.close()
    assert [(e.kind, e.actor, e.status, e.stage) for e in entries] == [
        ("rollout.start", "prompts", "running", "canary 25%"),
        ("rollout.rollback", "rollout-controller", "rolled_back", "canary 25%"),
        ("rollout.retire", "prompts", "rolled_back", "canary 25%"),
    ]
    assert {e.subject for e in entries} == {r.id}
    assert entries[1].why == "refusals: worse" and entries[2].why == "labels.yaml says v1 now"
    assert [e.seq for e in entries] == sorted(e.seq for e in entries)


def test_the_gateway_reads_the_config_and_the_policy_the_demo_writes(tmp_path: Path) -> None:
    root = write_prompts(tmp_path)
    write_policy(root)
    policies, problems = read_policies(root)
    assert problems == []
    assert policies == {
        (PROMPT, "production"): Policy(
            parse_stages(PROMPT_STAGES), "session", False, dict(PROMPT_CRITERIA)
        )
    }
    cfg = validate_config(rollouts_config(tmp_path / "ledger.db", root, 0, 30))
    assert cfg.rollouts.sinks == (SINK,) and SINK in cfg.alerts.sinks
    assert cfg.rollouts.criteria.min_duration_s == stage_s(30) == 3.0
    assert stage_s(10) == 2.0  # never shorter than two seconds
    assert {"smart", "cheap"} <= set(cfg.models)
    assert [str(s) for s in parse_stages(ALIAS_STAGES)] == ["shadow 50%", "canary 25%", "full"]


def _event(action: str, **after: object) -> dict[str, object]:
    base = {"kind": "alias", "target": "smart", "control": "smart", "candidate": "cheap"}
    return {"id": 1, "action": action, "at": NOW, "after": {**base, **after}}


def test_the_narrative_names_each_change_and_the_deciding_evidence() -> None:
    assert (
        change_title(_event("rollout.advance", reason="shadow 50% passed", stage="canary 25%"))
        == "alias smart: smart → cheap: shadow 50% passed → canary 25%"
    )
    assert change_title(_event("rollout.complete", reason="full passed")).endswith(
        "full passed → completed on the candidate"
    )
    prompt = {"kind": "prompt", "target": "support-reply@production", "control": "1",
              "candidate": "2"}  # fmt: skip
    rollback = {"id": 2, "action": "rollout.rollback", "at": NOW,
                "after": {**prompt, "reason": "canary 25% failed: refusals"}}  # fmt: skip
    assert change_title(rollback) == (
        "support-reply@production: v1 → v2: canary 25% failed: refusals → rolled back to the "
        "control"
    )
    evidence = [
        "canary 25%: 30 candidate and 90 control calls",
        "errors 0.0% → 0.0% (...): not worse",
        "refusals 2.0% → 50.0% (...): worse",
        "cost per call $0.0005 → $0.0004 (...): not worse",
    ]
    stages = [{"name": "canary 25%", "state": "stopped"}, {"name": "full", "state": "next"}]
    back = {**prompt, "status": "rolled_back", "evidence": evidence, "stages": stages}
    assert decisive(back) == ["refusals 2.0% → 50.0% (...): worse"]
    assert stages_reached(back) == "canary 25% ✗, full ·"
    done = {**back, "status": "completed", "evidence": evidence[:2] + evidence[3:]}
    assert decisive(done) == ["cost per call $0.0005 → $0.0004 (...): not worse"]
    assert served_lines({("control", 1): 12}, "since") == [
        "since: 12 support calls (v1 on arm control: 12)"
    ]
    assert [usd(x) for x in (None, 0.0, 0.000651234, 0.0412, 2.5)] == [
        "–", "$0", "$0.000651", "$0.0412", "$2.50"
    ]  # fmt: skip


def test_failures_count_what_the_apps_were_not_answered() -> None:
    seen = [Seen(1.0, 200), Seen(2.0, 502, "upstream_error"), Seen(3.0, 0, "ClientOSError")]
    assert failures(seen) == {"0 ClientOSError": 1, "502 upstream_error": 1}
    assert failures(seen[:1]) == {}
    assert len(set(TICKETS)) == len(TICKETS) >= 150  # enough questions to measure a rate


def test_incident_and_rollouts_are_two_demos() -> None:
    result = CliRunner().invoke(demo, ["--incident", "--rollouts"])
    assert result.exit_code == 2
    assert result.output.strip() == (
        "daytwo demo: --incident and --rollouts are two demos: choose one"
    )


def _flat(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.integration
def test_demo_rollouts_ships_a_cheaper_model_and_rolls_back_a_bad_prompt(
    tmp_path: Path,
) -> None:
    workdir = tmp_path / "demo"
    result = subprocess.run(
        [
            sys.executable, "-m", "daytwo.cli", "demo", "--rollouts", "--seconds", "30",
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
    steps = [int(n) for n in re.findall(r"^\s+[\d.]+s\s+(\d+)\. ", out, re.MULTILINE)]
    assert steps == list(range(1, 14)), out

    # 1-2: the baseline, the alias rollout started over the admin API.
    assert "1. baseline" in flat
    assert re.search(r"triage \(helpdesk/triage\) on alias smart: \d+ calls, \$[\d.]+ per call "
                     r"\(sim/gpt-4o\)", flat), out  # fmt: skip
    started = re.search(
        r"2\. the operator starts an alias rollout: POST /admin/rollouts \(token "
        r"release-manager\) (ro_[0-9a-f]+): alias smart: smart → cheap \(shadow 50% → "
        r"canary 25% → full\), sticky by session",
        flat,
    )
    assert started, out
    alias_id = started[1]

    # 3-5: every stage change the controller made, with its evidence, until completed.
    assert "3. alias smart: smart → cheap: shadow 50% passed → canary 25%" in flat
    assert re.search(r"shadow 50%: \d+ candidate and \d+ control calls", flat)
    assert "4. alias smart: smart → cheap: canary 25% passed → full" in flat
    assert "5. alias smart: smart → cheap: full passed → completed on the candidate" in flat
    cost_lines = re.findall(r"cost per call \$[\d.]+ → \$[\d.]+ \(×0\.\d\d, 95% CI "
                            r"×[\d.]+–×([\d.]+), limit ×0\.50\): not worse", flat)  # fmt: skip
    assert len(cost_lines) >= 3 and all(float(high) <= 0.5 for high in cost_lines), out

    # 6: the bill, from the ledger.
    bill = re.search(
        r"6\. the bill, from the ledger cost per call of the triage workflow: \$([\d.]+) before "
        r"the rollout \((\d+) calls on sim/gpt-4o\) → \$([\d.]+) since it completed \((\d+) "
        r"calls on sim/gpt-4o-mini\): ×([\d.]+)",
        flat,
    )
    assert bill, out
    assert float(bill[3]) < float(bill[1]) / 5 and int(bill[4]) >= 20
    mirrored = re.search(r"shadow 50%: (\d+) mirrored calls billed to project experiment", flat)
    assert mirrored and int(mirrored[1]) > 0, out

    # 7-12: GitOps starts the prompt rollout; the controller rolls it back on refusals.
    assert (
        "7. GitOps: a pull request adds rollouts.yaml and moves support-reply@production to v2"
        in flat
    )
    assert "rollouts.yaml: support-reply.production: stages canary:25%,50%,100%" in flat
    gitops = re.search(r"8\. the gateway started (ro_[0-9a-f]+) itself", flat)
    assert gitops, out
    prompt_id = gitops[1]
    assert "started by prompts: labels.yaml moved support-reply@production from v1 to v2" in flat
    assert ("9. support-reply@production: v1 → v2: canary 25% failed: refusals → rolled back to "
            "the control") in flat  # fmt: skip
    refusals = re.search(
        r"refusals [\d.]+% → [\d.]+% \(\+[\d.]+ pt, 95% CI \+([\d.]+)–\+[\d.]+, margin 5\.0 pt\): "
        r"worse",
        flat,
    )
    assert refusals and float(refusals[1]) > 5.0, out
    assert (f"10. notification rollout_rollback (warning) rollout_rollback (kind=prompt, "
            f"rollout={prompt_id}, target=support-reply@production): support-reply@v2 rolled "
            f"back to support-reply@v1 at canary 25%: refusals") in flat  # fmt: skip
    assert "delivered to sink log (alerts.log) on attempt 1" in flat
    back = re.search(r"11\. back on v1 since the rollback: (\d+) support calls \(v1 on arm "
                     r"control: (\d+)\)", flat)  # fmt: skip
    assert back and back[1] == back[2] and int(back[1]) >= 20, out
    assert "status note: labels.yaml says v2; rolled back to v1: revert the label" in flat
    assert (f"the gateway retired {prompt_id} (rollout.retire by prompts: labels.yaml says v1 "
            "now)") in flat  # fmt: skip

    # 13: the summary; no client errors; the audit trail verified.
    assert "13. summary" in flat
    assert "shadow 50% ✓, canary 25% ✓, full ✓" in flat
    assert "canary 25% ✗, canary 50% ·, full ·" in flat
    assert len(re.findall(r"the (?:triage|support) app: [\d,]+ calls in [\d,]+ sessions, no client "
                          r"errors", flat)) == 2, out  # fmt: skip
    assert "signed and verified" in flat

    with sqlite3.connect(workdir / "ledger.db") as conn:
        status = dict(conn.execute("SELECT id, status || '/' || retired FROM rollouts"))
        per_arm = {
            (rid, arm): (n, projects, versions)
            for rid, arm, n, projects, versions in conn.execute(
                "SELECT rollout_id, rollout_arm, COUNT(*), GROUP_CONCAT(DISTINCT project),"
                " GROUP_CONCAT(DISTINCT prompt_version) FROM calls"
                " WHERE rollout_id IS NOT NULL GROUP BY rollout_id, rollout_arm"
            )
        }
        actions = [
            (target, action, actor)
            for target, action, actor in conn.execute(
                "SELECT target, action, actor FROM admin_events WHERE action LIKE 'rollout.%'"
                " ORDER BY id"
            )
        ]
        chained = conn.execute(
            "SELECT COUNT(*) FROM audit_entries WHERE stream = 'control' AND kind LIKE 'rollout.%'"
        ).fetchone()[0]
        failed = conn.execute(
            "SELECT COUNT(*) FROM calls WHERE status != 'ok' AND project != 'experiment'"
        ).fetchone()[0]
    conn.close()
    assert status == {alias_id: "completed/0", prompt_id: "rolled_back/1"}
    # the alias rollout: every arm served, the mirrored calls billed to experiment
    assert {arm for rid, arm in per_arm if rid == alias_id} == {"control", "candidate", "shadow"}
    assert per_arm[(alias_id, "shadow")][1] == "experiment"
    assert per_arm[(alias_id, "control")][1] == per_arm[(alias_id, "candidate")][1] == "helpdesk"
    assert f"candidate {per_arm[(alias_id, 'candidate')][0]:,}" in out
    # the prompt rollout: v2 on the candidate arm only, v1 on the control
    assert per_arm[(prompt_id, "candidate")][2] == "2"
    assert per_arm[(prompt_id, "control")][2] == "1"
    assert f"control {per_arm[(prompt_id, 'control')][0]:,}" in out
    assert failed == 0
    assert actions == [
        (alias_id, "rollout.start", actions[0][2]),
        (alias_id, "rollout.advance", "rollout-controller"),
        (alias_id, "rollout.advance", "rollout-controller"),
        (alias_id, "rollout.complete", "rollout-controller"),
        (prompt_id, "rollout.start", "prompts"),
        (prompt_id, "rollout.rollback", "rollout-controller"),
        (prompt_id, "rollout.retire", "prompts"),
    ]
    assert actions[0][2].endswith("(release-manager)")
    assert chained == len(actions)
    assert f"rollout_rollback (kind=prompt, rollout={prompt_id}" in (
        workdir / "alerts.log"
    ).read_text(encoding="utf-8")
    verified = subprocess.run(
        [sys.executable, "-m", "daytwo.cli", "audit", "verify", "--config",
         str(workdir / "daytwo.yaml")],
        capture_output=True,
        text=True,
        timeout=60,
    )  # fmt: skip
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "verified" in verified.stdout


@pytest.mark.integration
def test_a_gateway_that_cannot_start_is_one_line_and_exit_1(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [
                sys.executable, "-m", "daytwo.cli", "demo", "--rollouts", "--seconds", "5",
                "--dir", str(tmp_path / "demo"), "--port", str(port),
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )  # fmt: skip
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(
        f"daytwo demo --rollouts: the gateway did not start on 127.0.0.1:{port}: "
    ), result.stderr
