"""``daytwo sim serve``: bad values exit 2 with one clear line; a real start serves and stops."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner

from daytwo.cli.sim import sim


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--rate-429", "2"], "--rate-429"),
        (["--rate-429", "0.6", "--rate-500", "0.6"], "add up to 1.2"),
        (["--min-output-tokens", "9", "--max-output-tokens", "5"], "max_output_tokens"),
        (["--outage", "60"], "START:DURATION"),
        (["--outage", "60:0"], "greater than 0"),
        (["--outage", "60:10:boom"], "mode"),
        (["--port", "70000"], "--port"),
        (["--require-key", "plain-value"], "never a value"),
        (["--require-key", "env:DAYTWO_TEST_SURELY_UNSET"], "is not set"),
    ],
)
def test_bad_values_exit_2_with_a_clear_message(args: list[str], message: str) -> None:
    result = CliRunner().invoke(sim, ["serve", *args])
    assert result.exit_code == 2, result.output
    assert message in result.output


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "file not found"),
        ("correct_rate: [1", "cannot read it"),
        ("- 1\n", "a mapping of quality settings"),
        ("correct_rate: 2\n", "correct_rate: Input should be less than or equal to 1"),
        ("answers: [{match: {regex: '('}, answer: x}]\n", "answers[0].match: not a valid regular"),
    ],
)
def test_a_bad_quality_file_is_one_line(tmp_path: Path, content: str | None, message: str) -> None:
    path = tmp_path / "quality.yaml"
    if content is not None:
        path.write_text(content)
    result = CliRunner().invoke(sim, ["serve", "--quality", str(path)])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "--quality" in lines[0], result.output


@pytest.mark.integration
def test_serve_starts_serves_and_stops_on_sigint(tmp_path: Path) -> None:
    (tmp_path / "answers.jsonl").write_text(
        '{"match": {"regex": "capital of France"}, "answer": "Paris."}\n'
    )
    quality = tmp_path / "quality.yaml"
    quality.write_text("answers_file: answers.jsonl\ncorrect_rate: 1.0\n")
    code = "from daytwo.cli.main import main; main()"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            code,
            "sim",
            "serve",
            "--port",
            "0",
            "--seed",
            "3",
            "--outage",
            "3600:60:hang",
            "--rate-500",
            "0.01",
            "--quality",
            str(quality),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # the one-line start-up message (blocks until printed)
        match = re.search(r"http://127\.0\.0\.1:(\d+)/v1", line)
        assert match, line
        assert "seed 3" in line
        assert "500 1.0%" in line
        assert "1 outage(s)" in line and "scripted quality" in line
        url = f"http://127.0.0.1:{match.group(1)}"
        with urllib.request.urlopen(f"{url}/health", timeout=10) as resp:
            assert json.loads(resp.read()) == {"status": "ok"}
        req = urllib.request.Request(
            f"{url}/v1/chat/completions",
            data=json.dumps(
                {"model": "m", "messages": [{"role": "user", "content": "x"}]}
            ).encode(),
            headers={"content-type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            assert json.loads(resp.read())["object"] == "chat.completion"
        asked = {"model": "m", "messages": [{"role": "user", "content": "The capital of France?"}]}
        req = urllib.request.Request(
            f"{url}/v1/chat/completions",
            data=json.dumps(asked).encode(),
            headers={"content-type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=10) as resp:  # the script answers
            assert json.loads(resp.read())["choices"][0]["message"]["content"] == "Paris."
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout:
            proc.stdout.close()
        if proc.stderr:
            proc.stderr.close()
