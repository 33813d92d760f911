"""`attsms listen` end to end: a real `attsms listen` process (uvicorn on 127.0.0.1) receiving the
pushes of a real HTTP sandbox, and what `status`, `send` and `inbox list` see afterwards.

Counts come from both sides: the sandbox's /sandbox/stats (what it pushed, what was acknowledged,
and that no status request reached it) and the stores, read through the CLI.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from attsms.core.errors import ExitCode
from attsms.sandbox import SandboxConfig
from attsms.sandbox.callbacks import CallbackConfig
from attsms.sandbox.server import SandboxServer
from tests.helpers.support import Cli, both_dialects

NUMBER = "+12125550100"
TOKEN = "test-listen-token-0123456789"
_URLS = re.compile(r"delivery callback: (\S+)/notify/(\S+)/delivery")


class Listener:
    """An `attsms listen` child process; stderr and stdout go to files in `home`."""

    def __init__(self, home: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.home = home
        self.args = args
        self.env = {**os.environ, **(env or {})}
        self.port = 0
        self.runs = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.base_url = ""
        self.token = ""

    @property
    def delivery_url(self) -> str:
        return f"{self.base_url}/notify/{self.token}/delivery"

    @property
    def inbound_url(self) -> str:
        return f"{self.base_url}/notify/{self.token}/inbound"

    @property
    def stderr(self) -> str:
        return "".join(
            (self.home / f"listen-{n}.err").read_text(errors="replace")
            for n in range(1, self.runs + 1)
        )

    @property
    def stdout(self) -> str:
        return "".join(
            (self.home / f"listen-{n}.out").read_text(errors="replace")
            for n in range(1, self.runs + 1)
        )

    def start(self) -> Listener:
        self.runs += 1
        err = self.home / f"listen-{self.runs}.err"
        with err.open("wb") as stderr, (self.home / f"listen-{self.runs}.out").open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "attsms", "listen", "--port", str(self.port), *self.args],
                stdout=out,
                stderr=stderr,
                env=self.env,
            )
        deadline = time.monotonic() + 30
        while not (m := _URLS.search(err.read_text(errors="replace"))):
            if self.proc.poll() is not None:
                raise AssertionError(f"listen exited {self.proc.returncode}: {err.read_text()}")
            assert time.monotonic() < deadline, "listen did not start"
            time.sleep(0.02)
        # The token is shown whole on a terminal only: here (a file) it is masked, so a test
        # that set it knows it; one made by listen is read where it was kept.
        self.base_url = m.group(1)
        self.token = self.env.get("ATTSMS_LISTEN_TOKEN") or m.group(2)
        self.port = int(self.base_url.rsplit(":", 1)[1])  # a restart comes back on the same port
        return self

    def kill(self, sig: int = signal.SIGKILL) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout=30)


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[Callable[..., Listener]]:
    made: list[Listener] = []

    def make(*args: str, env: dict[str, str] | None = None) -> Listener:
        made.append(Listener(tmp_path, *args, env={"ATTSMS_LISTEN_TOKEN": TOKEN, **(env or {})}))
        return made[-1].start()

    yield make
    for each in made:
        each.kill()


@pytest.fixture
def push_sandbox(
    monkeypatch: pytest.MonkeyPatch, dialect: str
) -> Iterator[Callable[..., SandboxServer]]:
    """An HTTP sandbox (in the test's `dialect`) that pushes to the given URLs; in-process
    `cli(...)` runs talk to it."""
    started: list[SandboxServer] = []

    def start(delivery_seconds: float = 0.1, **callbacks: Any) -> SandboxServer:
        retry = {"first_backoff": 0.05, "max_backoff": 0.5, "attempts": 100, **callbacks}
        server = SandboxServer(
            SandboxConfig(delivery_seconds=delivery_seconds, dialect=dialect),
            callbacks=CallbackConfig(**retry),
        ).start()
        started.append(server)
        monkeypatch.setenv("ATTSMS_BASE_URL", server.url)
        monkeypatch.setenv("ATTSMS_CLIENT_ID", server.sandbox.config.client_id)
        monkeypatch.setenv("ATTSMS_CLIENT_SECRET", server.sandbox.config.client_secret)
        return server

    yield start
    for server in started:
        server.stop()


def stats(server: SandboxServer) -> Any:
    return httpx.get(f"{server.url}/sandbox/stats").json()


def until(predicate: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def inbox_ids(cli: Cli) -> list[str]:
    listed = cli("inbox", "list", "--limit", "0", "--jsonl")
    assert listed.exit_code == 0, listed.stderr
    return [json.loads(line)["message_id"] for line in listed.lines]


# --- the promises of the issue ---------------------------------------------------------------


def test_a_pushed_receipt_reaches_status_with_no_status_request(
    cli: Cli, listener: Callable[..., Listener], push_sandbox: Callable[..., SandboxServer]
) -> None:
    lis = listener("--jsonl")
    server = push_sandbox(delivery_url=lis.delivery_url)
    sent = cli("send", NUMBER, "-m", "hello", "--notify", "--json")
    assert sent.exit_code == 0, sent.stderr
    message_id = sent.json()["messages"][0]["message_id"]
    until(lambda: stats(server)["callbacks"]["delivery"]["acknowledged"] == 1)

    status = cli("status", "--json")
    assert status.exit_code == 0, status.stderr
    assert "DeliveredToTerminal" in status.stdout and message_id in status.stdout
    after = stats(server)
    assert after["attempts"]["status"] == 0  # the receipt was enough: nothing was asked
    assert after["callbacks"]["delivery"]["retried"] == 0
    # The same receipt again (a retry whose answer was lost), and a late non-final one: both
    # answered 2xx, neither stored nor printed again, and the final status stays.
    receipt = {
        "deliveryInfoNotification": {
            "messageId": message_id,
            "deliveryInfo": {"address": NUMBER[1:], "deliveryStatus": "DeliveredToTerminal"},
        }
    }
    assert httpx.post(lis.delivery_url, json=receipt).json() == {"stored": False}
    receipt["deliveryInfoNotification"]["deliveryInfo"]["deliveryStatus"] = "MessageWaiting"
    forwarded = {"X-Forwarded-For": "203.0.113.9"}  # the log names the peer, not this (README)
    assert httpx.post(lis.delivery_url, json=receipt, headers=forwarded).json() == {"stored": False}
    assert "DeliveredToTerminal" in cli("status", "--json").stdout
    assert stats(server)["attempts"]["status"] == 0
    # --jsonl printed the stored receipt once; the log has a line for it, without the token.
    assert len(lis.stdout.splitlines()) == 1
    row = json.loads(lis.stdout.splitlines()[0])
    assert row == {
        "type": "delivery",
        "message_id": message_id,
        "deliveries": [{"to": NUMBER, "status": "DeliveredToTerminal"}],
    }
    log = lis.stderr.split("/inbound\n", 1)[1]  # after the start-up lines
    assert "POST /notify/***/delivery 200" in log and TOKEN not in log
    assert "203.0.113.9" not in log and "127.0.0.1 POST /notify/***/delivery 200" in log


@both_dialects
def test_send_wait_does_not_poll_a_message_whose_final_receipt_arrived(
    cli: Cli, listener: Callable[..., Listener], push_sandbox: Callable[..., SandboxServer]
) -> None:
    # Delivered 0.5 s after the send: the first poll (at once) sees it waiting; the receipt comes
    # before the next poll (1 s later), which therefore never happens.
    lis = listener()
    server = push_sandbox(delivery_url=lis.delivery_url, delivery_seconds=0.5)
    sent = cli("send", NUMBER, "-m", "hello", "--notify", "--wait", "--timeout", "30", "--json")
    assert sent.exit_code == 0, sent.stderr
    assert sent.json()["messages"][0]["status"] == "DeliveredToTerminal"
    assert stats(server)["callbacks"]["delivery"]["acknowledged"] == 1
    assert stats(server)["attempts"]["status"] == 1


@both_dialects
def test_a_pushed_stop_makes_send_skip_the_number(
    cli: Cli, listener: Callable[..., Listener], push_sandbox: Callable[..., SandboxServer]
) -> None:
    lis = listener("--jsonl")
    server = push_sandbox(inbound_url=lis.inbound_url)
    httpx.post(f"{server.url}/sandbox/inbox/12345", json={"from": NUMBER, "text": "STOP"})
    until(lambda: stats(server)["callbacks"]["inbound"]["acknowledged"] == 1)
    row = json.loads(lis.stdout)
    assert row.pop("message_id").startswith("MSG") and row.pop("received_at")
    assert row == {"type": "inbound", "from": NUMBER, "to": "12345", "text": "STOP"} | {
        "keyword": "stop"
    }

    sent = cli("send", NUMBER, "-m", "promo")
    assert sent.exit_code != 0
    assert "opted out" in sent.stderr
    assert stats(server)["delivered_to"] == {}
    assert stats(server)["attempts"]["inbox"] == 0  # it came by push, not by pull


def test_kill_9_twice_during_a_push_stream_loses_nothing_and_stores_nothing_twice(
    cli: Cli, listener: Callable[..., Listener], push_sandbox: Callable[..., SandboxServer]
) -> None:
    total = 2000
    lis = listener()
    server = push_sandbox(inbound_url=lis.inbound_url)
    httpx.post(
        f"{server.url}/sandbox/inbox/12345", json={"from": NUMBER, "text": "m", "count": total}
    )

    def acknowledged() -> int:
        return int(stats(server)["callbacks"]["inbound"]["acknowledged"])

    for at_least in (total // 5, total // 2):
        until(lambda: acknowledged() >= at_least)  # noqa: B023 - called before the next loop
        assert lis.kill(signal.SIGKILL) == -signal.SIGKILL
        lis.start()
    until(lambda: stats(server)["callbacks"]["pending"] == 0, timeout=120)

    pushed = stats(server)["callbacks"]["inbound"]
    assert pushed["queued"] == total
    assert pushed["acknowledged"] == total and pushed["abandoned"] == 0
    assert pushed["retried"] > 0  # the kills did cost answers
    ids = inbox_ids(cli)
    assert len(ids) == total and len(set(ids)) == total


def test_sigterm_finishes_the_request_in_flight_then_exits_0(
    cli: Cli, listener: Callable[..., Listener]
) -> None:
    lis = listener()
    body = json.dumps(
        {
            "MessageId": "MSG1",
            "Message": "hi",
            "SenderAddress": "tel:" + NUMBER,
            "DestinationAddress": "12345",
            "DateTime": "2026-12-01T00:00:00Z",
        }
    ).encode()
    with socket.create_connection(("127.0.0.1", lis.port), timeout=10) as sock:
        sock.sendall(
            f"POST /notify/{TOKEN}/inbound HTTP/1.1\r\nHost: x\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode()
            + body[:10]
        )
        time.sleep(0.3)
        assert lis.proc is not None
        lis.proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        sock.sendall(body[10:])
        answer = sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 200")
    assert lis.proc.wait(timeout=30) == 0  # the one SIGTERM: it stops by itself
    assert inbox_ids(cli) == ["MSG1"]
    assert "Traceback" not in lis.stderr


def test_a_port_in_use_is_one_line_and_exit_75(cli: Cli, listener: Callable[..., Listener]) -> None:
    lis = listener()
    result = cli.process("listen", "--port", str(lis.port), env={"ATTSMS_LISTEN_TOKEN": TOKEN})
    assert result.exit_code == ExitCode.TEMPFAIL
    assert result.stderr.startswith(f"attsms: error: port {lis.port} on 127.0.0.1 is in use")
    assert result.stderr.count("\n") == 1


# --- the token -------------------------------------------------------------------------------


def test_without_a_token_or_keyring_it_fails_naming_the_variable(cli: Cli) -> None:
    result = cli.process("listen", "--port", "0")
    assert result.exit_code == ExitCode.AUTH
    assert result.stderr.count("\n") == 1
    assert "ATTSMS_LISTEN_TOKEN" in result.stderr


def test_a_token_too_short_to_be_a_secret_is_refused(cli: Cli) -> None:
    result = cli.process("listen", "--port", "0", env={"ATTSMS_LISTEN_TOKEN": "abc"})
    assert result.exit_code == ExitCode.USAGE
    assert result.stderr.startswith("attsms: error: the listen token in environment")
    assert "abc" not in result.stderr.replace("ATTSMS", "")


def _login_file_store(cli: Cli, server: SandboxServer) -> None:
    done = cli(
        "login",
        "--client-id",
        server.sandbox.config.client_id,
        "--client-secret-stdin",
        "--store",
        "file",
        "--base-url",
        server.url,
        input=server.sandbox.config.client_secret + "\n",
    )
    assert done.exit_code == 0, done.stderr


def test_a_made_token_is_kept_in_the_file_store_never_in_config_and_reused(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with SandboxServer(SandboxConfig()).start() as server:
        _login_file_store(cli, server)
    monkeypatch.delenv("ATTSMS_CLIENT_SECRET", raising=False)
    first = Listener(tmp_path).start()
    assert "token made and saved in file" in first.stderr
    first.kill(signal.SIGTERM)
    config_dir = Path(os.environ["ATTSMS_CONFIG_DIR"])
    token_file = config_dir / "secrets" / "default.listen-token"
    token = token_file.read_text().strip()
    assert first.token == token[:4] + "…"  # stderr is not a terminal: masked
    assert token not in first.stderr
    assert token_file.stat().st_mode & 0o777 == 0o600
    assert token not in (config_dir / "config.toml").read_text()

    second = Listener(tmp_path).start()
    second.kill(signal.SIGTERM)
    assert token_file.read_text().strip() == token
    assert f"token from file {token_file}" in second.stderr
    assert f"cat {token_file}" in second.stderr  # how to see it whole

    shown = cli("auth", "status", "--json")
    assert shown.json()[0]["listen_token"] == f"file {token_file}"
    assert token not in shown.stdout + shown.stderr


def test_a_made_token_goes_to_the_keyring_when_the_profile_uses_it(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.auth.test_credentials import use_backend

    keyring_file = tmp_path / "fake-keyring.json"
    use_backend(monkeypatch, "FileKeyring", keyring_file)
    made = Listener(tmp_path).start()
    made.kill(signal.SIGTERM)
    token = json.loads(keyring_file.read_text())["attsms/default:listen-token"]
    assert made.token == token[:4] + "…" and token not in made.stderr
    assert "token made and saved in keyring" in made.stderr
    assert "keyring get attsms default:listen-token" in made.stderr  # how to see it whole
    shown = cli("auth", "status", "--json")
    assert shown.json()[0]["listen_token"].startswith("keyring (")
    assert token not in shown.stdout + shown.stderr
    monkeypatch.setenv("ATTSMS_LISTEN_TOKEN", TOKEN)
    shown = cli("auth", "status", "--json")
    assert shown.json()[0]["listen_token"] == "environment (ATTSMS_LISTEN_TOKEN)"
    assert TOKEN not in shown.stdout + shown.stderr


def test_the_token_is_masked_on_stderr_that_is_not_a_terminal(
    listener: Callable[..., Listener],
) -> None:
    lis = listener()  # stderr is a file, as under systemd (journald) or a log redirect
    assert TOKEN not in lis.stderr
    assert f"{lis.base_url}/notify/{TOKEN[:4]}…/delivery" in lis.stderr
    assert f"{lis.base_url}/notify/{TOKEN[:4]}…/inbound" in lis.stderr
    # It says where the token is kept, so its owner can see it there.
    assert "it is the value of ATTSMS_LISTEN_TOKEN" in lis.stderr
    # ... and the URLs work with the whole token all the same.
    assert httpx.post(lis.inbound_url, json={}).status_code == 400


def test_the_token_is_shown_whole_on_a_terminal(tmp_path: Path) -> None:
    import pty

    main, tty = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "attsms", "listen", "--port", "0"],
        stdout=subprocess.DEVNULL,
        stderr=tty,
        env={**os.environ, "ATTSMS_LISTEN_TOKEN": TOKEN, "COLUMNS": "300"},
    )
    os.close(tty)
    seen = b""
    try:
        deadline = time.monotonic() + 30
        while b"inbound callback" not in seen or not seen.endswith(b"\n"):
            assert proc.poll() is None and time.monotonic() < deadline, seen
            seen += os.read(main, 4096)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
        os.close(main)
    text = seen.decode(errors="replace")
    assert f"/notify/{TOKEN}/delivery" in text and f"/notify/{TOKEN}/inbound" in text


_STOP_WHILE_ANNOUNCING = """
import os, signal
from attsms.receive.listen import ListenApp, serve
from attsms.receive.writer import Writer

class Nothing:
    def store(self, notifications): return [True] * len(notifications)
    def close(self): pass

writer = Writer(Nothing)
serve(ListenApp("t" * 32, writer), writer, "127.0.0.1", 0,
      announce=lambda url: os.kill(os.getpid(), signal.SIGTERM))
print("stopped")
"""


def test_a_sigterm_while_announcing_stops_the_listener() -> None:
    # A supervisor may stop the listener the moment it prints its URLs: before uvicorn has
    # taken the signals. The signal is kept and acted on (exit 0), never lost.
    done = subprocess.run(
        [sys.executable, "-c", _STOP_WHILE_ANNOUNCING], capture_output=True, text=True, timeout=60
    )
    assert (done.returncode, done.stdout) == (0, "stopped\n"), done.stderr


def test_help_loads_no_server() -> None:
    heavy = {"uvicorn", "h11", "asyncio", "httpx", "rich", "keyring", "sqlite3"}
    script = (
        "import io, sys\n"
        "from attsms.cli.main import main\n"
        "sys.stdout = io.StringIO()\n"
        "main(['listen', '--help'])\n"
        "sys.__stdout__.write(' '.join(sorted(sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert not heavy & set(done.stdout.split())
