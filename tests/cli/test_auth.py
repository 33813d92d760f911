"""login, logout, auth status, auth token and profiles, end to end against the sandbox over HTTP.

What is about several processes (token reuse, concurrent refresh, what a process imports, what it
prints) runs real `attsms` processes; the rest runs in-process. The secret goes to a fake keyring
(a JSON file, tests/fake_keyring.py) or to the file store: the user's keyring is never reached.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from attsms.api.client import AttClient
from attsms.auth.config import Config, Profile, dumps, load_config
from attsms.auth.tokens import TokenCache, TokenManager
from attsms.core.errors import ExitCode
from tests.auth.test_credentials import FAIL_BACKEND, use_backend
from tests.helpers.support import Cli, Result, SandboxHttp, both_dialects

StartSandbox = Callable[..., SandboxHttp]
SECRET = "s3cret-Zq8Xv2-never-shown"


@pytest.fixture(autouse=True)
def fake_keyring(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A keyring in a JSON file, for this process and every attsms it starts."""
    store = tmp_path / "fake-keyring.json"
    use_backend(monkeypatch, "FileKeyring", store)
    return store


@pytest.fixture
def server(sandbox_http: StartSandbox) -> SandboxHttp:
    return sandbox_http(client_secret=SECRET)


def home() -> dict[str, Path]:
    return {name: Path(os.environ[f"ATTSMS_{name.upper()}_DIR"]) for name in ("config", "cache")}


def token_file(profile: str = "default") -> Path:
    return home()["cache"] / "tokens" / f"{profile}.json"


def cached(profile: str = "default") -> dict[str, Any]:
    record: dict[str, Any] = json.loads(token_file(profile).read_text())
    return record


def expire(profile: str = "default") -> None:
    """Let time pass for the cached token: it has expired here (the service still takes it)."""
    record = cached(profile)
    record["obtained_at"] = time.time() - 7200
    record["expires_at"] = time.time() - 1
    token_file(profile).write_text(json.dumps(record))


def login(
    cli: Cli, server: SandboxHttp, *args: str, secret: str = SECRET, process: bool = False
) -> Result:
    argv = (
        "login", "--client-id", server.config.client_id, "--client-secret-stdin",
        "--base-url", server.url, *args,
    )  # fmt: skip
    return cli.process(*argv, input=secret) if process else cli(*argv, input=secret)


def message_id(server: SandboxHttp, tmp_path: Path) -> str:
    """A message sent outside the profile under test (its token call is not the profile's)."""
    with AttClient(server.url) as client:
        client.tokens = TokenManager(
            client,
            TokenCache("helper", directory=tmp_path / "helper-tokens"),
            client_id=server.config.client_id,
            secret=lambda: SECRET,
        )
        return client.send(["tel:+12125550100"], "hello").message_id


class Counts:
    """Sandbox counters since the snapshot: `counts.ops("token")`, `counts.attempts("status")`."""

    def __init__(self, server: SandboxHttp) -> None:
        self.server = server
        self.before = server.stats()

    def _delta(self, kind: str, name: str) -> int:
        after: int = self.server.stats()[kind].get(name, 0)
        return after - int(self.before[kind].get(name, 0))

    def ops(self, name: str) -> int:
        return self._delta("operations", name)

    def attempts(self, name: str) -> int:
        return self._delta("attempts", name)


def assert_private() -> None:
    """The token cache, config and secret files are 0600; their directories 0700."""
    paths = home()
    for root in paths.values():
        assert root.stat().st_mode & 0o777 == 0o700, root
        for path in root.rglob("*"):
            expected = 0o700 if path.is_dir() else 0o600
            assert path.stat().st_mode & 0o777 == expected, path


# --- login ------------------------------------------------------------------------------------


