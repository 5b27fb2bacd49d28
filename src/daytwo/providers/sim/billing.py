"""The simulator's own bill: what it served, per UTC day, API, model and key, and the providers'
admin usage and cost reports built from it (with the discrepancies ``sim.billing`` plants).

Routes (``GET``; admin key from ``billing.admin_key``, as the real APIs take it):

* OpenAI ``/v1/organization/usage/completions`` and ``/v1/organization/costs``
  (``Authorization: Bearer``; ``start_time``/``end_time`` Unix seconds, ``bucket_width=1d``,
  ``group_by``, ``limit``, ``page``);
* Anthropic ``/v1/organizations/usage_report/messages`` and ``/v1/organizations/cost_report``
  (``x-api-key``; ``starting_at``/``ending_at`` RFC 3339, ``group_by[]``, ``limit``, ``page``;
  cost amounts in cents, as decimal strings).

Buckets are whole UTC days, empty days included, oldest first; ``limit`` buckets a page, and
``next_page`` is an opaque cursor. Usage reports carry every grouping field the route knows
(null when not grouped by it); cost results are per model and token type.
"""

from __future__ import annotations

import base64
import hmac
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Literal
from urllib.parse import parse_qs

import orjson

from daytwo.config.sim_billing import SimBilling

Api = Literal["openai", "anthropic"]
Headers = list[tuple[bytes, bytes]]
DAY = 86_400
_MAX_BUCKETS = 31
_DEFAULT_BUCKETS = 7
_OPENAI_USAGE = "/v1/organization/usage/completions"
_OPENAI_COSTS = "/v1/organization/costs"
_ANTHROPIC_USAGE = "/v1/organizations/usage_report/messages"
_ANTHROPIC_COSTS = "/v1/organizations/cost_report"
ADMIN_PATHS = frozenset({_OPENAI_USAGE, _OPENAI_COSTS, _ANTHROPIC_USAGE, _ANTHROPIC_COSTS})


@dataclass(frozen=True, slots=True)
class Served:
    """One model request the simulator answered (or let hang): what a provider would bill."""

    model: str
    input_tokens: int
    output_tokens: int
    fault: str | None
    cached_input_tokens: int = 0
    cache_write_tokens: int = 0


@dataclass(slots=True)
class _Tally:
    requests: int = 0
    uncached: int = 0
    cached: int = 0
    written: int = 0
    output: int = 0

    def add(self, requests: int, uncached: int, cached: int, written: int, output: int) -> None:
        self.requests += requests
        self.uncached += uncached
        self.cached += cached
        self.written += written
        self.output += output


_Key = tuple[Api, int, str, str]  # api, day start, model, api key id


class BillingBook:
    """What the simulator served, tallied per (API, UTC day, model, key)."""

    def __init__(self, settings: SimBilling) -> None:
        self.settings = settings
        self._tallies: dict[_Key, _Tally] = defaultdict(_Tally)

    def record(self, api: Api, served: Served, at: float) -> None:
        if served.fault == "timeout" and self.settings.unbilled_cancelled:
            return
        day = int(at) // DAY * DAY
        cached, written = served.cached_input_tokens, served.cache_write_tokens
        uncached = max(0, served.input_tokens - cached - written)
        key = (api, day, served.model, self.settings.api_key_id)
        self._tallies[key].add(1, uncached, cached, written, served.output_tokens)

    def tallies(self, api: Api, start: int, end: int, today: int) -> dict[_Key, _Tally]:
        """Every tally of ``api`` whose day is in [start, end), planted usage included."""
        out: dict[_Key, _Tally] = defaultdict(_Tally)
        for key, tally in self._tallies.items():
            if key[0] == api and start <= key[1] < end:
                out[key].add(
                    tally.requests, tally.uncached, tally.cached, tally.written, tally.output
                )
        s = self.settings
        planted = [(u, u.api_key_id or s.api_key_id) for u in s.extra_calls]
        planted += [(u, u.api_key_id or "key_elsewhere") for u in s.other_key_traffic]
        for usage, key_id in planted:
            day = today if usage.day is None else _day_start(usage.day)
            if start <= day < end:
                out[(api, day, usage.model, key_id)].add(
                    usage.requests, usage.input_tokens, 0, 0, usage.output_tokens
                )
        return out

    def line_nanos(self, model: str, kind: str, tokens: int) -> int:
        """The billed cost of ``tokens`` of one kind (input, cached_input, cache_write, output)."""
        price = self.settings.prices.get(model)
        if price is None or tokens == 0:
            return 0
        per_m = {
            "input": price.input,
            "output": price.output,
            "cached_input": price.input if price.cached_input is None else price.cached_input,
            "cache_write": price.input if price.cache_write is None else price.cache_write,
        }[kind]
        per_m *= self.settings.price_multiplier.get(model, Decimal(1))
        return int((per_m * 1000 * tokens).to_integral_value())  # nano-dollars, half-even


