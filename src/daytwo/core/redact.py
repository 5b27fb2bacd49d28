"""Redaction of captured call content: the detectors and the :class:`Redactor` that applies them.

Captured content is redacted before it is written anywhere. A detector is a pure function from
text to sorted, non-overlapping ``(start, end)`` spans, with a name and an integer version;
every redaction is counted as ``"<name>@<version>"``, so a capture records which detectors (and
which of their versions) ran over it. The built-in detectors, by priority:

``secrets``      values registered in a :class:`~daytwo.core.secrets.SecretRegistry`, whole or
                 a piece of 15+ characters (the registry's own matching)
``key_shapes``   well-known key and token shapes (the one list in :mod:`daytwo.core.secrets`:
                 OpenAI, Anthropic, Google, AWS, daytwo, GitHub, Slack, Stripe, ``Bearer <token>``)
``card``         payment cards: 13-19 digits, whole or in groups of 3+ digits separated by one
                 space or dash, that pass the Luhn check (and are not one digit repeated)
``iban``         country code, 2 check digits, BBAN, compact or in groups of 4; ISO 13616
                 mod-97 must hold, and the country's length where the country is known
``national_id``  US SSN (``ddd-dd-dddd``, no 000/666/9xx area, 00 group or 0000 serial), UK
                 National Insurance number (``AB123456C``, spaced or not; unallocated prefixes
                 and letters excluded), Spanish DNI (8 digits) and NIE (X/Y/Z + 7 digits), whose
                 control letter must match
``phone``        international (``+CC`` or ``00CC``, 8-15 digits, separators or none), North
                 American (``(415) 555-2671``, ``415-555-2671``, ``415.555.2671``, optional
                 ``1-``) and trunk-prefixed national numbers (``020 7946 0958``,
                 ``01 23 45 67 89``: a leading 0, one kind of separator, 9-11 digits). A number
                 without ``+``, a leading 0 or the North American shape is not a phone: years,
                 prices, plain ids, ISO and dotted dates, versions and IP addresses are left
                 alone, and so is a number right after a group of 4 capitals or digits (the
                 tail of an IBAN or card that failed its own check)
``email``        ``local@domain.tld`` (ASCII)
custom           user patterns, ``(name, regex)``, below every built-in, in the order given

Overlapping spans merge into one, named by the detector of highest priority among them. Spans
that only touch stay apart. A span lying wholly inside a marker already in the text is dropped.
Detectors read the characters around a match (a number glued to a word is not a phone), and a
marker changes them, so the result is searched again until nothing new is found (only when the
first search found something): redacting redacted text changes nothing.

Replacement: ``[REDACTED:<name>]``; in reversible mode ``[REDACTED:<name>:<n>]``, where ``n``
indexes ``originals`` (numbered across a whole tree, string by string in document order). In
reversible mode a marker of that shape already present in the input is captured as an original
too, so :func:`daytwo.audit.vault.restore` gives back the input exactly.

Not detected (known gaps): national numbers without a trunk 0 outside North America (Spanish
``612 345 678``), lower-case IBANs, non-ASCII e-mail addresses, SSNs written without dashes,
values transformed on the way (base64, URL-encoding).

Cost (it runs for every captured call and shares the GIL): regexes are compiled once, and each
starts with plain characters where it can (the engine then skips ahead at substring-search
speed; a set of first characters costs a test at every position). E-mail addresses are searched
from their ``@``, key shapes from one anchor character each; the four digit detectors search only
around the clusters of six or more digits, found once per text for all four
(:func:`digit_clusters`). ``bench/redaction.py`` measures each detector and all of them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from daytwo.core.secrets import SecretRegistry, key_shape_spans

Span = tuple[int, int]
Find = Callable[[str], list[Span]]

#: The built-in detectors in the order a Redactor runs them by default.
DEFAULT_DETECTORS: tuple[str, ...] = (
    "secrets",
    "key_shapes",
    "email",
    "phone",
    "card",
    "iban",
    "national_id",
)
#: The version of each built-in detector; raised whenever what it finds changes.
DETECTOR_VERSIONS: dict[str, int] = dict.fromkeys(DEFAULT_DETECTORS, 1)
#: Highest priority first: the name a merged span takes. Custom patterns come after these.
PRIORITY: tuple[str, ...] = (
    "secrets",
    "key_shapes",
    "card",
    "iban",
    "national_id",
    "phone",
    "email",
)
#: The version every custom pattern records (its regex is in the config that named it).
CUSTOM_VERSION = 1

_NAME = re.compile(r"[a-z][a-z0-9_]{0,31}\Z")
#: Any marker this module writes: spans inside one are not redacted again.
_MARKER = re.compile(r"\[REDACTED:[a-z][a-z0-9_]*(?::[0-9]+)?\]")
#: A reversible marker: what restore() replaces.
REVERSIBLE_MARKER = re.compile(r"\[REDACTED:([a-z][a-z0-9_]*):([0-9]+)\]")
_DIGIT_RUNS = re.compile(r"[0-9]+")

# -- email ------------------------------------------------------------------------------------

_EMAIL_DOMAIN = re.compile(
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}(?![A-Za-z0-9\-])"
)
_LOCAL_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._%+-")
_LOCAL_MAX = 64


def find_email(text: str) -> list[Span]:
    """E-mail addresses: an ASCII local part (letters, digits, ``._%+-``, at most 64, not
    starting with a dot) and a dotted domain ending in a 2-24 letter TLD."""
    if "@" not in text:
        return []
    spans: list[Span] = []
    for m in _EMAIL_DOMAIN.finditer(text):
        at = m.start()
        i, floor = at, max(0, at - _LOCAL_MAX)
        while i > floor and text[i - 1] in _LOCAL_CHARS:
            i -= 1
        while i < at and text[i] == ".":
            i += 1
        if i < at:
            spans.append((i, m.end()))
    return spans


# -- where the digit detectors look ----------------------------------------------------------

#: Two digits, then four or more digits at most two separator characters apart, searched in a
#: copy of the text's UTF-8 bytes with every digit made "0": a regex starting with plain
#: characters is found at substring-search speed, a set of first characters ("[0-9]") costs a
#: test at every position. Every card, IBAN, national id and phone number the detectors accept
#: holds such a cluster (a UK NINO has exactly six digits; a phone number's groups are of two
#: or more digits after the country code) and lies within a few characters of it (an IBAN with
#: letters in its BBAN, within 40), so the four detectors search only there; most text holds few.
_CLUSTER = re.compile(rb"00(?:[ ()./\-]{0,2}0){4,}")
_ZERO_DIGITS = bytes.maketrans(b"123456789", b"000000000")
#: Characters of look-ahead context a digit detector reads after a match.
_AHEAD = 2


def digit_clusters(text: str) -> list[Span]:
    """Where ``text`` holds two digits and four or more digits after them, at most two
    separators apart (character offsets): what the digit detectors (phone, card, iban,
    national_id) search around."""
    raw = text.encode("utf-8", "surrogatepass")
    found = [m.span() for m in _CLUSTER.finditer(raw.translate(_ZERO_DIGITS))]
    if not found or len(raw) == len(text):
        return found
    # Non-ASCII text: byte offsets to character offsets (a cluster itself is ASCII).
    out: list[Span] = []
    at_byte = at_char = 0
    for a, b in found:
        at_char += len(raw[at_byte:a].decode("utf-8", "surrogatepass"))
        out.append((at_char, at_char + b - a))
        at_char += b - a
        at_byte = b
    return out


def _matches(
    pattern: re.Pattern[str],
    text: str,
    clusters: list[Span],
    before: int,
    after: int,
    shortest: int,
) -> list[re.Match[str]]:
    """The matches of ``pattern`` in windows around the clusters of at least ``shortest``
    characters (``before`` and ``after`` characters wider, joined where they overlap).
    Look-behinds read the text before a window; a match ending where the window's end could
    have hidden its look-ahead context is dropped (an accepted match never ends there)."""
    windows: list[list[int]] = []
    for a, b in clusters:
        if b - a >= shortest:
            lo = a - before
            if windows and lo <= windows[-1][1]:
                windows[-1][1] = b + after + _AHEAD
            else:
                windows.append([max(lo, 0), b + after + _AHEAD])
    n = len(text)
    out: list[re.Match[str]] = []
    for lo, hi in windows:
        last = n if hi >= n else hi - _AHEAD
        m = pattern.search(text, lo, hi)
        while m is not None:
            end = m.end()
            if end <= last:
                out.append(m)
            m = pattern.search(text, end if end > m.start() else end + 1, hi)
    return out


# Each digit detector's regex starts with a set of first characters and only then looks behind
# (the engine skips ahead to a possible first character quickly; a look-behind first would be
# tried at every position).

# -- phone ------------------------------------------------------------------------------------

_INTL = r"[1-9][0-9]{0,14}(?:[ .\-]?\([0-9]{1,4}\)[ .\-]?[0-9]{1,8})?(?:[ .\-][0-9]{1,8}){0,6}"
_NANP_TAIL = r"[2-9][0-9]{2}[ .\-][0-9]{4}"
_PHONE = re.compile(
    r"[+(0-9](?<![\w+\-.,/][+(0-9])(?<![A-Z0-9]{4} [+(0-9])(?:"
    rf"(?P<plus>(?<=\+){_INTL})"
    rf"|(?P<zeros>(?<=0)0{_INTL})"
    rf"|(?<=\()[2-9][0-9]{{2}}\)[ .\-]?{_NANP_TAIL}"
    rf"|(?<=1)[ .\-]?(?:\([2-9][0-9]{{2}}\)[ .\-]?|[2-9][0-9]{{2}}[ .\-]){_NANP_TAIL}"
    rf"|(?<=[2-9])[0-9]{{2}}[ .\-]{_NANP_TAIL}"
    r"|(?P<trunk>(?<=0)[0-9]{1,4}(?P<sep>[ .\-])[0-9]{2,8}(?:(?P=sep)[0-9]{2,4}){0,3})"
    r")(?![\w\-/]|[.,][0-9])",
    re.ASCII,
)


def _digit_count(s: str) -> int:
    return sum(1 for c in s if "0" <= c <= "9")


def phone_in(text: str, clusters: list[Span]) -> list[Span]:
    spans: list[Span] = []
    for m in _matches(_PHONE, text, clusters, 5, 0, 7):
        if m.group("plus") is not None or m.group("zeros") is not None:
            digits = _digit_count(m.group()) - (2 if m.group("zeros") is not None else 0)
            if not 8 <= digits <= 15:
                continue
        elif m.group("trunk") is not None and not 9 <= _digit_count(m.group()) <= 11:
            continue
        spans.append(m.span())
    return spans


def find_phone(text: str) -> list[Span]:
    """Phone numbers: ``+CC``/``00CC`` with 8-15 digits after the prefix; North American
    ``NXX-NXX-XXXX`` shapes; national numbers with a trunk 0, one separator kind, 9-11 digits."""
    return phone_in(text, digit_clusters(text))


# -- card -------------------------------------------------------------------------------------

#: 13+ characters of digits, spaces and dashes from a digit to a digit, not glued to a word or
#: a decimal point (one repeated set: cheap to try at every digit of a cluster); the groups and
#: their single separators are checked after.
_CARD_RUN = re.compile(r"[0-9](?<![\w.][0-9])[0-9 \-]{11,}[0-9](?!\w)", re.ASCII)


def luhn_ok(digits: str) -> bool:
    """The Luhn check over a string of ASCII digits."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def _card_ok(digits: str) -> bool:
    return 13 <= len(digits) <= 19 and digits != digits[0] * len(digits) and luhn_ok(digits)


