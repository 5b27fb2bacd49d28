"""Stage 2 of the pipeline: who and what caused a call.

Sources, strongest first: ``X-Daytwo-*`` headers, then the OpenAI body's ``metadata`` object
(keys named like the fields; other string keys become tags) and ``user`` field. A call with no
project is recorded under ``default`` and counted as unattributed. A virtual key's attribution
wins over all of them (:func:`with_key`).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import orjson

from daytwo.core.errors import InvalidRequest
from daytwo.core.types import DEFAULT_PROJECT, Attribution

if TYPE_CHECKING:
    from daytwo.keys.model import KeyPrincipal

MAX_VALUE_LEN = 128
MAX_TAGS = 16
_FIELDS = ("project", "workflow", "feature", "agent", "session", "user", "environment")
HEADER_FIELDS = {f"x-daytwo-{name}".encode(): name for name in _FIELDS}
TAGS_HEADER = b"x-daytwo-tags"
_VALUE = re.compile(r"^[^\x00-\x1f\x7f]+$")
#: The longest alias recorded for a body refused by validation (it is the caller's text).
MAX_REFUSED_ALIAS_CHARS = 256


def _clean(value: str, where: str) -> str:
    value = value.strip()
    if len(value) > MAX_VALUE_LEN:
        raise InvalidRequest(f"{where} is longer than {MAX_VALUE_LEN} characters.", param=where)
    if value and not _VALUE.match(value):
        raise InvalidRequest(f"{where} contains control characters.", param=where)
    return value


def parse_tags(text: str, where: str) -> dict[str, str]:
    """``k=v,k2=v2`` → dict; bare words become ``word=true``."""
    tags: dict[str, str] = {}
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        key, sep, value = item.partition("=")
        tags[_clean(key, where)] = _clean(value, where) if sep else "true"
    if len(tags) > MAX_TAGS:
        raise InvalidRequest(f"{where} has more than {MAX_TAGS} tags.", param=where)
    return tags


def attribute(headers: dict[bytes, bytes], body: dict[str, Any]) -> Attribution:
    values: dict[str, str] = {}
    tags: dict[str, str] = {}
    meta = body.get("metadata")
    if isinstance(meta, dict):
        for key, value in meta.items():
            if not isinstance(value, str):
                continue
            if key in _FIELDS:
                values[key] = _clean(value, f"metadata.{key}")
            elif len(tags) < MAX_TAGS:
                tags[_clean(str(key), "metadata")] = _clean(value, f"metadata.{key}")
    user = body.get("user")
    if isinstance(user, str) and user and "user" not in values:
        values["user"] = _clean(user, "user")
    for header, name in HEADER_FIELDS.items():
        raw = headers.get(header)
        if raw is not None:
            value = _clean(raw.decode("latin-1"), header.decode())
            if value:
                values[name] = value
    raw_tags = headers.get(TAGS_HEADER)
    if raw_tags is not None:
        tags.update(parse_tags(raw_tags.decode("latin-1"), TAGS_HEADER.decode()))
    project = values.pop("project", None)
    return Attribution(
        project=project or DEFAULT_PROJECT,
        attributed=bool(project),
        tags=tags,
        **values,
    )


def with_key(attr: Attribution, principal: KeyPrincipal | None) -> Attribution:
    """The key's attribution is authoritative: a client cannot bill another project."""
    if principal is not None:
        attr.project = principal.project
        attr.attributed = True
        for name in ("workflow", "feature", "environment"):
            value = getattr(principal, name)
            if value is not None:
                setattr(attr, name, value)
    return attr


def attribute_unparsed(
    headers: dict[bytes, bytes], raw: bytes, principal: KeyPrincipal | None
) -> tuple[Attribution, str]:
    """Attribution and alias for a body that was refused before it was accepted: the key and
    the headers (unless a header was what was wrong), and the model the body names if it is
    JSON naming a string model ("" otherwise). Only on that error path: it decodes the body
    again."""
    try:
        attr = attribute(headers, {})
    except InvalidRequest:
        attr = Attribution()
    try:
        body = orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError:
        body = None
    model = body.get("model") if isinstance(body, dict) else None
    alias = model[:MAX_REFUSED_ALIAS_CHARS] if isinstance(model, str) else ""
    return with_key(attr, principal), alias
