"""Stage 1, authenticate: with `gateway.require_keys` every call needs a good virtual key, the
key's attribution wins over headers, and a key limited to some models gets no others."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import openai
import pytest
from tests.gateway.harness import RunningGateway, http, sim_config, wait_for

from daytwo.keys.model import KeySpec
from daytwo.keys.store import KeyStore

pytestmark = pytest.mark.integration

CHAT = "/v1/chat/completions"
BODY = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]})


def _keyed_gateway(
    tmp_path: Path, factory: Callable[..., RunningGateway], **gateway: object
) -> tuple[RunningGateway, KeyStore]:
    cfg = sim_config(tmp_path)
    cfg["gateway"] = {"require_keys": True, "key_cache_ttl_s": 0.05, **gateway}
    gw = factory(cfg)
    store = KeyStore.open(cfg["ledger"]["url"])
    return gw, store


def test_missing_bad_revoked_keys_are_401_and_good_keys_attribute(
    tmp_path: Path, gateway_factory: Callable[..., RunningGateway]
) -> None:
    gw, store = _keyed_gateway(tmp_path, gateway_factory)
    try:
        issued = store.create(KeySpec(project="billing", workflow="invoices"), actor="test")
        doomed = store.create(KeySpec(project="billing"), actor="test")
        gw.app.keys.refresh()  # type: ignore[union-attr]

        status, _, body = http("POST", gw.url + CHAT, BODY.encode())
        assert status == 401
        assert json.loads(body)["error"]["code"] == "invalid_api_key"

        bad_answers = set()
        typo = issued.secret[:-1] + ("x" if issued.secret[-1] != "x" else "y")
        for secret in ("dt2_sk_notakey", typo, "sk-some-openai-key"):
            status, _, body = http(
                "POST", gw.url + CHAT, BODY.encode(), {"Authorization": f"Bearer {secret}"}
            )
            assert status == 401
            bad_answers.add(body)
        store.revoke(doomed.record.id, actor="test")

        def revoked_refused() -> bool:
            hdr = {"Authorization": f"Bearer {doomed.secret}"}
            status, _, body = http("POST", gw.url + CHAT, BODY.encode(), hdr)
            if status == 401:
                bad_answers.add(body)
            return status == 401

        wait_for(revoked_refused, what="the revocation to reach the key cache")
        # Unknown, malformed and revoked keys all get the very same answer.
        assert len(bad_answers) == 1

        with openai.OpenAI(base_url=gw.base_url, api_key=issued.secret, max_retries=0) as client:
            raw = client.chat.completions.with_raw_response.create(
                model="gpt-4o-mini",
                messages=[{"role": "user", "content": "hi"}],
                extra_headers={"X-Daytwo-Project": "someone-else", "X-Daytwo-Feature": "f1"},
            )
        row = gw.record(raw.headers["x-daytwo-call-id"])
        assert (row["project"], row["workflow"], row["feature"], row["key_id"]) == (
            "billing",
            "invoices",
            "f1",
            issued.record.id,
        )
        rejected = [r for r in gw.records() if r["http_status"] == 401]
        assert len(rejected) >= 5 and all(r["status"] == "rejected" for r in rejected)
    finally:
        store.close()


def test_a_key_limited_to_models_gets_403_for_others(
    tmp_path: Path, gateway_factory: Callable[..., RunningGateway]
) -> None:
    gw, store = _keyed_gateway(tmp_path, gateway_factory)
    try:
        issued = store.create(
            KeySpec(project="p", models=("text-embedding-3-small",)), actor="test"
        )
        gw.app.keys.refresh()  # type: ignore[union-attr]
        with openai.OpenAI(base_url=gw.base_url, api_key=issued.secret, max_retries=0) as client:
            client.embeddings.create(model="text-embedding-3-small", input="ok")
            with pytest.raises(openai.PermissionDeniedError) as info:
                client.chat.completions.create(
                    model="gpt-4o-mini", messages=[{"role": "user", "content": "no"}]
                )
        assert info.value.code == "model_not_allowed"
    finally:
        store.close()


def test_without_required_keys_only_daytwo_keys_are_checked(gw: RunningGateway) -> None:
    ok = {"Authorization": "Bearer sk-whatever-the-sdk-sends"}
    assert http("POST", gw.url + CHAT, BODY.encode(), ok)[0] == 200
    bad = {"Authorization": "Bearer dt2_sk_forged"}
    assert http("POST", gw.url + CHAT, BODY.encode(), bad)[0] == 401
