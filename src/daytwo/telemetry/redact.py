"""The redaction step captured prompts and answers pass before they go on a span.

A pure function of text: the secrets daytwo resolved (its registry) and well-known key shapes
(``sk-...``, ``dt2_sk_...``, ``AKIA...``, ``AIza...``) via :meth:`SecretRegistry.redact`, e-mail
addresses, then the operator's own patterns (``telemetry.traces.redact``), each match replaced
by ``[REDACTED]``. It runs on every string of a message separately, before truncation, so a
secret can neither be cut in half to slip past a pattern nor break the JSON around it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from daytwo.core.secrets import REDACTED, SecretRegistry

_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}")


class ContentRedactor:
    def __init__(self, secrets: SecretRegistry, patterns: Iterable[str] = ()) -> None:
        self._secrets = secrets
        # Compiled one by one: an operator's pattern may use numbered groups or backreferences
        # that one combined alternation would renumber.
        self._patterns = (_EMAIL, *(re.compile(p) for p in patterns))

    def __call__(self, text: str) -> str:
        text = self._secrets.redact(text)
        for pattern in self._patterns:
            text = pattern.sub(REDACTED, text)
        return text
