"""`attsms sandbox open`: the page of a running `sandbox serve`, printed, and opened where there is
a desktop browser (never a text browser taking over a terminal)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.helpers.support import Cli, SandboxHttp


def test_prints_the_page_of_a_running_sandbox(
    cli: Cli, sandbox_http: Callable[..., SandboxHttp], monkeypatch: pytest.MonkeyPatch
) -> None:
    server = sandbox_http()
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "BROWSER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(sys, "platform", "linux")
    result = cli("sandbox", "open", "--url", server.url + "/")
    assert (result.exit_code, result.stdout) == (0, f"{server.url}/\n")
    assert result.stderr == "No browser to open here: open the URL above in one.\n"
    quiet = cli("sandbox", "open", "--url", server.url, "--no-browser")
    assert (quiet.exit_code, quiet.stdout, quiet.stderr) == (0, f"{server.url}/\n", "")


def test_opens_it_in_the_browser_the_desktop_names(
    cli: Cli,
    sandbox_http: Callable[..., SandboxHttp],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    server = sandbox_http()
    opened = tmp_path / "opened"
    script = tmp_path / "browser"
    script.write_text(f'#!/bin/sh\necho "$1" > {opened}\n')
    script.chmod(0o755)
    monkeypatch.setenv("BROWSER", str(script))
    result = cli("sandbox", "open", "--url", server.url)
    assert (result.exit_code, result.stdout, result.stderr) == (0, f"{server.url}/\n", "")
    assert opened.read_text() == f"{server.url}/\n"


def test_no_sandbox_there_is_one_line_and_exit_75(cli: Cli) -> None:
    result = cli("sandbox", "open", "--url", "http://127.0.0.1:1", "--no-browser")
    assert result.exit_code == 75
    assert result.stderr.startswith("attsms: error: cannot reach the sandbox at http://127.0.0.1:1")
    assert len(result.stderr.splitlines()) == 1 and "Traceback" not in result.stderr


def test_serve_names_its_page_when_it_starts(tmp_path: Path) -> None:
    import os
    import subprocess

    env = {**os.environ, "ATTSMS_DATA_DIR": str(tmp_path / "data")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "attsms", "sandbox", "serve", "--port", "0"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().split()[-1]
        assert proc.stdout.readline() == f"  page:             {url}/\n"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_open_json_names_the_page(cli: Cli, sandbox_http: Callable[..., SandboxHttp]) -> None:
    server = sandbox_http()
    shown = cli("sandbox", "open", "--url", server.url, "--no-browser", "--json")
    assert shown.exit_code == 0, shown.stderr
    assert shown.json() == {"url": server.url + "/", "opened": False}
