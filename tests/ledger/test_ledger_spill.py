"""``ledger/spill.py``: spilled records survive, unreadable lines are kept aside, not dropped."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from daytwo.config.schema import LedgerConfig
from daytwo.core.record import CallRecord
from daytwo.ledger.codec import to_json_line
from daytwo.ledger.spill import SpillFile
from daytwo.ledger.writer import Ledger

MakeRecord = Callable[..., CallRecord]


def test_rotation_moves_the_active_file_aside_and_new_spills_start_fresh(
    tmp_path: Path, make_record: MakeRecord
) -> None:
    spill = SpillFile(tmp_path / "s.jsonl")
    first = [make_record() for _ in range(3)]
    assert spill.append(first) == 3
    assert spill.pending()
    [replay] = spill.rotate()
    spill.append([make_record(id="after")])
    assert [r.id for chunk in spill.read(replay, chunk=2) for r in chunk] == [r.id for r in first]
    assert [r.id for chunk in spill.read(spill.rotate()[-1], chunk=2) for r in chunk] == ["after"]
    spill.close()


def test_replay_at_open_stores_good_lines_and_keeps_bad_ones_aside(
    tmp_path: Path, make_record: MakeRecord
) -> None:
    path = tmp_path / "s.jsonl"
    good = [make_record() for _ in range(3)]
    torn = to_json_line(make_record())[:40]  # the process died mid-write
    alien = b'{"id": "x", "from_the_future": 1}\n'
    path.write_bytes(
        to_json_line(good[0]) + alien + to_json_line(good[1]) + torn + b"\n" + to_json_line(good[2])
    )
    ledger = Ledger.open(LedgerConfig(url=f"sqlite:///{tmp_path / 'l.db'}"), spill_path=str(path))
    try:
        assert ledger.flush(10)
        assert ledger.store.count_calls() == 3
    finally:
        ledger.close(10)
    rejected = (tmp_path / "s.jsonl.rejected").read_bytes().splitlines()
    assert rejected == [alien.strip(), torn]
    assert not path.exists()
    assert list(tmp_path.glob("s.jsonl.*.replay")) == []
