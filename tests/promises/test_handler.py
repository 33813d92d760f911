"""Every inbound message handled by the user's script (issue 24), with real processes, real
signals, the sandbox over HTTP and a real `listen`: each message handled (its handler exited 0)
exactly once, except a dead letter; after a kill -9 at most the one in flight twice; two hosts on
one PostgreSQL store never both; SIGTERM lets the running handler finish and be recorded.

The handler is a `sh` script that logs each run to `runs` and each exit 0 to `ok`.
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

import httpx

from attsms.core.errors import ExitCode
from tests.cli.test_listen import Listener, stats, until
from tests.cli.test_listen import push_sandbox as push_sandbox  # a fixture
from tests.helpers.support import Cli, SandboxHttp

Server = Callable[..., SandboxHttp]
SENDERS = [f"+1212555{n:04d}" for n in range(100, 105)]

# flaky: fails the first time (a marker file remembers); poison: always; slow: sleeps first.
HANDLER = """#!/bin/sh
id="$ATTSMS_MESSAGE_ID"
echo "$id" >> "{dir}/runs"
case "$ATTSMS_TEXT" in
  slow*) sleep "${{SLOW:-0.5}}";;
  flaky*) if [ ! -e "{dir}/seen-$id" ]; then
      : > "{dir}/seen-$id"; echo "flaky $id" >&2; exit 1
    fi;;
  poison*) echo "cannot handle $id" >&2; exit 7;;
