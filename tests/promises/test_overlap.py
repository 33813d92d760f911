"""Overlapping runs of one keyed job: a slow cron job and the next tick, both alive at once.

The promise: nothing is sent twice. A keyed job is held by one live run at a time through a claim
(lease) in the store that names its owner (host, pid, start) and is kept alive by a heartbeat. A
second run waits up to `--lock-timeout`, then exits 75 naming the holder; it never reports the
live run's batches as `unknown`, and `--resend-unknown` cannot make it resend them. Counted on the
sandbox server's own `/sandbox/stats` `delivered_to`.
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

from attsms.core.errors import ExitCode
from tests.helpers.support import SandboxHttp

StartSandbox = Callable[..., SandboxHttp]

RECIPIENTS = 600  # 12 batches
KEY = "overlap"


def _numbers(path: Path) -> list[str]:
    numbers = [f"+1212{4000000 + i:07d}" for i in range(RECIPIENTS)]
    path.write_text("\n".join(numbers) + "\n")
    return numbers


def _start(server: SandboxHttp, to: Path, *extra: str) -> subprocess.Popen[bytes]:
    argv = [sys.executable, "-m", "attsms", "send", "--to-file", str(to), "-m", "overlap"]
    argv += ["--dedupe-key", KEY, "--concurrency", "2", "--json", *extra]
    return subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, **server.env()},
    )


def _wait_for_requests(server: SandboxHttp, count: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while int(server.stats()["send_requests"]) < count:
        assert proc.poll() is None, "the first run ended before the overlap"
        assert time.monotonic() < deadline, "the first run made no progress"
        time.sleep(0.01)


def _delivered(server: SandboxHttp) -> Counter[str]:
    return Counter(server.stats()["delivered_to"])


def test_a_second_run_of_a_live_job_exits_75_naming_the_holder_and_sends_nothing(
    sandbox_http: StartSandbox, tmp_path: Path
) -> None:
    # 12 batches, two at a time, 400 ms each: the first run is still sending (~2.4 s) while the
    # two later runs start, even on a loaded machine.
    server = sandbox_http(latency_ms=400)
    to = tmp_path / "to.txt"
    numbers = _numbers(to)
    first = _start(server, to)
    _wait_for_requests(server, 2, first)

    for extra in ((), ("--resend-unknown",)):
        second = _start(server, to, *extra)
        out, err = second.communicate(timeout=60)
        assert second.returncode == ExitCode.TEMPFAIL, err.decode()
        message = err.decode()
        assert f"pid {first.pid}" in message
        assert "--lock-timeout" in message
        assert "unknown" not in message
        assert out == b""

    out, err = first.communicate(timeout=60)
    assert first.returncode == 0, err.decode()
    assert json.loads(out)["summary"]["accepted"] == RECIPIENTS
    counts = _delivered(server)
    assert set(counts) == {f"tel:{n}" for n in numbers}
    assert max(counts.values()) == 1


def test_a_second_run_waits_for_the_live_one_then_sends_nothing_twice(
    sandbox_http: StartSandbox, tmp_path: Path
) -> None:
    server = sandbox_http(latency_ms=100)
    to = tmp_path / "to.txt"
    numbers = _numbers(to)
    first = _start(server, to)
    _wait_for_requests(server, 2, first)
    second = _start(server, to, "--lock-timeout", "60", "--resend-unknown")
    _, err1 = first.communicate(timeout=60)
    out2, err2 = second.communicate(timeout=60)
    assert first.returncode == 0, err1.decode()
    assert second.returncode == 0, err2.decode()
    summary = json.loads(out2)["summary"]
    assert summary["already_sent"] == RECIPIENTS
    assert summary["unknown"] == 0
    counts = _delivered(server)
    assert len(counts) == len(numbers)
    assert max(counts.values()) == 1


def test_the_claim_of_a_killed_run_is_taken_over_at_once(
    sandbox_http: StartSandbox, tmp_path: Path
) -> None:
    """kill -9 leaves the claim behind; its owner is dead (same host, pid gone), so the next run
    takes it without waiting, and only the dead run's in-flight batches are `unknown`."""
    server = sandbox_http(latency_ms=150)
    to = tmp_path / "to.txt"
    numbers = _numbers(to)
    first = _start(server, to)
    _wait_for_requests(server, 3, first)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)

    second = _start(server, to)
    out, err = second.communicate(timeout=60)
    assert second.returncode in (ExitCode.OK, ExitCode.UNKNOWN_OUTCOME), err.decode()
    summary = json.loads(out)["summary"]
    assert summary["unknown"] <= 2 * 50  # at most the two requests that were in flight
    counts = _delivered(server)
    assert max(counts.values()) == 1
    reported_unknown = {r["to"] for r in json.loads(out)["messages"] if r["result"] == "unknown"}
    assert {f"tel:{n}" for n in numbers} - set(counts) <= {f"tel:{n}" for n in reported_unknown}