def card_in(text: str, clusters: list[Span]) -> list[Span]:
    spans: list[Span] = []
    for run in _matches(_CARD_RUN, text, clusters, 0, 0, 13):
        s = run.group()
        if len(s) - s.count(" ") - s.count("-") < 13:
            continue  # fewer digits than any card (a phone number, a date and a time)
        groups = [g.span() for g in _DIGIT_RUNS.finditer(text, *run.span())]
        i = 0
        while i < len(groups):
            last = -1
            digits = ""
            for j in range(i, len(groups)):
                a, b = groups[j]
                if (b - a < 3 and len(groups) > 1) or (j > i and a - groups[j - 1][1] > 1):
                    break  # a group too short for a card, or two separators before it
                digits += text[a:b]
                if len(digits) > 19:
                    break
                if _card_ok(digits):
                    last = j
            if last >= 0:
                spans.append((groups[i][0], groups[last][1]))
                i = last + 1
            else:
                i += 1
    return spans


def find_card(text: str) -> list[Span]:
    """Payment card numbers: 13-19 digits, unbroken or in groups of 3+ digits separated by one
    space or dash, passing the Luhn check. In a longer run of groups (a reference number before
    the card, two cards in a row), the longest valid runs of whole groups are taken."""
    return card_in(text, digit_clusters(text))


