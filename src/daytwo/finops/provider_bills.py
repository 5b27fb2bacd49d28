"""The providers' own bills, read through their admin APIs: OpenAI's usage (completions) and
costs reports, Anthropic's messages usage report and cost report.

:func:`fetch_bill` follows every page (``has_more``/``next_page``), waits out 429s as
``retry-after`` says (up to :data:`MAX_RETRIES` times) and returns one :class:`ProviderBill` per
UTC day and model. Money is exact: OpenAI's dollar amounts are read as decimals from the JSON
text, Anthropic's cents are decimal strings; both become integer nano-dollars. The admin key is
sent, never shown: errors name the provider and the status, not the key.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Literal
from urllib.parse import urlencode

from daytwo.core.errors import DaytwoError

Kind = Literal["openai", "anthropic"]
#: (status, lower-cased headers, body) of one GET; the seam tests and callers may replace.
Transport = Callable[[str, dict[str, str]], tuple[int, dict[str, str], bytes]]

MAX_RETRIES = 5
MAX_RETRY_AFTER_S = 60.0
PAGE_BUCKETS = 31
TIMEOUT_S = 30.0
DEFAULT_BASE_URL: dict[Kind, str] = {
    "openai": "https://api.openai.com",
    "anthropic": "https://api.anthropic.com",
}
_OPENAI_KINDS = {"input": "input", "cached input": "cached_input", "output": "output"}
_ANTHROPIC_KINDS = {
    "uncached_input_tokens": "input",
    "cache_read_input_tokens": "cached_input",
    "cache_creation.ephemeral_5m_input_tokens": "cache_write",
    "cache_creation.ephemeral_1h_input_tokens": "cache_write",
    "output_tokens": "output",
}


class BillError(DaytwoError):
    """A provider's admin API could not be read (bad key, refused, malformed answer)."""

    status = 502
    type = "provider_bill_error"
    fault = "provider"


@dataclass(slots=True)
class Usage:
    """Billed usage of one (day, model, key): ``input_tokens`` includes cache reads and writes."""

    requests: int | None = 0  # None: the report does not count requests (Anthropic)
    input_tokens: int = 0
    cached_input_tokens: int = 0
    cache_write_tokens: int = 0
    output_tokens: int = 0


@dataclass(slots=True)
class ProviderBill:
    kind: Kind
    #: (day, model, api key id) -> usage
    usage: dict[tuple[date, str, str | None], Usage] = field(default_factory=dict)
    #: (day, model, token kind, tier) -> nano-dollars; kind: input, cached_input, cache_write,
    #: output or other; tier: standard unless the provider says batch, priority, long context.
    costs: dict[tuple[date, str, str, str], int] = field(default_factory=dict)


def urllib_transport(url: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    if not url.startswith(("http://", "https://")):
        raise BillError(f"admin API base URL must be http(s): {url.split('?')[0]}")
    req = urllib.request.Request(url, headers=headers, method="GET")  # noqa: S310 (checked above)
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT_S) as resp:  # noqa: S310 (checked above)
            return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()
    except urllib.error.HTTPError as err:
        with err:
            return err.code, {k.lower(): v for k, v in err.headers.items()}, err.read()
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise BillError(f"cannot reach {url.split('?')[0]}: {reason}") from exc


def fetch_bill(
    kind: Kind,
    admin_key: str,
    start: datetime,
    end: datetime,
    *,
    base_url: str | None = None,
    transport: Transport = urllib_transport,
    page_buckets: int = PAGE_BUCKETS,
    sleep: Callable[[float], None] = time.sleep,
) -> ProviderBill:
    """The bill of [``start``, ``end``) (whole UTC days) from ``kind``'s admin API."""
    root = (base_url or DEFAULT_BASE_URL[kind]).rstrip("/").removesuffix("/v1")
    pages = _Pager(kind, admin_key, root, transport, sleep)
    bill = ProviderBill(kind)
    if kind == "openai":
        window: dict[str, Any] = {
            "start_time": int(start.timestamp()),
            "end_time": int(end.timestamp()),
            "bucket_width": "1d",
            "limit": page_buckets,
        }
        usage_q = {**window, "group_by": ["model", "api_key_id"]}
        for day, result in pages.results("/v1/organization/usage/completions", usage_q):
            _add_openai_usage(bill, day, result)
        for day, result in pages.results(
            "/v1/organization/costs", {**window, "group_by": ["line_item"]}
        ):
            _add_openai_cost(bill, day, result)
    else:
        window = {
            "starting_at": _iso(start),
            "ending_at": _iso(end),
            "bucket_width": "1d",
            "limit": page_buckets,
        }
        usage_q = {**window, "group_by[]": ["model", "api_key_id"]}
        for day, result in pages.results("/v1/organizations/usage_report/messages", usage_q):
            _add_anthropic_usage(bill, day, result)
        cost_q = {**window, "group_by[]": ["description"]}
        for day, result in pages.results("/v1/organizations/cost_report", cost_q):
            _add_anthropic_cost(bill, day, result)
    return bill


