"""``daytwo prompts``: check for CI (published versions held by git and by the lock file; the
pull-request summary's cost estimate from a real ledger), list/show/diff/render, stats."""

from __future__ import annotations

import json
import math
import subprocess
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result
from tests.cli.records import call_record
from tests.prompts.files import (
    SUPPORT_V1,
    SUPPORT_V2,
    prompt_dir,
    support_prompts,
    write_labels,
    write_version,
)

from daytwo.cli.main import cli
from daytwo.ledger.store import open_store

INPUT_PRICE = Decimal("2.50")  # USD per 1M input tokens, a config override


def run(*args: str, cwd: Path | None = None) -> Result:
    return CliRunner().invoke(cli, ["prompts", *args], catch_exceptions=False)


def git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=repo,
        check=True,
        capture_output=True,
    )


def write_config(tmp_path: Path, ledger: Path, prompts: Path) -> Path:
    cfg = {
        "providers": {"sim": {"type": "sim"}},
        "models": {"gpt-4o-mini": {"deployments": [{"provider": "sim", "model": "gpt-4o-mini"}]}},
        "pricing": {
            "overrides": [
                {
                    "model": "gpt-4o-mini",
                    "input_per_mtok": str(INPUT_PRICE),
                    "output_per_mtok": "10",
                }
            ]
        },
        "ledger": {"url": f"sqlite:///{ledger}"},
        "prompts": {"dir": str(prompts)},
    }
    path = tmp_path / "daytwo.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git repository whose main branch published support-reply v1."""
    repo = tmp_path / "repo"
    prompt_dir(repo / "prompts", SUPPORT_V1, labels={"support-reply": {"production": 1}})
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "v1")
    git(repo, "checkout", "-q", "-b", "change")
    return repo


def test_check_refuses_an_edit_to_a_version_published_on_the_base(repo: Path) -> None:
    root = repo / "prompts"
    write_version(
        root, {**SUPPORT_V1, "system": "You are a support agent. {{ product }} {{ tone }}"}
    )
    result = run("check", "--base", "main", "--dir", str(root))
    assert result.exit_code == 1
    assert (
        "prompts/support-reply/v1.yaml: support-reply@v1 is published (on main) and was edited; "
        "versions never change: add v2 instead"
    ) in result.stderr
    # the same change as a new version passes
    write_version(root, SUPPORT_V1)
    write_version(root, SUPPORT_V2)
    result = run("check", "--base", "main", "--dir", str(root))
    assert result.exit_code == 0, result.stderr
    assert "(2 versions, 1 new, 0 labels moved)" in result.stdout


def test_metadata_and_formatting_are_not_edits(repo: Path) -> None:
    path = repo / "prompts" / "support-reply" / "v1.yaml"
    spec = {**SUPPORT_V1, "metadata": {"owner": "new-team"}}
    path.write_text("# reformatted\n" + yaml.safe_dump(spec, default_flow_style=True))
    assert run("check", "--base", "main", "--dir", str(repo / "prompts")).exit_code == 0


def test_the_lock_file_holds_versions_without_git(tmp_path: Path) -> None:
    root = prompt_dir(tmp_path / "prompts", SUPPORT_V1, labels={})
    locked = run("lock", "--dir", str(root))
    assert locked.exit_code == 0 and "1 versions locked" in locked.stdout
    assert (root / "prompts.lock").read_text().count("support-reply@v1: sha256:") == 1
    write_version(root, {**SUPPORT_V1, "temperature": 0.9})
    result = run("check", "--dir", str(root))
    assert result.exit_code == 1
    assert "support-reply@v1 is published (prompts.lock) and was edited" in result.stderr


def test_check_names_schema_template_alias_and_variable_problems(tmp_path: Path) -> None:
    root = tmp_path / "prompts"
    write_version(root, {**SUPPORT_V1, "model": "no-such-alias"})
    write_version(
        root,
        {**SUPPORT_V1, "name": "other", "variables": {**SUPPORT_V1["variables"], "spare": {}}},
    )
    config = write_config(tmp_path, tmp_path / "none.db", root)
    result = run("check", "--config", str(config))
    assert result.exit_code == 1
    err = result.stderr
    assert "support-reply/v1.yaml: model: `no-such-alias` is not a model alias" in err
    assert "other/v1.yaml: variables.spare: declared but no template uses it" in err
    write_version(root, {**SUPPORT_V1, "system": "{{ x.__class__ }}"})
    result = run("check", "--config", str(config))
    assert result.exit_code == 1 and "names starting with `_` are refused" in result.stderr


