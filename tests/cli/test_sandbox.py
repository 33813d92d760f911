"""`attsms sandbox serve` with bad arguments, and `attsms sandbox reset` for a broken state file."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from attsms.cli.sandbox_admin import read_stats, sandbox_state_path
from tests.helpers.support import Cli, SandboxHttp
from tests.promises.test_storage_faults import disk  # noqa: F401  (the fixture)

NUMBER = "+12125550100"


def _one_error_line(stderr: str) -> str:
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("attsms: error: ")
    assert "unexpected" not in lines[0]
    return lines[0]


# serve -------------------------------------------------------------------------------------


@pytest.mark.parametrize("port", ["70000", "65536", "-1"])
def test_serve_port_out_of_range_is_a_usage_error(cli: Cli, port: str) -> None:
    result = cli("sandbox", "serve", "--port", port)
    assert result.exit_code == 2
    line = _one_error_line(result.stderr)
    assert "--port" in line and "0<=x<=65535" in line
    assert result.stdout == ""


def test_serve_with_an_unknown_dialect_is_a_usage_error(cli: Cli) -> None:
    result = cli("sandbox", "serve", "--port", "0", "--dialect", "pascal")
    assert result.exit_code == 2
    line = _one_error_line(result.stderr)
    assert "--dialect" in line and "spec" in line and "codekit" in line
    assert result.stdout == ""


def test_serve_dialect_codekit_answers_as_the_sdks_read(tmp_path: Path) -> None:
    argv = [sys.executable, "-m", "attsms", "sandbox", "serve", "--port", "0"]
    env = {**os.environ, "ATTSMS_DATA_DIR": str(tmp_path)}
    proc = subprocess.Popen(
        [*argv, "--dialect", "codekit"], env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().split()[-1]
        banner = [proc.stdout.readline().split() for _ in range(5)]
        assert ["dialect:", "codekit"] in [line[:2] for line in banner], banner
        token = httpx.post(
            f"{url}/oauth/v4/token",
            data={"grant_type": "client_credentials", "scope": "SMS"}
            | {"client_id": "sandbox-client-id", "client_secret": "sandbox-client-secret"},
        ).json()["access_token"]
        inbox = httpx.get(
            f"{url}/sms/v3/messaging/inbox/12345", headers={"Authorization": f"Bearer {token}"}
        )
        assert inbox.json()["InboundSmsMessageList"]["NumberOfMessagesInThisBatch"] == "0"
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=10)
    finally:
        proc.kill()
    assert proc.returncode == 0


def test_serve_help_names_the_dialects(cli: Cli) -> None:
    result = cli("sandbox", "serve", "--help")
    assert result.exit_code == 0
    assert "--dialect" in result.stdout and "spec|codekit" in result.stdout


@pytest.mark.parametrize("host", ["999.1.1.1", "no-such-host.invalid"])
def test_serve_on_an_unknown_host_is_a_usage_error(cli: Cli, host: str) -> None:
    result = cli("sandbox", "serve", "--host", host, "--port", "0")
    assert result.exit_code == 2
    line = _one_error_line(result.stderr)
    assert f"unknown host {host!r}" in line
    assert result.stdout == ""


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield listener.getsockname()[1]


def test_serve_on_a_port_in_use_says_so_and_exits_75(cli: Cli, taken_port: int) -> None:
    result = cli("sandbox", "serve", "--port", str(taken_port))
    assert result.exit_code == 75
    line = _one_error_line(result.stderr)
    assert f"port {taken_port} on 127.0.0.1 is in use" in line
    assert "--port 0" in line  # the way out
    assert result.stdout == ""


def test_serve_on_an_address_of_another_machine_is_a_usage_error(cli: Cli) -> None:
    result = cli("sandbox", "serve", "--host", "192.0.2.1", "--port", "0")  # TEST-NET-1
    assert result.exit_code == 2
    assert "192.0.2.1" in _one_error_line(result.stderr)


# a broken in-process state file, and reset ---------------------------------------------------


def _break_state() -> Path:
    path = sandbox_state_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("{not json")
    return path


@pytest.mark.parametrize(
    "argv",
    [
        ["--sandbox", "send", NUMBER, "-m", "hi"],
        ["--sandbox", "status", "SMSd535f0137358ec3a"],
        ["--sandbox", "inbox", "pull"],
        ["--sandbox", "auth", "token"],
        ["sandbox", "inject", "--from", NUMBER, "hi"],
    ],
    ids=" ".join,
)
def test_a_broken_state_file_exits_1_naming_sandbox_reset(cli: Cli, argv: list[str]) -> None:
    sent = cli("--sandbox", "send", NUMBER, "-m", "first")  # a token is cached now
    assert sent.exit_code == 0, sent.stderr
    path = _break_state()
    result = cli(*argv)
    assert result.exit_code == 1, result.stderr
    line = _one_error_line(result.stderr)
    assert str(path) in line
    assert "`attsms sandbox reset`" in line
    assert "try again later" not in line
    assert path.read_text() == "{not json"  # left as it was, for a look


def test_reset_clears_a_broken_state_and_the_sandbox_works_again(cli: Cli) -> None:
    _break_state()
    assert cli("--sandbox", "send", NUMBER, "-m", "lost").exit_code == 1
    reset = cli("sandbox", "reset")
    assert reset.exit_code == 0, reset.stderr
    assert "reset" in reset.stderr.lower()
    sent = cli("--sandbox", "send", NUMBER, "-m", "hi")
    assert sent.exit_code == 0, sent.stderr
    assert read_stats()["delivered_to"] == {f"tel:{NUMBER}": 1}  # the failed one never went


def test_reset_forgets_messages_tokens_and_inbox(cli: Cli) -> None:
    assert cli("--sandbox", "send", NUMBER, "-m", "hi").exit_code == 0
    assert cli("sandbox", "inject", "--from", NUMBER, "hello").exit_code == 0
    reset = cli("sandbox", "reset", "--json")
    assert (reset.exit_code, reset.json()) == (0, {"reset": True})
    stats = read_stats()
    assert (stats["send_requests"], stats["delivered_to"]) == (0, {})
    assert set(stats["operations"].values()) == set(stats["attempts"].values()) == {0}
    pulled = cli("--sandbox", "inbox", "pull", "--json")
    assert pulled.exit_code == 0, pulled.stderr
    assert "hello" not in pulled.stdout  # the injected message went with the reset


def test_reset_of_a_running_server(
    cli: Cli,
    sandbox_http: Callable[..., SandboxHttp],
    use_server: Callable[[SandboxHttp], SandboxHttp],
) -> None:
    server = use_server(sandbox_http())
    assert cli("send", NUMBER, "-m", "hi").exit_code == 0
    assert server.stats()["delivered_to"] == {f"tel:{NUMBER}": 1}
    result = cli("sandbox", "reset", "--url", server.url)
    assert result.exit_code == 0, result.stderr
    assert server.stats()["delivered_to"] == {}


# --sandbox on a data dir it cannot write ------------------------------------------------------


@pytest.mark.parametrize("state", ["new", "existing"])
def test_sandbox_status_on_a_read_only_data_dir_is_one_clear_line(
    cli: Cli,
    disk: Any,  # noqa: F811  (the fixture imported above)
    monkeypatch: pytest.MonkeyPatch,
    state: str,
) -> None:
    fs = disk()
    data = fs.path / "data"
    monkeypatch.setenv("ATTSMS_DATA_DIR", str(data))
    if state == "existing":
        assert cli("--sandbox", "send", NUMBER, "-m", "hi", "-q").exit_code == 0
    fs.read_only()
    try:
        results = [cli("--sandbox", "status"), cli("--sandbox", "history")]
    finally:
        fs.writable()
    for result in results:
        assert "Traceback" not in result.stderr
        if result.exit_code != 0:
            line = _one_error_line(result.stderr)
            assert str(data) in line, line
            assert result.exit_code == 1, result


def test_the_in_process_sandbox_speaks_the_dialect_asked_for(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    from attsms.cli.sandbox_admin import sandbox_session
    from attsms.cli.settings import resolve_settings

    monkeypatch.setenv("ATTSMS_SANDBOX_DIALECT", "codekit")
    settings = resolve_settings(sandbox=True, profile=None)
    assert settings.sandbox_dialect == "codekit"
    # attsms itself reads it end to end: a STOP pulled in the SDKs' shapes skips the number.
    assert cli("--sandbox", "sandbox", "inject", "--from", "+12125550100", "STOP").exit_code == 0
    assert cli("--sandbox", "inbox", "pull", "-q").exit_code == 0
    refused = cli("--sandbox", "send", "+12125550100", "-m", "hi")
    assert refused.exit_code == 2 and "opted out" in refused.stderr
    # …and the answers are the SDKs' shapes, not the spec's.
    session = sandbox_session(region="US", log=None, warn=None, dialect="codekit")
    assert session.transport is not None
    with httpx.Client(transport=session.transport(), base_url=session.base_url) as raw:
        token = raw.post(
            "/oauth/v4/token",
            data={
                "grant_type": "client_credentials",
                "client_id": session.client_id,
                "client_secret": session.secret(),
                "scope": "SMS",
            },
        ).json()["access_token"]
        inbox = raw.get(
            "/sms/v3/messaging/inbox/12345", headers={"Authorization": f"Bearer {token}"}
        )
    assert "InboundSmsMessageList" in inbox.json()


def test_a_bad_sandbox_dialect_is_one_line(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ATTSMS_SANDBOX_DIALECT", "pascal")
    result = cli("--sandbox", "send", "+12125550100", "-m", "hi")
    assert result.exit_code == 2
    assert "ATTSMS_SANDBOX_DIALECT must be spec or codekit" in result.stderr
