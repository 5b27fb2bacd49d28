"""The redaction step captured prompts and answers pass before they go on a span.

The same detectors as the audit trail's redacted capture (:mod:`daytwo.core.redact`): the
secrets daytwo resolved (its registry), well-known key shapes, e-mail addresses, phone numbers,
payment cards (Luhn), IBANs (mod 97) and national ids, then the organisation's own patterns
(``audit.redaction.patterns``) and the operator's trace patterns (``telemetry.traces.redact``);
each match is replaced by ``[REDACTED:<detector>]``. It runs on every string of a message
separately, before truncation, so a secret can neither be cut in half to slip past a pattern nor
break the JSON around it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from daytwo.core.redact import DEFAULT_DETECTORS, Redactor
from daytwo.core.secrets import SecretRegistry


class ContentRedactor:
    def __init__(
        self,
        secrets: SecretRegistry,
        patterns: Iterable[str] = (),
        *,
        named: Sequence[tuple[str, str]] = (),
        detectors: Sequence[str] = DEFAULT_DETECTORS,
    ) -> None:
        # Each pattern is its own detector: an operator's pattern may use numbered groups or
        # backreferences that one combined alternation would renumber.
        own = [(f"trace_{i}", p) for i, p in enumerate(patterns)]
        self._redactor = Redactor(detectors, patterns=[*named, *own], secrets=secrets)

    def __call__(self, text: str) -> str:
        return self._redactor.text(text).text
