"""Issue 12, item 4: the service's rate limits are waited out, not turned into failed batches.

`attsms sandbox serve --rate-limit N` answers 429 POL0001 with a `Retry-After` past N requests
in a clock second. A send must slow down as a whole (the batches share one throttle in the
client), finish with everyone accepted exactly once, and give up only after being rate limited
for `ATTSMS_RATE_LIMIT_TIMEOUT` seconds, naming `--rate`. Counted on the sandbox's own stats.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from attsms.core.errors import ExitCode
from tests.helpers.support import Cli, SandboxHttp

StartSandbox = Callable[..., SandboxHttp]
OUTBOX = "/sms/v3/messaging/outbox"


def numbers(count: int, start: int = 0) -> list[str]:
    return [f"+1212{3000000 + start + i:07d}" for i in range(count)]


def test_a_run_over_the_service_rate_limit_slows_down_and_everyone_gets_it_once(
    cli: Cli,
    sandbox_http: StartSandbox,
    use_server: Callable[[SandboxHttp], SandboxHttp],
) -> None:
    server = use_server(sandbox_http(rate_limit=2))  # past 2 requests in a second: 429
    wanted = numbers(500)  # 10 requests, all started at once: far over the limit
    result = cli("send", *wanted, "-m", "hi", "--concurrency", "10", "--json")
    assert result.exit_code == ExitCode.OK, result.stderr
    summary = result.json()["summary"]
    assert (summary["accepted"], summary["failed"], summary["unknown"]) == (500, 0, 0)
    stats = server.stats()
    assert Counter(stats["delivered_to"]) == Counter(f"tel:{n}" for n in wanted)  # once each
    assert stats["send_requests"] > 10  # the service did say 429 along the way


def test_rate_limited_past_the_deadline_gives_up_naming_rate(
    cli: Cli,
    sandbox_http: StartSandbox,
    use_server: Callable[[SandboxHttp], SandboxHttp],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = use_server(sandbox_http())
    monkeypatch.setenv("ATTSMS_RATE_LIMIT_TIMEOUT", "1.5")
    server.faults(
        {"path_prefix": OUTBOX, "status": 429, "headers": {"Retry-After": "0.3"}, "count": 99}
    )
    first = cli("send", "+12125550100", "-m", "hi", "--dedupe-key", "RL")
    assert first.exit_code == ExitCode.TEMPFAIL, first.stderr
    [error] = [line for line in first.stderr.splitlines() if line.startswith("attsms: error:")]
    assert "rate limited by the service for" in error and "--rate" in error
    assert server.stats()["send_requests"] > 1  # it did wait and try again
    assert server.stats()["delivered_to"] == {}
    # A 429 is refused before any work: recorded failed, so the next run sends it.
    server.admin("DELETE", "/sandbox/faults")
    again = cli("send", "+12125550100", "-m", "hi", "--dedupe-key", "RL")
    assert again.exit_code == ExitCode.OK, again.stderr
    assert server.stats()["delivered_to"] == {"tel:+12125550100": 1}


def test_a_bad_rate_limit_timeout_is_refused_before_anything_is_sent(
    cli: Cli,
    sandbox_http: StartSandbox,
    use_server: Callable[[SandboxHttp], SandboxHttp],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    server = use_server(sandbox_http())
    monkeypatch.setenv("ATTSMS_RATE_LIMIT_TIMEOUT", "soon")
    result = cli("send", "+12125550100", "-m", "hi")
    assert result.exit_code == ExitCode.USAGE
    assert "ATTSMS_RATE_LIMIT_TIMEOUT='soon'" in result.stderr
    assert server.stats()["send_requests"] == 0


@pytest.mark.parametrize(
    ("signum", "concurrency"),
    [
        pytest.param(signal.SIGTERM, 1, id="TERM-one-at-a-time"),
        pytest.param(signal.SIGTERM, 2, id="TERM-two-threads"),
        pytest.param(signal.SIGINT, 1, id="INT-one-at-a-time"),
    ],
)
def test_a_stop_signal_ends_the_wait_for_a_rate_limit(
    signum: int,
    concurrency: int,
    cli: Cli,
    sandbox_http: StartSandbox,
    use_server: Callable[[SandboxHttp], SandboxHttp],
    tmp_path: Path,
) -> None:
    # Waiting out a rate limit may take minutes; a stop signal must not wait for it, and the
    # batch it held back surely did not go: it is `failed`, so the next run sends it.
    server = use_server(sandbox_http())
    server.faults(
        {"path_prefix": OUTBOX, "after_processing": True},  # one batch goes
        {"path_prefix": OUTBOX, "status": 429, "headers": {"Retry-After": "2"}, "count": 999},
    )
    command = ["send", *numbers(100), "-m", "hi", "--dedupe-key", "SIG", "-q"]
    err = tmp_path / "err"
    with err.open("wb") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "attsms", *command, "--concurrency", str(concurrency)],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            env=dict(os.environ),
        )
    try:
        deadline = time.monotonic() + 20
        while server.stats()["send_requests"] < 2:  # one accepted, one rate limited
            assert time.monotonic() < deadline and proc.poll() is None, err.read_text()
            time.sleep(0.02)
        proc.send_signal(signum)
        code = proc.wait(timeout=20)  # not the 300 s of ATTSMS_RATE_LIMIT_TIMEOUT
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert code == 128 + signum, err.read_text()
    assert "Traceback" not in err.read_text()
    assert server.stats()["send_requests"] <= 3  # at most one more try after the signal
    history = cli("history", "--json").json()
    assert sorted(b["outcome"] for b in history) == ["accepted", "failed"]
    server.admin("DELETE", "/sandbox/faults")
    again = cli(*command)
    assert again.exit_code == ExitCode.OK, again.stderr
    wanted = Counter(f"tel:{n}" for n in numbers(100))
    assert Counter(server.stats()["delivered_to"]) == wanted  # each once, over both runs
