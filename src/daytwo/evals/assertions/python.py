"""``python``: a check written as a named function in the user's own module.

``value`` names it -- ``file://checks/refunds.py:mentions_policy`` (a file, relative to the
suite) or ``my_checks.refunds:mentions_policy`` (a module under the suite's directory, else an
installed one). The module is imported with importlib when the suite loads; text is never
``eval``'d, so inline code is refused at load with a message saying how to name a function.

The function is called as ``fn(output, context)`` (promptfoo's ``get_assert`` shape): ``output``
is the answer's text, ``context`` a dict with ``vars``, ``expected``, ``question``,
``context`` (the reference chunks), ``test`` (id, description, vars) and ``config``. It may be
``async``. It returns a bool, a number (a score: it passes at or above ``threshold``, or above 0
without one) or a mapping ``{"pass": bool, "score": float, "reason": str}``. An exception it
raises makes the grade an error, not a failure.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import re
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

from daytwo.evals.assertions.base import Kind, Place, Verdict, binary, error
from daytwo.evals.model import AssertionSpec, GradeContext

_REF = re.compile(
    r"^(?:file://(?P<file>[^\n:]+\.py)|(?P<module>[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*))"
    r":(?P<fn>[A-Za-z_]\w*)$"
)
_HOW = (
    "write the check as a function in a module and name it, e.g. "
    "`value: file://checks.py:my_check` (daytwo imports it; it never runs text as code)"
)


def _parse(value: Any, place: Place) -> Callable[..., Any]:
    if not isinstance(value, str):
        raise place.error("value", f"expected a function reference: {_HOW}")
    m = _REF.match(value.strip())
    if m is None:
        raise place.error("value", f"inline Python code is not supported: {_HOW}")
    base = place.base_dir
    try:
        if m.group("file"):
            module = _load_file(base / m.group("file"), place)
        else:
            module = _load_module(m.group("module"), base, place)
    except SyntaxError as exc:
        raise place.error("value", f"cannot import {value}: {exc}") from None
    except ImportError as exc:
        raise place.error("value", f"cannot import {value}: {exc}") from None
    except Exception as exc:  # the user's module failed at import; name it
        raise place.error(
            "value", f"importing {value} raised {type(exc).__name__}: {exc}"
        ) from None
    fn = getattr(module, m.group("fn"), None)
    if not callable(fn):
        raise place.error("value", f"{module.__name__} has no function `{m.group('fn')}`")
    return fn  # type: ignore[no-any-return]


def _load_file(path: Path, place: Place) -> ModuleType:
    path = path.resolve()
    if not path.is_file():
        raise place.error("value", f"no such file: {path}")
    # One module per file, under a name of its own, kept in sys.modules like any import.
    name = "daytwo_check_" + hashlib.sha256(str(path).encode()).hexdigest()[:16]
    loaded = sys.modules.get(name)
    if loaded is not None:
        return loaded
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise place.error("value", f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def _load_module(dotted: str, base: Path, place: Place) -> ModuleType:
    rel = Path(*dotted.split("."))
    for candidate in (base / rel.with_suffix(".py"), base / rel / "__init__.py"):
        if candidate.is_file():
            return _load_file(candidate, place)
    return importlib.import_module(dotted)


async def _python(spec: AssertionSpec, ctx: GradeContext) -> Verdict:
    case = ctx.case
    context = {
        "vars": dict(case.vars),
        "expected": case.expected,
        "question": ctx.question,
        "context": list(case.context),
        "test": {"id": case.id, "description": case.description, "vars": dict(case.vars)},
        "config": dict(spec.config),
    }
    fn: Callable[..., Any] = spec.parsed
    try:
        result = fn(ctx.output.text, context)
        if inspect.isawaitable(result):
            result = await result
    except Exception as exc:  # the user's check failed: an error, not a failure
        return error(f"the check raised {type(exc).__name__}: {exc}")
    return _verdict(result, spec.threshold)


def _verdict(result: Any, threshold: float | None) -> Verdict:
    if isinstance(result, bool):
        return binary(result, "the check returned " + str(result))
    if isinstance(result, int | float):
        return _number(float(result), threshold, "the check's score")
    if isinstance(result, Mapping):
        reason = str(result.get("reason", "")) or "the check's verdict"
        passed, score = result.get("pass", result.get("pass_")), result.get("score")
        if isinstance(passed, bool):
            if isinstance(score, int | float) and not isinstance(score, bool):
                s = min(1.0, max(0.0, float(score)))
                return Verdict(passed and (threshold is None or s >= threshold), s, reason)
            return binary(passed, reason)
        if isinstance(score, int | float) and not isinstance(score, bool):
            return _number(float(score), threshold, reason)
    return error(
        f"the check returned {type(result).__name__}; expected a bool, a number or "
        '{"pass": bool, "score": float, "reason": str}'
    )


def _number(score: float, threshold: float | None, reason: str) -> Verdict:
    passed = score >= threshold if threshold is not None else score > 0
    return Verdict(passed, min(1.0, max(0.0, score)), f"{reason}: {score:g}")


KINDS = (Kind("python", _python, parse=_parse),)
