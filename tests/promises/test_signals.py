"""SIGTERM and SIGHUP are handled as Ctrl-C is: nothing the service gave out is lost, nothing sent
is left unrecorded, and the exit status is 128 + the signal (143 for TERM, 129 for HUP).

`timeout`, systemd, cron and a closed terminal send these, not SIGINT. Real processes against the
sandbox over HTTP; the signal is sent when the sandbox's counters show the process is where the
test wants it (a batch the service has already forgotten on its way, or a send request accepted
and its answer on its way).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from attsms.store.history import HistoryStore
from tests.helpers.support import Cli, SandboxHttp
from tests.promises import test_interrupt
from tests.promises.test_interrupt import ALICE, ops, output, still_pending, stored, wait_for

StartSandbox = Callable[..., SandboxHttp]
start = test_interrupt.start  # the fixture: attsms in a real process, output to files
SIGNALS = [pytest.param(signal.SIGTERM, id="TERM"), pytest.param(signal.SIGHUP, id="HUP")]


def stop_with(proc: subprocess.Popen[bytes], signum: int) -> int:
    proc.send_signal(signum)
    return proc.wait(timeout=30)


@pytest.mark.parametrize("signum", SIGNALS)
def test_a_signal_mid_pull_stores_every_message_and_exits_128_plus_the_signal(
    sandbox_http: StartSandbox, start: Any, tmp_path: Path, cli: Cli, signum: int
) -> None:
    # 150 ms per answer: the signal lands while a batch the service has already forgotten is on
    # its way (the service counts an answer as it makes it, before the latency).
    server = sandbox_http(inbox_batch_size=10, latency_ms=150)
    server.inject(ALICE, "hi", count=200)
    proc = start(server, "inbox", "pull", "12345", "-q", "--jsonl")
    wait_for(lambda: ops(server, "inbox") >= 3)
    assert stop_with(proc, signum) == 128 + signum
    out, err = output(tmp_path, 0)
    assert "Traceback" not in err
    assert f"stopped by {signal.Signals(signum).name}" in err

    given_out = 200 - still_pending(server)
    assert given_out == 10 * ops(server, "inbox") < 200
    first = [f"hi #{n}" for n in range(1, given_out + 1)]
    assert stored(cli) == first  # nothing the service forgot is lost
    assert [json.loads(line)["text"] for line in out.splitlines()] == first  # and all shown

    # A clean pull takes the rest: every injected message stored exactly once.
    again = start(server, "inbox", "pull", "12345", "-q", "--jsonl")
    assert again.wait(timeout=30) == 0, output(tmp_path, 1)[1]
    assert stored(cli) == [f"hi #{n}" for n in range(1, 201)] + ["probe"]
    assert still_pending(server) == 0


def test_kill_9_mid_pull_loses_at_most_the_one_batch_in_flight(
    sandbox_http: StartSandbox, start: Any, tmp_path: Path, cli: Cli
) -> None:
    # No warning, no handler: the batch the service has produced and not yet seen committed is
    # lost (README says so). Everything committed before stays, once, and the next pull goes on.
    server = sandbox_http(inbox_batch_size=10, latency_ms=150)
    server.inject(ALICE, "hi", count=200)
    proc = start(server, "inbox", "pull", "12345", "-q", "--jsonl")
    wait_for(lambda: ops(server, "inbox") >= 3)
    assert stop_with(proc, signal.SIGKILL) == -signal.SIGKILL
    given_out = 200 - still_pending(server)
    kept = stored(cli)
    assert given_out - len(kept) in (0, 10)  # at most the one batch in flight
    assert kept == [f"hi #{n}" for n in range(1, len(kept) + 1)]

    again = start(server, "inbox", "pull", "12345", "-q", "--jsonl")
    assert again.wait(timeout=30) == 0, output(tmp_path, 1)[1]
    after = stored(cli)
    assert after == kept + [f"hi #{n}" for n in range(given_out + 1, 201)] + ["probe"]


def test_a_second_sigterm_stops_a_pull_at_once(
    sandbox_http: StartSandbox, start: Any, tmp_path: Path
) -> None:
    server = sandbox_http()
    server.inject(ALICE, "hi", count=5)
    server.faults({"path_prefix": "/sms/v3/messaging/inbox", "delay_ms": 20_000})
    proc = start(server, "inbox", "pull", "12345")
    wait_for(lambda: server.stats()["attempts"].get("inbox", 0) >= 1)
    proc.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    assert proc.poll() is None  # the first one waits for the batch
    started = time.monotonic()
    assert stop_with(proc, signal.SIGTERM) == 143
    assert time.monotonic() - started < 5
    assert "Traceback" not in output(tmp_path, 0)[1]


def test_sigterm_mid_send_records_the_batches_in_flight_and_a_rerun_sends_the_rest_once(
    sandbox_http: StartSandbox, start: Any, tmp_path: Path
) -> None:
    server = sandbox_http(latency_ms=400)
    recipients = [f"+1212{6000000 + i:07d}" for i in range(500)]  # 10 batches of 50
    (tmp_path / "to.txt").write_text("\n".join(recipients) + "\n")
    argv = ["send", "--to-file", str(tmp_path / "to.txt"), "-m", "hi", "--dedupe-key", "term"]
    proc = start(server, *argv, "--concurrency", "2")
    wait_for(lambda: server.stats()["send_requests"] >= 2)  # batches in flight, accepted
    assert stop_with(proc, signal.SIGTERM) == 143, output(tmp_path, 0)
    assert "Traceback" not in output(tmp_path, 0)[1]
    sent = server.stats()["send_requests"]
    assert sent < 10
    with HistoryStore.open() as history:
        outcomes = Counter(b.outcome for b in history.recent(None))
    assert outcomes == {"accepted": sent}  # every request that went has its answer recorded

    again = start(server, *argv, "--json")
    assert again.wait(timeout=30) == 0, output(tmp_path, 1)[1]
    report = json.loads(output(tmp_path, 1)[0])["summary"]
    assert (report["already_sent"], report["accepted"]) == (50 * sent, 500 - 50 * sent)
    assert report.get("unknown", 0) == 0
    delivered = server.stats()["delivered_to"]
    assert len(delivered) == 500 and set(delivered.values()) == {1}  # nobody texted twice


def test_sigterm_while_send_waits_prints_what_was_sent_and_exits_143(
    sandbox_http: StartSandbox, start: Any, tmp_path: Path
) -> None:
    server = sandbox_http(delivery_seconds=60)
    proc = start(server, "send", ALICE, "-m", "hello", "--wait", "--json")
    wait_for(lambda: ops(server, "status") >= 1)  # sent, and polling
    assert stop_with(proc, signal.SIGTERM) == 143
    out, err = output(tmp_path, 0)
    assert "Traceback" not in err
    [row] = json.loads(out)["messages"]
    assert (row["to"], row["result"]) == (ALICE, "accepted")


def test_an_ignored_sighup_stays_ignored(
    sandbox_http: StartSandbox, tmp_path: Path, cli: Cli
) -> None:
    # `nohup attsms inbox pull`: the user asked for the pull to outlive the terminal.
    server = sandbox_http(inbox_batch_size=1, latency_ms=100)
    server.inject(ALICE, "hi", count=10)
    proc = subprocess.Popen(
        ["nohup", sys.executable, "-m", "attsms", "inbox", "pull", "12345", "-q"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, **server.env()},
        cwd=tmp_path,
    )
    try:
        wait_for(lambda: ops(server, "inbox") >= 2)
        proc.send_signal(signal.SIGHUP)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert len(stored(cli)) == 10


# --- the mechanism, in this process ------------------------------------------------------------


def test_held_signals_are_delivered_as_terminated_with_their_number() -> None:
    from attsms.core.interrupts import HeldInterrupt, Terminated

    held = HeldInterrupt(signum=signal.SIGTERM)
    with pytest.raises(Terminated) as caught:
        held.raise_if_caught()
    assert caught.value.signum == signal.SIGTERM
    assert isinstance(caught.value, KeyboardInterrupt)  # Ctrl-C handling applies as is
    with pytest.raises(KeyboardInterrupt) as plain:
        HeldInterrupt(signum=signal.SIGINT).raise_if_caught()
    assert not isinstance(plain.value, Terminated)
    HeldInterrupt().raise_if_caught()  # nothing caught: nothing raised


def test_hold_interrupt_leaves_a_foreign_sigterm_handler_alone() -> None:
    from attsms.core.interrupts import hold_interrupt

    def mine(_signum: int, _frame: object) -> None:
        pass

    previous = signal.signal(signal.SIGTERM, mine)
    try:
        with hold_interrupt():
            assert signal.getsignal(signal.SIGTERM) is mine
        assert signal.getsignal(signal.SIGTERM) is mine
    finally:
        signal.signal(signal.SIGTERM, previous)
