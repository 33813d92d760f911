"""`login --base-url http://…`: the client secret is never sent in clear to another host
(issue 23 §7) unless `--insecure-http` says so; loopback needs no flag."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.helpers.support import Cli, SandboxHttp

StartSandbox = Callable[..., SandboxHttp]

LOGIN = ("login", "--client-id", "abc", "--client-secret-stdin", "--store", "file")


@pytest.mark.parametrize(
    "url",
    ["http://api.example.com", "http://192.0.2.1:8080", "http://[2001:db8::1]", "http://10.0.0.1"],
)
def test_login_refuses_plain_http_to_another_host(cli: Cli, url: str, isolated_home: Path) -> None:
    result = cli(*LOGIN, "--base-url", url, input="cs-plain-http-4471")
    assert result.exit_code == 2, result
    assert result.stderr.count("\n") == 1 and "--insecure-http" in result.stderr, result.stderr
    assert "cs-plain-http-4471" not in result.stdout + result.stderr
    assert not (isolated_home / "config" / "config.toml").exists()


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_login_over_plain_http_to_loopback_is_allowed(
    cli: Cli, sandbox_http: StartSandbox, host: str
) -> None:
    server = sandbox_http(client_id="abc", client_secret="cs-loopback-9921")
    port = server.url.rsplit(":", 1)[1]
    result = cli(*LOGIN, "--base-url", f"http://{host}:{port}", input="cs-loopback-9921")
    assert result.exit_code == 0, result.stderr


def test_insecure_http_lets_login_try_a_plain_http_host(cli: Cli) -> None:
    result = cli(
        *LOGIN, "--base-url", "http://nosuch.invalid", "--insecure-http", input="cs-insecure-5521"
    )
    assert result.exit_code not in (0, 2), result
    assert "--insecure-http" not in result.stderr
    assert "cs-insecure-5521" not in result.stdout + result.stderr


def test_only_loopback_hosts_count_as_this_host() -> None:
    from attsms.auth.config import is_loopback

    for host in ("127.0.0.1", "127.1.2.3", "::1", "localhost", "LOCALHOST.", "[::1]"):
        assert is_loopback(host), host
    for host in ("10.0.0.1", "api.example.com", "localhost.example.com", "::2", "128.0.0.1"):
        assert not is_loopback(host), host
