"""The admin API's errors in daytwo's shape: the one exception tree (:mod:`daytwo.core.errors`)
written as the OpenAI error object, whatever raised it.

FastAPI's own answers are replaced: a failed request validation (its 422) becomes a 400
``invalid_request_error`` whose ``param`` names the field (``scope.project``, ``limit``), an
unknown path a 404 and a wrong method a 405 with ``allow``, as the hand-written router answered.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Sequence
from typing import Any

import annotated_types
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.routing import Match

from daytwo.admin.declare import check_role
from daytwo.core.errors import DaytwoError, InternalError, InvalidRequest, NotFound
from daytwo.gateway.openai_format import error_body


class MethodNotAllowed(NotFound):
    status = 405


def error_response(exc: DaytwoError) -> Response:
    return Response(
        error_body(exc), exc.status_code(), headers=exc.headers, media_type="application/json"
    )


def install(app: FastAPI) -> None:
    """Answer every error of ``app`` in daytwo's shape."""

    async def daytwo_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, DaytwoError)
        return error_response(exc)

    async def invalid(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        problems = exc.errors()
        if problems and problems[0]["type"] == "json_invalid":
            # FastAPI decodes the body before the route's dependencies run: the token and
            # its role are checked here, so a caller without one still gets 401, not 400.
            try:
                await check_role(request)
            except DaytwoError as refused:
                return error_response(refused)
        return error_response(validation_error(request, problems))

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return error_response(_routing_error(request, exc))

    async def internal(request: Request, exc: Exception) -> Response:
        # Starlette's outermost middleware logs nothing and re-raises after this answer:
        # daytwo.admin.app logs it once, with the path.
        return error_response(InternalError("internal error"))

    app.add_exception_handler(DaytwoError, daytwo_error)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(Exception, internal)


def _routing_error(request: Request, exc: HTTPException) -> DaytwoError:
    method, path = request.method, request.scope["path"]
    if exc.status_code == 405:
        allowed: list[str] = []
        for route in request.app.routes:
            if isinstance(route, APIRoute) and route.matches(request.scope)[0] != Match.NONE:
                allowed += [m for m in route.methods or () if m not in allowed and m != "HEAD"]
        return MethodNotAllowed(
            f"Method {method} is not allowed on {path}.", headers={"allow": ", ".join(allowed)}
        )
    if exc.status_code == 404:
        return NotFound(f"Unknown request URL: {method} {path}.")
    return InternalError(f"unexpected HTTP {exc.status_code} from the admin router")


# -- request validation -> one 400 naming the field -----------------------------------------


def validation_error(request: Request, errors: Sequence[Any]) -> InvalidRequest:
    """The first problem of a failed validation, worded for a person, naming the field."""
    err = errors[0]
    where, *path = err["loc"]
    kind = err["type"]
    if where == "body" and kind == "json_invalid":
        return InvalidRequest("The request body is not valid JSON.")
    if where == "body" and not path:
        return InvalidRequest("The request body must be a JSON object.")
    param = ".".join(str(p) for p in path)
    if kind == "missing":
        return InvalidRequest(f"Missing required field `{param}`.", param=param)
    route = request.scope.get("route")
    owner, info = _field(route, where, [str(p) for p in path])
    if kind == "extra_forbidden":
        expected = f"; expected one of: {', '.join(owner)}" if owner else ""
        return InvalidRequest(f"Unknown field `{param}`{expected}.", param=param)
    if kind == "value_error":
        return InvalidRequest(f"`{param}`: {err['ctx']['error']}", param=param)
    return InvalidRequest(f"`{param}` must be {_expected(info)}.", param=param)


def _field(route: Any, where: str, path: list[str]) -> tuple[list[str], FieldInfo | None]:
    """The field a validation error is about, and the names its model allows."""
    if not isinstance(route, APIRoute) or not path:
        return [], None
    if where == "query":
        for param in route.dependant.query_params:
            if param.name == path[0]:
                return [], param.field_info
        return [], None
    if where != "body" or route.body_field is None:
        return [], None
    model: Any = route.body_field.field_info.annotation
    names: list[str] = []
    info: FieldInfo | None = None
    for name in path:
        model = _model_of(model)
        if model is None:
            return names, None
        names = list(model.model_fields)
        info = model.model_fields.get(name)
        if info is None:
            return names, None
        model = info.annotation
    return names, info


def _model_of(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            found = _model_of(arg)
            if found is not None:
                return found
    return None


def _expected(info: FieldInfo | None) -> str:
    """What a field takes, from its declaration: ``an integer from 1 to 1000``."""
    if info is None:
        return "a valid value"
    kinds = _kinds(info.annotation)
    low = high = longest = None
    for meta in _metadata(info):
        if isinstance(meta, annotated_types.Ge):
            low = meta.ge
        elif isinstance(meta, annotated_types.Le):
            high = meta.le
        elif isinstance(meta, annotated_types.MaxLen):
            longest = meta.max_length
    if int in kinds:
        if low is not None and high is not None:
            return f"an integer from {low} to {high}"
        return "an integer" if low is None else f"an integer of at least {low}"
    if str in kinds:
        tail = "" if longest is None else f" of at most {longest} characters"
        return f"a non-empty string{tail}"
    if list in kinds:
        return "a non-empty list of strings"
    if any(isinstance(k, type) and issubclass(k, BaseModel) for k in kinds):
        return "an object"
    return "a valid value"


def _kinds(annotation: Any) -> list[Any]:
    """The plain types an annotation accepts (``Annotated`` and ``| None`` unwrapped)."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _kinds(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return [k for a in typing.get_args(annotation) for k in _kinds(a)]
    if origin is not None:
        return [origin]
    return [] if annotation is type(None) else [annotation]


def _metadata(info: FieldInfo) -> list[Any]:
    """A field's constraints, also those inside an ``Annotated`` member of ``X | None``."""
    found = list(info.metadata)
    stack = [info.annotation]
    while stack:
        ann = stack.pop()
        origin = typing.get_origin(ann)
        if origin is typing.Annotated:
            base, *extra = typing.get_args(ann)
            for meta in extra:
                found += meta.metadata if isinstance(meta, FieldInfo) else [meta]
            stack.append(base)
        elif origin in (typing.Union, types.UnionType):
            stack.extend(typing.get_args(ann))
    return found
