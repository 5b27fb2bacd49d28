"""``/admin/prompts``: the prompts the gateway serves (versions, labels after its overrides,
content hashes, templates) and each version's traffic from the ledger.

Prompts are read from the set the gateway holds (:class:`daytwo.gateway.prompt_stage.
PromptSource`: reloaded when the directory changes), so an answer shows what the next call
gets. Stats are :func:`daytwo.ledger.prompts.prompt_stats`, the function behind ``daytwo
prompts stats``, run in a worker thread: the ledger read never blocks the event loop.

Prompt files are not project data: any viewer reads them. Stats are the whole organisation's
traffic, so a project-scoped token is refused them (403 ``project_scope``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from starlette.responses import Response

from daytwo.admin.declare import Gw, Who, outside, reply, route
from daytwo.core.errors import InternalError, NotFound
from daytwo.gateway.app import Gateway
from daytwo.ledger.prompts import VersionStats, prompt_stats
from daytwo.prompts import PromptSet, PromptVersion

#: ``daytwo prompts stats``'s default window (``--since 30d``).
DEFAULT_DAYS = 30
MAX_DAYS = 366
DAY_S = 86_400


def _default_when_empty(value: object) -> object:
    return DEFAULT_DAYS if value == "" else value  # `?days=` is the default, as `?limit=` is


NameParam = Annotated[str, Path(description="The prompt's name (its folder).")]
DaysQuery = Annotated[
    int,
    Query(ge=1, le=MAX_DAYS, description="The window: the last N days, ending now."),
    BeforeValidator(_default_when_empty),
]


# -- answers (documentation only: handlers build plain JSON, a test checks it) ---------------


class _Response(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PromptMetadata(_Response):
    owner: str | None
    description: str | None
    tags: list[str]


class PromptSummary(_Response):
    name: str
    versions: list[int] = Field(description="Every version number, oldest first.")
    labels: dict[str, int] = Field(
        description="Label → version, after the gateway's `prompts.labels` overrides."
    )
    model: str = Field(description="The model alias of the newest version.")
    hashes: dict[str, str] = Field(description="Version number → content hash (`sha256:…`).")
    metadata: PromptMetadata = Field(description="The newest version's metadata.")


class PromptList(_Response):
    object: Literal["list"]
    default_label: str | None = Field(
        description="The label a call gets when it names none (null: no prompts configured)."
    )
    data: list[PromptSummary] = Field(description="Empty when the gateway serves no prompts.")


class Message(_Response):
    role: str
    content: str = Field(description="The template's source.")


class VersionDetail(_Response):
    version: int
    hash: str = Field(description="The content hash every call made with it records.")
    file: str
    model: str
    params: dict[str, Any] = Field(description="The request parameters it sets.")
    variables: dict[str, dict[str, Any]] = Field(description="The variables it declares.")
    system: str | None = Field(description="The system template's source.")
    messages: list[Message]
    metadata: PromptMetadata
    labels: list[str] = Field(description="The labels pointing at it.")


class Prompt(_Response):
    object: Literal["prompt"]
    name: str
    labels: dict[str, int]
    default_label: str
    versions: list[VersionDetail] = Field(description="Oldest first.")


class VersionTraffic(_Response):
    version: int
    calls: int
    input_tokens: int
    output_tokens: int
    input_tokens_per_call: float
    output_tokens_per_call: float
    cost_usd: str = Field(description="US dollars as a decimal string (9 places).")
    cost_nanousd: int = Field(description="The same in billionths of a dollar (exact).")
    cost_per_call_usd: str | None = Field(description="Null when no call was priced.")
    cost_per_call_nanousd: float | None
    priced_calls: int
    latency_p50_ms: float | None = Field(description="Of the calls that succeeded.")
    latency_p95_ms: float | None
    errors: int
    rejected: int
    error_rate: float = Field(ge=0, le=1, description="Upstream or internal failures.")
    refusal_rate: float = Field(ge=0, le=1, description="Calls daytwo refused (`rejected`).")
    first_at: float
    last_at: float


class PromptStats(_Response):
    object: Literal["prompt_stats"]
    prompt: str
    days: int
    start: float
    end: float
    versions: list[VersionTraffic] = Field(description="Versions with calls, oldest first.")


# -- routes ----------------------------------------------------------------------------------


def declare(router: APIRouter) -> None:
    @route(
        router,
        "GET",
        "/admin/prompts",
        "viewer",
        summary="Every prompt the gateway serves: versions, labels, model, hashes, metadata.",
        ok=PromptList,
        ok_description="Prompts (an empty list when the gateway serves none)",
    )
    async def prompts_list(who: Who, gw: Gw) -> Response:
        served = gw.prompts.current
        if served is None:
            return reply({"object": "list", "default_label": None, "data": []})
        data = [_summary(served, name) for name in sorted(served.versions)]
        return reply({"object": "list", "default_label": served.default_label, "data": data})

    @route(
        router,
        "GET",
        "/admin/prompts/{name}",
        "viewer",
        summary="One prompt: each version's templates, parameters, variables and hash.",
        ok=Prompt,
        ok_description="The prompt",
        errors=(404,),
    )
    async def prompts_get(who: Who, gw: Gw, name: NameParam) -> Response:
        served = _served(gw, name)
        labels = served.labels.get(name, {})
        return reply(
            {
                "object": "prompt",
                "name": name,
                "labels": dict(sorted(labels.items())),
                "default_label": served.default_label,
                "versions": [_detail(v, labels) for _, v in sorted(served.versions[name].items())],
            }
        )

    @route(
        router,
        "GET",
        "/admin/prompts/{name}/stats",
        "viewer",
        summary="Per-version traffic from the ledger (what `daytwo prompts stats` prints).",
        ok=PromptStats,
        ok_description="Per-version stats (no versions: no calls in the window)",
        errors=(400, 403),
    )
    async def prompts_stats(
        who: Who, gw: Gw, name: NameParam, days: DaysQuery = DEFAULT_DAYS
    ) -> Response:
        if who.project is not None:
            raise outside(who, "read prompt stats (they count every project's calls)")
        ledger = gw.ledger
        if ledger is None:
            raise InternalError("The admin API is not ready: the ledger is not open yet.")
        end = time.time()
        start = end - days * DAY_S
        rows = await asyncio.to_thread(prompt_stats, ledger.store, name, start, end)
        return reply(
            {
                "object": "prompt_stats",
                "prompt": name,
                "days": days,
                "start": start,
                "end": end,
                "versions": [_traffic(r) for r in rows],
            }
        )


def _served(gw: Gateway, name: str) -> PromptSet:
    served = gw.prompts.current
    if served is None:
        raise NotFound(
            "This gateway serves no prompts (set `prompts.dir` in its config).",
            code="prompts_not_configured",
        )
    if name not in served.versions:
        raise NotFound(f"No prompt named `{name}`.", param="name", code="prompt_not_found")
    return served


def _metadata(v: PromptVersion) -> dict[str, Any]:
    return v.spec.metadata.model_dump(mode="json")


def _summary(served: PromptSet, name: str) -> dict[str, Any]:
    versions = served.versions[name]
    newest = versions[max(versions)]
    return {
        "name": name,
        "versions": sorted(versions),
        "labels": dict(sorted(served.labels.get(name, {}).items())),
        "model": newest.spec.model,
        "hashes": {str(n): versions[n].hash for n in sorted(versions)},
        "metadata": _metadata(newest),
    }


def _detail(v: PromptVersion, labels: Mapping[str, int]) -> dict[str, Any]:
    spec = v.spec
    return {
        "version": v.version,
        "hash": v.hash,
        "file": v.file,
        "model": spec.model,
        "params": spec.params(),
        "variables": {k: var.model_dump(mode="json") for k, var in spec.variables.items()},
        "system": spec.system,
        "messages": [m.model_dump(mode="json") for m in spec.messages],
        "metadata": _metadata(v),
        "labels": sorted(label for label, n in labels.items() if n == v.version),
    }


def _traffic(r: VersionStats) -> dict[str, Any]:
    return {
        **r.to_json(),  # the figures `daytwo prompts stats --json` prints
        "input_tokens": r.input_tokens,
        "output_tokens": r.output_tokens,
        "cost_nanousd": r.cost_nanousd,
        "cost_per_call_nanousd": r.cost_per_call_nanousd,
        "priced_calls": r.priced_calls,
        "errors": r.errors,
        "rejected": r.rejected,
    }
