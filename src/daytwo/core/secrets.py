"""Secret references (``env:NAME``, ``file:/path``) and the redactor that keeps values out of text.

Config files never hold secret values, only references. A resolved value is registered with a
:class:`SecretRegistry` so that any text leaving daytwo (logs, error messages, ledger fields,
whatever an upstream sends back) can be scrubbed of it with :meth:`SecretRegistry.redact`.

Redaction catches a registered value whole and also in pieces: a value of 16 characters or more
is found by its aligned 8-character blocks, so any run of 15 or more of its characters (a key cut
by a truncation, or split by an upstream over two fields) is replaced, from the first to the last
character that still matches the value. Shorter pieces, and values transformed on the way
(base64, percent-encoding of characters a key does not have, a reversed string), are not
recognised. Text is redacted before it is truncated, never after: a cut first would leave a
piece behind.
"""

from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass
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

#: Values at least this long are also found in pieces (by their blocks); shorter ones only whole.
PIECES_FROM = 16
#: The block length: a piece of ``2 x BLOCK - 1`` characters always holds one whole block.
BLOCK = 8
#: Values shorter than this are not registered: too short to scrub without mangling text.
MIN_SECRET = 4


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


def _blocks(value: str) -> list[tuple[str, int]]:
    """(block, offset in ``value``) for the blocks that find ``value`` and its pieces."""
    if len(value) < PIECES_FROM:
        return [(value, 0)]
    out = [(value[i : i + BLOCK], i) for i in range(0, len(value) - BLOCK + 1, BLOCK)]
    tail = len(value) - BLOCK
    if tail % BLOCK:
        out.append((value[tail:], tail))
    return out


@dataclass(frozen=True, slots=True)
class _Known:
    """What the registry knows at one moment, swapped whole when a value is added (readers
    never lock)."""

    #: Any block of any value.
    pattern: re.Pattern[str]
    #: block → every (value, offset) it occurs at
    where: dict[str, tuple[tuple[str, int], ...]]
    #: The values whole, as bytes (a quick look through an answer's bytes).
    whole: tuple[bytes, ...]


class SecretRegistry:
    """Resolves references and remembers every value it handed out, to redact them later."""

    def __init__(self) -> None:
        self._values: set[str] = set()
        self._known: _Known | None = None
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
        if len(value) < MIN_SECRET:
            return
        with self._lock:
            if value in self._values:
                return
            self._values.add(value)
            where: dict[str, list[tuple[str, int]]] = {}
            for v in self._values:
                for block, offset in _blocks(v):
                    where.setdefault(block, []).append((v, offset))
            alts = sorted(where, key=len, reverse=True)
            self._known = _Known(
                pattern=re.compile("|".join(re.escape(b) for b in alts)),
                where={b: tuple(at) for b, at in where.items()},
                whole=tuple(v.encode() for v in self._values),
            )

    @property
    def version(self) -> int:
        """Grows whenever a value is registered (caches of "known safe" text check it)."""
        return len(self._values)

    def redact(self, text: str) -> str:
        """``text`` without any registered value (whole or a piece of 15+ characters) and
        without well-known key shapes."""
        known = self._known
        if known is not None and known.pattern.search(text) is not None:
            text = _cut_out(text, known)
        return _KEY_SHAPES.sub(REDACTED, text)

    def leaks(self, text: str) -> bool:
        """Whether ``text`` holds a registered value or a piece of one (one regex search: cheap
        enough for every answer's identifiers). Key shapes are not looked for."""
        known = self._known
        return known is not None and known.pattern.search(text) is not None

    def in_bytes(self, data: bytes) -> bool:
        """Whether ``data`` holds a registered value whole (pieces are not looked for: this is
        the quick look through a whole answer)."""
        known = self._known
        if known is not None:
            for value in known.whole:
                if value in data:
                    return True
        return False


def _cut_out(text: str, known: _Known) -> str:
    """Replace every run of characters that matches a registered value, grown from each block
    found to as far as the characters keep matching the value on either side."""
    spans: list[tuple[int, int]] = []
    for m in known.pattern.finditer(text):
        start, end = m.span()
        for value, offset in known.where[m.group()]:
            i, j = start, offset
            while i > 0 and j > 0 and text[i - 1] == value[j - 1]:
                i, j = i - 1, j - 1
            k, n = end, offset + (end - start)
            while k < len(text) and n < len(value) and text[k] == value[n]:
                k, n = k + 1, n + 1
            spans.append((i, k))
    spans.sort()
    out: list[str] = []
    pos = 0
    cut_end = -1
    for start, end in spans:
        if start <= cut_end:  # overlaps the run being cut: grow it
            cut_end = max(cut_end, end)
            continue
        if cut_end >= 0:
            out.append(REDACTED)
            pos = cut_end
        out.append(text[pos:start])
        pos, cut_end = start, end
    if cut_end >= 0:
        out.append(REDACTED)
        pos = cut_end
    out.append(text[pos:])
    return "".join(out)


#: What every shape in _KEY_SHAPES starts with: a plain substring test before the regex.
_SHAPE_STARTS = ("sk-", "AIza", "AKIA", "dt2_")


def has_key_shape(text: str) -> bool:
    """Whether ``text`` holds a well-known key shape (cheap when it holds none of their
    prefixes, as identifiers almost never do)."""
    for start in _SHAPE_STARTS:
        if start in text:
            return _KEY_SHAPES.search(text) is not None
    return False


def redact_key_shapes(text: str) -> str:
    """Scrub well-known key shapes from text when no registry is at hand."""
    return _KEY_SHAPES.sub(REDACTED, text)
