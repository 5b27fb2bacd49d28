"""The incident record and its postmortem on a real ledger (SQLite, then PostgreSQL): the
lifecycle through the CLI, chained in the audit trail; the impact figures and the rates per 5
minutes checked against numbers worked out by hand."""

from __future__ import annotations

import re
from collections.abc import Iterator

import orjson
import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from tests.ledger.conftest import priced_call

from daytwo.audit.chain import CONTROL
from daytwo.audit.schema import audit_entries
from daytwo.cli.main import cli
from daytwo.core.record import CallRecord
from daytwo.core.score import ScoreRecord
from daytwo.incidents import postmortem, record
from daytwo.incidents.impact import impact
from daytwo.keys.store import KeyStore
from daytwo.ledger.store import LedgerStore, open_store

S = 1_800_000_000.0  # the incident's start (a multiple of 300 s: buckets align)
E = S + 900  # its end


@pytest.fixture
def store(db_url: str) -> Iterator[LedgerStore]:
    s = open_store(db_url)
    try:
        yield s
    finally:
        s.close()


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_the_lifecycle_through_the_cli_is_chained_in_the_audit_trail(
    db_url: str, store: LedgerStore
) -> None:
    code, out, err = run(
        "incident", "start", "--title", "wrong refunds", "--severity", "SEV2",
        "--scope", "project=support", "--scope", "workflow=refunds",
        "--commander", "alice", "--ledger", db_url,
    )  # fmt: skip
    assert code == 0, err
    incident_id = out.strip()
    assert re.fullmatch(r"inc-\d{8}-\d{4}-[0-9a-f]{4}", incident_id)
    assert run("incident", "note", incident_id, "rolled back to v3", "--ledger", db_url)[0] == 0
    code, out, _ = run("incident", "end", incident_id, "--summary", "prompt v4", "--ledger", db_url)
    assert code == 0 and out.startswith(f"ended {incident_id} after ")

    code, out, err = run("incident", "end", incident_id, "--ledger", db_url)
    assert code == 1 and out == ""
    assert err == f"daytwo incident: Incident `{incident_id}` already ended (by {_actor()}).\n"
    code, _, err = run("incident", "note", "inc-nope", "x", "--ledger", db_url)
    assert (code, err) == (1, "daytwo incident: No incident `inc-nope`.\n")
    code, _, err = run(
        "incident", "start", "--title", "t", "--severity", "sev2", "--scope", "colour=red",
        "--ledger", db_url,
    )  # fmt: skip
    assert code == 1 and "scope: `colour` is not a scope field" in err and err.count("\n") == 1
    code, _, err = run("incident", "start", "--title", "t", "--severity", "sev2", "--scope", "x")
    assert code == 2 and err == "daytwo incident: --scope: expected FIELD=VALUE, got 'x'\n"

    code, out, _ = run("incident", "list", "--json", "--ledger", db_url)
    (shown,) = orjson.loads(out)["data"]
    assert shown["id"] == incident_id and shown["status"] == "ended"
    assert (shown["severity"], shown["commander"]) == ("sev2", "alice")
    assert shown["scope"] == {"project": "support", "workflow": "refunds"}
    assert shown["summary"] == "prompt v4"
    assert [n["text"] for n in shown["notes"]] == ["rolled back to v3"]

    e = audit_entries.c
    with store.connect() as conn:
        rows = conn.execute(
            sa.select(e.kind, e.subject, e.project, e.data, e.prev_hash, e.hash)
            .where(e.stream == CONTROL, e.subject == incident_id)
            .order_by(e.seq)
        ).all()
    assert [r.kind for r in rows] == ["incident.start", "incident.note", "incident.end"]
    assert {r.project for r in rows} == {"support"}
    assert orjson.loads(rows[0].data)["body"]["after"]["title"] == "wrong refunds"
    assert rows[1].prev_hash == rows[0].hash and rows[2].prev_hash == rows[1].hash


def _actor() -> str:
    from daytwo.cli.common import actor

    return actor()


def _score(n: int, call: CallRecord, value: float) -> ScoreRecord:
    return ScoreRecord(
        id=f"s{n}",
        call_id=call.id,
        at=call.started_at + 1,
        evaluator="refusal",
        evaluator_version="1",
        source="online",
        value=value,
    )


