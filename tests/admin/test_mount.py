"""The admin app is built on the first admin request: requests that arrive together while it
is being built all get their answer from the one app, and LLM calls keep being served."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import orjson
import pytest
from tests.gateway.harness import http, running_gateway, sim_config

pytestmark = pytest.mark.integration

CHAT = orjson.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]})


def test_first_admin_requests_together_share_one_build_and_chat_keeps_flowing(
    tmp_path: Path,
) -> None:
    with running_gateway(sim_config(tmp_path)) as gw:
        with ThreadPoolExecutor(max_workers=9) as pool:
            docs = [pool.submit(http, "GET", gw.url + "/admin/openapi.json") for _ in range(8)]
            chat = pool.submit(http, "POST", gw.base_url + "/chat/completions", CHAT)
            answers = [f.result(timeout=60) for f in docs]
            assert chat.result(timeout=60)[0] == 200
        assert {status for status, _, _ in answers} == {200}
        bodies = {body for _, _, body in answers}
        assert len(bodies) == 1
        assert "/admin/keys" in orjson.loads(bodies.pop())["paths"]
        status, _, body = http("GET", gw.url + "/admin/keys")
        assert status == 401 and b"invalid_admin_token" in body