class _Pager:
    def __init__(
        self,
        kind: Kind,
        key: str,
        root: str,
        transport: Transport,
        sleep: Callable[[float], None],
    ) -> None:
        self.kind = kind
        self.root = root
        self.transport = transport
        self.sleep = sleep
        self.headers = (
            {"authorization": f"Bearer {key}"}
            if kind == "openai"
            else {"x-api-key": key, "anthropic-version": "2023-06-01"}
        )

    def results(self, path: str, query: dict[str, Any]) -> Iterator[tuple[date, dict[str, Any]]]:
        page: str | None = None
        while True:
            data = self._get(path, query if page is None else {**query, "page": page})
            buckets = data.get("data")
            if not isinstance(buckets, list):
                raise BillError(f"{self.kind} {path}: the answer has no data list")
            for bucket in buckets:
                day = _bucket_day(bucket)
                for result in bucket.get("results") or ():
                    if isinstance(result, dict):
                        yield day, result
            page = data.get("next_page")
            if not data.get("has_more") or not page:
                return

    def _get(self, path: str, query: dict[str, Any]) -> dict[str, Any]:
        url = f"{self.root}{path}?{urlencode(query, doseq=True)}"
        for attempt in range(MAX_RETRIES + 1):
            status, headers, body = self.transport(url, self.headers)
            if status == 429 and attempt < MAX_RETRIES:
                self.sleep(_retry_after(headers.get("retry-after")))
                continue
            if status in (401, 403):
                raise BillError(f"{self.kind} admin API refused the admin key ({status}) on {path}")
            if status != 200:
                raise BillError(
                    f"{self.kind} admin API answered {status} on {path}: {_error_message(body)}"
                )
            try:
                data = json.loads(body, parse_float=Decimal)
            except ValueError:
                raise BillError(f"{self.kind} {path}: the answer is not JSON") from None
            if not isinstance(data, dict):
                raise BillError(f"{self.kind} {path}: the answer is not a JSON object")
            return data
        raise BillError(f"{self.kind} admin API kept answering 429 on {path}")


def _retry_after(value: str | None) -> float:
    try:
        return min(MAX_RETRY_AFTER_S, max(0.0, float(value or 1)))
    except ValueError:
        return 1.0


def _error_message(body: bytes) -> str:
    try:
        err = json.loads(body).get("error")
    except (ValueError, AttributeError):
        return "no error message"
    message = err.get("message") if isinstance(err, dict) else None
    return str(message)[:200] if message else "no error message"


def _bucket_day(bucket: dict[str, Any]) -> date:
    if "start_time" in bucket:
        return datetime.fromtimestamp(int(bucket["start_time"]), UTC).date()
    return datetime.fromisoformat(str(bucket["starting_at"]).replace("Z", "+00:00")).date()


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _int(result: dict[str, Any], key: str) -> int:
    value = result.get(key) or 0
    return int(value)


def _usage(bill: ProviderBill, key: tuple[date, str, str | None]) -> Usage:
    return bill.usage.setdefault(key, Usage(requests=0 if bill.kind == "openai" else None))


def _add_openai_usage(bill: ProviderBill, day: date, result: dict[str, Any]) -> None:
    u = _usage(bill, (day, str(result.get("model") or ""), result.get("api_key_id")))
    assert u.requests is not None
    u.requests += _int(result, "num_model_requests")
    u.input_tokens += _int(result, "input_tokens")
    u.cached_input_tokens += _int(result, "input_cached_tokens")
    u.output_tokens += _int(result, "output_tokens")


def _add_anthropic_usage(bill: ProviderBill, day: date, result: dict[str, Any]) -> None:
    u = _usage(bill, (day, str(result.get("model") or ""), result.get("api_key_id")))
    creation = result.get("cache_creation") or {}
    written = _int(creation, "ephemeral_5m_input_tokens") + _int(
        creation, "ephemeral_1h_input_tokens"
    )
    cached = _int(result, "cache_read_input_tokens")
    u.input_tokens += _int(result, "uncached_input_tokens") + cached + written
    u.cached_input_tokens += cached
    u.cache_write_tokens += written
    u.output_tokens += _int(result, "output_tokens")


def _add_openai_cost(bill: ProviderBill, day: date, result: dict[str, Any]) -> None:
    amount = result.get("amount") or {}
    nanos = usd_to_nanos_exact(amount.get("value", 0), "amount.value")
    model, _, what = str(result.get("line_item") or "").rpartition(", ")
    tier = "batch" if "batch" in what else "standard"
    kind = _OPENAI_KINDS.get(what.replace("(batch)", "").strip(), "other")
    key = (day, model or what, kind, tier)
    bill.costs[key] = bill.costs.get(key, 0) + nanos


def _add_anthropic_cost(bill: ProviderBill, day: date, result: dict[str, Any]) -> None:
    nanos = cents_to_nanos(result.get("amount"))
    tier = str(result.get("service_tier") or "standard")
    if (result.get("context_window") or "0-200k") != "0-200k":
        tier = "long_context"
    kind = _ANTHROPIC_KINDS.get(str(result.get("token_type")), "other")
    key = (day, str(result.get("model") or result.get("description") or ""), kind, tier)
    bill.costs[key] = bill.costs.get(key, 0) + nanos


def usd_to_nanos_exact(value: Any, what: str) -> int:
    """Dollars (a JSON number read as a Decimal) → nano-dollars, rounded half-even."""
    try:
        return int((Decimal(value) * 10**9).to_integral_value())
    except (InvalidOperation, TypeError, ValueError):
        raise BillError(f"{what}: expected a number of dollars, got {value!r}") from None


def cents_to_nanos(value: Any) -> int:
    """Anthropic's cents (a decimal string such as ``"123.78912"``) → nano-dollars, exactly
    (1 cent = 10**7 nano-dollars; digits past the nano-dollar round half-even)."""
    if not isinstance(value, str):
        raise BillError(f"cost_report amount: expected cents as a decimal string, got {value!r}")
    try:
        cents = Decimal(value)
    except InvalidOperation:
        raise BillError(f"cost_report amount: not a decimal number: {value!r}") from None
    if not cents.is_finite():
        raise BillError(f"cost_report amount: not a finite number: {value!r}")
    return int((cents * 10**7).to_integral_value())
