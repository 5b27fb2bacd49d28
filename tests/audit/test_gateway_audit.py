"""The audit trail through a real gateway: every call is chained with its ledger row (who,
from where, under which config checkpoint, which spend decisions), content is captured per
policy -- ``full`` exactly as sent and received (streams reassembled), ``redacted`` with a
corpus of secrets and PII planted in the request and echoed in the answer appearing nowhere:
not in the database files, nor the logs, the metrics, the traces or an export."""

from __future__ import annotations

import contextlib
import itertools
import logging
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from tests.gateway.harness import http, running_gateway, sim_config
from tests.telemetry.otlp_sink import otlp_http_sink

from daytwo.audit.chain import CONTROL, GENESIS, entry_hash
from daytwo.audit.codec import CodecError, decompress

pytestmark = pytest.mark.integration

SECRET_ENV = "AUDIT_TEST_METRICS_TOKEN"
SECRET = "mtok-7Qp2Lx9Vw4Rz8Ns3Kd6"  # registered: resolved from a reference at start
#: Planted in the request and echoed in the answer; none may survive ``redacted`` capture.
CORPUS = {
    "email": "maria.keller@example-health.de",
    "phone": "+49 30 901820 47",
    "card": "4539 1488 0343 6467",  # Luhn-valid
    "iban": "DE89 3704 0044 0532 0130 00",  # mod-97 valid
    "ssn": "219-09-9999",
    "openai_key": "sk-proj-Zx81Kd0Qm2Lr7Ws5Tn4Yb9Hc3Pv6Ga1",
    "aws_key": "AKIAIOSFODNN7EXAMPLQ",
    "registered": SECRET,
    "ticket": "TCK-884213",  # a user-configured pattern
}
PLANTED = " ".join(f"{k}={v}" for k, v in CORPUS.items())
#: Pieces that would betray a value even reformatted (digits of the card, the IBAN's tail).
TELLS = [*CORPUS.values(), "4539148803436467", "DE89370400440532013000", "example-health"]


def _config(tmp_path: Path, capture: str, **extra: Any) -> dict[str, Any]:
    # The scripted answer echoes the corpus; kept in a file, so that the config (whose text
    # the audit trail keeps as a checkpoint) holds none of it.
    answers = tmp_path / "answers.jsonl"
    entry = {"match": {"regex": "(?s).*"}, "answer": f"Noted. {PLANTED}"}
    answers.write_bytes(orjson.dumps(entry) + b"\n")
    quality = {"correct_rate": 1.0, "answers_file": str(answers)}
    cfg = sim_config(tmp_path, quality=quality)
    cfg["audit"] = {
        "capture": "metadata",
        "rules": [{"project": "support", "capture": capture, "content_retention": "7d"}],
        "redaction": {"patterns": [{"name": "ticket", "regex": "TCK-[0-9]{6}"}]},
        **extra,
    }
    cfg["telemetry"] = {"metrics": {"token": f"env:{SECRET_ENV}"}}
    return cfg


def _chat(url: str, *, project: str = "support", stream: bool = False) -> tuple[str, bytes]:
    body = {
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": f"Please update my details: {PLANTED}"}],
        "max_tokens": 200,
        "stream": stream,
    }
    status, headers, raw = http(
        "POST",
        f"{url}/v1/chat/completions",
        orjson.dumps(body),
        {"x-daytwo-project": project},
    )
    assert status == 200, raw
    return headers["x-daytwo-call-id"], raw


def _rows(db: Path, sql: str, *args: Any) -> list[sqlite3.Row]:
    with sqlite3.connect(db) as conn:
        conn.row_factory = sqlite3.Row
        rows = conn.execute(sql, args).fetchall()
    conn.close()
    return rows


@pytest.fixture(autouse=True)
def _metrics_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SECRET_ENV, SECRET)


def _answer(raw: bytes, stream: bool) -> str:
    """The answer's text as the client read it (a stream's deltas joined)."""
    if not stream:
        return str(orjson.loads(raw)["choices"][0]["message"]["content"])
    events = [
        orjson.loads(line[6:]) for line in raw.decode().splitlines() if line.startswith("data: {")
    ]
    return "".join(c["delta"].get("content") or "" for e in events for c in e["choices"])


