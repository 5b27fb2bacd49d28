"""Scopes: which calls a budget, rate limit or kill switch applies to.

A scope is a combination of fields of the call's subject (its attribution plus the virtual key,
model and provider). Each field is either a fixed value (``project=acme``: only that project) or
``*`` (one counter *per* distinct value: ``user=*`` gives every user their own cap). The empty
scope is the organisation: every call.

A concrete scope key is a stable string, fields in :data:`SCOPE_FIELDS` order, values
percent-escaped: ``org``, ``project=acme``, ``project=acme,user=bob%2Cjr``. It names counters in
the state store and switches, so it must never change for the same inputs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote, unquote

from daytwo.core.types import SCOPE_FIELDS, Attribution

ORG = "org"
EACH = "*"
_SAFE = "-_.~:/@"


@dataclass(frozen=True, slots=True)
class Subject:
    """The facts about one call that scopes match against."""

    project: str | None = None
    workflow: str | None = None
    feature: str | None = None
    agent: str | None = None
    session: str | None = None
    user: str | None = None
    environment: str | None = None
    key: str | None = None
    model: str | None = None
    provider: str | None = None

    @classmethod
    def of(
        cls,
        attribution: Attribution,
        *,
        key: str | None = None,
        model: str | None = None,
        provider: str | None = None,
    ) -> Subject:
        a = attribution
        return cls(
            a.project,
            a.workflow,
            a.feature,
            a.agent,
            a.session,
            a.user,
            a.environment,
            key,
            model,
            provider,
        )

    def get(self, name: str) -> str | None:
        value: str | None = getattr(self, name)
        return value


@dataclass(frozen=True, slots=True)
class Scope:
    """A scope pattern: ``(field, value)`` pairs in :data:`SCOPE_FIELDS` order (value or ``*``)."""

    fields: tuple[tuple[str, str], ...] = ()

    @classmethod
    def parse(cls, spec: Mapping[str, str] | str | None) -> Scope:
        """From a mapping (``{"project": "acme", "user": "*"}``) or a key (``project=acme``)."""
        if spec is None or spec == ORG or spec == "":
            return cls()
        if isinstance(spec, str):
            pairs: dict[str, str] = {}
            for part in spec.split(","):
                name, sep, value = part.partition("=")
                if not sep:
                    raise ValueError(f"scope part {part!r} is not field=value")
                pairs[name] = value if value == EACH else unquote(value)
            spec = pairs
        unknown = sorted(set(spec) - set(SCOPE_FIELDS))
        if unknown:
            raise ValueError(f"unknown scope field(s) {unknown}; expected one of {SCOPE_FIELDS}")
        for name, value in spec.items():
            if not isinstance(value, str) or not value:
                raise ValueError(f"scope field {name!r} needs a non-empty string value")
        return cls(tuple((f, spec[f]) for f in SCOPE_FIELDS if f in spec))

    @property
    def is_concrete(self) -> bool:
        return all(v != EACH for _, v in self.fields)

    def resolve(self, subject: Subject) -> str | None:
        """The concrete scope key for ``subject``, or None when this scope does not apply."""
        if not self.fields:
            return ORG
        parts = []
        for name, want in self.fields:
            have = subject.get(name)
            if have is None or (want != EACH and have != want):
                return None
            parts.append(f"{name}={quote(have, safe=_SAFE)}")
        return ",".join(parts)

    def key(self) -> str:
        """The key of a concrete scope (``*`` stays ``*``: a pattern's own name)."""
        if not self.fields:
            return ORG
        return ",".join(f"{n}={v if v == EACH else quote(v, safe=_SAFE)}" for n, v in self.fields)

    def as_dict(self) -> dict[str, str]:
        return dict(self.fields)

    def __str__(self) -> str:
        return self.key()


def scope_key(spec: Mapping[str, str]) -> str:
    """The stable key of a concrete scope given as a mapping."""
    return Scope.parse(spec).key()


def match_all(scopes: Mapping[str, Scope], subject: Subject) -> list[tuple[str, str]]:
    """``(name, concrete key)`` for every named scope that applies to ``subject``."""
    out = []
    for name, scope in scopes.items():
        k = scope.resolve(subject)
        if k is not None:
            out.append((name, k))
    return out