# -- iban -------------------------------------------------------------------------------------

_IBAN = re.compile(
    r"[A-Z](?<![A-Za-z0-9][A-Z])[A-Z][0-9]{2}"
    r"(?:[A-Z0-9]{11,30}|(?: [A-Z0-9]{4}){2,7}(?: [A-Z0-9]{1,3})?)"
    r"(?![A-Za-z0-9])",
    re.ASCII,
)
#: IBAN lengths of common countries (SWIFT IBAN registry); others need 15-34 characters.
IBAN_LENGTHS: dict[str, int] = {
    "AD": 24, "AE": 23, "AT": 20, "BE": 16, "BG": 22, "BH": 22, "BR": 29, "CH": 21, "CY": 28,
    "CZ": 24, "DE": 22, "DK": 18, "EE": 20, "ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22,
    "GI": 23, "GL": 18, "GR": 27, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IS": 26, "IT": 27,
    "KW": 30, "KZ": 20, "LB": 28, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MT": 31,
    "NL": 18, "NO": 15, "PK": 24, "PL": 28, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "SA": 24,
    "SE": 24, "SI": 19, "SK": 24, "SM": 27, "TN": 24, "TR": 26, "UA": 29, "VA": 22,
}  # fmt: skip


def iban_ok(iban: str) -> bool:
    """ISO 13616: 15-34 characters (the country's own length where known), mod-97 == 1."""
    s = iban.replace(" ", "")
    if len(s) != IBAN_LENGTHS.get(s[:2], len(s)) or not 15 <= len(s) <= 34:
        return False
    moved = s[4:] + s[:4]
    return int("".join(str(int(c, 36)) for c in moved)) % 97 == 1


