"""`GET /v1/models` and `GET /v1/models/{id}` (issue 11 item 10, issue 12 items 2-3), with the
real SDKs: a key is needed when keys are required, and a key sees only the models it may use."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import anthropic
import openai
import pytest
from tests.gateway.harness import RunningGateway, http, route, sim_config

from daytwo.keys.model import KeySpec
from daytwo.keys.store import KeyStore

pytestmark = pytest.mark.integration

ALL = ["gpt-4o-mini", "text-embedding-3-small", "acme/claude:fast"]


def _gw(
    tmp_path: Path, factory: Callable[..., RunningGateway], require_keys: bool = True
) -> tuple[RunningGateway, KeyStore]:
    cfg = sim_config(tmp_path)
    cfg["models"]["acme/claude:fast"] = route("sim", "claude-3-5-haiku")
    cfg["gateway"] = {"require_keys": require_keys}
    gw = factory(cfg)
    return gw, KeyStore.open(cfg["ledger"]["url"])


def _client(gw: RunningGateway, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.base_url, api_key=key, max_retries=0)


def test_models_need_a_key_when_keys_are_required(
    tmp_path: Path, gateway_factory: Callable[..., RunningGateway]
) -> None:
    gw, store = _gw(tmp_path, gateway_factory)
    store.close()
    status, _, body = http("GET", gw.url + "/v1/models")
    assert status == 401 and b"invalid_api_key" in body
    for key in ("unused", "dt2_sk_notakey"):
        with _client(gw, key) as client, pytest.raises(openai.AuthenticationError):
            client.models.list()
        with _client(gw, key) as client, pytest.raises(openai.AuthenticationError):
            client.models.retrieve("gpt-4o-mini")


def test_a_key_lists_and_retrieves_only_the_models_it_may_use(
    tmp_path: Path, gateway_factory: Callable[..., RunningGateway]
) -> None:
    gw, store = _gw(tmp_path, gateway_factory)
    limited = store.create(KeySpec(project="p", models=("gpt-4o-mini",)), actor="test")
    full = store.create(KeySpec(project="p"), actor="test")
    store.close()
    # no snapshot refresh: a key created a moment ago works here as on the doors

    with _client(gw, limited.secret) as client:
        assert [m.id for m in client.models.list()] == ["gpt-4o-mini"]
        got = client.models.retrieve("gpt-4o-mini")
        assert (got.id, got.object, got.owned_by) == ("gpt-4o-mini", "model", "daytwo")
        # a model the key may not use is "not found", exactly like one that does not exist
        answers = []
        for name in ("text-embedding-3-small", "no-such-model"):
            with pytest.raises(openai.NotFoundError) as err:
                client.models.retrieve(name)
            assert err.value.code == "model_not_found"
            answers.append(str(err.value.body).replace(name, "NAME"))
        assert answers[0] == answers[1]

    with _client(gw, full.secret) as client:
        assert sorted(m.id for m in client.models.list()) == sorted(ALL)
        # an id with "/" and ":" (the SDK may percent-encode it) comes back whole
        assert client.models.retrieve("acme/claude:fast").id == "acme/claude:fast"


def test_without_required_keys_models_answer_anyone_and_a_bad_daytwo_key_is_still_401(
    tmp_path: Path, gateway_factory: Callable[..., RunningGateway]
) -> None:
    gw, store = _gw(tmp_path, gateway_factory, require_keys=False)
    store.close()
    with _client(gw, "sk-anything") as client:
        assert sorted(m.id for m in client.models.list()) == sorted(ALL)
    with _client(gw, "dt2_sk_notakey") as client, pytest.raises(openai.AuthenticationError):
        client.models.list()


def test_the_anthropic_sdk_lists_and_retrieves_models_in_its_own_shape(
    tmp_path: Path, gateway_factory: Callable[..., RunningGateway]
) -> None:
    gw, store = _gw(tmp_path, gateway_factory)
    key = store.create(KeySpec(project="p", models=("acme/claude:fast",)), actor="test")
    store.close()
    gw.app.keys.refresh()  # type: ignore[union-attr]
    with anthropic.Anthropic(base_url=gw.url, api_key=key.secret, max_retries=0) as client:
        page = client.models.list()
        assert [(m.id, m.type, m.display_name) for m in page.data] == [
            ("acme/claude:fast", "model", "acme/claude:fast")
        ]
        assert page.has_more is False
        assert client.models.retrieve("acme/claude:fast").id == "acme/claude:fast"
        with pytest.raises(anthropic.NotFoundError) as err:
            client.models.retrieve("gpt-4o-mini")
        assert err.value.body["type"] == "error"  # type: ignore[index]
    with (
        anthropic.Anthropic(base_url=gw.url, api_key="dt2_sk_bad", max_retries=0) as client,
        pytest.raises(anthropic.AuthenticationError),
    ):
        client.models.list()
