"""The secret store: the OS keyring's failure modes, the file store, and a real Secret Service.

Tests here never touch the user's keyring. Most pick a backend with PYTHON_KEYRING_BACKEND (the
fakes in tests/fake_keyring.py, importable by name from child processes too). Tests marked
`keyring` start their own Secret Service (gnome-keyring on a private D-Bus, files in temp dirs):
they skip when it is not installed, and fail instead when ATTSMS_TEST_REQUIRE_KEYRING=1 (CI), so a
green CI run proves they ran.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from keyring.backend import KeyringBackend

from attsms.auth.credentials import CredentialStore, KeyringUnavailable, secret_file
from attsms.core.errors import AuthError, ExitCode
from tests.helpers.fake_keyring import STORE_ENV
from tests.helpers.support import Cli, SandboxHttp

REPO = Path(__file__).resolve().parents[2]
FAIL_BACKEND = "keyring.backends.fail.Keyring"
StartSandbox = Callable[..., SandboxHttp]


def use_backend(monkeypatch: pytest.MonkeyPatch, name: str, store: Path | None = None) -> None:
    """Select a keyring backend for this process and the attsms processes it starts."""
    monkeypatch.setenv(
        "PYTHON_KEYRING_BACKEND", name if "." in name else f"tests.helpers.fake_keyring.{name}"
    )
    if store is not None:
        monkeypatch.setenv(STORE_ENV, str(store))
    # Children import the fakes from this repository.
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    )


@pytest.fixture(autouse=True)
def no_real_keyring(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test here reaches the user's keyring: the `fail` backend unless a test picks another."""
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", FAIL_BACKEND)


# --- the store, backend by backend ---------------------------------------------------------------


def test_file_backed_fake_round_trips_and_reads_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_backend(monkeypatch, "FileKeyring", tmp_path / "kr.json")
    store = CredentialStore("work")
    assert store.get() is None
    location = store.save("s3cret")
    assert (location.kind, location.detail) == ("keyring", "fake keyring FileKeyring")
    assert store.get() == "s3cret"
    assert json.loads((tmp_path / "kr.json").read_text()) == {"attsms/work": "s3cret"}
    assert store.delete() is True
    assert store.delete() is False
    assert store.get() is None


@pytest.mark.parametrize(
    ("backend", "words"),
    [
        (FAIL_BACKEND, "no OS keyring is available"),
        ("keyring.backends.null.Keyring", "disabled"),
        ("PlaintextLikeKeyring", "not a secure store"),
        ("PromptDismissedKeyring", "could not be opened"),
    ],
)
def test_no_usable_keyring_is_an_error_naming_both_fixes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, backend: str, words: str
) -> None:
    use_backend(monkeypatch, backend, tmp_path / "kr.json")
    store = CredentialStore("work")
    with pytest.raises(KeyringUnavailable) as caught:
        store.get() if backend == "PromptDismissedKeyring" else store.save("s3cret")
    message = str(caught.value)
    assert words in message
    assert "--store file" in message and "ATTSMS_CLIENT_SECRET" in message
    assert caught.value.exit_code == ExitCode.AUTH
    assert not secret_file("work").exists()  # never a silent plaintext fallback


