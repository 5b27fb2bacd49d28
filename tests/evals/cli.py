"""Driving ``daytwo`` commands in the eval CLI tests: the invocation, and the one-line error
every bad input must give."""

from __future__ import annotations

from click.testing import CliRunner, Result

from daytwo.cli.main import cli


def daytwo(*args: str) -> Result:
    """``daytwo ARGS`` in-process (exceptions propagate: a traceback fails the test)."""
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def one_line_error(result: Result) -> str:
    """The single stderr line of an exit-2 refusal (nothing on stdout, no traceback)."""
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr
    return lines[0]
