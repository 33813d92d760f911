"""Global options (--sandbox, --profile, --verbose) work in any position, as in aws, gh, kubectl.

Every command of the tree is tried with them before and after its name: `--help` for every page,
and a real run (against the in-process sandbox) for every command that does something.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from attsms.cli import docgen
from attsms.cli.sandbox_admin import read_stats
from tests.helpers.support import Cli, SandboxHttp

PAGES = docgen.pages()
GROUPS = [page.path[1:] for page in PAGES[1:] if page.subcommands()]
LEAVES = [page.path[1:] for page in PAGES if not page.subcommands()]
GLOBALS = ("--sandbox", "--profile", "work", "--verbose")
NUMBER = "+12125550100"


def _command_id(command: tuple[str, ...]) -> str:
    return " ".join(("attsms", *command)) or "attsms"


@pytest.mark.parametrize("command", [page.path[1:] for page in PAGES], ids=_command_id)
def test_global_options_after_any_command_name_are_accepted_in_help(
    cli: Cli, command: tuple[str, ...]
) -> None:
    before = cli(*GLOBALS, *command, "--help")
    after = cli(*command, *GLOBALS, "--help")
    assert (before.exit_code, before.stderr) == (0, "")
    assert (after.exit_code, after.stderr) == (0, "")
    assert after.stdout == before.stdout


# One real run for every command, with what it prints (on stdout or stderr) when --sandbox took
# effect. `{id}` is a message the sandbox accepted. A new command needs a line here (see the
# completeness test below).
RUNS: dict[tuple[str, ...], tuple[list[str], int, str]] = {
    ("send",): (["send", NUMBER, "-m", "hi", "--json"], 0, '"result": "accepted"'),
    ("status",): (["status", "{id}", "--json"], 0, '"message_id": "{id}"'),
    ("history",): (["history", "--json"], 0, '"message_id": "{id}"'),
    ("report",): (["report", "--message-id", "{id}", "--json"], 0, '"batches": 1'),
    ("login",): (["login", "--client-id", "x", "--client-secret-stdin"], 2, "needs no login"),
    ("logout",): (["logout", "--json"], 0, '"profile": "sandbox"'),
    ("auth", "status"): (["auth", "status", "--json"], 0, '"secret_source": "sandbox"'),
    ("auth", "token"): (["auth", "token", "--json"], 0, '"profile": "sandbox"'),
    ("inbox", "pull"): (["inbox", "pull", "--json"], 0, '"text": "hello"'),
    ("inbox", "list"): (["inbox", "list", "--json"], 0, "["),
    ("inbox", "export"): (["inbox", "export"], 0, ""),
    ("inbox", "handle"): (["inbox", "handle", "--exec", "true", "--json"], 0, '"handled": 0'),
    ("inbox", "retry"): (["inbox", "retry", "--all-failed", "--json"], 0, '"retried": []'),
    ("optout", "list"): (["optout", "list", "--json"], 0, "["),
    ("optout", "add"): (["optout", "add", "2125550199", "--json"], 0, "+12125550199"),
    ("optout", "remove"): (["optout", "remove", "2125550199", "--json"], 0, "+12125550199"),
    ("sandbox", "serve"): (["sandbox", "serve", "--port", "-1"], 2, "0<=x<=65535"),
    ("sandbox", "inject"): (["sandbox", "inject", "--from", NUMBER, "hi", "--json"], 0, "injected"),
    ("sandbox", "reset"): (["sandbox", "reset", "--json"], 0, '"reset": true'),
    ("sandbox", "outbox"): (["sandbox", "outbox", "--json"], 0, '"address": "tel:'),
    # Only a running `sandbox serve` has a page; port 1 has none.
    ("sandbox", "open"): (["sandbox", "open", "--url", "http://127.0.0.1:1"], 75, "cannot reach"),
    ("completion",): (["completion", "bash"], 0, "_attsms_completion"),
    ("listen",): (["listen", "--port", "-1"], 2, "0<=x<=65535"),
    # --sandbox keeps to the local files, whatever database is configured.
    ("store", "status"): (["store", "status", "--json"], 0, '"backend": "sqlite"'),
    ("store", "copy"): (["store", "copy", "--to", "mysql://x/y"], 2, "not a PostgreSQL URL"),
    ("config", "list"): (["config", "list", "--json"], 0, '"key": "region"'),
    ("config", "get"): (["config", "get", "region"], 0, "US"),
    # --sandbox saves nothing, and needs no doctor.
    ("config", "set"): (["config", "set", "region", "CA"], 2, "--sandbox"),
    ("config", "unset"): (["config", "unset", "region"], 2, "--sandbox"),
    ("config", "profiles"): (["config", "profiles", "--json"], 0, "["),
    ("doctor",): (["doctor"], 2, "--sandbox"),
}


def test_every_command_has_a_run_below() -> None:
    assert set(RUNS) == set(LEAVES)


@pytest.fixture
def sent_id(cli: Cli) -> str:
    """A message the in-process sandbox accepted, and an inbound one waiting for `inbox pull`."""
    sent = cli("--sandbox", "send", NUMBER, "-m", "first", "--json")
    assert sent.exit_code == 0, sent.stderr
    assert cli("sandbox", "inject", "--from", NUMBER, "hello").exit_code == 0
    message_id: str = sent.json()["messages"][0]["message_id"]
    return message_id


@pytest.mark.parametrize("command", LEAVES, ids=_command_id)
@pytest.mark.parametrize("where", ["before", "after"])
def test_sandbox_flag_takes_effect_before_or_after_the_command(
    cli: Cli, sent_id: str, command: tuple[str, ...], where: str
) -> None:
    argv, exit_code, shown = RUNS[command]
    argv = [arg.replace("{id}", sent_id) for arg in argv]
    name_length = len(command)
    if where == "before":
        argv = ["--sandbox", *argv]
    else:  # after the name, and after the arguments
        argv = [*argv[:name_length], "--sandbox", *argv[name_length:]]
    result = cli(*argv, input="secret\n")
    assert result.exit_code == exit_code, result.stderr
    assert "No such option" not in result.stderr
    assert shown.replace("{id}", sent_id) in result.stdout + result.stderr


def test_send_with_sandbox_last_is_delivered_by_the_in_process_sandbox(cli: Cli) -> None:
    result = cli("send", NUMBER, "-m", "hi", "--sandbox")
    assert result.exit_code == 0, result.stderr
    assert read_stats()["delivered_to"] == {f"tel:{NUMBER}": 1}


def test_profile_after_the_command_is_the_profile_used(cli: Cli) -> None:
    result = cli("send", NUMBER, "-m", "hi", "--profile", "work")
    assert result.exit_code == 3
    assert "no profile named 'work'" in result.stderr
    short = cli("send", NUMBER, "-p", "work", "-m", "hi")
    assert (short.exit_code, short.stderr) == (result.exit_code, result.stderr)


def test_profile_with_sandbox_warns_once_that_it_is_ignored(cli: Cli) -> None:
    for argv in (
        ["--profile", "work", "--sandbox", "send", NUMBER, "-m", "hi"],
        ["send", NUMBER, "-m", "hi", "--profile", "work", "--sandbox"],
        ["--sandbox", "send", NUMBER, "-m", "hi", "-p", "work"],
    ):
        result = cli(*argv)
        assert result.exit_code == 0, result.stderr
        warnings = [line for line in result.stderr.splitlines() if "warning" in line]
        assert warnings == ["attsms: warning: --profile work is ignored with --sandbox"], argv
    assert read_stats()["delivered_to"] == {f"tel:{NUMBER}": 3}


def test_sandbox_from_the_environment_also_warns_about_profile(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ATTSMS_SANDBOX", "1")
    result = cli("send", NUMBER, "-m", "hi", "--profile", "work")
    assert result.exit_code == 0, result.stderr
    assert "--profile work is ignored with --sandbox" in result.stderr


def test_profile_from_the_environment_with_sandbox_is_not_warned_about(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ATTSMS_PROFILE", "work")
    result = cli("send", NUMBER, "-m", "hi", "--sandbox")
    assert result.exit_code == 0, result.stderr
    assert "warning" not in result.stderr


def test_verbose_after_the_command_logs_the_exchanges(
    cli: Cli, sandbox_http: Callable[..., SandboxHttp]
) -> None:
    server = sandbox_http()
    result = cli.process("send", NUMBER, "-m", "hi", "-v", env=server.env())
    assert result.exit_code == 0, result.stderr
    assert "> POST " in result.stderr
    assert server.stats()["delivered_to"] == {f"tel:{NUMBER}": 1}


def test_a_message_that_looks_like_a_flag_is_sent_as_written(cli: Cli) -> None:
    result = cli("--sandbox", "send", NUMBER, "-m", "--sandbox", "--json")
    assert result.exit_code == 0, result.stderr
    history = cli("--sandbox", "history", "--json").json()
    assert [entry["message_id"] for entry in history] == [
        result.json()["messages"][0]["message_id"]
    ]
    assert read_stats()["delivered_to"] == {f"tel:{NUMBER}": 1}


def test_after_double_dash_a_flag_is_an_argument(cli: Cli) -> None:
    result = cli("send", "-m", "hi", "--", "--sandbox")
    assert result.exit_code == 2
    assert "'--sandbox'" in result.stderr  # read as a recipient, and refused as a number
    assert read_stats()["send_requests"] == 0


def test_profile_value_that_looks_like_a_flag_is_the_value(cli: Cli) -> None:
    result = cli("send", NUMBER, "-m", "hi", "--profile", "--sandbox")
    assert result.exit_code != 0
    assert read_stats()["send_requests"] == 0  # not sent to the sandbox


@pytest.mark.parametrize("command", [(), *GROUPS], ids=_command_id)
def test_bare_command_or_group_prints_its_help_and_exits_zero(
    cli: Cli, command: tuple[str, ...]
) -> None:
    bare = cli(*command)
    assert (bare.exit_code, bare.stderr) == (0, "")
    assert bare.stdout == cli(*command, "--help").stdout
    assert bare.stdout.startswith(f"Usage: {_command_id(command)} ")


def test_bare_command_as_a_process_prints_help_on_stdout(cli: Cli) -> None:
    result = cli.process("inbox")
    assert (result.exit_code, result.stderr) == (0, "")
    assert result.stdout.startswith("Usage: attsms inbox ")
    assert len(result.stdout.splitlines()) > 5


def test_global_options_between_a_group_and_its_command(cli: Cli, sent_id: str) -> None:
    pulled = cli("inbox", "--sandbox", "-p", "work", "pull", "--json")
    assert pulled.exit_code == 0, pulled.stderr
    assert '"text": "hello"' in pulled.stdout
    assert "--profile work is ignored with --sandbox" in pulled.stderr
    status = cli("auth", "--sandbox", "status", "--json")
    assert '"secret_source": "sandbox"' in status.stdout
