"""`attsms inbox handle`, `inbox retry` and `inbox list --unhandled / --failed` in process, on the
built-in sandbox: what a user sees, and the usage errors (exit 2, one line, nothing touched).
The promises (500 messages, kill -9, two hosts, signals) are in tests/promises/test_handler.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from attsms.core.errors import ExitCode
from tests.helpers.support import Cli

ALICE = "+12125550100"


@pytest.fixture
def stored(cli: Cli) -> None:
    for text in ("one", "two"):
        assert cli("--sandbox", "sandbox", "inject", "--from", ALICE, text).exit_code == 0
    assert cli("--sandbox", "inbox", "pull", "-q").exit_code == 0


def test_handle_runs_the_handler_once_for_each_message(
    cli: Cli, stored: None, tmp_path: Path
) -> None:
    log = tmp_path / "log"
    script = f"sh -c 'cat >> {log}; echo >> {log}'"
    assert [
        m["text"] for m in cli("--sandbox", "inbox", "list", "--unhandled", "--json").json()
    ] == [
        "one",
        "two",
    ]
    result = cli("--sandbox", "inbox", "handle", "--exec", script)
    assert (result.exit_code, result.stdout) == (0, "")
    assert result.stderr == "Handled 2 messages.\n"
    assert [line for line in log.read_text().splitlines() if line] != []
    again = cli("--sandbox", "inbox", "handle", "--exec", script, "--json")
    assert again.json() == {"handled": 0, "failed": 0, "dead_letters": [], "waiting": 0}
    empty = cli("--sandbox", "inbox", "list", "--unhandled")
    assert (empty.exit_code, empty.stdout, empty.stderr) == (
        0,
        "",
        "No messages waiting for a handler.\n",
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["inbox", "handle"], "Missing option '--exec'"),
        (["inbox", "handle", "--exec", "sh -c 'x"], "cannot read --exec"),
        (["inbox", "handle", "--exec", "true", "--max-attempts", "0"], "0 is not in the range"),
        (["inbox", "pull", "--exec", "true", "--jsonl"], "--exec prints no messages"),
        (["inbox", "list", "--unhandled", "--failed"], "not both"),
        (["inbox", "list", "--failed", "--since", "1h"], "take no --since"),
        (["inbox", "retry"], "give message IDs or --all-failed"),
        (["inbox", "retry", "MSG1", "--all-failed"], "give message IDs or --all-failed"),
        (["inbox", "retry", "MSGnope"], "no stored message MSGnope"),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(
    cli: Cli, stored: None, args: list[str], message: str
) -> None:
    result = cli("--sandbox", *args)
    assert result.exit_code == ExitCode.USAGE, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr
    assert cli("--sandbox", "inbox", "list", "--failed", "--json").json() == []


def test_a_dead_letter_exits_4_and_retry_puts_it_back(cli: Cli, stored: None) -> None:
    rules = ("--max-attempts", "1", "--backoff", "0")
    failed = cli("--sandbox", "inbox", "handle", "--exec", "sh -c 'echo nope >&2; exit 2'", *rules)
    assert failed.exit_code == ExitCode.PARTIAL
    assert failed.stderr.splitlines()[-1] == (
        "attsms: error: 2 messages became dead letters after 1 failed attempt; see `attsms inbox"
        " list --failed`; put back with `attsms inbox retry --all-failed`"
    )
    dead = cli("--sandbox", "inbox", "list", "--failed", "--json").json()
    assert [(d["text"], d["attempts"], d["last_error"]) for d in dead] == [
        ("one", 1, "exit 2: nope"),
        ("two", 1, "exit 2: nope"),
    ]
    put_back = cli("--sandbox", "inbox", "retry", dead[0]["message_id"])
    assert (put_back.exit_code, put_back.stdout) == (0, dead[0]["message_id"] + "\n")
    assert len(cli("--sandbox", "inbox", "list", "--unhandled", "--json").json()) == 1


def test_pull_exec_json_is_the_pull_document_with_the_handling_in_it(cli: Cli) -> None:
    assert cli("--sandbox", "sandbox", "inject", "--from", ALICE, "STOP").exit_code == 0
    result = cli("--sandbox", "inbox", "pull", "--exec", "true", "--json")
    assert result.exit_code == 0, result.stderr
    document = result.json()
    assert (document["new"], document["opted_out"], document["pending"]) == (1, [ALICE], 0)
    assert [m["keyword"] for m in document["messages"]] == ["stop"]
    assert document["handling"] == {"handled": 1, "failed": 0, "dead_letters": [], "waiting": 0}
