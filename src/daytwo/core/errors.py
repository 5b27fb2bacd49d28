"""The one exception tree of daytwo.

Every error a caller can see is a :class:`DaytwoError`. Each class knows

* ``status`` -- the HTTP status the client receives,
* ``type`` -- the machine-readable error type in the wire-format error body,
* ``fault`` -- who is at fault: ``caller`` (bad request), ``policy`` (a rule said no),
  ``provider`` (the upstream failed) or ``internal`` (daytwo itself).

::

    DaytwoError
    ├── CallerError                 (4xx, the client's request is wrong)
    │   ├── InvalidRequest          400 invalid_request_error
    │   ├── PayloadTooLarge         413 invalid_request_error
    │   ├── HeadersTooLarge         431 invalid_request_error (request line + headers)
    │   ├── RequestTimeout          408 invalid_request_error (head or body too slow)
    │   ├── AuthenticationError     401 authentication_error
    │   ├── NotFound                404 not_found_error
    │   ├── ModelNotFound           404 invalid_request_error / code model_not_found
    │   ├── WrongEndpoint           404 (embeddings alias on a chat door) / 403 (chat alias on
    │   │                           /v1/embeddings) invalid_request_error, code model_not_supported
    │   ├── Conflict                409 conflict_error (an Idempotency-Key still in use)
    │   └── Unprocessable           422 invalid_request_error (an Idempotency-Key reused)
    ├── PolicyError                 (a rule refused the call)
    │   ├── PermissionDenied        403 permission_error
    │   ├── UnpricedModel           403 permission_error / code unpriced_model
    │   └── SpendControlError       (carries scope, limit, spend, reset_at; retry headers)
    │       ├── BudgetExceeded      429 budget_exceeded
    │       ├── RateLimited         429 rate_limited
    │       └── FeatureDisabled     403 feature_disabled (kill switch or tripped budget)
    ├── ProviderError               (the upstream failed; status mirrors the upstream class)
    │   ├── UpstreamStatusError     upstream answered 4xx/5xx
    │   ├── UpstreamTimeout         504 timeout
    │   ├── UpstreamUnavailable     502 upstream connection failed
    │   ├── UpstreamProtocolError   502 upstream sent a body daytwo cannot read
    │   └── UpstreamRedirect        502 upstream answered 3xx (never followed; not retried on
    │                                   the same deployment, may fail over to another)
    └── InternalError               500 internal_error
        ├── StateUnavailable        503 state_unavailable (budget/limit state cannot be verified)
        │   └── StateLost           503 state_unavailable (the store lost its counters: rebuilding)
        └── Overloaded              503 overloaded (every connection slot is busy)

Wire formats map these to their own error bodies (each door's encoder); the headers of an error
answer come from :meth:`DaytwoError.wire_headers`, the same for every door.

Retry headers: a client SDK retries by the status unless told otherwise, and the Stainless-built
SDKs (openai, anthropic, for Python and Node) wait out whatever ``retry-after`` they get --
openai-node even hours. So daytwo never sends a ``retry-after`` longer than
:data:`MAX_CLIENT_RETRY_AFTER_S`, and says ``x-should-retry`` (which those SDKs obey over the
status) whenever it knows: ``true`` for a refusal that a short wait cures (a rate limit),
``false`` for one that waiting will not cure soon (a spent budget, a per-request cap, a kill
switch, any wait longer than the cap). When a window resets stays in the body (``resets_at``).

Messages never contain secrets: every string an upstream chose (message, type, code, param,
retry hints) passes :mod:`daytwo.providers.guard` before a client, log or ledger sees it.
"""

from __future__ import annotations

import math
from typing import ClassVar, Literal

Fault = Literal["caller", "policy", "provider", "internal"]

#: The longest ``retry-after`` (seconds) a client is sent. The openai and anthropic SDKs honour
#: up to 60 s from a server (openai-node any length); a longer wait is no retry advice at all.
MAX_CLIENT_RETRY_AFTER_S = 60
_RETRY_AFTER = ("retry-after", "retry-after-ms")


