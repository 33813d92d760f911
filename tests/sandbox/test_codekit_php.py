"""AT&T's own PHP SDK (codekit-php, vendored unchanged in tests/vendor/codekit-php) runs the SMS
flow of its integration test against `attsms sandbox serve --dialect codekit`: all five steps pass.

Needs `php` with its curl extension (Debian: php-cli php-curl). Without them the test skips on a
developer's machine and fails where they are required (`ATTSMS_TEST_REQUIRE_PHP=1`, set by
.ci/run, or `CI` set): a missing interpreter must not pass unseen.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Generator, Iterator
from pathlib import Path

import httpx
import pytest

DRIVER = Path(__file__).with_name("codekit_sms_flow.php")
SENDER = "+12125550100"
TEXT = "Hello from a phone"


def _php() -> str:
    """The php binary with curl; skips (or, where PHP is required, fails) without it."""
    php = shutil.which("php")
    why_not = "no php on PATH"
    if php is not None:
        probe = subprocess.run(
            [php, "-r", "exit(function_exists('curl_init') ? 0 : 1);"],
            capture_output=True,
            timeout=30,
        )
        if probe.returncode == 0:
            return php
        why_not = "php has no curl extension"
    if os.environ.get("ATTSMS_TEST_REQUIRE_PHP") == "1" or os.environ.get("CI"):
        pytest.fail(f"PHP is required here (install php-cli php-curl): {why_not}")
    pytest.skip(f"{why_not} (Debian: apt-get install php-cli php-curl)")


def _serve(dialect: str, data_dir: Path) -> Generator[str]:
    env = {**os.environ, "ATTSMS_DATA_DIR": str(data_dir)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "attsms", "sandbox", "serve", "--port", "0", "--dialect", dialect],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert "listening on" in first, first
        yield first.split()[-1]
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[[str], str]]:
    """serve(dialect) -> the URL of an `attsms sandbox serve --dialect` child process."""
    running: list[Generator[str]] = []

    def start(dialect: str) -> str:
        server = _serve(dialect, tmp_path / f"data-{len(running)}")
        running.append(server)
        return next(server)

    yield start
    for server in running:
        server.close()


def _run_flow(php: str, url: str) -> subprocess.CompletedProcess[str]:
    injected = httpx.post(f"{url}/sandbox/inbox/12345", json={"from": SENDER, "text": TEXT})
    assert injected.status_code == 200, injected.text
    args = [url, "sandbox-client-id", "sandbox-client-secret", "12345"]
    # The sender as the SDK's own test shows one: tel: and ten digits.
    args += ["tel:2125550100", TEXT, "tel:+12125550101", "tel:+12125550102"]
    return subprocess.run([php, str(DRIVER), *args], capture_output=True, text=True, timeout=120)


def test_the_php_sdk_flow_passes_five_of_five_against_the_codekit_dialect(
    serve: Callable[[str], str],
) -> None:
    php = _php()
    url = serve("codekit")
    result = _run_flow(php, url)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    for step in ("token", "inbox", "send to one", "send to two", "delivery status"):
        assert f"PASS {step}" in lines
    assert "5/5 passed" in lines
    assert "  +12125550101 MessageWaiting" in lines  # the SDK read each recipient's status


def test_the_spec_dialect_fails_the_two_reads_as_measured_in_issue_30(
    serve: Callable[[str], str],
) -> None:
    php = _php()
    url = serve("spec")
    result = _run_flow(php, url)
    assert result.returncode == 1
    assert "3/5 passed" in result.stdout
    assert 'Undefined array key "InboundSmsMessageList"' in result.stdout
    assert 'Undefined array key "DeliveryInfoList"' in result.stdout
