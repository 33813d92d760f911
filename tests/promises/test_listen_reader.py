"""Nothing pushed is lost when the reader of `attsms listen --jsonl` goes away (issue 23 §4).

`attsms listen --jsonl | handler`, and the handler exits (`| head -1`, a crash): `listen` stops
with exit 141 (as a pipeline's writer does) after answering the requests in flight, and nothing
it stored is answered 5xx, so the service's retry is never a `{"stored": false}` that no handler
sees. What it had not stored is answered 503 (or not at all), so the service pushes it again, to
the listener the supervisor restarted, which prints it. A real `attsms listen` process whose
stdout is a pipe the test closes, pushed to by a real HTTP sandbox; counted on its stats.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import httpx
import pytest

from attsms.core.errors import ExitCode
from attsms.sandbox import SandboxConfig
from attsms.sandbox.callbacks import CallbackConfig
from attsms.sandbox.server import SandboxServer
from tests.helpers.support import Cli

TOKEN = "reader-test-listen-token-0123456789"
NUMBER = "+12125550100"
_LISTENING = re.compile(r"listening on (http://\S+) ")


def _listen(
    home: Path, run: int, port: int, stdout: int | IO[bytes]
) -> tuple[subprocess.Popen[bytes], str]:
    err = home / f"listen-{run}.err"
    with err.open("wb") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "attsms", "listen", "--jsonl", "--port", str(port)],
            stdout=stdout,
            stderr=stderr,
            env={**os.environ, "ATTSMS_LISTEN_TOKEN": TOKEN},
        )
    deadline = time.monotonic() + 30
    while not (m := _LISTENING.search(err.read_text(errors="replace"))):
        assert proc.poll() is None, err.read_text()
        assert time.monotonic() < deadline, "listen did not start"
        time.sleep(0.02)
    return proc, m.group(1)


def _until(predicate: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@pytest.fixture
def procs() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)


def test_a_closed_jsonl_reader_ends_listen_141_and_the_service_retry_reaches_the_next_one(
    cli: Cli,
    tmp_path: Path,
    procs: list[subprocess.Popen[bytes]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first, url = _listen(tmp_path, 1, 0, subprocess.PIPE)
    procs.append(first)
    port = int(url.rsplit(":", 1)[1])
    callbacks = CallbackConfig(
        inbound_url=f"{url}/notify/{TOKEN}/inbound",
        first_backoff=0.05,
        max_backoff=0.3,
        attempts=500,
    )
    server = SandboxServer(SandboxConfig(), callbacks=callbacks).start()
    try:

        def push(count: int) -> None:
            httpx.post(
                f"{server.url}/sandbox/inbox/12345",
                json={"from": NUMBER, "text": "m", "count": count},
            ).raise_for_status()

        def stats() -> dict[str, int]:
            return dict(httpx.get(f"{server.url}/sandbox/stats").json()["callbacks"]["inbound"])

        # The handler reads one notification, then goes away (`| head -1`).
        push(1)
        pipe = first.stdout
        assert pipe is not None
        seen = [json.loads(pipe.readline())["message_id"]]
        pipe.close()
        push(20)
        # listen notices, answers what is in flight, and stops as a pipeline writer does.
        assert first.wait(timeout=60) == ExitCode.BROKEN_PIPE
        stderr = (tmp_path / "listen-1.err").read_text()
        assert "Traceback" not in stderr
        assert " 500 " not in stderr  # nothing stored and answered 5xx
        assert "stdout was closed" in stderr

        # The supervisor restarts it; the service retries what was not acknowledged.
        with (tmp_path / "listen-2.out").open("wb") as out:
            second, _ = _listen(tmp_path, 2, port, out)
            procs.append(second)
            _until(
                lambda: httpx.get(f"{server.url}/sandbox/stats").json()["callbacks"]["pending"] == 0
            )
        pushed = stats()
    finally:
        server.stop()
    assert pushed["queued"] == 21
    assert pushed["acknowledged"] == 21 and pushed["abandoned"] == 0
    listed = cli("inbox", "list", "--limit", "0", "--jsonl")
    stored = [json.loads(line)["message_id"] for line in listed.lines]
    assert len(stored) == 21 == len(set(stored))
    printed = [
        json.loads(line)["message_id"]
        for line in (tmp_path / "listen-2.out").read_text().splitlines()
    ]
    # Every message reached a handler: the one the first reader took, the rest the next one.
    assert sorted(seen + printed) == sorted(stored)
