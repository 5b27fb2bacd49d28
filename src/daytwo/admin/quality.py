"""``GET /admin/quality``: what ``daytwo quality --json`` prints -- per evaluator and group
(model, prompt version, workflow, ...) the rate over the last ``hours`` against the hours
before, with Wilson intervals and the two-proportion test (daytwo.quality.report).

The ledger read runs in a worker thread. A project-scoped token sees only its project's
calls' scores (scores whose call row is not written yet are then left out).
"""

from __future__ import annotations

import asyncio
import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from starlette.responses import Response

from daytwo.admin.declare import Gw, Who, reply, route
from daytwo.core.errors import InternalError, InvalidRequest
from daytwo.ledger.dims import QUALITY_DIMS
from daytwo.quality.report import quality_report

DEFAULT_HOURS = 24
MAX_HOURS = 24 * 366
HOUR_S = 3_600


def _default_when_empty(value: object) -> object:
    return DEFAULT_HOURS if value == "" else value


HoursQuery = Annotated[
    int,
    Query(ge=1, le=MAX_HOURS, description="The window: the last N hours, ending now."),
    BeforeValidator(_default_when_empty),
]
ByQuery = Annotated[
    list[str] | None,
    Query(description=f"Group by (repeatable): {', '.join(QUALITY_DIMS)}."),
]
EvaluatorQuery = Annotated[
    str | None, Query(description="Only this evaluator (`refusal`, `feedback:thumbs`, …).")
]


class _Response(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Span(_Response):
    start: float
    end: float


class WindowFigures(_Response):
    n: int = Field(description="Scores with a value.")
    rate: float | None = Field(description="Mean value (null: no scores).")
    successes: int | None = Field(description="Sum of values, rounded (null: a measurement).")
    ci_low: float | None = Field(description="Wilson 95% interval of the rate.")
    ci_high: float | None


class QualityRowAnswer(_Response):
    evaluator: str
    group: dict[str, str | None] = Field(description="Dimension → value (null: none).")
    window: WindowFigures
    previous: WindowFigures
    delta: float | None = Field(description="rate - previous rate.")
    p_value: float | None = Field(description="Two-proportion z-test (null: not tested).")
    verdict: Literal["better", "worse", "no change", "not enough events", "measurement"]
    approximate: bool = Field(description="Values between 0 and 1 counted as rounded sums.")


class QualityAnswer(_Response):
    object: Literal["quality_report"]
    hours: int
    window: Span
    previous: Span
    by: list[str]
    min_events: int
    alpha: float
    rows: list[QualityRowAnswer]


def declare(router: APIRouter) -> None:
    @route(
        router,
        "GET",
        "/admin/quality",
        "viewer",
        summary="Quality rates per evaluator and group vs the window before (`daytwo quality`).",
        ok=QualityAnswer,
        ok_description="The report (no rows: no scores in either window)",
        errors=(400,),
    )
    async def quality(
        who: Who,
        gw: Gw,
        hours: HoursQuery = DEFAULT_HOURS,
        by: ByQuery = None,
        evaluator: EvaluatorQuery = None,
    ) -> Response:
        dims = tuple(by or ())
        for name in dims:
            if name not in QUALITY_DIMS:
                raise InvalidRequest(
                    f"Unknown dimension `{name}` (choose from {', '.join(QUALITY_DIMS)}).",
                    param="by",
                )
        if len(set(dims)) != len(dims):
            raise InvalidRequest("A dimension is named twice.", param="by")
        ledger = gw.ledger
        if ledger is None:
            raise InternalError("The admin API is not ready: the ledger is not open yet.")
        end = time.time()
        report = await asyncio.to_thread(
            quality_report,
            ledger.store,
            end - hours * HOUR_S,
            end,
            dims,
            evaluator=evaluator or None,
            project=who.project,
        )
        data: dict[str, Any] = {"object": "quality_report", "hours": hours, **report.to_json()}
        return reply(data)
