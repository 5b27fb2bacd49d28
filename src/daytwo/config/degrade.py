"""Degraded mode's vocabulary: the modes a switch may put a scope in instead of refusing its
calls (control/switches.py), what they need, and the ``degrade:`` block of an alert rule's
``action: degrade``."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

#: What a degraded scope's calls get (``kill`` refuses them).
DEGRADE_MODES = ("static", "cached", "alias")
#: The message of a ``static`` degrade that names none (and of a ``cached`` one's misses).
DEFAULT_DEGRADED_MESSAGE = "This assistant is temporarily unavailable. Please try again later."
#: The longest degraded-mode message (it is sent to every caller in the scope).
MAX_MESSAGE_CHARS = 4000


def degrade_spec(
    mode: str, message: str | None, alias: str | None
) -> tuple[str | None, str | None]:
    """(message, alias) of a valid degraded mode, or ValueError naming what is wrong."""
    if mode not in DEGRADE_MODES:
        raise ValueError(f"mode: expected one of {', '.join(DEGRADE_MODES)}, got {mode!r}")
    if message is not None:
        message = message.strip()
        if not message:
            raise ValueError("message: must not be empty")
        if len(message) > MAX_MESSAGE_CHARS:
            raise ValueError(f"message: at most {MAX_MESSAGE_CHARS} characters")
    if mode == "alias":
        if not alias or not alias.strip():
            raise ValueError("mode alias needs `alias`: the safe alias to route the calls to")
        if message is not None:
            raise ValueError("message: mode alias answers from the safe alias, not a message")
        return None, alias.strip()
    if alias is not None:
        raise ValueError(f"alias: mode {mode} answers with a message, not from an alias")
    return message, None


class DegradeAction(BaseModel):
    """How an ``action: degrade`` rule degrades its scope (control/switches.py)."""

    mode: Literal["static", "cached", "alias"]
    message: Annotated[str, Field(min_length=1, max_length=MAX_MESSAGE_CHARS)] | None = None
    alias: Annotated[str, Field(min_length=1)] | None = None

    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="after")
    def _fits_mode(self) -> DegradeAction:
        degrade_spec(self.mode, self.message, self.alias)
        return self
