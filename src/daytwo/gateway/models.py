"""``GET /v1/models`` and ``GET /v1/models/{id}``: the model aliases a caller may use.

OpenAI's SDKs (``client.models.list()`` / ``.retrieve(id)``) get OpenAI's shape; Anthropic's
SDK, which sends ``anthropic-version`` and its key as ``x-api-key``, gets Anthropic's
(``{"data": [{"type": "model", ...}], "has_more": false, ...}``). The gateway authenticates the
caller first (a key is needed when ``gateway.require_keys`` is on) and lists only the aliases
the key may use; an alias the key may not use is "not found", exactly like one that does not
exist, so a key learns nothing about the others.
"""

from __future__ import annotations

from typing import Any, Literal
from urllib.parse import unquote

from daytwo.core.errors import ModelNotFound

LIST_PATH = "/v1/models"
ONE_PREFIX = "/v1/models/"

Shape = Literal["openai", "anthropic"]
OPENAI: Shape = "openai"
ANTHROPIC: Shape = "anthropic"

#: Aliases have no creation date of their own; one fixed date keeps answers stable.
CREATED = 1_700_000_000
CREATED_AT = "2023-11-14T22:13:20Z"


def _openai(alias: str) -> dict[str, Any]:
    return {"id": alias, "object": "model", "created": CREATED, "owned_by": "daytwo"}


def _anthropic(alias: str) -> dict[str, Any]:
    return {"type": "model", "id": alias, "display_name": alias, "created_at": CREATED_AT}


def answer(shape: Shape, path: str, aliases: list[str]) -> tuple[int, dict[str, Any]]:
    """The list (``path`` is :data:`LIST_PATH`) or one model (``path`` under
    :data:`ONE_PREFIX`; the id is percent-decoded, as SDKs encode ``/`` in it)."""
    one = _anthropic if shape == ANTHROPIC else _openai
    if path == LIST_PATH:
        data = [one(a) for a in aliases]
        if shape == ANTHROPIC:
            return 200, {
                "data": data,
                "has_more": False,
                "first_id": aliases[0] if aliases else None,
                "last_id": aliases[-1] if aliases else None,
            }
        return 200, {"object": "list", "data": data}
    model = unquote(path[len(ONE_PREFIX) :])
    if model not in aliases:
        raise ModelNotFound(model)
    return 200, one(model)