@both_dialects
def test_login_validates_saves_and_later_processes_make_no_token_call(
    cli: Cli, server: SandboxHttp, tmp_path: Path, fake_keyring: Path
) -> None:
    mid = message_id(server, tmp_path)
    counts = Counts(server)
    result = login(cli, server, "--registration-id", "12345", process=True)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    assert "Logged in to" in result.stderr and "keyring (fake keyring FileKeyring)" in result.stderr
    assert json.loads(fake_keyring.read_text()) == {"attsms/default": SECRET}
    profile = load_config().profile("default")
    assert profile == Profile(
        "default", server.config.client_id, server.url, "12345", store="keyring"
    )
    assert_private()

    for _ in range(3):
        status = cli.process("status", mid)
        assert status.exit_code == 0, status.stderr
    assert cli.process("auth", "token").stdout.strip() == cached()["access_token"]
    assert counts.ops("token") == 1  # login's, reused by every later process
    assert counts.ops("refresh") == 0
    assert counts.ops("status") == 3


def test_wrong_secret_exits_3_and_saves_nothing(
    cli: Cli, server: SandboxHttp, fake_keyring: Path
) -> None:
    result = login(cli, server, secret="wrong-secret")
    assert result.exit_code == ExitCode.AUTH
    assert "Invalid client credentials" in result.stderr
    assert result.stderr.count("\n") == 1
    assert not fake_keyring.exists()
    assert not any(
        p.is_file() for root in home().values() if root.exists() for p in root.rglob("*")
    )


def test_login_needs_a_secret_from_stdin_when_not_on_a_terminal(
    cli: Cli, server: SandboxHttp
) -> None:
    result = cli("login", "--client-id", "abc", "--base-url", server.url)
    assert result.exit_code == ExitCode.USAGE
    assert "no secret; pass --client-secret-stdin" in result.stderr
    result = cli("login", "--base-url", server.url, "--client-secret-stdin", input=SECRET)
    assert result.exit_code == ExitCode.USAGE
    assert "no client id; pass --client-id" in result.stderr
    empty = cli("login", "--client-id", "abc", "--client-secret-stdin", input="\n")
    assert empty.exit_code == ExitCode.USAGE
    assert server.stats()["attempts"]["token"] == 0


