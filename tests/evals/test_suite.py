"""Loading suites: the format (docs/evals.md), datasets, defaultTest, targets resolved against
the prompt directory and the config, and every bad input named by file and key path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.evals.harness import CASES, MESSAGES, Project, basic_suite, eval_project

from daytwo.config.load import load_config
from daytwo.evals.model import SuiteError
from daytwo.evals.runner import load_suite
from daytwo.evals.suite import Suite


def load(project: Project) -> Suite:
    return load_suite(project.suite, load_config(project.config), config_dir=project.root)


def error(project: Project) -> SuiteError:
    with pytest.raises(SuiteError) as got:
        load(project)
    return got.value


def test_targets_resolve_labels_to_versions_and_aliases(tmp_path: Path) -> None:
    project = eval_project(
        tmp_path,
        basic_suite(
            targets=[
                "prompt:support-reply@production",
                "prompt:support-reply@staging",
                "prompt:support-reply",
                "gpt-4o-mini",
                {"id": "mini-cold", "model": "gpt-4o-mini", "params": {"temperature": 0}},
                {
                    "id": "terse",
                    "model": "gpt-4o-mini",
                    "messages": [{"role": "user", "content": "Briefly: {{ topic }}"}],
                },
            ]
        ),
    )
    suite = load(project)
    assert suite.targets == (
        "prompt:support-reply@production",
        "prompt:support-reply@staging",
        "prompt:support-reply",
        "gpt-4o-mini",
        "mini-cold",
        "terse",
    )
    prod, staging, bare = (suite.plans[t].target for t in suite.targets[:3])
    assert (prod.model, prod.version) == ("prompt:support-reply@v1", 1)
    assert (staging.model, staging.version) == ("prompt:support-reply@v2", 2)
    assert bare.model == "prompt:support-reply@v2"  # a bare name is the latest version
    assert prod.identity.startswith("sha256:") and prod.identity != staging.identity
    mini = suite.plans["gpt-4o-mini"].target
    assert mini.identity == "gpt-4o-mini=[sim/gpt-4o-mini]"
    assert suite.plans["mini-cold"].target.params == {"max_tokens": 100, "temperature": 0}
    case = suite.cases[0]
    assert suite.plans["terse"].request(case).body["messages"] == [
        {"role": "user", "content": "Briefly: a refund"}
    ]
    prompt_req = suite.plans["prompt:support-reply@production"].request(case)
    assert prompt_req.body["model"] == "prompt:support-reply@v1"
    assert prompt_req.body["variables"] == case.vars
    assert prompt_req.question == "Ticket from Ann: a refund"


def test_suite_settings_default_test_and_gate(tmp_path: Path) -> None:
    suite_data = basic_suite(
        project="support-evals",
        repeat=3,
        concurrency=4,
        max_cost=0.5,
        judge={"model": "judge", "require_other_family": True},
        embedding_model="text-embedding-3-small",
        defaultTest={
            "vars": {"customer": "Default", "tone": "warm"},
            "assert": [{"type": "icontains", "value": "a"}],
        },
        gate={"min_pass_rate": 0.85, "no_regression": ["pass"], "margin": 0.02},
    )
    suite_data["tests"][0]["assert"].append({"type": "llm-rubric", "value": "helpful"})
    suite = load(eval_project(tmp_path, suite_data))
    assert (suite.project, suite.repeat, suite.concurrency, suite.max_cost_usd) == (
        "support-evals",
        3,
        4,
        0.5,
    )
    assert suite.judge.model == "judge" and suite.judge.require_other_family
    assert suite.judge.embedding_model == "text-embedding-3-small"
    assert suite.gate.min_pass_rate == 0.85 and suite.gate.no_regression == ("pass",)
    first = suite.cases[0]
    assert first.vars["customer"] == "Ann"  # the test's own value wins
    assert first.vars["tone"] == "warm"  # the default fills the rest
    assert [a.type for a in first.assertions] == ["finish-reason", "llm-rubric", "icontains"]
    assert [a.type for a in suite.cases[1].assertions] == ["finish-reason", "icontains"]


def test_datasets_jsonl_csv_and_yaml(tmp_path: Path) -> None:
    data = tmp_path / "evals" / "data"
    data.mkdir(parents=True)
    (data / "rows.jsonl").write_text(
        '{"customer": "Bo", "topic": "billing", "expected": "Go to Billing"}\n'
        "\n"
        '{"vars": {"customer": "Cy", "topic": "export"}, "context": ["Exports are CSV."],'
        ' "assert": [{"type": "contains", "value": "CSV"}]}\n'
    )
    (data / "rows.csv").write_text(
        "customer,topic,expected,context,__expected1,__expected2\n"
        'Di,refunds,Press Refund,"[""Refunds: Orders page"", ""Takes 3 days""]",'
        "icontains: refund,Press Refund\n"
    )
    (data / "rows.yaml").write_text(
        yaml.safe_dump([{"id": "y1", "customer": "Ed", "topic": "sso", "context": "SSO docs"}])
    )
    cases = []
    for name in ("rows.jsonl", "rows.csv", "rows.yaml"):
        project = eval_project(tmp_path, basic_suite(tests=[], dataset=f"data/{name}"))
        cases.extend(load(project).cases)
    bo, cy, di, ed = cases
    assert bo.vars == {"customer": "Bo", "topic": "billing"} and bo.expected == "Go to Billing"
    assert cy.context == ("Exports are CSV.",)
    assert [(a.type, a.value) for a in cy.assertions] == [("contains", "CSV")]
    assert di.context == ("Refunds: Orders page", "Takes 3 days")
    assert di.expected == "Press Refund"
    assert [(a.type, a.value) for a in di.assertions] == [
        ("icontains", "refund"),
        ("equals", "Press Refund"),
    ]
    assert ed.id == "y1" and ed.context == ("SSO docs",)


def test_case_ids_are_stable_hashes_of_vars_and_unique(tmp_path: Path) -> None:
    same = {"vars": CASES[0]["vars"]}
    project = eval_project(tmp_path, basic_suite(tests=[same, same]))
    first, second = load(project).cases
    again = load(project).cases[0]
    assert first.id == again.id and len(first.id) == 12
    assert second.id == f"{first.id}-2"


@pytest.mark.parametrize(
    ("change", "where", "says"),
    [
        (
            lambda s: s["tests"][0]["assert"].append({"type": "contains-everything"}),
            "evals/support.yaml: tests[0].assert[1].type",
            "contains-everything",
        ),
        (
            lambda s: s.update(dataset="data/missing.jsonl"),
            "evals/data/missing.jsonl",
            "not found",
        ),
        (
            lambda s: s["tests"][1]["vars"].update(mood="angry"),
            "evals/support.yaml: tests[1].vars.mood",
            "Unknown variable",
        ),
        (
            lambda s: s["tests"][0]["vars"].pop("customer"),
            "evals/support.yaml: tests[0].vars.customer",
            "Missing required variable",
        ),
        (
            lambda s: s["tests"][1].update(expectd="x"),
            "evals/support.yaml: tests[1].expectd",
            "unknown key",
        ),
        (lambda s: s.update(judges={}), "evals/support.yaml: judges", "unknown key"),
        (
            lambda s: s["targets"].append("gpt-5-turbo"),
            "evals/support.yaml: targets[2]",
            "no model alias `gpt-5-turbo`",
        ),
        (
            lambda s: s["targets"].append("prompt:support-reply@canary"),
            "evals/support.yaml: targets[2]",
            "no label `canary`",
        ),
        (
            lambda s: s["tests"][0]["assert"].append({"type": "llm-rubric", "value": "kind"}),
            "evals/support.yaml: tests[0].assert[1].type",
            "judge.model",
        ),
        (
            lambda s: s.update(messages=[{"role": "user", "content": "{{ question }}"}]),
            "evals/support.yaml: tests[0].vars.question",
            "does not set",
        ),
        (lambda s: s.pop("messages"), "evals/support.yaml: targets[1]", "needs messages"),
        (
            lambda s: s.update(messages=[{"role": "user", "content": "{{ topic"}]),
            "evals/support.yaml: messages[0].content",
            "",
        ),
        (lambda s: s.update(repeat=0), "evals/support.yaml: repeat", "greater than or equal"),
        (
            lambda s: s["tests"][1].update(id="refund"),
            "evals/support.yaml: tests[1].id",
            "also the id of",
        ),
    ],
)
def test_bad_suites_name_file_and_key_path(
    tmp_path: Path, change: Any, where: str, says: str
) -> None:
    suite = basic_suite()
    change(suite)
    exc = error(eval_project(tmp_path, suite))
    assert exc.where.removeprefix(f"{tmp_path}/") == where
    assert says in exc.message


def test_a_dataset_row_is_named_by_its_file_and_index(tmp_path: Path) -> None:
    data = tmp_path / "evals" / "data"
    data.mkdir(parents=True)
    (data / "rows.jsonl").write_text(
        '{"customer": "Bo", "topic": "x"}\n{"customer": "Cy", "topic": "y", "shop": "Acme"}\n'
    )
    exc = error(eval_project(tmp_path, basic_suite(tests=[], dataset="data/rows.jsonl")))
    assert exc.where.removeprefix(f"{tmp_path}/") == "evals/data/rows.jsonl: [1].vars.shop"


def test_model_targets_alone_need_no_prompt_directory(tmp_path: Path) -> None:
    suite_path = tmp_path / "suite.yaml"
    suite_path.write_text(
        yaml.safe_dump({"targets": ["any-alias"], "messages": MESSAGES, "tests": CASES})
    )
    suite = load_suite(suite_path)  # no config: a remote gateway will say what it serves
    assert suite.plans["any-alias"].target.identity == "any-alias"
    assert suite.stem == "suite"


def test_a_target_given_at_run_time_is_checked_against_every_case(tmp_path: Path) -> None:
    suite = load(eval_project(tmp_path, basic_suite()))
    assert suite.plan("prompt:support-reply@staging").target.version == 2
    with pytest.raises(SuiteError) as got:
        suite.plan("prompt:support-reply@canary")
    assert got.value.where == "--target prompt:support-reply@canary"


def test_assertion_values_are_rendered_with_the_cases_vars(tmp_path: Path) -> None:
    suite = basic_suite(
        tests=[
            {
                **c,
                "assert": [
                    {"type": "icontains", "value": "about {{ topic }}"},
                    {"type": "contains-any", "value": ["{{ topic | upper }}", "plain"]},
                ],
            }
            for c in CASES
        ],
        defaultTest={"assert": [{"type": "not-contains", "value": "{{ customer }} is wrong"}]},
    )
    cases = load(eval_project(tmp_path, suite)).cases
    values = [[a.value for a in case.assertions] for case in cases]
    customer = CASES[0]["vars"]["customer"]
    assert values == [
        ["about a refund", ["A REFUND", "plain"], f"{customer} is wrong"],
        ["about a login problem", ["A LOGIN PROBLEM", "plain"], f"{customer} is wrong"],
    ]


def test_an_assertion_template_naming_an_unknown_var_is_one_line_with_its_path(
    tmp_path: Path,
) -> None:
    own = basic_suite()
    own["tests"][1]["assert"] = [{"type": "contains", "value": "{{ nope }}"}]
    got = str(error(eval_project(tmp_path, own)))
    assert got.startswith(f"{tmp_path / 'evals' / 'support.yaml'}: tests[1].assert[0].value:")
    assert "nope" in got and "\n" not in got
    shared = basic_suite(defaultTest={"assert": [{"type": "contains", "value": "{{ nope }}"}]})
    got = str(error(eval_project(tmp_path, shared)))
    assert ": defaultTest.assert[0].value: template (for tests[0]):" in got and "nope" in got
