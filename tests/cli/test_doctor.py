"""`attsms doctor` against the HTTP sandbox: a healthy profile passes (and nothing is sent or
stored), and each failure the issue lists fails with the right line and its fix."""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest

from attsms.core.errors import ExitCode
from tests.auth.test_credentials import SecretService, secret_service, use_backend
from tests.helpers import pg
from tests.helpers.support import Cli, SandboxHttp
from tests.promises.test_storage_faults import Disk, disk

__all__ = ["disk", "secret_service"]  # fixtures, used by name

StartSandbox = Callable[..., SandboxHttp]


def _lines(result: Any) -> dict[str, str]:
    """{check name: its whole line} of a piped (plain) report."""
    out = {}
    for line in result.stdout.splitlines():
        _status, rest = line.split(None, 1)
        out[rest.split(":", 1)[0]] = line
    return out


def _healthy(sandbox_http: StartSandbox, use_server: Callable[..., Any]) -> SandboxHttp:
    server = sandbox_http()
    use_server(server)  # ATTSMS_BASE_URL, _CLIENT_ID, _CLIENT_SECRET
    return server


def test_a_healthy_profile_passes_and_nothing_is_sent_or_stored(
    cli: Cli, sandbox_http: StartSandbox, use_server: Callable[..., Any], backend: str
) -> None:
    server = _healthy(sandbox_http, use_server)
    data = Path(os.environ["ATTSMS_DATA_DIR"])
    result = cli("doctor")
    assert result.exit_code == 0, result.stdout + result.stderr
    lines = _lines(result)
    for name in ("config", "secret", "cache dir", "token", "store", "clock"):
        assert lines[name].startswith("ok "), lines[name]
    assert "FAIL" not in result.stdout and "✓" not in result.stdout  # plain when piped
    assert ("postgresql" if backend == "postgresql" else "sqlite") in lines["store"]

    report = cli("doctor", "--json").json()
    assert report["ok"] is True and report["profile"] == "default"
    assert {c["name"] for c in report["checks"]} >= {"secret", "token", "store", "clock"}
    operations = server.stats()["operations"]
    assert operations.get("send", 0) == 0 and operations.get("inbox", 0) == 0
    assert not list(data.glob("**/*.sqlite3*"))  # no store was made