def test_no_keyring_says_how_to_fix_it_before_any_token_call(
    cli: Cli, server: SandboxHttp, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", FAIL_BACKEND)
    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS", raising=False)  # as in cron
    result = login(cli, server)
    assert result.exit_code == ExitCode.AUTH
    assert result.stderr.count("\n") == 1
    assert "no OS keyring is available" in result.stderr
    assert "login --store file" in result.stderr and "ATTSMS_CLIENT_SECRET" in result.stderr
    assert server.stats()["attempts"]["token"] == 0
    assert not (home()["config"] / "config.toml").exists()


def test_on_a_terminal_login_prompts_and_does_not_echo_the_secret(server: SandboxHttp) -> None:
    import pty
    import select

    pid, terminal = pty.fork()
    if pid == 0:  # the child: attsms on a terminal
        argv = [sys.executable, "-m", "attsms", "login", "--base-url", server.url]
        try:
            os.execv(sys.executable, argv)  # noqa: S606
        finally:
            os._exit(127)
    seen = b""

    def expect(text: bytes) -> None:
        nonlocal seen
        deadline = time.monotonic() + 30
        while text not in seen:
            assert time.monotonic() < deadline, seen
            if select.select([terminal], [], [], 0.1)[0]:
                try:
                    seen += os.read(terminal, 4096)
                except OSError:  # the child closed the terminal
                    return

    expect(b"Client ID: ")
    os.write(terminal, server.config.client_id.encode() + b"\r")
    expect(b"Client secret: ")
    os.write(terminal, SECRET.encode() + b"\r")
    expect(b"Logged in")
    expect(b"\x00never")  # read to the end
    os.close(terminal)
    assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0, seen
    assert SECRET.encode() not in seen
    assert server.config.client_id.encode() in seen  # the id is echoed, the secret is not
    assert load_config().profile("default") is not None


def test_the_secret_is_never_an_argument(cli: Cli) -> None:
    for flag in ("--client-secret", "--secret", "--password"):
        result = cli("login", "--client-id", "abc", flag, SECRET)
        assert result.exit_code == ExitCode.USAGE
        assert "No such option" in result.stderr and SECRET not in result.stderr


def test_cron_without_a_keyring_runs_on_the_cached_token_then_names_the_fixes(
    cli: Cli, server: SandboxHttp, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mid = message_id(server, tmp_path)
    assert login(cli, server).exit_code == 0  # at the desk, with a keyring
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", FAIL_BACKEND)  # later, from cron
    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS", raising=False)
    assert cli.process("status", mid).exit_code == 0  # the cached token needs no secret

    status = cli("auth", "status", "--json")
    assert status.exit_code == ExitCode.AUTH
    assert status.json()[0]["secret_source"] == "unavailable"
    assert "cannot be read: no OS keyring is available" in status.stderr
    expire()
    after = cli.process("status", mid)
    assert after.exit_code == ExitCode.AUTH
    assert after.stderr.count("\n") == 1
    assert "DBUS_SESSION_BUS_ADDRESS is not set" in after.stderr
    assert "login --store file" in after.stderr and "ATTSMS_CLIENT_SECRET" in after.stderr


def test_file_store_for_servers_without_a_keyring(
    cli: Cli, server: SandboxHttp, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", FAIL_BACKEND)
    mid = message_id(server, tmp_path)
    result = login(cli, server, "--store", "file")
    assert result.exit_code == 0, result.stderr
    secret_path = home()["config"] / "secrets" / "default"
    assert f"warning: the secret is kept in plain text in {secret_path}" in result.stderr
    assert secret_path.read_text() == SECRET + "\n"
    assert 'store = "file"' in (home()["config"] / "config.toml").read_text()
    assert_private()

    token_file().unlink()  # the next command needs the secret, from the file
    status = cli("status", mid)
    assert status.exit_code == 0, status.stderr
    out = cli("auth", "status", "--json")
    row = out.json()[0]
    assert (row["secret_source"], row["secret_location"]) == ("file", str(secret_path))
    assert cli("logout").exit_code == 0
    assert not secret_path.exists()


def test_switching_store_leaves_no_copy_behind(
    cli: Cli, server: SandboxHttp, fake_keyring: Path
) -> None:
    assert login(cli, server).exit_code == 0
    assert login(cli, server, "--store", "file").exit_code == 0
    assert json.loads(fake_keyring.read_text()) == {}
    assert login(cli, server, "--store", "keyring").exit_code == 0
    assert not (home()["config"] / "secrets" / "default").exists()
    assert json.loads(fake_keyring.read_text()) == {"attsms/default": SECRET}


# --- tokens across processes --------------------------------------------------------------------


def test_expiry_refreshes_and_rotates_the_refresh_token(
    cli: Cli, sandbox_http: StartSandbox, tmp_path: Path
) -> None:
    server = sandbox_http(client_secret=SECRET, token_lifetime=2)
    mid = message_id(server, tmp_path)
    assert login(cli, server).exit_code == 0
    first = cached()
    counts = Counts(server)
    time.sleep(2.1)  # expired for the client and for the service
    status = cli.process("status", mid)
    assert status.exit_code == 0, status.stderr
    second = cached()
    assert (counts.ops("refresh"), counts.ops("token")) == (1, 0)
    assert second["access_token"] != first["access_token"]
    assert second["refresh_token"] != first["refresh_token"]  # rotated
    assert_private()
    # The old refresh token was used once and is gone.
    answer = httpx.post(
        f"{server.url}/oauth/v4/token",
        data={
            "grant_type": "refresh_token",
            "client_id": server.config.client_id,
            "client_secret": SECRET,
            "refresh_token": first["refresh_token"],
        },
    )
    assert answer.status_code == 401


def test_refused_refresh_falls_back_to_client_credentials(
    cli: Cli, server: SandboxHttp, tmp_path: Path
) -> None:
    mid = message_id(server, tmp_path)
    assert login(cli, server).exit_code == 0
    expire()
    counts = Counts(server)
    server.faults({"method": "POST", "path_prefix": "/oauth/v4/token", "status": 401})
    status = cli("status", mid)
    assert status.exit_code == 0, status.stderr
    assert counts.attempts("refresh") == 1 and counts.ops("refresh") == 0
    assert counts.ops("token") == 1
    assert_private()


def test_401_mid_run_renews_once_and_retries_once(
    cli: Cli, server: SandboxHttp, tmp_path: Path
) -> None:
    mid = message_id(server, tmp_path)
    assert login(cli, server).exit_code == 0
    counts = Counts(server)
    server.faults({"method": "GET", "path_prefix": "/sms/v3/messaging/outbox", "status": 401})
    status = cli("status", mid)
    assert status.exit_code == 0, status.stderr
    assert (counts.attempts("status"), counts.ops("refresh"), counts.ops("status")) == (2, 1, 1)

    counts = Counts(server)
    server.faults(
        {"method": "GET", "path_prefix": "/sms/v3/messaging/outbox", "status": 401, "count": 5}
    )
    status = cli("status", mid)
    assert status.exit_code == ExitCode.AUTH
    assert (counts.attempts("status"), counts.attempts("refresh")) == (2, 1)  # no more than once


@pytest.mark.slow
def test_concurrent_processes_with_an_expired_token_share_one_refresh(
    server: SandboxHttp, cli: Cli, tmp_path: Path
) -> None:
    mid = message_id(server, tmp_path)
    assert login(cli, server).exit_code == 0
    expire()
    counts = Counts(server)
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "attsms", "status", mid],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(10)
    ]
    outcomes = [(p.wait(timeout=60), p.stderr.read() if p.stderr else b"") for p in processes]
    for process in processes:
        for stream in (process.stdout, process.stderr):
            if stream:
                stream.close()
    assert [code for code, _ in outcomes] == [0] * 10, outcomes
    assert (counts.ops("refresh"), counts.ops("token"), counts.ops("status")) == (1, 0, 10)


def test_a_valid_cached_token_never_imports_keyring(
    cli: Cli, server: SandboxHttp, tmp_path: Path
) -> None:
    mid = message_id(server, tmp_path)
    assert login(cli, server).exit_code == 0
    script = (
        "import io, sys\n"
        "from attsms.cli.main import main\n"
        "sys.stdout = io.StringIO()\n"
        f"code = main(['status', {mid!r}])\n"
        "sys.__stdout__.write(f\"{code} {'keyring' in sys.modules}\")\n"
    )

    def run() -> str:
        done = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, check=True
        )
        return done.stdout

    assert run() == "0 False"
    token_file().unlink()
    assert run() == "0 True"  # the check can fail: without a token the keyring is needed


