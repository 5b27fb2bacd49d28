"""``GET /admin/triage``: what ``daytwo triage --json`` prints -- the incident window (the last
``since``) against a baseline (the same length before it, or ``baseline_from``/``baseline_to``),
suspects ranked with their evidence (daytwo.incidents.triage).

The ledger read runs in a worker thread. A project-scoped token triages its project's calls
only (and sees the control-stream entries of its project or of no project).
"""

from __future__ import annotations

import asyncio
import re
import time
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from starlette.responses import Response

from daytwo.admin.declare import Gw, Who, outside, reply, route
from daytwo.core.errors import InternalError, InvalidRequest
from daytwo.incidents.triage import triage

DEFAULT_SINCE = "2h"
_UNITS = {"m": 60, "h": 3_600, "d": 86_400, "w": 604_800}

SinceQuery = Annotated[
    str, Query(description="The incident window, ending now: `30m`, `2h`, `1d`.")
]
TimeQuery = Annotated[
    str | None, Query(description="Baseline bound (ISO 8601, UTC unless an offset is given).")
]
NameQuery = Annotated[str | None, Query(description="Only these calls.")]


def _seconds(text: str) -> float:
    m = re.fullmatch(r"(\d+)([mhdw])", text.strip())
    if m is None or int(m.group(1)) == 0:
        raise InvalidRequest(
            f"Expected a duration such as 30m, 2h or 1d, got `{text}`.", param="since"
        )
    return float(int(m.group(1)) * _UNITS[m.group(2)])


def _when(name: str, text: str) -> float:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidRequest(f"Expected an ISO date or time, got `{text}`.", param=name) from None
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()


def declare(router: APIRouter) -> None:
    @route(
        router,
        "GET",
        "/admin/triage",
        "viewer",
        summary="What changed? Suspects ranked against a baseline (`daytwo triage`).",
        ok=None,
        ok_description="The triage: window, baseline, scope, calls, ranked suspects",
        errors=(400, 403),
    )
    async def triage_route(
        who: Who,
        gw: Gw,
        since: SinceQuery = DEFAULT_SINCE,
        baseline_from: TimeQuery = None,
        baseline_to: TimeQuery = None,
        project: NameQuery = None,
        workflow: NameQuery = None,
        alias: NameQuery = None,
    ) -> Response:
        length = _seconds(since)
        end = time.time()
        start = end - length
        if (baseline_from is None) != (baseline_to is None):
            raise InvalidRequest("baseline_from and baseline_to go together.", param="baseline_to")
        if baseline_from is not None and baseline_to is not None:
            base = (_when("baseline_from", baseline_from), _when("baseline_to", baseline_to))
            if base[1] <= base[0]:
                raise InvalidRequest(
                    "baseline_to must be after baseline_from.", param="baseline_to"
                )
        else:
            base = (start - length, start)
        if base[0] < end and start < base[1]:
            raise InvalidRequest(
                "The baseline overlaps the incident window.", param="baseline_from"
            )
        if who.project is not None:
            if project is not None and project != who.project:
                raise outside(who, f"triage project `{project}`")
            project = who.project
        ledger = gw.ledger
        if ledger is None:
            raise InternalError("The admin API is not ready: the ledger is not open yet.")
        result = await asyncio.to_thread(
            triage,
            ledger.store,
            window=(start, end),
            baseline=base,
            project=project,
            workflow=workflow,
            alias=alias,
            since=since.strip(),
        )
        data: dict[str, Any] = result.to_json()
        return reply(data)