def iban_in(text: str, clusters: list[Span]) -> list[Span]:
    spans: list[Span] = []
    for m in _matches(_IBAN, text, clusters, 40, 40, 6):
        start, end = m.span()
        while end - start >= 15:
            if iban_ok(text[start:end]):
                spans.append((start, end))
                break
            cut = text.rfind(" ", start, end)
            if cut < 0:
                break
            end = cut
    return spans


def find_iban(text: str) -> list[Span]:
    """IBANs, compact or in groups of 4 separated by single spaces (upper case). When the
    spaced form runs on into other groups, the longest valid prefix of whole groups is taken."""
    return iban_in(text, digit_clusters(text))


# -- national ids -----------------------------------------------------------------------------

_NATIONAL_ID = re.compile(
    r"[0-9A-Z](?<![\w\-][0-9A-Z])(?:"
    r"(?P<ssn>(?<=[0-9])[0-9]{2}-[0-9]{2}-[0-9]{4}(?![\w\-]))"
    r"|(?P<dni>(?<=[0-9XYZ])[0-9]{7}-?[A-Z](?!\w))"
    r"|(?P<nino>(?<=[A-Z])[A-Z] ?[0-9]{2} ?[0-9]{2} ?[0-9]{2} ?[A-D](?!\w))"
    r")",
    re.ASCII,
)
_DNI_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"
#: UK NINO: letters never used first / second, and prefixes never allocated.
_NINO_NOT_FIRST = frozenset("DFIQUV")
_NINO_NOT_SECOND = frozenset("DFIOQUV")
_NINO_NOT_PREFIX = frozenset(("BG", "GB", "KN", "NK", "NT", "TN", "ZZ"))


def ssn_ok(ssn: str) -> bool:
    """US SSN ``ddd-dd-dddd``: no area 000, 666 or 9xx, no group 00, no serial 0000."""
    area, group, serial = ssn.split("-")
    return area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"


def nino_ok(nino: str) -> bool:
    """UK National Insurance number: an allocatable two-letter prefix."""
    return (
        nino[0] not in _NINO_NOT_FIRST
        and nino[1] not in _NINO_NOT_SECOND
        and nino[:2] not in _NINO_NOT_PREFIX
    )


def dni_ok(dni: str) -> bool:
    """Spanish DNI (8 digits) / NIE (X, Y or Z + 7 digits) with its control letter."""
    number, letter = dni[:8], dni[-1]
    if number[0] in "XYZ":
        number = str("XYZ".index(number[0])) + number[1:]
    return _DNI_LETTERS[int(number) % 23] == letter