# --- logout -------------------------------------------------------------------------------------


def test_logout_revokes_and_deletes_secret_and_token(
    cli: Cli, server: SandboxHttp, tmp_path: Path, fake_keyring: Path
) -> None:
    mid = message_id(server, tmp_path)
    assert login(cli, server).exit_code == 0
    tokens = cached()
    counts = Counts(server)
    result = cli("logout")
    assert result.exit_code == 0, result.stderr
    assert "token revoked, token deleted, secret deleted" in result.stderr
    assert counts.ops("revoke") == 2
    assert not token_file().exists()
    assert json.loads(fake_keyring.read_text()) == {}
    # The service no longer takes either token.
    old = httpx.get(
        f"{server.url}/sms/v3/messaging/outbox/{mid}",
        headers={"Authorization": f"Bearer {tokens['access_token']}"},
    )
    assert old.status_code == 401
    refresh = httpx.post(
        f"{server.url}/oauth/v4/token",
        data={
            "grant_type": "refresh_token",
            "client_id": server.config.client_id,
            "client_secret": SECRET,
            "refresh_token": tokens["refresh_token"],
        },
    )
    assert refresh.status_code == 401
    after = cli("status", mid)
    assert after.exit_code == ExitCode.AUTH
    assert "attsms login" in after.stderr
    again = cli("logout", "--json")
    assert again.exit_code == 0
    assert again.json()["token_deleted"] is False


