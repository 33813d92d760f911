"""`kill -9` in the middle of a 2,000-recipient send, then re-runs with the same `--dedupe-key`.

Counted on the sandbox server (`/sandbox/stats` `delivered_to`), what a user is promised:

- A re-run sends only the batches no earlier run started. Each of their recipients gets the
  message exactly once, however many times the job was killed before.
- A batch in flight at a kill (its history row left `sending`) may or may not have reached the
  service. Every later run reports its recipients `unknown` and exits 5; it is never resent.
- `--resend-unknown` sends those batches again. A batch that had reached the service before the
  kill is then delivered TWICE: that is the price of the flag, and why it is not the default.
  One that had not reached it is delivered once. The test counts both and checks the report's
  `unknown` rows cover every recipient that could have been doubled.

A crash loop per seed: the job is killed at random points (a random count of send requests seen
by the server, then a random fraction of the server's latency, so kills land before, during and
after requests and history writes), up to three times, then runs to the end; the seed fixes the
kill points and the concurrency. The send takes ~1 s uninterrupted (40 batches, latency 60 ms).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from attsms.core.errors import ExitCode
from attsms.store.history import HistoryStore
from tests.helpers.support import SandboxHttp

StartSandbox = Callable[..., SandboxHttp]

RECIPIENTS = 2000
BATCHES = RECIPIENTS // 50
LATENCY_MS = 60
KEY = "crash-job"
MESSAGE = "Storm warning: offices closed tomorrow"
# More kill points when hunting a race: ATTSMS_CRASH_SEEDS=1,2,3,4,5 pytest tests/test_crash.py
SEEDS = [int(s) for s in os.environ.get("ATTSMS_CRASH_SEEDS", "11,23,37").split(",")]


def numbers() -> list[str]:
    return [f"+1212{3000000 + i:07d}" for i in range(RECIPIENTS)]


def wire(number: str) -> str:
    return f"tel:{number}"


def batch_of(address: str) -> int:
    return (int(address[-7:]) - 3000000) // 50


@dataclass
class Job:
    """One send job: its command line, the server it talks to, and what each run left."""

    server: SandboxHttp
    workdir: Path
    concurrency: int
    runs: int = 0
    kills: list[int] = field(default_factory=list)  # send requests seen by the server at each

    @property
    def argv(self) -> list[str]:
        return [
            sys.executable, "-m", "attsms", "send", "--to-file", str(self.workdir / "to.txt"),
            "-m", MESSAGE, "--dedupe-key", KEY, "--concurrency", str(self.concurrency), "--json",
        ]  # fmt: skip

    def start(self, *extra: str) -> tuple[subprocess.Popen[bytes], Path, Path]:
        self.runs += 1
        out = self.workdir / f"run{self.runs}.out"
        err = self.workdir / f"run{self.runs}.err"
        with out.open("wb") as stdout, err.open("wb") as stderr:
            proc = subprocess.Popen(
                [*self.argv, *extra],
                stdout=stdout,
                stderr=stderr,
                env={**os.environ, **self.server.env()},
            )
        return proc, out, err

    def run(self, *extra: str) -> tuple[int, dict[str, Any], str]:
        proc, out, err = self.start(*extra)
        code = proc.wait(timeout=60)
        return code, json.loads(out.read_text()), err.read_text()

    def kill_after(self, requests: int, extra_delay: float) -> bool:
        """Start a run; SIGKILL it once the server has seen `requests` more send requests.

        False when the run finished first (a loaded machine can be that slow to look)."""
        base = send_requests(self.server)
        proc, _, _ = self.start()
        deadline = time.monotonic() + 30
        while send_requests(self.server) - base < requests and proc.poll() is None:
            assert time.monotonic() < deadline, "the run made no progress"
            time.sleep(0.005)
        time.sleep(extra_delay)
        proc.send_signal(signal.SIGKILL)
        if proc.wait(timeout=30) != -signal.SIGKILL:
            return False
        self.kills.append(send_requests(self.server) - base)
        return True


def send_requests(server: SandboxHttp) -> int:
    return int(server.stats()["send_requests"])


def delivered(server: SandboxHttp) -> Counter[str]:
    return Counter(server.stats()["delivered_to"])


def attempts_by_batch() -> dict[int, str]:
    """Per batch number, the history's outcome of the attempt that counts under the key."""
    with HistoryStore.open() as store:
        return {n: b.outcome for n, b in store.dedupe_attempts("default", KEY).items()}