def national_id_in(text: str, clusters: list[Span]) -> list[Span]:
    spans: list[Span] = []
    for m in _matches(_NATIONAL_ID, text, clusters, 3, 2, 6):
        s = m.group()
        if m.group("ssn") is not None:
            ok = ssn_ok(s)
        elif m.group("dni") is not None:
            ok = dni_ok(s)
        else:
            ok = nino_ok(s)
        if ok:
            spans.append(m.span())
    return spans


def find_national_id(text: str) -> list[Span]:
    """US SSNs, UK National Insurance numbers, Spanish DNI/NIE numbers (letter checked)."""
    return national_id_in(text, digit_clusters(text))


# -- custom patterns --------------------------------------------------------------------------

#: Text a custom pattern is tried on for empty matches it could make (``\b``, ``(?=x)``, ``^``).
_EMPTY_PROBE = "a Z 0 _ - . @ ( ) [ ] / \\ \n x9 é"


def check_pattern(regex: str) -> str | None:
    """One line saying what is wrong with a custom pattern, or None when it can be used: it
    must compile and must not match the empty string anywhere."""
    try:
        compiled = re.compile(regex)
    except re.error as exc:
        where = f" at position {exc.pos}" if exc.pos is not None else ""
        return f"the pattern does not compile: {exc.msg}{where}"
    if compiled.match("") is not None or any(
        m.start() == m.end() for m in compiled.finditer(_EMPTY_PROBE)
    ):
        return "the pattern matches the empty string (it must match at least one character)"
    return None


def pattern_finder(regex: str) -> Find:
    """The detector function of a custom pattern (``check_pattern`` must have passed)."""
    compiled = re.compile(regex)

    def find(text: str) -> list[Span]:
        return [m.span() for m in compiled.finditer(text) if m.end() > m.start()]

    return find


# -- the Redactor -----------------------------------------------------------------------------

FindIn = Callable[[str, list[Span]], list[Span]]

_BUILTIN_FIND: dict[str, Find] = {
    "key_shapes": key_shape_spans,
    "email": find_email,
    "phone": find_phone,
    "card": find_card,
    "iban": find_iban,
    "national_id": find_national_id,
}
#: The detectors that look only around :func:`digit_clusters` (found once per text).
_FIND_IN: dict[str, FindIn] = {
    "phone": phone_in,
    "card": card_in,
    "iban": iban_in,
    "national_id": national_id_in,
}


@dataclass(frozen=True, slots=True)
class Detector:
    """One detector as a Redactor runs it."""

    name: str
    version: int
    find: Find
    #: For a digit detector: the same search, given the text's digit clusters.
    find_in: FindIn | None = None

    @property
    def key(self) -> str:
        return f"{self.name}@{self.version}"


@dataclass(frozen=True, slots=True)
class RedactedText:
    text: str
    #: ``"<detector>@<version>"`` → redactions made
    counts: dict[str, int]
    #: The redacted originals, by marker index (reversible mode only; empty otherwise).
    originals: list[str]


@dataclass(frozen=True, slots=True)
class RedactedTree:
    value: Any
    counts: dict[str, int]
    originals: list[str]


#: Deeper than this a tree is refused (no JSON document nests so deep; a cycle would).
MAX_DEPTH = 2000


def map_strings(obj: Any, fn: Callable[[str], str]) -> Any:
    """A new tree like ``obj`` (dict/list/tuple/str/int/float/bool/None) with ``fn`` applied to
    every string value, in document order; dict keys and other values kept, ``obj`` unchanged.
    Iterative (no recursion limit); other types raise TypeError, nesting deeper than
    :data:`MAX_DEPTH` ValueError."""
    # Depth first in document order. Containers are built as dicts and lists; tuples are made
    # at the end, innermost first.
    root: list[Any] = [None]
    tuples: list[tuple[Any, Any, list[Any]]] = []
    todo: list[tuple[Any, Any, Any, int]] = [(root, 0, obj, 0)]
    while todo:
        parent, slot, item, depth = todo.pop()
        if isinstance(item, str):
            parent[slot] = fn(item)
        elif item is None or isinstance(item, bool | int | float):
            parent[slot] = item
        elif depth >= MAX_DEPTH:
            raise ValueError(f"the tree nests deeper than {MAX_DEPTH} levels (a cycle?)")
        elif isinstance(item, dict):
            new: dict[Any, Any] = dict.fromkeys(item)
            parent[slot] = new
            todo.extend((new, k, v, depth + 1) for k, v in reversed(item.items()))
        elif isinstance(item, list | tuple):
            seq: list[Any] = [None] * len(item)
            parent[slot] = seq
            if isinstance(item, tuple):
                tuples.append((parent, slot, seq))
            todo.extend((seq, i, v, depth + 1) for i, v in reversed(list(enumerate(item))))
        else:
            raise TypeError(f"cannot redact a {type(item).__name__}: not JSON-like data")
    for parent, slot, seq in reversed(tuples):
        parent[slot] = tuple(seq)
    return root[0]


