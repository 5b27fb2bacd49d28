from pathlib import Path

import pytest

from daytwo.config.load import load_config, parse_config
from daytwo.core.errors import ConfigError


def _problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(text, source="d.yaml")
    return info.value.problems


def test_starter_config_is_valid() -> None:
    cfg = load_config(Path(__file__).parents[2] / "src/daytwo/config/starter.yaml")
    assert "gpt-4o-mini" in cfg.models
    assert cfg.providers["sim"].type == "sim"


def test_errors_name_file_key_path_and_expectation() -> None:
    assert _problems("server: {port: abc}") == [
        "d.yaml: server.port: Input should be a valid integer, unable to parse string as an "
        "integer (got 'abc')"
    ]
    assert _problems("server: {bogus: 1}") == ["d.yaml: server.bogus: unknown key"]
    assert _problems("models: {a: {deployments: [{provider: nope, model: m}]}}") == [
        "d.yaml: models.a.deployments.0.provider: unknown provider `nope` (known: none are "
        "configured)"
    ]
    assert _problems("models: {a: {deployments: [{model: m}]}}") == [
        "d.yaml: models.a.deployments.0.provider: required key is missing"
    ]


def test_secret_values_are_refused_without_echoing_them() -> None:
    problems = _problems("providers: {o: {type: openai, api_key: sk-secret-value-1234}}")
    assert problems[0].startswith("d.yaml: providers.o.api_key: a secret must be a reference")
    assert "sk-secret-value-1234" not in problems[0]


def test_yaml_syntax_errors_have_line_and_column() -> None:
    (problem,) = _problems("server:\n  port: [1,\n")
    assert problem.startswith("d.yaml:3:")


def test_yaml_is_data_never_code() -> None:
    # A Python-object tag must not be constructed: safe loading refuses it.
    (problem,) = _problems("server: !!python/object/apply:os.system ['true']")
    assert problem.startswith("d.yaml:1:")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "nope.yaml")
