"""A small, dependency-free language guess: enough to tell that an answer is not in the
language of the question, not a general language identifier.

Non-Latin scripts are told by their Unicode blocks (Chinese, Japanese kana, Korean, Cyrillic,
Greek, Arabic, Hebrew, Devanagari, Thai). Latin-script text is scored by how many of its words
are among the most frequent function words of English, Spanish, French, German, Italian,
Portuguese and Dutch. Text that is too short, or whose best two scores are too close, is
undetermined (None): the check then says nothing rather than guess.

Why not a library: ``langdetect`` (a port of Google's 2010 detector) loads ~50 profiles at
import and is non-deterministic without a seed; ``lingua`` is accurate but its models take
hundreds of MB of memory; ``fasttext-langdetect`` downloads a model at first use. The check
only needs "same language or not" on the few languages a deployment serves, cheaply.
"""

from __future__ import annotations

import re

#: At least this many words (Latin script) or letters (other scripts) to decide.
MIN_WORDS = 4
MIN_LETTERS = 6
#: The best language needs a lead of this many function words over the second.
MIN_LEAD = 2
#: Characters of a text looked at (the start of a long answer is enough).
WINDOW = 600

_SCRIPTS: tuple[tuple[str, tuple[tuple[int, int], ...]], ...] = (
    ("ja", ((0x3040, 0x30FF),)),  # kana before Han: Japanese mixes both
    ("ko", ((0xAC00, 0xD7AF), (0x1100, 0x11FF))),
    ("zh", ((0x4E00, 0x9FFF), (0x3400, 0x4DBF))),
    ("ru", ((0x0400, 0x04FF),)),
    ("el", ((0x0370, 0x03FF),)),
    ("ar", ((0x0600, 0x06FF),)),
    ("he", ((0x0590, 0x05FF),)),
    ("hi", ((0x0900, 0x097F),)),
    ("th", ((0x0E00, 0x0E7F),)),
)


def _set(words: str) -> frozenset[str]:
    return frozenset(words.split())


_STOPWORDS: dict[str, frozenset[str]] = {
    "en": _set(
        "the and is are was of to in that it for you with this have be not on what how your "
        "can do does will would should"
    ),
    "es": _set(
        "el la los las y es son de que en un una por para con no se lo su al del como pero "
        "está qué cómo"
    ),
    "fr": _set(
        "le la les et est sont de des que en un une pour avec ne pas se du au ce qui vous "
        "nous je il elle dans sur"
    ),
    "de": _set(
        "der die das und ist sind nicht ein eine mit für zu den dem von auf ich sie es wie "
        "was auch bitte"
    ),
    "it": _set(
        "il lo la gli le e è sono di che un una per con non si del della come ma questo sei ho"
    ),
    "pt": _set(
        "o a os as e é são de que em um uma por para com não se do da dos das como mas você isso"
    ),
    "nl": _set("de het een en is zijn van dat in niet met voor op ik je u wat hoe ook maar dit"),
}
_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)


#: Each function word's languages (one dictionary look-up per word of the text).
def _index(stopwords: dict[str, frozenset[str]]) -> dict[str, tuple[str, ...]]:
    out: dict[str, tuple[str, ...]] = {}
    for lang, words in stopwords.items():
        for word in words:
            out[word] = (*out.get(word, ()), lang)
    return out


_LANGS_OF = _index(_STOPWORDS)
#: Any character past Latin Extended-B: only then are the script blocks counted.
_NON_LATIN = re.compile("[^\x00-\u024f]")


def detect(text: str) -> str | None:
    """The text's language (ISO 639-1 code), or None when it cannot be told."""
    text = text[:WINDOW]
    if _NON_LATIN.search(text) is not None:
        script = _script(text)
        if script is not None:
            return script
    words = _WORD.findall(text.lower())
    if len(words) < MIN_WORDS:
        return None
    scores = dict.fromkeys(_STOPWORDS, 0)
    get = _LANGS_OF.get
    for word in words:
        for lang in get(word, ()):
            scores[lang] += 1
    ranked = sorted(scores.items(), key=lambda kv: kv[1], reverse=True)
    (best, top), (_, second) = ranked[0], ranked[1]
    if top - second < MIN_LEAD:
        return None
    return best


def _script(text: str) -> str | None:
    counts: dict[str, int] = {}
    latin = 0
    for ch in text:
        cp = ord(ch)
        if cp < 0x250:
            latin += ch.isalpha()
            continue
        for lang, ranges in _SCRIPTS:
            if any(lo <= cp <= hi for lo, hi in ranges):
                counts[lang] = counts.get(lang, 0) + 1
                break
    if not counts:
        return None
    lang, n = max(counts.items(), key=lambda kv: kv[1])
    if "ja" in counts and lang == "zh":
        lang, n = "ja", n + counts["ja"]
    return lang if n >= MIN_LETTERS and n >= latin else None
