"""An admin API client for tests: calls over real HTTP and checks every answer against the
OpenAPI document the admin app generates."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import jsonschema
import orjson
from tests.gateway.harness import RunningGateway, http

from daytwo.admin.app import ROUTES, Route, document
from daytwo.keys.admin_tokens import AdminTokens, Role
from daytwo.keys.store import KeyStore

DOC = document()


def resolve(node: Any) -> Any:
    """The schema with every ``#/components/schemas/X`` reference inlined."""
    if isinstance(node, dict):
        if "$ref" in node:
            return resolve(DOC["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]])
        return {k: resolve(v) for k, v in node.items()}
    if isinstance(node, list):
        return [resolve(v) for v in node]
    return node


def route_of(method: str, path: str) -> Route | None:
    segments = path.split("?")[0].strip("/").split("/")
    for r in ROUTES:
        if r.method == method and r.match(segments) is not None:
            return r
    return None


class Admin:
    """An admin API client that checks every answer against the OpenAPI document."""

    def __init__(self, gw: RunningGateway) -> None:
        self.gw = gw
        self.store = KeyStore.open(gw.app.config.ledger.url)
        self.tokens = AdminTokens(self.store)

    def token(self, role: Role, project: str | None = None, name: str | None = None) -> str:
        return self.tokens.create(role, actor="test", project=project, name=name).secret

    def call(self, method: str, path: str, token: str | None, body: Any = None) -> tuple[int, Any]:
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        raw_body = None if body is None else orjson.dumps(body)
        status, hdrs, raw = http(method, self.gw.url + path, raw_body, headers)
        route = route_of(method, path)
        if hdrs["content-type"] != "application/json":  # a file (an audit export): not JSON
            assert 200 <= status < 300 and route is not None, (status, hdrs)
            responses = DOC["paths"][route.path][method.lower()]["responses"]
            assert str(status) in responses, f"undocumented {status} for {method} {route.path}"
            return status, raw
        data = orjson.loads(raw)
        if route is not None:
            responses = DOC["paths"][route.path][method.lower()]["responses"]
            assert str(status) in responses, f"undocumented {status} for {method} {route.path}"
            schema = responses[str(status)]["content"]["application/json"]["schema"]
            jsonschema.Draft202012Validator(resolve(schema)).validate(data)
        return status, data

    def get(self, path: str, token: str | None) -> tuple[int, Any]:
        """A GET of a declared route (an undeclared one fails the test)."""
        assert route_of("GET", path) is not None, f"no GET route for {path}"
        return self.call("GET", path, token)


@contextmanager
def admin_client(gw: RunningGateway) -> Iterator[Admin]:
    a = Admin(gw)
    try:
        yield a
    finally:
        a.store.close()


def error_of(data: Any) -> dict[str, Any]:
    err: dict[str, Any] = data["error"]
    return err
