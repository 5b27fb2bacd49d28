"""Model-name rules shared by the price book and the model lifecycle catalog.

Pure string functions, no state: a dated snapshot suffix (``-2024-07-18``, ``-20241022``,
``@20241022``, ``-latest``) and the provider names that mean a catalog provider by another name.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType

#: Provider names that mean a catalog provider by another name (price book: Azure OpenAI bills
#: like OpenAI, so ``azure`` means ``openai`` there).
PROVIDER_ALIASES: Mapping[str, str] = MappingProxyType(
    {
        "gemini": "google",
        "azure_openai": "openai",
        "azure": "openai",
        "together_ai": "together",
        "togetherai": "together",
        "mistralai": "mistral",
    }
)
DATED = re.compile(r"(?:-\d{4}-\d{2}-\d{2}|[-@]\d{8}|-latest)$")


def strip_dated(name: str) -> str | None:
    """``name`` without its date or ``-latest`` suffix, or None when it has none."""
    found = DATED.search(name)
    if found is None or found.start() == 0:
        return None
    return name[: found.start()]