class _Grab(logging.Handler):
    """Every log record of daytwo, formatted with all its extra fields."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.getMessage()} {record.__dict__!r}")


@pytest.fixture
def grab() -> Iterator[_Grab]:
    handler = _Grab()
    root = logging.getLogger("daytwo")
    level = root.level
    root.addHandler(handler)
    yield handler
    root.removeHandler(handler)
    root.setLevel(level)


def test_every_call_is_chained_with_its_row_client_and_config_checkpoint(tmp_path: Path) -> None:
    with running_gateway(_config(tmp_path, "metadata")) as gw:
        ids = [_chat(gw.url, project=p)[0] for p in ("support", "other", "support")]
        config_hash = gw.app.runtime.config_hash
        rows = {r["id"]: r for r in gw.records()}
    db = gw.db
    assert db is not None
    entries = _rows(db, "SELECT * FROM audit_entries ORDER BY stream, seq")
    streams = {e["stream"] for e in entries}
    assert CONTROL in streams
    (replica,) = streams - {CONTROL}
    chain = [e for e in entries if e["stream"] == replica]
    assert chain[0]["kind"] == "stream.open" and chain[0]["prev_hash"] == GENESIS
    for before, e in itertools.pairwise(chain):
        assert e["prev_hash"] == before["hash"]
        assert e["hash"] == entry_hash(e["prev_hash"], e["data"].encode())
    calls = [e for e in chain if e["kind"] == "call"]
    assert [e["subject"] for e in calls] == ids
    for e in calls:
        body = orjson.loads(e["data"])["body"]
        row = rows[e["subject"]]
        assert body["call"]["cost_nanousd"] == row["cost_nanousd"] > 0
        assert body["call"]["client_ip"] == row["client_ip"] == "127.0.0.1"
        assert body["call"]["config_hash"] == row["config_hash"] == config_hash
        assert body["content"] is None  # metadata: no content kept
        assert e["project"] == row["project"]
    (kept,) = _rows(db, "SELECT * FROM config_checkpoints")
    assert kept["hash"] == config_hash and orjson.loads(kept["config"])["audit"]["capture"]
    assert _rows(db, "SELECT count(*) AS n FROM call_content")[0]["n"] == 0
    # the shutdown wrote a signed digest covering the whole replica stream, and the control one
    digests = _rows(db, "SELECT * FROM audit_digests ORDER BY stream, n")
    last = [d for d in digests if d["stream"] == replica][-1]
    assert last["last_seq"] == chain[-1]["seq"]
    assert orjson.loads(last["data"])["last_hash"] == chain[-1]["hash"]
    assert any(d["stream"] == CONTROL for d in digests)


@pytest.mark.parametrize("stream", [False, True])
def test_full_capture_keeps_exactly_what_was_sent_and_received(
    tmp_path: Path, stream: bool
) -> None:
    with running_gateway(_config(tmp_path, "full")) as gw:
        call_id, raw = _chat(gw.url, stream=stream)
        gw.records()
    assert gw.db is not None
    (row,) = _rows(gw.db, "SELECT * FROM call_content WHERE call_id = ?", call_id)
    kept = orjson.loads(decompress(row["codec"], row["content"]))
    assert row["mode"] == "full" and row["redactions"] is None
    assert kept["request"]["messages"][0]["content"] == f"Please update my details: {PLANTED}"
    text = _answer(raw, stream)
    assert text.startswith("Noted. email=maria.keller@example-health.de")
    assert kept["response"]["choices"][0]["message"]["content"] == text
    (entry,) = _rows(gw.db, "SELECT data FROM audit_entries WHERE subject = ?", call_id)
    ref = orjson.loads(entry["data"])["body"]["content"]
    import hashlib

    assert ref["digest"] == hashlib.sha256(decompress(row["codec"], row["content"])).hexdigest()
    assert ref["mode"] == "full"
    assert 6 * 86400 < ref["expires_at"] - orjson.loads(entry["data"])["at"] <= 7 * 86400


@pytest.mark.parametrize("stream", [False, True])
def test_a_planted_corpus_appears_nowhere_in_redacted_mode(
    tmp_path: Path, grab: _Grab, stream: bool
) -> None:
    logging.getLogger("daytwo").setLevel(logging.DEBUG)
    with otlp_http_sink() as collector:
        cfg = _config(tmp_path, "redacted")
        cfg["logging"] = {"level": "debug", "access_log": True}
        cfg["telemetry"]["traces"] = {
            "enabled": True,
            "exporter": "otlp_http",
            "endpoint": collector.url,
            "capture_content": True,
        }
        with running_gateway(cfg) as gw:
            call_id, raw = _chat(gw.url, stream=stream)
            # the client itself gets the answer (but keys, which the gateway always scrubs)
            assert CORPUS["card"] in _answer(raw, stream)
            gw.records()
            status, _, metrics = http(
                "GET", f"{gw.url}/metrics", None, {"authorization": f"Bearer {SECRET}"}
            )
            assert status == 200
            spans = collector.wait_for(2)
        exported = tmp_path / "export.jsonl"
        _export(gw.db, exported)
    assert gw.db is not None
    (row,) = _rows(gw.db, "SELECT * FROM call_content WHERE call_id = ?", call_id)
    kept = decompress(row["codec"], row["content"]).decode()
    assert row["mode"] == "redacted"
    assert "[REDACTED:email]" in kept and "[REDACTED:card]" in kept
    counts = orjson.loads(row["redactions"])
    assert {k.split("@")[0] for k in counts} >= {
        "email",
        "phone",
        "card",
        "iban",
        "national_id",
        "key_shapes",
        "secrets",
        "ticket",
    }
    places = {
        "content": kept,
        "database": _database_text(gw.db),
        "logs": "\n".join(grab.lines),
        "metrics": metrics.decode(),
        "traces": repr([s.attributes for s in spans]),
        "export": exported.read_text(),
    }
    assert "[REDACTED" in places["traces"]  # content was captured on the span, redacted
    leaks = {(where, tell) for where, text in places.items() for tell in TELLS if tell in text}
    assert not leaks


def _database_text(db: Path) -> str:
    """Every byte of the database files, and every row of every table with compressed
    content inflated."""
    parts = [p.read_bytes().decode("latin-1") for p in db.parent.glob(db.name + "*") if p.is_file()]
    with sqlite3.connect(db) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        for table in tables:
            for row in conn.execute(f"SELECT * FROM {table}"):  # noqa: S608  # names from sqlite
                for value in row:
                    if isinstance(value, bytes):
                        for codec in ("zstd", "zlib"):
                            with contextlib.suppress(CodecError):
                                value = decompress(codec, value)
                        value = value.decode("latin-1")
                    parts.append(str(value))
    conn.close()
    return "\n".join(parts)


def _export(db: Path | None, out: Path) -> None:
    from daytwo.audit.bundle import export
    from daytwo.ledger.store import open_store

    assert db is not None
    with open_store(f"sqlite:///{db}") as store:
        export(store, out, start=0.0, end=4e9, content=True)
