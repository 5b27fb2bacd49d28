"""``GET /admin/quality`` over real HTTP on a gateway whose ledger is seeded as the report's
tests seed it: the answer is the report of the window it names (what ``daytwo quality --json``
prints), checked against the OpenAPI document; a project-scoped token sees its project only."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from tests.admin.client import DOC, Admin, admin_client, error_of
from tests.gateway.harness import running_gateway, sim_config
from tests.quality.test_quality_report import seed, two_proportion_p

from daytwo.ledger.store import LedgerStore
from daytwo.quality.report import quality_report

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Admin]:
    with running_gateway(sim_config(tmp_path_factory.mktemp("quality"))) as gw:
        assert gw.app.ledger is not None
        seed(gw.app.ledger.store, now=time.time() - 5)
        with admin_client(gw) as admin:
            yield admin


def _store(client: Admin) -> LedgerStore:
    assert client.gw.app.ledger is not None
    return client.gw.app.ledger.store


def _rows(data: dict[str, Any]) -> dict[tuple[str, tuple[Any, ...]], Any]:
    return {(r["evaluator"], tuple(r["group"].values())): r for r in data["rows"]}


def test_declared_for_viewers_in_the_openapi_document() -> None:
    op = DOC["paths"]["/admin/quality"]["get"]
    assert op["x-daytwo-role"] == "viewer" and "401" in op["responses"] and "400" in op["responses"]
    names = {p["name"] for p in op["parameters"]}
    assert names == {"hours", "by", "evaluator"}


def test_the_answer_is_the_report_of_its_window(client: Admin) -> None:
    status, data = client.get("/admin/quality?hours=1&by=model", client.token("viewer"))
    assert status == 200, data
    assert (data["object"], data["hours"], data["by"]) == ("quality_report", 1, ["model"])
    window = data["window"]
    assert window["end"] - window["start"] == pytest.approx(3_600)
    expected = quality_report(_store(client), window["start"], window["end"], ("model",))
    assert {k: v for k, v in data.items() if k not in ("object", "hours")} == expected.to_json()
    thumbs = _rows(data)[("feedback:thumbs", ("gpt-4o",))]
    assert (thumbs["window"]["rate"], thumbs["previous"]["rate"], thumbs["verdict"]) == (
        0.4,
        0.8,
        "worse",
    )
    assert thumbs["p_value"] == pytest.approx(two_proportion_p(12, 30, 24, 30))


def test_several_dimensions_and_one_evaluator(client: Admin) -> None:
    path = "/admin/quality?hours=1&by=workflow&by=prompt_version&evaluator=refusal"
    status, data = client.get(path, client.token("viewer"))
    assert status == 200, data
    assert set(_rows(data)) == {
        ("refusal", (None, None)),
        ("refusal", ("rag", "support@v2")),
        ("refusal", ("triage", "support@v3")),
    }


def test_a_project_token_sees_its_projects_calls_only(client: Admin) -> None:
    status, mine = client.get("/admin/quality?hours=1", client.token("viewer", project="search"))
    assert status == 200, mine
    status, everyone = client.get("/admin/quality?hours=1", client.token("viewer"))
    assert status == 200, everyone
    n_mine = _rows(mine)[("refusal", ())]["window"]["n"]
    n_all = _rows(everyone)[("refusal", ())]["window"]["n"]
    assert n_mine == n_all - 1  # less the score whose call the ledger never saw
    status, other = client.get("/admin/quality?hours=1", client.token("viewer", project="billing"))
    assert (status, other["rows"]) == (200, [])


@pytest.mark.parametrize(
    ("query", "param"),
    [("by=colour", "by"), ("by=model&by=model", "by"), ("hours=0", "hours"), ("hours=x", "hours")],
)
def test_bad_query_is_a_400_naming_it(client: Admin, query: str, param: str) -> None:
    status, data = client.get(f"/admin/quality?{query}", client.token("viewer"))
    assert status == 400, data
    assert error_of(data)["param"] == param


def test_no_token_is_401(client: Admin) -> None:
    assert client.get("/admin/quality", None)[0] == 401