def test_logout_when_the_service_refuses_to_revoke_warns_and_still_deletes(
    cli: Cli, server: SandboxHttp, fake_keyring: Path
) -> None:
    assert login(cli, server).exit_code == 0
    server.faults({"path_prefix": "/oauth/v4/revoke", "status": 400, "count": 5})
    result = cli("logout", "--json")
    assert result.exit_code == 0, result.stderr
    assert "warning: could not revoke the token" in result.stderr
    assert result.json() == {
        "profile": "default",
        "revoked": False,
        "token_deleted": True,
        "secret_deleted": True,
        "warnings": [result.json()["warnings"][0]],
        "secret_error": None,
    }
    assert not token_file().exists()
    assert json.loads(fake_keyring.read_text()) == {}


# --- secrets stay secret ------------------------------------------------------------------------


def test_secrets_never_appear_in_output_logs_or_config(
    cli: Cli, server: SandboxHttp, tmp_path: Path
) -> None:
    mid = message_id(server, tmp_path)
    argv = ["login", "--client-id", server.config.client_id, "--client-secret-stdin"]
    argv += ["--base-url", server.url]
    results = [cli("-v", *argv, input="wrong-" + SECRET), cli("-v", *argv, input=SECRET)]
    tokens = [cached()]
    results.append(cli("-v", "status", mid))
    expire()
    results.append(cli.process("--verbose", "status", mid))  # logs the refresh exchange
    tokens.append(cached())
    token_file().unlink()
    results.append(cli.process("-v", "status", mid))  # logs a client-credentials exchange
    tokens.append(cached())
    results += [
        cli("auth", "status"),
        cli("auth", "status", "--json"),
        cli("-v", "logout", "--json"),
    ]
    assert [r.exit_code for r in results] == [ExitCode.AUTH] + [0] * 7
    assert "client_secret=***" in results[1].stderr and '"access_token": "***"' in results[1].stderr
    assert "refresh_token=***" in results[3].stderr and "client_secret=***" in results[4].stderr
    secrets = {SECRET, "wrong-" + SECRET}
    secrets |= {t["access_token"] for t in tokens} | {t["refresh_token"] for t in tokens}
    for result in results:
        for secret in secrets:
            assert secret not in result.stdout and secret not in result.stderr
    for path in home()["config"].rglob("*.toml"):
        assert SECRET not in path.read_text()
    for path in home()["cache"].rglob("*"):
        assert not path.is_file() or SECRET.encode() not in path.read_bytes()


# --- auth status and auth token -----------------------------------------------------------------


def test_auth_status_shows_each_profile_and_exits_3_when_not_logged_in(
    cli: Cli, server: SandboxHttp, sandbox_http: StartSandbox
) -> None:
    missing = cli("auth", "status", "--json")
    assert missing.exit_code == ExitCode.AUTH
    assert missing.json()[0]["secret_source"] == "missing"
    assert "profile 'default' is not logged in; run `attsms login`" in missing.stderr

    never = sandbox_http(client_secret=SECRET, token_lifetime=0)
    assert login(cli, server, "--registration-id", "12345").exit_code == 0
    assert login(cli, never, "--profile", "forever").exit_code == 0
    result = cli("auth", "status")
    assert result.exit_code == 0, result.stderr
    assert result.lines == [
        f"default *\tsandbox-client-id\t{server.url}\t12345\tkeyring (fake keyring FileKeyring)"
        f"\tvalid, expires in 47:59\tnone\tlocal files",
        f"forever\tsandbox-client-id\t{never.url}\t-\tkeyring (fake keyring FileKeyring)"
        "\tvalid, never expires\tnone\tlocal files",
    ]
    expire()
    rows = cli("auth", "status", "--json").json()
    assert [(r["profile"], r["active"], r["token"]) for r in rows] == [
        ("default", True, "expired"),
        ("forever", False, "valid"),
    ]
    assert rows[1]["token_expires_in"] is None

    only = cli("--profile", "forever", "auth", "status", "--json")
    assert [r["profile"] for r in only.json()] == ["forever"]
    nobody = cli("auth", "status", "--profile", "nobody")
    assert nobody.exit_code == ExitCode.AUTH
    assert "run `attsms login --profile nobody`" in nobody.stderr


