"""Which model served a call, and the provider's fingerprint of the system behind it, in the
ledger row (``served_model``, ``system_fingerprint``): every client door x every upstream type,
plain and streamed, over real HTTP (the simulator plays the five HTTP upstream types on a
loopback port; ``sim`` is in-process). Also: a silent model change midway shows up in the rows
after it, and a fingerprint an upstream could use to leak a credential never reaches them.

Fingerprints are OpenAI's ``system_fingerprint``: the ``openai``, ``azure_openai`` and ``sim``
types record it; Anthropic Messages, Gemini and Bedrock Converse answers have no such field, so
their rows record none (Gemini's ``modelVersion`` is its served model).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import openai
import pytest
from tests.gateway.harness import RunningGateway, running_gateway
from tests.gateway.matrix_harness import (
    EGRESSES,
    KEY,
    USER,
    Calls,
    Egress,
    config,
    matrix_credentials,
)

from daytwo.config.schema import SimSettings
from daytwo.config.sim_quality import SimChange, SimPersonality, SimQuality
from daytwo.providers.sim.run import running_sim_server

pytestmark = pytest.mark.integration

egresses = pytest.mark.parametrize("egress", EGRESSES, ids=lambda e: e.name)
#: The upstream types whose answers carry ``system_fingerprint``.
FINGERPRINTED = {"openai", "azure_openai", "sim"}
SEED = 23


@contextmanager
def gateway_and_sim(db: Path, sim: SimSettings) -> Iterator[tuple[RunningGateway, str]]:
    """The providers matrix's gateway (tests/gateway/matrix_harness.py), and the simulator's
    OpenAI base URL behind it, to ask it directly what it reports."""
    with (
        matrix_credentials(),
        running_sim_server(sim, require_key=KEY) as url,
        running_gateway(config(url.removesuffix("/v1"), db, sim)) as gw,
    ):
        yield gw, url


def direct_fingerprint(sim_url: str) -> str:
    """The ``system_fingerprint`` the simulator reports when asked without the gateway."""
    with openai.OpenAI(base_url=sim_url, api_key=KEY, max_retries=0) as client:
        done = client.chat.completions.create(model="gpt-4o-mini", messages=USER)
    assert done.system_fingerprint
    return done.system_fingerprint


@pytest.fixture(scope="module")
def setting(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningGateway, str]]:
    db = tmp_path_factory.mktemp("fingerprint") / "ledger.db"
    with gateway_and_sim(db, SimSettings(seed=SEED)) as (gw, url):
        yield gw, direct_fingerprint(url)


@pytest.fixture
def calls(setting: tuple[RunningGateway, str]) -> Iterator[Calls]:
    c = Calls(setting[0])
    yield c
    c.close()


def openai_door(calls: Calls, alias: str, stream: bool) -> None:
    chat = calls.openai.chat.completions
    if stream:
        assert list(chat.create(model=alias, messages=USER, stream=True))
    else:
        assert chat.create(model=alias, messages=USER).choices


def anthropic_door(calls: Calls, alias: str, stream: bool) -> None:
    if stream:
        with calls.anthropic.messages.stream(model=alias, max_tokens=100, messages=USER) as s:
            assert s.get_final_message().content
    else:
        assert calls.anthropic.messages.create(model=alias, max_tokens=100, messages=USER).content


def responses_door(calls: Calls, alias: str, stream: bool) -> None:
    if stream:
        events = list(calls.openai.responses.create(model=alias, input="Hi.", stream=True))
        assert events[-1].type == "response.completed"
    else:
        assert calls.openai.responses.create(model=alias, input="Hi.").output_text


DOORS: dict[str, Callable[[Calls, str, bool], None]] = {
    "openai": openai_door,
    "anthropic": anthropic_door,
    "responses": responses_door,
}


@egresses
@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
@pytest.mark.parametrize("door", list(DOORS))
def test_every_row_names_the_served_model_and_the_fingerprint(
    setting: tuple[RunningGateway, str], calls: Calls, door: str, egress: Egress, stream: bool
) -> None:
    DOORS[door](calls, egress.alias, stream)
    (row,) = calls.rows()
    assert (row["status"], row["provider"], row["stream"]) == ("ok", egress.name, int(stream))
    assert row["served_model"] == egress.served
    # The in-process `sim` type is the same simulator with the same seed: the same fingerprint.
    expected = setting[1] if egress.name in FINGERPRINTED else None
    assert row["system_fingerprint"] == expected


#: What the simulated models report after the change.
CHANGED_MODEL = "model-changed-20260101"
CHANGED_FINGERPRINT = "fp_c4an9ed001"


@egresses
def test_a_silent_model_change_shows_in_the_rows_after_it(tmp_path: Path, egress: Egress) -> None:
    """From the third request on, the simulated provider serves another model (as a provider
    quietly updating the model behind a name does). Bedrock's Converse names neither model nor
    fingerprint, so its rows cannot show the change."""
    change = SimChange(
        after_requests=2,
        personality=SimPersonality(served_model=CHANGED_MODEL, fingerprint=CHANGED_FINGERPRINT),
    )
    sim = SimSettings(seed=SEED, quality=SimQuality(changes=(change,)))
    with gateway_and_sim(tmp_path / "ledger.db", sim) as (gw, _):
        calls = Calls(gw)
        try:
            for stream in (False, True, False, True):
                openai_door(calls, egress.alias, stream)
            rows = calls.rows()
        finally:
            calls.close()
    seen = [(r["stream"], r["served_model"], r["system_fingerprint"]) for r in rows]
    before = seen[0][2]
    assert (before is not None) == (egress.name in FINGERPRINTED)
    if egress.name == "bedrock":
        after = (egress.served, None)
    else:
        after = (CHANGED_MODEL, CHANGED_FINGERPRINT if egress.name in FINGERPRINTED else None)
    assert seen == [
        (0, egress.served, before),
        (1, egress.served, before),
        (0, *after),
        (1, *after),
    ]


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_a_fingerprint_holding_the_credential_is_not_kept(tmp_path: Path, stream: bool) -> None:
    """An upstream that answers with the key daytwo sent it as its fingerprint (a reflecting
    proxy): the fingerprint is dropped from the answer and from the row, the served model kept."""
    hostile = {"gpt-4o-mini": SimPersonality(fingerprint=KEY)}
    sim = SimSettings(seed=SEED, quality=SimQuality(personalities=hostile))
    with gateway_and_sim(tmp_path / "ledger.db", sim) as (gw, _):
        calls = Calls(gw)
        try:
            chat = calls.openai.chat.completions
            answers: list[Any]
            if stream:
                answers = list(chat.create(model="via-openai", messages=USER, stream=True))
            else:
                answers = [chat.create(model="via-openai", messages=USER)]
            (row,) = calls.rows()
        finally:
            calls.close()
    assert answers and all(a.system_fingerprint is None for a in answers)
    assert (row["served_model"], row["system_fingerprint"]) == ("gpt-4o-mini", None)
