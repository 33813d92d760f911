"""The command line as a user meets it: help, version, usage errors, exit codes, start-up cost."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from attsms import __version__
from tests.helpers.support import Cli, SandboxHttp

HEAVY = ("httpx", "rich", "keyring", "phonenumbers", "sqlite3", "filelock")


def _modules_after(*args: str) -> set[str]:
    """The modules loaded by running attsms with `args` in a fresh interpreter."""
    script = (
        "import sys, io\n"
        "from attsms.cli.main import main\n"
        "sys.stdout = io.StringIO()\n"
        f"main({list(args)!r})\n"
        "sys.__stdout__.write(' '.join(sorted(sys.modules)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout
    return set(out.split())


def test_version_prints_version_and_loads_nothing_heavy() -> None:
    loaded = _modules_after("--version")
    assert not {"typer", *HEAVY} & loaded


def test_help_loads_no_http_rich_or_keyring() -> None:
    for args in (["--help"], ["send", "--help"], ["status", "--help"]):
        loaded = _modules_after(*args)
        assert "typer" not in loaded  # answered from the help cache
        assert not set(HEAVY) & loaded, (args, set(HEAVY) & loaded)
        # An option before --help is Typer's to read: it loads, still without the heavy ones.
        loaded = _modules_after("--sandbox", *args)
        assert "typer" in loaded
        assert not set(HEAVY) & loaded, (args, set(HEAVY) & loaded)


def test_a_piped_send_loads_httpx_without_its_command_line(
    sandbox_http: Callable[..., SandboxHttp], tmp_path: Path
) -> None:
    # httpx's own CLI (click, rich.syntax, pygments) is a third of `import httpx`; attsms never
    # runs it. A send piped (no progress bar, no table) loads no rich at all.
    server = sandbox_http()
    env = {**os.environ, **server.env()}
    for kind in ("CONFIG", "CACHE", "DATA"):
        env[f"ATTSMS_{kind}_DIR"] = str(tmp_path / kind.lower())
    script = (
        "import sys\n"
        "from attsms.cli.main import main\n"
        "code = main(['send', '+12125550100', '-m', 'hi', '-q'])\n"
        "real = (name for name, module in sys.modules.items() if module is not None)\n"
        "sys.stderr.write(str(code) + ' ' + ' '.join(sorted(real)))\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, check=False
    )
    code, _, names = run.stderr.rpartition("\n")[2].partition(" ")
    loaded = set(names.split())
    assert code == "0", run.stderr
    assert "httpx" in loaded and server.stats()["send_requests"] == 1
    assert not {"httpx._main", "click", "pygments", "rich"} & loaded


def test_version(cli: Cli) -> None:
    result = cli("--version")
    assert result.exit_code == 0
    assert result.stdout == f"attsms {__version__}\n"


def test_python_dash_m_works(cli: Cli) -> None:
    result = cli.process("--version")
    assert (result.exit_code, result.stdout.strip()) == (0, f"attsms {__version__}")


@pytest.mark.parametrize("command", [[], ["send"], ["status"]])
def test_every_help_exits_zero_with_examples(cli: Cli, command: list[str]) -> None:
    result = cli(*command, "--help")
    assert result.exit_code == 0
    assert "Usage: attsms" in result.stdout
    assert "Examples:" in result.stdout


def test_unknown_option_is_one_line_exit_2(cli: Cli) -> None:
    result = cli("send", "--no-such-flag")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("attsms: error: No such option: --no-such-flag")
    assert "Traceback" not in result.stderr


def test_missing_credentials_exit_3_and_names_the_fix(cli: Cli) -> None:
    result = cli("send", "+12125550100", "-m", "hi")
    assert result.exit_code == 3
    assert result.stderr.count("\n") == 1
    assert "attsms login" in result.stderr
    assert result.stdout == ""


def test_bad_number_exit_2_names_it_and_sends_nothing(
    cli: Cli, sandbox_http: Callable[..., SandboxHttp], use_server: Any
) -> None:
    server = use_server(sandbox_http())
    result = cli("send", "+12125550100", "banana", "-m", "hi")
    assert result.exit_code == 2
    assert "banana" in result.stderr
    assert result.stdout == ""
    stats = server.stats()  # nothing reached the service: not a send, not even a token call
    assert stats["send_requests"] == 0 and stats["delivered_to"] == {}
    assert sum(stats["attempts"].values()) == 0


@pytest.mark.parametrize(
    ("message", "needle"), [("", "empty"), ("   ", "empty"), ("x" * 4097, "4097")]
)
def test_bad_message_exit_2(cli: Cli, message: str, needle: str) -> None:
    result = cli("--sandbox", "send", "+12125550100", "-m", message)
    assert result.exit_code == 2
    assert needle in result.stderr