class DaytwoError(Exception):
    """Root of every error daytwo raises on purpose."""

    status: ClassVar[int] = 500
    type: ClassVar[str] = "internal_error"
    fault: ClassVar[Fault] = "internal"

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code
        self.headers = headers or {}

    @property
    def error_class(self) -> str:
        """The short name recorded in the ledger (``status`` + ``error_class`` tell the story)."""
        return type(self).__name__

    def status_code(self) -> int:
        return self.status

    def should_retry(self) -> bool | None:
        """Can the same request succeed when tried again soon? None: daytwo does not know
        better than the status (the client's own rules decide)."""
        return None

    def wire_headers(self) -> dict[str, str]:
        """The headers of this error's answer: :attr:`headers` (an upstream's ``retry-after``,
        rate-limit headers) and ``x-should-retry`` when :meth:`should_retry` knows; a
        ``retry-after`` past :data:`MAX_CLIENT_RETRY_AFTER_S` is dropped and says ``false``."""
        headers = self.headers
        retry = self.should_retry()
        wait = _retry_after_s(headers)
        if wait is not None and wait > MAX_CLIENT_RETRY_AFTER_S:
            headers = {k: v for k, v in headers.items() if k not in _RETRY_AFTER}
            retry = False
        if retry is None:
            return headers
        return {**headers, "x-should-retry": "true" if retry else "false"}


def _retry_after_s(headers: dict[str, str]) -> float | None:
    """The wait ``headers`` ask for, in seconds (None: none, or an HTTP date)."""
    for name, scale in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is not None:
            try:
                return float(value) / scale
            except ValueError:
                continue
    return None


class CallerError(DaytwoError):
    status = 400
    type = "invalid_request_error"
    fault = "caller"


class InvalidRequest(CallerError):
    pass


class PayloadTooLarge(CallerError):
    status = 413


class HeadersTooLarge(CallerError):
    status = 431

    def should_retry(self) -> bool:
        return False  # the same headers will be too large again


class RequestTimeout(CallerError):
    status = 408


class AuthenticationError(CallerError):
    status = 401
    type = "authentication_error"


class NotFound(CallerError):
    status = 404
    type = "not_found_error"


class Conflict(CallerError):
    status = 409
    type = "conflict_error"


class Unprocessable(CallerError):
    status = 422


class ModelNotFound(CallerError):
    status = 404

    def __init__(self, model: str) -> None:
        super().__init__(
            f"The model `{model}` does not exist or you do not have access to it.",
            param="model",
            code="model_not_found",
        )


class WrongEndpoint(CallerError):
    """An alias used on the endpoint of the other kind. Statuses and messages are OpenAI's: an
    embedding model on chat is a 404, a chat model on embeddings a 403; both name ``model``."""

    def __init__(self, model: str, kind: str) -> None:
        if kind == "embeddings":
            message = (
                f"The model `{model}` is an embeddings model and thus not supported on this "
                "endpoint. Use it with /v1/embeddings."
            )
        else:
            message = f"You are not allowed to generate embeddings from the model `{model}`."
        super().__init__(message, param="model", code="model_not_supported")
        self.kind = kind

    def status_code(self) -> int:
        return 404 if self.kind == "embeddings" else 403


class PolicyError(DaytwoError):
    status = 403
    type = "permission_error"
    fault = "policy"


class PermissionDenied(PolicyError):
    pass


class UnpricedModel(PolicyError):
    def __init__(self, model: str) -> None:
        super().__init__(
            f"No price is known for model `{model}` and the pricing policy is `deny`.",
            param="model",
            code="unpriced_model",
        )


class ProviderError(DaytwoError):
    status = 502
    type = "api_error"
    fault = "provider"

    #: True when trying the same request again (or on another deployment) may succeed.
    retryable: ClassVar[bool] = True
    #: False when only another deployment may succeed (the same one would answer the same).
    retry_same_deployment: ClassVar[bool] = True


class UpstreamStatusError(ProviderError):
    """The upstream answered with an error status; daytwo keeps the status class."""

    def __init__(
        self,
        upstream_status: int,
        message: str,
        *,
        upstream_type: str | None = None,
        code: str | None = None,
        param: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message, code=code, param=param, headers=headers)
        self.upstream_status = upstream_status
        self.upstream_type = upstream_type

    def status_code(self) -> int:
        return self.upstream_status

    @property
    def is_retryable(self) -> bool:
        return self.upstream_status in (408, 409, 429) or self.upstream_status >= 500

    @property
    def wire_type(self) -> str:
        if self.upstream_type:
            return self.upstream_type
        return _TYPE_BY_STATUS.get(self.upstream_status, "api_error")