esac
echo "$id" >> "{dir}/ok"
"""


def handler(tmp_path: Path) -> tuple[str, Path]:
    work = tmp_path / "handler"
    work.mkdir(exist_ok=True)
    script = work / "handle.sh"
    script.write_text(HANDLER.format(dir=work))
    script.chmod(0o755)
    return str(script), work


def lines(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []


def attsms(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "attsms", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, **(env or {})},
    )


def finish(proc: subprocess.Popen[bytes], timeout: float = 120) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out.decode(), err.decode()


def test_500_messages_each_handled_once_but_the_dead_letter_which_retry_clears(
    cli: Cli, sandbox_http: Server, use_server: Callable[[SandboxHttp], SandboxHttp], tmp_path: Path
) -> None:
    server = use_server(sandbox_http(inbox_batch_size=100))
    for sender in SENDERS:
        server.inject(sender, "ok", count=90)
    # A failure holds its sender's later messages back (their order is kept): one each.
    for n in range(49):
        server.inject(f"+1646555{n:04d}", "flaky")
    server.inject("+16465559999", "poison")  # 500 in all
    script, work = handler(tmp_path)
    rules = ("--backoff", "0", "--max-attempts", "3")

    code, out, err = finish(attsms("inbox", "pull", "12345", "--exec", script, *rules))
    assert code == 0, err
    assert out == ""  # the handler printed nothing; attsms prints no message with --exec
    assert "Pulled 500 new messages" in err
    assert "Handled " in err and "failed (retried on a later run)" in err
    assert "Traceback" not in err
    code, _, err = finish(attsms("inbox", "handle", "--exec", script, *rules))
    assert code == 0, err
    code, out, err = finish(attsms("inbox", "handle", "--exec", script, *rules, "--json"))
    assert code == ExitCode.PARTIAL, err
    assert "1 message became a dead letter after 3 failed attempts" in err
    poison = json.loads(out)["dead_letters"]
    assert len(poison) == 1

    ok = Counter(lines(work / "ok"))
    assert len(ok) == 499 and set(ok.values()) == {1}  # each handled exactly once
    assert poison[0] not in ok
    failed = cli("inbox", "list", "--failed", "--json")
    assert failed.exit_code == 0
    [dead] = failed.json()
    assert (dead["message_id"], dead["text"], dead["attempts"]) == (poison[0], "poison", 3)
    assert dead["last_error"] == f"exit 7: cannot handle {poison[0]}"
    assert cli("inbox", "list", "--unhandled", "--json").json() == []

    retried = cli("inbox", "retry", "--all-failed", "--json")
    assert (retried.exit_code, retried.json()) == (0, {"retried": poison})
    assert cli("inbox", "list", "--failed", "--json").json() == []
    assert [m["message_id"] for m in cli("inbox", "list", "--unhandled", "--json").json()] == poison
    fixed = tmp_path / "fixed.sh"
    fixed.write_text(f'#!/bin/sh\necho "$ATTSMS_MESSAGE_ID" >> {work}/ok\n')
    fixed.chmod(0o755)
    assert cli.process("inbox", "handle", "--exec", str(fixed)).exit_code == 0
    assert Counter(lines(work / "ok")) == Counter({**ok, poison[0]: 1})
    assert server.stats()["attempts"]["inbox"] == 5  # one pull: 5 batches of 100


def test_kill_9_mid_run_then_a_rerun_skips_nothing_and_repeats_at_most_the_one_in_flight(
    sandbox_http: Server, use_server: Callable[[SandboxHttp], SandboxHttp], tmp_path: Path
) -> None:
    server = use_server(sandbox_http())
    server.inject(SENDERS[0], "slow", count=40)
    script, work = handler(tmp_path)
    env = {"SLOW": "0.05"}
    assert finish(attsms("inbox", "pull", "12345", env=env))[0] == 0
    run = attsms("inbox", "handle", "--exec", script, env=env)
    until(lambda: len(lines(work / "ok")) >= 10)
    run.kill()
    run.wait()
    time.sleep(0.2)  # the orphaned handler in flight (its own session) finishes
    code, _, err = finish(attsms("inbox", "handle", "--exec", script, env=env))
    assert code == 0, err
    ok = Counter(lines(work / "ok"))
    assert len(ok) == 40
    assert sum(ok.values()) - 40 <= 1  # at most the one in flight ran twice
    assert "Traceback" not in err


def test_two_hosts_on_one_postgresql_store_hand_each_message_to_one(
    sandbox_http: Server, pg_url: str, tmp_path: Path
) -> None:
    server = sandbox_http()
    for sender in SENDERS:
        server.inject(sender, "ok", count=60)
    script, work = handler(tmp_path)

    def host(name: str) -> dict[str, str]:
        home = tmp_path / name
        return {
            **server.env(),
            "ATTSMS_CONFIG_DIR": str(home / "config"),
            "ATTSMS_CACHE_DIR": str(home / "cache"),
            "ATTSMS_DATA_DIR": str(home / "data"),
            "ATTSMS_HOSTNAME": name,
            "ATTSMS_DATABASE_URL": pg_url,
        }

    assert finish(attsms("inbox", "pull", "12345", env=host("host-a")))[0] == 0
    runs = [attsms("inbox", "handle", "--exec", script, env=host(n)) for n in ("host-a", "host-b")]
    results = [finish(run) for run in runs]
    assert [code for code, _, _ in results] == [0, 0], [err for _, _, err in results]
    ok = Counter(lines(work / "ok"))
    assert len(ok) == 300 and set(ok.values()) == {1}
    assert Counter(lines(work / "runs")) == ok  # never started twice either


def test_sigterm_lets_the_running_handler_finish_and_records_it(
    cli: Cli, sandbox_http: Server, use_server: Callable[[SandboxHttp], SandboxHttp], tmp_path: Path
) -> None:
    server = use_server(sandbox_http())
    server.inject(SENDERS[0], "slow", count=3)
    script, work = handler(tmp_path)
    assert cli("inbox", "pull", "12345").exit_code == 0
    run = attsms("inbox", "handle", "--exec", script, env={"SLOW": "1.5"})
    until(lambda: len(lines(work / "runs")) == 1)
    run.send_signal(signal.SIGTERM)
    code, _, err = finish(run)
    assert code == ExitCode.TERMINATED, err
    assert "Traceback" not in err and "Handled 1 message before stopping." in err
    assert len(lines(work / "ok")) == 1 and len(lines(work / "runs")) == 1
    waiting = cli("inbox", "list", "--unhandled", "--json").json()
    assert len(waiting) == 2 and lines(work / "ok")[0] not in {m["message_id"] for m in waiting}


def test_a_second_sigterm_stops_the_handler_and_marks_nothing_handled(
    cli: Cli, sandbox_http: Server, use_server: Callable[[SandboxHttp], SandboxHttp], tmp_path: Path
) -> None:
    server = use_server(sandbox_http())
    server.inject(SENDERS[0], "slow")
    script, work = handler(tmp_path)
    assert cli("inbox", "pull", "12345").exit_code == 0
    run = attsms("inbox", "handle", "--exec", script, env={"SLOW": "30"})
    until(lambda: len(lines(work / "runs")) == 1)
    run.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    run.send_signal(signal.SIGTERM)  # the user will not wait
    code, _, err = finish(run, timeout=20)
    assert code == ExitCode.TERMINATED, err
    assert "Traceback" not in err and lines(work / "ok") == []
    [waiting] = cli("inbox", "list", "--unhandled", "--json").json()
    assert waiting["attempts"] == 1 and waiting["last_error"].startswith("interrupted")
    # The handler was stopped with attsms, not left running: its log never gets the exit 0.
    time.sleep(0.5)
    assert lines(work / "ok") == []


def test_listen_exec_handles_each_pushed_message_once_across_a_restart(
    cli: Cli,
    tmp_path: Path,
    push_sandbox: Callable[..., object],
) -> None:
    script, work = handler(tmp_path)
    env = {"ATTSMS_LISTEN_TOKEN": "test-listen-token-0123456789", "SLOW": "0.02"}
    lis = Listener(tmp_path, "--exec", script, "--backoff", "0", env=env).start()
    try:
        server = push_sandbox(inbound_url=lis.inbound_url)
        url = f"{server.url}/sandbox/inbox/12345"  # type: ignore[attr-defined]
        httpx.post(url, json={"from": SENDERS[0], "text": "slow", "count": 100})
        httpx.post(url, json={"from": SENDERS[1], "text": "flaky", "count": 20})
        until(lambda: stats(server)["callbacks"]["inbound"]["acknowledged"] == 120)  # type: ignore[arg-type]
        until(lambda: len(lines(work / "ok")) >= 30)
        assert lis.kill(signal.SIGTERM) == 0  # a listener stops as asked: exit 0
        lis.start()  # resumes where it stopped
        until(lambda: len(set(lines(work / "ok"))) == 120, timeout=60)
    finally:
        lis.kill(signal.SIGTERM)
    ok = Counter(lines(work / "ok"))
    assert set(ok.values()) == {1}  # SIGTERM let the running one finish and be marked
    assert cli("inbox", "list", "--unhandled", "--json").json() == []
    assert "Traceback" not in lis.stderr
