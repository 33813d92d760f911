"""Secrets: no command leaks the client secret or a token, and every file attsms writes is private.

`test_every_command_keeps_secrets` runs every command, each with `--verbose`, as a real process
against the sandbox over HTTP with a distinctive client secret: login (secret on stdin, kept in
the 0600 file store), send (with --wait), status (with --wait, and through a 401 that forces a
new token), history, sandbox inject, inbox pull/list/export, optout list/add/remove, auth
status/token, a failing command, a login with a wrong secret, and logout (which revokes). Tokens
live 2 s, so refresh grants happen along the way. A wrapper around the sandbox records every
access and refresh token it hands out. Every process runs with umask 000, so the modes below are
attsms's own doing and not the umask's.

Searched for the client secret, the wrong secret and every token (zero hits allowed): each
process's stdout and stderr (except `auth token`'s stdout: printing the token is its job), its
`/proc/<pid>/cmdline` and `/proc/<pid>/environ` read while it runs (after login the secret is in
no variable), and every file under the config, cache and data dirs. Excluded by design: the
token cache (it holds the tokens: asserted 0600 instead) and the file store's secret file (it
holds the secret: asserted 0600). Every file there must be 0600, every directory 0700.

`test_secrets_with_env_credentials` does the same in-process with ATTSMS_CLIENT_ID/SECRET set
(the CI way; /proc is not read there: the environment holds the secret by design), including a
token endpoint that answers in camelCase (`accessToken`), which the verbose log printed in
clear before. `test_sandbox_mode_files_are_private` checks the modes in `--sandbox` mode, whose
`sandbox/state.db` holds the sandbox's own tokens by design (the emulated service's database,
not the client's) and is therefore only checked for its mode.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.support import Cli, SandboxHttp


@pytest.fixture(autouse=True)
def forget_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    """What one test's commands remembered is not scrubbed from the next test's output."""
    from attsms.core import redaction

    monkeypatch.setattr(redaction, "_known", set())


StartSandbox = Callable[..., SandboxHttp]

CLIENT_ID = "secrets-test-client"
SECRET = "cs-DISTINCTIVE-7f3a91c2-secret"
WRONG_SECRET = "ws-ALSO-DISTINCTIVE-0b5e-wrong"
TOKEN_PATH = "/oauth/v4/token"


class TokenRecorder:
    """Wraps the sandbox server's request handler and keeps every token it answers with."""

    def __init__(self, server: SandboxHttp) -> None:
        self.tokens: set[str] = set()
        sandbox: Any = server.server.sandbox
        handle = sandbox.handle

        def recording(method: str, target: str, *args: Any, **kwargs: Any) -> Any:
            response = handle(method, target, *args, **kwargs)
            if target.startswith(TOKEN_PATH):
                try:
                    body = json.loads(response.body)
                except ValueError:
                    body = None
                if isinstance(body, dict):
                    self.tokens |= {
                        str(value)
                        for key, value in body.items()
                        if "token" in key.lower() and "type" not in key.lower() and value
                    }
            return response

        sandbox.handle = recording


@dataclass
class Run:
    args: tuple[str, ...]
    exit_code: int
    stdout: bytes
    stderr: bytes
    cmdlines: list[bytes] = field(default_factory=list)
    environs: list[bytes] = field(default_factory=list)


