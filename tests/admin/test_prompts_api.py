"""``/admin/prompts`` over real HTTP: the prompts a running gateway serves (labels after its
overrides, hashes, templates), a label moved in labels.yaml seen after the reload, and
per-version stats of real calls made with the OpenAI SDK, checked against `daytwo prompts
stats` and the ledger's rows. Every answer is checked against the OpenAPI document."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from click.testing import CliRunner
from tests.admin.client import DOC, Admin, admin_client, error_of
from tests.gateway.harness import RunningGateway, running_gateway, sim_config, wait_for
from tests.prompts.files import SUPPORT_V1, SUPPORT_V2, prompt_dir, write_labels

from daytwo.cli.main import cli
from daytwo.prompts import load_prompts

pytestmark = pytest.mark.integration

VARS = {"customer": "Ann", "topic": "a refund"}
PROMPT_PATHS = ("/admin/prompts", "/admin/prompts/{name}", "/admin/prompts/{name}/stats")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return prompt_dir(
        tmp_path / "prompts",
        SUPPORT_V1,
        SUPPORT_V2,
        labels={"support-reply": {"production": 1, "staging": 2}},
    )


@pytest.fixture
def gw(tmp_path: Path, root: Path) -> Iterator[RunningGateway]:
    cfg = sim_config(tmp_path)
    cfg["prompts"] = {
        "dir": str(root),
        "reload_poll_s": 0.05,
        "labels": {"support-reply": {"canary": 2}},  # this gateway's own override
    }
    with running_gateway(cfg) as running:
        yield running


@pytest.fixture
def client(gw: RunningGateway) -> Iterator[Admin]:
    with admin_client(gw) as c:
        yield c


def test_the_three_routes_are_declared_for_viewers() -> None:
    for path in PROMPT_PATHS:
        op = DOC["paths"][path]["get"]
        assert op["x-daytwo-role"] == "viewer" and "401" in op["responses"]
    days = next(
        p
        for p in DOC["paths"]["/admin/prompts/{name}/stats"]["get"]["parameters"]
        if p["name"] == "days"
    )
    assert (days["schema"]["minimum"], days["schema"]["maximum"]) == (1, 366)


def test_list_and_show_answer_what_the_gateway_serves(client: Admin, root: Path) -> None:
    token = client.token("viewer")
    on_disk = load_prompts(root).versions["support-reply"]  # the hashes, computed apart
    status, listed = client.get("/admin/prompts", token)
    assert status == 200
    assert listed == {
        "object": "list",
        "default_label": "production",
        "data": [
            {
                "name": "support-reply",
                "versions": [1, 2],
                "labels": {"canary": 2, "production": 1, "staging": 2},
                "model": "gpt-4o-mini",
                "hashes": {"1": on_disk[1].hash, "2": on_disk[2].hash},
                "metadata": {
                    "owner": "support",
                    "description": "Replies to tickets",
                    "tags": ["support"],
                },
            }
        ],
    }
    assert on_disk[1].hash != on_disk[2].hash

    status, shown = client.get("/admin/prompts/support-reply", token)
    assert status == 200
    assert (shown["name"], shown["labels"]) == (
        "support-reply",
        {"canary": 2, "production": 1, "staging": 2},
    )
    v1, v2 = shown["versions"]
    assert v1 == {
        "version": 1,
        "hash": on_disk[1].hash,
        "file": "prompts/support-reply/v1.yaml",
        "model": "gpt-4o-mini",
        "params": {"temperature": 0.2, "max_tokens": 200},
        "variables": {
            "product": {
                "type": "string",
                "required": None,
                "default": "daytwo",
                "description": None,
            },
            "tone": {"type": "string", "required": None, "default": "brief", "description": None},
            "customer": {"type": "string", "required": None, "default": None, "description": None},
            "topic": {"type": "string", "required": None, "default": None, "description": None},
        },
        "system": SUPPORT_V1["system"],
        "messages": SUPPORT_V1["messages"],
        "metadata": {"owner": "support", "description": "Replies to tickets", "tags": ["support"]},
        "labels": ["production"],
    }
    assert (v2["version"], v2["system"], v2["labels"]) == (
        2,
        SUPPORT_V2["system"],
        ["canary", "staging"],
    )
    assert v2["params"] == {"temperature": 0.2, "max_tokens": 400}

    for name in ("nope", "support-reply%40v1"):
        status, data = client.get(f"/admin/prompts/{name}", token)
        assert status == 404, name
        err = error_of(data)
        assert (err["type"], err["code"], err["param"]) == (
            "not_found_error",
            "prompt_not_found",
            "name",
        )


def test_a_label_moved_in_labels_yaml_shows_after_the_reload(client: Admin, root: Path) -> None:
    token = client.token("viewer")

    def production() -> int:
        status, listed = client.get("/admin/prompts", token)
        assert status == 200
        labels: dict[str, int] = listed["data"][0]["labels"]
        return labels["production"]

    assert production() == 1
    write_labels(root, {"support-reply": {"production": 2}})  # the one-line promotion PR
    wait_for(lambda: production() == 2, what="production → v2 in GET /admin/prompts")
    assert client.get("/admin/prompts/support-reply", token)[1]["versions"][1]["labels"] == [
        "canary",
        "production",
    ]


def _cli_stats(db: Path) -> Any:
    out = CliRunner().invoke(
        cli,
        ["prompts", "stats", "support-reply", "--ledger", f"sqlite:///{db}", "--json"],
        catch_exceptions=False,
    )
    assert out.exit_code == 0, out.output
    return json.loads(out.stdout)


def test_stats_per_version_are_what_the_cli_prints_and_the_ledger_holds(
    client: Admin, gw: RunningGateway
) -> None:
    hi: Any = [{"role": "user", "content": "hi"}]
    with gw.openai() as c:
        for _ in range(3):
            c.chat.completions.create(
                model="prompt:support-reply", messages=hi, extra_body={"variables": VARS}
            )
        c.chat.completions.create(
            model="prompt:support-reply@staging", messages=hi, extra_body={"variables": VARS}
        )
    rows = [r for r in gw.records() if r["prompt_name"] == "support-reply"]
    assert gw.db is not None
    cli_versions = _cli_stats(gw.db)["versions"]

    status, stats = client.get("/admin/prompts/support-reply/stats?days=1", client.token("viewer"))
    assert status == 200
    assert (stats["object"], stats["prompt"], stats["days"]) == (
        "prompt_stats",
        "support-reply",
        1,
    )
    assert stats["end"] - stats["start"] == pytest.approx(86_400)
    got = stats["versions"]
    assert [v["version"] for v in got] == [1, 2]
    # the CLI's figures, unchanged
    for api, printed in zip(got, cli_versions, strict=True):
        assert {k: api[k] for k in printed} == printed
    # ...and the ledger's rows, summed by hand
    for v in got:
        mine = [r for r in rows if r["prompt_version"] == v["version"]]
        assert v["calls"] == len(mine) == {1: 3, 2: 1}[v["version"]]
        assert v["input_tokens"] == sum(r["input_tokens"] for r in mine)
        assert v["output_tokens"] == sum(r["output_tokens"] for r in mine)
        priced = [r["cost_nanousd"] for r in mine if r["cost_nanousd"] is not None]
        assert v["cost_nanousd"] == sum(priced) and v["priced_calls"] == len(priced)
        assert v["cost_per_call_nanousd"] == pytest.approx(sum(priced) / len(priced))
        assert v["cost_per_call_usd"] == f"{sum(priced) / len(priced) / 1e9:.9f}"
        assert v["rejected"] == sum(r["status"] == "rejected" for r in mine)
        assert v["refusal_rate"] == round(v["rejected"] / len(mine), 6)
        ok = sorted(r["latency_ms"] for r in mine if r["status"] == "ok")
        assert v["latency_p50_ms"] == round(ok[(len(ok) + 1) // 2 - 1], 3)
    v1, v2 = got
    assert v1["cost_nanousd"] > 0 and (v1["errors"], v1["rejected"], v1["error_rate"]) == (0, 0, 0)
    # the verbose v2 costs more per call than v1: the comparison the endpoint is for
    assert v2["input_tokens_per_call"] > v1["input_tokens_per_call"]
    assert v2["cost_per_call_nanousd"] > v1["cost_per_call_nanousd"]
    # nothing in a window with no calls of that name
    status, none = client.get("/admin/prompts/other/stats", client.token("viewer"))
    assert (status, none["days"], none["versions"]) == (200, 30, [])


@pytest.mark.parametrize("days", ["0", "-1", "abc", "1.5", "367", "\u0663", "\uff13", "1e2"])
def test_days_not_a_positive_integer_is_a_400_naming_it(client: Admin, days: str) -> None:
    status, data = client.get(
        f"/admin/prompts/support-reply/stats?days={quote(days)}", client.token("viewer")
    )
    assert status == 400, days
    err = error_of(data)
    assert (err["type"], err["param"]) == ("invalid_request_error", "days")
    assert "`days`" in err["message"]


def test_tokens_and_projects(client: Admin) -> None:
    for path in ("/admin/prompts", "/admin/prompts/support-reply", "/admin/prompts/x/stats"):
        status, data = client.get(path, None)
        assert (status, error_of(data)["code"]) == (401, "invalid_admin_token"), path
        status, data = client.get(path, "dt2_adm_" + "A" * 38)
        assert status == 401, path
    scoped = client.token("viewer", project="acme")
    assert client.get("/admin/prompts", scoped)[0] == 200  # prompt files are no project's data
    assert client.get("/admin/prompts/support-reply", scoped)[0] == 200
    status, data = client.get("/admin/prompts/support-reply/stats", scoped)
    assert (status, error_of(data)["code"]) == (403, "project_scope")
    assert "every project" in error_of(data)["message"]


def test_a_gateway_without_prompts_lists_none(tmp_path: Path) -> None:
    with running_gateway(sim_config(tmp_path)) as gw, admin_client(gw) as c:
        token = c.token("viewer")
        status, listed = c.get("/admin/prompts", token)
        assert (status, listed) == (200, {"object": "list", "default_label": None, "data": []})
        status, data = c.get("/admin/prompts/support-reply", token)
        assert (status, error_of(data)["code"]) == (404, "prompts_not_configured")
        assert "serves no prompts" in error_of(data)["message"]


def test_an_empty_days_is_the_default_window(client: Admin) -> None:
    for query in ("", "?days="):
        status, stats = client.get(
            f"/admin/prompts/support-reply/stats{query}", client.token("viewer")
        )
        assert (status, stats["days"]) == (200, 30), query
        assert stats["end"] - stats["start"] == pytest.approx(30 * 86_400)