def check_history_against_server(server: SandboxHttp) -> set[int]:
    """After a kill: what the history and the server say must agree. Returns the batches in
    flight (`sending`), the ones a re-run must report as unknown."""
    outcomes = attempts_by_batch()
    counts = delivered(server)
    at_server = {batch_of(a) for a in counts}
    accepted = {n for n, o in outcomes.items() if o == "accepted"}
    sending = {n for n, o in outcomes.items() if o in ("sending", "unknown")}
    assert set(outcomes.values()) <= {"accepted", "sending", "unknown"}  # nothing failed
    assert max(counts.values(), default=1) == 1  # nobody got it twice
    # A request is recorded before it leaves, and marked accepted only after its answer.
    assert accepted <= at_server <= accepted | sending
    # Whole batches only: the service takes a request's 50 recipients or none.
    assert all(sum(1 for a in counts if batch_of(a) == n) == 50 for n in at_server)
    return sending


@pytest.mark.slow
@pytest.mark.parametrize("seed", SEEDS)
def test_kill_9_mid_send_then_rerun_sends_each_recipient_once_except_unknown_batches(
    sandbox_http: StartSandbox, tmp_path: Path, seed: int
) -> None:
    rng = random.Random(seed)
    server = sandbox_http(latency_ms=LATENCY_MS)
    (tmp_path / "to.txt").write_text("\n".join(numbers()) + "\n")
    job = Job(server, tmp_path, concurrency=rng.randint(2, 6))

    # Killed up to three times, each run at a random point while it still had batches to send.
    unknown: set[int] = set()
    for _ in range(3):
        left = BATCHES - len(attempts_by_batch()) if job.runs else BATCHES
        slack = 2 * job.concurrency  # room for the kill to land before the run's last answer
        if left <= slack:
            break
        if not job.kill_after(rng.randint(1, left - slack), rng.uniform(0, LATENCY_MS / 1000)):
            break
        in_flight = check_history_against_server(server)
        # A kill leaves in flight at most what was running at once.
        assert len(in_flight - unknown) <= job.concurrency
        unknown = in_flight
    assert job.kills, "no run was killed"

    # The re-run: the rest goes once; the batches in flight at a kill are unknown and not resent.
    before = send_requests(server)
    reached = {a for a in delivered(server) if batch_of(a) in unknown}  # may be doubled later
    code, report, stderr = job.run()
    counts = delivered(server)
    unknown_rows = {r["address"] for r in report["messages"] if r["result"] == "unknown"}
    assert unknown_rows == {wire(n) for n in numbers() if batch_of(wire(n)) in unknown}
    assert send_requests(server) - before == report["summary"]["requests"]
    assert report["summary"]["requests"] + len(unknown) <= BATCHES
    for address in {wire(n) for n in numbers()} - unknown_rows:
        assert counts[address] == 1, f"{address} got the message {counts[address]} times"
    assert max(counts.values()) == 1
    if unknown:
        assert code == ExitCode.UNKNOWN_OUTCOME, stderr
        [summary, line] = stderr.splitlines()  # one summary, one error line; no traceback
        assert f"{len(unknown) * 50} unknown" in summary
        assert line.startswith(f"attsms: error: {len(unknown)} batch(es) ({len(unknown) * 50}")
        assert "may or may not have been sent" in line and "--resend-unknown" in line
    else:
        assert code == 0, stderr

    # --resend-unknown: the unknown batches go again. Those that had reached the service are
    # now doubled; the flag's help and the exit-5 message say to check the history first.
    before = send_requests(server)
    code, report, stderr = job.run("--resend-unknown")
    assert code == 0, stderr
    assert send_requests(server) - before == len(unknown)
    counts = delivered(server)
    assert set(counts) == {wire(n) for n in numbers()}
    doubled = {a for a, c in counts.items() if c == 2}
    assert doubled == reached and doubled <= unknown_rows
    assert max(counts.values()) <= 2

    # And the job is settled: one more run sends nothing.
    before = send_requests(server)
    code, report, _ = job.run()
    assert code == 0
    assert send_requests(server) == before
    assert report["summary"]["already_sent"] == RECIPIENTS


def test_a_kill_before_any_answer_leaves_batches_unknown_not_lost(
    sandbox_http: StartSandbox, tmp_path: Path
) -> None:
    """The narrowest window, made wide: the service accepts a batch and then never answers."""
    server = sandbox_http()
    outbox = "/sms/v3/messaging/outbox"
    server.faults({"path_prefix": outbox, "after_processing": True, "delay_ms": 60_000})
    (tmp_path / "to.txt").write_text("\n".join(numbers()[:50]) + "\n")
    job = Job(server, tmp_path, concurrency=1)
    assert job.kill_after(1, 0.1)  # accepted at the service; the answer never came
    assert attempts_by_batch() == {0: "sending"}
    server.admin("DELETE", "/sandbox/faults")

    code, report, stderr = job.run()
    assert code == ExitCode.UNKNOWN_OUTCOME
    assert {r["result"] for r in report["messages"]} == {"unknown"}
    assert "not resent" in report["messages"][0]["error"]
    assert send_requests(server) == 1
    assert "attsms history" in stderr
