"""The setting of the tests of the doors that do not speak Chat Completions
(tests/gateway/test_anthropic_ingress.py, test_responses_ingress.py): one gateway with two
upstreams, each door's calls made through both of them.

* ``via-sim`` → the in-process ``type: sim`` provider, an OpenAI-format upstream;
* ``via-anthropic`` → a ``type: anthropic`` provider, the simulator's ``/v1/messages`` over
  loopback.

The fixtures (``sim_root``, ``doors_gw``, ``faulty_doors``) reach the test modules through
tests/gateway/conftest.py.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, TypeVar

import pytest
from tests.gateway.harness import RunningGateway, route, sim_config

from daytwo.config.schema import SimFaults, SimSettings
from daytwo.providers.sim.run import running_sim_server

#: (alias, provider, model the upstream reports serving)
UPSTREAMS = [("via-sim", "sim", "gpt-4o-mini"), ("via-anthropic", "claude", "claude-sonnet-4-5")]
upstreams = pytest.mark.parametrize(("alias", "provider", "served"), UPSTREAMS)
F = TypeVar("F", bound=Callable[..., Any])


def each_upstream(test: F) -> F:
    """An integration test, run once through each upstream (``alias``, ``provider``,
    ``served``)."""
    marked: F = pytest.mark.integration(upstreams(test))
    return marked


#: Simulator settings for a stream long enough to be cut mid-way (``rate_reset``).
CUT = {"min_output_tokens": 20, "max_output_tokens": 20}

#: ``faulty_doors(faults, **sim)``: a gateway whose two upstreams both play ``faults``.
FaultyDoors = Callable[..., AbstractContextManager[RunningGateway]]


def two_upstreams(tmp_path: Path, anthropic_root: str, **sim: Any) -> dict[str, Any]:
    """The gateway's config: the in-process simulator with ``sim`` settings, and an Anthropic
    provider at ``anthropic_root``."""
    cfg = sim_config(tmp_path, **sim)
    cfg["providers"]["claude"] = {"type": "anthropic", "base_url": anthropic_root}
    cfg["models"]["via-sim"] = route("sim", "gpt-4o-mini")
    cfg["models"]["via-anthropic"] = route("claude", "claude-sonnet-4-5")
    return cfg


@pytest.fixture(scope="module")
def sim_root() -> Iterator[str]:
    """A simulator on a loopback port, as the root its doors hang off (``/v1/messages``)."""
    with running_sim_server(SimSettings(seed=5)) as url:
        yield url.removesuffix("/v1")


@pytest.fixture
def doors_gw(
    tmp_path: Path, sim_root: str, gateway_factory: Callable[..., RunningGateway]
) -> RunningGateway:
    return gateway_factory(two_upstreams(tmp_path, sim_root))


@pytest.fixture
def faulty_doors(tmp_path: Path, gateway_factory: Callable[..., RunningGateway]) -> FaultyDoors:
    @contextmanager
    def start(faults: SimFaults, **sim: Any) -> Iterator[RunningGateway]:
        settings = {"faults": faults.model_dump(), **sim}
        with running_sim_server(SimSettings(**settings)) as url:
            yield gateway_factory(two_upstreams(tmp_path, url.removesuffix("/v1"), **settings))

    return start


def assert_ok_row(row: dict[str, Any], provider: str, served: str) -> None:
    """A call answered by ``provider`` with ``served``, its token counts reported (not
    estimated)."""
    assert (row["status"], row["http_status"], row["provider"], row["served_model"]) == (
        "ok",
        200,
        provider,
        served,
    )
    assert row["tokens_estimated"] == 0


def assert_error_row(gw: RunningGateway, provider: str, **columns: Any) -> None:
    """The gateway's only call failed at ``provider``, with these ``columns``."""
    (row,) = gw.records()
    assert (row["status"], row["provider"]) == ("error", provider)
    assert {k: row[k] for k in columns} == columns
