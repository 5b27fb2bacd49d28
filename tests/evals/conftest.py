"""Fixtures of the eval tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def in_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Commands run from the project's folder, as in CI (``evals/x.yaml``, ``./daytwo.yaml``)."""
    monkeypatch.chdir(tmp_path)
    return tmp_path
