"""The ``prompts`` section: where the gateway finds its prompt files (prompts as code)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field


class PromptsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    #: The prompt directory (relative paths: from the config file's folder). None: the gateway
    #: serves no prompts, and a call naming one gets a 400.
    dir: str | None = None
    #: The label a call gets when it names none and no label is named like its environment.
    default_label: str = Field("production", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    #: This gateway's own labels, over ``labels.yaml``: ``{prompt: {label: version}}``.
    labels: dict[str, dict[str, Annotated[int, Field(ge=1)]]] = Field(default_factory=dict)
    #: Poll the directory for changes every this many seconds (0: off).
    reload_poll_s: float = Field(2.0, ge=0)