_TYPE_BY_STATUS = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    408: "timeout",
    409: "conflict_error",
    413: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
    503: "overloaded_error",
}


class UpstreamTimeout(ProviderError):
    status = 504
    type = "timeout"


class UpstreamUnavailable(ProviderError):
    status = 502
    type = "api_connection_error"


class UpstreamProtocolError(ProviderError):
    status = 502
    type = "api_error"


class UpstreamRedirect(ProviderError):
    """The upstream answered with a redirect (3xx). Upstream calls never follow one: the
    provider's credential would go to wherever the ``Location`` points. Asking the same
    deployment again gets the same redirect, so only another deployment is tried."""

    status = 502
    type = "api_error"
    retry_same_deployment = False

    def __init__(self, upstream_status: int) -> None:
        super().__init__(
            f"upstream answered HTTP {upstream_status} (a redirect); daytwo does not follow "
            "redirects on upstream calls -- check the provider's base_url",
            code="upstream_redirect",
        )
        self.upstream_status = upstream_status

    def should_retry(self) -> bool:
        # The client asking again gets the same redirect: only the configuration cures it.
        return False


class InternalError(DaytwoError):
    status = 500
    type = "internal_error"
    fault = "internal"


class ConfigError(Exception):
    """The configuration is invalid. Not a DaytwoError: it never reaches a client.

    ``problems`` holds one line per problem, each naming the file, the key path and what was
    expected.
    """

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class SpendControlError(PolicyError):
    """A spend-control rule refused the call. A refused request consumes nothing.

    ``scope`` is the scope key that refused (``project=acme,user=bob``), ``limit`` and ``spend``
    are in the rule's unit (nano-dollars, tokens, requests), ``reset_at`` is the epoch second the
    window resets (None: it does not reset by itself). A refusal whose window resets within
    :data:`MAX_CLIENT_RETRY_AFTER_S` carries ``retry-after`` and ``x-should-retry: true``; any
    other says ``x-should-retry: false`` and no ``retry-after`` (waiting will not cure it soon).
    """

    def __init__(
        self,
        message: str,
        *,
        scope: str,
        limit: int | None = None,
        spend: int | None = None,
        unit: str = "nanousd",
        reset_at: float | None = None,
        now: float | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        hdrs = dict(headers or {})
        if reset_at is not None and now is not None:
            wait = max(1, math.ceil(reset_at - now))
            if wait <= MAX_CLIENT_RETRY_AFTER_S:
                hdrs.setdefault("retry-after", str(wait))
        super().__init__(message, code=code, headers=hdrs)
        self.scope = scope
        self.limit = limit
        self.spend = spend
        self.unit = unit
        self.reset_at = reset_at

    def should_retry(self) -> bool:
        return "retry-after" in self.headers


class BudgetExceeded(SpendControlError):
    status = 429
    type = "budget_exceeded"


class RateLimited(SpendControlError):
    status = 429
    type = "rate_limited"


class FeatureDisabled(SpendControlError):
    status = 403
    type = "feature_disabled"


class StateUnavailable(InternalError):
    """The shared state (Redis) cannot be reached, so spend cannot be verified.

    Raised by state backends (mapped from the driver's exception once, at the boundary); the
    caller applies its policy: ``fail_closed`` refuses the call with this error, ``fail_open``
    admits it unmetered.
    """

    status = 503
    type = "state_unavailable"


class StateLost(StateUnavailable):
    """The state store answers but has lost what it held (a Redis restarted without
    persistence, flushed, or evicting): its generation marker is missing. Counters must be
    rebuilt from the ledger before anything is admitted against it; until then the call is
    refused (or admitted unmetered) like any :class:`StateUnavailable`."""


class Overloaded(InternalError):
    """Every connection slot of the listener is serving a request (``server.max_connections``).
    A short wait cures it: the answer carries ``retry-after: 1``."""

    status = 503
    type = "overloaded"

    def should_retry(self) -> bool:
        return True
