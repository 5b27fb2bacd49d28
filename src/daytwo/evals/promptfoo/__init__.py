"""A promptfoo config (``promptfooconfig.yaml``) converted into a daytwo suite.

promptfoo's test vocabulary is daytwo's (docs/assertions.md), so most of a config carries over
as written. What changes shape:

* every (prompt, provider) pair becomes a model target ``{id, model, params, messages}``: the
  prompt's messages (inline text, ``file://`` text split on ``---`` lines, chat JSON / YAML)
  compiled in the prompts' sandbox -- nunjucks ``{{ var }}`` is Jinja2's syntax;
* a provider id becomes a model alias named like its model (``openai:chat:gpt-4o-mini`` →
  ``gpt-4o-mini``; ``anthropic:messages:claude-3-5-haiku-latest`` →
  ``claude-3-5-haiku-latest``), unless the caller maps it (``aliases``);
* tests read from files (CSV with promptfoo's ``__expected`` / ``__description`` columns, JSON,
  JSONL, YAML) and ``file://`` variables are inlined; array variables expand into one test per
  combination, as promptfoo does;
* assertion values are templated in promptfoo and literal in daytwo: a value using the test's
  variables is rendered here, per test (a ``defaultTest`` one is copied into each test);
* with ``prompts_dir``, the prompts become prompt files and the targets ``prompt:NAME@v1``
  (:mod:`.prompt_files`).

Everything that cannot be carried (inline JavaScript / Python, a provider that is not a model
API, a test threshold, ...) is listed in :attr:`Converted.skipped`, each with its key path in
the promptfoo config. Invalid input raises :class:`~daytwo.evals.model.SuiteError`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from daytwo.evals import assertions
from daytwo.evals.model import SuiteError
from daytwo.evals.promptfoo.cases import convert_test, read_default, read_tests
from daytwo.evals.promptfoo.prompt_files import prompt_files
from daytwo.evals.promptfoo.source import Converted, Import, Skipped, dump, load_one, read_config
from daytwo.evals.promptfoo.targets import Prompt, alias_for, make_targets, read_prompts

__all__ = ["Converted", "Skipped", "alias_for", "convert", "dump"]

#: Top-level keys carried, read or ignored on purpose; others are reported.
_TOP_KEYS = frozenset(
    {"description", "prompts", "providers", "targets", "tests", "defaultTest", "assertionTemplates"}
)


def convert(
    path: Path,
    suite_dir: Path,
    *,
    aliases: Mapping[str, str] | None = None,
    model: str | None = None,
    judge: str = "judge",
    embedding_model: str = "text-embedding-3-small",
    prompts_dir: Path | None = None,
) -> Converted:
    """Convert the promptfoo config at ``path`` into a suite to be written in ``suite_dir``
    (relative paths it keeps -- JSON schemas, Python checks -- are rewritten against it).
    ``aliases``: provider id → model alias, over the naming rule; ``model``: the alias that
    providers with none (``echo``, ``exec:...``) run as; ``judge`` / ``embedding_model``: the
    aliases model-graded assertions use when the config names no grader; ``prompts_dir``: write
    the prompts as prompt files there (:mod:`.prompt_files`) instead of target messages."""
    data = read_config(path)
    try:
        suite, state, targets = _convert(
            data, path, suite_dir, aliases or {}, model, judge, embedding_model
        )
    except SuiteError as exc:
        if exc.where.startswith(str(path)):
            raise
        raise SuiteError(f"{path}: {exc.where}", exc.message) from None
    files = {} if prompts_dir is None else prompt_files(state, suite, targets, prompts_dir)
    return Converted(suite, tuple(state.skipped), files)


def _convert(
    data: Mapping[str, Any],
    path: Path,
    suite_dir: Path,
    aliases: Mapping[str, str],
    model: str | None,
    judge: str,
    embedding_model: str,
) -> tuple[dict[str, Any], Import, list[tuple[dict[str, Any], Prompt]]]:
    templates = data.get("assertionTemplates")
    state = Import(
        path.parent,
        suite_dir,
        aliases,
        model,
        templates if isinstance(templates, Mapping) else {},
    )
    for key in data:
        if key not in _TOP_KEYS:
            state.skip(str(key), "not carried (no daytwo equivalent in a suite)")
    prompts = read_prompts(state, data.get("prompts"))
    if not prompts:
        raise SuiteError("prompts", "no prompt could be converted")
    providers = data.get("providers", data.get("targets"))
    key = "targets" if "targets" in data else "providers"
    targets = make_targets(state, providers, key, prompts)
    if not targets:
        raise SuiteError(
            key,
            f"no provider maps to a daytwo model alias ({', '.join(state.unmapped) or 'none'}): "
            "pass --model ALIAS or --alias ID=ALIAS",
        )
    default = data.get("defaultTest") or {}
    if isinstance(default, str):
        default = load_one(state, default, "defaultTest")
    if not isinstance(default, Mapping):
        raise SuiteError("defaultTest", "expected a mapping")
    raw_tests = read_tests(state, data.get("tests"))
    default_out, per_test, grader = read_default(state, default)
    placed = [
        (where, t)
        for where, raw in raw_tests
        for t in convert_test(state, raw, where, default_out.get("vars", {}), per_test)
    ]
    if not placed:
        raise SuiteError("tests", "no test could be converted")
    _fill_missing(state, placed, default_out.get("vars", {}), targets)
    tests = [t for _, t in placed]
    suite: dict[str, Any] = {}
    if isinstance(data.get("description"), str):
        suite["description"] = data["description"]
    suite["targets"] = [t for t, _ in targets]
    _needs(suite, tests, default_out, grader, judge, embedding_model, state)
    if default_out:
        suite["defaultTest"] = default_out
    suite["tests"] = tests
    return suite, state, targets


# -- what the suite needs ---------------------------------------------------------------------


def _fill_missing(
    state: Import,
    tests: list[tuple[str, dict[str, Any]]],
    default_vars: Mapping[str, Any],
    targets: list[tuple[dict[str, Any], Prompt]],
) -> None:
    """promptfoo renders an unset variable as empty text; daytwo refuses it at load, so the
    import sets it to "" (and says so, naming the promptfoo test)."""
    used = frozenset().union(*(p.names for _, p in targets))
    for where, test in tests:
        for name in sorted(used - set(test["vars"]) - set(default_vars)):
            test["vars"][name] = ""
            state.skip(f"{where}.vars.{name}", 'not set: promptfoo renders it empty, set to ""')


def _needs(
    suite: dict[str, Any],
    tests: list[dict[str, Any]],
    default: Mapping[str, Any],
    grader: Mapping[str, str],
    judge: str,
    embedding_model: str,
    state: Import,
) -> None:
    """``judge.model`` and ``embedding_model`` when the suite's assertions need them (a test
    naming its own grader, ``options.provider``, needs no suite judge)."""
    judged = embedded = False
    for test in tests:
        for a in [*test.get("assert", []), *default.get("assert", [])]:
            spec = assertions.parse_assertion(a, "import", base_dir=state.suite_dir)
            needs = assertions.requirements(spec)
            judged |= "judge" in needs and "options" not in test
            embedded |= "embeddings" in needs
    if judged:
        suite["judge"] = {"model": grader.get("judge", judge)}
        if "judge" not in grader:
            state.skip(
                "defaultTest.options.provider",
                f"no grader named: model-graded assertions use the alias `{judge}` (--judge)",
            )
    if embedded:
        suite["embedding_model"] = grader.get("embedding", embedding_model)
