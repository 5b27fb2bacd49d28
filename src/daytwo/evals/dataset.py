"""Reading a suite's dataset file (JSONL, CSV, YAML) into raw test entries.

Every row becomes a mapping with the shape of a suite's ``tests`` entry (``vars``,
``expected``, ``context``, ``assert``, ``id``, ``description``, ``options``). A JSONL / YAML row
without ``vars`` is flat: every key but the reserved ones is a variable. CSV: every column is a
variable except ``expected``, ``context`` (a JSON list or one chunk), ``description``, ``id`` and
promptfoo's ``__expected`` / ``__expected1..n`` (one assertion each, written ``contains: foo``,
``icontains: foo``, ``regex: ...``, ``llm-rubric: ...``; plain text is ``equals``).

Rows are returned with the key path they are named by in errors: ``data/x.jsonl: [3]``.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson
import yaml

from daytwo.evals.model import SuiteError

#: libyaml's safe loader when PyYAML has it (a 1,000-case dataset: ~10x faster to read).
SAFE_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
#: The keys of a test entry that are not variables (a flat row's other keys are).
RESERVED = frozenset({"id", "description", "vars", "expected", "context", "assert", "options"})
#: ``__expected`` texts with one of these prefixes are that assertion type (``not-`` allowed);
#: ``grade:`` is promptfoo's older name of ``llm-rubric``. Any other text is ``equals``.
EXPECTED_TYPES = frozenset(
    {
        "equals",
        "contains",
        "icontains",
        "contains-any",
        "contains-all",
        "icontains-any",
        "icontains-all",
        "starts-with",
        "regex",
        "is-json",
        "contains-json",
        "is-refusal",
        "levenshtein",
        "rouge-n",
        "similar",
        "llm-rubric",
        "g-eval",
        "factuality",
        "model-graded-closedqa",
        "answer-relevance",
        "python",
    }
)
_EXPECTED = re.compile(r"^(not-)?([a-z][a-z-]*)\s*:\s*(.*)$", re.DOTALL)
_EXPECTED_COLUMN = re.compile(r"^__expected[0-9]*$")


def read_rows(path: Path, shown: str) -> list[tuple[str, dict[str, Any]]]:
    """The rows of ``path`` (``shown``: the file as errors name it), each with its key path."""
    if not path.is_file():
        raise SuiteError(shown, "dataset file not found")
    suffix = path.suffix.lower()
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SuiteError(shown, f"cannot read the dataset: {exc}") from None
    if suffix == ".jsonl":
        rows = _jsonl(text, shown)
    elif suffix == ".csv":
        rows = _csv(text, shown)
    elif suffix in (".yaml", ".yml"):
        rows = _yaml(text, shown)
    else:
        raise SuiteError(shown, "a dataset is a .jsonl, .csv or .yaml file")
    return [(f"{shown}: [{i}]", _shape(row, f"{shown}: [{i}]")) for i, row in enumerate(rows)]


def _jsonl(text: str, shown: str) -> list[Any]:
    rows: list[Any] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rows.append(orjson.loads(line))
        except orjson.JSONDecodeError as exc:
            raise SuiteError(f"{shown}: line {number}", f"invalid JSON: {exc}") from None
    return rows


def _yaml(text: str, shown: str) -> list[Any]:
    try:
        data = yaml.load(text, Loader=SAFE_LOADER)  # noqa: S506  # the C safe loader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" line {mark.line + 1}" if mark is not None else ""
        raise SuiteError(shown, f"invalid YAML{at}") from None
    if not isinstance(data, list):
        raise SuiteError(shown, "a YAML dataset is a list of test entries")
    return data


def _csv(text: str, shown: str) -> list[Any]:
    reader = csv.DictReader(text.splitlines())
    rows: list[Any] = []
    for i, record in enumerate(reader):
        if None in record:
            raise SuiteError(f"{shown}: [{i}]", "the row has more cells than the header")
        row: dict[str, Any] = {"vars": {}}
        asserts: list[dict[str, Any]] = []
        for column, cell in record.items():
            if column is None:
                continue
            value = cell if cell is not None else ""
            if _EXPECTED_COLUMN.match(column):
                if value.strip():
                    asserts.append(expected_assertion(value))
            elif column == "context":
                row["context"] = _context_cell(value)
            elif column in ("expected", "description", "id"):
                if value != "":
                    row[column] = value
            else:
                row["vars"][column] = value
        if asserts:
            row["assert"] = asserts
        rows.append(row)
    return rows


def _context_cell(value: str) -> Any:
    text = value.strip()
    if text.startswith("["):
        try:
            parsed = orjson.loads(text)
        except orjson.JSONDecodeError:
            return value
        if isinstance(parsed, list) and all(isinstance(c, str) for c in parsed):
            return parsed
    return value


def expected_assertion(text: str) -> dict[str, Any]:
    """promptfoo's ``__expected`` cell as an assertion entry."""
    m = _EXPECTED.match(text.strip())
    if m is not None:
        negate, kind, rest = m.groups()
        if kind == "grade":
            kind = "llm-rubric"
        if kind in EXPECTED_TYPES:
            out: dict[str, Any] = {"type": f"{negate or ''}{kind}"}
            if rest.strip():
                out["value"] = rest.strip()
            return out
    return {"type": "equals", "value": text}


def _shape(row: Any, where: str) -> dict[str, Any]:
    if not isinstance(row, Mapping):
        raise SuiteError(where, "a dataset row is a mapping (vars, expected, assert, ...)")
    data = {str(k): v for k, v in row.items()}
    if "vars" in data:
        return data
    shaped = {k: v for k, v in data.items() if k in RESERVED}
    shaped["vars"] = {k: v for k, v in data.items() if k not in RESERVED}
    return shaped