#: Nodes the quick look at a tree visits before leaving it to the general walk (a cycle, or a
#: tree too big for one joined text).
_QUICK_NODES = 100_000


def _strings_of(obj: Any) -> list[str] | None:
    """The string values of a plain JSON tree (exact types), in no particular order; None for
    anything else (other types, a cycle, more than :data:`_QUICK_NODES` nodes)."""
    out: list[str] = []
    stack = [obj]
    pop, push = stack.pop, stack.extend
    budget = _QUICK_NODES
    while stack:
        budget -= 1
        if budget < 0:
            return None
        item = pop()
        kind = type(item)
        if kind is str:
            out.append(item)
        elif kind is dict:
            push(item.values())
        elif kind is list or kind is tuple:
            push(item)
        elif not (item is None or kind is int or kind is float or kind is bool):
            return None
    return out


class Redactor:
    """Applies a set of detectors to text and to JSON-like trees. Thread-safe: it holds no state
    that changes after construction (the registry it reads is swapped whole when it grows)."""

    __slots__ = ("_builtin", "_custom", "_detectors", "_markers", "_reversible", "_windowed")

    def __init__(
        self,
        detectors: Sequence[str] = DEFAULT_DETECTORS,
        *,
        patterns: Sequence[tuple[str, str]] = (),
        secrets: SecretRegistry | None = None,
        reversible: bool = False,
    ) -> None:
        if isinstance(detectors, str):
            raise TypeError("detectors must be a sequence of names, not one string")
        chosen: set[str] = set()
        for name in detectors:
            if name not in DETECTOR_VERSIONS:
                known = ", ".join(DEFAULT_DETECTORS)
                raise ValueError(f"unknown detector {name!r} (known: {known})")
            if name in chosen:
                raise ValueError(f"detector {name!r} is listed twice")
            chosen.add(name)
        active: list[Detector] = []
        for name in PRIORITY:
            if name not in chosen:
                continue
            if name == "secrets":
                if secrets is None:
                    continue  # nothing registered to look for
                find: Find = secrets.spans
            else:
                find = _BUILTIN_FIND[name]
            active.append(Detector(name, DETECTOR_VERSIONS[name], find, _FIND_IN.get(name)))
        for name, regex in patterns:
            if not _NAME.match(name):
                raise ValueError(
                    f"pattern name {name!r} must be 1-32 lower-case letters, digits or _, "
                    "starting with a letter"
                )
            if name in DETECTOR_VERSIONS or any(d.name == name for d in active):
                raise ValueError(f"pattern name {name!r} is already a detector's name")
            problem = check_pattern(regex)
            if problem is not None:
                raise ValueError(f"pattern {name!r}: {problem}")
            active.append(Detector(name, CUSTOM_VERSION, pattern_finder(regex)))
        self._detectors = tuple(active)
        self._builtin = tuple(d for d in active if d.name in DETECTOR_VERSIONS)
        self._custom = tuple(d for d in active if d.name not in DETECTOR_VERSIONS)
        self._windowed = any(d.find_in is not None for d in active)
        self._markers = tuple(f"[REDACTED:{d.name}]" for d in active)
        self._reversible = reversible

    @property
    def detectors(self) -> tuple[Detector, ...]:
        """The detectors run, highest priority first."""
        return self._detectors

    @property
    def reversible(self) -> bool:
        return self._reversible

    def text(self, s: str) -> RedactedText:
        """``s`` with every detected span replaced by its marker."""
        counts: dict[str, int] = {}
        originals: list[str] | None = [] if self._reversible else None
        out = self._redact(s, counts, originals)
        return RedactedText(out, counts, originals or [])

    def tree(self, obj: Any) -> RedactedTree:
        """A new tree like ``obj`` (dict/list/tuple/str/int/float/bool/None) with every string
        value redacted; dict keys and non-strings are kept; ``obj`` is not changed. When
        nothing is found, ``obj`` itself is returned (treat the value as read-only). Markers are
        numbered in document order across the whole tree. Other types raise TypeError."""
        counts: dict[str, int] = {}
        originals: list[str] | None = [] if self._reversible else None
        # The usual tree (a chat request and its answer) holds a dozen short strings and no
        # finding. Each string alone costs a detector pass's fixed price, so first all of them
        # at once, NUL-separated (NUL is no detector's character: it ends a match as the end of
        # a string does): when the built-in detectors find nothing there, they find nothing in
        # any string alone. The operator's patterns (which may anchor at a string's start) and
        # markers already in the input are looked at string by string.
        strings = _strings_of(obj)
        if strings is not None:
            joined = "\x00".join(strings)
            if (
                "[REDACTED:" not in joined
                and not self._finds(joined, self._builtin)
                and not any(self._finds(s, self._custom) for s in strings)
            ):
                return RedactedTree(obj, counts, originals or [])  # nothing to redact
        value = map_strings(obj, lambda s: self._redact(s, counts, originals))
        return RedactedTree(value, counts, originals or [])

    def _finds(self, s: str, detectors: tuple[Detector, ...]) -> bool:
        """Whether any of ``detectors`` finds something in ``s``."""
        if not detectors:
            return False
        clusters = digit_clusters(s) if self._windowed else []
        for det in detectors:
            if det.find_in is None:
                if det.find(s):
                    return True
            elif clusters and det.find_in(s, clusters):
                return True
        return False

    # -- internals ----------------------------------------------------------------------------

    def _redact(self, s: str, counts: dict[str, int], originals: list[str] | None) -> str:
        # A detector reads the characters around a match (a phone glued to a word is no phone);
        # a marker changes them, so the output is searched again until nothing new is found:
        # redacting the result once more then changes nothing.
        out = self._pass(s, counts, originals, first=True)
        while out is not s:
            s, out = out, self._pass(out, counts, originals, first=False)
        return out

    def _pass(
        self, s: str, counts: dict[str, int], originals: list[str] | None, *, first: bool
    ) -> str:
        """``s`` with what the detectors find replaced, or ``s`` itself when they find nothing.
        The first pass treats markers as input; later ones know them as their own."""
        detectors = self._detectors
        found: list[tuple[int, int, int]] = []
        clusters = digit_clusters(s) if self._windowed else []
        for rank, det in enumerate(detectors):
            if det.find_in is None:
                spans = det.find(s)
            elif clusters:
                spans = det.find_in(s, clusters)
            else:
                continue
            for start, end in spans:
                found.append((start, end, rank))
        names: dict[int, str] = {}
        if "[REDACTED:" in s:
            found = self._around_markers(s, found, names, originals is not None, first)
        if not found:
            return s
        found.sort()
        merged: list[list[int]] = []
        for start, end, rank in found:
            if merged and start < merged[-1][1]:
                last = merged[-1]
                last[1] = max(last[1], end)
                last[2] = min(last[2], rank)
            else:
                merged.append([start, end, rank])
        parts: list[str] = []
        pos = 0
        for start, end, rank in merged:
            parts.append(s[pos:start])
            if rank < len(detectors):
                det = detectors[rank]
                counts[det.key] = counts.get(det.key, 0) + 1
                name = det.name
            else:  # only a marker that was in the input (reversible mode)
                name = names[start]
            if originals is None:
                parts.append(self._markers[rank])
            else:
                parts.append(f"[REDACTED:{name}:{len(originals)}]")
                originals.append(s[start:end])
            pos = end
        parts.append(s[pos:])
        return "".join(parts)

    def _around_markers(
        self,
        s: str,
        found: list[tuple[int, int, int]],
        names: dict[int, str],
        reversible: bool,
        first: bool,
    ) -> list[tuple[int, int, int]]:
        """First pass: drop the spans inside markers already in ``s`` and, in reversible mode,
        capture the reversible-shaped ones (so that restoring gives ``s`` back, not an
        original). Later passes: drop every span that touches one of our markers."""
        markers = [m.span() for m in _MARKER.finditer(s)]
        if markers and first:
            found = [f for f in found if not any(a <= f[0] and f[1] <= b for a, b in markers)]
        elif markers:
            found = [f for f in found if not any(f[0] < b and a < f[1] for a, b in markers)]
        if reversible and first:
            last = len(self._detectors)
            for m in REVERSIBLE_MARKER.finditer(s):
                names[m.start()] = m.group(1)
                found.append((m.start(), m.end(), last))
        return found
