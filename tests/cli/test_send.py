"""`attsms send` as a user meets it, against the sandbox over real HTTP.

Most runs are in-process (`cli(...)` with the environment pointing at a `sandbox_http` server) for
speed; the ones about processes (stdin bytes, what is on disk while a request is in flight) run a
real `attsms` process. The sandbox's own counters (/sandbox/stats) say what reached the service.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from attsms.core.numbers import is_us_area_code
from attsms.store.history import HistoryStore, Outcome, history_path
from tests.helpers.support import Cli, Result, SandboxHttp, both_dialects

StartSandbox = Callable[..., SandboxHttp]
OUTBOX = "/sms/v3/messaging/outbox"


def numbers(count: int, start: int = 0) -> list[str]:
    """`count` distinct US numbers as E.164 strings; the sandbox delivers them all."""
    return [f"+1212{2000000 + start + i:07d}" for i in range(count)]


def wire(number: str) -> str:
    return f"tel:{number}"


def rows(result: Result) -> list[list[str]]:
    return [line.split("\t") for line in result.lines]


def sent_to(server: SandboxHttp) -> Counter[str]:
    return Counter(server.stats()["delivered_to"])


def send_attempts(server: SandboxHttp) -> int:
    return int(server.stats()["attempts"].get("send", 0))


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def history() -> Iterator[Callable[[], HistoryStore]]:
    stores: list[HistoryStore] = []

    def open_store() -> HistoryStore:
        stores.append(HistoryStore.open())
        return stores[-1]

    yield open_store
    for store in stores:
        store.close()


# --- batching and normalization ----------------------------------------------------------------


@pytest.mark.parametrize("count", [1, 50, 51, 120])
@both_dialects
def test_batches_of_50_each_address_once(
    cli: Cli, sandbox_http: StartSandbox, use_server: Any, tmp_path: Path, count: int
) -> None:
    server = use_server(sandbox_http())
    wanted = numbers(count)
    # The same numbers again, typed differently: dropped before sending.
    typed_again = [f"({n[2:5]}) {n[5:8]}-{n[8:]}" for n in wanted[:10]]
    to_file = write(tmp_path / "to.txt", ["# staff", *wanted, "", *typed_again])
    result = cli("send", "--to-file", str(to_file), "-m", "Gate changed")
    assert result.exit_code == 0, result.stderr
    assert server.stats()["send_requests"] == math.ceil(count / 50)
    assert sent_to(server) == Counter(wire(n) for n in wanted)
    table = rows(result)
    assert [row[1:] for row in table] == [[n, "accepted"] for n in wanted]
    per_message = Counter(row[0] for row in table)
    assert len(per_message) == math.ceil(count / 50)
    assert max(per_message.values()) <= 50


# Area codes of the US: the service texts US numbers only (Canada and the Caribbean are refused).
NPA = st.sampled_from([str(a) for a in range(200, 1000) if is_us_area_code(str(a))])
NXX = st.integers(200, 999).map(str)
LINE = st.integers(0, 9999).map(lambda n: f"{n:04d}")
FORMATS = ["({a}) {x}-{l}", "{a}.{x}.{l}", "+1 {a} {x} {l}", "1{a}{x}{l}", "tel:+1{a}{x}{l}"]


@pytest.fixture
def server(sandbox_http: StartSandbox, use_server: Any) -> SandboxHttp:
    """One sandbox for a whole test (hypothesis runs every example against it)."""
    started: SandboxHttp = use_server(sandbox_http())
    return started


@pytest.mark.slow  # a dozen real sends: ~0.3 s each
@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(NPA, NXX, LINE, st.lists(st.sampled_from(FORMATS), min_size=1, max_size=4))
def test_any_nanp_number_typed_any_way_reaches_the_service_once_in_e164(
    cli: Cli, server: SandboxHttp, a: str, x: str, ln: str, formats: list[str]
) -> None:
    before = sent_to(server)
    typed = [f.format(a=a, x=x, l=ln) for f in formats]
    result = cli("send", *typed, "-m", "hi")
    assert result.exit_code == 0, result.stderr
    assert [row[1:] for row in rows(result)] == [[f"+1{a}{x}{ln}", "accepted"]]
    assert sent_to(server) - before == Counter({f"tel:+1{a}{x}{ln}": 1})


def test_invalid_numbers_are_all_named_and_nothing_is_sent(
    cli: Cli, sandbox_http: StartSandbox, use_server: Any
) -> None:
    server = use_server(sandbox_http())
    result = cli("send", "+12125550100", "banana", "555-0100", "12", "-m", "hi")
    assert result.exit_code == 2
    assert "banana" in result.stderr and "555-0100" in result.stderr and "'12'" in result.stderr
    assert result.stdout == ""
    assert server.stats()["send_requests"] == 0


# --- concurrency, rate cap, 429 ------------------------------------------------------------------


def test_batches_go_concurrently(sandbox_http: StartSandbox, tmp_path: Path) -> None:
    """Six requests in flight at once: the server has taken all six while the history still
    records every one as in flight (no answer yet). One at a time, the second request would only
    leave after the first answer. An order of events, not a wall-clock bound."""
    server = sandbox_http(latency_ms=1500)
    proc = subprocess.Popen(
        [sys.executable, "-m", "attsms", "send", *numbers(300), "-m", "hi", "--concurrency", "6"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, **server.env()},
    )
    try:
        in_flight_together = False
        while proc.poll() is None and not in_flight_together:
            if send_attempts(server) == 6 and history_path().exists():
                with HistoryStore.open() as store:
                    outcomes = [b.outcome for b in store.recent(None)]
                in_flight_together = outcomes.count(Outcome.SENDING) == 6
            time.sleep(0.02)
        assert in_flight_together
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()


def test_rate_cap_keeps_under_the_service_limit(
    cli: Cli, sandbox_http: StartSandbox, use_server: Any
) -> None:
    server = use_server(sandbox_http(rate_limit=5))  # any request past 5 in a clock second: 429
    started = time.monotonic()
    capped = cli("send", *numbers(250), "-m", "hi", "--rate", "3/s")
    elapsed = time.monotonic() - started
    assert capped.exit_code == 0, capped.stderr
    assert send_attempts(server) == 5  # not one 429 (with the token call, 4 a second at most)
    assert elapsed >= 4 / 3 - 0.05  # five starts, a third of a second apart
    # Uncapped, twelve requests at once trip the same limit (and wait out Retry-After).
    burst = cli("send", *numbers(600, start=1000), "-m", "hi", "--concurrency", "12")
    assert burst.exit_code == 0, burst.stderr
    assert send_attempts(server) > 5 + 12


def test_429_and_pol0001_are_retried(
    cli: Cli, sandbox_http: StartSandbox, use_server: Any, no_retry_wait: None
) -> None:
    server = use_server(sandbox_http())
    policy = json.dumps(
        {"RequestError": {"PolicyException": {"MessageId": "POL0001", "Text": "Rate limit"}}}
    )
    server.faults(
        {"path_prefix": OUTBOX, "status": 429, "headers": {"Retry-After": "0"}, "count": 2},
        {"path_prefix": OUTBOX, "status": 403, "body": policy, "count": 1},
    )
    result = cli("send", *numbers(150), "-m", "hi")
    assert result.exit_code == 0, result.stderr
    assert send_attempts(server) == 3 + 3
    assert sent_to(server) == Counter(wire(n) for n in numbers(150))


# --- partial failure ----------------------------------------------------------------------------


def test_batch_that_is_rate_limited_past_the_deadline_fails_and_the_rest_go(
    cli: Cli, sandbox_http: StartSandbox, use_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = use_server(sandbox_http())
    monkeypatch.setenv("ATTSMS_RATE_LIMIT_TIMEOUT", "0")  # give up at the first rate limit
    server.faults(
        {"path_prefix": OUTBOX, "status": 429, "headers": {"Retry-After": "0"}, "count": 1}
    )
    result = cli("send", *numbers(150), "-m", "hi", "--concurrency", "1")
    assert result.exit_code == 4
    table = rows(result)
    assert Counter(row[2] for row in table) == Counter({"failed": 50, "accepted": 100})
    assert all("HTTP 429" in row[3] for row in table if row[2] == "failed")
    assert all(row[0] == "" for row in table if row[2] == "failed")
    assert sent_to(server) == Counter(wire(n) for n in numbers(150)[50:])
    [error] = [line for line in result.stderr.splitlines() if line.startswith("attsms: error")]
    assert "1 of 3 batch(es) (50 recipients) failed" in error
    assert "lower --rate" in error


def test_partial_failure_with_fail_rate(
    cli: Cli, sandbox_http: StartSandbox, use_server: Any, no_retry_wait: None
) -> None:
    # 503 SVC1000 on 70% of requests: a send answered 5xx may have gone, so its batch is
    # unknown (exit 5) and never retried.
    server = use_server(sandbox_http(fail_rate=0.7, seed=3))
    wanted = numbers(400)
    result = cli("send", *wanted, "-m", "hi", "--concurrency", "1", "--json")
    assert result.exit_code == 5, result.stderr
    messages = result.json()["messages"]
    accepted = {m["address"] for m in messages if m["result"] == "accepted"}
    unknown = {m["address"] for m in messages if m["result"] == "unknown"}
    assert accepted and unknown and accepted | unknown == {wire(n) for n in wanted}
    assert sent_to(server) == Counter(accepted)  # each accepted once, no unknown one at all
    assert send_attempts(server) == 8  # one request a batch: none retried
    assert all("SVC1000" in m["error"] for m in messages if m["result"] == "unknown")


def test_when_every_batch_fails_the_error_is_the_exit(
    cli: Cli, sandbox_http: StartSandbox, use_server: Any
) -> None:
    server = use_server(sandbox_http())
    server.faults({"path_prefix": OUTBOX, "status": 400, "count": 10})
    result = cli("send", *numbers(60), "-m", "hi")
    assert result.exit_code == 2  # a 400: the service refused the input
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and "HTTP 400" in result.stderr


def test_refused_credentials_stop_the_remaining_batches(
    cli: Cli, sandbox_http: StartSandbox, use_server: Any
) -> None:
    server = use_server(sandbox_http())
    cli("send", "+12125550100", "-m", "warm the token cache")
    # Every send answered 401 from here on: refreshing the token does not help.
    server.faults({"path_prefix": OUTBOX, "status": 401, "count": 100})
    before = send_attempts(server)
    result = cli("send", *numbers(250), "-m", "hi", "--concurrency", "1")
    assert result.exit_code == 3
    assert send_attempts(server) - before == 2  # one batch: its try and one after a new token
    assert "attsms login" in result.stderr


def test_wrong_secret_is_exit_3_and_nothing_sent(
    cli: Cli, sandbox_http: StartSandbox, use_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = use_server(sandbox_http())
    monkeypatch.setenv("ATTSMS_CLIENT_SECRET", "wrong")
    result = cli("send", *numbers(120), "-m", "hi")
    assert result.exit_code == 3
    assert server.stats()["send_requests"] == 0


# --- unknown outcomes and --dedupe-key ---------------------------------------------------------


def test_timeout_after_send_is_unknown_exit_5_and_never_resent(
    cli: Cli, sandbox_http: StartSandbox, use_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = use_server(sandbox_http())
    monkeypatch.setenv("ATTSMS_TIMEOUT", "0.5")
    # The first send is processed (the texts go), but its answer comes after the client gave up.
    server.faults({"path_prefix": OUTBOX, "after_processing": True, "delay_ms": 2000})
    wanted = numbers(150)
    args = ("send", *wanted, "-m", "hi", "--concurrency", "1", "--dedupe-key", "job-1")
    first = cli(*args)
    assert first.exit_code == 5, first.stderr
    assert Counter(row[2] for row in rows(first)) == Counter({"unknown": 50, "accepted": 100})
    assert "may or may not have been sent" in first.stderr
    assert send_attempts(server) == 3
    assert sent_to(server) == Counter(wire(n) for n in wanted)  # each once

    again = cli(*args)
    assert again.exit_code == 5  # still unknown: a person has to decide
    assert Counter(row[2] for row in rows(again)) == Counter({"unknown": 50, "already-sent": 100})
    assert send_attempts(server) == 3  # nothing resent

    resent = cli(*args, "--resend-unknown")
    assert resent.exit_code == 0, resent.stderr
    assert Counter(row[2] for row in rows(resent)) == Counter({"accepted": 50, "already-sent": 100})
    assert send_attempts(server) == 4
    assert sent_to(server) == Counter(wire(n) for n in [*wanted, *wanted[:50]])


@both_dialects
def test_dedupe_rerun_sends_only_what_did_not_go(
    cli: Cli, sandbox_http: StartSandbox, use_server: Any
) -> None:
    server = use_server(sandbox_http())
    server.faults({"path_prefix": OUTBOX, "status": 400, "count": 1})
    wanted = numbers(150)
    args = ("send", *wanted, "-m", "Rain date is Sunday", "--dedupe-key", "rain", "--json")
    first = cli(*args, "--concurrency", "1")
    assert first.exit_code == 4
    assert first.json()["summary"]["failed"] == 50

    second = cli(*args)
    assert second.exit_code == 0, second.stderr
    summary = second.json()["summary"]
    assert (summary["accepted"], summary["already_sent"], summary["requests"]) == (50, 100, 1)
    first_ids = {m["address"]: m["message_id"] for m in first.json()["messages"]}
    for message in second.json()["messages"]:
        if message["result"] == "already-sent":
            assert message["message_id"] == first_ids[message["address"]]

    third = cli(*args)
    assert third.exit_code == 0
    assert third.json()["summary"]["already_sent"] == 150
    assert third.json()["summary"]["requests"] == 0
    assert sent_to(server) == Counter(wire(n) for n in wanted)  # nobody texted twice


def test_dedupe_key_reused_for_another_job_is_refused(
    cli: Cli, sandbox_http: StartSandbox, use_server: Any
) -> None:
    server = use_server(sandbox_http())
    assert cli("send", "+12125550100", "-m", "one", "--dedupe-key", "k").exit_code == 0
    other_text = cli("send", "+12125550100", "-m", "two", "--dedupe-key", "k")
    other_people = cli("send", "+12125550101", "-m", "one", "--dedupe-key", "k")
    for result in (other_text, other_people):
        assert result.exit_code == 2
        assert "dedupe key 'k' was used" in result.stderr
    assert server.stats()["send_requests"] == 1


def test_each_batch_is_on_disk_before_its_request_leaves(
    sandbox_http: StartSandbox, history: Callable[[], HistoryStore]
) -> None:
    import os

    server = sandbox_http()
    server.faults({"path_prefix": OUTBOX, "after_processing": True, "delay_ms": 1000})
    proc = subprocess.Popen(
        [sys.executable, "-m", "attsms", "send", "+12125550100", "-m", "in flight"],
        env={**os.environ, **server.env()},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 10
        while not history_path().exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        store = history()
        while not store.recent() and time.monotonic() < deadline:
            time.sleep(0.05)
        [row] = store.recent()
        assert proc.poll() is None  # the answer has not come yet
        assert (row.outcome, row.message_id) == ("sending", None)
        assert [r.address for r in row.recipients] == ["tel:+12125550100"]
        out, _err = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode == 0
    [done] = store.recent()
    assert done.outcome == "accepted"
    assert out.decode().startswith(f"{done.message_id}\t+12125550100\taccepted")


# --- where the text and the numbers come from --------------------------------------------------


def test_message_from_stdin(
    cli: Cli, sandbox_http: StartSandbox, use_server: Any, history: Callable[[], HistoryStore]
) -> None:
    use_server(sandbox_http())
    result = cli("send", "+12125550100", input="Line one\nline two\n\n")
    assert result.exit_code == 0, result.stderr
    [batch] = history().recent()
    assert batch.message == "Line one\nline two"  # trailing newlines dropped


def test_recipients_from_stdin_and_message_file(
    cli: Cli,
    sandbox_http: StartSandbox,
    use_server: Any,
    tmp_path: Path,
    history: Callable[[], HistoryStore],
) -> None:
    server = use_server(sandbox_http())
    message = tmp_path / "notice.txt"
    message.write_text("Café closes at 5 ☕\n", encoding="utf-8")
    csv = "Name,Phone\nAda,(212) 555-0100\nBob,212.555.0101\n"
    result = cli("send", "--to-file", "-", "--message-file", str(message), input=csv)
    assert result.exit_code == 0, result.stderr
    assert set(sent_to(server)) == {"tel:+12125550100", "tel:+12125550101"}
    assert history().recent()[0].message == "Café closes at 5 ☕"


def test_stdin_cannot_carry_both(cli: Cli) -> None:
    result = cli("send", "--to-file", "-", input="+12125550100\n")
    assert result.exit_code == 2
    assert "stdin cannot carry both" in result.stderr


def test_empty_stdin_is_exit_2(cli: Cli) -> None:
    result = cli("send", "+12125550100", input="")
    assert result.exit_code == 2
    assert "stdin held no text" in result.stderr


def test_no_recipients_is_exit_2(cli: Cli, tmp_path: Path) -> None:
    assert "no recipients" in cli("send", "-m", "hi").stderr
    only_comments = write(tmp_path / "to.txt", ["# nobody yet", ""])
    result = cli("send", "--to-file", str(only_comments), "-m", "hi")
    assert result.exit_code == 2
    assert "no recipients" in result.stderr


def test_region_reads_numbers_without_a_country_code(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ATTSMS_REGION", "PR")
    result = cli("send", "787 234 5678", "+1 212 555 0100", "-m", "hi", "--dry-run", "--json")
    assert result.exit_code == 0, result.stderr
    assert result.json()["recipients"] == ["+17872345678", "+12125550100"]
    # The region changes only how numbers are read, not where the service delivers.
    monkeypatch.setenv("ATTSMS_REGION", "GB")
    result = cli("send", "020 7946 0958", "-m", "hi", "--dry-run")
    assert result.exit_code == 2
    assert "not a US number: '020 7946 0958' (GB)" in result.stderr


def test_stdin_that_is_not_utf8_is_exit_2(cli: Cli) -> None:
    result = cli.process("send", "+12125550100", input=b"caf\xe9\n")
    assert result.exit_code == 2
    assert "stdin is not UTF-8 text" in result.stderr


@pytest.mark.parametrize(
    ("make", "needle"),
    [
        (lambda p: p / "missing.txt", "not found"),
        (lambda p: p, "is a directory"),
        (lambda p: _bytes(p / "bin.dat", b"\x89PNG\r\n\x1a\n\xff\xfe"), "is not UTF-8 text"),
        (lambda p: _bytes(p / "nul.dat", b"ab\x00cd"), "looks binary"),
    ],
)
def test_bad_message_file_is_exit_2_naming_it(
    cli: Cli, tmp_path: Path, make: Callable[[Path], Path], needle: str
) -> None:
    path = make(tmp_path)
    result = cli("send", "+12125550100", "--message-file", str(path))
    assert result.exit_code == 2
    assert str(path) in result.stderr and needle in result.stderr
    recipients = cli("send", "--to-file", str(path), "-m", "hi")
    assert recipients.exit_code == 2
    assert str(path) in recipients.stderr


def _bytes(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_message_over_4096_bytes_is_refused_naming_its_size(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "long.txt"
    path.write_text("é" * 2049)  # 4098 bytes in UTF-8
    result = cli("send", "+12125550100", "--message-file", str(path))
    assert result.exit_code == 2
    assert "4098 bytes" in result.stderr


def test_message_given_twice_is_exit_2(cli: Cli, tmp_path: Path) -> None:
    path = write(tmp_path / "m.txt", ["hi"])
    result = cli("send", "+12125550100", "-m", "hi", "--message-file", str(path))
    assert result.exit_code == 2
    assert "not both" in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["--timeout", "5"],
        ["--resend-unknown"],
        ["--rate", "fast"],
        ["--rate", "0/s"],
        ["--concurrency", "0"],
        ["--concurrency", "500"],
    ],
)
def test_bad_flags_are_exit_2(cli: Cli, args: list[str]) -> None:
    result = cli("send", "+12125550100", "-m", "hi", *args)
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1


# --- dry run ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "encoding", "segments"),
    [
        ("a" * 160, "GSM-7", 1),
        ("a" * 161, "GSM-7", 2),
        ("a" * 306, "GSM-7", 2),
        ("a" * 307, "GSM-7", 3),
        ("{" * 80, "GSM-7", 1),  # escape characters count two: 160 septets
        ("{" * 81, "GSM-7", 2),
        ("€" * 153, "GSM-7", 3),  # 306 septets, but no escape pair is split across two
        ("ж" * 70, "UCS-2", 1),
        ("ж" * 71, "UCS-2", 2),
        ("ж" * 134, "UCS-2", 2),
        ("ж" * 135, "UCS-2", 3),
        ("😀" * 35, "UCS-2", 1),  # surrogate pairs: 70 units
    ],
)
def test_dry_run_counts_segments(cli: Cli, text: str, encoding: str, segments: int) -> None:
    # No credentials and no server: a dry run never needs either.
    result = cli("send", "+12125550100", "2125550101", "short:12345", "-m", text, "--dry-run")
    assert result.exit_code == 0, result.stderr
    table: dict[str, str] = {}
    for item, value in rows(result):
        table[item] = value
    assert table["recipients"] == "3"
    assert table["encoding"] == encoding
    assert table["segments per message"] == str(segments)
    assert table["total segments"] == str(3 * segments)
    assert "nothing was sent" in result.stderr


def test_dry_run_json_names_the_characters_that_force_ucs2(cli: Cli) -> None:
    result = cli("send", "(212) 555-0100", "-m", "Don’t miss it — 5 €", "--dry-run", "--json")
    assert result.exit_code == 0, result.stderr
    document = result.json()
    assert document["dry_run"] is True
    assert document["recipients"] == ["+12125550100"]
    assert document["encoding"] == "UCS-2"
    assert document["non_gsm"] == ["’", "—"]
    assert (document["segments_per_message"], document["total_segments"]) == (1, 1)


def test_dry_run_of_10000_recipients(cli: Cli, tmp_path: Path) -> None:
    to_file = write(tmp_path / "to.txt", numbers(10_000))
    result = cli("send", "--to-file", str(to_file), "-m", "a" * 200, "--dry-run", "--json")
    assert result.exit_code == 0, result.stderr
    document = result.json()
    assert (document["requests"], document["total_segments"]) == (200, 20_000)


# --- output --------------------------------------------------------------------------------------


def test_json_is_one_document_per_recipient_with_a_summary(
    cli: Cli, sandbox_http: StartSandbox, use_server: Any
) -> None:
    use_server(sandbox_http())
    result = cli("send", *numbers(60), "-m", "hi", "--json")
    assert result.exit_code == 0, result.stderr
    document = result.json()
    assert len(document["messages"]) == 60
    first = document["messages"][0]
    fields = {"message_id", "to", "address", "result", "error", "batch", "send_id"}
    assert set(first) == fields
    # Issue 29: each row and the summary name the send (`attsms history <send id>`).
    assert first["send_id"] == document["summary"]["send_id"]
    assert len(first["send_id"]) == 8
    assert (first["to"], first["address"], first["result"]) == (
        "+12122000000",
        "tel:+12122000000",
        "accepted",
    )
    assert document["summary"]["recipients"] == 60
    assert document["summary"]["requests"] == 2


def test_quiet_prints_no_summary(cli: Cli, sandbox_http: StartSandbox, use_server: Any) -> None:
    use_server(sandbox_http())
    loud = cli("send", "+12125550100", "-m", "hi")
    quiet = cli("send", "+12125550100", "-m", "hi", "-q")
    assert "1 recipient(s): 1 accepted" in loud.stderr
    assert (quiet.exit_code, quiet.stderr) == (0, "")
    assert len(quiet.lines) == 1


# --- --wait ----------------------------------------------------------------------------------


def test_wait_until_delivered(
    cli: Cli, sandbox_http: StartSandbox, use_server: Any, history: Callable[[], HistoryStore]
) -> None:
    use_server(sandbox_http(delivery_seconds=0.3))
    result = cli("send", "2125550100", "2125550801", "-m", "hi", "--wait", "--timeout", "10")
    assert result.exit_code == 0, result.stderr
    assert [row[1:4] for row in rows(result)] == [
        ["+12125550100", "accepted", "DeliveredToTerminal"],
        ["+12125550801", "accepted", "DeliveredToNetwork"],
    ]
    [batch] = history().recent()
    assert [r.status for r in batch.recipients] == ["DeliveredToTerminal", "DeliveredToNetwork"]


def test_wait_with_an_impossible_delivery_is_exit_4(
    cli: Cli, sandbox_http: StartSandbox, use_server: Any
) -> None:
    use_server(sandbox_http(delivery_seconds=0.2))
    result = cli("send", "2125550100", "2125550901", "-m", "hi", "--wait", "--json")
    assert result.exit_code == 4
    statuses = {m["to"]: m["status"] for m in result.json()["messages"]}
    assert statuses == {"+12125550100": "DeliveredToTerminal", "+12125550901": "DeliveryImpossible"}
    assert result.json()["summary"]["delivery"]["impossible"] == 1
    assert "could not be delivered" in result.stderr


def test_wait_timeout_with_pending_messages_is_exit_75(
    cli: Cli, sandbox_http: StartSandbox, use_server: Any
) -> None:
    use_server(sandbox_http(delivery_seconds=0.1))
    # The sandbox keeps numbers whose last four digits start 07 waiting forever.
    result = cli("send", "2125550701", "-m", "hi", "--wait", "--timeout", "0.5")
    assert result.exit_code == 75
    assert rows(result)[0][1:4] == ["+12125550701", "accepted", "MessageWaiting"]
    assert "still pending" in result.stderr


def test_a_failing_wait_still_prints_what_was_sent(
    cli: Cli, sandbox_http: StartSandbox, use_server: Any
) -> None:
    server = use_server(sandbox_http())
    server.faults({"method": "GET", "path_prefix": OUTBOX, "status": 403, "count": 100})
    result = cli("send", "2125550100", "-m", "hi", "--wait", "--timeout", "5")
    assert result.exit_code == 1  # the status request was refused: a plain error
    assert rows(result)[0][1:3] == ["+12125550100", "accepted"]
    assert "HTTP 403" in result.stderr
