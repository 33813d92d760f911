"""Issue 29: a send (one run of `attsms send`, or every run of a key) is what `send`, `history`
and `status` speak in at a terminal; piped and `--json` they still hold every recipient.

The terminal runs are real processes on a pseudo-terminal (100 columns, 40 rows), as a person
sees them; the piped runs are the same commands with stdout a pipe."""

from __future__ import annotations

import fcntl
import os
import re
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.support import Cli, SandboxHttp

StartSandbox = Callable[..., SandboxHttp]
OUTBOX = "/sms/v3/messaging/outbox"
ROWS, COLS = 40, 100
RECIPIENTS = 3000
_ESCAPES = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\r")


def numbers(count: int, start: int = 0) -> list[str]:
    return [f"+1212{2000000 + start + i:07d}" for i in range(count)]


def in_terminal(*args: str, env: dict[str, str], timeout: float = 120) -> tuple[int, str]:
    """Run attsms with stdout and stderr on a pseudo-terminal of ROWS x COLS; what it showed
    (escape sequences and carriage returns removed) and its exit code."""
    import pty

    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLS, 0, 0))
    proc = subprocess.Popen(
        [sys.executable, "-m", "attsms", *args],
        stdin=subprocess.DEVNULL,
        stdout=follower,
        stderr=follower,
        env={**os.environ, **env, "COLUMNS": str(COLS), "LINES": str(ROWS), "NO_COLOR": "1"},
    )
    os.close(follower)
    seen = b""
    deadline = time.monotonic() + timeout
    try:
        while True:
            assert time.monotonic() < deadline, seen[-2000:]
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the follower side closed: the process is done
                break
            if not chunk:
                break
            seen += chunk
        code = proc.wait(timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(leader)
    return code, _ESCAPES.sub("", seen.decode("utf-8", "replace"))


def after_progress(text: str) -> list[str]:
    """The lines printed once the progress bar is done (it redraws one line)."""
    lines = text.split("\n")
    last_bar = max((i for i, line in enumerate(lines) if "Sending" in line), default=-1)
    return lines[last_bar + 1 :]


@pytest.fixture
def big_send(
    sandbox_http: StartSandbox, use_server: Any, tmp_path: Path
) -> tuple[SandboxHttp, Path, list[str]]:
    server = use_server(sandbox_http(delivery_seconds=0))
    people = numbers(RECIPIENTS)
    listing = tmp_path / "3000.txt"
    listing.write_text("\n".join(people) + "\n")
    # Two requests refused (400: surely not sent, never retried): 100 recipients fail.
    server.faults({"method": "POST", "path_prefix": OUTBOX, "status": 400, "count": 2})
    return server, listing, people


def test_a_big_send_at_a_terminal_is_one_screen_naming_every_failed_recipient(
    big_send: tuple[SandboxHttp, Path, list[str]], cli: Cli
) -> None:
    server, listing, _ = big_send
    code, text = in_terminal("send", "--to-file", str(listing), "-m", "Hi", env=server.env())
    assert code == 4, text
    shown = [line for line in after_progress(text) if line.strip()]
    assert len(shown) <= ROWS, "\n".join(shown)
    summary = next(line for line in shown if line.startswith("Send "))
    send_id = summary.split()[1].rstrip(":")
    assert re.fullmatch(r"[0-9a-f]{8}", send_id)
    assert "3000 recipient(s): 2900 accepted, 100 failed" in summary
    assert f"attsms history {send_id}" in text
    assert any(re.match(r"failed\s+100\b", line) for line in shown)  # the table by outcome
    listed = set(re.findall(r"\+1212\d{7}", "\n".join(shown)))
    # Every failed recipient named, no accepted one: what the history says failed.
    failed = {
        r["to"]
        for r in cli("history", send_id, "--json").json()["recipients"]
        if r["state"] == "failed"
    }
    assert len(failed) == 100 and listed == failed

    # `history` at a terminal: the 3,000 recipients are one row, with the right counts.
    code, text = in_terminal("history", env=server.env())
    assert code == 0, text
    rows = [line for line in text.split("\n") if send_id in line and "attsms" not in line]
    assert len(rows) == 1, text
    assert "3,000" in rows[0] and "2,900 not checked yet · 100 failed" in rows[0]

    # `status <id>` refreshes, then shows the summary and only who was not delivered.
    code, text = in_terminal("status", send_id, env=server.env())
    assert code == 0, text
    lines = [line for line in text.split("\n") if line.strip()]
    assert len(lines) <= ROWS, text
    # The sandbox's number rules leave some pending or impossible: the failed come first, all
    # of them named; the rest as many as the screen holds.
    states = cli("status", send_id, "--json").json()["summary"]
    assert sum(states.values()) == RECIPIENTS and states["failed"] == 100
    assert f"Send {send_id}" in text and f"{states['delivered']:,} delivered" in text
    assert failed <= set(re.findall(r"\+1212\d{7}", text))
    assert re.search(r"^failed\s+100\b", text, re.MULTILINE)
    # With no argument at a terminal: the newest send, the same view.
    code, newest = in_terminal("status", env=server.env())
    assert code == 0 and f"Send {send_id}" in newest


def test_a_big_send_piped_and_in_json_holds_every_recipient(
    big_send: tuple[SandboxHttp, Path, list[str]], cli: Cli
) -> None:
    _, listing, people = big_send
    piped = cli("send", "--to-file", str(listing), "-m", "Hi")
    assert piped.exit_code == 4
    assert len(piped.lines) == RECIPIENTS  # one TSV line a recipient, as before
    assert {line.split("\t")[1] for line in piped.lines} == set(people)
    send_id = re.search(r"Send ([0-9a-f]{8}):", piped.stderr)
    assert send_id is not None
    sid = send_id.group(1)

    history = cli("history", "--limit", "0", "--json").json()  # a request each, naming its send
    assert len(history) == RECIPIENTS // 50
    assert {b["send_id"] for b in history} == {sid}

    for command in (("history", sid), ("status", sid)):
        document = cli(*command, "--json").json()
        assert document["send_id"] == sid
        assert len(document["recipients"]) == RECIPIENTS
        assert {r["to"] for r in document["recipients"]} == set(people)
        plain = cli(*command)
        assert len(plain.lines) == RECIPIENTS
    summary = cli("status", sid, "--json").json()["summary"]
    assert sum(summary.values()) == RECIPIENTS and summary["failed"] == 100
    # With no argument, piped too: the newest send, every recipient (not the last 20 requests).
    newest = cli("status")
    assert newest.exit_code == 0, newest.stderr
    assert len(newest.lines) == RECIPIENTS
    assert {line.split("\t")[0] for line in newest.lines} == set(people)
    assert cli("status", "--json").json()["send_id"] == sid
    requests = cli("status", "--requests")  # the view before issue 29, asked for by name
    assert len({line.split("\t")[0] for line in requests.lines}) == 20


def test_a_small_send_at_a_terminal_still_lists_every_recipient(
    sandbox_http: StartSandbox, use_server: Any
) -> None:
    server = use_server(sandbox_http())
    code, text = in_terminal("send", *numbers(3), "-m", "Hi", env=server.env())
    assert code == 0, text
    for number in numbers(3):
        assert number in text
    assert re.search(r"Send [0-9a-f]{8}: 3 recipient\(s\)", text)


def test_a_send_id_prefix_is_found_and_an_ambiguous_one_refused(
    cli: Cli, sandbox_http: StartSandbox, use_server: Any
) -> None:
    from attsms.store.history import HistoryStore

    use_server(sandbox_http())
    with HistoryStore.open() as store:
        for run, n in (("abcd1111" + "0" * 24, 0), ("abcd2222" + "0" * 24, 1)):
            store.record_batch(
                profile="default",
                message="hi",
                addresses=[f"tel:{numbers(1, n)[0]}"],
                message_id=f"SMS{n:016d}",
                run_id=run,
            )
    ambiguous = cli("history", "abcd")
    assert ambiguous.exit_code == 2
    assert "ambiguous" in ambiguous.stderr and "abcd1111" in ambiguous.stderr
    one = cli("history", "abcd2", "--json").json()
    assert one["send_id"] == "abcd2222" and len(one["recipients"]) == 1
    by_message = cli("history", "SMS0000000000000000", "--json").json()
    assert by_message["send_id"] == "abcd1111"
    missing = cli("history", "ffff")
    assert missing.exit_code == 1 and "no send" in missing.stderr
    assert "Traceback" not in ambiguous.stderr + missing.stderr


def test_a_keyed_job_is_one_send_under_its_key(
    cli: Cli, sandbox_http: StartSandbox, use_server: Any
) -> None:
    server = use_server(sandbox_http())
    server.faults({"method": "POST", "path_prefix": OUTBOX, "status": 400, "count": 1})
    people = numbers(120)
    first = cli("send", *people, "-m", "Hi", "--dedupe-key", "job1")
    assert first.exit_code == 4
    again = cli("send", *people, "-m", "Hi", "--dedupe-key", "job1")
    assert again.exit_code == 0, again.stderr
    document = cli("history", "--key", "job1", "--json").json()
    assert document["dedupe_key"] == "job1"
    assert len(document["recipients"]) == 120  # the attempt of each batch that counts
    assert document["summary"] == {"not checked yet": 120}
    code, text = in_terminal("history", env=server.env())
    rows = [line for line in text.split("\n") if "job1" in line]
    assert code == 0 and len(rows) == 1 and "120 not checked yet" in rows[0], text


def test_report_takes_the_send_id(cli: Cli, sandbox_http: StartSandbox, use_server: Any) -> None:
    server = use_server(sandbox_http())
    server.faults({"method": "POST", "path_prefix": OUTBOX, "status": 400, "count": 1})
    sent = cli("send", *numbers(120), "-m", "Hi", "--json")
    assert sent.exit_code == 4
    sid = sent.json()["summary"]["send_id"]
    cli("send", *numbers(5, 500), "-m", "Another")  # a later send, not in the report
    doc = cli("report", sid, "--json").json()
    assert doc["selection"]["send_id"] == sid
    assert doc["funnel"]["recipients"]["count"] == 120
    assert doc["failures"][0]["reason"] == "SVC0001" and doc["failures"][0]["count"] == 50


def test_a_big_send_with_wait_at_a_terminal_is_the_summary_not_a_line_a_change(
    sandbox_http: StartSandbox, use_server: Any
) -> None:
    server = use_server(sandbox_http(delivery_seconds=0))
    server.faults({"method": "POST", "path_prefix": OUTBOX, "status": 400, "count": 1})
    args = ("send", *numbers(120), "-m", "Hi", "--wait", "--timeout", "20")
    code, text = in_terminal(*args, env=server.env())
    assert code == 4, text
    shown = [line for line in after_progress(text) if line.strip()]
    assert len(shown) <= ROWS, text
    assert "DeliveredToTerminal" not in text  # no line a status change
    assert "Delivery: 70 delivered" in text
    named = set(re.findall(r"\+1212\d{7}", text))  # the refused batch: whichever went first
    assert len(named) == 50 and named <= set(numbers(120))


def test_a_sends_summary_counts_who_it_left_out(
    cli: Cli, sandbox_http: StartSandbox, use_server: Any
) -> None:
    server = use_server(sandbox_http())
    people = numbers(3)
    assert cli("optout", "add", people[0]).exit_code == 0
    sent = cli("send", *people, "-m", "Hi", "--json")
    assert sent.exit_code == 0, sent.stderr
    sid = sent.json()["summary"]["send_id"]
    document = cli("history", sid, "--json").json()
    assert document["summary"] == {"not checked yet": 2, "opted out": 1}
    code, text = in_terminal("history", env=server.env())
    rows = [line for line in text.split("\n") if sid in line and "Hi" in line]
    assert code == 0 and len(rows) == 1 and "1 opted out" in rows[0], text


def test_a_sends_recipients_are_paged_newest_first_or_by_status(
    big_send: tuple[SandboxHttp, Path, list[str]], cli: Cli
) -> None:
    server, listing, people = big_send
    sent = cli("send", "--to-file", str(listing), "-m", "Hi", "--json")
    assert sent.exit_code == 4
    sid = sent.json()["summary"]["send_id"]
    everyone = cli("history", sid, "--json").json()["recipients"]
    failed = {r["to"] for r in everyone if r["state"] == "failed"}
    assert len(failed) == 100

    # At a terminal: a screenful, saying where it is and how to go on.
    code, text = in_terminal("history", sid, env=server.env())
    assert code == 0, text
    lines = [line for line in text.split("\n") if line.strip()]
    assert len(lines) <= ROWS, text
    shown = re.findall(r"\+1212\d{7}", text)
    assert 10 <= len(shown) < ROWS and shown == [r["to"] for r in everyone[: len(shown)]]
    assert f"Recipients 1–{len(shown)} of 3,000, newest first." in text
    assert f"Next: attsms history {sid} --page 2" in text
    code, second = in_terminal("history", sid, "--page", "2", env=server.env())
    assert code == 0, second
    assert re.findall(r"\+1212\d{7}", second) == [
        r["to"] for r in everyone[len(shown) : 2 * len(shown)]
    ]

    # By status: the failed first; pages of any size cover everyone once.
    code, text = in_terminal("history", sid, "--sort", "status", env=server.env())
    assert code == 0, text
    assert set(re.findall(r"\+1212\d{7}", text)) <= failed
    assert "what needs a look first" in text and "--sort status --page 2" in text
    pages = [
        cli("history", sid, "--sort", "status", "--limit", "600", "--page", str(n), "--json")
        for n in range(1, 7)
    ]
    got = [r for page in pages for r in page.json()["recipients"]]
    assert len(got) == RECIPIENTS and {r["to"] for r in got} == set(people)
    assert {r["to"] for r in got[:100]} == failed
    states = [r["state"] for r in got]
    assert states == sorted(states, key=lambda s: s != "failed")
    assert pages[-1].json()["recipients"] == []  # past the end: an empty page, no error
    refused = cli("history", sid, "--sort", "oldest")
    assert refused.exit_code == 2 and "'oldest' is not one of 'newest', 'status'" in refused.stderr
    assert cli("history", "--page", "2").exit_code == 2  # a page of a send, not of the list


def test_a_sends_listing_names_who_it_left_out_and_status_waits_for_the_newest_send(
    cli: Cli, sandbox_http: StartSandbox, use_server: Any
) -> None:
    use_server(sandbox_http(delivery_seconds=0.3))
    people = numbers(120)
    assert cli("optout", "add", people[0]).exit_code == 0
    sent = cli("send", *people, "-m", "Hi", "--json")
    assert sent.exit_code == 0, sent.stderr
    sid = sent.json()["summary"]["send_id"]
    for command in (("history", sid), ("status", sid)):
        listed = cli(*command, "--json").json()["recipients"]
        assert len(listed) == 120
        left_out = [r for r in listed if r["state"] == "opted out"]
        assert [r["to"] for r in left_out] == [people[0]] and left_out[0]["message_id"] is None
    by_status = cli("history", sid, "--sort", "status", "--json").json()["recipients"]
    assert by_status[-1]["state"] == "opted out"
    # `status --wait` with no argument: every request of the newest send (3 of them here).
    waited = cli("status", "--wait", "--interval", "0.1", "--timeout", "20", "--json")
    assert waited.exit_code == 0, waited.stderr
    documents = waited.json()
    assert len(documents) == 3 and all(d["final"] for d in documents)
    assert sum(len(d["deliveries"]) for d in documents) == 119
