"""An incident through the admin API of a real gateway (the simulator behind it, calls over
HTTP): started, a kill switch, a config reload, an alert that fires and resolves, a prompt
reload, a note, the end -- and the report's timeline lists exactly those, in order, at the
times the audit trail and the alert history recorded. Project-scoped tokens stay in their
project."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.admin.client import admin_client, error_of
from tests.alerts.harness import alert_gateway_config, call, history, webhook
from tests.alerts.receiver import Receiver
from tests.gateway.harness import RunningGateway, running_gateway, wait_for
from tests.prompts.files import SUPPORT_V1, SUPPORT_V2, prompt_dir, write_labels

from daytwo.incidents.postmortem import clock
from daytwo.keys.store import KeyStore

pytestmark = pytest.mark.integration


@pytest.fixture
def setup(
    tmp_path: Path, receiver: Receiver, hmac_key: bytes
) -> Iterator[tuple[RunningGateway, Path, dict[str, Any], Path]]:
    prompts = prompt_dir(
        tmp_path / "prompts", SUPPORT_V1, SUPPORT_V2, labels={"support-reply": {"production": 1}}
    )
    rule = {
        "name": "broken-errors",
        "kind": "error_rate",
        "threshold": 0.5,
        "window": 1.0,
        "scope": {"alias": "broken"},
        "sinks": ["hook"],
    }
    cfg = alert_gateway_config(
        tmp_path, rules=[rule], sinks={"hook": webhook(f"{receiver.url}/hook")}
    )
    cfg["server"] = {"reload_poll_s": 0.05}
    cfg["prompts"] = {"dir": str(prompts), "reload_poll_s": 0.05}
    path = tmp_path / "daytwo.yaml"
    path.write_text(yaml.safe_dump(cfg))
    with running_gateway(cfg, config_path=path) as gw:
        yield gw, path, cfg, prompts


def _events(gw: RunningGateway) -> list[tuple[float, str, str]]:
    keys = KeyStore.open(gw.app.config.ledger.url)
    try:
        return [(e.at, e.action, e.target) for e in keys.events()]
    finally:
        keys.close()


def _has(gw: RunningGateway, action: str) -> bool:
    return any(a == action for _, a, _ in _events(gw))


def _rows(report: str) -> list[tuple[str, str, str]]:
    """(time, source, what) of the report's timeline table."""
    start = report.index("## Timeline")
    end = report.index("## Alerts")
    out = []
    for line in report[start:end].splitlines():
        if line.startswith("| 20"):
            cells = [c.strip() for c in line.strip("|").split(" | ")]
            out.append((cells[0], cells[1], cells[2]))
    return out


