"""The admin API over real HTTP against a running gateway: every endpoint, every role boundary,
project-scoped tokens, kill/revive reaching the chat path, the event log, and an OpenAPI
document that matches the router's table and every response the tests see."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson
import pytest
from openapi_spec_validator import validate as validate_spec
from tests.admin.client import Admin, admin_client, error_of
from tests.gateway.harness import RunningGateway, http, sim_config, wait_for
from tests.gateway.spend_harness import chat_body, settled, spend_config
from tests.prompts.files import SUPPORT_V1, SUPPORT_V2, prompt_dir
from tests.rollout.harness import make_rollout

from daytwo.admin.app import ROUTES, Route
from daytwo.incidents import record as incident_record
from daytwo.keys.admin_tokens import ROLES, role_allows
from daytwo.keys.model import KeySpec
from daytwo.rollout.steer import steer
from daytwo.rollout.store import RolloutStore

pytestmark = pytest.mark.integration

ACME = {"x-daytwo-project": "acme"}


@pytest.fixture
def gw(
    tmp_path: Path,
    gateway_factory: Callable[..., RunningGateway],
    monkeypatch: pytest.MonkeyPatch,
) -> RunningGateway:
    """The usual test gateway, serving one prompt (for the `/admin/prompts` routes)."""
    cfg = sim_config(tmp_path)
    labels = {"support-reply": {"production": 1}}
    root = prompt_dir(tmp_path / "prompts", SUPPORT_V1, SUPPORT_V2, labels=labels)
    cfg["prompts"] = {"dir": str(root)}
    # one call of a redacted project, and a vault key (for the `/admin/audit` routes)
    monkeypatch.setenv(VAULT_ENV, base64.b64encode(b"k" * 32).decode())
    cfg["audit"] = {
        "rules": [{"project": "p", "capture": "redacted"}],
        "redaction": {"reversible_key": f"env:{VAULT_ENV}"},
    }
    return gateway_factory(cfg)


VAULT_ENV = "ADMIN_TEST_AUDIT_VAULT_KEY"


@pytest.fixture
def admin(gw: RunningGateway) -> Iterator[Admin]:
    with admin_client(gw) as a:
        yield a


# -- the document ---------------------------------------------------------------------------


def test_openapi_is_public_valid_and_lists_exactly_the_routes_served(admin: Admin) -> None:
    status, doc = admin.call("GET", "/admin/openapi.json", None)
    assert status == 200
    validate_spec(doc)
    documented = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    served = {(r.method, r.path) for r in ROUTES}
    assert documented == served
    for r in ROUTES:
        op = doc["paths"][r.path][r.method.lower()]
        if r.need is None:
            assert op["security"] == []
        else:
            assert f"`{r.need}`" in op["description"]
            assert "401" in op["responses"]


def test_unknown_paths_are_404_and_wrong_methods_405(admin: Admin) -> None:
    status, _, body = http("GET", admin.gw.url + "/admin/nothing-here")
    assert status == 404
    assert orjson.loads(body)["error"]["type"] == "not_found_error"
    status, headers, _ = http("DELETE", admin.gw.url + "/admin/keys")
    assert status == 405
    assert headers["allow"] == "GET, POST"


# -- auth -----------------------------------------------------------------------------------


def test_missing_unknown_malformed_and_revoked_tokens_get_one_401(admin: Admin) -> None:
    status, data = admin.call("GET", "/admin/keys", None)
    assert status == 401
    assert "didn't provide an admin token" in error_of(data)["message"]

    good = admin.token("viewer")
    doomed = admin.tokens.create("admin", actor="test")
    key = admin.store.create(KeySpec(project="p"), actor="test").secret
    assert admin.call("GET", "/admin/keys", doomed.secret)[0] == 200
    admin.tokens.revoke(doomed.record.id, actor="test")

    answers = set()
    for bad in (
        doomed.secret,  # revoked: refused at once, no cache delay
        good[:-1] + ("a" if good[-1] != "a" else "b"),  # checksum typo
        "dt2_adm_" + "A" * 38,  # well-shaped, unknown
        "not-a-token",
        key,  # a virtual key is not an admin token
    ):
        status, data = admin.call("GET", "/admin/keys", bad)
        assert status == 401, bad
        answers.add(orjson.dumps(data))
    assert len(answers) == 1
    assert error_of(orjson.loads(answers.pop()))["code"] == "invalid_admin_token"
    assert admin.call("GET", "/admin/keys", good)[0] == 200


def _sample_request(admin: Admin, route: Route) -> tuple[str, Any]:
    """A well-formed request for ``route`` (a fresh key for the routes that act on one)."""
    path = route.path
    if "{id}" in path:
        path = path.replace("{id}", admin.store.create(KeySpec(project="p"), actor="t").record.id)
    path = path.replace("{name}", "support-reply")
    if "{call_id}" in path:
        body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
        status, headers, raw = http(
            "POST",
            f"{admin.gw.url}/v1/chat/completions",
            orjson.dumps(body),
            {"x-daytwo-project": "p"},
        )
        assert status == 200, raw
        assert admin.gw.app.ledger is not None and admin.gw.app.ledger.flush(10.0)
        path = path.replace("{call_id}", headers["x-daytwo-call-id"])
    if route.path == "/admin/audit/export":
        path += "?from=0&to=4000000000"
    if "{incident_id}" in path:
        started = incident_record.start(admin.store, title="matrix", severity="sev3", actor="t")
        path = path.replace("{incident_id}", started.id)
    if "{rollout_id}" in path:
        path = path.replace("{rollout_id}", _sample_rollout(admin, route.path.rsplit("/", 1)[1]))
    if route.path == "/admin/rollouts" and route.method == "POST":
        _free_rollout_target(admin, "support-reply@production")
    body: Any = None
    if route.method == "POST":
        body = {
            "/admin/keys": {"project": "p"},
            "/admin/switches": {"scope": {"project": "p"}, "reason": "matrix"},
            "/admin/switches/degrade": {
                "scope": {"project": "p"},
                "mode": "static",
                "reason": "matrix",
            },
            "/admin/switches/revive": {"scope": {"project": "p"}},
            "/admin/incidents": {"title": "matrix", "severity": "sev3"},
            "/admin/incidents/{incident_id}/notes": {"text": "a note"},
            "/admin/rollouts": {"target": "prompt:support-reply@v2", "stages": "canary:5%"},
        }.get(route.path, {"reason": "matrix"} if "{rollout_id}" in route.path else {})
    return path, body


def _sample_rollout(admin: Admin, action: str) -> str:
    """A stored rollout of its own alias, in a state ``action`` applies to."""
    store = RolloutStore(admin.store)
    r = store.create(make_rollout("alias", f"matrix-{len(store.list(1000))}", "a", "b"), "t")
    for step in {"resume": ("pause",), "retire": ("rollback",)}.get(action, ()):
        after, event = steer(r, step, time.time(), "matrix")
        assert store.move(r, after, "t", event)
        r = after
    return r.id


def _free_rollout_target(admin: Admin, target: str) -> None:
    store = RolloutStore(admin.store)
    for r in store.active():
        if r.target == target:
            after, event = steer(r, "rollback", time.time(), "matrix")
            assert store.move(r, after, "t", event) and store.retire(after, "t", "matrix")


def test_every_route_refuses_exactly_the_roles_below_its_own(admin: Admin) -> None:
    tokens = {role: admin.token(role) for role in ROLES}
    checked = 0
    for route in ROUTES:
        if route.need is None:
            continue
        for role in ROLES:
            path, body = _sample_request(admin, route)
            status, data = admin.call(route.method, path, tokens[role], body)
            if role_allows(role, route.need):
                assert status in (200, 201), (route.path, role, data)
            else:
                assert status == 403, (route.path, role, data)
                err = error_of(data)
                assert err["code"] == "insufficient_role"
                assert f"`{role}`" in err["message"] and f"`{route.need}`" in err["message"]
            checked += 1
    assert checked == 3 * sum(1 for r in ROUTES if r.need is not None)


def test_viewer_cannot_kill_and_operator_cannot_create_keys(admin: Admin) -> None:
    viewer, operator = admin.token("viewer"), admin.token("operator")
    kill = {"scope": {"project": "acme"}, "reason": "x"}
    assert admin.call("POST", "/admin/switches", viewer, kill)[0] == 403
    assert admin.call("POST", "/admin/keys", operator, {"project": "acme"})[0] == 403
    assert admin.call("POST", "/admin/switches", operator, kill)[0] == 200
    assert admin.store.list_keys() == []


# -- keys -----------------------------------------------------------------------------------


def test_key_lifecycle_create_list_show_rotate_revoke(admin: Admin) -> None:
    tok = admin.token("admin", name="ops")
    status, created = admin.call(
        "POST",
        "/admin/keys",
        tok,
        {
            "project": "search",
            "workflow": "rag",
            "feature": "answers",
            "environment": "prod",
            "models": ["gpt-4o-mini"],
            "budget": "50/day",
            "rpm": 600,
            "tpm": 200000,
            "expires": "90d",
            "description": "backend",
        },
    )
    assert status == 201
    secret, key_id = created["key"], created["id"]
    principal = admin.store.authenticate(secret)
    assert principal is not None and principal.key_id == key_id
    assert (principal.project, principal.budget, principal.rpm) == ("search", "50/day", 600)
    assert principal.models == ("gpt-4o-mini",)
    assert created["created_by"].startswith("adm_") and created["created_by"].endswith("(ops)")

    status, listed = admin.call("GET", "/admin/keys?project=search", tok)
    assert status == 200
    assert [k["id"] for k in listed["data"]] == [key_id]
    assert secret not in orjson.dumps(listed).decode()
    assert admin.call("GET", "/admin/keys?project=nobody", tok)[1]["data"] == []
    status, shown = admin.call("GET", f"/admin/keys/{key_id}", tok)
    assert (status, shown["state"], shown["budget"]) == (200, "active", "50/day")

    status, rotated = admin.call("POST", f"/admin/keys/{key_id}/rotate", tok, {"grace": "0s"})
    assert status == 201
    assert rotated["rotated_from"] == key_id and rotated["key"] != secret
    assert admin.store.authenticate(secret) is None  # grace 0s: the old key stops at once
    assert admin.store.authenticate(rotated["key"]) is not None

    status, revoked = admin.call("POST", f"/admin/keys/{rotated['id']}/revoke", tok)
    assert (status, revoked["state"]) == (200, "revoked")
    assert admin.store.authenticate(rotated["key"]) is None
    status, again = admin.call("POST", f"/admin/keys/{rotated['id']}/revoke", tok)
    assert status == 400
    assert "already revoked" in error_of(again)["message"]
    status, missing = admin.call("GET", "/admin/keys/key_0000000000", tok)
    assert (status, error_of(missing)["type"]) == (404, "not_found_error")


@pytest.mark.parametrize(
    ("body", "param", "needle"),
    [
        ({}, "project", "Missing required field"),
        ({"project": "p", "budget": "50/fortnight"}, "budget", "expected <usd>/"),
        ({"project": "p", "expires": "soon"}, "expires", "duration"),
        ({"project": "p", "rpm": 0}, "rpm", "at least 1"),
        ({"project": "p", "tpm": True}, "tpm", "integer"),
        ({"project": "p", "models": "gpt-4o"}, "models", "list"),
        ({"project": "p", "colour": "blue"}, "colour", "Unknown field"),
        ({"project": ""}, "project", "non-empty"),
    ],
)
def test_bad_key_bodies_are_400_naming_the_field(
    admin: Admin, body: dict[str, Any], param: str, needle: str
) -> None:
    status, data = admin.call("POST", "/admin/keys", admin.token("admin"), body)
    assert status == 400
    err = error_of(data)
    assert (err["type"], err["param"]) == ("invalid_request_error", param)
    assert needle in err["message"]
    assert admin.store.list_keys() == []


def test_a_body_that_is_not_a_json_object_is_400(admin: Admin) -> None:
    tok = admin.token("admin")
    for raw in (b"{not json", b"[1, 2]"):
        status, _, body = http(
            "POST", admin.gw.url + "/admin/keys", raw, {"Authorization": f"Bearer {tok}"}
        )
        assert status == 400
        assert "JSON" in orjson.loads(body)["error"]["message"]


# -- project-scoped tokens ------------------------------------------------------------------


def test_a_project_token_sees_and_acts_only_inside_its_project(admin: Admin) -> None:
    mine = admin.store.create(KeySpec(project="acme"), actor="t").record.id
    theirs = admin.store.create(KeySpec(project="globex"), actor="t").record.id
    tok = admin.token("admin", project="acme", name="acme-ops")

    status, listed = admin.call("GET", "/admin/keys", tok)
    assert [k["id"] for k in listed["data"]] == [mine]
    status, data = admin.call("GET", "/admin/keys?project=globex", tok)
    assert status == 403 and "scoped to project `acme`" in error_of(data)["message"]
    assert error_of(data)["code"] == "project_scope"

    status, data = admin.call("POST", "/admin/keys", tok, {"project": "globex"})
    assert status == 403 and "create a key for project `globex`" in error_of(data)["message"]
    status, created = admin.call("POST", "/admin/keys", tok, {"workflow": "w"})
    assert (status, created["project"]) == (201, "acme")  # the token's project by default

    for action in ("revoke", "rotate"):
        status, data = admin.call("POST", f"/admin/keys/{theirs}/{action}", tok)
        assert status == 403, action
        assert f"key {theirs} of project `globex`" in error_of(data)["message"]
    assert admin.call("GET", f"/admin/keys/{theirs}", tok)[0] == 403
    assert admin.store.require(theirs).state(0) == "active"

    for scope in ({"project": "globex"}, {"model": "gpt-4o-mini"}, {"feature": "f"}):
        status, data = admin.call("POST", "/admin/switches", tok, {"scope": scope, "reason": "x"})
        assert status == 403, scope
        assert "add project=acme" in error_of(data)["message"]
    assert (
        admin.call("POST", "/admin/switches/revive", tok, {"scope": {"project": "globex"}})[0]
        == 403
    )
    assert admin.gw.app.spend is not None and admin.gw.app.spend.switches.active() == {}

    root = admin.token("operator")
    admin.call("POST", "/admin/switches", root, {"scope": {"project": "globex"}, "reason": "g"})
    status, killed = admin.call(
        "POST",
        "/admin/switches",
        tok,
        {"scope": {"project": "acme", "feature": "f"}, "reason": "a"},
    )
    assert (status, killed["scope"]) == (200, "project=acme,feature=f")
    status, switches = admin.call("GET", "/admin/switches", tok)
    assert [s["scope"] for s in switches["data"]] == ["project=acme,feature=f"]
    status, switches = admin.call("GET", "/admin/switches", root)
    assert len(switches["data"]) == 2

    status, events = admin.call("GET", "/admin/events", tok)
    targets = {e["target"] for e in events["data"]}
    assert theirs not in targets and "project=globex" not in targets
    assert {mine, created["id"], "project=acme,feature=f"} <= targets


# -- switches -------------------------------------------------------------------------------


def test_a_kill_refuses_the_next_call_in_scope_and_revive_restores_it(admin: Admin) -> None:
    url = f"{admin.gw.base_url}/chat/completions"
    op = admin.token("operator", name="oncall")
    op_id = admin.tokens.list_tokens()[-1].id
    assert http("POST", url, chat_body(), ACME)[0] == 200

    status, switch = admin.call(
        "POST", "/admin/switches", op, {"scope": {"project": "acme"}, "reason": "runaway agent"}
    )
    assert status == 200
    assert (switch["scope"], switch["reason"], switch["source"]) == (
        "project=acme",
        "runaway agent",
        "manual",
    )
    assert switch["who"] == f"{op_id} (oncall)"
    status, _, body = http("POST", url, chat_body(), ACME)
    assert status == 403
    err = orjson.loads(body)["error"]
    assert (err["type"], err["scope"]) == ("feature_disabled", "project=acme")
    assert "runaway agent" in err["message"]
    assert http("POST", url, chat_body(), {"x-daytwo-project": "other"})[0] == 200
    status, listed = admin.call("GET", "/admin/switches", admin.token("viewer"))
    assert [s["scope"] for s in listed["data"]] == ["project=acme"]

    status, revived = admin.call(
        "POST", "/admin/switches/revive", op, {"scope": {"project": "acme"}}
    )
    assert (status, revived["revived"]) == (200, True)
    assert http("POST", url, chat_body(), ACME)[0] == 200
    status, again = admin.call("POST", "/admin/switches/revive", op, {"scope": {"project": "acme"}})
    assert (status, again["revived"]) == (200, False)

    # the admin event log: who, what, before and after, newest first
    status, log = admin.call("GET", f"/admin/events?target={quote('project=acme')}", op)
    ours = [e for e in log["data"] if e["action"].startswith("switch.")]
    assert [e["action"] for e in ours] == ["switch.revive", "switch.kill"]
    revive_ev, kill_ev = ours
    assert kill_ev["actor"] == revive_ev["actor"] == f"{op_id} (oncall)"
    assert kill_ev["before"] is None
    assert kill_ev["after"]["reason"] == "runaway agent"
    assert revive_ev["before"]["reason"] == "runaway agent" and revive_ev["after"] is None
    assert revive_ev["id"] > kill_ev["id"]


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"reason": "x"}, "scope"),
        ({"scope": {}, "reason": "x"}, "scope"),
        ({"scope": {"user": "bob"}, "reason": "x"}, "scope.user"),
        ({"scope": {"project": "*"}, "reason": "x"}, "scope.project"),
        ({"scope": {"project": 3}, "reason": "x"}, "scope.project"),
        ({"scope": {"project": "acme"}}, "reason"),
        ({"scope": {"project": "acme"}, "reason": "x" * 501}, "reason"),
        ({"scope": {"project": "acme"}, "reason": "x", "until": "1h"}, "until"),
    ],
)
def test_bad_kill_bodies_are_400_naming_the_field(
    admin: Admin, body: dict[str, Any], param: str
) -> None:
    status, data = admin.call("POST", "/admin/switches", admin.token("operator"), body)
    assert (status, error_of(data)["param"]) == (400, param)
    assert admin.gw.app.spend is not None and admin.gw.app.spend.switches.active() == {}


# -- budgets --------------------------------------------------------------------------------


@pytest.fixture
def budget_gw(tmp_path: Path, gateway_factory: Callable[..., RunningGateway]) -> RunningGateway:
    budgets = [
        {"name": "acme-daily", "scope": {"project": "acme"}, "window": "day", "usd": "50"},
        {
            "name": "per-user",
            "scope": {"project": "acme", "user": "*"},
            "window": "hour",
            "usd": "0.25",
            "tokens": 100000,
        },
        {"name": "org-monthly", "window": "month", "usd": "1000", "actions": ["alert"]},
        {"name": "per-call", "scope": {"project": "acme"}, "window": "request", "usd": "1.5"},
    ]
    return gateway_factory(spend_config(tmp_path, {"budgets": budgets}))


def test_budgets_show_caps_windows_and_counters(budget_gw: RunningGateway) -> None:
    admin = Admin(budget_gw)
    try:
        viewer = admin.token("viewer")
        url = f"{budget_gw.base_url}/chat/completions"
        assert http("POST", url, chat_body(user="bob"), ACME)[0] == 200
        wait_for(lambda: settled(budget_gw))
        (row,) = budget_gw.records()
        cost = row["cost_nanousd"]
        assert cost > 0

        status, data = admin.call("GET", "/admin/budgets", viewer)
        assert status == 200
        by_name = {b["name"]: b for b in data["data"]}
        assert list(by_name) == ["acme-daily", "per-user", "org-monthly", "per-call"]
        daily = by_name["acme-daily"]
        assert (daily["window"], daily["cap_usd"], daily["scope"]) == ("day", "50", "project=acme")
        c = daily["counter"]
        assert c["scope"] == "project=acme"
        assert Decimal(c["spent_usd"]) * 10**9 == cost  # exact: a decimal string
        assert c["reserved_usd"] == "0" and c["resets_at"] - c["window_start"] in (
            82_800,
            86_400,
            90_000,
        )
        assert by_name["per-user"]["counter"] is None  # a pattern: no concrete scope given
        assert by_name["per-call"]["counter"] is None and by_name["per-call"]["cap_usd"] == "1.5"
        assert by_name["org-monthly"]["counter"]["scope"] == "org"

        q = quote("project=acme,user=bob")
        status, data = admin.call("GET", f"/admin/budgets?scope={q}", viewer)
        by_name = {b["name"]: b for b in data["data"]}
        per_user = by_name["per-user"]["counter"]
        assert per_user["scope"] == "project=acme,user=bob"
        assert Decimal(per_user["spent_usd"]) * 10**9 == cost
        assert per_user["spent_tokens"] == row["input_tokens"] + row["output_tokens"]
        assert by_name["per-user"]["cap_tokens"] == 100000

        status, data = admin.call("GET", f"/admin/budgets?scope={quote('project=globex')}", viewer)
        by_name = {b["name"]: b for b in data["data"]}
        assert by_name["acme-daily"]["counter"] is None  # does not apply to globex
        assert by_name["org-monthly"]["counter"]["scope"] == "org"

        for bad in ("project=*", "colour=blue", "project"):
            status, err = admin.call("GET", f"/admin/budgets?scope={quote(bad)}", viewer)
            assert (status, error_of(err)["param"]) == (400, "scope"), bad

        # a project token sees its project's budgets only, never the organisation's
        scoped = admin.token("viewer", project="acme")
        status, data = admin.call("GET", "/admin/budgets", scoped)
        assert [b["name"] for b in data["data"]] == ["acme-daily", "per-user", "per-call"]
        q = quote("project=globex")
        assert admin.call("GET", f"/admin/budgets?scope={q}", scoped)[0] == 403
    finally:
        admin.store.close()


# -- events ---------------------------------------------------------------------------------


def test_events_newest_first_with_target_and_limit(admin: Admin) -> None:
    tok = admin.token("admin", name="ops")
    first = admin.call("POST", "/admin/keys", tok, {"project": "p"})[1]["id"]
    second = admin.call("POST", "/admin/keys", tok, {"project": "p"})[1]["id"]
    admin.call("POST", f"/admin/keys/{first}/revoke", tok)

    status, data = admin.call("GET", "/admin/events?limit=2", tok)
    assert status == 200
    assert [(e["action"], e["target"]) for e in data["data"]] == [
        ("key.revoke", first),
        ("key.create", second),
    ]
    status, data = admin.call("GET", f"/admin/events?target={first}", tok)
    revoke, create = data["data"]
    assert (revoke["action"], create["action"]) == ("key.revoke", "key.create")
    assert revoke["before"]["revoked_at"] is None and revoke["after"]["revoked_at"] is not None
    assert revoke["actor"].endswith("(ops)")
    # the tokens' own creation is in the log too (never the secret)
    status, data = admin.call("GET", "/admin/events?limit=1000", tok)
    assert any(e["action"] == "admin_token.create" for e in data["data"])
    assert tok not in orjson.dumps(data).decode()
    # %C2%B2 is "²": a Unicode digit that str.isdigit() accepts and int() refuses (was a 500)
    for bad in ("0", "1001", "ten", "%C2%B2", "%D9%A3"):
        status, err = admin.call("GET", f"/admin/events?limit={bad}", tok)
        assert (status, error_of(err)["param"]) == (400, "limit")
