"""`attsms inbox pull` end to end against the sandbox over HTTP: drains, crashes, faults, locks.

The service forgets what it returns, so every test checks the same thing from the user's side:
each injected message ends up in the store exactly once, and is printed at most once.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from attsms.core.errors import ExitCode
from tests.helpers.support import Cli, SandboxHttp, both_dialects

Server = Callable[..., SandboxHttp]
ALICE = "+12125550100"
INBOX_PATH = "/sms/v3/messaging/inbox"


def stored(cli: Cli) -> list[dict[str, Any]]:
    """Every stored message, in the order stored (`inbox export`; `inbox list` orders by the
    messages' own time, and the sandbox stamps a burst with one second)."""
    result = cli("inbox", "export", "--json")
    assert result.exit_code == 0, result.stderr
    data: list[dict[str, Any]] = result.json()
    return data


def texts(records: list[dict[str, Any]]) -> list[str]:
    return [r["text"] for r in records]


def numbered(text: str, count: int) -> list[str]:
    """The texts `inject(..., count=n)` gives its messages."""
    return [f"{text} #{n}" for n in range(1, count + 1)]


def jsonl(stdout: str | bytes) -> list[dict[str, Any]]:
    text = stdout.decode() if isinstance(stdout, bytes) else stdout
    return [json.loads(line) for line in text.splitlines()]


def inbox_calls(server: SandboxHttp) -> int:
    return int(server.stats()["attempts"].get("inbox", 0))


def pending(server: SandboxHttp) -> int:
    # Injecting one more message reports the queue length; that message is counted out.
    return int(server.inject(ALICE, "probe")["pending"]) - 1


def wait_for(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.05)


@pytest.fixture
def blocked_pull(
    cli: Cli, use_server: Callable[[SandboxHttp], None]
) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    """Start `inbox pull --jsonl` in a process whose stdout nobody reads yet.

    Its first batch (1000 long messages, far more than a pipe holds) is committed, then the
    process blocks writing it: stopped exactly between a batch's answer and its printing, with
    the pull lock held. Returns once the first batch is in the store.
    """
    started: list[subprocess.Popen[bytes]] = []

    def start(server: SandboxHttp, *args: str) -> subprocess.Popen[bytes]:
        use_server(server)
        proc = subprocess.Popen(
            [sys.executable, "-m", "attsms", "inbox", "pull", "12345", "--jsonl", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=os.environ.copy(),
        )
        started.append(proc)
        wait_for(lambda: len(stored(cli)) >= 1000)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


LONG = "x" * 400  # 1000 of these are ~450 KB of JSON lines: more than any pipe buffer


# --- draining --------------------------------------------------------------------------------


@both_dialects
def test_drains_every_batch_until_nothing_is_pending(
    cli: Cli, sandbox_http: Server, use_server: Callable[[SandboxHttp], None]
) -> None:
    server = sandbox_http(inbox_batch_size=100)
    server.inject(ALICE, "hi", count=250)
    use_server(server)
    result = cli("inbox", "pull", "12345", "--jsonl")
    assert result.exit_code == 0, result.stderr
    assert texts(jsonl(result.stdout)) == numbered("hi", 250)
    assert inbox_calls(server) == 3
    assert result.stderr == "Pulled 250 new messages from 12345.\n"
    assert texts(stored(cli)) == numbered("hi", 250)

    again = cli("inbox", "pull", "12345", "--jsonl")
    assert (again.exit_code, again.stdout) == (0, "")
    assert again.stderr == "Pulled 0 new messages from 12345.\n"


def test_max_stops_after_the_batch_that_reaches_it_and_the_next_run_goes_on(
    cli: Cli, sandbox_http: Server, use_server: Callable[[SandboxHttp], None]
) -> None:
    server = sandbox_http(inbox_batch_size=100)
    server.inject(ALICE, "hi", count=250)
    use_server(server)
    first = cli("inbox", "pull", "12345", "--max", "150", "--jsonl")
    assert first.exit_code == 0
    assert len(jsonl(first.stdout)) == 200  # two whole batches: none is split
    assert "50 more waiting" in first.stderr
    rest = cli("inbox", "pull", "12345", "--max", "150", "--jsonl")
    assert texts(jsonl(first.stdout) + jsonl(rest.stdout)) == numbered("hi", 250)
    assert len(stored(cli)) == 250


def test_piped_output_is_one_tsv_line_a_message(
    cli: Cli, sandbox_http: Server, use_server: Callable[[SandboxHttp], None]
) -> None:
    server = sandbox_http()
    server.inject(ALICE, "two\tlines\nhere")
    use_server(server)
    result = cli("inbox", "pull", "12345")
    assert result.exit_code == 0
    [line] = result.lines
    received_at, sender, message_id, text = line.split("\t")
    assert (sender, text) == (ALICE, "two lines here")
    assert message_id.startswith("MSG") and received_at.endswith("Z")
    assert stored(cli)[0]["text"] == "two\tlines\nhere"  # folded on screen only


@both_dialects
def test_json_document_and_keyword_flags(
    cli: Cli, sandbox_http: Server, use_server: Callable[[SandboxHttp], None]
) -> None:
    server = sandbox_http()
    for sender, text in [(ALICE, " Stop "), ("+12125550101", "help"), ("+12125550102", "hi")]:
        server.inject(sender, text)
    use_server(server)
    result = cli("inbox", "pull", "12345", "--json")
    assert result.exit_code == 0
    document = result.json()
    assert document["new"] == 3 and document["pending"] == 0
    assert document["opted_out"] == [ALICE]
    assert [(m["from"], m["keyword"]) for m in document["messages"]] == [
        (ALICE, "stop"),
        ("+12125550101", "help"),
        ("+12125550102", None),
    ]
    assert result.stderr == "Pulled 3 new messages (1 opt-out) from 12345.\n"
    assert cli("inbox", "pull", "12345", "-q").stderr == ""


def test_registration_id_comes_from_the_argument_or_the_profile(
    cli: Cli,
    sandbox_http: Server,
    use_server: Callable[[SandboxHttp], None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = sandbox_http()
    server.inject(ALICE, "hi")
    use_server(server)
    missing = cli("inbox", "pull")
    assert missing.exit_code == ExitCode.USAGE
    assert "registration ID" in missing.stderr and "ATTSMS_REGISTRATION_ID" in missing.stderr
    assert inbox_calls(server) == 0
    monkeypatch.setenv("ATTSMS_REGISTRATION_ID", "12345")
    assert texts(jsonl(cli("inbox", "pull", "--jsonl").stdout)) == ["hi"]
    unknown = cli("inbox", "pull", "99999")  # the argument wins over the profile's
    assert unknown.exit_code == ExitCode.ERROR
    assert "99999" in unknown.stderr


def test_sandbox_flag_pulls_from_the_built_in_sandbox(cli: Cli) -> None:
    assert (
        cli("--sandbox", "sandbox", "inject", "--from", ALICE, "--count", "3", "hi").exit_code == 0
    )
    result = cli("--sandbox", "inbox", "pull", "--jsonl")
    assert result.exit_code == 0, result.stderr
    assert texts(jsonl(result.stdout)) == numbered("hi", 3)
    assert texts(jsonl(cli("--sandbox", "inbox", "export").stdout)) == numbered("hi", 3)


# --- crashes and faults ----------------------------------------------------------------------


def test_sigkill_between_storing_and_printing_loses_nothing(
    cli: Cli,
    sandbox_http: Server,
    blocked_pull: Callable[..., subprocess.Popen[bytes]],
) -> None:
    server = sandbox_http(inbox_batch_size=1000)
    server.inject(ALICE, LONG, count=1500)
    proc = blocked_pull(server)
    proc.send_signal(signal.SIGKILL)
    out, _ = proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    printed = out.decode().splitlines()
    assert len(printed) < 1000  # killed part-way through printing the batch
    assert texts(stored(cli)) == numbered(LONG, 1000)  # …yet all of it is stored

    rest = cli("inbox", "pull", "12345", "--jsonl")
    assert rest.exit_code == 0
    assert texts(jsonl(rest.stdout)) == numbered(LONG, 1500)[1000:]  # nothing stored is reprinted
    assert texts(stored(cli)) == numbered(LONG, 1500)


def test_a_5xx_mid_drain_keeps_the_stored_batches_and_the_next_run_goes_on(
    cli: Cli,
    sandbox_http: Server,
    blocked_pull: Callable[..., subprocess.Popen[bytes]],
) -> None:
    server = sandbox_http(inbox_batch_size=1000)
    server.inject(ALICE, LONG, count=2000)
    proc = blocked_pull(server)
    # Every try at the second batch fails (the client retries 4 times; Retry-After 0: at once).
    server.faults(
        {"path_prefix": INBOX_PATH, "status": 503, "count": 4, "headers": {"Retry-After": "0"}}
    )
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == ExitCode.TEMPFAIL
    assert len(out.decode().splitlines()) == 1000
    stderr = err.decode()
    assert "Stored 1000 new messages from 12345 before the error." in stderr
    assert "SVC1000" in stderr and "Traceback" not in stderr
    assert len(stored(cli)) == 1000
    assert pending(server) == 1000

    rest = cli("inbox", "pull", "12345", "--jsonl")
    assert rest.exit_code == 0
    assert len(jsonl(rest.stdout)) == 1001  # the rest, and the probe
    assert texts(stored(cli))[:2000] == numbered(LONG, 2000)


def test_a_timeout_mid_drain_exits_75_with_the_first_batches_stored(
    cli: Cli,
    sandbox_http: Server,
    use_server: Callable[[SandboxHttp], None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from attsms.api.client import RetryPolicy
    from attsms.store.inbox import InboxStore

    server = sandbox_http(inbox_batch_size=100)
    server.inject(ALICE, "hi", count=300)
    use_server(server)
    monkeypatch.setenv("ATTSMS_TIMEOUT", "0.3")
    monkeypatch.setattr(RetryPolicy, "delay", lambda self, attempt, retry_after: 0.0)
    add_batch = InboxStore.add_batch

    commits: list[int] = []

    def add_then_stall_the_service(self: InboxStore, *args: Any, **kwargs: Any) -> Any:
        result = add_batch(self, *args, **kwargs)
        commits.append(1)
        if len(commits) == 1:  # after the first commit, every try at the next batch times out
            server.faults({"path_prefix": INBOX_PATH, "delay_ms": 2000, "count": 4})
        return result

    monkeypatch.setattr(InboxStore, "add_batch", add_then_stall_the_service)
    result = cli("inbox", "pull", "12345", "--jsonl")
    assert result.exit_code == ExitCode.TEMPFAIL
    assert texts(jsonl(result.stdout)) == numbered("hi", 100)
    assert "no answer" in result.stderr
    assert texts(stored(cli)) == numbered("hi", 100)


def test_a_dropped_connection_is_retried_without_losing_or_doubling(
    cli: Cli, sandbox_http: Server, use_server: Callable[[SandboxHttp], None]
) -> None:
    server = sandbox_http(inbox_batch_size=100)
    server.inject(ALICE, "hi", count=150)
    server.faults({"path_prefix": INBOX_PATH, "drop_connection": True, "count": 1})
    use_server(server)
    result = cli("inbox", "pull", "12345", "--jsonl")
    assert result.exit_code == 0, result.stderr
    assert texts(jsonl(result.stdout)) == numbered("hi", 150)


def test_an_unwritable_store_fails_before_the_service_is_called(
    cli: Cli,
    sandbox_http: Server,
    use_server: Callable[[SandboxHttp], None],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Any,
) -> None:
    server = sandbox_http()
    server.inject(ALICE, "hi")
    use_server(server)
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("")
    monkeypatch.setenv("ATTSMS_DATA_DIR", str(not_a_dir))
    result = cli("inbox", "pull", "12345")
    assert result.exit_code == ExitCode.ERROR
    assert "cannot create the inbox store" in result.stderr
    assert not any(server.stats()["attempts"].values())  # not even a token was asked for
    assert pending(server) == 1


def test_a_batch_that_cannot_be_stored_is_printed_rather_than_lost(
    cli: Cli,
    sandbox_http: Server,
    use_server: Callable[[SandboxHttp], None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from attsms.core.errors import StoreError
    from attsms.store.inbox import InboxStore

    server = sandbox_http(inbox_batch_size=100)
    server.inject(ALICE, "hi", count=300)
    use_server(server)
    add_batch = InboxStore.add_batch
    calls: list[int] = []

    def disk_full_on_the_second_batch(self: InboxStore, *args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 2:
            raise StoreError("cannot write to the inbox store: database or disk is full")
        return add_batch(self, *args, **kwargs)

    monkeypatch.setattr(InboxStore, "add_batch", disk_full_on_the_second_batch)
    result = cli("inbox", "pull", "12345", "--jsonl")
    assert result.exit_code == ExitCode.ERROR
    assert texts(jsonl(result.stdout)) == numbered("hi", 200)  # stored 100 + unstored 100
    assert "100 messages fetched from the service could not be stored" in result.stderr
    assert "printed on stdout" in result.stderr
    assert len(stored(cli)) == 100
    assert pending(server) == 100  # nothing more was fetched after the failure


# --- locking ---------------------------------------------------------------------------------


def test_a_second_pull_exits_75_without_calling_the_service_or_waits_its_turn(
    cli: Cli,
    sandbox_http: Server,
    blocked_pull: Callable[..., subprocess.Popen[bytes]],
) -> None:
    server = sandbox_http(inbox_batch_size=1000)
    server.inject(ALICE, LONG, count=1500)
    first = blocked_pull(server)
    calls = inbox_calls(server)

    second = cli.process("inbox", "pull", "12345")
    assert second.exit_code == ExitCode.TEMPFAIL
    assert "another `attsms inbox pull` for 12345 is running" in second.stderr
    assert inbox_calls(server) == calls

    waiting = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "attsms",
            "inbox",
            "pull",
            "12345",
            "--lock-timeout",
            "60",
            "--jsonl",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    time.sleep(0.5)
    first_out, _ = first.communicate(timeout=60)  # unblock the first: it finishes, then the second
    waiting_out, waiting_err = waiting.communicate(timeout=60)
    assert (first.returncode, waiting.returncode) == (0, 0), waiting_err
    printed = texts(jsonl(first_out)) + texts(jsonl(waiting_out))
    assert printed == numbered(LONG, 1500)
    assert len(stored(cli)) == 1500


def test_two_pulls_started_together_store_and_print_each_message_once(
    cli: Cli,
    sandbox_http: Server,
    use_server: Callable[[SandboxHttp], None],
    tmp_path: Path,
) -> None:
    server = sandbox_http(inbox_batch_size=50)
    server.inject(ALICE, "hi", count=1000)
    use_server(server)
    argv = [sys.executable, "-m", "attsms", "inbox", "pull", "12345", "--jsonl"]
    # Files, not pipes: a pipe nobody reads yet would block its writer while it holds the lock.
    outs = [tmp_path / f"out{n}" for n in range(3)]
    with contextlib.ExitStack() as files:
        procs = [
            subprocess.Popen(
                [*argv, *extra],
                stdout=files.enter_context(out.open("wb")),
                stderr=subprocess.PIPE,
            )
            for out, extra in zip(
                outs, (["--lock-timeout", "30"], ["--lock-timeout", "30"], []), strict=True
            )
        ]
        errors = [proc.communicate(timeout=60)[1] for proc in procs]
    codes = [proc.returncode for proc in procs]
    assert codes[:2] == [0, 0] and codes[2] in (0, ExitCode.TEMPFAIL), errors
    printed = [text for out in outs for text in texts(jsonl(out.read_bytes()))]
    assert sorted(printed) == sorted(numbered("hi", 1000))
    assert sorted(texts(stored(cli))) == sorted(numbered("hi", 1000))


# --- pipes -----------------------------------------------------------------------------------


def test_stdout_closed_early_is_quiet_and_keeps_what_was_fetched(
    cli: Cli, sandbox_http: Server, use_server: Callable[[SandboxHttp], None]
) -> None:
    server = sandbox_http(inbox_batch_size=500)
    server.inject(ALICE, LONG, count=1500)
    use_server(server)
    pull = subprocess.Popen(
        [sys.executable, "-m", "attsms", "inbox", "pull", "12345", "--jsonl"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert pull.stdout is not None
    head = subprocess.run(["head", "-1"], stdin=pull.stdout, capture_output=True, check=True)
    pull.stdout.close()
    _, err = pull.communicate(timeout=60)
    assert len(head.stdout.splitlines()) == 1
    assert err.decode() == ""  # no traceback, no "Exception ignored" noise
    assert pull.returncode == ExitCode.BROKEN_PIPE  # 128 + SIGPIPE, as a shell reports it
    kept = stored(cli)
    assert len(kept) >= 500  # the batch being printed was stored first
    assert len(kept) + pending(server) == 1500  # and the rest is still at the service
    assert cli("inbox", "pull", "12345", "-q").exit_code == 0
    assert len(stored(cli)) == 1501


# --- opt-out keywords and send ---------------------------------------------------------------


@both_dialects
def test_opt_out_keywords_in_any_case_and_spacing(
    cli: Cli, sandbox_http: Server, use_server: Callable[[SandboxHttp], None]
) -> None:
    server = sandbox_http()
    stops = ["STOP", "  stop  ", "Stop\n", "\tQuit", "end", "CanCel", "unsubscribe"]
    numbers = [f"+1212555{n:04d}" for n in range(len(stops))]
    for number, text in zip(numbers, stops, strict=True):
        server.inject(number, text)
    server.inject("+12125559999", "stop please")  # not a keyword: the whole message counts
    use_server(server)
    assert cli("inbox", "pull", "12345", "-q").exit_code == 0
    listed = cli("optout", "list", "--json").json()
    assert sorted(o["number"] for o in listed) == sorted(numbers)

    for number, text in zip(numbers, ["START", " yes ", "Unstop", "start"], strict=False):
        server.inject(number, text)
    result = cli("inbox", "pull", "12345")
    assert "(4 opt-ins)" in result.stderr
    assert sorted(o["number"] for o in cli("optout", "list", "--json").json()) == sorted(
        numbers[4:]
    )


@both_dialects
def test_send_refuses_a_number_that_texted_stop_until_it_texts_start(
    cli: Cli, sandbox_http: Server, use_server: Callable[[SandboxHttp], None]
) -> None:
    server = sandbox_http()
    server.inject(ALICE, "Stop")
    use_server(server)
    assert cli("inbox", "pull", "12345", "-q").exit_code == 0

    refused = cli("send", "(212) 555-0100", "-m", "hello")
    assert refused.exit_code == ExitCode.USAGE
    assert "opted out" in refused.stderr and ALICE in refused.stderr
    assert server.stats()["attempts"].get("send", 0) == 0
    assert cli("send", ALICE, "-m", "hello", "--ignore-opt-out").exit_code == 0

    server.inject(ALICE, "START")
    assert cli("inbox", "pull", "12345", "-q").exit_code == 0
    assert cli("send", ALICE, "-m", "hello again").exit_code == 0
    assert server.stats()["attempts"]["send"] == 2


# --- a sender or time that is not one (issue 23, receive side) --------------------------------


def _batch_answer(*messages: dict[str, Any]) -> dict[str, Any]:
    """A fault rule making the next inbox call answer these messages (the sandbox itself only
    holds valid senders): the service hands out whatever it has."""
    items = [
        {"messageId": f"ODD{n}", "destinationAddress": "12345", **message}
        for n, message in enumerate(messages, 1)
    ]
    body = {
        "inboundSMSMessageList": {"inboundSMSMessage": items, "totalNumberOfPendingMessages": 0}
    }
    return {"path_prefix": INBOX_PATH, "status": 200, "body": json.dumps(body)}


WHEN = "2026-12-01T00:00:00Z"


def test_an_unreadable_sender_or_time_is_stored_as_it_came_without_an_opt_out(
    cli: Cli, sandbox_http: Server, use_server: Callable[[SandboxHttp], None]
) -> None:
    server = sandbox_http()
    use_server(server)
    server.faults(
        _batch_answer(
            {"senderAddress": "garbage", "message": "STOP", "dateTime": WHEN},
            {"senderAddress": "tel:+1212", "message": "STOP", "dateTime": WHEN},
            {"senderAddress": "tel:+12125550100", "message": "STOP", "dateTime": WHEN},
            {"senderAddress": "tel:+12125550199", "message": "hi", "dateTime": "garbage"},
            {"senderAddress": "+447700900123", "message": "STOP", "dateTime": WHEN},
            {"message": "START"},  # no sender at all: no opt-in of "" either
        )
    )
    result = cli("inbox", "pull", "12345", "--json")
    assert result.exit_code == 0, result.stderr
    pulled = result.json()
    assert pulled["unreadable"] == 4  # garbage, tel:+1212, the time, no sender
    assert pulled["new"] == 6
    # Only the valid senders' STOPs count; an international sender takes listen's wire form.
    assert pulled["opted_out"] == ["+12125550100", "+447700900123"]
    keywords = {m["message_id"]: m["keyword"] for m in pulled["messages"]}
    assert keywords == {"ODD1": None, "ODD2": None, "ODD3": "stop", "ODD4": None,
                        "ODD5": "stop", "ODD6": None}  # fmt: skip
    warnings = [line for line in result.stderr.splitlines() if "warning" in line]
    assert warnings == [
        "attsms: warning: 4 messages with an unreadable sender or time were stored as they came"
        " (no keyword, no opt-out; dated when stored); see attsms inbox list"
    ]
    assert "Traceback" not in result.stderr
    optouts = cli("optout", "list", "--json").json()
    assert sorted(o["number"] for o in optouts) == ["+12125550100", "+447700900123"]

    everything = {m["message_id"]: m for m in stored(cli)}
    assert sorted(everything) == [f"ODD{n}" for n in range(1, 7)]  # nothing pulled is lost
    assert everything["ODD1"]["from"] == "garbage"  # as it came, for a person to read
    assert everything["ODD4"]["received_at"] == "garbage"

    # A time that is not one is dated by its arrival: in `--since 1h`, but no match for a
    # --since after it (it would otherwise sort anywhere, or match every --since).
    recent = cli("inbox", "list", "--since", "1h", "--json", "--limit", "0")
    assert "ODD4" in {m["message_id"] for m in recent.json()}
    later = cli("inbox", "list", "--since", "2099-01-01", "--json", "--limit", "0")
    assert later.json() == []


def test_the_unreadable_warning_shows_under_quiet_and_once_per_run(
    cli: Cli, sandbox_http: Server, use_server: Callable[[SandboxHttp], None]
) -> None:
    server = sandbox_http()
    use_server(server)
    odd = {"senderAddress": "garbage", "message": "STOP", "dateTime": WHEN}
    server.faults(_batch_answer(odd, {**odd, "messageId": "ODD9"}))
    result = cli("inbox", "pull", "12345", "-q", "--jsonl")
    assert result.exit_code == 0, result.stderr
    assert len(jsonl(result.stdout)) == 2
    assert result.stderr == (
        "attsms: warning: 2 messages with an unreadable sender or time were stored as they came"
        " (no keyword, no opt-out; dated when stored); see attsms inbox list\n"
    )
    server.faults(_batch_answer(odd))  # handed out again: already stored, nothing to say
    again = cli("inbox", "pull", "12345", "-q", "--json")
    assert again.exit_code == 0 and again.stderr == ""
    assert again.json()["unreadable"] == 0


def test_a_clean_pull_reports_no_unreadable_messages(
    cli: Cli, sandbox_http: Server, use_server: Callable[[SandboxHttp], None]
) -> None:
    server = sandbox_http()
    use_server(server)
    server.inject(ALICE, "STOP")
    result = cli("inbox", "pull", "12345", "--json")
    assert result.exit_code == 0 and "warning" not in result.stderr
    assert (result.json()["unreadable"], result.json()["opted_out"]) == (0, [ALICE])
