"""``daytwo.evals.promptfoo``: real promptfoo example configs (tests/evals/data/promptfoo, see
SOURCE.md there) and the shapes they do not cover, converted and loaded with the real
``load_suite``; what cannot be carried is listed with its key path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from daytwo.evals.model import SuiteError
from daytwo.evals.promptfoo import Converted, alias_for, convert, dump
from daytwo.evals.runner import load_suite

DATA = Path(__file__).parent / "data" / "promptfoo"


def converted_and_loaded(config: Path, out: Path, **options: Any) -> tuple[Converted, Any]:
    """Convert ``config``, write the suite into ``out`` and load it as ``daytwo eval`` does."""
    got = convert(config, out, **options)
    suite_path = out / "suite.yaml"
    suite_path.write_text(dump(got.suite), encoding="utf-8")
    return got, load_suite(suite_path)


def lines(got: Converted) -> list[str]:
    return [str(s) for s in got.skipped]


def write(folder: Path, config: dict[str, Any], **files: str) -> Path:
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text, encoding="utf-8")
    path = folder / "promptfooconfig.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("provider", "alias"),
    [
        ("openai:gpt-4o-mini", "gpt-4o-mini"),
        ("openai:chat:gpt-4o", "gpt-4o"),
        ("anthropic:messages:claude-3-5-haiku-latest", "claude-3-5-haiku-latest"),
        (
            "bedrock:anthropic.claude-3-haiku-20240307-v1:0",
            "anthropic.claude-3-haiku-20240307-v1:0",
        ),
        ("openai:embedding:text-embedding-3-large", "text-embedding-3-large"),
        ("echo", None),
        ("exec:./bot.sh", None),
        ("file://provider.py", None),
        ("https://example.com/api", None),
    ],
)
def test_a_provider_id_maps_to_the_alias_named_like_its_model(
    provider: str, alias: str | None
) -> None:
    assert alias_for(provider) == alias


def test_the_callers_mapping_wins_over_the_naming_rule() -> None:
    assert alias_for("openai:gpt-4.1", {"openai:gpt-4.1": "prod-chat"}) == "prod-chat"
    assert alias_for("echo", {"echo": "gpt-4o-mini"}) == "gpt-4o-mini"


def test_getting_started_every_prompt_under_every_provider(tmp_path: Path) -> None:
    got, suite = converted_and_loaded(DATA / "getting-started" / "promptfooconfig.yaml", tmp_path)
    assert lines(got) == []
    assert suite.targets == (
        "openai:gpt-4.1 / prompt1",
        "openai:gpt-4.1 / prompt2",
        "openai:o4-mini / prompt1",
        "openai:o4-mini / prompt2",
    )
    assert [p.target.model for p in suite.plans.values()] == ["gpt-4.1"] * 2 + ["o4-mini"] * 2
    request = suite.plans["openai:o4-mini / prompt2"].request(suite.cases[0])
    assert request.body["messages"] == [
        {"role": "user", "content": "Translate to French: Hello world"}
    ]
    spanish = suite.cases[1]
    assert spanish.vars == {"language": "Spanish", "input": "Where is the library?"}
    assert [(a.type, a.value) for a in spanish.assertions] == [
        ("icontains", "Dónde está la biblioteca")
    ]


def test_simple_test_carries_its_assertions_and_reports_inline_code(tmp_path: Path) -> None:
    got, suite = converted_and_loaded(DATA / "simple-test" / "promptfooconfig.yaml", tmp_path)
    assert lines(got) == [
        "outputPath: not carried (no daytwo equivalent in a suite)",
        "tests[3].assert[0]: type javascript: inline code is not run by daytwo",
        "tests[3].assert[1]: type python: inline code is not run by daytwo",
        "defaultTest.options.provider: no grader named: model-graded assertions use the alias "
        "`judge` (--judge)",
    ]
    # prompts.txt holds two prompts separated by a `---` line
    assert suite.targets == ("prompts-1", "prompts-2")
    assert [[a.type for a in c.assertions] for c in suite.cases] == [
        ["equals"],
        ["icontains"],
        ["is-json"],
        ["similar"],
        ["llm-rubric", "icontains"],  # the $ref to assertionTemplates, resolved
    ]
    assert suite.cases[4].assertions[1].value == "arrr"
    # YAML read as promptfoo reads it (1.2): `body: Yes` is the text, not a boolean
    assert suite.cases[0].vars == {"body": "Yes"}
    assert suite.judge.model == "judge"
    assert suite.judge.embedding_model == "text-embedding-3-small"


def test_simple_csv_tests_from_the_file_and_a_refused_filter(tmp_path: Path) -> None:
    got, suite = converted_and_loaded(DATA / "simple-csv" / "promptfooconfig.yaml", tmp_path)
    assert lines(got) == [
        "prompts[0]: the template is refused by daytwo's sandbox: line 2: the filter `load` is "
        "not allowed"
    ]
    assert suite.targets == ("openai:gpt-3.5-turbo",)  # the second prompt of prompts.txt
    assert [c.vars["language"] for c in suite.cases] == ["French", "French", "Pirate", "Pirate"]
    assert [(a.type, a.value) for c in suite.cases for a in c.assertions] == [
        ("icontains", "bonjour"),
        ("icontains", "faim"),
        ("icontains", "Ahoy"),
        ("icontains", "grub"),
    ]


def test_rubric_example_needs_an_alias_for_echo(tmp_path: Path) -> None:
    config = DATA / "eval-customer-support-rubric" / "promptfooconfig.yaml"
    with pytest.raises(SuiteError) as err:
        convert(config, tmp_path)
    assert err.value.where == f"{config}: providers"
    assert "(echo)" in err.value.message and "--model" in err.value.message


def test_rubric_example_renders_default_rubrics_per_test(tmp_path: Path) -> None:
    config = DATA / "eval-customer-support-rubric" / "promptfooconfig.yaml"
    got, suite = converted_and_loaded(config, tmp_path, model="gpt-4o-mini")
    assert suite.targets == ("Mock support assistant",)
    assert suite.judge.model == "gpt-4.1-mini"  # defaultTest.options.provider
    assert len(suite.cases) == 8
    for case in suite.cases:
        assert [a.metric for a in case.assertions] == [
            "correct",
            "resolved",
            "honest",
            "handoff",
            "language_fit",
        ]
        correct = case.assertions[0]
        assert correct.threshold == 0.8
        assert f'"{case.vars["customer_message"]}"' in correct.value
        assert f"(account context: {case.vars['context']})" in correct.value
        assert f"({case.vars['language']})" in case.assertions[4].value
    assert suite.cases[3].description == "ES tariff reply mixing languages"
    skipped = lines(got)
    assert (
        skipped[0]
        == "providers[0]: `echo` is not a model API: run as alias `gpt-4o-mini` (--model)"
    )
    thresholds = [s for s in skipped if ".threshold:" in s]
    assert [s.split(".")[0] for s in thresholds] == ["tests", "tests", "tests"]
    assert [s.split(":")[0] for s in thresholds] == [
        "tests.csv[3].threshold",
        "tests.csv[4].threshold",
        "tests.csv[6].threshold",
    ]
    assert "tests.csv[0].__metadata:severity: not carried" in skipped


def test_shapes_beyond_the_examples(tmp_path: Path) -> None:
    chat = [
        {"role": "system", "content": "You answer in {{ language }}."},
        {"role": "user", "content": "{{ question }}"},
    ]
    config = {
        "prompts": [{"id": "file://prompts/chat.json", "label": "chat"}, "file://prompt.py:fn"],
        "providers": [
            {
                "id": "openai:chat:gpt-4o-mini",
                "label": "mini",
                "config": {"temperature": 0, "max_tokens": 50, "apiKey": "sk-x"},
                "delay": 5,
            },
        ],
        "defaultTest": {"vars": {"language": "French"}},
        "tests": [
            {
                "vars": {"question": ["Hi?", "Bye?"], "notes": "file://notes.txt"},
                "threshold": 0.5,
                "assert": [
                    {
                        "type": "assert-set",
                        "assert": [
                            {"type": "not-contains", "value": "{{ question }}"},
                            {"type": "regex", "value": "^[A-Z]"},
                        ],
                    },
                    {"type": "python", "value": "file://checks.py"},
                    {"type": "classifier", "value": "toxic"},
                    {"type": "contains", "value": "x", "transform": "output.trim()"},
                    {"type": "regex", "value": "(unclosed"},
                ],
            },
            "file://more/*.jsonl",
        ],
    }
    files = {
        "prompts/chat.json": orjson.dumps(chat).decode(),
        "notes.txt": "Some notes.",
        "checks.py": "def get_assert(output, context):\n    return True\n",
        "more/a.jsonl": '{"vars": {"question": "Why?"}}\n',
    }
    out = tmp_path / "evals"
    out.mkdir()
    got, suite = converted_and_loaded(write(tmp_path, config, **files), out)
    assert lines(got) == [
        "prompts[1]: file://prompt.py:fn: a prompt function is code, which daytwo does not run",
        "providers[0].delay: not carried",
        "providers[0].config.apiKey: not a request parameter: set it in daytwo.yaml",
        "tests[0].threshold: a test-level score threshold is not carried (daytwo: an item "
        "passes when every assertion passes)",
        "tests[0].assert[2]: type classifier: no daytwo assertion of this type",
        "tests[0].assert[3].transform: not carried",
        "tests[0].assert[4].value: invalid regular expression: missing ), unterminated subpattern "
        "at position 0",
    ]
    assert suite.targets == ("mini",)
    plan = suite.plans["mini"]
    assert plan.target.params == {"temperature": 0, "max_tokens": 50}
    # the array variable expands into one test each; the file test comes after
    assert [c.vars["question"] for c in suite.cases] == ["Hi?", "Bye?", "Why?"]
    assert suite.cases[0].vars == {"language": "French", "question": "Hi?", "notes": "Some notes."}
    first = suite.cases[0].assertions
    assert [(a.type, a.negate, a.value) for a in first[:2]] == [
        ("contains", True, "Hi?"),  # rendered with this test's variables
        ("regex", False, "^[A-Z]"),
    ]
    assert first[2].type == "python" and first[2].value == "file://../checks.py:get_assert"
    request = plan.request(suite.cases[1])
    assert request.body["messages"] == [
        {"role": "system", "content": "You answer in French."},
        {"role": "user", "content": "Bye?"},
    ]


def test_a_variable_no_test_sets_is_set_empty_as_promptfoo_renders_it(tmp_path: Path) -> None:
    config = {
        "prompts": ["{{ a }} and {{ b }}"],
        "providers": ["openai:gpt-4o-mini"],
        "tests": [{"vars": {"a": "x", "b": "y"}}, "file://more.yaml"],
    }
    path = write(tmp_path, config, **{"more.yaml": "- vars: {a: z}\n"})
    got, suite = converted_and_loaded(path, tmp_path)
    assert lines(got) == ['more.yaml[0].vars.b: not set: promptfoo renders it empty, set to ""']
    assert [c.vars for c in suite.cases] == [{"a": "x", "b": "y"}, {"a": "z", "b": ""}]


@pytest.mark.parametrize(
    ("text", "where", "message"),
    [
        ("prompts: [a\n", ":2:1", "expected ',' or ']', but got '<stream end>'"),
        ("- a list\n", "", "a promptfoo config is a mapping (prompts, providers, tests)"),
        ("providers: [openai:gpt-4o]\n", ": prompts", "required key is missing"),
        ("prompts: [hi]\n", ": providers", "required key is missing"),
        (
            "prompts: [hi]\nproviders: [openai:x]\ntests: [{vars: {q: file://nope.json}}]\n",
            "",
            "",
        ),
    ],
)
def test_invalid_input_is_one_suite_error_naming_the_file(
    tmp_path: Path, text: str, where: str, message: str
) -> None:
    path = tmp_path / "promptfooconfig.yaml"
    path.write_text(text, encoding="utf-8")
    if not message:  # a missing file variable is reported, the rest converts
        got = convert(path, tmp_path)
        assert lines(got) == ["tests[0].vars.q: file://nope.json: file not found"]
        return
    with pytest.raises(SuiteError) as err:
        convert(path, tmp_path)
    assert str(err.value) == f"{path}{where}: {message}"


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(SuiteError, match=r"nope\.yaml: file not found"):
        convert(tmp_path / "nope.yaml", tmp_path)


def test_prompts_dir_writes_prompt_files_the_targets_name(tmp_path: Path) -> None:
    out = tmp_path / "evals"
    got = convert(
        DATA / "getting-started" / "promptfooconfig.yaml", out, prompts_dir=tmp_path / "prompts"
    )
    assert list(got.suite)[:3] == ["description", "prompts", "targets"]
    assert got.suite["prompts"] == "../prompts"
    assert [t["model"] for t in got.suite["targets"]] == [
        "prompt:openai-gpt-4-1-prompt1@v1",
        "prompt:openai-gpt-4-1-prompt2@v1",
        "prompt:openai-o4-mini-prompt1@v1",
        "prompt:openai-o4-mini-prompt2@v1",
    ]
    spec = got.prompt_files[tmp_path / "prompts" / "openai-o4-mini-prompt2" / "v1.yaml"]
    assert spec["model"] == "o4-mini"
    assert spec["messages"] == [{"role": "user", "content": "Translate to {{language}}: {{input}}"}]
    assert spec["variables"] == {"input": {"type": "string"}, "language": {"type": "string"}}
    for path, content in got.prompt_files.items():
        path.parent.mkdir(parents=True)
        path.write_text(dump(content), encoding="utf-8")
    out.mkdir()
    (out / "s.yaml").write_text(dump(got.suite), encoding="utf-8")
    suite = load_suite(out / "s.yaml")
    plan = suite.plans["openai:o4-mini / prompt2"]
    assert (plan.target.kind, plan.target.prompt, plan.target.version) == (
        "prompt",
        "openai-o4-mini-prompt2",
        1,
    )
    assert plan.request(suite.cases[0]).body["variables"] == {
        "language": "French",
        "input": "Hello world",
    }


def test_prompts_dir_drops_variables_only_assertions_read(tmp_path: Path) -> None:
    config = DATA / "eval-customer-support-rubric" / "promptfooconfig.yaml"
    got = convert(config, tmp_path, model="gpt-4o-mini", prompts_dir=tmp_path / "prompts")
    assert [t["vars"].keys() for t in got.suite["tests"]] == [{"reply": 0}.keys()] * 8
    dropped = [str(s) for s in got.skipped if s.where.startswith("tests.vars.")]
    assert [d.split(":")[0] for d in dropped] == [
        "tests.vars.context",
        "tests.vars.customer_message",
        "tests.vars.language",
    ]
    # the rubrics were rendered with them before they went
    assert "(account context: Prepago" in got.suite["tests"][0]["assert"][0]["value"]


def test_prompts_dir_declares_what_a_python_check_may_read(tmp_path: Path) -> None:
    config = {
        "prompts": ["{{ q }}", "{{ q }} in {{ lang }}"],
        "providers": ["openai:gpt-4o-mini"],
        "tests": [
            {"vars": {"q": "a", "n": 2, "lang": "en"}},
            {"vars": {"q": "b", "n": 2.5}, "assert": [{"type": "python", "value": "file://c.py"}]},
        ],
    }
    path = write(tmp_path, config, **{"c.py": "def get_assert(output, context):\n    return 1\n"})
    got = convert(path, tmp_path, prompts_dir=tmp_path / "prompts")
    first = got.prompt_files[tmp_path / "prompts" / "prompt1" / "v1.yaml"]
    assert first["variables"] == {
        "lang": {"type": "string"},  # the second prompt reads it: set "" where a test does not
        "n": {"type": "number", "required": False},
        "q": {"type": "string"},
    }
    unread = "which does not read it (tests pass it for other prompts or checks)"
    assert lines(got) == [
        'tests[1].vars.lang: not set: promptfoo renders it empty, set to ""',
        f"prompts[0].lang: declared in prompt1/v1.yaml, {unread}: `daytwo prompts check` lists it",
        f"prompts[0].n: declared in prompt1/v1.yaml, {unread}: `daytwo prompts check` lists it",
        f"prompts[1].n: declared in prompt2/v1.yaml, {unread}: `daytwo prompts check` lists it",
    ]


def test_prompts_dir_keeps_messages_when_a_variable_has_several_types(tmp_path: Path) -> None:
    config = {
        "prompts": ["{{ q }}"],
        "providers": ["openai:gpt-4o-mini"],
        "tests": [{"vars": {"q": "a"}}, {"vars": {"q": 3}}],
    }
    got = convert(write(tmp_path, config), tmp_path, prompts_dir=tmp_path / "prompts")
    assert got.prompt_files == {}
    assert "messages" in got.suite["targets"][0] and "prompts" not in got.suite
    assert lines(got) == [
        "tests.vars.q: values of several types: no prompt file written (the targets keep "
        "their messages)"
    ]


def test_prompts_dir_never_overwrites_a_prompt(tmp_path: Path) -> None:
    (tmp_path / "prompts" / "openai-gpt-4-1-prompt2").mkdir(parents=True)
    with pytest.raises(SuiteError) as err:
        convert(
            DATA / "getting-started" / "promptfooconfig.yaml",
            tmp_path,
            prompts_dir=tmp_path / "prompts",
        )
    assert str(err.value) == (
        f"{tmp_path / 'prompts' / 'openai-gpt-4-1-prompt2'}: exists: the import does not "
        "overwrite prompts"
    )
