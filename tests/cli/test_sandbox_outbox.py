"""`attsms sandbox outbox`: what each person would have received, from a server or in-process."""

from __future__ import annotations

from collections.abc import Callable

from tests.helpers.support import Cli, SandboxHttp

ANA, BO = "+12125550100", "+13125550101"


def test_outbox_json_from_a_server_shows_each_recipient_and_text(
    cli: Cli,
    sandbox_http: Callable[..., SandboxHttp],
    use_server: Callable[[SandboxHttp], SandboxHttp],
) -> None:
    server = use_server(sandbox_http())
    assert cli("send", ANA, BO, "-m", "Table for 4 at 7:30").exit_code == 0
    assert cli("send", ANA, "-m", "Hi Ana {not a template}").exit_code == 0
    result = cli("sandbox", "outbox", "--url", server.url, "--json")
    assert result.exit_code == 0, result.stderr
    body = result.json()
    assert body["total"] == 3
    got = [(e["address"], e["message"]) for e in body["outbox"]]
    assert got == [
        (f"tel:{ANA}", "Table for 4 at 7:30"),
        (f"tel:{BO}", "Table for 4 at 7:30"),
        (f"tel:{ANA}", "Hi Ana {not a template}"),
    ]
    # The same as the endpoint, and consistent with the stats a test already counts on.
    assert server.admin("GET", "/sandbox/outbox") == body
    assert server.stats()["delivered_to"] == {f"tel:{ANA}": 2, f"tel:{BO}": 1}


def test_outbox_plain_output_is_one_line_per_recipient(
    cli: Cli,
    sandbox_http: Callable[..., SandboxHttp],
    use_server: Callable[[SandboxHttp], SandboxHttp],
) -> None:
    server = use_server(sandbox_http())
    assert cli("send", ANA, BO, "-m", "hello there").exit_code == 0
    result = cli("sandbox", "outbox", "--url", server.url)
    assert result.exit_code == 0, result.stderr
    rows = [line.split("\t") for line in result.lines]
    assert [(r[1], r[2]) for r in rows] == [
        (f"tel:{ANA}", "hello there"),
        (f"tel:{BO}", "hello there"),
    ]
    assert rows[0][0] == rows[1][0]  # one request, one message id


def test_outbox_of_the_in_process_sandbox(cli: Cli) -> None:
    empty = cli("sandbox", "outbox")
    assert empty.exit_code == 0 and empty.stdout == ""
    assert "empty" in empty.stderr
    assert cli("--sandbox", "send", ANA, "-m", "in process").exit_code == 0
    result = cli("sandbox", "outbox", "--json")
    assert result.exit_code == 0, result.stderr
    assert [(e["address"], e["message"]) for e in result.json()["outbox"]] == [
        (f"tel:{ANA}", "in process")
    ]
    assert cli("sandbox", "reset").exit_code == 0
    assert cli("sandbox", "outbox", "--json").json() == {"outbox": [], "total": 0}


def test_outbox_from_a_server_that_is_not_there_is_one_line_exit_75(cli: Cli) -> None:
    result = cli("sandbox", "outbox", "--url", "http://127.0.0.1:9")
    assert result.exit_code == 75
    assert result.stderr.startswith("attsms: error: cannot reach the sandbox")
    assert len(result.stderr.splitlines()) == 1