def test_check_names_a_deployment_without_a_known_price(tmp_path: Path) -> None:
    root = tmp_path / "prompts"
    write_version(root, SUPPORT_V1)
    config = write_config(tmp_path, tmp_path / "none.db", root)
    assert run("check", "--config", str(config)).exit_code == 0  # priced by the override
    cfg = yaml.safe_load(config.read_text())
    cfg["models"]["gpt-4o-mini"]["deployments"].append(
        {"provider": "sim", "model": "house-model-7b"}  # in no catalog, no override
    )
    config.write_text(yaml.safe_dump(cfg))
    result = run("check", "--config", str(config))
    assert result.exit_code == 1
    assert (
        "support-reply/v1.yaml: model: `gpt-4o-mini` deployment sim/house-model-7b "
        "has no known price"
    ) in result.stderr


def test_summary_estimates_the_cost_at_last_weeks_traffic(repo: Path, tmp_path: Path) -> None:
    root = repo / "prompts"
    write_version(root, SUPPORT_V2)
    db = tmp_path / "ledger.db"
    now = time.time()
    week = 7 * 86_400
    seeded = 1_830
    with open_store(f"sqlite:///{db}") as store:
        rows = [
            call_record(i, now - week + 60 + i * 300, prompt_name="support-reply", prompt_version=1)
            for i in range(seeded)
        ]
        rows += [  # not counted: older than the week, or another prompt
            call_record(10_000 + i, now - week - 3_600, prompt_name="support-reply")
            for i in range(5)
        ]
        rows += [call_record(20_000, now - 60, prompt_name="other", prompt_version=1)]
        store.insert_batch(rows)
    config = write_config(tmp_path, db, root)
    summary = tmp_path / "summary.md"
    result = run("check", "--base", "main", "--config", str(config), "--summary", str(summary))
    assert result.exit_code == 0, result.stderr

    # By hand: core/tokens.py counts ceil(chars / 4) per message (+3 each, +3 priming); v2
    # changes only the system message, rendered with its defaults (daytwo, brief).
    def system(spec: dict[str, Any]) -> str:
        return spec["system"].replace("{{ product }}", "daytwo").replace("{{ tone }}", "brief")

    delta = math.ceil(len(system(SUPPORT_V2)) / 4) - math.ceil(len(system(SUPPORT_V1)) / 4)
    assert delta == 24
    cost = Decimal(delta * seeded) * INPUT_PRICE / 1_000_000  # 24 x 1,830 x $2.50 / 1M
    assert cost == Decimal("0.1098")
    text = summary.read_text()
    assert "+24 input tokens per call × 1,830 calls/week ≈ +$0.11/week on gpt-4o-mini" in text
    assert "| support-reply | v2 | v1 |" in text and "| +24 | 1,830 | +$0.11/week |" in text
    assert "-system: You are a support agent for {{ product }}" in text.replace("'", "")
    assert "+++ prompts/support-reply/v2.yaml" in text


def test_list_show_diff_render(tmp_path: Path) -> None:
    root = support_prompts(tmp_path / "prompts")
    listed = json.loads(run("list", "--dir", str(root), "--json").stdout)
    assert listed == [
        {
            "name": "support-reply",
            "versions": [1, 2],
            "labels": {"production": 1, "staging": 2},
            "model": "gpt-4o-mini",
        }
    ]
    shown = json.loads(run("show", "support-reply@staging", "--dir", str(root), "--json").stdout)
    assert (shown["version"], shown["label"], shown["max_tokens"]) == (2, "staging", 400)
    assert shown["hash"].startswith("sha256:")
    diff = run("diff", "support-reply", "v1", "v2", "--dir", str(root)).stdout
    assert "-max_tokens: 200" in diff and "+max_tokens: 400" in diff
    rendered = run(
        "render", "support-reply", "--var", "customer=Ann", "--var", "topic=refund",
        "--dir", str(root), "--json",
    )  # fmt: skip
    out = json.loads(rendered.stdout)
    assert out["messages"][1] == {"role": "user", "content": "Ticket from Ann: refund"}
    bad = run("render", "support-reply", "--var", "topic=x", "--dir", str(root))
    assert bad.exit_code == 1
    assert (
        bad.stderr == "daytwo prompts: Missing required variable 'customer' (string) of "
        "prompt `support-reply` v1.\n"
    )


