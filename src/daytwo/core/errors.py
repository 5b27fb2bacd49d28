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
    │   ├── AuthenticationError     401 authentication_error
    │   ├── NotFound                404 not_found_error
    │   ├── ModelNotFound           404 invalid_request_error / code model_not_found
    │   ├── Conflict                409 conflict_error (an Idempotency-Key still in use)
    │   └── Unprocessable           422 invalid_request_error (an Idempotency-Key reused)
    ├── PolicyError                 (a rule refused the call)
    │   ├── PermissionDenied        403 permission_error
    │   ├── UnpricedModel           403 permission_error / code unpriced_model
    │   └── SpendControlError       (carries scope, limit, spend, reset_at; retry-after header)
    │       ├── BudgetExceeded      429 budget_exceeded
    │       ├── RateLimited         429 rate_limited
    │       └── FeatureDisabled     403 feature_disabled (kill switch or tripped budget)
    ├── ProviderError               (the upstream failed; status mirrors the upstream class)
    │   ├── UpstreamStatusError     upstream answered 4xx/5xx
    │   ├── UpstreamTimeout         504 timeout
    │   ├── UpstreamUnavailable     502 upstream connection failed
    │   └── UpstreamProtocolError   502 upstream sent a body daytwo cannot read
    └── InternalError               500 internal_error
        └── StateUnavailable        503 state_unavailable (budget/limit state cannot be verified)

Wire formats map these to their own error bodies in one place (``gateway/errors.py``).
Messages never contain secrets: upstream messages pass through :func:`daytwo.core.secrets.redact`.
"""

from __future__ import annotations

import math
from typing import ClassVar, Literal

Fault = Literal["caller", "policy", "provider", "internal"]


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


class CallerError(DaytwoError):
    status = 400
    type = "invalid_request_error"
    fault = "caller"


class InvalidRequest(CallerError):
    pass


class PayloadTooLarge(CallerError):
    status = 413


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
    window resets (None: it does not reset by itself). ``retry-after`` is set when it resets.
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
            hdrs.setdefault("retry-after", str(max(1, math.ceil(reset_at - now))))
        super().__init__(message, code=code, headers=hdrs)
        self.scope = scope
        self.limit = limit
        self.spend = spend
        self.unit = unit
        self.reset_at = reset_at


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
