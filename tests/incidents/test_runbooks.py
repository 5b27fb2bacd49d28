"""The runbooks: the shipped ones load and follow the format, every alert daytwo ships points
to one of them, the commands they name exist, a broken file is refused with one precise
error, and a team's folder adds and replaces runbooks by name."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest
import yaml

from daytwo.cli.main import COMMANDS, cli
from daytwo.config.alerts import KINDS
from daytwo.config.incidents import KIND_RUNBOOKS, default_runbook, runbook_link
from daytwo.config.slos import AvailabilitySli, LatencySli, ScoreSli
from daytwo.incidents.runbooks import (
    SECTIONS,
    RunbookError,
    load_book,
    markdown,
    parse,
    problems,
    shipped,
)
from daytwo.rollout.controller import ROLLBACK, RUNBOOK, WAITING

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "daytwo-rules.yml"
#: The incident types issue 17 names, each with its runbook.
REQUIRED = {
    "quality-regression",
    "data-leak",
    "agent-loop",
    "cost-spike",
    "provider-down",
    "prompt-injection",
    "silent-model-change",
}
#: Being built beside this room (issue 17): named by the runbooks before they are registered.
PENDING = {"triage", "replay"}
DRIFT_KINDS = {"drift", "model_changed", "model_changed_canary"}


def valid(**changes: str) -> str:
    """A valid runbook's text; ``changes`` replace a section's body (``""`` removes it)."""
    body = {
        "Symptoms": "- calls fail",
        "First three checks": (
            "1. `daytwo providers status` — breakers.\n"
            "2. `daytwo triage --since 1h` — what changed.\n"
            "3. `daytwo spend --since 1h` — what it cost."
        ),
        "Stop the bleeding": "- `daytwo kill --project P --reason x`",
        "Confirm recovery": "- the alert resolves",
        "What to tell users": "We are on it.",
        "Follow-ups": "- add a test case",
    }
    body.update(changes)
    text = "---\nname: mine\ntitle: Mine\nseverity: sev3\nalerts: [error_rate]\npage: me\n---\n"
    for heading, content in body.items():
        if content:
            text += f"\n## {heading}\n\n{content}\n"
    return text


# -- the shipped runbooks ---------------------------------------------------------------------


def test_every_incident_type_has_a_shipped_runbook_with_every_section() -> None:
    book = shipped()
    assert set(book) >= REQUIRED
    for name, r in book.items():
        assert r.name == name and r.source == "shipped"
        assert [h for h, _ in r.sections] == list(SECTIONS)
        assert all(text.strip() for _, text in r.sections), name
        assert len(r.checks()) >= 3, name
        follow = r.section("Follow-ups")
        for step in (
            "Add a test case",
            "Broaden the test inputs",
            "Refine the scoring",
            "Tighten the SLO",
        ):
            assert step in follow, (name, step)


#: The rollout controller's notifications (daytwo.rollout.controller).
ROLLOUT_KINDS = {ROLLBACK, WAITING}


def test_every_alert_kind_points_to_a_runbook_that_lists_it() -> None:
    book = shipped()
    rule_kinds = {k for k, spec in KINDS.items() if spec.source != "slo"}
    slo_types = {
        t
        for model in (AvailabilitySli, LatencySli, ScoreSli)
        for t in model.model_fields["type"].annotation.__args__  # type: ignore[union-attr]
    }
    wanted = rule_kinds | DRIFT_KINDS | ROLLOUT_KINDS | {f"slo:{t}" for t in slo_types}
    assert set(KIND_RUNBOOKS) == wanted
    for kind, name in KIND_RUNBOOKS.items():
        assert name in book, kind
        assert kind in book[name].alerts, (kind, name)
    # and the other way: a runbook lists a kind only if the kind points to it
    for r in book.values():
        for alert in r.alerts:
            if alert in KIND_RUNBOOKS:
                assert KIND_RUNBOOKS[alert] == r.name, (alert, r.name)
    assert default_runbook("slo_burn", "availability") == "provider-down"
    assert default_runbook("slo_burn", "judge") == "quality-regression"
    assert {default_runbook(k) for k in ROLLOUT_KINDS} == {RUNBOOK}


def test_every_prometheus_rule_names_a_runbook_that_lists_it() -> None:
    book = shipped()
    seen = 0
    for group in yaml.safe_load(RULES.read_text())["groups"]:
        for rule in group["rules"]:
            url = rule["annotations"]["runbook_url"]
            m = re.fullmatch(r"daytwo runbook show ([a-z0-9-]+)", url)
            assert m is not None, (rule["alert"], url)
            assert rule["alert"] in book[m.group(1)].alerts, (rule["alert"], m.group(1))
            seen += 1
    assert seen == 13


def _resolve(words: list[str]) -> click.Command | None:
    """The click command a `daytwo ...` command line names (None: no such command)."""
    ctx = click.Context(cli)
    command: click.Command = cli
    for word in words:
        if not isinstance(command, click.Group) or word.startswith("-") or word.isupper():
            break
        sub = command.get_command(ctx, word)
        if sub is None:
            return None
        command = sub
    return command


def test_every_command_a_runbook_names_exists() -> None:
    checked = 0
    for r in shipped().values():
        text = markdown(r)
        for line in re.findall(r"`(daytwo [^`]+)`", text):
            words = line.split()[1:]
            if words[0] in PENDING and words[0] not in COMMANDS:
                continue
            command = _resolve(words)
            assert command is not None and not isinstance(command, click.Group), (r.name, line)
            flags = {o for p in command.params for o in getattr(p, "opts", [])}
            for word in words:
                if word.startswith("--"):
                    assert word in flags, (r.name, line, word)
            checked += 1
    assert checked >= 30


# -- the format -------------------------------------------------------------------------------


def test_a_valid_runbook_parses() -> None:
    r = parse(valid(), "mine.md", stem="mine")
    assert (r.name, r.title, r.severity, r.alerts, r.page) == (
        "mine",
        "Mine",
        "sev3",
        ("error_rate",),
        "me",
    )
    assert r.checks() == [
        "daytwo providers status",
        "daytwo triage --since 1h",
        "daytwo spend --since 1h",
    ]
    md = markdown(r)
    assert md.startswith("# Mine\n")
    assert [line for line in md.splitlines() if line.startswith("## ")] == [
        f"## {h}" for h in SECTIONS
    ]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (valid(**{"Confirm recovery": ""}), "missing section `## Confirm recovery`"),
        (valid().replace("## Symptoms", "## Symptom"), "unknown section `## Symptom`"),
        (
            valid().replace("## Follow-ups", "## Symptoms"),
            "section `## Symptoms` appears twice",
        ),
        (
            valid(**{"What to tell users": ""}) + "\n## What to tell users\n\nhi\n",
            "sections out of order",
        ),
        (valid().replace("We are on it.", "  "), "section `## What to tell users` is empty"),
        (
            valid(**{"First three checks": "1. `daytwo spend`\n2. `daytwo quality`"}),
            "exactly three numbered items",
        ),
        (
            valid(**{"First three checks": "1. `daytwo spend`\n2. look\n3. `daytwo slo status`"}),
            "item 2 names no `daytwo ...` command",
        ),
        (valid().replace("severity: sev3", "severity: high"), "severity: `high` is not one of"),
        (valid().replace("page: me\n", ""), "front matter: missing page"),
        (valid().replace("page: me", "page: me\nowner: x"), "unknown key owner"),
        (valid().replace("name: mine", "name: yours"), "differs from the file's name `mine.md`"),
        (valid().replace("alerts: [error_rate]", "alerts: error_rate"), "alerts: must be a list"),
        (valid().replace("title: Mine", "title: [unclosed"), "not valid YAML"),
        (valid().replace("---\n", "", 1), "must start with YAML front matter"),
        ("---\nname: mine\n", "no closing `---` line"),
        (valid().replace("\n## Symptoms", "intro\n\n## Symptoms", 1), "text before the first"),
    ],
)
def test_a_broken_runbook_is_refused_with_one_precise_error(text: str, problem: str) -> None:
    with pytest.raises(RunbookError) as err:
        parse(text, "team/mine.md", stem="mine")
    message = str(err.value)
    assert message.startswith("team/mine.md: ")
    assert problem in message
    assert "\n" not in message


# -- a team's runbooks ------------------------------------------------------------------------


def test_a_teams_folder_adds_runbooks_and_replaces_shipped_ones_by_name(tmp_path: Path) -> None:
    (tmp_path / "mine.md").write_text(valid())
    ours = valid().replace("name: mine", "name: provider-down").replace("Mine", "Ours")
    (tmp_path / "provider-down.md").write_text(ours)
    (tmp_path / "notes.txt").write_text("not a runbook")
    book = load_book(tmp_path)
    assert set(book.names()) == set(shipped()) | {"mine"}
    assert book.overridden == {"provider-down"}
    replaced = book.get("provider-down")
    assert replaced is not None and replaced.title == "Ours"
    assert replaced.source == str(tmp_path / "provider-down.md")
    untouched = book.get("cost-spike")
    assert untouched is not None and untouched.source == "shipped"
    assert [r.name for r in book.for_alert("error_rate")] == ["provider-down", "mine"]


def test_one_broken_file_in_a_teams_folder_stops_the_load_naming_it(tmp_path: Path) -> None:
    (tmp_path / "good.md").write_text(valid().replace("name: mine", "name: good"))
    (tmp_path / "bad.md").write_text(
        valid().replace("name: mine", "name: bad") + "\n## Extra\n\nx\n"
    )
    with pytest.raises(RunbookError, match=r"bad\.md: unknown section `## Extra`"):
        load_book(tmp_path)
    with pytest.raises(RunbookError, match="is not a directory"):
        load_book(tmp_path / "missing")


def test_links_and_unknown_names() -> None:
    assert runbook_link("provider-down") == "daytwo runbook show provider-down"
    assert runbook_link("provider-down", "https://wiki.example.com/rb/") == (
        "https://wiki.example.com/rb/provider-down"
    )
    assert runbook_link("https://x.example.com/a", "https://wiki.example.com") == (
        "https://x.example.com/a"
    )
    book = load_book()
    refs = [
        ("alerts.rules.0.runbook", "provider-down"),
        ("alerts.rules.1.runbook", "nope"),
        ("alerts.rules.2.runbook", "https://x.example.com/a"),
    ]
    found = problems(book, refs)
    assert len(found) == 1
    assert found[0].startswith("alerts.rules.1.runbook: no runbook named `nope` (known: agent-loop")
