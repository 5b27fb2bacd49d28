"""Two gateway replicas on one PostgreSQL ledger, each chaining its own stream, both signing
with the deployment's key: after calls on both, an admin change from the command line's store
and both shutdowns, the whole trail verifies with the public key alone -- and a call row edited
afterwards is named."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
from tests.gateway.harness import http, running_gateway, sim_config

from daytwo.audit.chain import CONTROL
from daytwo.audit.digest import Signer
from daytwo.audit.verify import verify
from daytwo.keys.model import KeySpec
from daytwo.keys.store import KeyStore
from daytwo.ledger.store import open_store

pytestmark = [pytest.mark.integration, pytest.mark.postgres]

KEY_ENV = "AUDIT_TEST_SIGNING_KEY"


def _config(tmp_path: Path, pg_url: str, replica: str) -> dict[str, Any]:
    cfg = sim_config(tmp_path / replica)
    cfg["ledger"] = {"url": pg_url, "flush_interval_ms": 5}
    cfg["audit"] = {"replica_id": replica, "signing_key": f"env:{KEY_ENV}"}
    return cfg


def _chat(url: str, n: int) -> None:
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"q{n}"}]}
    status, _, raw = http("POST", f"{url}/v1/chat/completions", orjson.dumps(body))
    assert status == 200, raw


def test_two_replicas_chains_verify_together(
    tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    signer = Signer.generate()
    monkeypatch.setenv(KEY_ENV, signer.private_pem().decode())
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with (
        running_gateway(_config(tmp_path, pg_url, "a")) as a,
        running_gateway(_config(tmp_path, pg_url, "b")) as b,
    ):
        for n in range(6):
            _chat((a, b)[n % 2].url, n)
        with KeyStore.open(pg_url) as keys:
            keys.create(KeySpec(project="search"), actor="cli:ops")
    with open_store(pg_url) as store:
        report = verify(store, public_keys=[signer.public], now=None)
        assert report.ok, report.to_json()
        streams = {s.stream: s for s in report.streams}
        assert set(streams) == {CONTROL, "replica:a", "replica:b"}
        assert streams["replica:a"].entries == streams["replica:b"].entries == 4  # open + 3
        assert all(s.digests >= 1 and s.unsigned == 0 for s in streams.values())
        wrong = verify(store, public_keys=[Signer.generate().public])
        assert not wrong.ok and wrong.first is not None
        assert "not by the given public key" in wrong.first.message
        with store.engine.begin() as conn:
            edited = conn.execute(
                sa.text(
                    "UPDATE calls SET cost_nanousd = cost_nanousd + 1 WHERE id = ("
                    "SELECT min(id) FROM calls) RETURNING id"
                )
            ).scalar_one()
        after = verify(store, public_keys=[signer.public])
    assert not after.ok and after.first is not None
    assert after.first.kind == "call_edited" and edited in after.first.message