def test_no_dbus_session_is_named_as_the_cause(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS", raising=False)
    with pytest.raises(KeyringUnavailable, match="DBUS_SESSION_BUS_ADDRESS is not set"):
        CredentialStore("work").get()


def test_a_backend_that_keeps_nothing_is_caught_by_reading_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_backend(monkeypatch, "ForgetfulKeyring", tmp_path / "kr.json")
    with pytest.raises(KeyringUnavailable, match="did not keep the secret"):
        CredentialStore("work").save("s3cret")


def test_locked_keyring_is_an_error_not_a_fallback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_backend(monkeypatch, "LockedKeyring", tmp_path / "kr.json")
    with pytest.raises(AuthError, match="keyring is locked") as caught:
        CredentialStore("work").get()
    assert not isinstance(caught.value, KeyringUnavailable)
    assert "never falls back" in str(caught.value)
    assert not secret_file("work").exists()


def test_a_hanging_keyring_is_abandoned_after_the_timeout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_backend(monkeypatch, "HangingKeyring", tmp_path / "kr.json")
    started = time.monotonic()
    with pytest.raises(KeyringUnavailable, match=r"did not answer within 0\.3 s"):
        CredentialStore("work", timeout=0.3).get()
    assert time.monotonic() - started < 2


def test_file_store_is_0600_in_a_0700_dir_and_refuses_a_readable_file() -> None:
    store = CredentialStore("work", "file")
    location = store.save("s3cret")
    path = secret_file("work")
    assert location.detail == str(path)
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.parent.stat().st_mode & 0o777 == 0o700
    assert store.get() == "s3cret"
    path.chmod(0o644)
    with pytest.raises(AuthError, match="readable by other users"):
        store.get()
    assert store.delete() is True
    assert store.get() is None


def test_environment_comes_before_the_store(monkeypatch: pytest.MonkeyPatch) -> None:
    CredentialStore("work", "file").save("from-file")
    monkeypatch.setenv("ATTSMS_CLIENT_SECRET", "from-env")
    found = CredentialStore("work", "file").lookup()
    assert found is not None and found[0] == "from-env" and found[1].kind == "env"
    found = CredentialStore("work", "file").lookup(use_env=False)
    assert found is not None and found[0] == "from-file" and found[1].kind == "file"


# --- through the CLI, with the fakes --------------------------------------------------------------


def test_login_on_a_locked_keyring_exits_3_and_saves_nothing(
    cli: Cli, sandbox_http: StartSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = sandbox_http()
    use_backend(monkeypatch, "LockedKeyring", tmp_path / "kr.json")
    result = cli(
        "login", "--client-id", server.config.client_id, "--client-secret-stdin",
        "--base-url", server.url, input=server.config.client_secret,
    )  # fmt: skip
    assert result.exit_code == ExitCode.AUTH
    assert "keyring is locked" in result.stderr
    saved = [p for p in (tmp_path / "attsms-home").rglob("*") if p.is_file()]
    assert saved == []  # no config, no token, no secret
    assert server.stats()["attempts"]["token"] == 0  # it said so before any token call


# --- a real Secret Service on a private D-Bus ---------------------------------------------------


@dataclass
class SecretService:
    env: dict[str, str]

    def backend(self) -> KeyringBackend:
        from keyring.backends.SecretService import Keyring

        return Keyring()  # type: ignore[no-untyped-call]

    def lock(self) -> None:
        import secretstorage

        connection = secretstorage.dbus_init()
        try:
            secretstorage.get_default_collection(connection).lock()
        finally:
            connection.close()


def _unavailable(reason: str) -> None:
    if os.environ.get("ATTSMS_TEST_REQUIRE_KEYRING") == "1":
        pytest.fail(f"a real Secret Service is required (ATTSMS_TEST_REQUIRE_KEYRING=1): {reason}")
    pytest.skip(f"no real Secret Service: {reason}")


@pytest.fixture
def secret_service(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SecretService]:
    """gnome-keyring on its own D-Bus session, its files in tmp_path, unlocked, for one test."""
    missing = [b for b in ("dbus-daemon", "gnome-keyring-daemon") if shutil.which(b) is None]
    if missing:
        _unavailable(f"{' and '.join(missing)} not installed (apt-get install gnome-keyring dbus)")
    run, data, config = tmp_path / "xdg-run", tmp_path / "xdg-data", tmp_path / "xdg-config"
    run.mkdir(mode=0o700)
    data.mkdir()
    config.mkdir()
    bus = subprocess.Popen(
        ["dbus-daemon", "--session", "--nofork", "--print-address=1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    daemon: subprocess.Popen[bytes] | None = None
    try:
        assert bus.stdout is not None
        env = {
            "DBUS_SESSION_BUS_ADDRESS": bus.stdout.readline().strip(),
            "XDG_RUNTIME_DIR": str(run),
            "XDG_DATA_HOME": str(data),
            "XDG_CONFIG_HOME": str(config),  # no keyringrc.cfg of the user's
        }
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        monkeypatch.delenv("PYTHON_KEYRING_BACKEND", raising=False)  # real auto-detection
        daemon = subprocess.Popen(
            ["gnome-keyring-daemon", "--foreground", "--unlock", "--components=secrets"],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        assert daemon.stdin is not None
        daemon.stdin.write(b"test-password")  # creates and unlocks the login keyring
        daemon.stdin.close()
        service = SecretService(env)
        _wait_for(service)
        yield service
    finally:
        for process in (daemon, bus):
            if process is not None:
                process.terminate()
                process.wait(timeout=10)


def _wait_for(service: SecretService) -> None:
    from keyring.backends.SecretService import Keyring

    deadline = time.monotonic() + 10
    while True:
        try:
            if Keyring.priority >= 1:
                return
        except RuntimeError as error:
            if time.monotonic() > deadline:
                _unavailable(f"gnome-keyring did not start: {error}")
        time.sleep(0.05)


def _login(cli: Cli, server: SandboxHttp, *args: str) -> tuple[int, str]:
    result = cli.process(
        "login", "--client-id", server.config.client_id, "--client-secret-stdin",
        "--base-url", server.url, *args, input=server.config.client_secret,
    )  # fmt: skip
    return result.exit_code, result.stderr


@pytest.mark.keyring
def test_real_keyring_login_use_and_logout(
    cli: Cli, sandbox_http: StartSandbox, secret_service: SecretService
) -> None:
    server = sandbox_http()
    code, stderr = _login(cli, server)
    assert code == 0, stderr
    assert "keyring (SecretService Keyring)" in stderr
    backend = secret_service.backend()
    assert backend.get_password("attsms", "default") == server.config.client_secret
    config = (Path(os.environ["ATTSMS_CONFIG_DIR"]) / "config.toml").read_text()
    assert server.config.client_secret not in config and 'store = "keyring"' in config

    status = cli.process("auth", "status", "--json")
    assert status.exit_code == 0, status.stderr
    row = status.json()[0]
    assert (row["secret_source"], row["secret_location"]) == ("keyring", "SecretService Keyring")

    # Without a cached token the next process reads the secret from the Secret Service.
    (Path(os.environ["ATTSMS_CACHE_DIR"]) / "tokens" / "default.json").unlink()
    token = cli.process("auth", "token")
    assert token.exit_code == 0, token.stderr
    assert server.stats()["operations"]["token"] == 2

    out = cli.process("logout")
    assert out.exit_code == 0, out.stderr
    assert "secret deleted" in out.stderr
    assert backend.get_password("attsms", "default") is None
    assert cli.process("auth", "token").exit_code == ExitCode.AUTH


@pytest.mark.keyring
def test_real_keyring_locked_is_exit_3_and_never_a_plaintext_fallback(
    cli: Cli, sandbox_http: StartSandbox, secret_service: SecretService
) -> None:
    server = sandbox_http()
    assert _login(cli, server)[0] == 0
    (Path(os.environ["ATTSMS_CACHE_DIR"]) / "tokens" / "default.json").unlink()
    secret_service.lock()

    token = cli.process("auth", "token", timeout=30)
    assert token.exit_code == ExitCode.AUTH
    assert "keyring is locked" in token.stderr
    assert token.stderr.count("\n") == 1
    assert token.stdout == ""
    code, stderr = _login(cli, server)
    assert code == ExitCode.AUTH and "keyring is locked" in stderr
    assert not secret_file("default").exists()
    assert server.stats()["operations"]["token"] == 1  # the first login's only
