"""Plausible fake content for the simulator: prose as word pieces, and values that fit a JSON
schema (tool-call arguments, structured outputs). Everything draws from a caller's ``Random``,
so the same generator state gives the same content."""

from __future__ import annotations

import re
from random import Random
from typing import Any

WORDS = (
    "the", "model", "answer", "request", "token", "gateway", "budget", "latency", "stream",
    "simple", "quick", "result", "value", "system", "data", "cost", "project", "call", "user",
    "team", "report", "check", "fast", "clear", "good", "plan", "step", "next", "time", "day",
    "this", "that", "with", "from", "into", "about", "every", "other", "first", "last", "small",
    "large", "useful", "honest", "stable", "a", "an", "is", "are", "was", "and", "or", "but",
    "of", "to", "in", "on", "for", "we", "it", "can", "will", "should", "more", "less", "well",
)  # fmt: skip

_CITIES = ("Paris", "Tokyo", "Lagos", "Lima", "Oslo", "Boston", "Nairobi", "Seoul", "Lisbon")
_NAMES = ("Ada Lovelace", "Alan Turing", "Grace Hopper", "Edsger Dijkstra", "Barbara Liskov")
_COUNTRIES = ("France", "Japan", "Nigeria", "Peru", "Norway", "Kenya", "Portugal")
_MAX_DEPTH = 8

#: Splits text into token-like pieces that join back to exactly the text: each piece is a run of
#: word characters or of punctuation, with the whitespace before it.
_PIECE = re.compile(r"\s*(?:\w+|[^\w\s]+)|\s+")


def split_pieces(text: str) -> list[str]:
    """Token-like pieces of ``text``; ``"".join(split_pieces(t)) == t``."""
    return _PIECE.findall(text)


def prose_pieces(rng: Random, count: int) -> list[str]:
    """``count`` word pieces of sentence-like prose: ``["The", " model", " is", " fast."]``."""
    if count <= 0:
        return []
    words = rng.choices(WORDS, k=count)
    pieces: list[str] = []
    sentence_left = 0
    for i, word in enumerate(words):
        if sentence_left == 0:
            sentence_left = rng.randint(5, 14)
            word = word.capitalize()
        sentence_left -= 1
        if sentence_left == 0 or i == count - 1:
            word += "."
            sentence_left = 0
        pieces.append(word if i == 0 else " " + word)
    return pieces


def fake_value(
    schema: Any, rng: Random, *, name: str = "", root: Any = None, depth: int = 0
) -> Any:
    """A value that validates against ``schema`` (the subset of JSON Schema that tool and
    structured-output schemas use: types, properties, items, enum, const, $ref, anyOf/oneOf/allOf,
    numeric bounds, string lengths and formats). Every declared property is filled."""
    if root is None:
        root = schema
    if not isinstance(schema, dict):
        return _fake_string({}, rng, name)
    if depth > _MAX_DEPTH:
        return None
    ref = schema.get("$ref")
    if isinstance(ref, str):
        return fake_value(_resolve(root, ref), rng, name=name, root=root, depth=depth + 1)
    if "const" in schema:
        return schema["const"]
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        return rng.choice(enum)
    for key in ("anyOf", "oneOf"):
        options = schema.get(key)
        if isinstance(options, list) and options:
            concrete = [o for o in options if not (isinstance(o, dict) and o.get("type") == "null")]
            return fake_value((concrete or options)[0], rng, name=name, root=root, depth=depth + 1)
    all_of = schema.get("allOf")
    if isinstance(all_of, list) and all_of:
        merged: dict[str, Any] = {}
        for part in all_of:
            part = (
                _resolve(root, part["$ref"]) if isinstance(part, dict) and "$ref" in part else part
            )
            if isinstance(part, dict):
                merged = _merge(merged, part)
        return fake_value(merged, rng, name=name, root=root, depth=depth + 1)
    kind = _type_of(schema)
    if kind == "object":
        props = schema.get("properties")
        if not isinstance(props, dict):
            return {}
        return {
            key: fake_value(sub, rng, name=key, root=root, depth=depth + 1)
            for key, sub in props.items()
        }
    if kind == "array":
        lo = _int(schema.get("minItems"), 1)
        hi = max(lo, min(_int(schema.get("maxItems"), 3), 3))
        items = schema.get("items", {})
        singular = name[:-1] if name.endswith("s") else name
        return [
            fake_value(items, rng, name=singular, root=root, depth=depth + 1)
            for _ in range(rng.randint(lo, hi))
        ]
    if kind == "integer":
        ilo, ihi = _bounds(schema, 1, 100)
        return rng.randint(int(ilo), max(int(ilo), int(ihi)))
    if kind == "number":
        flo, fhi = _bounds(schema, 0.0, 100.0)
        value = round(rng.uniform(flo, fhi), 2)
        return value if flo <= value <= fhi else flo
    if kind == "boolean":
        return rng.random() < 0.5
    if kind == "null":
        return None
    return _fake_string(schema, rng, name)


