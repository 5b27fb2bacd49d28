"""What ``daytwo serve`` loads at start: the gateway with its admin mount, alerts, SLO burn
alerts, drift watch and quality room imports none of the heavy libraries the control plane
uses later (numpy/scipy for statistics, jsonschema for format checks, the eval room):
they are loaded on first use, so cold start and idle RSS stay those of the data plane."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HEAVY = ("numpy", "scipy", "jsonschema", "onnxruntime", "daytwo.evals", "daytwo.stats.bootstrap")


def test_the_gateway_module_graph_loads_no_heavy_library(tmp_path: Path) -> None:
    config = {
        # A real provider type (the in-process simulator brings numpy for its embeddings).
        "providers": {"up": {"type": "openai", "base_url": "http://127.0.0.1:9/v1"}},
        "models": {"chat": {"deployments": [{"provider": "up", "model": "gpt-4o-mini"}]}},
        "ledger": {"url": f"sqlite:///{tmp_path / 'ledger.db'}"},
    }
    code = (
        "import sys; import daytwo.cli.serve; from daytwo.admin.mount import create_app; "
        "from daytwo.config.load import validate_config; "
        f"create_app(validate_config({config!r})); "
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]", out.stdout
