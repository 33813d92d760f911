"""A closed stdout (`| head -1`) and a narrow terminal: what a user of a pipeline sees.

- A reader that goes away is normal in a pipeline: attsms stops quietly, with no error line, and
  exits 141 (128 + SIGPIPE, what the shell reports for `yes | head -1`). Nothing already stored is
  lost: every message handed out by the service is in the store.
- An error on a terminal is one line however narrow the terminal: the terminal may wrap it for
  the eye, but attsms never breaks it into several lines.
"""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from attsms.core.errors import ExitCode
from tests.helpers.support import Cli, SandboxHttp

StartSandbox = Callable[..., SandboxHttp]
ATTSMS = f"{sys.executable} -m attsms"


def _piped_to_head(command: str, env: dict[str, str]) -> tuple[int, str]:
    """Run `command | head -1` in bash; the exit status of attsms, and its stderr."""
    script = f"{command} 2>stderr.txt | head -1 >/dev/null; echo ${{PIPESTATUS[0]}}"
    done = subprocess.run(
        ["bash", "-c", script], capture_output=True, text=True, env=env, timeout=60, check=True
    )
    return int(done.stdout.strip()), Path("stderr.txt").read_text()


@pytest.fixture
def in_tmp(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


@pytest.mark.usefixtures("in_tmp")
def test_inbox_pull_into_head_stops_quietly_and_keeps_every_message(
    sandbox_http: StartSandbox, cli: Cli, use_server: Any
) -> None:
    server = use_server(sandbox_http())
    server.inject("+12125550100", "hello", count=2000)
    code, stderr = _piped_to_head(f"{ATTSMS} inbox pull 12345", dict(os.environ))
    assert (code, stderr) == (ExitCode.BROKEN_PIPE, "")
    first = cli("inbox", "list", "--json", "--limit", "0").json()
    assert 0 < len(first) < 2000  # it stopped after the batch it could not print
    assert cli("inbox", "pull", "12345", "-q").exit_code == 0
    stored = cli("inbox", "list", "--json", "--limit", "0").json()
    assert len({m["message_id"] for m in stored}) == len(stored) == 2000  # none lost, none twice


@pytest.mark.usefixtures("in_tmp")
def test_send_and_history_into_head_stop_quietly(
    sandbox_http: StartSandbox, cli: Cli, use_server: Any, tmp_path: Any
) -> None:
    server = use_server(sandbox_http())
    numbers = [f"+1212{8000000 + i:07d}" for i in range(6000)]
    (tmp_path / "to.txt").write_text("\n".join(numbers))
    # A long text: the history's lines (120 of 4 KB) overflow the pipe's buffer and what `head`
    # reads at once (64 KB and 128 KB here), so it must write after the reader left (a short
    # output could be taken whole and never see the pipe close).
    (tmp_path / "text.txt").write_text("x" * 4000)
    send = f"{ATTSMS} send --to-file to.txt --message-file text.txt"
    code, stderr = _piped_to_head(send, dict(os.environ))
    assert (code, stderr) == (ExitCode.BROKEN_PIPE, "")
    assert len(server.stats()["delivered_to"]) == 6000  # all sent and recorded
    history = cli("history", "--json", "--limit", "0")
    assert sum(len(b["recipients"]) for b in history.json()) == 6000
    code, stderr = _piped_to_head(f"{ATTSMS} history --limit 0", dict(os.environ))
    assert (code, stderr) == (ExitCode.BROKEN_PIPE, "")


def test_an_error_on_a_narrow_terminal_is_one_line() -> None:
    leader, follower = pty.openpty()
    long_number = "not-a-number-" + "x" * 120
    proc = subprocess.Popen(
        [sys.executable, "-m", "attsms", "--sandbox", "send", long_number, "-m", "hi"],
        stdout=follower,
        stderr=follower,
        env={**os.environ, "COLUMNS": "40", "TERM": "xterm-256color"},
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    assert proc.wait(timeout=30) == ExitCode.USAGE
    lines = [line for line in b"".join(chunks).decode().splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert "attsms: error: not a phone number" in lines[0] and len(lines[0]) > 80


def test_json_stays_valid_up_to_the_point_the_reader_left(cli: Cli) -> None:
    # Not a pipe: guards that the document printed in one piece is valid JSON.
    result = cli("--sandbox", "send", "2125550100", "-m", "hi", "--json")
    assert json.loads(result.stdout)["summary"]["accepted"] == 1
