"""Ctrl-C (SIGINT) to a running command: exit 130, no traceback, and nothing half-recorded.

Real processes (`subprocess.Popen` + `send_signal(SIGINT)`; a shell's `&` job would ignore
SIGINT). The signal is sent when the sandbox's counters show the process is where the test wants
it: polling, or waiting for the answer to a request the service has already acted on, which is
the case that matters.

- `send --wait`, interrupted while waiting: the rows of what was sent are still printed.
- `status --wait`: the statuses seen so far are printed.
- `inbox pull`, interrupted while a batch is on its way: the service has already forgotten that
  batch, so the first Ctrl-C waits until it is stored (and printed); a second one stops at once.
- `send` of many batches, one at a time or several at once: the requests in flight finish and
  are recorded, so a re-run with the same `--dedupe-key` sends each recipient the rest once.

`sandbox serve` exits 0 on Ctrl-C: tests/test_cli_http.py checks it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from attsms.core.errors import ExitCode
from attsms.store.history import HistoryStore, Outcome
from tests.helpers.support import Cli, SandboxHttp

StartSandbox = Callable[..., SandboxHttp]
ALICE = "+12125550100"


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    """Start attsms in a real process talking to `server`; output goes to files."""
    started: list[subprocess.Popen[bytes]] = []

    def run(server: SandboxHttp, *args: str) -> subprocess.Popen[bytes]:
        n = len(started)
        with (tmp_path / f"{n}.out").open("wb") as out, (tmp_path / f"{n}.err").open("wb") as err:
            proc = subprocess.Popen(
                [sys.executable, "-m", "attsms", *args],
                stdout=out,
                stderr=err,
                env={**os.environ, **server.env()},
            )
        started.append(proc)
        return proc

    yield run
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def output(tmp_path: Path, proc_index: int) -> tuple[str, str]:
    return (
        (tmp_path / f"{proc_index}.out").read_text(),
        (tmp_path / f"{proc_index}.err").read_text(),
    )


def ops(server: SandboxHttp, name: str) -> int:
    return int(server.stats()["operations"].get(name, 0))


def wait_for(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.01)


def interrupt(proc: subprocess.Popen[bytes]) -> int:
    proc.send_signal(signal.SIGINT)
    return proc.wait(timeout=30)


def assert_quiet(stderr: str) -> None:
    assert "Traceback" not in stderr and "error" not in stderr, stderr


def test_ctrl_c_while_send_waits_prints_what_was_sent_and_exits_130(
    sandbox_http: StartSandbox, start: Any, tmp_path: Path
) -> None:
    server = sandbox_http(delivery_seconds=60)
    proc = start(server, "send", ALICE, "-m", "hello", "--wait", "--json")
    wait_for(lambda: ops(server, "status") >= 1)  # sent, and polling
    assert interrupt(proc) == ExitCode.INTERRUPTED
    out, err = output(tmp_path, 0)
    assert_quiet(err)
    [row] = json.loads(out)["messages"]
    assert (row["to"], row["result"]) == (ALICE, "accepted")
    with HistoryStore.open() as history:
        [batch] = history.recent()
    assert (batch.message_id, batch.outcome) == (row["message_id"], "accepted")


def test_ctrl_c_while_status_waits_exits_130_with_what_it_saw(
    sandbox_http: StartSandbox, start: Any, tmp_path: Path, cli: Cli, monkeypatch: Any
) -> None:
    server = sandbox_http(delivery_seconds=60)
    for name, value in server.env().items():
        monkeypatch.setenv(name, value)
    sent = cli("send", ALICE, "-m", "hello", "--json")
    message_id = sent.json()["messages"][0]["message_id"]
    proc = start(server, "status", message_id, "--wait", "--interval", "0.2")
    wait_for(lambda: ops(server, "status") >= 2)
    assert interrupt(proc) == ExitCode.INTERRUPTED
    out, err = output(tmp_path, 0)
    assert_quiet(err)
    assert out.startswith(f"{message_id}\t{ALICE}\tMessageWaiting")


def stored(cli: Cli) -> list[str]:
    result = cli("inbox", "export", "--json")  # in the order stored
    assert result.exit_code == 0, result.stderr
    return [m["text"] for m in result.json()]


def still_pending(server: SandboxHttp) -> int:
    return int(server.inject(ALICE, "probe")["pending"]) - 1


def test_ctrl_c_mid_pull_stores_every_message_the_service_gave_out(
    sandbox_http: StartSandbox, start: Any, tmp_path: Path, cli: Cli
) -> None:
    # 150 ms per answer: the signal lands while a batch the service has already forgotten is on
    # its way (the service counts an answer as it makes it, before the latency).
    server = sandbox_http(inbox_batch_size=10, latency_ms=150)
    server.inject(ALICE, "hi", count=200)
    proc = start(server, "inbox", "pull", "12345", "--jsonl")
    wait_for(lambda: ops(server, "inbox") >= 3)  # two batches stored, the third on its way
    assert interrupt(proc) == ExitCode.INTERRUPTED
    out, err = output(tmp_path, 0)
    assert "Traceback" not in err

    given_out = 200 - still_pending(server)
    assert given_out == 10 * ops(server, "inbox")
    expected = [f"hi #{n}" for n in range(1, given_out + 1)]
    assert stored(cli) == expected  # nothing the service forgot is lost
    assert [json.loads(line)["text"] for line in out.splitlines()] == expected  # and all shown
    assert f"Stored {given_out} new messages" in err


def test_a_second_ctrl_c_stops_a_pull_at_once(
    sandbox_http: StartSandbox, start: Any, tmp_path: Path, cli: Cli
) -> None:
    server = sandbox_http()
    server.inject(ALICE, "hi", count=5)
    server.faults({"path_prefix": "/sms/v3/messaging/inbox", "delay_ms": 20_000})
    proc = start(server, "inbox", "pull", "12345")
    wait_for(lambda: server.stats()["attempts"].get("inbox", 0) >= 1)
    proc.send_signal(signal.SIGINT)
    time.sleep(0.3)
    assert proc.poll() is None  # the first one waits for the batch
    started = time.monotonic()
    assert interrupt(proc) == ExitCode.INTERRUPTED
    assert time.monotonic() - started < 5
    assert "Traceback" not in output(tmp_path, 0)[1]


@pytest.mark.parametrize("concurrency", [1, 4])
def test_ctrl_c_mid_send_records_the_batches_in_flight_and_a_rerun_sends_the_rest_once(
    sandbox_http: StartSandbox, start: Any, tmp_path: Path, cli: Cli, concurrency: int
) -> None:
    # 20 batches at 300 ms: the signal comes with seconds of sending still ahead, even on a
    # loaded machine that is slow to look.
    server = sandbox_http(latency_ms=300)
    recipients = [f"+1212{6000000 + i:07d}" for i in range(1000)]
    (tmp_path / "to.txt").write_text("\n".join(recipients) + "\n")
    argv = ["send", "--to-file", str(tmp_path / "to.txt"), "-m", "hi", "--dedupe-key", "ctrl-c"]
    proc = start(server, *argv, "--concurrency", str(concurrency))
    wait_for(lambda: server.stats()["send_requests"] >= 2)  # a batch in flight, accepted
    assert interrupt(proc) == ExitCode.INTERRUPTED, output(tmp_path, 0)
    assert "Traceback" not in output(tmp_path, 0)[1]
    sent = server.stats()["send_requests"]
    assert sent < 20
    with HistoryStore.open() as history:
        outcomes = Counter(b.outcome for b in history.recent(None))
    # Every request that went has its answer recorded; a batch claimed and stopped before its
    # request left (the throttle gave up its wait) is `failed`: surely not sent, sent again below.
    assert outcomes[Outcome.ACCEPTED] == sent
    assert set(outcomes) <= {Outcome.ACCEPTED, Outcome.FAILED}

    again = start(server, *argv, "--json")
    assert again.wait(timeout=30) == 0, output(tmp_path, 1)[1]
    report = json.loads(output(tmp_path, 1)[0])["summary"]
    assert (report["already_sent"], report["accepted"]) == (50 * sent, 1000 - 50 * sent)
    assert set(Counter(server.stats()["delivered_to"]).values()) == {1}
    assert len(server.stats()["delivered_to"]) == 1000
