"""``daytwo runbook list|show``: the shipped runbooks, a team's over them (from the config's
``incidents.runbooks_dir``), an unknown name named in one line with the known ones, a rule
pointing to a runbook that does not exist."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
import yaml
from click.testing import CliRunner
from tests.incidents.test_runbooks import valid

from daytwo.cli.main import cli
from daytwo.incidents.runbooks import SECTIONS, shipped


@pytest.fixture(autouse=True)
def _elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No ./daytwo.yaml, no $DAYTWO_CONFIG: only what a test names."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DAYTWO_CONFIG", raising=False)


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def _config(tmp_path: Path, **incidents: str) -> Path:
    cfg = {
        "providers": {"sim": {"type": "sim"}},
        "models": {"chat": {"deployments": [{"provider": "sim", "model": "m"}]}},
        "incidents": incidents,
        "alerts": {
            "sinks": {"log": {"type": "log"}},
            "rules": [
                {"name": "e", "kind": "error_rate", "threshold": 0.1, "sinks": ["log"],
                 "runbook": "mine"},
            ],
        },
    }  # fmt: skip
    path = tmp_path / "daytwo.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_list_shows_the_shipped_runbooks_without_a_config(tmp_path: Path) -> None:
    code, out, err = run("runbook", "list", "--json")
    assert code == 0, err
    data = orjson.loads(out)["data"]
    assert [r["name"] for r in data] == sorted(shipped())
    assert {r["source"] for r in data} == {"shipped"}
    code, out, _ = run("runbook", "list")
    assert code == 0 and "provider-down" in out and "silent-model-change" in out


def test_show_prints_markdown_or_a_terminal_page(tmp_path: Path) -> None:
    code, out, _ = run("runbook", "show", "cost-spike", "--format", "md")
    assert code == 0
    assert out.startswith("# Token costs are spiking\n")
    assert [line[3:] for line in out.splitlines() if line.startswith("## ")] == list(SECTIONS)
    assert "`daytwo spend --since 24h --by project`" in out
    code, out, _ = run("runbook", "show", "cost-spike")
    assert code == 0 and "Stop the bleeding" in out and "## " not in out  # laid out by Rich
    assert "daytwo spend --since 24h --by project" in out


def test_an_unknown_name_is_one_line_listing_the_known_ones(tmp_path: Path) -> None:
    code, out, err = run("runbook", "show", "provider-dwon")
    assert (code, out) == (1, "")
    names = ", ".join(sorted(shipped()))
    assert err == f"daytwo runbook: no runbook named `provider-dwon` (known: {names})\n"
    code, _, err = run("runbook", "list", "--config", str(tmp_path / "none.yaml"))
    assert code == 2 and err.startswith("daytwo runbook: config file not found")


def test_a_teams_runbooks_come_from_the_config_and_override_by_name(tmp_path: Path) -> None:
    ours = tmp_path / "runbooks"
    ours.mkdir()
    (ours / "mine.md").write_text(valid())
    (ours / "provider-down.md").write_text(
        valid().replace("name: mine", "name: provider-down").replace("title: Mine", "title: Ours")
    )
    path = _config(tmp_path, runbooks_dir="runbooks")  # relative to the config's folder
    code, out, err = run("runbook", "list", "--json", "--config", str(path))
    assert code == 0, err
    data = {r["name"]: r for r in orjson.loads(out)["data"]}
    assert data["mine"]["source"] == str(ours / "mine.md")
    assert data["provider-down"]["title"] == "Ours"
    code, out, _ = run("runbook", "show", "provider-down", "--format", "md", "--config", str(path))
    assert code == 0 and out.startswith("# Ours\n")

    (ours / "mine.md").write_text(valid().replace("## Follow-ups", "## Afterwards"))
    code, _, err = run("runbook", "show", "mine", "--config", str(path))
    assert code == 1
    assert err == f"daytwo runbook: {ours / 'mine.md'}: unknown section `## Afterwards` " + (
        f"(the sections: {', '.join(SECTIONS)})\n"
    )


def test_list_names_a_rule_whose_runbook_does_not_exist(tmp_path: Path) -> None:
    path = _config(tmp_path)  # the rule names `mine`; no team folder has it
    code, _, err = run("runbook", "list", "--config", str(path))
    assert code == 1
    assert err.startswith("daytwo runbook: alerts.rules.0.runbook: no runbook named `mine`")


@pytest.mark.parametrize(
    ("runbook", "ok"),
    [("provider-down", True), ("https://wiki.example.com/x", True), ("Bad Name", False),
     ("http://plain.example.com", False)],
)  # fmt: skip
def test_a_rules_runbook_is_a_name_or_an_https_url(runbook: str, ok: bool) -> None:
    from daytwo.config.load import validate_config
    from daytwo.core.errors import ConfigError

    cfg = {
        "alerts": {
            "sinks": {"log": {"type": "log"}},
            "rules": [{"name": "e", "kind": "daily_cost", "threshold": 1, "sinks": ["log"],
                       "runbook": runbook}],
        }
    }  # fmt: skip
    if ok:
        assert validate_config(cfg).alerts.rules[0].runbook == runbook
    else:
        with pytest.raises(ConfigError, match=r"alerts\.rules\.0\.runbook"):
            validate_config(cfg)
