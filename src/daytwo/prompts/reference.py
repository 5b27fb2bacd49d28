"""How a call names a prompt: ``prompt:NAME``, ``prompt:NAME@LABEL``, ``prompt:NAME@vN`` (the
``model`` field), or the same without ``prompt:`` in the ``X-Daytwo-Prompt`` header."""

from __future__ import annotations

import re
from dataclasses import dataclass

from daytwo.prompts.errors import PromptError

#: What a ``model`` that names a prompt starts with.
PREFIX = "prompt:"
_REF = re.compile(
    r"^([a-z0-9][a-z0-9_-]{0,63})(?:@(?:v([1-9][0-9]{0,8})|([A-Za-z0-9][A-Za-z0-9_.-]{0,63})))?$"
)


@dataclass(frozen=True, slots=True)
class PromptRef:
    name: str
    label: str | None = None
    version: int | None = None


def parse_reference(text: str, *, param: str = "model") -> PromptRef:
    """``NAME[@label|@vN]`` (``prompt:`` prefix optional) → a reference; a 400 naming ``param``
    when it is not one."""
    body = text[len(PREFIX) :] if text.startswith(PREFIX) else text
    m = _REF.match(body)
    if m is None:
        raise PromptError(
            f"Invalid prompt reference {text!r}: expected `prompt:NAME`, `prompt:NAME@LABEL` or "
            "`prompt:NAME@vN`.",
            param=param,
            code="invalid_prompt_reference",
        )
    name, version, label = m.groups()
    return PromptRef(name, label, int(version) if version else None)
