"""Shared fixtures: every test runs with its own config, cache and data dirs, never the user's."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

from tests.helpers.support import Cli, SandboxHttp

# No deadline per example: a deadline is a wall-clock assertion, and on a loaded 2-core box an
# example that writes a file can take longer than hypothesis's 200 ms without anything wrong.
settings.register_profile("attsms", deadline=None)
settings.load_profile("attsms")

pytest_plugins = ["tests.helpers.pg_fixtures"]

_ENV_TO_CLEAR = (
    "ATTSMS_CLIENT_ID",
    "ATTSMS_CLIENT_SECRET",
    "ATTSMS_BASE_URL",
    "ATTSMS_PROFILE",
    "ATTSMS_SANDBOX",
    "ATTSMS_REGISTRATION_ID",
    "ATTSMS_REGION",
    "ATTSMS_TIMEOUT",
    "ATTSMS_MAX_RETRIES",
    "ATTSMS_RATE_LIMIT_TIMEOUT",
    "ATTSMS_DATABASE_URL",
    "ATTSMS_HOSTNAME",
    "ATTSMS_HISTORY_KEEP_DAYS",
    "ATTSMS_HISTORY_KEEP_BATCHES",
    "ATTSMS_DEBUG",
    "NO_COLOR",
)


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point every attsms directory at a fresh temp dir and clear credential variables."""
    home = tmp_path / "attsms-home"
    for name in ("config", "cache", "data"):
        monkeypatch.setenv(f"ATTSMS_{name.upper()}_DIR", str(home / name))
    for name in _ENV_TO_CLEAR:
        monkeypatch.delenv(name, raising=False)
    # Child attsms processes may cache bytecode (in the gitignored __pycache__): compiling every
    # module afresh in each of hundreds of processes costs the suite more than any test.
    monkeypatch.delenv("PYTHONDONTWRITEBYTECODE", raising=False)
    # No test reaches the developer's real keyring; keyring tests choose their backend.
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    # Secrets one in-process run remembered must not mask another test's output.
    from attsms.core import redaction

    monkeypatch.setattr(redaction, "_known", set())
    return home


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch) -> Iterator[Cli]:
    yield Cli(monkeypatch)


@pytest.fixture
def dialect() -> str:
    """The answer shapes of the sandboxes `sandbox_http` starts; `both_dialects`
    (tests/helpers/support.py) runs a test with each."""
    return "spec"


@pytest.fixture
def sandbox_http(dialect: str) -> Iterator[Callable[..., SandboxHttp]]:
    """Start sandbox servers with the given config (in the test's `dialect` unless it names one);
    all are stopped after the test."""
    started: list[SandboxHttp] = []

    def start(**config: Any) -> SandboxHttp:
        server = SandboxHttp(**{"dialect": dialect, **config})
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def use_server(monkeypatch: pytest.MonkeyPatch) -> Callable[[SandboxHttp], SandboxHttp]:
    """Point in-process `cli(...)` runs (and child processes) at a sandbox server."""

    def point(server: SandboxHttp) -> SandboxHttp:
        for name, value in server.env().items():
            monkeypatch.setenv(name, value)
        return server

    return point


@pytest.fixture
def no_retry_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    """Client retries without their backoff sleeps (Retry-After is still honoured)."""
    from attsms.api.client import RetryPolicy

    monkeypatch.setattr(RetryPolicy, "delay", lambda _self, _attempt, retry_after: retry_after or 0)


@pytest.fixture
def sandbox_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A sandbox in a child process (its memory is not this process's), which attsms in this
    process is set to use (base URL and credentials); yields its URL."""
    env = {**os.environ, "ATTSMS_DATA_DIR": str(tmp_path / "sandbox-data")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "attsms", "sandbox", "serve", "--port", "0"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    first = proc.stdout.readline()
    assert "listening on" in first, first
    url = first.split()[-1]
    monkeypatch.setenv("ATTSMS_BASE_URL", url)
    monkeypatch.setenv("ATTSMS_CLIENT_ID", "sandbox-client-id")
    monkeypatch.setenv("ATTSMS_CLIENT_SECRET", "sandbox-client-secret")
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)
