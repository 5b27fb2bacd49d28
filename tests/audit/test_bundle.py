"""Exported bundles verify offline (the database gone), project-filtered and as parquet too,
and tampering with a bundle is caught like tampering with the database."""

from __future__ import annotations

import base64
import zlib
from pathlib import Path

import orjson
import pytest
from tests.audit.trail import HOUR, T0, Trail

from daytwo.audit.bundle import BundleError, export, open_bundle, read_records
from daytwo.audit.chain import CONTROL
from daytwo.audit.verify import Report, verify

GW1 = "replica:gw-1"


def offline(trail: Trail, path: Path) -> Report:
    """Verify the bundle with the database closed (and, on SQLite, deleted)."""
    trail.store.close()
    if trail.store.sqlite_path is not None:
        trail.store.sqlite_path.unlink()
    with open_bundle(path) as source:
        return verify(source, public_keys=[trail.signer.public])


def records(path: Path) -> list[dict]:  # type: ignore[type-arg]
    return [r for _n, r in read_records(path)]


def test_a_whole_export_verifies_offline(trail: Trail, tmp_path: Path) -> None:
    out = tmp_path / "audit.jsonl"
    summary = export(trail.store, out, start=None, end=None, content=True)
    assert (summary.entries, summary.digests, summary.calls) == (30, 9, 24)
    assert summary.contents == len(trail.content) and summary.admin_events == 2
    report = offline(trail, out)
    assert report.ok, report.problems
    assert report.entries == 30 and report.notes == ()


def test_a_range_export_is_whole_digest_periods_and_verifies_on_its_own(
    trail: Trail, tmp_path: Path
) -> None:
    out = tmp_path / "hour2.jsonl"
    summary = export(trail.store, out, start=T0 + HOUR + 70, end=T0 + HOUR + 80)
    assert summary.entries == 8  # the 4 calls of hour 2 on each replica
    report = offline(trail, out)
    assert report.ok, report.problems
    assert {s.stream: (s.first_seq, s.last_seq) for s in report.streams} == {
        GW1: (6, 9),
        "replica:gw-2": (6, 9),
    }


def test_a_project_export_omits_the_other_projects_and_still_verifies(
    trail: Trail, tmp_path: Path
) -> None:
    out = tmp_path / "search.jsonl"
    summary = export(trail.store, out, start=None, end=None, project="search", content=True)
    assert summary.omitted > 0 and summary.entries + summary.omitted == 30
    text = out.read_text()
    assert '"support"' not in text  # nothing of the other project leaves
    assert all(r.get("project") in (None, "search") for r in records(out) if r["type"] == "entry")
    report = offline(trail, out)
    assert report.ok, report.problems
    assert sum(s.omitted for s in report.streams) == summary.omitted


def test_parquet_round_trip(trail: Trail, tmp_path: Path) -> None:
    jsonl, parquet = tmp_path / "a.jsonl", tmp_path / "a.parquet"
    export(trail.store, jsonl, start=None, end=None, content=True)
    export(trail.store, parquet, start=None, end=None, fmt="parquet", content=True)
    assert parquet.read_bytes()[:4] == b"PAR1"

    def comparable(path: Path) -> list[bytes]:  # parquet has no "absent": a null column
        return sorted(
            orjson.dumps({k: v for k, v in r.items() if v is not None}, option=orjson.OPT_SORT_KEYS)
            for r in records(path)
            if r["type"] != "meta"
        )

    assert comparable(parquet) == comparable(jsonl)
    report = offline(trail, parquet)
    assert report.ok, report.problems
    assert report.entries == 30


def _tamper(path: Path, match: str, change: dict) -> None:  # type: ignore[type-arg]
    lines = path.read_bytes().splitlines()
    for i, line in enumerate(lines):
        r = orjson.loads(line)
        if all(str(r.get(k)) == v for k, v in (p.split("=") for p in match.split(","))):
            lines[i] = orjson.dumps({**r, **change})
            break
    else:
        raise AssertionError(f"no record {match}")
    path.write_bytes(b"\n".join(lines) + b"\n")


def test_an_edited_bundle_entry_is_named(trail: Trail, tmp_path: Path) -> None:
    out = tmp_path / "audit.jsonl"
    export(trail.store, out, start=None, end=None)
    _tamper(out, f"type=entry,stream={GW1},seq=5", {"project": "other"})
    report = offline(trail, out)
    assert report.first is not None
    assert (report.first.kind, report.first.stream, report.first.seq) == ("edited", GW1, 5)


def test_edited_content_in_a_bundle_is_named(trail: Trail, tmp_path: Path) -> None:
    out = tmp_path / "audit.jsonl"
    export(trail.store, out, start=None, end=None, content=True)
    victim = trail.content[2]
    forged = base64.b64encode(zlib.compress(b'{"response":"other"}')).decode()
    _tamper(out, f"type=content,call_id={victim}", {"content": forged})
    report = offline(trail, out)
    assert report.first is not None and report.first.kind == "content_edited"
    assert victim in report.first.message


def test_a_removed_digest_line_is_named(trail: Trail, tmp_path: Path) -> None:
    out = tmp_path / "audit.jsonl"
    export(trail.store, out, start=None, end=None)
    lines = [
        line
        for line in out.read_bytes().splitlines()
        if not (b'"type":"digest"' in line and b'"n":2' in line and CONTROL.encode() in line)
    ]
    out.write_bytes(b"\n".join(lines) + b"\n")
    report = offline(trail, out)
    assert report.first is not None and report.first.message == f"{CONTROL}: digest #2 was missing"


def test_not_a_bundle(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    path.write_text('{"type": "entry"}\n')
    with pytest.raises(BundleError, match="is not a daytwo audit bundle"):
        open_bundle(path)
    path.write_text("not json\n")
    with pytest.raises(BundleError, match="record 1 is not JSON"):
        open_bundle(path)