def _seed(store: LedgerStore) -> None:
    """Calls of project support around the incident, worked out in the test below."""
    mine = {"project": "support"}
    calls = [
        priced_call(0, S - 300, cost_nanousd=5, **mine),  # before: in the rates only
        priced_call(1, S + 10, cost_nanousd=1_000_000_000, user="u1", **mine),
        priced_call(2, S + 20, status="error", http_status=502, cost_nanousd=0, user="u2",
                    **mine),
        priced_call(3, S + 100, cost_nanousd=0, cache_status="hit", user="u1", **mine),
        priced_call(4, S + 320, status="rejected", http_status=429, cost_nanousd=0,
                    user="u3", input_tokens=0, output_tokens=0, **mine),
        priced_call(5, S + 330, status="error", http_status=500, cost_nanousd=250_000_000,
                    user="u2", **mine),
        priced_call(6, S + 650, status="cancelled", http_status=499,
                    cost_nanousd=100_000_000, **mine),
        priced_call(7, S + 700, cost_nanousd=None, user="u4", **mine),  # unpriced
        priced_call(8, E + 10, cost_nanousd=7, **mine),  # after the end
        priced_call(9, S + 50, cost_nanousd=3_000_000_000, project="other"),  # out of scope
    ]  # fmt: skip
    store.insert_batch(calls)
    store.insert_scores(
        [
            _score(1, calls[1], 1.0),
            _score(2, calls[5], 0.0),
            _score(3, calls[7], 0.0),
            _score(4, calls[0], 1.0),  # before the window
            _score(5, calls[9], 0.0),  # another project
        ]
    )


def test_the_impact_figures_are_the_ones_worked_out_by_hand(store: LedgerStore) -> None:
    _seed(store)
    figures, _ = impact(store, S, E, {"project": "support"})
    # calls 1-7; answered 1, 3, 7; upstream (ok or error, not from the cache): 1, 2, 5, 7
    assert (figures.calls, figures.ok, figures.errors) == (7, 3, 2)
    assert (figures.rejected, figures.cancelled, figures.upstream) == (1, 1, 4)
    assert figures.error_rate == 0.5
    assert figures.cost_nanousd == 1_350_000_000  # 1 + 0.25 + 0.10 USD
    assert (figures.unpriced, figures.users) == (1, 4)
    n, rate = figures.quality["refusal"]
    assert n == 3 and rate == pytest.approx(1 / 3)

    _, shown = impact(store, S - 600, E, {"project": "support"})
    assert [b.start for b in shown] == [S - 600 + 300 * i for i in range(5)]
    table = [
        (b.figures.calls, b.figures.errors, b.figures.error_rate, b.figures.cost_nanousd,
         b.figures.quality.get("refusal"))
        for b in shown
    ]  # fmt: skip
    assert table == [
        (0, 0, None, 0, None),
        (1, 0, 0.0, 5, (1, 1.0)),
        (3, 1, 0.5, 1_000_000_000, (1, 1.0)),
        (2, 1, 1.0, 250_000_000, (1, 0.0)),
        (2, 0, 0.0, 100_000_000, (1, 0.0)),
    ]


def test_the_report_shows_the_figures_the_notes_and_the_follow_ups(
    db_url: str, store: LedgerStore
) -> None:
    _seed(store)
    keys = KeyStore(store)
    started = record.start(
        keys, title="refusals | spike", severity="sev2", scope={"project": "support"},
        commander="alice", actor="test", now=S,
    )  # fmt: skip
    record.note(keys, started.id, "rolled back\nto v3", actor="bob", now=S + 400)
    record.end(keys, started.id, summary="v4 refused refunds", actor="alice", now=E)

    code, text, err = run("incident", "report", started.id, "--lead", "10m", "--ledger", db_url)
    assert code == 0, err
    assert text.startswith("# Postmortem: refusals \\| spike\n")
    assert "- **Window:** 2027-01-15 08:00:00 → 2027-01-15 08:15:00 UTC (15 min)" in text
    section = _section(text, "Impact")
    assert "| Calls | 7 |" in section
    assert "| Errors | 2 (error rate 50.0% of 4 upstream) |" in section
    assert "| Users affected | 4 |" in section
    assert "| Cost | $1.3500 (+1 unpriced) |" in section
    assert "| Quality: refusal | 33.3% of 3 scores |" in section
    rates = [r for r in _section(text, "Error and quality rates per 5 minutes").splitlines()
             if r.startswith("| 0")]  # fmt: skip
    assert rates == [
        "| 07:50 | 0 | 0 | – | $0.0000 | – |",
        "| 07:55 | 1 | 0 | 0.0% | $0.000000005 | 100.0% |",
        "| 08:00 ▶ | 3 | 1 | 50.0% | $1.0000 | 100.0% |",
        "| 08:05 | 2 | 1 | 100.0% | $0.2500 | 0.0% |",
        "| 08:10 | 2 | 0 | 0.0% | $0.1000 | 0.0% |",
    ]
    assert "- 2027-01-15 08:06:40 bob: rolled back to v3" in _section(text, "Notes")
    assert "v4 refused refunds" in _section(text, "Summary")
    follow = _section(text, "Follow-ups")
    assert follow.count("- [ ] ") == len(postmortem.FOLLOW_UPS) == 4

    with store.connect() as conn:
        conn.execute(sa.text("SELECT 1"))  # the CLI closed its own connection; ours still works


def _section(text: str, heading: str) -> str:
    start = text.index(f"## {heading}")
    end = text.find("\n## ", start + 3)
    return text[start : end if end >= 0 else len(text)]