def _type_of(schema: dict[str, Any]) -> str:
    kind = schema.get("type")
    if isinstance(kind, list):
        concrete = [k for k in kind if k != "null"]
        kind = concrete[0] if concrete else "null"
    if isinstance(kind, str):
        return kind
    if "properties" in schema:
        return "object"
    if "items" in schema:
        return "array"
    return "string"


def _resolve(root: Any, ref: str) -> Any:
    if not ref.startswith("#"):
        return {}
    node = root
    for part in ref.lstrip("#").strip("/").split("/"):
        if not part:
            continue
        part = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, dict) or part not in node:
            return {}
        node = node[part]
    return node


def _merge(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    out = {**a, **b}
    if isinstance(a.get("properties"), dict) and isinstance(b.get("properties"), dict):
        out["properties"] = {**a["properties"], **b["properties"]}
    return out


def _int(value: Any, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _bounds(schema: dict[str, Any], lo: float, hi: float) -> tuple[float, float]:
    is_int = _type_of(schema) == "integer"
    step = 1 if is_int else 0.01
    if isinstance(schema.get("minimum"), int | float):
        lo = schema["minimum"]
    if isinstance(schema.get("exclusiveMinimum"), int | float):
        lo = schema["exclusiveMinimum"] + step
    if isinstance(schema.get("maximum"), int | float):
        hi = schema["maximum"]
    if isinstance(schema.get("exclusiveMaximum"), int | float):
        hi = schema["exclusiveMaximum"] - step
    if is_int:
        lo, hi = float(_ceil(lo)), float(int(hi // 1))
    if hi < lo:
        hi = lo + (100 if "maximum" not in schema and "exclusiveMaximum" not in schema else 0)
    return lo, hi


def _ceil(x: float) -> int:
    return int(-(-x // 1))


def _fake_string(schema: dict[str, Any], rng: Random, name: str) -> str:
    fmt = schema.get("format")
    key = name.lower()
    if fmt == "date-time":
        day = f"2025-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        text = f"{day}T{rng.randint(0, 23):02d}:00:00Z"
    elif fmt == "date" or key.endswith("date"):
        text = f"2025-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    elif fmt == "time":
        text = f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:00"
    elif fmt == "uuid":
        h = f"{rng.getrandbits(128):032x}"
        text = f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:]}"
    elif fmt == "email" or "email" in key:
        text = f"{rng.choice(WORDS[:30])}@example.com"
    elif fmt in ("uri", "url") or key in ("url", "uri", "link", "website"):
        text = f"https://example.com/{rng.choice(WORDS[:30])}"
    elif "city" in key or "location" in key:
        text = rng.choice(_CITIES)
    elif "country" in key:
        text = rng.choice(_COUNTRIES)
    elif key in ("name", "full_name", "author", "person"):
        text = rng.choice(_NAMES)
    elif key == "id" or key.endswith("_id"):
        text = f"id_{rng.getrandbits(32):08x}"
    else:
        text = " ".join(rng.choices(WORDS, k=rng.randint(1, 4)))
    min_len = _int(schema.get("minLength"), 0)
    max_len = schema.get("maxLength")
    if len(text) < min_len:
        text = text + "x" * (min_len - len(text))
    if isinstance(max_len, int) and len(text) > max_len:
        text = text[:max_len]
    return text
