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
  variables is rendered here, per test (a ``defaultTest`` one is copied into each test).

Everything that cannot be carried (inline JavaScript / Python, a provider that is not a model
API, a test threshold, ...) is listed in :attr:`Converted.skipped`, each with its key path in
the promptfoo config. Invalid input raises :class:`~daytwo.evals.model.SuiteError`.
"""

from __future__ import annotations

import csv
import glob
import itertools
import os.path
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import yaml

from daytwo.evals import assertions
from daytwo.evals.dataset import expected_assertion
from daytwo.evals.model import SuiteError
from daytwo.prompts.sandbox import Compiled, Sandbox, TemplateRefused

#: Provider prefixes of model APIs: ``PREFIX:[kind:]MODEL`` maps to the alias ``MODEL``.
MODEL_PROVIDERS = frozenset(
    {
        "openai",
        "anthropic",
        "azure",
        "azureopenai",
        "bedrock",
        "vertex",
        "google",
        "gemini",
        "mistral",
        "groq",
        "ollama",
        "openrouter",
        "deepseek",
        "xai",
        "togetherai",
        "fireworks",
        "perplexity",
        "cohere",
        "cerebras",
        "huggingface",
        "litellm",
        "vllm",
        "localai",
        "llama",
    }
)
#: The API kind some providers put between prefix and model (``openai:chat:gpt-4o``).
_KINDS = frozenset({"chat", "messages", "completion", "responses", "embedding", "embeddings"})
#: Provider ``config`` keys that are request parameters (OpenAI Chat names).
PARAMS = frozenset(
    {
        "temperature",
        "max_tokens",
        "max_completion_tokens",
        "top_p",
        "stop",
        "seed",
        "presence_penalty",
        "frequency_penalty",
        "response_format",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
    }
)
_ROLES = frozenset({"system", "developer", "user", "assistant"})
#: Assertion keys daytwo reads; others (``transform``, ``contextTransform``) are reported.
_ASSERT_KEYS = ("type", "value", "threshold", "weight", "metric", "provider", "config")
_CODE_TYPES = frozenset({"javascript", "fn", "eval"})
#: Top-level keys carried, read or ignored on purpose; others are reported.
_TOP_KEYS = frozenset(
    {"description", "prompts", "providers", "targets", "tests", "defaultTest", "assertionTemplates"}
)
_SEPARATOR = re.compile(r"^---$", re.MULTILINE)


class _Loader(yaml.SafeLoader):
    """YAML as promptfoo (js-yaml, YAML 1.2) reads it: only true/false are booleans, so
    ``body: Yes`` stays the text ``Yes``."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