def test_the_report_timeline_matches_the_injected_events(
    setup: tuple[RunningGateway, Path, dict[str, Any], Path], receiver: Receiver
) -> None:
    gw, path, cfg, prompts = setup
    with admin_client(gw) as admin:
        op, viewer = admin.token("operator"), admin.token("viewer")
        time.sleep(1.1)  # the gateway's start (config, prompts loaded) a second before
        status, started = admin.call(
            "POST",
            "/admin/incidents",
            op,
            {"title": "support errors", "severity": "sev2", "commander": "alice"},
        )
        assert status == 201, started
        iid = started["id"]
        assert started["status"] == "open" and started["started_by"].startswith("adm_")
        time.sleep(1.1)  # each injected event in its own second: the order is unambiguous

        # 1. a kill switch
        kill = {"scope": {"project": "acme"}, "reason": "stop acme"}
        assert admin.call("POST", "/admin/switches", op, kill)[0] == 200
        time.sleep(1.1)
        # 2. a config reload
        cfg["logging"] = {"level": "warning", "format": "json", "access_log": False}
        path.write_text(yaml.safe_dump(cfg))
        wait_for(lambda: _has(gw, "config.reload"), what="the config reload's event")
        time.sleep(1.1)
        # 3. an alert that fires and resolves
        client = gw.openai()
        assert call(client, "broken", 3) == [500, 500, 500]
        receiver.wait(lambda b: [x["status"] for x in b] == ["firing", "resolved"],
                      path="/hook", what="the alert to fire and resolve")  # fmt: skip
        time.sleep(1.1)
        # 4. a prompt reload
        write_labels(prompts, {"support-reply": {"production": 2}})
        wait_for(lambda: _has(gw, "prompts.reload"), what="the prompt reload's event")
        time.sleep(1.1)
        status, noted = admin.call(
            "POST", f"/admin/incidents/{iid}/notes", op, {"text": "labels back to v2"}
        )
        assert status == 201 and [n["text"] for n in noted["notes"]] == ["labels back to v2"]
        status, ended = admin.call(
            "POST", f"/admin/incidents/{iid}/end", op, {"summary": "a broken deployment"}
        )
        assert (status, ended["status"], ended["summary"]) == (200, "ended", "a broken deployment")

        status, raw = admin.call("GET", f"/admin/incidents/{iid}/report", viewer)
        assert status == 200
        report = raw.decode()

    # the lead-in hour shows the gateway's start too (stream opened, config and prompts loaded)
    rows = [
        r
        for r in _rows(report)
        if r[0] >= clock(started["started_at"]) and not r[2].startswith("admin token")
    ]
    assert any(w.startswith("config loaded") for _, _, w in _rows(report))
    whats = [w for _, _, w in rows]
    expected_order = [
        f"incident {iid} started: support errors (sev2)",
        "kill switch on: project=acme",
        "config reloaded",
        "broken-errors (alias=broken) fired",
        "broken-errors (alias=broken) resolved",
        "prompts reloaded (support-reply: production=v2)",
        "note: labels back to v2",
        f"incident {iid} ended: a broken deployment",
    ]
    found = [next(i for i, w in enumerate(whats) if w.startswith(e)) for e in expected_order]
    assert found == sorted(found), whats
    # nothing else happened during the incident (the kill switch is two entries: the admin
    # API's switch.kill and spend control's own switch_on; the test's admin tokens, left out
    # above, are admin events too)
    assert len(rows) == len(expected_order) + 1, whats

    # every time is the one its source recorded
    events = {(a, t): at for at, a, t in _events(gw) if at >= started["started_at"]}
    by_what = {w: t for t, _, w in rows}
    assert by_what[expected_order[0]] == clock(events["incident.start", iid])
    kill_rows = [t for t, _, w in rows if w.startswith("kill switch on: project=acme")]
    assert kill_rows == [clock(events["switch.kill", "project=acme"])] * 2
    reload_at = clock(events["config.reload", "config"])
    assert [t for t, _, w in rows if w.startswith("config reloaded")] == [reload_at]
    transitions = [r for r in history(gw) if r.kind == "transition"]
    fired = next(r.at for r in transitions if r.state == "firing")
    resolved = next(r.at for r in transitions if r.state == "resolved")
    assert by_what["broken-errors (alias=broken) fired"] == clock(fired)
    assert by_what["broken-errors (alias=broken) resolved"] == clock(resolved)
    prompt_at = next(at for (a, _), at in events.items() if a == "prompts.reload")
    assert by_what[expected_order[5]] == clock(prompt_at)
    assert [w for _, s, w in rows if s == "alert"] == expected_order[3:5]

    alerts = report[report.index("## Alerts") : report.index("## Error and quality")]
    assert f"| broken-errors | warning | {clock(fired)} | {clock(resolved)} | alias=broken |" in (
        alerts
    )
    impact = report[report.index("## Impact") : report.index("## Timeline")]
    assert "| Errors | 3 (error rate 100.0% of 3 upstream) |" in impact


def test_project_scoped_tokens_stay_in_their_project(
    setup: tuple[RunningGateway, Path, dict[str, Any], Path],
) -> None:
    gw, *_ = setup
    with admin_client(gw) as admin:
        acme = admin.token("operator", project="acme")
        wide = admin.token("operator")
        status, data = admin.call(
            "POST", "/admin/incidents", acme, {"title": "t", "severity": "sev3"}
        )
        assert status == 403 and error_of(data)["code"] == "project_scope"
        status, theirs = admin.call(
            "POST",
            "/admin/incidents",
            acme,
            {"title": "acme slow", "severity": "sev3", "scope": {"project": "acme"}},
        )
        assert status == 201
        status, other = admin.call(
            "POST",
            "/admin/incidents",
            wide,
            {"title": "search down", "severity": "sev1", "scope": {"project": "search"}},
        )
        assert status == 201
        listed = admin.call("GET", "/admin/incidents", acme)[1]["data"]
        assert [i["id"] for i in listed] == [theirs["id"]]
        assert {i["id"] for i in admin.call("GET", "/admin/incidents", wide)[1]["data"]} == {
            theirs["id"],
            other["id"],
        }
        for method, suffix, body in (
            ("POST", "/notes", {"text": "x"}),
            ("POST", "/end", {}),
            ("GET", "/report", None),
        ):
            status, data = admin.call(method, f"/admin/incidents/{other['id']}{suffix}", acme, body)
            assert status == 403, (suffix, data)
        status, data = admin.call("POST", "/admin/incidents/inc-none/end", wide, {})
        assert (status, error_of(data)["type"]) == (404, "not_found_error")
        assert admin.call("POST", f"/admin/incidents/{theirs['id']}/end", acme, {})[0] == 200
        status, data = admin.call("POST", f"/admin/incidents/{theirs['id']}/end", acme, {})
        assert status == 400 and "already ended" in error_of(data)["message"]
        status, data = admin.call(
            "POST", "/admin/incidents", wide, {"title": "t", "severity": "urgent"}
        )
        assert status == 400 and "severity: `urgent` is not one of" in error_of(data)["message"]
        status, data = admin.call(
            "POST", "/admin/incidents", wide, {"title": "t", "severity": "sev2", "extra": 1}
        )
        assert status == 400 and error_of(data)["param"] == "extra"
