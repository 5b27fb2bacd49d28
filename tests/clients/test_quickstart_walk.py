"""The README's walk, as a newcomer runs it: `daytwo init` in an empty directory, a key from
`daytwo keys create`, `daytwo serve`, and a first call with the openai SDK that succeeds with
that key (and is refused without one: the starter requires keys, as the docs say)."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import openai
import pytest
import yaml
from tests.gateway.harness import http, wait_for
from tests.gateway.procs import DAYTWO

from daytwo.gateway.server import free_port

pytestmark = pytest.mark.integration


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [*DAYTWO, *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    return done


def test_init_then_a_key_then_serve_then_a_first_call(tmp_path: Path) -> None:
    init = _run(["init"], tmp_path)
    config = tmp_path / "daytwo.yaml"
    assert "daytwo keys create --project hello" in init.stdout
    assert yaml.safe_load(config.read_text())["gateway"]["require_keys"] is True

    secret = _run(["keys", "create", "--project", "hello"], tmp_path).stdout.strip()
    assert secret.startswith("dt2_sk_")

    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*DAYTWO, "serve", "--config", "daytwo.yaml", "--port", str(port)],
            cwd=tmp_path,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:

        def ready() -> bool:
            assert proc.poll() is None, log.read_text()
            try:
                return http("GET", url + "/readyz")[0] == 200
            except OSError:
                return False

        wait_for(ready, 30, "the gateway to be ready")
        client = openai.OpenAI(base_url=f"{url}/v1", api_key=secret)
        answer = client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
        )
        assert answer.choices[0].message.content
        assert answer.usage is not None and answer.usage.total_tokens > 0
        stranger = openai.OpenAI(base_url=f"{url}/v1", api_key="sk-not-a-daytwo-key")
        with pytest.raises(openai.AuthenticationError):
            stranger.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
            )
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    spend = _run(["spend", "--since", "1h", "--by", "project", "--json"], tmp_path)
    assert '"hello"' in spend.stdout  # the first call is billed to the key's project
