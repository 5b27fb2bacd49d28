"""The admin API's OpenAPI 3.1 document, served at ``GET /admin/openapi.json``.

Hand-written data, kept next to the router (:mod:`daytwo.gateway.admin`): a test checks that
it lists exactly the routes the router serves, that it is a valid OpenAPI 3.1 document, and
that real responses match its schemas.
"""

from __future__ import annotations

from typing import Any

from daytwo.control.switches import SWITCH_FIELDS

JSON = "application/json"


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _null(kind: str, **extra: Any) -> dict[str, Any]:
    return {"type": [kind, "null"], **extra}


def _obj(props: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": props,
        "required": list(props) if required is None else required,
        "additionalProperties": False,
    }


def _list_of(name: str) -> dict[str, Any]:
    return _obj({"object": {"const": "list"}, "data": {"type": "array", "items": _ref(name)}})


def _body(schema: dict[str, Any], *, required: bool = True) -> dict[str, Any]:
    return {"required": required, "content": {JSON: {"schema": schema}}}


def _ok(description: str, schema: dict[str, Any], status: str = "200") -> dict[str, Any]:
    return {status: {"description": description, "content": {JSON: {"schema": schema}}}}


_ERRORS = {
    "400": "The request is malformed; `param` names the field.",
    "401": "No admin token, or an unknown, malformed or revoked one (one answer for all).",
    "403": "The token's role or project does not allow this; the message says why.",
    "404": "No such object.",
    "503": "The spend-control state store cannot be reached.",
}


def _errors(*codes: str) -> dict[str, Any]:
    return {
        c: {"description": _ERRORS[c], "content": {JSON: {"schema": _ref("Error")}}}
        for c in ("401", *codes)
    }


def _op(
    summary: str,
    role: str | None,
    responses: dict[str, Any],
    *,
    params: list[dict[str, Any]] | None = None,
    body: dict[str, Any] | None = None,
) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "responses": responses}
    if role is None:
        op["security"] = []
    else:
        op["description"] = f"Needs the `{role}` role (or above)."
    if params:
        op["parameters"] = params
    if body is not None:
        op["requestBody"] = body
    return op


def _query(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema,
    }


_KEY_ID = {
    "name": "id",
    "in": "path",
    "required": True,
    "description": "The key's public id (`key_…`).",
    "schema": {"type": "string"},
}

_SCOPE = {
    "type": "object",
    "description": "A concrete scope: field → value (no `*`), at least one field.",
    "properties": {f: {"type": "string", "minLength": 1} for f in SWITCH_FIELDS},
    "additionalProperties": False,
    "minProperties": 1,
}

_KEY_PROPS: dict[str, Any] = {
    "id": {"type": "string"},
    "prefix": {"type": "string", "description": "Display prefix, e.g. `dt2_sk_ab12…`."},
    "project": {"type": "string"},
    "workflow": _null("string"),
    "feature": _null("string"),
    "environment": _null("string"),
    "models": _null("array", items={"type": "string"}),
    "budget": _null("string", description="e.g. `50/day`."),
    "rpm": _null("integer"),
    "tpm": _null("integer"),
    "created_at": {"type": "number"},
    "created_by": {"type": "string"},
    "expires_at": _null("number"),
    "revoked_at": _null("number"),
    "rotated_from": _null("string"),
    "grace_until": _null("number"),
    "description": _null("string"),
    "state": {"enum": ["active", "grace", "expired", "revoked", "rotated"]},
}
_KEY = _obj(_KEY_PROPS)
_ISSUED_KEY = _obj(
    {
        "key": {"type": "string", "description": "The secret, shown this once."},
        **_KEY_PROPS,
        "previous_grace_until": {
            "type": "number",
            "description": "Rotation only: when the old key stops working.",
        },
    },
    required=["key", *_KEY_PROPS],
)

_SWITCH = _obj(
    {
        "scope": {"type": "string", "description": "The scope key, e.g. `project=acme`."},
        "fields": {"type": "object", "additionalProperties": {"type": "string"}},
        "reason": {"type": "string"},
        "who": {"type": "string"},
        "at": {"type": "number"},
        "source": {"enum": ["manual", "budget", "loopbreaker"]},
    }
)

_USD = {"type": "string", "description": "US dollars as an exact decimal string."}

_COUNTER = _obj(
    {
        "scope": {"type": "string"},
        "window_start": {"type": "number"},
        "resets_at": {"type": "number"},
        "spent_usd": _USD,
        "reserved_usd": _USD,
        "spent_tokens": {"type": "integer"},
        "reserved_tokens": {"type": "integer"},
    }
)

