"""Ctrl-C on a plain send prints what was accepted so far, before exit 130.

Without a dedupe key the output is the only record a script has of which numbers got the text:
an interrupted send that printed nothing would leave it to guess (and resend to everyone).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from attsms.core.errors import ExitCode
from tests.helpers.support import SandboxHttp

StartSandbox = Callable[..., SandboxHttp]


def _wait_for(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 30
    while not condition():
        assert time.monotonic() < deadline
        time.sleep(0.01)


@pytest.mark.parametrize(("concurrency", "json_output"), [(1, True), (3, False)])
def test_ctrl_c_on_a_plain_send_prints_what_was_accepted(
    sandbox_http: StartSandbox, tmp_path: Path, concurrency: int, json_output: bool
) -> None:
    server = sandbox_http(latency_ms=300)
    numbers = [f"+1212{7000000 + i:07d}" for i in range(1000)]
    (tmp_path / "to.txt").write_text("\n".join(numbers) + "\n")
    argv = [sys.executable, "-m", "attsms", "send", "--to-file", str(tmp_path / "to.txt")]
    argv += ["-m", "hi", "--concurrency", str(concurrency), *(["--json"] if json_output else [])]
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, **server.env()}
    )
    _wait_for(lambda: server.stats()["send_requests"] >= 2)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == ExitCode.INTERRUPTED, err.decode()
    assert b"Traceback" not in err
    texted = set(server.stats()["delivered_to"])
    assert 100 <= len(texted) < 1000
    if json_output:
        document = json.loads(out)
        accepted = {r["to"] for r in document["messages"] if r["result"] == "accepted"}
        assert document["summary"]["accepted"] == len(texted)
        not_sent = [r for r in document["messages"] if r["result"] == "failed"]
        assert len(not_sent) == 1000 - len(texted)
        assert all("interrupted" in r["error"] for r in not_sent)
    else:
        rows = [line.split("\t") for line in out.decode().splitlines()]
        accepted = {row[1] for row in rows if row[2] == "accepted"}
        assert len(rows) == 1000
    assert {f"tel:{n}" for n in accepted} == texted