def run_watched(args: tuple[str, ...], env: dict[str, str], stdin: bytes = b"") -> Run:
    """A real `attsms --verbose …` with umask 000, its /proc entries read while it runs."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "attsms", "--verbose", *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        umask=0,
    )
    cmdlines: list[bytes] = []
    environs: list[bytes] = []
    proc_dir = Path(f"/proc/{proc.pid}")

    def read_proc() -> bool:
        """One look at the running process; False once it has exited."""
        try:
            cmdline = (proc_dir / "cmdline").read_bytes()
            environ = (proc_dir / "environ").read_bytes()
        except OSError:  # gone (reaped)
            return False
        if not cmdline:  # a zombie: exited, not reaped yet
            return False
        cmdlines.append(cmdline)
        environs.append(environ)
        return True

    # A first look before stdin is written: a command reading stdin (login) is surely running.
    for _ in range(20):  # on a loaded machine the first reads can come back empty
        if read_proc():
            break
        time.sleep(0.005)
    outcome: dict[str, bytes] = {}

    def talk() -> None:
        outcome["stdout"], outcome["stderr"] = proc.communicate(stdin, timeout=60)

    talker = threading.Thread(target=talk)
    talker.start()
    while talker.is_alive() and read_proc():
        time.sleep(0.005)
    talker.join()
    return Run(args, proc.returncode, outcome["stdout"], outcome["stderr"], cmdlines, environs)


def hits(data: bytes, needles: set[str]) -> list[str]:
    return sorted(needle for needle in needles if needle.encode() in data)


def files_under(home: Path) -> Iterator[Path]:
    for root in ("config", "cache", "data"):
        base = home / root
        if base.exists():
            yield base
            yield from sorted(base.rglob("*"))


def private_mode_problems(home: Path) -> list[str]:
    problems = []
    for path in files_under(home):
        mode = stat.S_IMODE(path.lstat().st_mode)
        wanted = 0o700 if path.is_dir() else 0o600
        if mode != wanted:
            problems.append(f"{path.relative_to(home)} is {mode:04o}, wanted {wanted:04o}")
    return problems


@pytest.mark.slow  # some 25 real processes, one after another
def test_every_command_keeps_secrets(
    sandbox_http: StartSandbox, isolated_home: Path, tmp_path: Path
) -> None:
    server = sandbox_http(
        client_id=CLIENT_ID, client_secret=SECRET, token_lifetime=2, delivery_seconds=0.5
    )
    recorder = TokenRecorder(server)
    # No ATTSMS_CLIENT_* here: after login the profile and the file store are all there is.
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATTSMS_CLIENT")}
    runs: list[Run] = []

    def attsms(*args: str, stdin: bytes = b"", expect: int = 0) -> Run:
        run = run_watched(args, env, stdin)
        runs.append(run)
        assert run.exit_code == expect, (args, run.stderr.decode())
        return run

    login = ("login", "--client-id", CLIENT_ID, "--client-secret-stdin", "--store", "file")
    wrong = run_watched((*login, "--base-url", server.url), env, WRONG_SECRET.encode() + b"\n")
    assert wrong.exit_code == 3, wrong.stderr.decode()
    runs.append(wrong)
    attsms(
        "login",
        "--client-id",
        CLIENT_ID,
        "--client-secret-stdin",
        "--base-url",
        server.url,
        "--registration-id",
        "12345",
        "--store",
        "file",
        stdin=SECRET.encode() + b"\n",
    )
    attsms("auth", "status")
    token_runs = [attsms("auth", "token"), attsms("auth", "token", "--json")]
    sent = attsms("send", "+12125550100", "+12125550901", "-m", "hello", "--json", expect=0)
    [message_id] = {m["message_id"] for m in json.loads(sent.stdout)["messages"]}
    attsms("send", "+12125550102", "-m", "again", "--wait", "--timeout", "20", "--dedupe-key", "k")
    server.faults({"path_prefix": "/sms/v3/messaging/outbox/", "status": 401, "count": 1})
    attsms("status", message_id, "--wait", "--timeout", "20", expect=4)  # 0901 is impossible
    attsms("status", "--json")
    attsms("status", "SMSunknown0000000", expect=1)  # an error answer, verbosely
    attsms("history")
    attsms("sandbox", "inject", "--url", server.url, "--from", "+12125550100", "STOP")
    attsms("inbox", "pull")
    attsms("inbox", "list", "--json")
    attsms("inbox", "export")
    attsms("inbox", "export", "--format", "csv")
    attsms("optout", "list")
    attsms("optout", "add", "+12125550104")
    attsms("optout", "remove", "+12125550104")
    attsms("status", message_id)
    by_design = {  # they hold a token and the secret: their mode is checked, not their bytes
        isolated_home / "cache" / "tokens" / "default.json",
        isolated_home / "config" / "secrets" / "default",
    }
    assert all(stat.S_IMODE(path.stat().st_mode) == 0o600 for path in by_design)
    assert not private_mode_problems(isolated_home), private_mode_problems(isolated_home)
    logged_in_files = {p: p.read_bytes() for p in files_under(isolated_home) if p.is_file()}
    attsms("logout")
    assert not any(path.exists() for path in by_design)

    stats = server.stats()["operations"]
    assert stats["refresh"] >= 1 and stats["revoke"] >= 1  # both secret-bearing grants ran
    needles = {SECRET, WRONG_SECRET} | recorder.tokens
    assert len(recorder.tokens) >= 4  # access and refresh tokens from login and refreshes
    leaks = []
    for run in runs:
        stdout = b"" if run in token_runs else run.stdout  # auth token prints it by design
        for where, data in (("stdout", stdout), ("stderr", run.stderr)):
            if found := hits(data, needles):
                leaks.append(f"{run.args[:2]} {where}: {found}")
        assert all(b"attsms" in cmdline for cmdline in run.cmdlines)
        for where, reads in (("cmdline", run.cmdlines), ("environ", run.environs)):
            if found := hits(b"".join(reads), needles):
                leaks.append(f"{run.args[:2]} /proc/pid/{where}: {found}")
    # Surely read while running: those that wait on stdin (login) or on delivery (--wait).
    watched = [r for r in runs if r.args[0] == "login" or "--wait" in r.args]
    assert len(watched) == 4, [r.args for r in runs]
    assert all(r.cmdlines for r in watched), [(r.args, len(r.cmdlines)) for r in watched]
    assert sum(bool(r.cmdlines) for r in runs) >= len(runs) // 2, "most runs were never seen"
    assert b"> POST " in runs[-1].stderr  # --verbose did log the exchanges (the revoke here)
    assert any(token.encode() in run.stdout for run in token_runs for token in recorder.tokens)

    stores = 0
    final_files = {p: p.read_bytes() for p in files_under(isolated_home) if p.is_file()}
    for when, files in (("logged in", logged_in_files), ("at the end", final_files)):
        for path, data in files.items():
            stores += path.suffix == ".sqlite3"
            if path not in by_design and (found := hits(data, needles)):
                leaks.append(f"{path.relative_to(isolated_home)} {when}: {found}")
    assert stores >= 4, sorted(map(str, final_files))  # history and inbox, both times
    assert not leaks, "\n".join(leaks)
    assert not private_mode_problems(isolated_home), private_mode_problems(isolated_home)


def test_token_cache_and_secret_file_are_private_while_logged_in(
    sandbox_http: StartSandbox, isolated_home: Path
) -> None:
    """logout deletes them; while they exist they are 0600 in 0700 directories (umask 000)."""
    server = sandbox_http(client_id=CLIENT_ID, client_secret=SECRET)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATTSMS_CLIENT")}
    login = run_watched(
        (
            "login",
            "--client-id",
            CLIENT_ID,
            "--client-secret-stdin",
            "--base-url",
            server.url,
            "--store",
            "file",
        ),
        env,
        SECRET.encode(),
    )
    assert login.exit_code == 0, login.stderr.decode()
    assert SECRET.encode() not in login.stdout + login.stderr
    token_cache = isolated_home / "cache" / "tokens" / "default.json"
    secret_file = isolated_home / "config" / "secrets" / "default"
    assert secret_file.read_text().strip() == SECRET
    assert json.loads(token_cache.read_text())["access_token"]
    assert stat.S_IMODE(token_cache.stat().st_mode) == 0o600
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    assert not private_mode_problems(isolated_home), private_mode_problems(isolated_home)


def test_secrets_with_env_credentials(
    cli: Cli, sandbox_http: StartSandbox, monkeypatch: pytest.MonkeyPatch, isolated_home: Path
) -> None:
    server = sandbox_http(client_id=CLIENT_ID, client_secret=SECRET, delivery_seconds=0)
    recorder = TokenRecorder(server)
    for name, value in server.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("ATTSMS_REGISTRATION_ID", "12345")
    outputs: list[tuple[tuple[str, ...], str]] = []

    def attsms(*args: str, expect: int = 0, stdout_by_design: bool = False) -> None:
        result = cli("--verbose", *args)
        assert result.exit_code == expect, (args, result.stderr)
        outputs.append((args, result.stderr if stdout_by_design else result.stdout + result.stderr))

    attsms("send", "+12125550100", "-m", "hi", "--wait", "--timeout", "10")
    attsms("status")
    server.inject("+12125550100", "hello")
    attsms("inbox", "pull")
    attsms("auth", "status", "--json")
    attsms("auth", "token", stdout_by_design=True)
    # A token endpoint that spells its fields in camelCase, as some AT&T answers did.
    camel = {"accessToken": "CAMEL-access-5d1e", "refreshToken": "CAMEL-refresh-9b7c"}
    (isolated_home / "cache" / "tokens" / "default.json").unlink()
    server.faults({"path_prefix": TOKEN_PATH, "status": 200, "body": json.dumps(camel)})
    attsms("auth", "token", stdout_by_design=True)
    # A token that cannot go in a header: httpx's error quoted it, Bearer and all.
    broken = {"access_token": "BROKEN-4f2a\r\nX-Evil: 1", "refresh_token": "BROKEN-refresh-77"}
    (isolated_home / "cache" / "tokens" / "default.json").unlink()
    server.faults({"path_prefix": TOKEN_PATH, "status": 200, "body": json.dumps(broken)})
    attsms("status", "SMS1", expect=1)
    attsms("logout")
    needles = {SECRET, *camel.values(), "BROKEN-4f2a", *broken.values()} | recorder.tokens
    leaks = [
        f"{args}: {found}" for args, text in outputs if (found := hits(text.encode(), needles))
    ]
    assert not leaks, "\n".join(leaks)
    assert '"accessToken": "***"' in outputs[-3][1]  # it was logged, redacted


def test_sandbox_mode_files_are_private(cli: Cli, isolated_home: Path) -> None:
    old_umask = os.umask(0)
    try:
        assert cli("--sandbox", "send", "+12125550100", "-m", "hi").exit_code == 0
        assert cli("sandbox", "inject", "--from", "+12125550100", "hi").exit_code == 0
        assert cli("--sandbox", "inbox", "pull").exit_code == 0
        assert cli("--sandbox", "status").exit_code == 0
    finally:
        os.umask(old_umask)
    state = isolated_home / "data" / "sandbox" / "state.db"
    assert state.exists()  # holds the emulated service's tokens by design: mode only
    assert not private_mode_problems(isolated_home), private_mode_problems(isolated_home)


# --- secrets the service or the environment echo back ----------------------------------------

ECHOED = "S3cr3tV4lue-echoed-9d2c"


def _echoing_token_fault(secret: str, count: int = 100) -> dict[str, Any]:
    """A token endpoint that quotes the secret back in its error, as `%1` of `Text`."""
    body = {
        "RequestError": {
            "ServiceException": {
                "MessageId": "SVC0001",
                "Text": "bad secret %1",
                "Variables": secret,
            }
        }
    }
    return {"path_prefix": TOKEN_PATH, "status": 400, "body": json.dumps(body), "count": count}


def test_a_token_error_that_echoes_the_secret_never_prints_it(
    cli: Cli, sandbox_http: StartSandbox, isolated_home: Path
) -> None:
    server = sandbox_http(client_id=CLIENT_ID, client_secret=ECHOED)
    server.faults(_echoing_token_fault(ECHOED))
    env = server.env()
    runs = [
        cli.process("send", "+12125550100", "-m", "hi", env=env),
        cli.process("--verbose", "send", "+12125550100", "-m", "hi", "--json", env=env),
        cli.process("status", "--json", env=env),
        cli.process("auth", "token", env=env),
        cli.process("--verbose", "auth", "token", "--json", env=env),
        cli.process("history", "--json", env=env),
    ]
    # And with the secret only on login's stdin, kept in the file store.
    no_env = {"ATTSMS_CLIENT_ID": "", "ATTSMS_CLIENT_SECRET": "", "ATTSMS_BASE_URL": ""}
    login = ("login", "--client-id", CLIENT_ID, "--client-secret-stdin", "--store", "file")
    runs.append(cli.process(*login, "--base-url", server.url, input=ECHOED, env=no_env))
    assert all(run.exit_code != 0 for run in runs[:2]), [r.stderr for r in runs]
    assert "SVC0001 bad secret ***" in runs[0].stderr  # the error is there, the secret is not
    assert "bad secret ***" in runs[-1].stderr
    printed = "".join(run.stdout + run.stderr for run in runs)
    assert printed.count(ECHOED) == 0, printed
    stored = b"".join(p.read_bytes() for p in files_under(isolated_home) if p.is_file())
    assert ECHOED.encode() not in stored  # nor kept in a history note


def test_a_base_url_with_a_password_is_never_shown(
    cli: Cli, sandbox_http: StartSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = sandbox_http(client_id=CLIENT_ID, client_secret=SECRET)
    port = server.url.rsplit(":", 1)[1]
    with_password = f"http://admin:hunter2@127.0.0.1:{port}"
    monkeypatch.setenv("ATTSMS_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("ATTSMS_CLIENT_SECRET", SECRET)
    monkeypatch.setenv("ATTSMS_BASE_URL", with_password)
    results = [
        cli("auth", "status"),
        cli("auth", "status", "--json"),
        cli("--verbose", "send", "+12125550100", "-m", "hi"),
        cli("--verbose", "auth", "token"),
        cli("status", "SMS1"),
        cli("--verbose", "logout"),
    ]
    status = results[1].json()[0]
    assert status["base_url"] == f"http://127.0.0.1:{port}"
    assert f"http://127.0.0.1:{port}" in results[0].stdout
    assert results[2].exit_code == 2 and "holds a user name or password" in results[2].stderr
    printed = "".join(r.stdout + r.stderr for r in results)
    assert "hunter2" not in printed and "admin:" not in printed, printed
    assert SECRET not in printed


def test_scrub_masks_every_remembered_secret_and_url_user_info() -> None:
    from attsms.core.redaction import display_url, remember_secret, scrub

    remember_secret("tok-ABCDEF-123456")
    remember_secret("tok-ABCDEF")  # a secret inside another: the longer one goes first
    remember_secret("ab")  # too short to scrub without garbling other words
    assert scrub("refused tok-ABCDEF-123456 and tok-ABCDEF") == "refused *** and ***"
    assert scrub("ab cab") == "ab cab"
    assert scrub("see http://admin:pw@host:8080/x") == "see http://host:8080/x"
    assert scrub("mail ada@example.com") == "mail ada@example.com"
    assert display_url("https://user:pass@api.example.com/v1") == "https://api.example.com/v1"
    assert display_url("https://api.att.com") == "https://api.att.com"
    assert display_url("http://[::1") == "http://[::1"


def test_error_messages_are_scrubbed_where_they_are_made(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from attsms.core.errors import ApiError, AttsmsError
    from attsms.core.redaction import remember_secret

    remember_secret("cs-made-known-4410")
    monkeypatch.setenv("ATTSMS_CLIENT_SECRET", "cs-from-the-env-7781")
    error = AttsmsError("bad cs-made-known-4410", hint="not cs-from-the-env-7781")
    assert str(error) == "bad ***; not ***"
    assert ApiError("x cs-made-known-4410", status=400).message == "x ***"
