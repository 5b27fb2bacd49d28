"""``GET /admin/keys/{id}/blast-radius`` over real HTTP against a running gateway: a real call
made with the key, recorded calls with client addresses, the running config's budgets in the
caps, project scope, and errors in daytwo's shape. Every answer is checked against the OpenAPI
document."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
from tests.admin.client import DOC, Admin, admin_client, error_of
from tests.gateway.harness import RunningGateway, running_gateway, sim_config, wait_for
from tests.ledger.conftest import priced_call

from daytwo.keys.model import KeySpec
from daytwo.ledger.store import open_store

pytestmark = pytest.mark.integration

PATH = "/admin/keys/{id}/blast-radius"
USD = 1_000_000_000


@pytest.fixture
def gw(tmp_path: Path) -> Iterator[RunningGateway]:
    cfg = sim_config(tmp_path)
    cfg["pricing"] = {
        "overrides": [{"model": "gpt-4o-mini", "input_per_mtok": 1, "output_per_mtok": 8}]
    }
    cfg["spend_control"] = {
        "budgets": [
            {"name": "acme-week", "scope": {"project": "acme"}, "window": "week", "usd": 70},
        ]
    }
    with running_gateway(cfg) as running:
        yield running


@pytest.fixture
def admin(gw: RunningGateway) -> Iterator[Admin]:
    with admin_client(gw) as a:
        yield a


def test_the_route_is_declared_for_viewers() -> None:
    op = DOC["paths"][PATH]["get"]
    assert op["x-daytwo-role"] == "viewer"
    assert {"200", "400", "401", "403", "404"} <= set(op["responses"])


def test_a_viewer_sees_the_keys_calls_and_caps_under_the_running_config(
    admin: Admin, gw: RunningGateway
) -> None:
    issued = admin.store.create(
        KeySpec(project="acme", budget="25/day", tpm=10_000), actor="t", now=time.time() - 100
    )
    key_id = issued.record.id
    with openai.OpenAI(base_url=gw.base_url, api_key=issued.secret, max_retries=0) as client:
        client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], max_tokens=50
        )
    (real,) = wait_for(
        lambda: [r for r in gw.records() if r["key_id"] == key_id], what="the call's row"
    )
    assert real["status"] == "ok"
    now = time.time()
    with open_store(gw.app.config.ledger.url) as ledger:
        ledger.insert_batch(
            [
                priced_call(1, now - 3600, key_id=key_id, project="acme", cost_nanousd=5_000,
                            client_ip="203.0.113.5", workflow="etl"),
                priced_call(2, now - 7_200, key_id=key_id, project="acme", cost_nanousd=7_000,
                            client_ip="203.0.113.5", workflow="etl"),
                priced_call(3, now - 7_200, key_id="key_someoneelse", project="acme",
                            cost_nanousd=1, client_ip="198.51.100.1"),
            ]
        )  # fmt: skip
    status, data = admin.get(PATH.format(id=key_id), admin.token("viewer"))
    assert status == 200, data
    assert data["key"]["id"] == key_id and data["lifetime_calls"] == 3  # 1 real + 2 written
    assert data["window"]["cost"]["nanos"] == 12_000 + real["cost_nanousd"]
    ips = {v["value"]: v["calls"] for v in data["dimensions"]["client_ip"]["top"]}
    assert ips["203.0.113.5"] == 2 and "198.51.100.1" not in ips
    aliases = {v["value"]: v["calls"] for v in data["dimensions"]["alias"]["top"]}
    assert aliases["gpt-4o-mini"] >= 1
    assert data["impact"]["recent"]["24h"]["calls"] == 3

    caps = data["caps"]
    bounds = {b["source"]: b for b in caps["bounds"]}
    # the running config's weekly $70 bounds a day at $70 and a month at 6 weeks' worth;
    # the key's 10,000 tpm at the dearest reachable price ($8/Mtok for sim/gpt-4o-mini):
    # 10,000 x 1,440 x $8/Mtok = $115.20 a day; the key's own $25/day is the tightest
    assert bounds["budget acme-week"]["per_day"]["nanos"] == 70 * USD
    assert bounds["budget acme-week"]["per_month"]["nanos"] == 420 * USD
    assert bounds["tpm (key)"]["per_day"]["nanos"] == 115_200_000_000
    assert caps["max_per_day"]["nanos"] == 25 * USD
    assert caps["max_per_day_by"] == "key budget (25/day)"
    assert caps["max_per_month_by"].startswith("budget acme-week")
    assert caps["priciest_model"]["deployment"] == "sim/gpt-4o-mini"


def test_a_project_token_reads_only_its_projects_keys(admin: Admin) -> None:
    mine = admin.store.create(KeySpec(project="acme"), actor="t").record.id
    theirs = admin.store.create(KeySpec(project="globex"), actor="t").record.id
    tok = admin.token("viewer", project="acme")
    assert admin.get(PATH.format(id=mine), tok)[0] == 200
    status, data = admin.get(PATH.format(id=theirs), tok)
    assert status == 403
    assert error_of(data)["code"] == "project_scope"
    assert f"read the blast radius of key {theirs} of project `globex`" in error_of(data)["message"]


def test_errors_in_daytwos_shape(admin: Admin) -> None:
    tok = admin.token("viewer")
    status, data = admin.get(PATH.format(id="key_nope123456"), tok)
    assert status == 404 and error_of(data)["type"] == "not_found_error"
    key = admin.store.create(KeySpec(project="acme"), actor="t").record.id
    status, data = admin.get(PATH.format(id=key) + "?since=soon", tok)
    assert status == 400 and error_of(data)["param"] == "since"
    status, data = admin.get(PATH.format(id=key) + "?top=0", tok)
    assert status == 400 and error_of(data)["param"] == "top"
    assert admin.get(PATH.format(id=key), None)[0] == 401
    status, data = admin.get(PATH.format(id=key) + "?since=7d&top=3", tok)
    assert status == 200 and data["since"] == pytest.approx(data["as_of"] - 7 * 86_400)
