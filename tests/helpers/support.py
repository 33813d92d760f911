"""Test helpers: run attsms in-process or as a real process and look at what a user sees."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from attsms.core.models import SenderIdentity
    from attsms.store import StoreSettings

import pytest

T = TypeVar("T")


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)

    @property
    def lines(self) -> list[str]:
        return self.stdout.splitlines()


class Cli:
    """Runs attsms in this process (fast) or as a real process (for signals, pipes, TTYs)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self._monkeypatch = monkeypatch

    def __call__(self, *args: str, input: str | None = None) -> Result:
        from attsms.cli.main import main

        stdout, stderr = io.StringIO(), io.StringIO()
        with self._monkeypatch.context() as patch:
            patch.setattr(sys, "stdout", stdout)
            patch.setattr(sys, "stderr", stderr)
            patch.setattr(sys, "stdin", io.StringIO(input or ""))
            code = main(list(args))
        return Result(int(code), stdout.getvalue(), stderr.getvalue())

    def process(
        self,
        *args: str,
        input: str | bytes | None = None,
        env: dict[str, str] | None = None,
        timeout: float = 60,
    ) -> Result:
        data = input.encode() if isinstance(input, str) else input
        proc = subprocess.run(
            [sys.executable, "-m", "attsms", *args],
            input=data,
            capture_output=True,
            env={**os.environ, **(env or {})},
            timeout=timeout,
            check=False,
        )
        return Result(
            proc.returncode,
            proc.stdout.decode("utf-8", "replace"),
            proc.stderr.decode("utf-8", "replace"),
        )


# The sandbox's two answer shapes (attsms/sandbox/dialects.py). A test marked `both_dialects` runs
# once against each: the marker overrides the `dialect` fixture (tests/conftest.py, "spec"
# otherwise) that `sandbox_http` and the listen tests' `push_sandbox` read.
DIALECTS = ("spec", "codekit")
both_dialects = pytest.mark.parametrize("dialect", DIALECTS)


class SandboxHttp:
    """A sandbox served over real HTTP on an ephemeral port, with its admin endpoints at hand."""

    def __init__(self, **config: Any) -> None:
        from attsms.sandbox import SandboxConfig
        from attsms.sandbox.server import SandboxServer

        self.config = SandboxConfig(**config)
        self.server = SandboxServer(self.config, "127.0.0.1", 0).start()
        self.url = self.server.url

    def admin(self, method: str, path: str, payload: Any = None) -> Any:
        import httpx

        response = httpx.request(method, self.url + path, json=payload, timeout=10)
        response.raise_for_status()
        return response.json()

    def faults(self, *rules: dict[str, Any]) -> None:
        self.admin("POST", "/sandbox/faults", {"rules": list(rules)})

    def stats(self) -> Any:
        return self.admin("GET", "/sandbox/stats")

    def inject(
        self, sender: str, text: str, count: int = 1, to: str = "12345", at: str | None = None
    ) -> Any:
        """Messages from `sender` to short code `to`, texted `at` (ISO 8601; default now)."""
        body: dict[str, Any] = {"from": sender, "text": text, "count": count}
        if at is not None:
            body["at"] = at
        return self.admin("POST", f"/sandbox/inbox/{to}", body)

    def env(self) -> dict[str, str]:
        """Environment that points a child attsms process at this server."""
        return {
            "ATTSMS_BASE_URL": self.url,
            "ATTSMS_CLIENT_ID": self.config.client_id,
            "ATTSMS_CLIENT_SECRET": self.config.client_secret,
        }

    def stop(self) -> None:
        self.server.stop()


def traced_peak(run: Callable[[], T]) -> tuple[int, T]:
    """The peak of Python's allocations (tracemalloc) while `run` runs, and what it returned."""
    import tracemalloc

    tracemalloc.start()
    try:
        result = run()
        return tracemalloc.get_traced_memory()[1], result
    finally:
        tracemalloc.stop()


def rss_mb() -> float:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


class PeakRss:
    """The highest RSS of this process while the block runs, sampled every 5 ms."""

    def __init__(self) -> None:
        self.peak = 0.0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._done.wait(0.005):
            self.peak = max(self.peak, rss_mb())

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()
        self.peak = max(self.peak, rss_mb())


def store_settings() -> StoreSettings:
    """The stores a run in this environment uses (ATTSMS_DATABASE_URL, the retention variables,
    the default profile's settings), resolved as the command line resolves them: what tests
    of the store layer hand its openers, as every caller does."""
    from attsms.cli.settings import resolve_settings

    return resolve_settings(sandbox=False, profile=None).store


def sender(
    profile: str = "default",
    *,
    account: str = "client-id@https://api.att.com",
    short_code: str | None = "12345",
) -> SenderIdentity:
    """A sender identity for tests of consent: `profile` sending as `account` at `short_code`."""
    from attsms.core.models import SenderIdentity

    return SenderIdentity(account, short_code, profile)


def profile_sender(profile: str | None = None) -> SenderIdentity:
    """Who the command line sends as for `profile` (the default one: None) in this environment,
    resolved as a command resolves it."""
    from attsms.cli.settings import resolve_settings

    return resolve_settings(sandbox=False, profile=profile).sender
