"""Two machines, one truth: two attsms processes with separate homes and host names (standing for
a laptop and a cron host) share one PostgreSQL database.

Counted on the sandbox server's own `/sandbox/stats` (`delivered_to`): nobody is texted twice, a
STOP pulled on one host is honoured on the other, and an inbox drained from both hosts at once
is stored whole, each message once.
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
from tests.helpers import pg
from tests.helpers.support import SandboxHttp

StartSandbox = Callable[..., SandboxHttp]
ALICE, BOB = "+12125550100", "+12125550101"


class Host:
    """An attsms installation of its own (config, cache, data) on a host of its own name."""

    def __init__(self, name: str, home: Path, server: SandboxHttp, url: str) -> None:
        self.name = name
        self.env = {
            **os.environ,
            **server.env(),
            "ATTSMS_CONFIG_DIR": str(home / "config"),
            "ATTSMS_CACHE_DIR": str(home / "cache"),
            "ATTSMS_DATA_DIR": str(home / "data"),
            "ATTSMS_HOSTNAME": name,
            "ATTSMS_DATABASE_URL": url,
        }

    def start(self, *args: str, stdout: Any = subprocess.PIPE) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", "attsms", *args],
            stdout=stdout,
            stderr=subprocess.PIPE,
            env=self.env,
        )

    def run(self, *args: str, timeout: float = 60) -> tuple[int, str, str]:
        proc = self.start(*args)
        out, err = proc.communicate(timeout=timeout)
        return proc.returncode, out.decode(), err.decode()


@pytest.fixture
def hosts(
    sandbox_http: StartSandbox, pg_url: str, tmp_path: Path
) -> Callable[..., tuple[SandboxHttp, Host, Host]]:
    def make(**config: object) -> tuple[SandboxHttp, Host, Host]:
        server = sandbox_http(**config)
        a = Host("host-a", tmp_path / "a", server, pg_url)
        b = Host("host-b", tmp_path / "b", server, pg_url)
        return server, a, b

    return make


def _delivered(server: SandboxHttp) -> Counter[str]:
    return Counter(server.stats()["delivered_to"])


def test_a_stop_pulled_on_one_host_is_skipped_by_a_send_from_the_other(
    hosts: Callable[..., tuple[SandboxHttp, Host, Host]],
) -> None:
    server, a, b = hosts()
    server.inject(ALICE, "STOP")
    code, _, err = a.run("inbox", "pull", "12345", "-q")
    assert code == 0, err
    code, out, err = b.run("send", ALICE, BOB, "-m", "sale today", "--json")
    assert code == 0, err
    assert _delivered(server) == Counter({f"tel:{BOB}": 1})
    assert "opted out" in err.lower() or "skipped" in out.lower() + err.lower()
    # Both hosts see the send, its delivery status and the opt-out, whoever made them.
    [message_id] = {m["message_id"] for m in json.loads(out)["messages"] if m["message_id"]}
    code, out, err = a.run("status", message_id, "--json")
    assert code == 0 and message_id in out, err
    for host in (a, b):
        code, out, err = host.run("history", "--json")
        assert code == 0, err
        assert [m["message"] for m in json.loads(out)] == ["sale today"]
        code, out, err = host.run("optout", "list", "--json")
        assert [o["number"] for o in json.loads(out)] == [ALICE]


RECIPIENTS = 300  # 6 batches


def test_a_keyed_job_rerun_on_another_host_while_the_first_lives_exits_75(
    hosts: Callable[..., tuple[SandboxHttp, Host, Host]], tmp_path: Path
) -> None:
    # 6 batches one at a time at 400 ms: A is alive for seconds, even on a busy machine.
    server, a, b = hosts(latency_ms=400)
    to = tmp_path / "to.txt"
    numbers = [f"+1212{4000000 + i:07d}" for i in range(RECIPIENTS)]
    to.write_text("\n".join(numbers) + "\n")
    argv = ["send", "--to-file", str(to), "-m", "overlap", "--dedupe-key", "nightly"]
    argv += ["--concurrency", "1", "--json"]
    first = a.start(*argv)
    deadline = time.monotonic() + 30
    while int(server.stats()["send_requests"]) < 1:
        assert first.poll() is None, first.communicate()[1].decode()
        assert time.monotonic() < deadline, "host A made no progress"
        time.sleep(0.01)

    # Host B cannot tell whether host A's process lives (another host): its claim holds.
    code, out, err = b.run(*argv, "--resend-unknown")
    assert code == ExitCode.TEMPFAIL, err
    assert "on host-a" in err and out == ""

    _, err_a = first.communicate(timeout=60)
    assert first.returncode == 0, err_a.decode()
    # Once A is done, B's re-run finds every batch sent.
    code, out, err = b.run(*argv)
    assert code == 0, err
    assert json.loads(out)["summary"]["already_sent"] == RECIPIENTS
    counts = _delivered(server)
    assert set(counts) == {f"tel:{n}" for n in numbers}
    assert max(counts.values()) == 1


INBOUND = 10_000


def test_two_hosts_draining_one_inbox_at_once_store_each_message_once(
    hosts: Callable[..., tuple[SandboxHttp, Host, Host]], tmp_path: Path
) -> None:
    server, a, b = hosts(inbox_batch_size=100)
    server.inject(ALICE, "hi", count=INBOUND)
    # Output to files: a pipe nobody reads yet would stall the pull that holds the lock.
    files = [tmp_path / f"{h.name}.jsonl" for h in (a, b)]
    pulls = []
    for host, file in zip((a, b), files, strict=True):
        with file.open("wb") as sink:
            pulls.append(
                host.start("inbox", "pull", "12345", "--jsonl", "--lock-timeout", "60", stdout=sink)
            )
    for proc in pulls:
        _, problem = proc.communicate(timeout=120)
        assert proc.returncode == 0, problem.decode()
    printed = [json.loads(line)["message_id"] for f in files for line in f.read_text().splitlines()]
    assert len(printed) == INBOUND and len(set(printed)) == INBOUND  # each reported once
    code, out, err = b.run("inbox", "list", "--limit", "0", "--json")
    assert code == 0, err
    stored = [m["message_id"] for m in json.loads(out)]
    assert len(stored) == INBOUND and set(stored) == set(printed)


def test_a_connection_dropped_mid_job_loses_no_journal_row(
    hosts: Callable[..., tuple[SandboxHttp, Host, Host]], tmp_path: Path, pg_cluster: pg.Cluster
) -> None:
    server, a, _ = hosts(latency_ms=150)
    database = a.env["ATTSMS_DATABASE_URL"].rpartition("/")[2].partition("?")[0]
    to = tmp_path / "to.txt"
    numbers = [f"+1212{5000000 + i:07d}" for i in range(RECIPIENTS)]
    to.write_text("\n".join(numbers) + "\n")
    argv = ["send", "--to-file", str(to), "-m", "drop", "--dedupe-key", "drop"]
    argv += ["--concurrency", "1", "--json"]
    first = a.start(*argv)
    deadline = time.monotonic() + 30
    while int(server.stats()["send_requests"]) < 2:
        assert first.poll() is None, first.communicate()[1].decode()
        assert time.monotonic() < deadline, "the send made no progress"
        time.sleep(0.01)
    # This test's own database only: other workers' tests share the cluster.
    terminate = "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
    pg_cluster.admin(f"{terminate} WHERE application_name = 'attsms' AND datname = '{database}'")
    _, err = first.communicate(timeout=60)
    # The store reconnects at its next transaction, so the run usually carries on (0); a drop
    # inside a transaction costs that batch (it stays "may have gone") or stops the run (75).
    assert first.returncode in (0, ExitCode.PARTIAL, ExitCode.UNKNOWN_OUTCOME, ExitCode.TEMPFAIL)
    assert "Traceback" not in err.decode(), err.decode()
    # Every request that reached the service has its row: a re-run sends each number once.
    code, out, err2 = a.run(*argv)
    assert code in (0, ExitCode.UNKNOWN_OUTCOME), err2
    counts = _delivered(server)
    assert max(counts.values()) == 1
    code, out, err2 = a.run("history", "--limit", "0", "--json")
    journaled = {r["address"] for b in json.loads(out) for r in b["recipients"]}
    assert set(counts) <= journaled