def test_environment_credentials_need_no_login_and_no_keyring(
    cli: Cli, server: SandboxHttp, tmp_path: Path
) -> None:
    mid = message_id(server, tmp_path)
    env = server.env()
    status = cli.process("status", mid, env=env)
    assert status.exit_code == 0, status.stderr
    script = (
        "import io, sys\n"
        "from attsms.cli.main import main\n"
        "sys.stdout = io.StringIO()\n"
        "code = main(['auth', 'status', '--json'])\n"
        "sys.__stdout__.write(f\"{code} {'keyring' in sys.modules} \" + sys.stdout.getvalue())\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **env},
    )
    code, imported, document = done.stdout.split(" ", 2)
    assert (code, imported) == ("0", "False")
    row = json.loads(document)[0]
    assert (row["secret_source"], row["secret_location"]) == ("env", "ATTSMS_CLIENT_SECRET")
    assert row["token"] == "valid"


def test_environment_overrides_the_saved_profile_for_one_run(
    cli: Cli, server: SandboxHttp, sandbox_http: StartSandbox, tmp_path: Path
) -> None:
    assert login(cli, server).exit_code == 0
    other = sandbox_http(client_id="ci-client", client_secret="ci-secret")
    token = cli.process("auth", "token", env=other.env())
    assert token.exit_code == 0, token.stderr
    assert other.stats()["operations"]["token"] == 1
    # An id given for one run does not borrow the profile's stored secret.
    half = cli.process("auth", "token", env={"ATTSMS_CLIENT_ID": "ci-client"})
    assert half.exit_code == ExitCode.AUTH
    assert "ATTSMS_CLIENT_ID is set but ATTSMS_CLIENT_SECRET is not" in half.stderr


def test_auth_token_prints_only_the_token_and_refreshes_it(cli: Cli, server: SandboxHttp) -> None:
    assert login(cli, server).exit_code == 0
    first = cli("auth", "token")
    assert first.exit_code == 0
    assert first.lines == [cached()["access_token"]] and first.stderr == ""
    expire()
    counts = Counts(server)
    second = cli("auth", "token", "--json")
    document = second.json()
    assert document["access_token"] == cached()["access_token"] != first.stdout.strip()
    assert 172_700 < document["expires_in"] <= 172_800
    assert counts.ops("refresh") == 1


def test_profiles_keep_separate_settings_secrets_and_tokens(
    cli: Cli, server: SandboxHttp, sandbox_http: StartSandbox, fake_keyring: Path
) -> None:
    staging = sandbox_http(client_id="staging-id", client_secret="staging-secret")
    assert login(cli, server).exit_code == 0
    result = cli.process(
        "login", "--profile", "staging", "--client-id", "staging-id", "--client-secret-stdin",
        "--base-url", staging.url, input="staging-secret",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert json.loads(fake_keyring.read_text()) == {
        "attsms/default": SECRET,
        "attsms/staging": "staging-secret",
    }
    token_file("staging").unlink()
    for args, env in ((["--profile", "staging"], {}), ([], {"ATTSMS_PROFILE": "staging"})):
        done = cli.process(*args, "auth", "token", env=env)
        assert done.exit_code == 0, done.stderr
    assert staging.stats()["operations"]["token"] == 2
    assert server.stats()["operations"]["token"] == 1
    unknown = cli("--profile", "nope", "auth", "token")
    assert unknown.exit_code == ExitCode.AUTH
    assert "no profile named 'nope'; run `attsms login --profile nope`" in unknown.stderr
    bad = cli("--profile", "../etc", "auth", "token")
    assert bad.exit_code == ExitCode.USAGE


def test_sandbox_needs_no_login(cli: Cli) -> None:
    status = cli("--sandbox", "auth", "status", "--json")
    assert status.exit_code == 0
    assert status.json()[0]["secret_source"] == "sandbox"
    token = cli("--sandbox", "auth", "token")
    assert token.exit_code == 0 and len(token.stdout.strip()) >= 16
    assert cli("--sandbox", "login").exit_code == ExitCode.USAGE


def test_help_for_auth_commands_loads_nothing_heavy() -> None:
    heavy = {"httpx", "rich", "keyring", "filelock", "tomllib"}
    for args in (["login", "--help"], ["auth", "status", "--help"], ["logout", "--help"]):
        script = (
            "import io, sys\n"
            "from attsms.cli.main import main\n"
            "sys.stdout = io.StringIO()\n"
            f"main({args!r})\n"
            "sys.__stdout__.write(' '.join(sorted(sys.modules)))\n"
        )
        done = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, check=True
        )
        assert not heavy & set(done.stdout.split()), args


