"""Output that degrades instead of crashing when a stream cannot encode a character.

A cron host whose locale is not UTF-8, or `PYTHONIOENCODING=ascii`, gives attsms streams that
cannot encode a curly quote or an emoji. Every format must still come out: characters the stream
cannot encode are escaped (`\\u2019`), JSON is written with `ensure_ascii` (still valid JSON that
reads back to the same text), and the command exits as it would have on a UTF-8 terminal. Real
processes throughout: the stream encoding is decided at start-up.
"""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.support import Cli, Result

ASCII = {"PYTHONIOENCODING": "ascii"}
TEXT = "It\u2019s done \U0001f600"  # a curly quote (UCS-2) and an emoji beyond the BMP
ESCAPED = "It\\u2019s done"


@pytest.fixture
def sent(cli: Cli) -> str:
    """A message with a curly quote in the sandbox's history, and a reply in the inbox."""
    result = cli.process("--sandbox", "send", "+12125550100", "-m", TEXT, "--json")
    assert result.exit_code == 0, result.stderr
    assert cli.process("sandbox", "inject", "--from", "+12125550100", TEXT).exit_code == 0
    assert cli.process("--sandbox", "inbox", "pull", "-q").exit_code == 0
    return str(result.json()["messages"][0]["message_id"])


def ok(result: Result) -> Result:
    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert "UnicodeEncodeError" not in result.stderr
    return result


def test_plain_output_escapes_what_the_stream_cannot_encode(cli: Cli, sent: str) -> None:
    for args, shown in (
        (["--sandbox", "history"], ESCAPED),
        (["--sandbox", "inbox", "list"], ESCAPED),
        (["--sandbox", "send", "+12125550100", "-m", TEXT, "--dry-run"], "\\u2019 (U+2019)"),
        (["--sandbox", "status", sent], sent),
    ):
        result = ok(cli.process(*args, env=ASCII))
        assert result.stdout.isascii()
        assert shown in result.stdout, (args, result.stdout)
    history = ok(cli.process("--sandbox", "history", env=ASCII))
    assert "\\U0001f600" in history.stdout  # the emoji too, not a question mark


@pytest.mark.parametrize(
    "args",
    [
        ["--sandbox", "history", "--json"],
        ["--sandbox", "inbox", "list", "--json"],
        ["--sandbox", "send", "+12125550100", "-m", TEXT, "--dry-run", "--json"],
    ],
)
def test_json_is_ascii_and_still_reads_back_to_the_same_text(
    cli: Cli, sent: str, args: list[str]
) -> None:
    result = ok(cli.process(*args, env=ASCII))
    assert result.stdout.isascii()
    assert "\\u2019" in result.stdout and "\\ud83d\\ude00" in result.stdout
    read_back = json.dumps(json.loads(result.stdout), ensure_ascii=False)
    assert TEXT in read_back or ("\u2019" in read_back and "\U0001f600" in read_back)


@pytest.mark.parametrize(
    "args", [["--sandbox", "inbox", "list", "--jsonl"], ["--sandbox", "inbox", "export"]]
)
def test_json_lines_are_ascii_and_read_back(cli: Cli, sent: str, args: list[str]) -> None:
    result = ok(cli.process(*args, env=ASCII))
    assert result.stdout.isascii()
    rows = [json.loads(line) for line in result.lines]
    assert any(TEXT in json.dumps(row, ensure_ascii=False) for row in rows)


def test_csv_export_escapes(cli: Cli, sent: str) -> None:
    result = ok(cli.process("--sandbox", "inbox", "export", "--format", "csv", env=ASCII))
    assert result.stdout.isascii() and ESCAPED in result.stdout


def test_stderr_escapes_too(cli: Cli, tmp_path: Path) -> None:
    # An error naming what the user typed, and a summary line, both with a curly quote.
    bad = cli.process("--sandbox", "send", "555\u2019", "-m", "hi", env=ASCII)
    assert bad.exit_code == 2, bad.stderr
    assert bad.stderr.isascii()
    assert "not a phone number: '555\\u2019'" in bad.stderr
    empty = tmp_path / "caf\u00e9.txt"
    empty.write_text("")
    missing = cli.process("--sandbox", "send", "--to-file", str(empty), "-m", TEXT, env=ASCII)
    assert missing.exit_code == 2 and "no recipients" in missing.stderr
    assert missing.stderr.isascii()


def test_a_utf8_stream_is_left_alone(cli: Cli, sent: str) -> None:
    result = ok(cli.process("--sandbox", "history", "--json", env={"PYTHONIOENCODING": "utf-8"}))
    assert TEXT in result.stdout


def test_a_latin1_locale_keeps_what_it_can_encode(cli: Cli, sent: str) -> None:
    env = {"PYTHONIOENCODING": "latin-1"}
    result = cli.process("--sandbox", "send", "+12125550102", "-m", "caf\u00e9 \u2019", env=env)
    assert result.exit_code == 0, result.stderr
    raw = subprocess.run(
        [sys.executable, "-m", "attsms", "--sandbox", "history"],
        capture_output=True,
        env={**os.environ, **env},
        check=True,
    ).stdout
    assert "caf\u00e9 \\u2019".encode("latin-1") in raw


def test_a_table_on_an_ascii_terminal(sent: str) -> None:
    """On a terminal (a rich table) as well as piped."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "attsms", "--sandbox", "history"],
        stdout=follower,
        stderr=subprocess.PIPE,
        env={**os.environ, **ASCII, "COLUMNS": "200", "NO_COLOR": "1"},
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr.decode()
    shown = b"".join(chunks).decode("ascii")
    assert "MESSAGE" in shown and ESCAPED in shown


def test_help_and_verbose_logs_on_an_ascii_stream(cli: Cli) -> None:
    help_text = ok(cli.process("auth", "--help", env=ASCII))
    assert "attsms auth token" in help_text.stdout
    verbose = ok(
        cli.process("--sandbox", "--verbose", "send", "+12125550100", "-m", TEXT, env=ASCII)
    )
    assert "> POST " in verbose.stderr and verbose.stderr.isascii()
