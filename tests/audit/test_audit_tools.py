"""Answers for auditors through a real gateway: a call's story and a search over the admin API
(role and project checked; content only for an admin of the call's project), revealing
reversibly-redacted content (itself chained), the CLI's show, search, seal and keygen, and
prompt-set loads and reloads chained in the control stream."""

from __future__ import annotations

import base64
import os
import sqlite3
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner
from tests.admin.client import admin_client, error_of
from tests.gateway.harness import http, running_gateway, sim_config, wait_for
from tests.prompts.files import SUPPORT_V1, SUPPORT_V2, prompt_dir, write_labels, write_version

from daytwo.audit.chain import CONTROL
from daytwo.cli.main import cli

pytestmark = pytest.mark.integration

VAULT_ENV = "AUDIT_TEST_VAULT_KEY"
VAULT_KEY = base64.b64encode(bytes(range(32))).decode()
EMAIL = "dana.lee@example.org"


@pytest.fixture(autouse=True)
def _vault_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(VAULT_ENV, VAULT_KEY)


def _config(tmp_path: Path) -> dict[str, Any]:
    cfg = sim_config(tmp_path)
    cfg["gateway"] = {"require_keys": False}
    cfg["audit"] = {
        "rules": [{"project": "support", "capture": "redacted"}],
        "redaction": {"reversible_key": f"env:{VAULT_ENV}"},
    }
    return cfg


def _chat(url: str, project: str, user: str = "u1") -> str:
    body = {
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": f"Mail me at {EMAIL} please"}],
        "max_tokens": 20,
    }
    status, headers, raw = http(
        "POST",
        f"{url}/v1/chat/completions",
        orjson.dumps(body),
        {"x-daytwo-project": project, "x-daytwo-user": user},
    )
    assert status == 200, raw
    return headers["x-daytwo-call-id"]


def test_the_story_the_search_and_a_reveal_over_the_admin_api(tmp_path: Path) -> None:
    with running_gateway(_config(tmp_path)) as gw, admin_client(gw) as admin:
        support = _chat(gw.url, "support", "alice")
        other = _chat(gw.url, "search", "bob")
        gw.records()
        viewer, boss = admin.token("viewer"), admin.token("admin")
        scoped_admin = admin.token("admin", project="search")

        status, story = admin.get(f"/admin/audit/calls/{support}", boss)
        assert status == 200
        assert story["call"]["project"] == "support" and story["call"]["user"] == "alice"
        assert story["config"] == {"hash": gw.app.runtime.config_hash, "known": True}
        assert story["proof"]["stream"].startswith("replica:") and story["in_ledger"]
        text = story["content"]["request"]["messages"][0]["content"]
        assert EMAIL not in text and "[REDACTED:email:0]" in text
        assert story["content"]["intact"] is True and story["revealed"] is False

        status, seen = admin.get(f"/admin/audit/calls/{support}", viewer)
        assert status == 200 and "request" not in seen["content"]
        assert "content is shown to admins of the project only" in seen["notes"]
        status, err = admin.get(f"/admin/audit/calls/{support}", scoped_admin)
        assert status == 403 and error_of(err)["code"] == "project_scope"
        status, err = admin.get("/admin/audit/calls/nope", viewer)
        assert status == 404

        status, found = admin.get("/admin/audit/search?user=bob", viewer)
        assert status == 200 and [f["call_id"] for f in found["data"]] == [other]
        status, found = admin.get("/admin/audit/search", scoped_admin)
        assert [f["call"]["project"] for f in found["data"]] == ["search"]
        status, err = admin.get("/admin/audit/search?project=support", scoped_admin)
        assert status == 403

        status, report = admin.get("/admin/audit/verify", viewer)
        assert status == 200 and report["ok"] is True and report["keys"] == "given"
        assert report["entries"] >= 4  # two stream openings, two calls (+ control entries)
        status, _, bundle = http(
            "GET",
            f"{gw.url}/admin/audit/export?from=0&to=4000000000&content=true",
            None,
            {"authorization": f"Bearer {boss}"},
        )
        assert status == 200
        lines = [orjson.loads(line) for line in bundle.splitlines()]
        assert {"meta", "entry", "content"} <= {line["type"] for line in lines}  # no digest yet
        assert EMAIL.encode() not in bundle
        status, _, refused = http(
            "GET",
            f"{gw.url}/admin/audit/export?from=0&to=4000000000&content=true",
            None,
            {"authorization": f"Bearer {viewer}"},
        )
        assert status == 403 and b"needs the `admin` role" in refused

        status, err = admin.call("POST", f"/admin/audit/calls/{support}/reveal", viewer)
        assert status == 403 and error_of(err)["code"] == "insufficient_role"
        status, shown = admin.call("POST", f"/admin/audit/calls/{support}/reveal", boss)
        assert status == 200 and shown["revealed"] is True
        assert EMAIL in shown["content"]["request"]["messages"][0]["content"]
    assert gw.db is not None
    with sqlite3.connect(gw.db) as conn:
        reveals = conn.execute(
            "SELECT subject, actor FROM audit_entries WHERE stream = ? AND kind = ?",
            (CONTROL, "content.reveal"),
        ).fetchall()
    conn.close()
    assert len(reveals) == 1 and reveals[0][0] == support and reveals[0][1].startswith("adm_")


