"""User text (case ids, answers, reasons) made safe to carry in any report: characters XML 1.0
cannot hold and that have no business in a page or a comment are dropped; long text shortened.
Escaping is each format's own job, after this."""

from __future__ import annotations

import re

#: C0 controls but tab/newline/CR, lone surrogates, U+FFFE/U+FFFF: what XML 1.0 cannot carry.
_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
#: The longest reason quoted in a summary (the HTML report has the whole text).
REASON_CHARS = 200


def clean(text: str) -> str:
    """``text`` without the characters XML 1.0 forbids."""
    return _ILLEGAL.sub("", text)


def shorten(text: str, limit: int = REASON_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