def _day_start(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())


class AdminError(Exception):
    def __init__(self, status: int, message: str, headers: Headers | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or []


class AdminRoutes:
    """The four admin routes over one :class:`BillingBook` (see the module docstring)."""

    def __init__(self, book: BillingBook) -> None:
        self.book = book
        self._seen = 0

    def answer(
        self, path: str, query: bytes, headers: Headers, now: float
    ) -> tuple[int, bytes, Headers]:
        api: Api = "openai" if path.startswith("/v1/organization/") else "anthropic"
        try:
            self._authorize(api, headers)
            self._seen += 1
            every = self.book.settings.rate_limit_every
            if every and self._seen % every == 0:
                retry = str(self.book.settings.retry_after_s).encode()
                raise AdminError(429, "Rate limit exceeded.", [(b"retry-after", retry)])
            params = parse_qs(query.decode("latin-1"), keep_blank_values=True)
            body = self._route(path, params, now)
        except AdminError as exc:
            return exc.status, _error(api, exc), exc.headers
        return 200, orjson.dumps(body), []

    def _authorize(self, api: Api, headers: Headers) -> None:
        key = self.book.settings.admin_key.encode()
        given = dict(headers)
        bearer = given.get(b"authorization")
        x_key = given.get(b"x-api-key")
        ok = (bearer is not None and hmac.compare_digest(bearer, b"Bearer " + key)) or (
            api == "anthropic" and x_key is not None and hmac.compare_digest(x_key, key)
        )
        if not ok:
            if api == "openai":
                raise AdminError(401, "Invalid admin key: this route needs an Admin API key.")
            raise AdminError(401, "invalid x-api-key")

    def _route(self, path: str, params: dict[str, list[str]], now: float) -> dict[str, object]:
        today = int(now) // DAY * DAY
        if path in (_OPENAI_USAGE, _OPENAI_COSTS):
            start = _int_param(params, "start_time", required=True)
            end = _int_param(params, "end_time") or today + DAY
            groups = set(params.get("group_by", []) + params.get("group_by[]", []))
        else:
            start = _time_param(params, "starting_at", required=True)
            end = _time_param(params, "ending_at") or today + DAY
            groups = set(params.get("group_by[]", []) + params.get("group_by", []))
        _check_width(params)
        if start is None:
            raise AdminError(400, "the start of the range is required")
        days = _days(start, end)
        first = _cursor(params)
        limit = _int_param(params, "limit") or _DEFAULT_BUCKETS
        if not 1 <= limit <= _MAX_BUCKETS:
            raise AdminError(400, f"limit must be between 1 and {_MAX_BUCKETS}")
        page = [d for d in days if d >= first][:limit]
        more = bool(page) and page[-1] < days[-1]
        next_page = _encode_cursor(page[-1] + DAY) if more else None
        api: Api = "openai" if path.startswith("/v1/organization/") else "anthropic"
        tallies = self.book.tallies(api, page[0], page[-1] + DAY, today) if page else {}
        buckets = [self._bucket(path, day, tallies, groups) for day in page]
        if api == "openai":
            return {"object": "page", "data": buckets, "has_more": more, "next_page": next_page}
        return {"data": buckets, "has_more": more, "next_page": next_page}

    def _bucket(
        self, path: str, day: int, tallies: dict[_Key, _Tally], groups: set[str]
    ) -> dict[str, object]:
        rows = [(k, t) for k, t in sorted(tallies.items()) if k[1] == day]
        if path == _OPENAI_USAGE:
            results = _merge_openai_usage(rows, groups, self.book.settings.project_id)
            return {
                "object": "bucket",
                "start_time": day,
                "end_time": day + DAY,
                "results": results,
            }
        if path == _OPENAI_COSTS:
            return {
                "object": "bucket",
                "start_time": day,
                "end_time": day + DAY,
                "results": self._openai_costs(rows, groups),
            }
        if path == _ANTHROPIC_USAGE:
            results = _merge_anthropic_usage(rows, groups)
        else:
            results = self._anthropic_costs(rows)
        return {"starting_at": _iso(day), "ending_at": _iso(day + DAY), "results": results}

    def _lines(self, rows: Iterable[tuple[_Key, _Tally]]) -> dict[tuple[str, str], int]:
        lines: dict[tuple[str, str], int] = defaultdict(int)
        for (_, _, model, _), t in rows:
            for kind, tokens in (("input", t.uncached), ("cached_input", t.cached),
                                 ("cache_write", t.written), ("output", t.output)):  # fmt: skip
                nanos = self.book.line_nanos(model, kind, tokens)
                if nanos:
                    lines[(model, kind)] += nanos
        return lines

    def _openai_costs(
        self, rows: list[tuple[_Key, _Tally]], groups: set[str]
    ) -> list[dict[str, object]]:
        names = {
            "input": "input",
            "cached_input": "cached input",
            "cache_write": "input",
            "output": "output",
        }
        merged: dict[tuple[str | None, str | None], int] = defaultdict(int)
        project = self.book.settings.project_id
        for (model, kind), nanos in self._lines(rows).items():
            line = f"{model}, {names[kind]}" if "line_item" in groups else None
            merged[(line, project if "project_id" in groups else None)] += nanos
        return [
            {
                "object": "organization.costs.result",
                "amount": {"value": float(Decimal(nanos).scaleb(-9)), "currency": "usd"},
                "line_item": line,
                "project_id": proj,
            }
            for (line, proj), nanos in merged.items()
        ]

    def _anthropic_costs(self, rows: list[tuple[_Key, _Tally]]) -> list[dict[str, object]]:
        token_types = {
            "input": "uncached_input_tokens",
            "cached_input": "cache_read_input_tokens",
            "cache_write": "cache_creation.ephemeral_5m_input_tokens",
            "output": "output_tokens",
        }
        labels = {
            "input": "Input Tokens",
            "cached_input": "Cache Read",
            "cache_write": "Cache Write",
            "output": "Output Tokens",
        }
        return [
            {
                "currency": "USD",
                "amount": _cents(nanos),
                "workspace_id": None,
                "description": f"{model} Usage - {labels[kind]}",
                "cost_type": "tokens",
                "context_window": "0-200k",
                "model": model,
                "service_tier": "standard",
                "token_type": token_types[kind],
                "inference_geo": "global",
            }
            for (model, kind), nanos in sorted(self._lines(rows).items())
        ]


def _merge_openai_usage(
    rows: list[tuple[_Key, _Tally]], groups: set[str], project: str
) -> list[dict[str, object]]:
    merged: dict[tuple[str | None, str | None], _Tally] = defaultdict(_Tally)
    for (_, _, model, key_id), t in rows:
        group = (model if "model" in groups else None, key_id if "api_key_id" in groups else None)
        merged[group].add(t.requests, t.uncached, t.cached, t.written, t.output)
    return [
        {
            "object": "organization.usage.completions.result",
            "input_tokens": t.uncached + t.cached + t.written,
            "output_tokens": t.output,
            "input_cached_tokens": t.cached,
            "input_audio_tokens": 0,
            "output_audio_tokens": 0,
            "num_model_requests": t.requests,
            "project_id": project if "project_id" in groups else None,
            "user_id": None,
            "api_key_id": key_id,
            "model": model,
            "batch": None,
        }
        for (model, key_id), t in merged.items()
    ]


def _merge_anthropic_usage(
    rows: list[tuple[_Key, _Tally]], groups: set[str]
) -> list[dict[str, object]]:
    merged: dict[tuple[str | None, str | None], _Tally] = defaultdict(_Tally)
    for (_, _, model, key_id), t in rows:
        group = (model if "model" in groups else None, key_id if "api_key_id" in groups else None)
        merged[group].add(t.requests, t.uncached, t.cached, t.written, t.output)
    return [
        {
            "uncached_input_tokens": t.uncached,
            "cache_read_input_tokens": t.cached,
            "cache_creation": {
                "ephemeral_5m_input_tokens": t.written,
                "ephemeral_1h_input_tokens": 0,
            },
            "output_tokens": t.output,
            "server_tool_use": {"web_search_requests": 0},
            "api_key_id": key_id,
            "workspace_id": None,
            "model": model,
            "service_tier": None,
            "context_window": None,
        }
        for (model, key_id), t in merged.items()
    ]


def _cents(nanos: int) -> str:
    """Nano-dollars as cents, an exact decimal string (1 cent = 10**7 nano-dollars)."""
    return format(Decimal(nanos).scaleb(-7).normalize(), "f")


def _iso(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _days(start: int, end: int) -> list[int]:
    if end <= start:
        raise AdminError(400, "the end of the range must be after its start")
    first = start // DAY * DAY
    return list(range(first, end, DAY))


def _check_width(params: dict[str, list[str]]) -> None:
    width = params.get("bucket_width", ["1d"])[-1]
    if width != "1d":
        raise AdminError(400, f"bucket_width {width!r} is not supported by the simulator: use 1d")


def _int_param(params: dict[str, list[str]], name: str, *, required: bool = False) -> int | None:
    values = params.get(name)
    if not values:
        if required:
            raise AdminError(400, f"{name} is required")
        return None
    try:
        return int(values[-1])
    except ValueError:
        raise AdminError(400, f"{name} must be an integer") from None


def _time_param(params: dict[str, list[str]], name: str, *, required: bool = False) -> int | None:
    values = params.get(name)
    if not values:
        if required:
            raise AdminError(400, f"{name}: Field required")
        return None
    try:
        when = datetime.fromisoformat(values[-1].replace("Z", "+00:00"))
    except ValueError:
        raise AdminError(400, f"{name}: expected an RFC 3339 timestamp") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return int(when.timestamp())


def _encode_cursor(day: int) -> str:
    return "page_" + base64.urlsafe_b64encode(str(day).encode()).decode()


def _cursor(params: dict[str, list[str]]) -> int:
    values = params.get("page")
    if not values or not values[-1]:
        return 0
    try:
        return int(base64.urlsafe_b64decode(values[-1].removeprefix("page_")).decode())
    except ValueError:
        raise AdminError(400, "page: not a cursor this API returned") from None


def _error(api: Api, exc: AdminError) -> bytes:
    if api == "openai":
        kind = "invalid_request_error"
        return orjson.dumps(
            {"error": {"message": exc.message, "type": kind, "param": None, "code": None}}
        )
    kinds = {401: "authentication_error", 429: "rate_limit_error"}
    err = {"type": kinds.get(exc.status, "invalid_request_error"), "message": exc.message}
    return orjson.dumps({"type": "error", "error": err})