_BUDGET = _obj(
    {
        "name": {"type": "string"},
        "scope": {"type": "string", "description": "The budget's scope pattern (`*`: each)."},
        "window": {"enum": ["request", "hour", "day", "week", "month"]},
        "cap_usd": {"type": ["string", "null"]},
        "cap_tokens": _null("integer"),
        "actions": {"type": "array", "items": {"enum": ["alert", "block", "downgrade", "trip"]}},
        "counter": {
            "description": "Counters of the concrete scope (null: per-request budget, or a "
            "pattern with no concrete scope given, or a budget that does not apply to it).",
            "oneOf": [_ref("Counter"), {"type": "null"}],
        },
    }
)

_EVENT = _obj(
    {
        "id": {"type": "integer"},
        "at": {"type": "number"},
        "actor": {"type": "string"},
        "action": {"type": "string"},
        "target": {"type": "string"},
        "before": _null("object"),
        "after": _null("object"),
    }
)

_NULL_MS = _null("number", minimum=0)
_DEPLOYMENT = _obj(
    {
        "deployment": {"type": "string", "description": "`provider/model`, or its `name`."},
        "provider": {"type": "string"},
        "provider_type": {"type": "string"},
        "model": {"type": "string", "description": "The model name the upstream knows."},
        "aliases": {
            "type": "array",
            "items": {"type": "string"},
            "description": "The model aliases that route to it.",
        },
        "state": {
            "enum": ["closed", "open", "half_open"],
            "description": "Its circuit breaker (`closed` until a call reaches it).",
        },
        "consecutive_failures": _null("integer", minimum=0),
        "window_calls": _null(
            "integer", minimum=0, description="Calls in the breaker's window (closed only)."
        ),
        "error_rate": _null("number", minimum=0, maximum=1),
        "slow_rate": _null("number", minimum=0, maximum=1),
        "p50_ms": _NULL_MS,
        "p95_ms": _NULL_MS,
        "latency_ewma_ms": _NULL_MS,
        "ttft_ewma_ms": _NULL_MS,
        "open_for_s": _null(
            "number", minimum=0, description="Seconds until an open breaker lets probes through."
        ),
        "openings": _null("integer", minimum=0),
        "throttled_for_s": _null(
            "number", minimum=0, description="Seconds it stays behind the others (429, quota)."
        ),
        "remaining_requests": _null("integer", description="The upstream's reported quota."),
        "remaining_tokens": _null("integer"),
    }
)

_PROVIDERS = _obj(
    {
        "object": {"const": "list"},
        "data": {
            "type": "array",
            "items": _ref("Deployment"),
            "description": "Every configured deployment; the figures are null until a call "
            "reached it.",
        },
        "retry_budget": _obj(
            {
                "requests": {"type": "integer", "minimum": 0},
                "retries": {"type": "integer", "minimum": 0},
                "ratio": {"type": "number", "minimum": 0, "maximum": 1},
                "min_retries": {"type": "integer", "minimum": 0},
                "window_s": {"type": "number", "exclusiveMinimum": 0},
            }
        ),
        "aliases": {
            "type": "object",
            "description": "Each alias's routing and retry policy.",
            "additionalProperties": _obj(
                {
                    "strategy": {"enum": ["ordered", "weighted", "least_latency", "lowest_cost"]},
                    "max_attempts": {"type": "integer", "minimum": 1},
                    "deadline_s": {"type": "number", "exclusiveMinimum": 0},
                    "try_timeout_s": {"type": "number", "exclusiveMinimum": 0},
                }
            ),
        },
    }
)

_ERROR = _obj(
    {
        "error": {
            "type": "object",
            "properties": {
                "message": {"type": "string"},
                "type": {"type": "string"},
                "param": _null("string"),
                "code": _null("string"),
            },
            "required": ["message", "type", "param", "code"],
        }
    }
)

_KEY_CREATE = _obj(
    {
        "project": {"type": "string", "description": "Required unless the token has a project."},
        "workflow": {"type": "string"},
        "feature": {"type": "string"},
        "environment": {"type": "string"},
        "models": {"type": "array", "items": {"type": "string"}, "minItems": 1},
        "budget": {"type": "string", "description": "`<usd>/<request|hour|day|week|month>`."},
        "rpm": {"type": "integer", "minimum": 1},
        "tpm": {"type": "integer", "minimum": 1},
        "expires": {"type": "string", "description": "Lifetime: `30s`, `15m`, `24h`, `90d`."},
        "description": {"type": "string"},
    },
    required=[],
)

