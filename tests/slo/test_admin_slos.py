"""``GET /admin/slos`` over real HTTP: the SLOs of a running gateway computed from the calls it
served (checked against the ledger's rows and the OpenAPI document), viewers only, and a
project-scoped token reading only its project's SLOs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.admin.client import DOC, Admin, admin_client
from tests.gateway.harness import RunningGateway, running_gateway, sim_config, wait_for

pytestmark = pytest.mark.integration


@pytest.fixture
def gw(tmp_path: Path) -> Iterator[RunningGateway]:
    cfg = sim_config(tmp_path)
    cfg["slos"] = [
        {"name": "shop-up", "sli": "availability", "objective": 0.99, "scope": {"project": "shop"}},
        {"name": "all-fast", "sli": {"type": "latency", "le_ms": 60_000}, "objective": 0.9},
    ]
    with running_gateway(cfg) as running:
        yield running


@pytest.fixture
def client(gw: RunningGateway) -> Iterator[Admin]:
    with admin_client(gw) as c:
        yield c


def test_the_route_is_declared_for_viewers() -> None:
    op = DOC["paths"]["/admin/slos"]["get"]
    assert op["x-daytwo-role"] == "viewer" and "401" in op["responses"]


def test_slos_computed_from_the_calls_served(gw: RunningGateway, client: Admin) -> None:
    oa = gw.openai()
    for project in ("shop", "shop", "other"):
        oa.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "hi"}],
            max_tokens=5,
            extra_headers={"x-daytwo-project": project},
        )
    wait_for(lambda: len(gw.records()) == 3, what="three ledger rows")
    status, body = client.get("/admin/slos", client.token("viewer"))
    assert status == 200
    shop, fast = body["data"]
    assert (shop["name"], shop["events"], shop["bad_events"]) == ("shop-up", 2, 0)
    assert shop["budget_remaining"] == 1.0 and shop["firing"] is None
    assert shop["burn_rates"] == {"5m": 0.0, "30m": 0.0, "1h": 0.0, "6h": 0.0, "3d": 0.0}
    assert (fast["events"], fast["sli_value"]) == (3, 1.0)

    status, scoped = client.get("/admin/slos", client.token("viewer", project="shop"))
    assert status == 200 and [s["name"] for s in scoped["data"]] == ["shop-up"]
    status, _ = client.get("/admin/slos", None)
    assert status == 401
