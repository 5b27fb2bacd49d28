"""The admin room on its framework: it sits above the gateway (the data plane never loads it,
nor FastAPI), and whatever FastAPI would answer its own way (422, a slash redirect, a docs page,
``HEAD``, a body it decodes before the token is checked) is answered as daytwo always did."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from tests.gateway.harness import RunningGateway, http, running_gateway, sim_config

import daytwo
from daytwo.admin.app import ROUTES, document
from daytwo.admin.schemas import Scope
from daytwo.control.switches import SWITCH_FIELDS
from daytwo.keys.admin_tokens import AdminTokens
from daytwo.keys.store import KeyStore

SRC = Path(daytwo.__file__).parent
#: The rooms allowed to import the admin room: itself and the ones on top.
ABOVE = {"admin", "cli", "demo", "drill"}


def test_the_data_plane_never_loads_the_admin_room_or_its_framework() -> None:
    """Nor does `daytwo serve` before the first admin call (FastAPI costs ~0.4 s of CPU)."""
    code = (
        "import sys, daytwo.gateway.app, daytwo.gateway.server, daytwo.gateway.pipeline\n"
        "from daytwo.admin.mount import create_app\n"
        "from daytwo.config.load import validate_config\n"
        "create_app(validate_config({'providers': {'sim': {'type': 'sim'}}, 'models': {'m': "
        "{'deployments': [{'provider': 'sim', 'model': 'gpt-4o-mini'}]}}}))\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('fastapi', 'starlette')"
        " or m.startswith('daytwo.admin.') and m != 'daytwo.admin.mount'))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]"


def test_no_room_below_the_admin_room_imports_it() -> None:
    offenders = []
    for path in SRC.rglob("*.py"):
        room = path.relative_to(SRC).parts[0]
        if room in ABOVE:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            if any(n == "daytwo.admin" or n.startswith("daytwo.admin.") for n in names):
                offenders.append(str(path.relative_to(SRC)))
    assert offenders == []


def test_the_document_comes_from_the_declarations_with_daytwos_errors() -> None:
    doc = document()
    text = orjson.dumps(doc).decode()
    assert '"422"' not in text and "HTTPValidationError" not in text
    for r in ROUTES:
        op = doc["paths"][r.path][r.method.lower()]
        assert op.get("x-daytwo-role") == r.need
        takes_input = "requestBody" in op or any(
            p["in"] == "query" for p in op.get("parameters", [])
        )
        # GET /admin/keys: its one query (`project`) takes any string
        if takes_input and (r.method, r.path) != ("GET", "/admin/keys"):
            assert "400" in op["responses"], (r.method, r.path)
    create = doc["components"]["schemas"]["KeyCreate"]
    assert create["additionalProperties"] is False and "project" in create["properties"]
    limit = next(
        p for p in doc["paths"]["/admin/events"]["get"]["parameters"] if p["name"] == "limit"
    )
    assert (limit["schema"]["minimum"], limit["schema"]["maximum"]) == (1, 1000)


def test_the_switch_scope_body_takes_exactly_the_switch_fields() -> None:
    assert tuple(Scope.model_fields) == SWITCH_FIELDS


@pytest.fixture
def gw(tmp_path: Path) -> Iterator[RunningGateway]:
    with running_gateway(sim_config(tmp_path)) as running:
        yield running


@pytest.fixture
def auth(gw: RunningGateway) -> Iterator[dict[str, str]]:
    store = KeyStore.open(gw.app.config.ledger.url)
    try:
        yield {"Authorization": f"Bearer {AdminTokens(store).create('admin', actor='t').secret}"}
    finally:
        store.close()


def _error(body: bytes) -> dict[str, object]:
    err: dict[str, object] = orjson.loads(body)["error"]
    return err


@pytest.mark.integration
def test_what_fastapi_would_answer_its_own_way_is_answered_as_before(
    gw: RunningGateway, auth: dict[str, str]
) -> None:
    # no slash redirect, no docs UI: unknown URLs, in the OpenAI error shape
    for path in ("/admin/keys/", "/admin/", "/admin/docs", "/admin/redoc"):
        status, headers, body = http("GET", gw.url + path, headers=auth)
        assert (status, headers["content-type"]) == (404, "application/json"), path
        assert _error(body)["type"] == "not_found_error"
    status, headers, _ = http("HEAD", gw.url + "/admin/keys", headers=auth)
    assert (status, headers["allow"]) == (405, "GET, POST")
    # a body FastAPI decodes before its dependencies run: the token is still checked first
    status, _, body = http("POST", gw.url + "/admin/keys", b"{not json")
    assert (status, _error(body)["code"]) == (401, "invalid_admin_token")
    status, _, body = http("POST", gw.url + "/admin/keys", b"{not json", auth)
    assert status == 400 and "not valid JSON" in str(_error(body)["message"])
    # bounded before the framework sees it; JSON whatever the content type says
    big = orjson.dumps({"project": "p", "description": "x" * 70_000})
    status, _, body = http("POST", gw.url + "/admin/keys", big, auth)
    assert status == 413 and "65536" in str(_error(body)["message"])
    status, _, body = http("GET", gw.url + "/admin/events?limit=&target=", headers=auth)
    assert status == 200 and orjson.loads(body)["data"]  # empty: the defaults, as before
    plain = {**auth, "content-type": "text/plain"}
    status, _, body = http("POST", gw.url + "/admin/keys", b'{"project": "p"}', plain)
    assert status == 201 and orjson.loads(body)["project"] == "p"


@pytest.mark.integration
@pytest.mark.parametrize(
    ("method", "path", "body", "param", "message"),
    [
        ("GET", "/admin/events?limit=ten", None, "limit", "an integer from 1 to 1000"),
        ("GET", "/admin/events?limit=0", None, "limit", "an integer from 1 to 1000"),
        ("POST", "/admin/switches", {"scope": "p", "reason": "r"}, "scope", "an object"),
        (
            "POST",
            "/admin/switches",
            {"scope": {"project": "p"}, "reason": "r", "until": "1h"},
            "until",
            "expected one of: scope, reason",
        ),
        ("POST", "/admin/keys", {"project": "p", "models": []}, "models", "non-empty list"),
        ("POST", "/admin/keys", {"project": "  "}, "project", "non-empty string"),
        ("POST", "/admin/keys/key_x/rotate", {"grace": "soon"}, "grace", "duration"),
    ],
)
def test_a_failed_validation_is_a_400_naming_the_field_never_a_422(
    gw: RunningGateway,
    auth: dict[str, str],
    method: str,
    path: str,
    body: object,
    param: str,
    message: str,
) -> None:
    raw = None if body is None else orjson.dumps(body)
    status, _, answer = http(method, gw.url + path, raw, auth)
    err = _error(answer)
    assert (status, err["type"], err["param"]) == (400, "invalid_request_error", param)
    assert message in str(err["message"]) and f"`{param}`" in str(err["message"])
