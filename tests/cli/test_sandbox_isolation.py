"""`--sandbox` never touches a real profile: its secret, its token, or the service behind it.

A real profile logs in to an HTTP sandbox standing in for the real service (with the file store),
then every auth command runs with `--sandbox`; the real profile must come out byte for byte as it
went in, and the "real" service must have seen no request at all.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from attsms.core.errors import ExitCode
from tests.helpers.support import Cli, SandboxHttp

SECRET = "r3al-Secret-of-the-real-profile"


def _files() -> dict[str, bytes]:
    """Every file attsms keeps in its config and cache dirs, by path."""
    found: dict[str, bytes] = {}
    for name in ("CONFIG", "CACHE"):
        root = Path(os.environ[f"ATTSMS_{name}_DIR"])
        for path in sorted(root.rglob("*")):
            if path.is_file() and not path.name.endswith(".lock"):
                found[str(path)] = path.read_bytes()
    return found


@pytest.fixture
def real(cli: Cli, sandbox_http: Callable[..., SandboxHttp]) -> SandboxHttp:
    """The "real" service, with the default profile logged in to it (secret in the file store)."""
    server = sandbox_http(client_secret=SECRET)
    result = cli(
        "login", "--client-id", server.config.client_id, "--client-secret-stdin",
        "--base-url", server.url, "--store", "file",
        input=SECRET,
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    return server


def _real_requests(server: SandboxHttp) -> dict[str, int]:
    attempts: dict[str, int] = server.stats()["attempts"]
    return attempts


def test_sandbox_logout_leaves_the_real_profile_alone(cli: Cli, real: SandboxHttp) -> None:
    before, requests = _files(), _real_requests(real)
    secret_file = Path(os.environ["ATTSMS_CONFIG_DIR"]) / "secrets" / "default"
    token_file = Path(os.environ["ATTSMS_CACHE_DIR"]) / "tokens" / "default.json"
    assert secret_file.read_text() == SECRET + "\n" and token_file.exists()

    for args in (["--sandbox", "logout"], ["--sandbox", "logout", "--json"]):
        result = cli(*args)
        assert result.exit_code == 0, result.stderr
        assert "default" not in result.stdout + result.stderr
    cli("--sandbox", "auth", "token")  # the sandbox's own token, cached under its own name
    assert cli("--sandbox", "logout").exit_code == 0

    assert _real_requests(real) == requests  # no revoke, no token call reached the real service
    after = _files()
    assert {p: after.get(p) for p in before} == before  # secret, token, config: untouched
    # And the real profile still works, on the token it had.
    status = cli("auth", "status", "--json")
    assert status.exit_code == 0, status.stderr
    row = status.json()[0]
    assert (row["profile"], row["secret_source"], row["token"]) == ("default", "file", "valid")


def test_sandbox_logout_forgets_only_the_sandbox_token(cli: Cli, real: SandboxHttp) -> None:
    assert cli("--sandbox", "auth", "token").exit_code == 0
    result = cli("--sandbox", "logout", "--json")
    assert result.exit_code == 0, result.stderr
    document = result.json()
    assert document["profile"] == "sandbox"
    assert (document["revoked"], document["secret_deleted"]) == (False, False)
    assert document["token_deleted"] is True
    again = cli("--sandbox", "logout")
    assert again.exit_code == 0
    assert "sandbox" in again.stderr and "not logged in" in again.stderr


def test_other_auth_commands_with_sandbox_leave_the_real_profile_alone(
    cli: Cli, real: SandboxHttp
) -> None:
    before, requests = _files(), _real_requests(real)

    login = cli("--sandbox", "login", "--client-id", "x", "--client-secret-stdin", input="y")
    assert login.exit_code == ExitCode.USAGE
    assert "the sandbox needs no login" in login.stderr
    status = cli("--sandbox", "auth", "status", "--json")
    assert status.exit_code == 0, status.stderr
    assert [row["profile"] for row in status.json()] == ["sandbox"]
    assert real.url not in status.stdout
    token = cli("--sandbox", "auth", "token", "--json")
    assert token.exit_code == 0, token.stderr
    assert token.json()["profile"] == "sandbox" and real.url not in token.stdout

    assert _real_requests(real) == requests
    after = _files()
    assert {p: after.get(p) for p in before} == before


@pytest.mark.parametrize(
    "args",
    [
        ["login", "--profile", "sandbox", "--client-id", "x", "--client-secret-stdin"],
        ["--profile", "sandbox", "auth", "status"],
        ["--profile", "sandbox", "logout"],
    ],
)
def test_a_real_profile_cannot_be_named_sandbox(cli: Cli, args: list[str]) -> None:
    # Its token cache, inbox and history would be the ones --sandbox uses.
    result = cli(*args, input="y")
    assert result.exit_code == ExitCode.USAGE
    assert "'sandbox' is kept for --sandbox" in result.stderr