class _Dumper(yaml.SafeDumper):
    """Every target spells its messages out (no ``&id001`` anchors: the suite is read by
    people)."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def dump(suite: Mapping[str, Any]) -> str:
    """The suite as YAML, keys in the order a suite is read."""
    return yaml.dump(suite, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)


@dataclass(frozen=True, slots=True)
class Skipped:
    """One thing the import could not carry: its key path in the promptfoo config and why."""

    where: str
    reason: str

    def __str__(self) -> str:
        return f"{self.where}: {self.reason}"


@dataclass(frozen=True)
class Converted:
    """The daytwo suite (the YAML document as data) and what was left behind."""

    suite: dict[str, Any]
    skipped: tuple[Skipped, ...]


@dataclass(frozen=True, slots=True)
class _Prompt:
    label: str
    where: str
    messages: list[dict[str, str]]
    names: frozenset[str]


@dataclass
class _Import:
    """The state of one conversion: where files are read from and written to, what was
    skipped."""

    source_dir: Path
    suite_dir: Path
    aliases: Mapping[str, str]
    fallback_model: str | None
    #: ``assertionTemplates``: what ``$ref: '#/assertionTemplates/NAME'`` names.
    templates: Mapping[str, Any] = field(default_factory=dict)
    sandbox: Sandbox = field(default_factory=Sandbox)
    #: Provider ids that map to no alias.
    unmapped: list[str] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)

    def skip(self, where: str, reason: str) -> None:
        item = Skipped(where, reason)
        if item not in self.skipped:  # a test whose array variables expand is read per copy
            self.skipped.append(item)


def convert(
    path: Path,
    suite_dir: Path,
    *,
    aliases: Mapping[str, str] | None = None,
    model: str | None = None,
    judge: str = "judge",
    embedding_model: str = "text-embedding-3-small",
) -> Converted:
    """Convert the promptfoo config at ``path`` into a suite to be written in ``suite_dir``
    (relative paths it keeps -- JSON schemas, Python checks -- are rewritten against it).
    ``aliases``: provider id → model alias, over the naming rule; ``model``: the alias that
    providers with none (``echo``, ``exec:...``) run as; ``judge`` / ``embedding_model``: the
    aliases model-graded assertions use when the config names no grader."""
    data = _read_config(path)
    try:
        return _convert(data, path, suite_dir, aliases or {}, model, judge, embedding_model)
    except SuiteError as exc:
        if exc.where.startswith(str(path)):
            raise
        raise SuiteError(f"{path}: {exc.where}", exc.message) from None


def _convert(
    data: Mapping[str, Any],
    path: Path,
    suite_dir: Path,
    aliases: Mapping[str, str],
    model: str | None,
    judge: str,
    embedding_model: str,
) -> Converted:
    templates = data.get("assertionTemplates")
    state = _Import(
        path.parent,
        suite_dir,
        aliases,
        model,
        templates if isinstance(templates, Mapping) else {},
    )
    for key in data:
        if key not in _TOP_KEYS:
            state.skip(str(key), "not carried (no daytwo equivalent in a suite)")
    prompts = _prompts(state, data.get("prompts"))
    if not prompts:
        raise SuiteError("prompts", "no prompt could be converted")
    providers = data.get("providers", data.get("targets"))
    key = "targets" if "targets" in data else "providers"
    targets = _targets(state, providers, key, prompts)
    if not targets:
        raise SuiteError(
            key,
            f"no provider maps to a daytwo model alias ({', '.join(state.unmapped) or 'none'}): "
            "pass --model ALIAS or --alias ID=ALIAS",
        )
    default = data.get("defaultTest") or {}
    if isinstance(default, str):
        default = _load_one(state, default, "defaultTest")
    if not isinstance(default, Mapping):
        raise SuiteError("defaultTest", "expected a mapping")
    raw_tests = _tests(state, data.get("tests"))
    default_out, per_test, grader = _default(state, default)
    tests = [
        t
        for where, raw in raw_tests
        for t in _test(state, raw, where, default_out.get("vars", {}), per_test)
    ]
    if not tests:
        raise SuiteError("tests", "no test could be converted")
    _fill_missing(state, tests, default_out.get("vars", {}), targets)
    suite: dict[str, Any] = {}
    if isinstance(data.get("description"), str):
        suite["description"] = data["description"]
    suite["targets"] = [t for t, _ in targets]
    _needs(suite, tests, default_out, grader, judge, embedding_model, state)
    if default_out:
        suite["defaultTest"] = default_out
    suite["tests"] = tests
    return Converted(suite, tuple(state.skipped))


# -- files ------------------------------------------------------------------------------------


def _read_config(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SuiteError(str(path), "file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SuiteError(str(path), f"cannot read the file: {exc}") from None
    try:
        data = yaml.load(text, Loader=_Loader)  # noqa: S506  # a safe loader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""
        raise SuiteError(f"{path}{at}", getattr(exc, "problem", None) or "invalid YAML") from None
    if not isinstance(data, dict):
        raise SuiteError(str(path), "a promptfoo config is a mapping (prompts, providers, tests)")
    if "prompts" not in data:
        raise SuiteError(f"{path}: prompts", "required key is missing")
    return data


def _files(state: _Import, ref: str) -> list[Path]:
    """The files a ``file://`` reference names (a glob pattern may name several)."""
    name = ref.removeprefix("file://")
    pattern = str(state.source_dir / name)
    if any(c in name for c in "*?["):
        return [Path(p) for p in sorted(glob.glob(pattern))]
    return [Path(pattern)]


