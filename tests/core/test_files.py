"""write_atomic: a reader sees the old file or the new one, never half of either, and no
temporary file is left behind."""

from __future__ import annotations

from pathlib import Path

import pytest

from daytwo.core.files import write_atomic


def test_replaces_the_whole_file_and_creates_its_folder(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "report.xml"
    write_atomic(path, b"first, and longer than what follows")
    write_atomic(path, b"second")
    assert path.read_bytes() == b"second"
    assert [p.name for p in path.parent.iterdir()] == ["report.xml"]


def test_a_failed_write_keeps_the_old_file_and_leaves_nothing(tmp_path: Path) -> None:
    path = tmp_path / "report.html"
    write_atomic(path, b"old")
    with pytest.raises(TypeError):
        write_atomic(path, "not bytes")  # type: ignore[arg-type]
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]
