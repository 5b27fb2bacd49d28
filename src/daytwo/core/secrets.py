"""Secret references (``env:NAME``, ``file:/path``) and the redactor that keeps values out of text.

Config files never hold secret values, only references. A resolved value is registered with a
:class:`SecretRegistry` so that any text leaving daytwo (logs, error messages, ledger fields) can
be scrubbed of it with :meth:`SecretRegistry.redact`.
"""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path

REDACTED = "[REDACTED]"

#: Shapes of well-known provider keys, scrubbed even when they were never registered
#: (a client pasting a key into a prompt, an upstream echoing one back).
_KEY_SHAPES = re.compile(
    r"(sk-(?:proj-|ant-(?:api\d\d-)?)?[A-Za-z0-9_\-]{16,})"
    r"|(AIza[0-9A-Za-z_\-]{30,})"
    r"|(AKIA[0-9A-Z]{16})"
    r"|(dt2_[a-z]+_[A-Za-z0-9]{16,})"
)


class SecretError(ValueError):
    """A reference is malformed or cannot be resolved. The message never holds the value."""


def parse_ref(ref: str) -> tuple[str, str]:
    """Split ``env:NAME`` / ``file:/path`` into its scheme and target, or raise SecretError."""
    scheme, sep, target = ref.partition(":")
    if not sep or scheme not in ("env", "file") or not target:
        raise SecretError(
            "a secret must be a reference like `env:OPENAI_API_KEY` or `file:/run/secrets/key`, "
            "never a value"
        )
    return scheme, target


class SecretRegistry:
    """Resolves references and remembers every value it handed out, to redact them later."""

    def __init__(self) -> None:
        self._values: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self._lock = threading.Lock()

    def resolve(self, ref: str) -> str:
        scheme, target = parse_ref(ref)
        if scheme == "env":
            value = os.environ.get(target)
            if value is None:
                raise SecretError(f"environment variable {target} is not set")
        else:
            try:
                value = Path(target).read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise SecretError(f"cannot read secret file {target}: {exc.strerror}") from None
        if not value:
            raise SecretError(f"secret {ref} is empty")
        self.register(value)
        return value

    def register(self, value: str) -> None:
        if len(value) < 4:  # too short to scrub without mangling ordinary text
            return
        with self._lock:
            if value not in self._values:
                self._values.add(value)
                alts = sorted(self._values, key=len, reverse=True)
                self._pattern = re.compile("|".join(re.escape(v) for v in alts))

    def redact(self, text: str) -> str:
        pattern = self._pattern
        if pattern is not None:
            text = pattern.sub(REDACTED, text)
        return _KEY_SHAPES.sub(REDACTED, text)


def redact_key_shapes(text: str) -> str:
    """Scrub well-known key shapes from text when no registry is at hand."""
    return _KEY_SHAPES.sub(REDACTED, text)
