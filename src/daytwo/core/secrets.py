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

#: Shapes of well-known keys and tokens, scrubbed even when they were never registered (a client
#: pasting a key into a prompt, an upstream echoing one back): OpenAI ``sk-``/``sk-proj-``,
#: Anthropic ``sk-ant-``, Google ``AIza``, AWS ``AKIA``/``ASIA``, daytwo ``dt2_<kind>_``, GitHub
#: ``ghp_``/``gho_``/``ghu_``/``ghs_``/``ghr_``/``github_pat_``, Slack ``xoxa-``/``xoxb-``/
#: ``xoxp-``/``xoxr-``/``xoxs-``, Stripe ``sk_``/``rk_`` ``live``/``test``, and the token after
#: ``Bearer `` (the word itself is kept: it says what was there).
#:
#: Each regex starts with one plain character or word (the anchor: the regex engine skips ahead
#: to it as fast as a substring search, where a set of first characters would cost a test at
#: every position) and checks what comes before it with a look-behind. A group ``kN`` says the
#: key starts N characters before the anchor; the group ``tok`` is the key itself.
_SHAPES: tuple[re.Pattern[str], ...] = (
    re.compile(
        r"-(?:(?P<k2>(?<=sk-)(?:proj-|ant-(?:api[0-9]{2}-)?)?[A-Za-z0-9_\-]{16,})"
        r"|(?P<k4>(?<=xox[abprs]-)[A-Za-z0-9\-]{10,}))"
    ),
    re.compile(
        r"_(?:(?P<k3>(?<=dt2_)[a-z]+_[A-Za-z0-9]{16,}|(?<=gh[pousr]_)[A-Za-z0-9]{30,})"
        r"|(?P<k6>(?<=github_)pat_[A-Za-z0-9_]{22,})"
        r"|(?P<k2>(?<=[sr]k_)(?:live|test)_[A-Za-z0-9]{16,}))"
    ),
    re.compile(r"A(?P<k0>Iza[0-9A-Za-z_\-]{30,}|KIA[0-9A-Z]{16}|SIA[0-9A-Z]{16})"),
    re.compile(r"earer (?<=[Bb]earer )(?P<tok>[A-Za-z0-9\-._~+/]{16,}=*)"),
    re.compile(r"BEARER (?P<tok>[A-Za-z0-9\-._~+/]{16,}=*)"),
)


def _shape_span(m: re.Match[str]) -> tuple[int, int]:
    name = m.lastgroup
    if name == "tok":
        return m.span("tok")
    assert name is not None  # every alternative is a named group
    return m.start() - int(name[1:]), m.end()


#: Values at least this long are also found in pieces (by their blocks); shorter ones only whole.
PIECES_FROM = 16
#: The block length: a piece of ``2 x BLOCK - 1`` characters always holds one whole block.
BLOCK = 8
#: Up to this many blocks, a text is first looked through with substring tests (each at
#: memory-scan speed), beyond it with the one regex of every block.
FEW_BLOCKS = 8
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
    #: The blocks, when few enough that substring tests beat the regex as a first look.
    few: tuple[str, ...] | None


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
                few=tuple(where) if len(where) <= FEW_BLOCKS else None,
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
            text = _cut_out(text, _value_spans(text, known))
        return _cut_out(text, key_shape_spans(text))

    def spans(self, text: str) -> list[tuple[int, int]]:
        """Where :meth:`redact` would cut registered values (whole or a piece of 15+ characters)
        out of ``text``: sorted ``(start, end)`` spans, touching runs merged. Key shapes are not
        looked for (:func:`key_shape_spans` finds those)."""
        known = self._known
        if known is None:
            return []
        if known.few is not None:
            if not any(block in text for block in known.few):
                return []
        elif known.pattern.search(text) is None:
            return []
        return _value_spans(text, known)

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


def _value_spans(text: str, known: _Known) -> list[tuple[int, int]]:
    """Every run of characters that matches a registered value, grown from each block found to
    as far as the characters keep matching the value on either side; sorted, and runs that
    overlap or touch merged into one."""
    found: list[tuple[int, int]] = []
    for m in known.pattern.finditer(text):
        start, end = m.span()
        for value, offset in known.where[m.group()]:
            i, j = start, offset
            while i > 0 and j > 0 and text[i - 1] == value[j - 1]:
                i, j = i - 1, j - 1
            k, n = end, offset + (end - start)
            while k < len(text) and n < len(value) and text[k] == value[n]:
                k, n = k + 1, n + 1
            found.append((i, k))
    found.sort()
    merged: list[tuple[int, int]] = []
    for start, end in found:
        if merged and start <= merged[-1][1]:  # overlaps or touches the run before: grow it
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def _cut_out(text: str, spans: list[tuple[int, int]]) -> str:
    """``text`` with every span replaced by :data:`REDACTED`."""
    out: list[str] = []
    pos = 0
    for start, end in spans:
        out.append(text[pos:start])
        out.append(REDACTED)
        pos = end
    out.append(text[pos:])
    return "".join(out)


def has_key_shape(text: str) -> bool:
    """Whether ``text`` holds a well-known key shape (a few substring-speed scans)."""
    return any(shape.search(text) is not None for shape in _SHAPES)


def key_shape_spans(text: str) -> list[tuple[int, int]]:
    """Where well-known key shapes are in ``text``: sorted ``(start, end)`` spans, overlapping
    ones merged (for ``Bearer <token>``, the token only)."""
    found: list[tuple[int, int]] = []
    for shape in _SHAPES:
        first = shape.search(text)  # most text holds none: one search, no iterator
        if first is not None:
            found.extend(_shape_span(m) for m in shape.finditer(text, first.start()))
    if len(found) < 2:
        return found
    found.sort()
    merged = [found[0]]
    for start, end in found[1:]:
        if start < merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def redact_key_shapes(text: str) -> str:
    """Scrub well-known key shapes from text when no registry is at hand."""
    return _cut_out(text, key_shape_spans(text))
