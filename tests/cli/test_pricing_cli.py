"""``daytwo pricing``: show, list, import — through the real entry point, with CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from daytwo.cli.main import cli
from daytwo.pricing.catalog_file import load_catalog_file

SAMPLE = Path(__file__).parents[1] / "pricing" / "data" / "litellm_sample.json"


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, ["pricing", *args])


def assert_one_line_error(result: Result, code: int) -> None:
    assert result.exit_code == code, result.output
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("Error: ")
    assert "Traceback" not in result.output


def test_show_a_dated_name() -> None:
    result = run("show", "gpt-4o-mini-2024-07-18")
    assert result.exit_code == 0, result.output
    assert "openai/gpt-4o-mini" in result.stdout
    assert "$0.15 / 1M tokens" in result.stdout
    assert "catalog:" in result.stdout


def test_show_json() -> None:
    result = run("show", "claude-3-5-haiku-20241022", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["priced"] is True
    assert doc["rule"] == "alias"
    entry = doc["entry"]
    assert (entry["provider"], entry["model"]) == ("anthropic", "claude-3-5-haiku")
    assert (entry["input"], entry["cache_write"], entry["cached_input"]) == ("0.8", "1", "0.08")


def test_show_unpriced_exits_1() -> None:
    result = run("show", "gpt-9")
    assert result.exit_code == 1
    assert "no price" in result.stdout
    assert "policy flag" in result.stdout
    doc = json.loads(run("show", "gpt-9", "--json").stdout)
    assert doc == {
        "model": "gpt-9",
        "provider": None,
        "policy": "flag",
        "priced": False,
        "admitted": True,
    }


CONFIG = """
providers:
  together:
    type: openai
    base_url: https://api.together.xyz/v1
    api_key: env:TOGETHER_API_KEY
  local:
    type: openai
    base_url: http://127.0.0.1:8000/v1
pricing:
  unpriced: deny
  catalogs: [team.json]
  overrides:
    - model: my-llama
      provider: local
      input_per_mtok: "0.01"
      output_per_mtok: "0.02"
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    team = {
        "version": "team-7",
        "models": [{"provider": "openai", "model": "gpt-4o-mini", "input": "0.2", "output": "0.8"}],
    }
    (tmp_path / "team.json").write_text(json.dumps(team), encoding="utf-8")
    path = tmp_path / "daytwo.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    return path


def test_show_with_config_applies_overrides_catalogs_and_policy(config: Path) -> None:
    doc = json.loads(run("show", "my-llama", "-p", "local", "-c", str(config), "--json").stdout)
    assert doc["rule"] == "override"
    assert doc["entry"]["ref"] == "override:local/my-llama"
    mini = json.loads(run("show", "gpt-4o-mini", "-c", str(config), "--json").stdout)
    assert mini["entry"]["ref"] == "catalog:team-7:openai/gpt-4o-mini"
    scout = "meta-llama/Llama-4-Scout-17B-16E-Instruct"
    hosted = json.loads(run("show", scout, "-p", "together", "-c", str(config), "--json").stdout)
    assert hosted["entry"]["provider"] == "together"
    denied = run("show", "my-llama", "-c", str(config), "--json")
    assert denied.exit_code == 1
    assert json.loads(denied.stdout)["admitted"] is False


def test_list_table_and_json() -> None:
    table = run("list", "--provider", "anthropic")
    assert table.exit_code == 0, table.output
    assert "claude-haiku-4-5" in table.stdout
    assert "gpt-4o" not in table.stdout
    doc = json.loads(run("list", "--json", "-p", "groq").stdout)
    assert {m["provider"] for m in doc["models"]} == {"groq"}
    assert doc["versions"][0].startswith("bundled catalog: ")


def test_list_with_config_shows_overrides(config: Path) -> None:
    doc = json.loads(run("list", "--json", "-c", str(config), "-p", "local").stdout)
    assert [m["model"] for m in doc["models"]] == ["my-llama"]


def test_import_writes_a_usable_catalog(tmp_path: Path) -> None:
    out = tmp_path / "litellm-prices.json"
    result = run("import", str(SAMPLE), "-o", str(out))
    assert result.exit_code == 0, result.output
    assert "wrote 11 prices" in result.stdout
    assert "skipped 4" in result.stdout
    catalog = load_catalog_file(out)
    assert catalog.version.startswith("litellm-")
    assert any(e.model == "llama-3.1-8b-instant" for e in catalog.entries)
    summary = json.loads(run("import", str(SAMPLE), "-o", str(out), "--json", "-p", "groq").stdout)
    assert summary["imported"] == 1


def test_usage_errors_exit_2_on_one_line(tmp_path: Path) -> None:
    assert_one_line_error(run("show"), 2)
    assert_one_line_error(run("import", str(tmp_path / "nope.json"), "-o", "x.json"), 2)
    assert_one_line_error(run("import", str(SAMPLE)), 2)
    assert_one_line_error(run("frobnicate"), 2)


def test_runtime_errors_exit_1_on_one_line(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text("{not json", encoding="utf-8")
    result = run("import", str(broken), "-o", str(tmp_path / "out.json"))
    assert_one_line_error(result, 1)
    assert "broken.json:1:2: invalid JSON" in result.stderr
    assert_one_line_error(run("show", "gpt-4o", "-c", str(tmp_path / "missing.yaml")), 1)
    bad_config = tmp_path / "daytwo.yaml"
    bad_config.write_text("pricing:\n  catalogs: [broken.json]\n", encoding="utf-8")
    assert_one_line_error(run("list", "-c", str(bad_config)), 1)
