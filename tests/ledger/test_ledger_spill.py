"""``ledger/spill.py`` and the JSON lines of ``ledger/codec.py``: spilled records survive exactly
(their attempts included), old lines still load, unreadable lines are kept aside, not dropped."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import orjson
import pytest

from daytwo.config.schema import LedgerConfig
from daytwo.core.record import AttemptRecord, CallRecord
from daytwo.ledger.codec import JSON_FIELDS, RECORD_FIELDS, from_json_line, to_json_line
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


def _attempts(*costs: int | None) -> tuple[AttemptRecord, ...]:
    """Failed attempts with these costs, then the one that answered."""
    failed = tuple(
        AttemptRecord(
            n=i,
            started_at=1_714_521_600.123456 + i,
            latency_ms=1234.5678,
            provider="openai",
            deployment="openai/gpt-4o",
            model="gpt-4o",
            outcome="error",
            upstream_status=503,
            error_class="UpstreamStatusError",
            decision="retry",
            delay_ms=250.0,
            cost_nanousd=cost,
        )
        for i, cost in enumerate(costs, 1)
    )
    ok = AttemptRecord(
        n=len(costs) + 1,
        started_at=1_714_521_700.5,
        latency_ms=0.1,
        provider="anthropic",
        deployment="anthropic/claude",
        model="claude-sonnet-4",
        outcome="ok",
        input_tokens=100,
        output_tokens=20,
        cost_nanousd=1_000,
    )
    return (*failed, ok)


def test_attempt_log_is_a_json_field_not_a_column() -> None:
    assert "attempt_log" not in RECORD_FIELDS
    assert {"cache_status", "saved_nanousd"} <= set(RECORD_FIELDS)
    assert "audit" not in RECORD_FIELDS  # the audit room writes it, to its own tables
    assert (*RECORD_FIELDS, "attempt_log", "audit") == JSON_FIELDS


@pytest.mark.parametrize(
    "overrides",
    [
        {},  # no attempts
        {"attempts": 3, "attempt_log": _attempts(None, 0)},
        {"cache_status": "hit", "saved_nanousd": 12_345, "attempts": 0},
        # Beyond 64 bits: orjson refuses them, the stdlib encoder keeps them exact.
        {"attempts": 2, "attempt_log": _attempts(2**70 + 1)},
        {"saved_nanousd": 2**65 + 1},
        {"attempts": 2, "attempt_log": _attempts(5), "tags": {"ünï": "✓", "k": "v"}},
    ],
)
def test_json_lines_round_trip_exactly(
    make_record: MakeRecord, overrides: dict[str, object]
) -> None:
    record = make_record(**overrides)
    line = to_json_line(record)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    back = from_json_line(line)
    assert back == record
    assert type(back.attempt_log) is tuple
    assert all(type(a) is AttemptRecord for a in back.attempt_log)


def test_lines_from_other_versions_load(make_record: MakeRecord) -> None:
    record = make_record(attempts=2, attempt_log=_attempts(7))
    data = orjson.loads(to_json_line(record))
    # Written before the cache and attempt fields existed: they take their defaults.
    old = {
        k: v for k, v in data.items() if k not in ("cache_status", "saved_nanousd", "attempt_log")
    }
    loaded = from_json_line(orjson.dumps(old))
    assert loaded.attempt_log == () and loaded.cache_status is None
    assert loaded.saved_nanousd is None and loaded.cost_nanousd == record.cost_nanousd
    # The same fields in another order (the keyword path) still read the attempts.
    shuffled = dict(reversed(data.items()))
    assert from_json_line(json.dumps(shuffled).encode()) == record


@pytest.mark.parametrize(
    "log",
    [
        '"oops"',
        "[1, 2]",
        '[{"n": 1, "from_the_future": true}]',
    ],
)
def test_a_malformed_attempt_log_is_an_unreadable_line(make_record: MakeRecord, log: str) -> None:
    data = asdict(make_record())
    line = json.dumps({**data, "attempt_log": None}).replace(
        '"attempt_log": null', f'"attempt_log": {log}'
    )
    with pytest.raises((TypeError, ValueError)):
        from_json_line(line.encode())


def test_a_replayed_spill_stores_the_attempts(tmp_path: Path, make_record: MakeRecord) -> None:
    path = tmp_path / "s.jsonl"
    records = [
        make_record(attempts=3, attempt_log=_attempts(3, None)),
        make_record(cache_status="replay", saved_nanousd=99, attempts=0),
        make_record(),
    ]
    path.write_bytes(b"".join(to_json_line(r) for r in records))
    url = f"sqlite:///{tmp_path / 'l.db'}"
    for _ in range(2):  # the second open finds nothing left to replay
        ledger = Ledger.open(LedgerConfig(url=url), spill_path=str(path))
        try:
            assert ledger.flush(10)
            assert [ledger.store.get_call(r.id) for r in records] == records
            assert len(ledger.store.get_attempts(records[0].id)) == 3
        finally:
            ledger.close(10)
    assert not path.exists()