def test_wrong_credentials_fail_the_token_line(
    cli: Cli,
    sandbox_http: StartSandbox,
    use_server: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _healthy(sandbox_http, use_server)
    monkeypatch.setenv("ATTSMS_CLIENT_SECRET", "not-the-secret")
    result = cli("doctor")
    assert result.exit_code == 1
    token = _lines(result)["token"]
    assert token.startswith("FAIL ") and "check the client id and secret" in token
    assert "not-the-secret" not in result.stdout + result.stderr
    json_report = cli("doctor", "--json")
    assert json_report.exit_code == 1 and json_report.json()["ok"] is False


def test_a_skewed_clock_fails_the_clock_line(
    cli: Cli, sandbox_http: StartSandbox, use_server: Callable[..., Any]
) -> None:
    server = _healthy(sandbox_http, use_server)
    then = datetime.now(UTC) - timedelta(minutes=10)
    server.faults(
        {
            "method": "GET",
            "path_prefix": "/sms/v3/messaging/outbox",
            "status": 404,
            "headers": {"Date": format_datetime(then, usegmt=True)},
        }
    )
    result = cli("doctor")
    assert result.exit_code == 1
    clock = _lines(result)["clock"]
    assert clock.startswith("FAIL ") and "ahead of the service's" in clock and "NTP" in clock
    assert all(
        not line.startswith("FAIL ") for name, line in _lines(result).items() if name != "clock"
    )


def test_a_read_only_cache_dir_fails_its_line(
    cli: Cli,
    sandbox_http: StartSandbox,
    use_server: Callable[..., Any],
    disk: Callable[..., Disk],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _healthy(sandbox_http, use_server)
    cache = disk()
    monkeypatch.setenv("ATTSMS_CACHE_DIR", str(cache.path))
    cache.read_only()
    try:
        result = cli("doctor")
    finally:
        cache.writable()
    assert result.exit_code == 1
    line = _lines(result)["cache dir"]
    assert line.startswith("FAIL ") and str(cache.path) in line and "ATTSMS_CACHE_DIR" in line
    assert _lines(result)["token"].startswith("ok ")  # only a cache: runs go on without it


def test_a_stopped_postgresql_fails_the_store_line(
    cli: Cli,
    sandbox_http: StartSandbox,
    use_server: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    why_not = pg.available()
    if why_not is not None or os.environ.get("ATTSMS_TEST_DATABASE_URL"):
        if os.environ.get("ATTSMS_TEST_REQUIRE_POSTGRES") == "1" and why_not is not None:
            pytest.fail(f"PostgreSQL is required here: {why_not}")
        pytest.skip(f"no PostgreSQL of our own to stop: {why_not or 'a given server'}")
    _healthy(sandbox_http, use_server)
    with pg.running() as cluster:
        url = cluster.url("postgres")
    monkeypatch.setenv("ATTSMS_DATABASE_URL", url)  # the server is stopped now
    result = cli("doctor")
    assert result.exit_code == 1
    store = _lines(result)["store"]
    assert store.startswith("FAIL ") and "fix:" in store
    assert pg.PASSWORD not in result.stdout + result.stderr
    assert "data dir" not in _lines(result)  # the data dir holds no store here


def _login_with_keyring(cli: Cli, server: SandboxHttp, *, process: bool = False) -> None:
    args = (
        "login", "--client-id", server.config.client_id, "--client-secret-stdin",
        "--base-url", server.url,
    )  # fmt: skip
    run = cli.process if process else cli
    result = run(*args, input=server.config.client_secret)
    assert result.exit_code == 0, result.stderr


def test_as_cron_fails_a_keyring_secret_without_d_bus_naming_both_fixes(
    cli: Cli, sandbox_http: StartSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Here the keyring is a test backend chosen by PYTHON_KEYRING_BACKEND, which a cron job
    would not have: the cron-like child finds no keyring, as on a server."""
    use_backend(monkeypatch, "FileKeyring", tmp_path / "keyring.json")
    server = sandbox_http()
    _login_with_keyring(cli, server)
    result = cli("doctor", "--as-cron")
    assert result.exit_code == 1, result.stdout
    lines = _lines(result)
    assert lines["secret"].startswith("ok ")
    cron = lines["secret under cron"]
    assert cron.startswith("FAIL ") and "no OS keyring" in cron
    assert "--store file" in cron and "ATTSMS_CLIENT_SECRET" in cron
    assert server.config.client_secret not in result.stdout + result.stderr


def test_as_cron_passes_with_the_secret_in_the_environment(
    cli: Cli, sandbox_http: StartSandbox, use_server: Callable[..., Any]
) -> None:
    _healthy(sandbox_http, use_server)
    result = cli("doctor", "--as-cron")
    assert result.exit_code == 0, result.stdout
    assert _lines(result)["secret under cron"].startswith("ok ")


def test_cron_environment_has_no_desktop_session() -> None:
    from attsms.auth.doctor import CRON_PATH, cron_environment

    env = cron_environment(
        {
            "DBUS_SESSION_BUS_ADDRESS": "unix:path=/run/user/0/bus",
            "DISPLAY": ":0",
            "PATH": "/home/me/bin:/usr/bin",
            "HOME": "/home/me",
            "ATTSMS_PROFILE": "work",
        }
    )
    assert env == {
        "HOME": "/home/me",
        "ATTSMS_PROFILE": "work",
        "PATH": CRON_PATH,
        "SHELL": "/bin/sh",
    }


@pytest.mark.keyring
def test_real_keyring_as_cron_fails_without_d_bus_naming_both_fixes(
    cli: Cli, sandbox_http: StartSandbox, secret_service: SecretService
) -> None:
    server = sandbox_http()
    _login_with_keyring(cli, server, process=True)
    result = cli.process("doctor", "--as-cron")
    assert result.exit_code == 1, result.stdout + result.stderr
    lines = _lines(result)
    assert lines["secret"].startswith("ok ") and "keyring" in lines["secret"]
    cron = lines["secret under cron"]
    assert cron.startswith("FAIL ") and "--store file" in cron and "ATTSMS_CLIENT_SECRET" in cron


def test_a_bad_saved_value_fails_the_config_line(cli: Cli) -> None:
    config = Path(os.environ["ATTSMS_CONFIG_DIR"])
    config.mkdir(parents=True)
    (config / "config.toml").write_text('[profiles.default]\nquiet_hours = "9pm-8am"\n')
    result = cli("doctor", "--json")
    assert result.exit_code == 1
    first = result.json()["checks"][0]
    assert (first["name"], first["status"]) == ("config", "fail")
    assert "quiet_hours" in first["detail"] and "attsms config set" in first["fix"]


def test_doctor_refuses_the_sandbox(cli: Cli) -> None:
    assert cli("--sandbox", "doctor").exit_code == ExitCode.USAGE


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    ("color", "expected"),
    [(True, "✗ token: refused; fix: log in"), (False, "FAIL  token: refused; fix: log in")],
)
def test_a_check_line_is_a_mark_on_a_colour_terminal_and_a_word_otherwise(
    color: bool, expected: str
) -> None:
    from attsms.cli.output import Output

    stream = _Terminal()
    Output(stdout=stream, color=color).check_line("fail", "token", "refused", "log in")
    import re

    shown = stream.getvalue()
    assert ("\x1b[" in shown) is color
    assert re.sub(r"\x1b\[[0-9;]*m", "", shown).strip() == expected