@pytest.mark.parametrize("command", [["login"], ["logout"], ["auth", "status"], ["auth", "token"]])
def test_every_auth_help_has_examples(cli: Cli, command: list[str]) -> None:
    result = cli(*command, "--help")
    assert result.exit_code == 0
    assert "Examples:" in result.stdout and "--json" in result.stdout


# --- config.toml -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("[profiles.default\nclient_id = 'x'\n", "is not valid TOML"),
        ('[profiles.default]\nclient_id = "abc', "is not valid TOML"),  # truncated
        ("[profiles.default]\nclient_id = 5\n", "profiles.default.client_id in"),
        ('[profiles.default]\nstore = "vault"\n', "profiles.default.store in"),
        ('[profiles.default]\nbase_url = "ftp://x"\n', "profiles.default.base_url in"),
        ('[profiles.default]\nclient-id = "x"\n', "unknown setting profiles.default.client-id"),
        ('profiles = "x"\n', "profiles in"),
        (b"\xff\xfe".decode("latin-1"), "is not UTF-8 text"),
    ],
)
def test_a_broken_config_is_exit_2_naming_the_file_and_key(cli: Cli, text: str, words: str) -> None:
    path = home()["config"] / "config.toml"
    path.parent.mkdir(parents=True)
    path.write_bytes(text.encode("latin-1") if "UTF-8" in words else text.encode())
    for command in (["auth", "status"], ["auth", "token"], ["status", "msg-1"]):
        result = cli(*command)
        assert result.exit_code == ExitCode.USAGE, (command, result.stderr)
        assert str(path) in result.stderr and words in result.stderr
        assert result.stderr.count("\n") == 1


TEXT = st.text(st.characters(codec="utf-8"), max_size=40)


@given(
    client_id=TEXT,
    registration_id=TEXT,
    region=TEXT,
    other=st.dictionaries(
        st.text(min_size=1, max_size=10).filter(lambda k: k != "profiles"),
        st.one_of(
            TEXT, st.integers(-(2**63), 2**63 - 1), st.booleans(), st.lists(TEXT, max_size=3)
        ),
        max_size=3,
    ),
)
def test_config_round_trips_through_the_toml_writer(
    client_id: str, registration_id: str, region: str, other: dict[str, Any]
) -> None:
    profile = Profile("p-1.x", client_id, "https://h.example/x", registration_id, region)
    document = {"profiles": {"p-1.x": {"client_id": client_id}}, **other}
    assert tomllib.loads(dumps(document)) == document
    path = home()["config"] / "round-trip.toml"
    Config(path, {"p-1.x": profile}, {"settings": other}).save()
    loaded = load_config(path)
    assert loaded.profile("p-1.x") == profile
    assert loaded.other == ({"settings": other} if other else {"settings": {}})
    assert path.stat().st_mode & 0o777 == 0o600


def test_a_profile_name_with_a_trailing_newline_is_refused(cli: Cli) -> None:
    result = cli("--profile", "work\n", "auth", "status")
    assert result.exit_code == ExitCode.USAGE
    assert "invalid profile name 'work\\n'" in result.stderr
