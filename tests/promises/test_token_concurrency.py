"""Ten `attsms` processes at once on one profile whose token expires: one token call per expiry.

tests/test_auth.py already runs ten `status` processes after one expiry. Here the processes are
mixed (send, status, inbox pull, each started at the same moment) and live through two expiries,
with the credentials in the environment (no login, the cron and container case):

- wave 0: no cached token at all; ten processes need one -> exactly one client-credentials call.
- the cached token is expired (its file says so; the service would still take it), twice, and
  each time ten processes start together -> exactly one refresh each time, no client-credentials
  call (two processes refreshing with the one refresh token would make the second fall back to
  one, as the token is rotated), and no process fails.
- a real expiry on the service's clock while processes run (`status --wait` polling past it).

What each process did is counted on the sandbox too: every send accepted once, every inbound
message stored once, every status asked.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from attsms.core.errors import ExitCode
from tests.helpers.support import Cli, SandboxHttp

StartSandbox = Callable[..., SandboxHttp]
PROCESSES = 10
SENDERS, STATUSES, PULLS = 4, 3, 3  # per wave; PULLS share the inbox lock (--lock-timeout)
INBOUND_PER_WAVE = 300


def token_file() -> Path:
    return Path(os.environ["ATTSMS_CACHE_DIR"]) / "tokens" / "default.json"


def expire_cached_token() -> None:
    """The cached token is past its expiry for the client; the service would still take it."""
    record = json.loads(token_file().read_text())
    record["obtained_at"] = time.time() - 7200
    record["expires_at"] = time.time() - 1
    token_file().write_text(json.dumps(record))


def numbers(count: int, start: int) -> list[str]:
    return [f"+1212{4000000 + start + i:07d}" for i in range(count)]


class Counts:
    """Sandbox counters since the last `take()`."""

    def __init__(self, server: SandboxHttp) -> None:
        self.server = server
        self.before = server.stats()

    def take(self) -> dict[str, int]:
        after = self.server.stats()
        delta = {
            name: after["operations"].get(name, 0) - self.before["operations"].get(name, 0)
            for name in ("token", "refresh", "send", "status", "inbox")
        }
        self.before = after
        return delta


def run_together(argvs: list[list[str]], env: dict[str, str], workdir: Path) -> list[Any]:
    """Start every command at once (files for output: a full pipe would block a lock holder)."""
    procs = []
    for n, argv in enumerate(argvs):
        with (workdir / f"{n}.out").open("wb") as out, (workdir / f"{n}.err").open("wb") as err:
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "attsms", *argv], stdout=out, stderr=err, env=env
                )
            )
    codes = [proc.wait(timeout=120) for proc in procs]
    return [
        (code, argv[0], (workdir / f"{n}.out").read_text(), (workdir / f"{n}.err").read_text())
        for n, (code, argv) in enumerate(zip(codes, argvs, strict=True))
    ]


@pytest.mark.slow
def test_ten_mixed_processes_make_one_token_call_per_expiry_and_none_fails(
    sandbox_http: StartSandbox, cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = sandbox_http(inbox_batch_size=40)
    env = {**os.environ, **server.env()}
    counts = Counts(server)
    first = 0
    message_ids: list[str] = []
    stored_before = 0
    for wave in range(3):
        if wave:
            expire_cached_token()
        server.inject("+12125550100", f"wave {wave}", count=INBOUND_PER_WAVE)
        sends = [
            # One send of 150 recipients: three batches on threads that share one token.
            ["send", *numbers(150 if n == 0 else 1, first + 1000 * n), "-m", f"wave {wave}"]
            for n in range(SENDERS)
        ]
        first += 1000 * SENDERS
        statuses = [["status", *message_ids[-3:]] if message_ids else ["status"]] * STATUSES
        pulls = [["inbox", "pull", "12345", "--lock-timeout", "60", "--jsonl"]] * PULLS
        workdir = tmp_path / f"wave{wave}"
        workdir.mkdir()
        results = run_together([*sends, *statuses, *pulls], env, workdir)
        assert len(results) == PROCESSES

        failed = [(code, name, err) for code, name, _, err in results if code != 0]
        assert failed == []
        for _, _, _, err in results:
            assert "Traceback" not in err and "warning" not in err
        delta = counts.take()
        expected_tokens = (1, 0) if wave == 0 else (0, 1)  # a new token, then a refresh each
        assert (delta["token"], delta["refresh"]) == expected_tokens, (wave, delta)
        assert delta["send"] == 3 + SENDERS - 1

        # Every inbound message of the wave stored once, and printed by exactly one pull.
        printed = [
            json.loads(line)["text"]
            for code, name, out, _ in results
            if name == "inbox"
            for line in out.splitlines()
        ]
        assert sorted(printed) == sorted(f"wave {wave} #{i}" for i in range(1, 301))
        stored = cli("inbox", "list", "--limit", "0", "--json").json()
        assert len(stored) == stored_before + INBOUND_PER_WAVE
        stored_before = len(stored)

        for _, name, out, _ in results:
            if name == "send":
                message_ids.extend({line.split("\t")[0] for line in out.splitlines()})
    history = cli("history", "--limit", "0", "--json").json()
    assert len(history) == 3 * (3 + SENDERS - 1)
    delivered = Counter(server.stats()["delivered_to"])
    assert set(delivered.values()) == {1}


@pytest.mark.slow
def test_a_token_expiring_on_the_service_while_processes_poll_is_renewed_once_each_time(
    sandbox_http: StartSandbox, cli: Cli, tmp_path: Path
) -> None:
    """Real time: a 2 s token (the client uses it for 1 s), five `status --wait` processes
    polling for ~3 s. Each expiry is renewed by one refresh; a second refresh of the same token
    would be refused (rotation) and show up as a client-credentials call."""
    lifetime = 2.0
    server = sandbox_http(token_lifetime=int(lifetime), delivery_seconds=3.0)
    env = {**os.environ, **server.env()}
    sent = cli.process("send", *numbers(5, 0), "-m", "poll me", "--json", env=server.env())
    assert sent.exit_code == 0, sent.stderr
    [message_id] = {row["message_id"] for row in sent.json()["messages"]}
    counts = Counts(server)
    started = time.monotonic()
    argv = ["status", message_id, "--wait", "--interval", "0.3", "--timeout", "20"]
    results = run_together([argv] * 5, env, tmp_path)
    elapsed = time.monotonic() - started
    assert [code for code, *_ in results] == [ExitCode.OK] * 5, results
    delta = counts.take()
    assert delta["token"] == 0  # never two refreshes of one refresh token
    # At most one renewal per half-lifetime that passed, and at least one happened.
    assert 1 <= delta["refresh"] <= int(elapsed / (lifetime / 2)) + 1, (delta, elapsed)
    for _, _, out, err in results:
        assert "DeliveredToTerminal" in out and "Traceback" not in err