_PATHS: dict[str, dict[str, Any]] = {
    "/admin/openapi.json": {
        "get": _op(
            "This document (public: no token needed).",
            None,
            {"200": {"description": "OpenAPI 3.1", "content": {JSON: {"schema": {}}}}},
        )
    },
    "/admin/keys": {
        "get": _op(
            "List virtual keys (never their secrets).",
            "viewer",
            {**_ok("Keys", _list_of("Key")), **_errors("403")},
            params=[_query("project", "Only this project's keys.", {"type": "string"})],
        ),
        "post": _op(
            "Create a virtual key; the secret is returned once.",
            "admin",
            {**_ok("The new key", _ref("IssuedKey"), "201"), **_errors("400", "403")},
            body=_body(_ref("KeyCreate")),
        ),
    },
    "/admin/keys/{id}": {
        "get": _op(
            "One key.",
            "viewer",
            {**_ok("The key", _ref("Key")), **_errors("403", "404")},
            params=[_KEY_ID],
        )
    },
    "/admin/keys/{id}/revoke": {
        "post": _op(
            "Revoke a key now (gateways refuse it within their key-cache TTL).",
            "admin",
            {**_ok("The revoked key", _ref("Key")), **_errors("400", "403", "404")},
            params=[_KEY_ID],
        )
    },
    "/admin/keys/{id}/rotate": {
        "post": _op(
            "Issue a new key with the same attributes; the old one works for `grace`.",
            "admin",
            {**_ok("The new key", _ref("IssuedKey"), "201"), **_errors("400", "403", "404")},
            params=[_KEY_ID],
            body=_body(
                _obj({"grace": {"type": "string", "default": "24h"}}, required=[]),
                required=False,
            ),
        )
    },
    "/admin/switches": {
        "get": _op(
            "Active kill switches.",
            "viewer",
            {**_ok("Switches", _list_of("Switch")), **_errors("403")},
        ),
        "post": _op(
            "Kill a scope: its calls are refused with 403 `feature_disabled` until revived.",
            "operator",
            {**_ok("The switch", _ref("Switch")), **_errors("400", "403", "503")},
            body=_body(_obj({"scope": _ref("Scope"), "reason": {"type": "string"}})),
        ),
    },
    "/admin/switches/revive": {
        "post": _op(
            "Revive a killed scope.",
            "operator",
            {
                **_ok(
                    "Whether a switch was active",
                    _obj(
                        {
                            "scope": {"type": "string"},
                            "fields": {"type": "object"},
                            "revived": {"type": "boolean"},
                        }
                    ),
                ),
                **_errors("400", "403", "503"),
            },
            body=_body(_obj({"scope": _ref("Scope")})),
        )
    },
    "/admin/budgets": {
        "get": _op(
            "Configured budgets with their window, cap and current counters.",
            "viewer",
            {**_ok("Budgets", _list_of("Budget")), **_errors("400", "403", "503")},
            params=[
                _query(
                    "scope",
                    "A concrete scope to read counters for, e.g. `project=acme,user=bob`.",
                    {"type": "string"},
                )
            ],
        )
    },
    "/admin/events": {
        "get": _op(
            "The admin event log, newest first.",
            "viewer",
            {**_ok("Events", _list_of("Event")), **_errors("400")},
            params=[
                _query("target", "Only events about this target.", {"type": "string"}),
                _query(
                    "limit",
                    "At most this many events.",
                    {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100},
                ),
            ],
        )
    },
    "/admin/providers": {
        "get": _op(
            "Every deployment's health (circuit breaker, error and slow rates, latency, "
            "upstream quota), the retry budget and each alias's retry policy.",
            "viewer",
            {**_ok("Provider health", _ref("Providers")), **_errors()},
        )
    },
}


def document() -> dict[str, Any]:
    """The OpenAPI 3.1 document (shared constant parts: read, do not mutate)."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "daytwo admin API",
            "version": "1",
            "description": "Keys, kill switches, budgets, the admin event log and provider "
            "health. "
            "Authenticate with `Authorization: Bearer dt2_adm_…` (see docs/admin-api.md).",
        },
        "security": [{"adminToken": []}],
        "paths": _PATHS,
        "components": {
            "securitySchemes": {
                "adminToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An admin token (`daytwo admin tokens create`).",
                }
            },
            "schemas": {
                "Error": _ERROR,
                "Key": _KEY,
                "IssuedKey": _ISSUED_KEY,
                "KeyCreate": _KEY_CREATE,
                "Scope": _SCOPE,
                "Switch": _SWITCH,
                "Counter": _COUNTER,
                "Budget": _BUDGET,
                "Event": _EVENT,
                "Deployment": _DEPLOYMENT,
                "Providers": _PROVIDERS,
            },
        },
    }