def _text(path: Path, where: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SuiteError(where, f"cannot read {path}: {exc}") from None


def _parsed(path: Path, where: str) -> Any:
    text = _text(path, where)
    try:
        if path.suffix == ".json":
            return orjson.loads(text)
        if path.suffix == ".jsonl":
            return [orjson.loads(line) for line in text.splitlines() if line.strip()]
        return yaml.load(text, Loader=_Loader)  # noqa: S506  # a safe loader
    except (orjson.JSONDecodeError, yaml.YAMLError) as exc:
        raise SuiteError(where, f"{path.name}: invalid {path.suffix[1:].upper()}: {exc}") from None


def _load_one(state: _Import, ref: str, where: str) -> Any:
    paths = _files(state, ref)
    if len(paths) != 1 or paths[0].suffix not in (".json", ".yaml", ".yml"):
        raise SuiteError(where, f"{ref}: expected one JSON or YAML file")
    return _parsed(paths[0], where)


# -- prompts ----------------------------------------------------------------------------------


def _prompts(state: _Import, raw: Any) -> list[_Prompt]:
    entries: list[tuple[str, Any, str | None]] = []
    if isinstance(raw, str):
        entries.append(("prompts", raw, None))
    elif isinstance(raw, list):
        entries += [(f"prompts[{i}]", p, None) for i, p in enumerate(raw)]
    elif isinstance(raw, Mapping):  # {file://a.txt: label}
        entries += [(f"prompts.{k}", k, str(v)) for k, v in raw.items()]
    else:
        raise SuiteError("prompts", "expected a prompt, a list of prompts or a mapping")
    out: list[_Prompt] = []
    for where, entry, label in entries:
        if isinstance(entry, Mapping):
            label = entry.get("label") or label
            entry = entry.get("raw", entry.get("id"))
        if not isinstance(entry, str):
            state.skip(where, "expected a prompt text or a file:// reference")
            continue
        found = _prompt_messages(state, entry, where)
        for n, (own, messages) in enumerate(found):
            name = label or own or f"prompt{len(out) + 1}"
            if len(found) > 1 and (label or own):
                name = f"{name}-{n + 1}"
            compiled = _compile(state, messages, where)
            if compiled is not None:
                out.append(
                    _Prompt(_unique(name, {p.label for p in out}), where, messages, compiled)
                )
    return out


def _prompt_messages(
    state: _Import, entry: str, where: str
) -> list[tuple[str | None, list[dict[str, str]]]]:
    """The prompts one entry stands for, each with a label of its own (a file's stem) and its
    messages; what cannot be carried is reported and left out."""
    if not entry.startswith("file://"):
        chat = _chat(_json_or_none(entry))
        return [(None, chat if chat is not None else [{"role": "user", "content": entry}])]
    out: list[tuple[str | None, list[dict[str, str]]]] = []
    paths = _files(state, entry)
    if not paths:
        state.skip(where, f"{entry}: no file matches")
    for path in paths:
        suffix = path.suffix.lower()
        if ":" in path.name or suffix in (".py", ".js", ".ts", ".mjs", ".cjs"):
            state.skip(where, f"{entry}: a prompt function is code, which daytwo does not run")
            continue
        if not path.is_file():
            state.skip(where, f"{entry}: file not found")
            continue
        if suffix in (".json", ".jsonl", ".yaml", ".yml"):
            data = _parsed(path, where)
            rows = data if suffix == ".jsonl" else [data]
            for row in rows:
                chat = _chat(row)
                if chat is None:
                    state.skip(where, f"{path.name}: not a list of chat messages (role, content)")
                else:
                    out.append((path.stem, chat))
            continue
        parts = [p.strip() for p in _SEPARATOR.split(_text(path, where)) if p.strip()]
        out += [(path.stem, [{"role": "user", "content": p}]) for p in parts]
    return out


def _json_or_none(text: str) -> Any:
    if not text.lstrip().startswith("["):
        return None
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return None


def _chat(data: Any) -> list[dict[str, str]] | None:
    if not isinstance(data, list) or not data:
        return None
    if not all(isinstance(m, Mapping) and isinstance(m.get("content"), str) for m in data):
        return None
    return [{"role": str(m.get("role", "user")), "content": m["content"]} for m in data]


def _compile(state: _Import, messages: list[dict[str, str]], where: str) -> frozenset[str] | None:
    """The variables the messages read, or None (reported) when one cannot be carried."""
    names: set[str] = set()
    for i, m in enumerate(messages):
        if m["role"] not in _ROLES:
            state.skip(where, f"message {i}: role `{m['role']}` is not a chat role daytwo sends")
            return None
        try:
            names |= state.sandbox.compile(m["content"]).names
        except TemplateRefused as exc:
            state.skip(where, f"the template is refused by daytwo's sandbox: {exc}")
            return None
    return frozenset(names)


def _unique(name: str, taken: set[str]) -> str:
    if name not in taken:
        return name
    n = 2
    while f"{name}-{n}" in taken:
        n += 1
    return f"{name}-{n}"


# -- providers → targets ----------------------------------------------------------------------


def alias_for(provider_id: str, aliases: Mapping[str, str] | None = None) -> str | None:
    """The model alias a provider id maps to: the caller's mapping, else the model part of a
    model API's id (``openai:chat:gpt-4o-mini`` → ``gpt-4o-mini``), else None."""
    if aliases and provider_id in aliases:
        return aliases[provider_id]
    prefix, _, rest = provider_id.partition(":")
    if prefix not in MODEL_PROVIDERS or not rest:
        return None
    kind, _, model = rest.partition(":")
    if kind in _KINDS and model:
        rest = model
    return rest


def _targets(
    state: _Import, raw: Any, key: str, prompts: list[_Prompt]
) -> list[tuple[dict[str, Any], _Prompt]]:
    entries: list[tuple[str, Any]]
    if raw is None:
        raise SuiteError(key, "required key is missing")
    if isinstance(raw, str):
        entries = [(key, raw)]
    elif isinstance(raw, list):
        entries = [(f"{key}[{i}]", p) for i, p in enumerate(raw)]
    else:
        raise SuiteError(key, "expected a provider id or a list of providers")
    providers = [p for where, e in entries if (p := _provider(state, e, where)) is not None]
    out: list[tuple[dict[str, Any], _Prompt]] = []
    taken: set[str] = set()
    for label, alias, params, only in providers:
        for prompt in prompts:
            if only is not None and prompt.label not in only:
                continue
            if len(prompts) == 1:
                name = label
            elif len(providers) == 1:
                name = prompt.label
            else:
                name = f"{label} / {prompt.label}"
            name = _unique(name, taken)
            taken.add(name)
            target: dict[str, Any] = {"id": name, "model": alias}
            if params:
                target["params"] = params
            target["messages"] = prompt.messages
            out.append((target, prompt))
    return out


def _provider(
    state: _Import, entry: Any, where: str
) -> tuple[str, str, dict[str, Any], set[str] | None] | None:
    """(label, alias, params, the prompt labels it is limited to) of one provider entry."""
    config: Mapping[str, Any] = {}
    only: set[str] | None = None
    label: str | None = None
    if isinstance(entry, Mapping) and "id" not in entry and len(entry) == 1:
        ((pid, body),) = entry.items()  # the older {provider_id: {config: ...}} form
        entry = {"id": pid, **(body if isinstance(body, Mapping) else {})}
    if isinstance(entry, Mapping):
        pid = entry.get("id")
        label = entry.get("label")
        config = entry.get("config") or {}
        if isinstance(entry.get("prompts"), list):
            only = {str(p) for p in entry["prompts"]}
        for k in entry:
            if k not in ("id", "label", "config", "prompts"):
                state.skip(f"{where}.{k}", "not carried")
    else:
        pid = entry
    if not isinstance(pid, str) or not pid:
        state.skip(where, "expected a provider id")
        return None
    alias = alias_for(pid, state.aliases)
    if alias is None:
        if state.fallback_model is None:
            state.unmapped.append(pid)
            state.skip(where, f"`{pid}` is not a model API: no daytwo alias (pass --model)")
            return None
        alias = state.fallback_model
        state.skip(where, f"`{pid}` is not a model API: run as alias `{alias}` (--model)")
    params: dict[str, Any] = {}
    for k, v in config.items():
        if k in PARAMS:
            params[k] = v
        else:
            state.skip(f"{where}.config.{k}", "not a request parameter: set it in daytwo.yaml")
    return str(label or pid), alias, params, only


# -- tests ------------------------------------------------------------------------------------


def _tests(state: _Import, raw: Any) -> list[tuple[str, Any]]:
    """The test entries with their key paths, files read."""
    if raw is None:
        return []
    if isinstance(raw, str):
        return _test_file(state, raw, "tests")
    if not isinstance(raw, list):
        raise SuiteError("tests", "expected a list of tests or a file:// reference")
    out: list[tuple[str, Any]] = []
    for i, entry in enumerate(raw):
        if isinstance(entry, str):
            out += _test_file(state, entry, f"tests[{i}]")
        else:
            out.append((f"tests[{i}]", entry))
    return out


def _test_file(state: _Import, ref: str, where: str) -> list[tuple[str, Any]]:
    if not ref.startswith("file://"):
        state.skip(where, f"`{ref}`: only file:// test files are read")
        return []
    paths = _files(state, ref)
    if not paths:
        state.skip(where, f"{ref}: no file matches")
    out: list[tuple[str, Any]] = []
    for path in paths:
        suffix = path.suffix.lower()
        if not path.is_file():
            raise SuiteError(where, f"{ref}: file not found")
        if suffix == ".csv":
            rows: Any = _csv(_text(path, where))
        elif suffix in (".json", ".jsonl", ".yaml", ".yml"):
            rows = _parsed(path, where)
        else:
            state.skip(where, f"{path.name}: tests from {suffix or 'this'} files are not read")
            continue
        if isinstance(rows, Mapping):
            rows = [rows]
        if not isinstance(rows, list):
            raise SuiteError(where, f"{path.name}: expected a list of tests")
        out += [(f"{path.name}[{i}]", row) for i, row in enumerate(rows)]
    return out


def _csv(text: str) -> list[dict[str, Any]]:
    """promptfoo's CSV test rows: variables, ``__expected*`` assertions, ``__description``,
    ``__metric`` (the row's assertions' metric), ``__threshold``, ``__metadata:*``, ..."""
    rows: list[dict[str, Any]] = []
    for record in csv.DictReader(text.splitlines()):
        row: dict[str, Any] = {"vars": {}, "assert": []}
        for column, cell in record.items():
            value = cell or ""
            if column is None:
                continue
            if re.fullmatch(r"__expected\d*", column):
                if value.strip():
                    row["assert"].append(_expected(value))
            elif column == "__description":
                row["description"] = value
            elif column == "__metric":
                row["metric"] = value
            elif column == "__threshold":
                if value.strip():
                    row["threshold"] = value
            elif column.startswith("__"):
                if value.strip():
                    row.setdefault("other", {})[column] = value
            else:
                row["vars"][column] = value
        metric = row.pop("metric", "")
        if metric:
            for a in row["assert"]:
                a.setdefault("metric", metric)
        rows.append(row)
    return rows


def _expected(cell: str) -> dict[str, Any]:
    kind = cell.split(":", 1)[0].strip().removeprefix("not-")
    if ":" in cell and kind in _CODE_TYPES:
        return {"type": "javascript", "value": cell.split(":", 1)[1].strip()}
    return expected_assertion(cell)


def _default(
    state: _Import, raw: Mapping[str, Any]
) -> tuple[dict[str, Any], list[tuple[str, Any]], dict[str, str]]:
    """``defaultTest`` as daytwo's (vars, untemplated assertions), the assertions to copy into
    each test (their values use the test's variables), and the grader it names."""
    out: dict[str, Any] = {}
    grader: dict[str, str] = {}
    for k in raw:
        if k not in ("vars", "assert", "options"):
            state.skip(f"defaultTest.{k}", "not carried")
    variables = _vars(state, raw.get("vars") or {}, "defaultTest.vars")
    if len(variables) > 1:
        state.skip("defaultTest.vars", "array variables are not expanded in defaultTest")
    if variables and variables[0]:
        out["vars"] = variables[0]
    options = raw.get("options") or {}
    for k, v in options.items():
        if k == "provider":
            grader = _grader(state, v, "defaultTest.options.provider")
        else:
            state.skip(f"defaultTest.options.{k}", "not carried")
    fixed: list[dict[str, Any]] = []
    per_test: list[tuple[str, Any]] = []
    for j, a in enumerate(_assert_list(state, raw.get("assert"), "defaultTest.assert")):
        where = f"defaultTest.assert[{j}]"
        if _templated(a):
            per_test.append((where, a))
            continue
        got = _assertion(state, a, where, None)
        fixed += got
    if fixed:
        out["assert"] = fixed
    return out, per_test, grader


def _grader(state: _Import, value: Any, where: str) -> dict[str, str]:
    """The judge (and embedding) aliases an ``options.provider`` names."""
    ids: dict[str, Any] = {}
    if isinstance(value, str):
        ids["judge"] = value
    elif isinstance(value, Mapping):
        if "id" in value:
            ids["judge"] = value["id"]
        if isinstance(value.get("text"), Mapping | str):
            ids["judge"] = value["text"]
        if isinstance(value.get("embedding"), Mapping | str):
            ids["embedding"] = value["embedding"]
    out: dict[str, str] = {}
    for role, pid in ids.items():
        if isinstance(pid, Mapping):
            pid = pid.get("id")
        alias = alias_for(pid, state.aliases) if isinstance(pid, str) else None
        if alias is None:
            state.skip(where, f"`{pid}` is not a model API: no daytwo alias")
        else:
            out[role] = alias
    return out


def _test(
    state: _Import,
    raw: Any,
    where: str,
    default_vars: Mapping[str, Any],
    per_test: list[tuple[str, Any]],
) -> list[dict[str, Any]]:
    """One promptfoo test as daytwo tests (several when array variables expand)."""
    if not isinstance(raw, Mapping):
        state.skip(where, "expected a mapping (vars, assert, ...)")
        return []
    judge: str | None = None
    for k, v in raw.items():
        if k in ("vars", "assert", "description"):
            continue
        if k == "options" and isinstance(v, Mapping):
            for ok, ov in v.items():
                if ok == "provider":
                    judge = _grader(state, ov, f"{where}.options.provider").get("judge")
                else:
                    state.skip(f"{where}.options.{ok}", "not carried")
        elif k == "threshold":
            state.skip(
                f"{where}.threshold",
                "a test-level score threshold is not carried "
                "(daytwo: an item passes when every assertion passes)",
            )
        elif k == "other":  # CSV columns
            for column in v:
                state.skip(f"{where}.{column}", "not carried")
        else:
            state.skip(f"{where}.{k}", "not carried")
    out: list[dict[str, Any]] = []
    for variables in _vars(state, raw.get("vars") or {}, f"{where}.vars"):
        scope = {**default_vars, **variables}
        asserts: list[dict[str, Any]] = []
        for j, a in enumerate(_assert_list(state, raw.get("assert"), f"{where}.assert")):
            asserts += _assertion(state, a, f"{where}.assert[{j}]", scope)
        for w, a in per_test:
            asserts += _assertion(state, a, w, scope)
        test: dict[str, Any] = {}
        if isinstance(raw.get("description"), str) and raw["description"]:
            test["description"] = raw["description"]
        test["vars"] = variables
        if asserts:
            test["assert"] = asserts
        if judge is not None:
            test["options"] = {"provider": judge}
        out.append(test)
    return out


def _vars(state: _Import, raw: Any, where: str) -> list[dict[str, Any]]:
    """The variable sets of one test: ``file://`` values read, arrays expanded (promptfoo makes
    one test per combination)."""
    if isinstance(raw, str) and raw.startswith("file://"):
        raw = _load_one(state, raw, where)
    if not isinstance(raw, Mapping):
        raise SuiteError(where, "expected a mapping of variables")
    choices: list[list[tuple[str, Any]]] = []
    for name, value in raw.items():
        values = value if isinstance(value, list) else [value]
        loaded = []
        for v in values:
            got = _var_value(state, v, f"{where}.{name}")
            loaded += got
        if loaded:
            choices.append([(str(name), v) for v in loaded])
    return [dict(combo) for combo in itertools.product(*choices)]


def _var_value(state: _Import, value: Any, where: str) -> list[Any]:
    if not (isinstance(value, str) and value.startswith("file://")):
        return [value]
    out: list[Any] = []
    for path in _files(state, value):
        suffix = path.suffix.lower()
        if not path.is_file():
            state.skip(where, f"{value}: file not found")
        elif suffix in (".json", ".yaml", ".yml"):
            out.append(_parsed(path, where))
        elif suffix in (".txt", ".md", ".csv", ".html", ".xml", ""):
            out.append(_text(path, where))
        else:
            state.skip(where, f"{path.name}: {suffix} variables (code, images) are not carried")
    return out


def _assert_list(state: _Import, raw: Any, where: str) -> list[Any]:
    if raw is None:
        return []
    if isinstance(raw, str) and raw.startswith("file://"):
        raw = _load_one(state, raw, where)
    if not isinstance(raw, list):
        state.skip(where, "expected a list of assertions")
        return []
    return raw


def _templated(raw: Any) -> bool:
    return isinstance(raw, Mapping) and isinstance(raw.get("value"), str) and "{{" in raw["value"]


def _assertion(
    state: _Import, raw: Any, where: str, scope: Mapping[str, Any] | None
) -> list[dict[str, Any]]:
    """One promptfoo assertion as daytwo assertions (an ``assert-set`` without a threshold
    flattens into its members); none when it cannot be carried (reported)."""
    if isinstance(raw, Mapping) and isinstance(raw.get("$ref"), str):
        raw = _ref(state, raw["$ref"], where)
    if not isinstance(raw, Mapping) or not isinstance(raw.get("type"), str):
        state.skip(where, "expected a mapping with `type`")
        return []
    written: str = raw["type"]
    kind = written.removeprefix("not-")
    if kind == "assert-set":
        if raw.get("threshold") is not None or written != kind:
            state.skip(where, "type assert-set with a threshold (or negated) is not carried")
            return []
        members = raw.get("assert") or []
        return [
            a
            for j, m in enumerate(members)
            for a in _assertion(state, m, f"{where}.assert[{j}]", scope)
        ]
    if kind in _CODE_TYPES or (kind == "python" and not _python_ref(raw.get("value"))):
        state.skip(where, f"type {written}: inline code is not run by daytwo")
        return []
    if kind not in assertions.KINDS:
        state.skip(where, f"type {written}: no daytwo assertion of this type")
        return []
    out: dict[str, Any] = {}
    for k, v in raw.items():
        if k not in _ASSERT_KEYS:
            state.skip(f"{where}.{k}", "not carried")
        elif k != "provider":
            out[k] = v
    if "provider" in raw:
        grader = _grader(state, raw["provider"], f"{where}.provider")
        if "judge" in grader:
            out["provider"] = grader["judge"]
    value = out.get("value")
    if isinstance(value, str):
        out["value"] = _value(state, kind, value, where, scope)
    try:
        assertions.parse_assertion(out, where, base_dir=state.suite_dir)
    except SuiteError as exc:
        state.skip(exc.where, exc.message)
        return []
    return [out]


def _ref(state: _Import, ref: str, where: str) -> Any:
    name = ref.removeprefix("#/assertionTemplates/")
    if name == ref or name not in state.templates:
        state.skip(where, f"$ref `{ref}`: no such assertion template")
        return None
    return state.templates[name]


def _python_ref(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("file://")


def _value(
    state: _Import, kind: str, value: str, where: str, scope: Mapping[str, Any] | None
) -> str:
    """A string value as daytwo reads it: file references re-rooted at the suite's folder,
    promptfoo's templating applied with the test's variables."""
    if value.startswith("file://"):
        name = value.removeprefix("file://")
        if kind == "python" and not re.search(r"\.py:\w+$", name):
            name += ":get_assert"  # promptfoo's default function name
        return "file://" + _relative(state.source_dir / name, state.suite_dir)
    if "{{" not in value or scope is None:
        return value
    try:
        template: Compiled = state.sandbox.compile(value)
        return template.render(scope)
    except TemplateRefused as exc:
        state.skip(
            f"{where}.value", f"the template cannot be rendered here ({exc}): kept as written"
        )
        return value


def _relative(path: Path, start: Path) -> str:
    return Path(os.path.relpath(path.resolve(), start.resolve())).as_posix()


# -- what the suite needs ---------------------------------------------------------------------


def _fill_missing(
    state: _Import,
    tests: list[dict[str, Any]],
    default_vars: Mapping[str, Any],
    targets: list[tuple[dict[str, Any], _Prompt]],
) -> None:
    """promptfoo renders an unset variable as empty text; daytwo refuses it at load, so the
    import sets it to "" (and says so)."""
    used = frozenset().union(*(p.names for _, p in targets))
    for i, test in enumerate(tests):
        for name in sorted(used - set(test["vars"]) - set(default_vars)):
            test["vars"][name] = ""
            state.skip(f"tests[{i}].vars.{name}", 'not set: promptfoo renders it empty, set to ""')


def _needs(
    suite: dict[str, Any],
    tests: list[dict[str, Any]],
    default: Mapping[str, Any],
    grader: Mapping[str, str],
    judge: str,
    embedding_model: str,
    state: _Import,
) -> None:
    """``judge.model`` and ``embedding_model`` when the suite's assertions need them."""
    needs: set[str] = set()
    for a in _all_asserts(tests, default):
        spec = assertions.parse_assertion(a, "import", base_dir=state.suite_dir)
        needs |= assertions.requirements(spec)
    if "judge" in needs:
        suite["judge"] = {"model": grader.get("judge", judge)}
        if "judge" not in grader:
            state.skip(
                "defaultTest.options.provider",
                f"no grader named: model-graded assertions use the alias `{judge}` (--judge)",
            )
    if "embeddings" in needs:
        suite["embedding_model"] = grader.get("embedding", embedding_model)


def _all_asserts(
    tests: Iterable[Mapping[str, Any]], default: Mapping[str, Any]
) -> Iterable[dict[str, Any]]:
    yield from default.get("assert", [])
    for t in tests:
        yield from t.get("assert", [])
