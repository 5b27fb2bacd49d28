"""The prompts room's errors: a load problem (files), or a caller's bad reference/variables."""

from __future__ import annotations

from daytwo.core.errors import InvalidRequest


class PromptLoadError(Exception):
    """A prompt directory that cannot be served, with one line per problem (``file: key.path:
    what was expected``). Like :class:`~daytwo.core.errors.ConfigError`: never a call's error."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class PromptError(InvalidRequest):
    """A call's prompt reference or variables are wrong (400, naming the field)."""
