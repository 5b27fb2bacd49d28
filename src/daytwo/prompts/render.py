"""A version rendered for one call: variables checked against their declarations, templates
rendered in the sandbox, parameters attached. Results are cached per (version hash, variables)
by :class:`~daytwo.prompts.store.PromptSet`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from daytwo.core.types import json_type_name
from daytwo.prompts.errors import PromptError
from daytwo.prompts.sandbox import TemplateRefused
from daytwo.prompts.spec import PromptVersion, type_ok

#: The request field a call's variables travel in (every door).
VARIABLES_FIELD = "variables"


@dataclass(frozen=True, slots=True)
class Rendered:
    """The prompt's messages (OpenAI Chat shape) and the parameters it sets."""

    messages: tuple[dict[str, str], ...]
    params: Mapping[str, Any]


def check_variables(version: PromptVersion, given: Any) -> dict[str, Any]:
    """The variables to render with (defaults filled in); a 400 naming the variable when one
    is unknown, missing or of the wrong type."""
    if given is None:
        given = {}
    if not isinstance(given, dict):
        raise PromptError(
            f"Invalid type for '{VARIABLES_FIELD}': expected an object, but got "
            f"{json_type_name(given)} instead.",
            param=VARIABLES_FIELD,
            code="invalid_type",
        )
    declared = version.spec.variables
    where = f"prompt `{version.name}` v{version.version}"
    for key in given:
        if key not in declared:
            known = ", ".join(sorted(declared)) or "none"
            raise PromptError(
                f"Unknown variable '{key}': {where} declares {known}.",
                param=f"{VARIABLES_FIELD}.{key}",
                code="unknown_variable",
            )
    out: dict[str, Any] = {}
    for key, var in declared.items():
        value = given.get(key)
        if value is None:
            if var.is_required and var.default is None:
                raise PromptError(
                    f"Missing required variable '{key}' ({var.type}) of {where}.",
                    param=f"{VARIABLES_FIELD}.{key}",
                    code="missing_variable",
                )
            out[key] = var.default
            continue
        if not type_ok(var.type, value):
            raise PromptError(
                f"Invalid type for variable '{key}': expected {var.type}, but got "
                f"{json_type_name(value)} instead.",
                param=f"{VARIABLES_FIELD}.{key}",
                code="invalid_variable_type",
            )
        out[key] = value
    return out


def render(version: PromptVersion, variables: Mapping[str, Any]) -> Rendered:
    """Render a version's templates with checked variables."""
    messages: list[dict[str, str]] = []
    try:
        if version.system is not None:
            messages.append({"role": "system", "content": version.system.render(variables)})
        for spec, compiled in zip(version.spec.messages, version.templates, strict=True):
            messages.append({"role": spec.role, "content": compiled.render(variables)})
    except TemplateRefused as exc:
        raise PromptError(
            f"Prompt `{version.name}` v{version.version} could not be rendered: {exc}",
            param=VARIABLES_FIELD,
            code="prompt_render_failed",
        ) from None
    return Rendered(tuple(messages), version.spec.params())
