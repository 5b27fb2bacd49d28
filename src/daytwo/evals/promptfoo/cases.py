"""promptfoo's tests as daytwo tests: test files read (CSV with promptfoo's columns, JSON, JSONL,
YAML), ``file://`` variables inlined, array variables expanded, assertions carried with their
templated values rendered per test."""

from __future__ import annotations

import csv
import itertools
import os.path
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from daytwo.evals import assertions
from daytwo.evals.dataset import expected_assertion
from daytwo.evals.model import SuiteError
from daytwo.evals.promptfoo.source import Import, files, load_one, parsed, read_text
from daytwo.evals.promptfoo.targets import alias_for
from daytwo.prompts.sandbox import Compiled, TemplateRefused

#: Assertion keys daytwo reads; others (``transform``, ``contextTransform``) are reported.
_ASSERT_KEYS = ("type", "value", "threshold", "weight", "metric", "provider", "config")
_CODE_TYPES = frozenset({"javascript", "fn", "eval"})


def read_tests(state: Import, raw: Any) -> list[tuple[str, Any]]:
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


def _test_file(state: Import, ref: str, where: str) -> list[tuple[str, Any]]:
    if not ref.startswith("file://"):
        state.skip(where, f"`{ref}`: only file:// test files are read")
        return []
    paths = files(state, ref)
    if not paths:
        state.skip(where, f"{ref}: no file matches")
    out: list[tuple[str, Any]] = []
    for path in paths:
        suffix = path.suffix.lower()
        if not path.is_file():
            raise SuiteError(where, f"{ref}: file not found")
        if suffix == ".csv":
            rows: Any = _csv(read_text(path, where))
        elif suffix in (".json", ".jsonl", ".yaml", ".yml"):
            rows = parsed(path, where)
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


def read_default(
    state: Import, raw: Mapping[str, Any]
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


def _grader(state: Import, value: Any, where: str) -> dict[str, str]:
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


def convert_test(
    state: Import,
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


def _vars(state: Import, raw: Any, where: str) -> list[dict[str, Any]]:
    """The variable sets of one test: ``file://`` values read, arrays expanded (promptfoo makes
    one test per combination)."""
    if isinstance(raw, str) and raw.startswith("file://"):
        raw = load_one(state, raw, where)
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


def _var_value(state: Import, value: Any, where: str) -> list[Any]:
    if not (isinstance(value, str) and value.startswith("file://")):
        return [value]
    out: list[Any] = []
    for path in files(state, value):
        suffix = path.suffix.lower()
        if not path.is_file():
            state.skip(where, f"{value}: file not found")
        elif suffix in (".json", ".yaml", ".yml"):
            out.append(parsed(path, where))
        elif suffix in (".txt", ".md", ".csv", ".html", ".xml", ""):
            out.append(read_text(path, where))
        else:
            state.skip(where, f"{path.name}: {suffix} variables (code, images) are not carried")
    return out


def _assert_list(state: Import, raw: Any, where: str) -> list[Any]:
    if raw is None:
        return []
    if isinstance(raw, str) and raw.startswith("file://"):
        raw = load_one(state, raw, where)
    if not isinstance(raw, list):
        state.skip(where, "expected a list of assertions")
        return []
    return raw


def _templated(raw: Any) -> bool:
    return isinstance(raw, Mapping) and isinstance(raw.get("value"), str) and "{{" in raw["value"]


def _assertion(
    state: Import, raw: Any, where: str, scope: Mapping[str, Any] | None
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


def _ref(state: Import, ref: str, where: str) -> Any:
    name = ref.removeprefix("#/assertionTemplates/")
    if name == ref or name not in state.templates:
        state.skip(where, f"$ref `{ref}`: no such assertion template")
        return None
    return state.templates[name]


def _python_ref(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("file://")


def _value(
    state: Import, kind: str, value: str, where: str, scope: Mapping[str, Any] | None
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
