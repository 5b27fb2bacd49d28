"""`daytwo init` writes a config that works at once; `daytwo config check` judges files."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from daytwo.cli.main import cli


def test_init_writes_a_valid_starter_and_refuses_to_overwrite(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["init", "--dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    target = tmp_path / "daytwo.yaml"
    assert "sim" in target.read_text()
    check = runner.invoke(cli, ["config", "check", "--config", str(target)])
    assert check.exit_code == 0
    assert check.output.strip() == f"{target}: ok (1 providers, 3 model aliases)"
    again = runner.invoke(cli, ["init", "--dir", str(tmp_path)])
    assert again.exit_code == 1
    assert again.output.strip() == f"daytwo: {target} exists; use --force to overwrite it"


def test_config_check_lists_every_problem_one_line_each(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "server: {port: 99999}\n"
        "providers: {o: {type: openai, api_key: env:DT_SURELY_UNSET_VAR}}\n"
        "models: {m: {deployments: [{provider: o, model: x}]}}\n"
    )
    result = CliRunner().invoke(cli, ["config", "check", "--config", str(bad)])
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        f"daytwo: {bad}: server.port: Input should be less than or equal to 65535 (got 99999)"
    ]
    bad.write_text(
        "providers: {o: {type: openai, api_key: env:DT_SURELY_UNSET_VAR}}\n"
        "models: {m: {deployments: [{provider: o, model: x}]}}\n"
    )
    result = CliRunner().invoke(cli, ["config", "check", "--config", str(bad)])
    assert result.exit_code == 1
    assert result.output.splitlines() == [
        f"daytwo: {bad}: providers.o.api_key: environment variable DT_SURELY_UNSET_VAR is not set"
    ]


@pytest.mark.parametrize("args", [["config", "check", "--config", "/nonexistent/x.yaml"]])
def test_missing_file_is_one_line(args: list[str]) -> None:
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1
    assert result.output.strip() == "daytwo: /nonexistent/x.yaml: file not found"
