"""Running suites through a real gateway (embedded from daytwo.yaml, or running) in front of
the in-process simulator: items, attribution in the ledger, the cache, the cost cap, budgets,
errors apart from failures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from tests.evals.harness import Project, basic_suite, eval_project, project_config
from tests.gateway.harness import running_gateway

from daytwo.config.load import load_config
from daytwo.evals.model import RunAborted, RunResult
from daytwo.evals.runner import RunOptions, execute, load_suite
from daytwo.evals.suite import Suite

pytestmark = pytest.mark.integration


def load(project: Project) -> Suite:
    return load_suite(project.suite, load_config(project.config), config_dir=project.root)


def run(project: Project, **options: Any) -> RunResult:
    opts = RunOptions(config=project.config, cache_dir=project.cache_dir, **options)
    return execute(load(project), opts)


def tags(row: dict[str, Any]) -> dict[str, str]:
    parsed: dict[str, str] = orjson.loads(row["tags"])
    return parsed


def test_every_case_under_every_target_and_repeat_lands_in_the_ledger(tmp_path: Path) -> None:
    suite = basic_suite(judge={"model": "judge"})
    suite["tests"][0]["assert"].append({"type": "llm-rubric", "value": "answers the ticket"})
    project = eval_project(tmp_path, suite)
    result = run(project, repeat=2, concurrency=3)

    assert [(i.target, i.case_id, i.repeat) for i in result.items] == [
        (t, c, r)
        for t in ("prompt:support-reply@production", "gpt-4o-mini")
        for c in ("refund", "login")
        for r in (0, 1)
    ]
    assert not any(i.is_error for i in result.items)
    assert all(i.grades[0].passed for i in result.items)  # finish-reason: stop
    prompt_target = result.targets[0]
    assert (prompt_target.model, prompt_target.version) == ("prompt:support-reply@v1", 1)

    rows = project.rows()
    assert len(rows) == result.calls == 8 + 4  # 8 answers, 4 judge verdicts (case "refund")
    assert {(r["project"], r["workflow"], r["session"]) for r in rows} == {
        ("evals", "eval:support", result.run_id)
    }
    assert {tags(r)["run"] for r in rows} == {result.run_id}
    purposes = sorted(tags(r)["purpose"] for r in rows)
    assert purposes == ["answer"] * 8 + ["judge"] * 4
    by_id = {r["id"]: r for r in rows}
    for item in result.items:
        assert item.output is not None and item.output.call_id in by_id
        row = by_id[item.output.call_id]
        assert item.output.cost_usd == pytest.approx(row["cost_nanousd"] / 1e9)
    judge_rows = [r for r in rows if tags(r)["purpose"] == "judge"]
    # the judge's rubric is a versioned prompt, named by the header the client passes on
    assert {(r["prompt_name"], r["prompt_version"]) for r in judge_rows} == {("judge-rubric", 1)}
    assert all(r["prompt_hash"].startswith("sha256:") for r in judge_rows)
    prompt_rows = [r for r in rows if r["prompt_name"] == "support-reply"]
    assert len(prompt_rows) == 4 and {r["prompt_version"] for r in prompt_rows} == {1}
    assert result.spent_usd == pytest.approx(sum(r["cost_nanousd"] for r in rows) / 1e9)

    (saved,) = project.runs()
    assert saved.name == f"{result.run_id}.json"
    assert RunResult.from_json(orjson.loads(saved.read_bytes())) == result


def test_a_rerun_is_answered_from_the_cache_with_no_gateway_call(tmp_path: Path) -> None:
    suite = basic_suite(judge={"model": "judge"})
    suite["tests"][1]["assert"].append({"type": "llm-rubric", "value": "answers the ticket"})
    project = eval_project(tmp_path, suite)
    first = run(project)
    calls = len(project.rows())
    assert calls == first.calls == 6 and first.cache_hits == 0

    again = run(project)
    assert len(project.rows()) == calls  # not one call more
    assert (again.calls, again.cache_hits, again.spent_usd) == (0, 4, 0.0)
    assert [i.output.text for i in again.items if i.output] == [
        i.output.text for i in first.items if i.output
    ]
    assert all(i.output is not None and i.output.cached for i in again.items)

    forced = run(project, use_cache=False)
    assert forced.calls == 6 and forced.cache_hits == 0
    assert len(project.rows()) == calls + 6


def test_a_new_prompt_version_is_not_served_from_the_cache(tmp_path: Path) -> None:
    project = eval_project(tmp_path, basic_suite())
    run(project)
    other = run(project, targets=("prompt:support-reply@staging",))
    assert other.calls == 2 and other.cache_hits == 0
    assert other.targets[0].model == "prompt:support-reply@v2"


def test_a_budget_on_the_project_stops_the_run_and_nothing_is_saved(tmp_path: Path) -> None:
    budget = {
        "name": "evals-daily",
        "scope": {"project": "evals"},
        "window": "day",
        "usd": 0.000001,
        "actions": ["block"],
    }
    cfg = project_config(tmp_path, spend_control={"budgets": [budget]})
    project = eval_project(tmp_path, basic_suite(), config=cfg)
    with pytest.raises(RunAborted) as got:
        run(project)
    assert "budget" in str(got.value) and "project=evals" in str(got.value)
    assert project.runs() == []
    assert {r["status"] for r in project.rows()} == {"rejected"}


def test_the_cost_cap_is_a_gateway_budget_when_embedded(tmp_path: Path) -> None:
    project = eval_project(tmp_path, basic_suite())
    with pytest.raises(RunAborted) as got:
        run(project, max_cost_usd=0.0000001)
    assert str(got.value).startswith("the run's cost cap $0.0000001 is reached after 0 of 4")
    assert project.runs() == []
    rows = project.rows()
    assert rows and {r["status"] for r in rows} == {"rejected"}


def test_a_remote_gateway_stops_before_the_cap_is_passed(tmp_path: Path) -> None:
    project = eval_project(tmp_path, basic_suite())
    with running_gateway(project_config(tmp_path), config_path=project.config) as gw:
        suite = load(project)
        options = RunOptions(
            gateway_url=gw.url,
            cache_dir=project.cache_dir,
            concurrency=1,
            max_cost_usd=0.000001,
        )
        with pytest.raises(RunAborted) as got:
            execute(suite, options)
        assert "cost cap $0.000001 is reached after 1 of 4 items" in str(got.value)
        assert len(gw.records()) == 1
    assert project.runs() == []


def test_a_remote_gateway_that_wants_a_key_stops_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DAYTWO_API_KEY", raising=False)
    project = eval_project(tmp_path, basic_suite())
    cfg = project_config(tmp_path)
    cfg["gateway"] = {"require_keys": True}
    with running_gateway(cfg, config_path=project.config) as gw:
        options = RunOptions(gateway_url=gw.url, cache_dir=project.cache_dir, api_key=None)
        with pytest.raises(RunAborted, match=r"refused the run's credentials \(project evals\)"):
            execute(load(project), options)


def test_a_config_that_requires_keys_gets_a_temporary_key(tmp_path: Path) -> None:
    cfg = project_config(tmp_path)
    cfg["gateway"] = {"require_keys": True}
    project = eval_project(tmp_path, basic_suite(project="support-evals"), config=cfg)
    result = run(project)
    assert not any(i.is_error for i in result.items)
    rows = project.rows()
    assert {r["project"] for r in rows} == {"support-evals"}
    assert all(r["key_id"] for r in rows)


def test_a_call_that_fails_for_good_is_an_error_not_a_failure(tmp_path: Path) -> None:
    cfg = project_config(tmp_path)
    cfg["providers"]["broken"] = {
        "type": "sim",
        "sim": {"faults": {"rate_503": 1.0, "retry_after_s": 0}},
    }
    cfg["models"]["broken"] = {"deployments": [{"provider": "broken", "model": "gpt-4o-mini"}]}
    # One upstream try per gateway call; no breaker opening (its retry-after would be waited).
    cfg["resilience"] = {
        "defaults": {"max_attempts": 1},
        "breaker": {"consecutive_failures": 100, "min_calls": 100},
    }
    suite = basic_suite(targets=["gpt-4o-mini", "broken"])
    project = eval_project(tmp_path, suite, config=cfg)
    result = run(project)
    good, bad = (result.for_target(t) for t in ("gpt-4o-mini", "broken"))
    assert all(i.passed for i in good)
    assert all(i.is_error and i.output is None for i in bad)
    assert all(i.error is not None and "HTTP 503" in i.error for i in bad)
    # each failed item was tried 4 times (the client's retries of a 5xx)
    broken_rows = [r for r in project.rows() if r["alias"] == "broken"]
    assert len(broken_rows) == 2 * 4
    assert result.calls == len(project.rows()) == 2 + 8
