"""The prompt directory: loading, labels, identity, variables, rendering."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from tests.prompts.files import SUPPORT_V1, SUPPORT_V2, prompt_dir, support_prompts, write_version

from daytwo.core.errors import ModelNotFound
from daytwo.prompts import PromptError, PromptLoadError, load_prompts, parse_reference


def test_a_label_resolves_to_its_version_and_renders(tmp_path: Path) -> None:
    root = support_prompts(tmp_path / "prompts")
    prompts = load_prompts(root)
    prod = prompts.resolve(parse_reference("prompt:support-reply"))
    assert (prod.version.version, prod.label) == (1, "production")
    assert prompts.resolve(parse_reference("prompt:support-reply@staging")).version.version == 2
    assert prompts.resolve(parse_reference("prompt:support-reply@v2")).label is None
    # the call's environment picks the label of that name when there is one
    assert prompts.resolve(parse_reference("support-reply"), "staging").version.version == 2
    assert prompts.resolve(parse_reference("support-reply"), "qa").version.version == 1
    out = prompts.render(prod.version, {"customer": "Ann", "topic": "refund"})
    assert out.messages == (
        {"role": "system", "content": "You are a support agent for daytwo. Be brief."},
        {"role": "user", "content": "Ticket from Ann: refund"},
    )
    assert out.params == {"temperature": 0.2, "max_tokens": 200}


def test_identity_ignores_yaml_formatting_and_metadata_but_not_the_template(tmp_path: Path) -> None:
    a = load_prompts(prompt_dir(tmp_path / "a", SUPPORT_V1, labels={}))
    b_root = tmp_path / "b" / "support-reply"
    b_root.mkdir(parents=True)
    # the same content, other formatting, other key order, other metadata
    spec = {**SUPPORT_V1, "metadata": {"owner": "someone else"}}
    (b_root / "v1.yaml").write_text(
        "# a comment\n"
        + yaml.safe_dump(dict(reversed(list(spec.items()))), default_flow_style=True)
    )
    b = load_prompts(tmp_path / "b")
    ha = a.versions["support-reply"][1].hash
    assert ha.startswith("sha256:") and len(ha) == 7 + 64
    assert b.versions["support-reply"][1].hash == ha
    c = load_prompts(
        prompt_dir(
            tmp_path / "c", {**SUPPORT_V1, "system": "Hi {{ product }} {{ tone }}"}, labels={}
        )
    )
    assert c.versions["support-reply"][1].hash != ha


@pytest.mark.parametrize(
    ("given", "param", "code"),
    [
        ({"topic": "x"}, "variables.customer", "missing_variable"),
        ({"customer": 7, "topic": "x"}, "variables.customer", "invalid_variable_type"),
        ({"customer": "a", "topic": "x", "mood": "sad"}, "variables.mood", "unknown_variable"),
        (["customer"], "variables", "invalid_type"),
    ],
)
def test_bad_variables_are_named(tmp_path: Path, given: object, param: str, code: str) -> None:
    prompts = load_prompts(
        prompt_dir(tmp_path / "p", SUPPORT_V1, labels={"support-reply": {"production": 1}})
    )
    version = prompts.versions["support-reply"][1]
    with pytest.raises(PromptError) as err:
        prompts.render(version, given)
    assert (err.value.param, err.value.code, err.value.status) == (param, code, 400)
    assert param.split(".")[-1] in err.value.message


def test_unknown_prompt_label_and_version(tmp_path: Path) -> None:
    prompts = load_prompts(
        prompt_dir(tmp_path / "p", SUPPORT_V1, labels={"support-reply": {"production": 1}})
    )
    with pytest.raises(ModelNotFound):
        prompts.resolve(parse_reference("prompt:nope"))
    with pytest.raises(PromptError, match="no label `canary`"):
        prompts.resolve(parse_reference("prompt:support-reply@canary"))
    with pytest.raises(PromptError, match="no version 9"):
        prompts.resolve(parse_reference("prompt:support-reply@v9"))
    with pytest.raises(PromptError, match="Invalid prompt reference"):
        parse_reference("prompt:Bad Name!")


def test_every_problem_of_a_directory_is_named_with_its_file(tmp_path: Path) -> None:
    root = tmp_path / "prompts"
    write_version(root, SUPPORT_V1)
    write_version(root, {**SUPPORT_V1, "version": 3, "temperature": "hot"})  # wrong type
    bad = {**SUPPORT_V1, "name": "other", "version": 1, "system": "Hi {{ nobody }}"}
    write_version(root, bad)
    (root / "other" / "v2.yaml").write_text(yaml.safe_dump({**bad, "version": 5, "system": "ok"}))
    (root / "broken").mkdir()
    (root / "broken" / "v1.yaml").write_text(
        "name: broken\nsystem: '{% for %}'\nversion: 1\nmodel: m\n"
    )
    (root / "labels.yaml").write_text("support-reply: {production: 2}\n")
    with pytest.raises(PromptLoadError) as err:
        load_prompts(root)
    text = "\n".join(err.value.problems)
    assert "prompts/support-reply/v3.yaml: temperature:" in text
    assert "prompts/other/v1.yaml: uses the variable `nobody`" in text
    assert "prompts/other/v2.yaml: version: 5 is not its file's v2" in text
    assert "prompts/broken/v1.yaml: system: line 1:" in text
    assert "labels: support-reply.production: prompt `support-reply` has no version 2" in text


def test_labels_override_wins(tmp_path: Path) -> None:
    root = prompt_dir(
        tmp_path / "p", SUPPORT_V1, SUPPORT_V2, labels={"support-reply": {"production": 1}}
    )
    prompts = load_prompts(root, labels_override={"support-reply": {"production": 2}})
    assert prompts.resolve(parse_reference("support-reply")).version.version == 2


def test_tools_and_response_format_are_parameters_and_part_of_the_identity(
    tmp_path: Path,
) -> None:
    tool = {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}
    schema = {"type": "json_schema", "json_schema": {"name": "reply", "schema": {"type": "object"}}}
    spec = {**SUPPORT_V1, "tools": [tool], "tool_choice": "auto", "response_format": schema}
    prompts = load_prompts(prompt_dir(tmp_path / "a", spec, labels={}))
    version = prompts.versions["support-reply"][1]
    out = prompts.render(version, {"customer": "Ann", "topic": "x"})
    assert out.params == {
        "temperature": 0.2,
        "max_tokens": 200,
        "tool_choice": "auto",
        "tools": [tool],
        "response_format": schema,
    }
    other_tool = {**tool, "function": {**tool["function"], "name": "search"}}
    changed = load_prompts(prompt_dir(tmp_path / "b", {**spec, "tools": [other_tool]}, labels={}))
    assert changed.versions["support-reply"][1].hash != version.hash