def test_stats_compares_versions(tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    now = time.time()
    rows = [
        call_record(i, now - 3_600 + i, prompt_name="p", prompt_version=1, latency_ms=100.0 + i)
        for i in range(10)
    ]
    rows += [
        call_record(
            100 + i,
            now - 1_800 + i,
            prompt_name="p",
            prompt_version=2,
            input_tokens=2_000,
            cost_nanousd=3_000_000_000,
            latency_ms=200.0,
        )
        for i in range(4)
    ]
    rows += [
        call_record(200, now - 60, prompt_name="p", prompt_version=2, status="error",
                    http_status=502, cost_nanousd=None, input_tokens=0, output_tokens=0),
        call_record(201, now - 50, prompt_name="p", prompt_version=2, status="rejected",
                    http_status=400, cost_nanousd=None, input_tokens=0, output_tokens=0),
    ]  # fmt: skip
    with open_store(f"sqlite:///{db}") as store:
        store.insert_batch(rows)
    result = run("stats", "p", "--ledger", f"sqlite:///{db}", "--json")
    assert result.exit_code == 0, result.stderr
    v1, v2 = json.loads(result.stdout)["versions"]
    assert (v1["version"], v1["calls"], v1["input_tokens_per_call"]) == (1, 10, 1000.0)
    assert v1["cost_per_call_usd"] == "1.500000000"
    assert (v1["latency_p50_ms"], v1["latency_p95_ms"]) == (104.0, 109.0)
    assert (v2["calls"], v2["input_tokens_per_call"]) == (6, round(8000 / 6, 3))
    assert v2["cost_per_call_usd"] == "3.000000000"  # over its 4 priced calls
    assert (v2["error_rate"], v2["refusal_rate"]) == (round(1 / 6, 6), round(1 / 6, 6))
    table = run("stats", "p", "--ledger", f"sqlite:///{db}").stdout
    assert "v1" in table and "v2" in table


def test_a_summary_is_written_when_the_files_do_not_load(tmp_path: Path) -> None:
    root = tmp_path / "prompts"
    write_version(root, {**SUPPORT_V1, "temperature": "hot"})
    summary = tmp_path / "summary.md"
    result = run("check", "--dir", str(root), "--summary", str(summary))
    assert result.exit_code == 1
    assert "support-reply/v1.yaml: temperature:" in result.stderr
    assert "**Failed:** the prompt files do not load" in summary.read_text()


def test_a_promotion_shows_the_cost_at_the_labels_traffic(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    root = prompt_dir(
        repo / "prompts", SUPPORT_V1, SUPPORT_V2, labels={"support-reply": {"production": 1}}
    )
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "v1 and v2")
    git(repo, "checkout", "-q", "-b", "promote")
    write_labels(root, {"support-reply": {"production": 2}})  # the one-line PR
    db = tmp_path / "ledger.db"
    now = time.time()
    with open_store(f"sqlite:///{db}") as store:
        rows = [
            call_record(i, now - 3_600 - i, prompt_name="support-reply", prompt_version=1,
                        prompt_label="production")
            for i in range(1_000)
        ] + [
            call_record(5_000 + i, now - 60 - i, prompt_name="support-reply", prompt_version=2,
                        prompt_label="staging")
            for i in range(500)
        ]  # fmt: skip
        store.insert_batch(rows)
    config = write_config(tmp_path, db, root)
    summary = tmp_path / "summary.md"
    result = run("check", "--base", "main", "--config", str(config), "--summary", str(summary))
    assert result.exit_code == 0, result.stderr
    assert "(2 versions, 0 new, 1 labels moved)" in result.stdout
    # By hand: v2's prompt is 24 tokens longer; 1,000 production calls x 24 x $2.50 / 1M = $0.06
    text = summary.read_text()
    assert "| support-reply | production | v1 | v2 | +24 | 1,000 | +$0.06/week |" in text
    assert (
        "support-reply@production: +24 input tokens per call × 1,000 calls/week ≈ "
        "+$0.06/week on gpt-4o-mini"
    ) in text
