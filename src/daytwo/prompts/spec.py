"""The prompt file schema and a version's identity.

One file per version: ``<dir>/<name>/v<N>.yaml``. A published version is never edited; a change
is a new file (``v4.yaml`` beside ``v3.yaml``), so a pull request that promotes it is one line in
``labels.yaml`` and the diff of a version is a diff of two files.

The request parameters a prompt sets (``temperature``, ``max_tokens``, ...) are top-level keys
of the file, beside ``model``: see :data:`PARAMS`.

Identity: ``sha256:`` + the SHA-256 of the canonical JSON (sorted keys, no whitespace) of what
shapes the request -- model, templates, parameters, tools, response format and the variables'
declarations. YAML formatting, comments, ``metadata`` and the version number do not change it.
"""

from __future__ import annotations

import hashlib
from typing import Annotated, Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, model_validator

from daytwo.core.types import json_type_name

NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"
PromptName = Annotated[str, Field(pattern=NAME_PATTERN)]
VarType = Literal["string", "integer", "number", "boolean", "array", "object"]
Role = Literal["system", "developer", "user", "assistant"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Variable(_Model):
    type: VarType = "string"
    #: Required unless a default is given.
    required: bool | None = None
    default: Any = None
    description: str | None = None

    @property
    def is_required(self) -> bool:
        return self.required if self.required is not None else self.default is None

    @model_validator(mode="after")
    def _default_has_type(self) -> Variable:
        if self.default is not None and not type_ok(self.type, self.default):
            raise ValueError(f"default: expected {self.type}, got {json_type_name(self.default)}")
        return self


class MessageTemplate(_Model):
    role: Role
    content: str


class Metadata(_Model):
    owner: str | None = None
    description: str | None = None
    tags: tuple[str, ...] = ()


class PromptSpec(_Model):
    """One version of one prompt, as written in its file."""

    name: PromptName
    version: int = Field(ge=1)
    #: The model alias of the gateway's config that serves this prompt.
    model: str = Field(min_length=1)
    system: str | None = None
    messages: tuple[MessageTemplate, ...] = ()
    variables: dict[Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_]*$")], Variable] = Field(
        default_factory=dict
    )
    # -- request parameters (top level, like `model`) --
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, ge=0, le=1)
    max_tokens: int | None = Field(None, ge=1)
    stop: tuple[str, ...] | None = None
    seed: int | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    tools: tuple[dict[str, Any], ...] | None = None
    response_format: dict[str, Any] | None = None
    metadata: Metadata = Metadata()

    @model_validator(mode="after")
    def _has_a_template(self) -> PromptSpec:
        if self.system is None and not self.messages:
            raise ValueError("a prompt needs `system` or `messages`")
        return self

    def params(self) -> dict[str, Any]:
        """The request parameters this version sets (OpenAI Chat Completions names)."""
        out: dict[str, Any] = {}
        for name in PARAMS:
            value = getattr(self, name)
            if value is not None:
                out[name] = list(value) if isinstance(value, tuple) else value
        return out

    def identity(self) -> dict[str, Any]:
        """What the content hash covers."""
        return {
            "model": self.model,
            "system": self.system,
            "messages": [m.model_dump() for m in self.messages],
            "params": self.params(),
            "variables": {
                k: v.model_dump(exclude={"description"}) for k, v in self.variables.items()
            },
        }

    def content_hash(self) -> str:
        canon = orjson.dumps(self.identity(), option=orjson.OPT_SORT_KEYS)
        return "sha256:" + hashlib.sha256(canon).hexdigest()


#: Request parameters a prompt may set, in the order they are applied.
PARAMS = (
    "temperature",
    "top_p",
    "max_tokens",
    "stop",
    "seed",
    "presence_penalty",
    "frequency_penalty",
    "tool_choice",
    "parallel_tool_calls",
    "tools",
    "response_format",
)


def type_ok(kind: str, value: Any) -> bool:
    if kind == "string":
        return isinstance(value, str)
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "array":
        return isinstance(value, list)
    return isinstance(value, dict)


class PromptVersion:
    """One loaded version: its spec, its compiled templates, its hash and file."""

    __slots__ = ("file", "hash", "spec", "system", "templates")

    def __init__(
        self, spec: PromptSpec, file: str, system: Any, templates: tuple[Any, ...]
    ) -> None:
        self.spec = spec
        self.file = file
        self.hash = spec.content_hash()
        #: Compiled templates (:class:`~daytwo.prompts.sandbox.Compiled`): system, messages.
        self.system = system
        self.templates = templates

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def version(self) -> int:
        return self.spec.version


Labels = dict[str, dict[str, int]]
LabelName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]


class LabelsFile(_Model):
    """``labels.yaml``: ``{<prompt>: {<label>: <version>}}``."""

    labels: dict[PromptName, dict[LabelName, Annotated[int, Field(ge=1)]]]