def test_the_cli_shows_searches_seals_and_makes_keys(tmp_path: Path) -> None:
    cfg = _config(tmp_path)
    config_path = tmp_path / "daytwo.yaml"
    config_path.write_bytes(orjson.dumps(cfg))  # JSON is YAML
    with running_gateway(cfg) as gw:
        call_id = _chat(gw.url, "support", "carol")
        gw.records()
    runner = CliRunner()
    base = ["--config", str(config_path)]

    shown = runner.invoke(cli, ["audit", "show", call_id, *base])
    assert shown.exit_code == 0, shown.output
    assert f"call {call_id}  ok 200" in shown.output and "user carol" in shown.output
    assert "content  redacted" in shown.output and EMAIL not in shown.output
    assert "signed in digest #1" in shown.output  # the shutdown digest covers it
    revealed = runner.invoke(cli, ["audit", "show", call_id, "--reveal", "--json", *base])
    assert revealed.exit_code == 0, revealed.output
    assert EMAIL in orjson.loads(revealed.output)["content"]["request"]["messages"][0]["content"]

    found = runner.invoke(cli, ["audit", "search", "--user", "carol", "--json", *base])
    assert found.exit_code == 0 and [f["call_id"] for f in orjson.loads(found.output)] == [call_id]
    missing = runner.invoke(cli, ["audit", "show", "call_nope", *base])
    assert missing.exit_code == 1
    assert missing.output.strip() == "daytwo audit: no audit entry for call call_nope"
    bad = runner.invoke(cli, ["audit", "search", "--since", "soon", *base])
    assert bad.exit_code == 2 and bad.output.startswith("daytwo audit: --since")

    # the reveal above was chained after the shutdown digest: seal signs it now
    sealed = runner.invoke(cli, ["audit", "seal", *base])
    assert sealed.exit_code == 0, sealed.output
    assert "control: digest #2 covers entries" in sealed.output
    again = runner.invoke(cli, ["audit", "seal", *base])
    assert again.output.strip() == "every stream is signed up to its last entry"
    verified = runner.invoke(cli, ["audit", "verify", *base])
    assert verified.exit_code == 0, verified.output

    key = tmp_path / "keys" / "audit.pem"
    key.parent.mkdir()
    made = runner.invoke(cli, ["audit", "keygen", "--out", str(key)])
    assert made.exit_code == 0, made.output
    assert os.stat(key).st_mode & 0o777 == 0o600
    assert (key.parent / "audit.pem.pub").read_text().startswith("-----BEGIN PUBLIC KEY")
    twice = runner.invoke(cli, ["audit", "keygen", "--out", str(key)])
    assert twice.exit_code == 1 and "refusing to overwrite" in twice.output


def test_prompt_set_loads_and_reloads_are_chained(tmp_path: Path) -> None:
    prompts = prompt_dir(
        tmp_path / "prompts", SUPPORT_V1, labels={"support-reply": {"production": 1}}
    )
    cfg = sim_config(tmp_path)
    cfg["prompts"] = {"dir": str(prompts), "reload_poll_s": 0.05}
    with running_gateway(cfg) as gw:
        write_version(prompts, SUPPORT_V2)
        write_labels(prompts, {"support-reply": {"production": 1, "staging": 2}})
        assert gw.db is not None

        def reloads() -> list[Any]:
            with sqlite3.connect(gw.db) as conn:  # type: ignore[arg-type]
                rows = conn.execute(
                    "SELECT kind, data FROM audit_entries WHERE stream = ? AND kind LIKE ? "
                    "ORDER BY seq",
                    (CONTROL, "prompts.%"),
                ).fetchall()
            conn.close()
            return rows

        def staged() -> list[Any]:
            rows = reloads()
            last = orjson.loads(rows[-1][1])["body"]["after"] if len(rows) > 1 else {}
            return rows if "staging" in last.get("labels", {}).get("support-reply", {}) else []

        rows = wait_for(staged, what="a chained reload with the new label")
    kinds = [r[0] for r in rows]
    assert kinds[0] == "prompts.load" and set(kinds[1:]) == {"prompts.reload"}
    after = orjson.loads(rows[-1][1])["body"]["after"]
    assert sorted(after["versions"]["support-reply"]) == ["1", "2"]
    assert after["versions"]["support-reply"]["2"].startswith("sha256:")
    assert after["labels"] == {"support-reply": {"production": 1, "staging": 2}}
