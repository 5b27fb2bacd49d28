"""examples/ci/daytwo-gate.yml: it parses, runs on the pull requests it should, every ``daytwo``
command it runs exists with the flags it passes (checked against the real click commands), and
its last step turns the gate's exit code into the job's outcome (0 pass, 1 fail, 2 cannot run,
never a pass by default)."""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path
from typing import Any

import click
import pytest
import yaml

from daytwo.cli.main import cli

WORKFLOW = Path(__file__).parents[2] / "examples" / "ci" / "daytwo-gate.yml"
#: The flags docs/gate.md documents for ``daytwo gate`` and the workflow relies on.
GATE_FLAGS = {"--suite", "--candidate", "--baseline", "--markdown", "--junit", "--html"}


def workflow() -> dict[Any, Any]:
    data = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def steps() -> list[dict[str, Any]]:
    jobs = workflow()["jobs"]
    assert list(jobs) == ["gate"]
    found: list[dict[str, Any]] = jobs["gate"]["steps"]
    return found


def step(name: str) -> dict[str, Any]:
    return next(s for s in steps() if s.get("name") == name)


def daytwo_commands() -> list[list[str]]:
    """Each ``daytwo ...`` line of the run steps, continuation lines joined, as argv."""
    commands = []
    for s in steps():
        script = s.get("run", "").replace("\\\n", " ")
        for line in script.splitlines():
            words = shlex.split(line)
            if words and words[0] == "daytwo":
                commands.append(words[1:])
    return commands


def resolve(argv: list[str]) -> tuple[click.Command, list[str]]:
    """The click command ``argv`` names, and the flags it passes."""
    command: click.Command = cli
    ctx = click.Context(cli)
    words = list(argv)
    while isinstance(command, click.Group) and words and not words[0].startswith("-"):
        sub = command.get_command(ctx, words.pop(0))
        assert sub is not None, f"daytwo {' '.join(argv)}: no such command"
        command = sub
    return command, [w.split("=")[0] for w in words if w.startswith("--")]


def options(command: click.Command) -> set[str]:
    return {opt for p in command.params for opt in (*p.opts, *p.secondary_opts)}


def test_it_runs_on_pull_requests_touching_prompts_config_and_evals() -> None:
    data = workflow()
    on = data.get("on", data.get(True))  # YAML 1.1 reads a bare `on` as true
    assert set(on) == {"pull_request"}
    assert on["pull_request"]["paths"] == ["prompts/**", "daytwo.yaml", "evals/**"]
    assert data["permissions"]["pull-requests"] == "write"


def test_it_runs_prompts_check_and_the_gate_writing_every_report() -> None:
    argvs = daytwo_commands()
    assert [a[:2] for a in argvs] == [["prompts", "check"], ["gate", "--suite"]]
    gate_flags = {w for w in argvs[1] if w.startswith("--")}
    assert gate_flags == GATE_FLAGS
    assert "--summary" in argvs[0]
    uploaded = step("Upload the reports")["with"]["path"].split()
    assert {"gate.xml", "gate.html", "gate.md", "prompts.md"} <= set(uploaded)


def test_prompts_check_exists_with_the_flags_used() -> None:
    argv = next(a for a in daytwo_commands() if a[0] == "prompts")
    command, flags = resolve(argv)
    assert command.name == "check"
    assert set(flags) <= options(command), set(flags) - options(command)


def test_gate_exists_with_the_flags_used() -> None:
    argv = next(a for a in daytwo_commands() if a[0] == "gate")
    command, flags = resolve(argv)
    assert command.name == "gate"
    assert set(flags) == GATE_FLAGS
    assert options(command) >= GATE_FLAGS


@pytest.mark.parametrize(
    ("gate", "prompts", "code", "says"),
    [
        ("0", "0", 0, "daytwo gate: PASS"),
        ("1", "0", 1, "title=daytwo gate: FAIL::"),
        ("2", "0", 2, "title=daytwo gate: CANNOT RUN::"),
        ("", "0", 2, "title=daytwo gate: did not run::"),  # a step before it failed
        ("0", "1", 1, "title=daytwo prompts check::"),
    ],
)
def test_the_verdict_step_maps_exit_codes(gate: str, prompts: str, code: int, says: str) -> None:
    verdict = step("Verdict")
    assert verdict["if"] == "always()"
    env = {"PATH": os.environ["PATH"], "GATE_EXIT": gate, "PROMPTS_EXIT": prompts}
    # GitHub runs `run:` scripts with `bash -e {0}`.
    got = subprocess.run(
        ["bash", "-e", "-c", verdict["run"]], env=env, capture_output=True, text=True, check=False
    )
    assert got.returncode == code, got.stdout + got.stderr
    assert says in got.stdout
