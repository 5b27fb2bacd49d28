"""The simulator's embeddings: vectors that mean something, so ``similar`` assertions and RAG
metrics can be tested without a model.

A text's features are its lower-cased word unigrams and bigrams (a token array's: its token ids
and their pairs). Each feature has a fixed pseudo-random direction (SHAKE-256 of the model name
and the feature, read as signed bytes); a text's vector is the sum of its features' directions,
weighted by count, L2-normalised. Texts sharing features point the same way (the cosine of two
texts is about their shared-feature overlap), unrelated texts are nearly orthogonal. A feature's
direction for fewer dimensions is the prefix of its longer one, so a shorter vector is the
renormalised prefix of a longer one, as OpenAI's ``dimensions`` gives.
"""

from __future__ import annotations

import hashlib
import itertools
import re
from array import array
from collections import Counter

import numpy as np

_WORD = re.compile(r"\w+")


def features(item: str | list[int]) -> Counter[str]:
    """The features of a text or token array, with their counts."""
    words = _WORD.findall(item.lower()) if isinstance(item, str) else [f"#{t}" for t in item]
    counts = Counter(words)
    counts.update(f"{a} {b}" for a, b in itertools.pairwise(words))
    if not counts:  # no word at all ("", "?!"): the text itself is the one feature
        counts["\x00" + (item if isinstance(item, str) else "")] = 1
    return counts


def text_vector(model: str, item: str | list[int], dims: int) -> array[float]:
    """The float32 unit vector of ``item`` under ``model``, ``dims`` long."""
    counts = features(item)
    prefix = model.encode() + b"\x00"
    raw = b"".join(hashlib.shake_256(prefix + f.encode()).digest(dims) for f in counts)
    directions = np.frombuffer(raw, dtype=np.int8).reshape(len(counts), dims)
    weights = np.fromiter(counts.values(), dtype=np.float64, count=len(counts))
    vector = weights @ directions.astype(np.float64)
    norm = float(np.linalg.norm(vector)) or 1.0
    out = array("f")
    out.frombytes((vector / norm).astype(np.float32).tobytes())  # both in native byte order
    return out
