"""``daytwo replay`` through the simulator over real HTTP: production calls of a prompt v2 that
answers worse, captured by the audit trail, replayed against v1 / another model / an older
config checkpoint; the report's sign and intervals, the replay's own rows in the ledger under
its own budget, the cost cap, the refusal when nothing was captured, the saved dataset."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
import yaml
from tests.incidents.replay_harness import (
    TOPICS,
    ledger_rows,
    production,
    project_config,
    replay,
    replay_json,
    write_config,
)

from daytwo.evals.dataset import read_rows
from daytwo.evals.runner import load_suite

pytestmark = pytest.mark.integration


def _rate(report: dict[str, object], name: str) -> dict[str, float]:
    rates = report["rates"]
    assert isinstance(rates, list)
    (row,) = [r for r in rates if r["name"] == name]
    return dict(row)


def test_prompt_v2_replayed_against_v1_is_judged_better_with_a_ci_and_fewer_refusals(
    tmp_path: Path,
) -> None:
    incident = production(tmp_path, project_config(tmp_path, capture="redacted"))
    originals = incident.rows("SELECT * FROM calls WHERE project = 'support'")
    assert {r["prompt_version"] for r in originals} == {2}
    assert len(originals) == len(TOPICS)

    dataset = tmp_path / "regressions.jsonl"
    report = replay_json(
        "--config",
        str(incident.config),
        "--since",
        "1h",
        "--workflow",
        "tickets",
        "--against",
        "prompt:support-reply@v1",
        "--judge",
        "judge",
        "--save-dataset",
        str(dataset),
    )
    assert report["replayed"] == len(TOPICS) == report["selected"]
    assert report["skipped"] == {} and report["failed"] == {}
    assert report["redacted"] == len(TOPICS)
    refusal = _rate(report, "refusal")
    # v2 refuses on a good share of tickets, v1 on none: the difference is negative, its
    # interval excludes zero, and McNemar's test is decisive.
    assert refusal["original"] > 0.3 and refusal["replay"] == 0.0
    assert refusal["ci_high"] < 0 and refusal["p_value"] < 0.001
    judge = report["judge"]
    better = round(refusal["original"] * len(TOPICS))
    # every refusal replaced by an answer is a win for v1; identical answers are ties
    assert judge["better"] == better and judge["worse"] == 0
    assert judge["ties"] == len(TOPICS) - better
    assert 0 < judge["ci_low"] < judge["share_better"] < judge["ci_high"] < 1
    assert judge["p_value"] < 0.001

    # The text report says it the way a responder reads it.
    text = replay(
        "--config", str(incident.config), "--against", "prompt:support-reply@v1", "--judge", "judge"
    )
    assert text.exit_code == 0, text.output
    share = round(100 * judge["share_better"])
    assert f"answers are judged better on {share} % of {len(TOPICS)} calls (CI " in text.stdout
    assert "refusal: " in text.stdout and "McNemar p=" in text.stdout

    # The replay's calls are in the ledger, attributed to the replay, rendered from v1.
    run_id = report["run_id"]
    rows = incident.rows("SELECT * FROM calls WHERE session = ?", run_id)
    answers = [r for r in rows if orjson.loads(r["tags"]).get("purpose") == "answer"]
    judges = [r for r in rows if orjson.loads(r["tags"]).get("purpose") == "judge"]
    assert len(answers) == len(TOPICS) and len(judges) == 2 * len(TOPICS)
    assert {(r["project"], r["workflow"]) for r in rows} == {("replay", "replay")}
    assert {orjson.loads(r["tags"])["run"] for r in rows} == {run_id}
    assert {(r["prompt_name"], r["prompt_version"]) for r in answers} == {("support-reply", 1)}
    replayed_ids = {p["replay_call_id"] for p in report["pairs"]}
    assert replayed_ids == {r["id"] for r in answers}
    assert {p["call_id"] for p in report["pairs"]} == set(incident.call_ids)

    # The saved sample is an eval dataset: it loads, and a suite of v1 accepts its variables.
    rows_read = read_rows(dataset, "regressions.jsonl")
    assert len(rows_read) == len(TOPICS)
    assert {r["vars"]["topic"] for _, r in rows_read} == set(TOPICS)
    preferred = [r for _, r in rows_read if "expected" in r]
    assert len(preferred) == better  # the judge's preference is the expected answer
    suite = tmp_path / "evals" / "regressions.yaml"
    suite.parent.mkdir()
    suite.write_text(
        yaml.safe_dump(
            {
                "targets": ["prompt:support-reply@v1"],
                "dataset": "../regressions.jsonl",
                "defaultTest": {"assert": [{"type": "not-is-refusal"}]},
            }
        )
    )
    from daytwo.config.load import load_config

    loaded = load_suite(suite, load_config(incident.config), config_dir=tmp_path)
    assert len(loaded.cases) == len(TOPICS)


@pytest.mark.parametrize("db", ["sqlite", "postgresql"])
def test_model_replay_shows_the_other_model_refusing_less(
    tmp_path: Path, db: str, request: pytest.FixtureRequest
) -> None:
    cfg = project_config(tmp_path, capture="full")
    if db == "postgresql":
        cfg["ledger"]["url"] = request.getfixturevalue("pg_url")
    incident = production(tmp_path, cfg, model="assistant", topics=TOPICS[:24])
    report = replay_json(
        "--config", str(incident.config), "--model", "steady", "--project", "support"
    )
    assert report["replayed"] == 24 and report["redacted"] == 0
    refusal = _rate(report, "refusal")
    assert refusal["original"] > 0.3 and refusal["replay"] == 0.0
    b, c = refusal["discordant"]
    assert b == round(refusal["original"] * 24) and c == 0
    assert refusal["ci_high"] < 0
    assert report["judge"] is None
    rows = ledger_rows(
        cfg["ledger"]["url"] if db == "postgresql" else f"sqlite:///{incident.ledger}",
        "SELECT alias, project FROM calls WHERE session = :session",
        session=report["run_id"],
    )
    assert len(rows) == 24 and {(r["alias"], r["project"]) for r in rows} == {("steady", "replay")}


def test_sample_is_deterministic_and_a_checkpoint_replays_the_alias_as_it_was(
    tmp_path: Path,
) -> None:
    # Yesterday's config served the alias from gpt-4o; today's from flaky, which refuses.
    before = production(
        tmp_path, project_config(tmp_path, capture="full", assistant="gpt-4o"), topics=[]
    )
    incident = production(
        tmp_path, project_config(tmp_path, capture="full"), model="assistant", topics=TOPICS
    )
    assert before.config_hash != incident.config_hash
    args = [
        "--config",
        str(incident.config),
        "--config-checkpoint",
        before.config_hash,
        "--sample",
        "12",
    ]
    first, second = replay_json(*args), replay_json(*args)
    ids = {p["call_id"] for p in first["pairs"]}
    assert len(ids) == 12 and ids == {p["call_id"] for p in second["pairs"]}
    refusal = _rate(first, "refusal")
    assert refusal["replay"] == 0.0 and refusal["original"] > 0.0
    aliases = {
        r["alias"]
        for r in incident.rows("SELECT alias FROM calls WHERE session = ?", first["run_id"])
    }
    assert aliases == {f"replay@{before.config_hash}:assistant"}

    unknown = replay("--config", str(incident.config), "--config-checkpoint", "abcdef012345")
    assert unknown.exit_code == 1
    assert "no config checkpoint abcdef012345 in the audit trail" in unknown.stderr


def test_max_cost_stops_the_replay_and_reports_the_pairs_done(tmp_path: Path) -> None:
    incident = production(tmp_path, project_config(tmp_path, capture="full"))
    full = replay_json(
        "--config", str(incident.config), "--against", "prompt:support-reply@v1", "-j", "1"
    )
    # Half of what the whole replay cost, plus room for one call's reservation (the gateway
    # reserves a call's worst case: its max_tokens): the cap is met part way through.
    cap = full["spent_usd"] / 2 + 0.0002
    report = replay_json(
        "--config",
        str(incident.config),
        "--against",
        "prompt:support-reply@v1",
        "--max-cost",
        f"{cap:.9f}",
        "-j",
        "1",
    )
    assert report["stopped"] is not None and "--max-cost" in report["stopped"]
    assert 0 < report["replayed"] < len(TOPICS)
    assert report["spent_usd"] <= cap
    spent = incident.rows(
        "SELECT sum(cost_nanousd) AS n FROM calls WHERE session = ?", report["run_id"]
    )[0]["n"]
    assert spent / 1e9 <= cap
    assert _rate(report, "refusal")["n"] == report["replayed"]


def test_refuses_when_nothing_was_captured_and_names_the_project(tmp_path: Path) -> None:
    incident = production(tmp_path, project_config(tmp_path, capture="metadata"), topics=TOPICS[:5])
    got = replay("--config", str(incident.config), "--model", "steady")
    assert got.exit_code == 1
    assert got.stderr.strip() == (
        "daytwo replay: 5 calls in the window, none with captured content: set audit.capture "
        "(redacted or full) for project support"
    )
    assert "Traceback" not in got.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "give exactly one of --against, --model, --config-checkpoint"),
        (("--model", "a", "--against", "prompt:x@v1"), "give exactly one of"),
        (("--against", "prompt:x@production"), "--against: expected prompt:NAME@vN"),
        (("--model", "a", "--since", "soon"), "--since:"),
        (("--model", "a", "--save-dataset", "x.csv"), "the dataset is a .jsonl file"),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    path = write_config(tmp_path, project_config(tmp_path))
    got = replay("--config", str(path), *args)
    assert got.exit_code == 2, got.output
    assert len(got.stderr.strip().splitlines()) == 1
    assert got.stderr.startswith("daytwo replay: ") and message in got.stderr
