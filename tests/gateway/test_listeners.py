"""The unauthenticated surface (issue 11 item 10, 11): routing on the path as sent, the
control-plane listener, the `/metrics` token, and two requests that used to be 500s."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from http.client import HTTPConnection
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from tests.gateway.harness import RunningGateway, http, sim_config

from daytwo.config.load import parse_config, validate_config
from daytwo.core.errors import ConfigError
from daytwo.keys.admin_tokens import AdminTokens
from daytwo.keys.store import KeyStore

pytestmark = pytest.mark.integration

CHAT = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]})


def _raw(url: str, method: str, path: str, body: str | None = None) -> tuple[int, bytes]:
    """A request whose path goes out exactly as written (no client-side normalising)."""
    parts = urlsplit(url)
    conn = HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    try:
        headers = {"content-type": "application/json"} if body is not None else {}
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


@pytest.fixture
def admin_token(gw: RunningGateway) -> Iterator[str]:
    store = KeyStore.open(gw.app.config.ledger.url)
    try:
        yield AdminTokens(store).create("admin", actor="test").secret
    finally:
        store.close()


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/%61dmin/keys"),
        ("GET", "/admin/%6Beys"),
        ("GET", "/%2Fadmin/keys"),
        ("GET", "/%6Detrics"),
        ("POST", "/v1/%63hat/completions"),
        ("POST", "/v1/chat%2Fcompletions"),
        ("GET", "/v1/%6Dodels"),
    ],
)
def test_a_percent_encoded_path_does_not_reach_the_route_it_decodes_to(
    gw: RunningGateway, method: str, path: str
) -> None:
    """A front proxy that blocks `/admin` by prefix sees `/%61dmin`; the gateway must not
    decode it into the admin API (401 would mean it got there) nor into a door (200)."""
    status, body = _raw(gw.url, method, path, CHAT if method == "POST" else None)
    assert status == 404, body
    assert json.loads(body)["error"]["type"] == "not_found_error"
    # the plain paths do reach their routes
    plain = path.replace("%61", "a").replace("%6B", "k").replace("%63", "c").replace("%6D", "m")
    if "%2F" not in plain:
        assert _raw(gw.url, method, plain, CHAT if method == "POST" else None)[0] in (200, 401)


def test_the_admin_listener_serves_the_control_plane_and_the_data_port_does_not(
    tmp_path: Path, gateway_factory: Callable[..., RunningGateway]
) -> None:
    cfg = sim_config(tmp_path)
    cfg["server"] = {"admin_listen": "127.0.0.1:0"}
    gw = gateway_factory(cfg)
    admin_url = gw.handle.admin_url
    assert admin_url is not None and admin_url != gw.url
    store = KeyStore.open(cfg["ledger"]["url"])
    token = AdminTokens(store).create("viewer", actor="test").secret
    store.close()
    auth = {"Authorization": f"Bearer {token}"}
    # a call on the data port, so that /metrics has a project to show
    assert http("POST", gw.url + "/v1/chat/completions", CHAT.encode())[0] == 200

    # data port: no admin API, no metrics
    for path in ("/admin/keys", "/admin/openapi.json", "/metrics"):
        status, _, body = http("GET", gw.url + path, headers=auth)
        assert status == 404, (path, body)
    # admin port: the admin API, metrics and health; no LLM doors
    status, _, body = http("GET", admin_url + "/admin/keys", headers=auth)
    assert status == 200 and json.loads(body)["object"] == "list"
    status, headers, body = http("GET", admin_url + "/metrics")
    assert status == 200 and headers["content-type"].startswith("text/plain")
    assert b"daytwo_" in body and b'daytwo_connections_open{listener="admin"} 1.0' in body
    assert http("GET", admin_url + "/readyz")[0] == 200
    assert http("POST", admin_url + "/v1/chat/completions", CHAT.encode())[0] == 404
    assert http("GET", admin_url + "/v1/models")[0] == 404
    assert _raw(admin_url, "GET", "/%61dmin/keys")[0] == 404


def test_admin_listen_is_validated() -> None:
    for bad, expected in (
        ("localhost", "is not host:port"),
        ("127.0.0.1:99999", "is not host:port"),
        ("127.0.0.1:4000", "is the data-plane port"),
    ):
        with pytest.raises(ConfigError, match=expected):
            validate_config({"server": {"port": 4000, "admin_listen": bad}})
    cfg = validate_config({"server": {"admin_listen": "[::1]:4001"}})
    assert cfg.server.admin_address == ("::1", 4001)


def test_metrics_with_a_token_answer_only_the_scraper_that_sends_it(
    tmp_path: Path, gateway_factory: Callable[..., RunningGateway], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DAYTWO_TEST_METRICS_TOKEN", "s3cret-scrape-token")
    cfg = sim_config(tmp_path)
    cfg["telemetry"] = {"metrics": {"token": "env:DAYTWO_TEST_METRICS_TOKEN"}}
    gw = gateway_factory(cfg)
    assert http("POST", gw.url + "/v1/chat/completions", CHAT.encode())[0] == 200
    bad: list[dict[str, str]] = [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": "s3cret-scrape-token"},  # not Bearer
    ]
    for headers in bad:
        status, hdrs, body = http("GET", gw.url + "/metrics", headers=headers)
        assert status == 401 and hdrs["www-authenticate"] == "Bearer"
        assert b"daytwo_" not in body and b"s3cret" not in body
    status, _, body = http(
        "GET", gw.url + "/metrics", headers={"Authorization": "Bearer s3cret-scrape-token"}
    )
    assert status == 200 and b"daytwo_requests_total" in body


@pytest.mark.parametrize(
    "messages",
    [
        [{"role": "user", "content": "hi", "tool_calls": 5}],
        [{"role": "user", "content": "hi"}],
        5,
    ],
)
def test_messages_on_the_embeddings_door_is_a_400_naming_it(
    tmp_path: Path, gateway_factory: Callable[..., RunningGateway], messages: object
) -> None:
    """With a budget in force the estimate used to walk `messages` (and crash on `tool_calls: 5`)
    instead of `input`: a 500, and an input that escaped the per-request caps."""
    cfg = sim_config(tmp_path)
    cfg["spend_control"] = {
        "budgets": [{"name": "b", "scope": {"project": "*"}, "window": "day", "usd": 10}]
    }
    gw = gateway_factory(cfg)
    body = {"model": "text-embedding-3-small", "input": "x", "messages": messages}
    status, _, raw = http("POST", gw.url + "/v1/embeddings", json.dumps(body).encode())
    assert status == 400, raw
    assert json.loads(raw)["error"]["param"] == "messages"


def test_events_limit_with_a_unicode_digit_is_400(gw: RunningGateway, admin_token: str) -> None:
    auth = {"Authorization": f"Bearer {admin_token}"}
    status, _, body = http("GET", gw.url + "/admin/events?limit=%C2%B2", headers=auth)
    assert status == 400 and json.loads(body)["error"]["param"] == "limit"


def test_the_deploy_examples_keep_the_control_plane_off_the_published_port() -> None:
    root = Path(__file__).resolve().parents[2] / "deploy"
    compose_cfg = parse_config((root / "compose" / "daytwo.yaml").read_text())
    compose = yaml.safe_load((root / "compose" / "docker-compose.yml").read_text())
    assert compose_cfg.server.admin_address == ("0.0.0.0", 4001)
    assert compose["services"]["daytwo"]["ports"] == ["4000:4000"]
    scrape = yaml.safe_load((root / "compose" / "prometheus.yml").read_text())
    assert scrape["scrape_configs"][0]["static_configs"][0]["targets"] == ["daytwo:4001"]

    docs = list(yaml.safe_load_all((root / "kubernetes" / "daytwo.yaml").read_text()))
    (cm,) = [d for d in docs if d["kind"] == "ConfigMap"]
    k8s_cfg = parse_config(cm["data"]["daytwo.yaml"])
    assert k8s_cfg.server.admin_address == ("0.0.0.0", 4001)
    services = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Service"}
    assert [p["port"] for p in services["daytwo"]["spec"]["ports"]] == [4000]
    assert services["daytwo-admin"]["spec"]["type"] == "ClusterIP"
