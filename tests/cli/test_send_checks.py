"""`attsms send` (issue 23 §6, §8, §9): nobody in a recipient list is dropped without a word, a
dry run refuses what the send refuses and tells a keyed job's progress, and flags that would be
misread (`-m` twice, an empty `--dedupe-key`) are refused. Sent against the sandbox over HTTP;
its own stats count who got what."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.helpers.support import Cli, Result, SandboxHttp

StartSandbox = Callable[..., SandboxHttp]
UseServer = Callable[[SandboxHttp], SandboxHttp]
OUTBOX = "/sms/v3/messaging/outbox"


def _delivered(server: SandboxHttp) -> dict[str, int]:
    delivered: dict[str, int] = server.stats()["delivered_to"]
    return delivered


def _refused(result: Result, *named: str) -> str:
    """The one error line of an exit 2, naming each of `named`."""
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("attsms: error: "), result.stderr
    for name in named:
        assert name in lines[0], lines[0]
    return lines[0]


# --- §6: every number of a line is a recipient -----------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "2125550100, 2125550101, 2125550102\n",
        "2125550100;2125550101\t2125550102\n",
        "# staff\n2125550100\n2125550101,2125550102  # the Smiths\n",
        "2125550100,Ada,2125550101\n2125550102,Bob,\n",
    ],
    ids=["commas", "semicolon-and-tab", "mixed", "with-names"],
)
@pytest.mark.parametrize("source", ["file", "stdin"])
def test_every_number_on_a_line_of_the_list_is_texted(
    cli: Cli,
    tmp_path: Path,
    sandbox_http: StartSandbox,
    use_server: UseServer,
    text: str,
    source: str,
) -> None:
    server = use_server(sandbox_http())
    if source == "file":
        path = tmp_path / "to.txt"
        path.write_text(text, encoding="utf-8")
        result = cli("send", "--to-file", str(path), "-m", "Doors open", "--json")
    else:
        result = cli(
            "send", "--to-file", "-", "--message-file", str(_message(tmp_path)), "--json",
            input=text,
        )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert result.json()["summary"]["accepted"] == 3
    assert _delivered(server) == {f"tel:+1212555010{i}": 1 for i in range(3)}


def _message(tmp_path: Path) -> Path:
    path = tmp_path / "message.txt"
    path.write_text("Doors open\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("header", ["phone,phone", "Phone,Mobile", "name;phone;mobile"])
def test_a_header_naming_two_number_columns_is_refused_and_nothing_is_sent(
    cli: Cli, tmp_path: Path, sandbox_http: StartSandbox, use_server: UseServer, header: str
) -> None:
    server = use_server(sandbox_http())
    sep = ";" if ";" in header else ","
    path = tmp_path / "to.csv"
    row = sep.join(["Ada", "2125550100", "2125550101"][-len(header.split(sep)) :])
    path.write_text(f"{header}\n{row}\n", encoding="utf-8")
    for dry in ((), ("--dry-run",)):
        result = cli("send", "--to-file", str(path), "-m", "Hi", *dry)
        _refused(result, "more than one number column", "column 1" if sep == "," else "column 2")
    assert server.stats()["send_requests"] == 0


def test_a_semicolon_csv_takes_its_phone_column(
    cli: Cli, tmp_path: Path, sandbox_http: StartSandbox, use_server: UseServer
) -> None:
    server = use_server(sandbox_http())
    path = tmp_path / "to.csv"
    path.write_text("name;phone\nAda;2125550100\nBob;2125550101\n", encoding="utf-8")
    result = cli("send", "--to-file", str(path), "-m", "Hi")
    assert result.exit_code == 0, result.stderr
    assert _delivered(server) == {"tel:+12125550100": 1, "tel:+12125550101": 1}


# --- §6: a template's rows for one number ----------------------------------------------------


def test_two_rows_giving_one_number_different_texts_are_refused_by_name(
    cli: Cli, tmp_path: Path, sandbox_http: StartSandbox, use_server: UseServer
) -> None:
    server = use_server(sandbox_http())
    people = tmp_path / "people.csv"
    people.write_text(
        "phone,name\n2125550100,Ana\n2125550101,Bob\n(212) 555-0100,Ann\n", encoding="utf-8"
    )
    args = ("send", "--to-file", str(people), "--template", "-m", "Hi {name}")
    real = _refused(cli(*args), "+12125550100", "lines 2 and 4", "different texts")
    dry = _refused(cli(*args, "--dry-run"), "+12125550100", "lines 2 and 4")
    assert real == dry
    assert server.stats()["send_requests"] == 0


def test_identical_repeated_rows_are_one_text_and_the_dry_run_says_so(
    cli: Cli, tmp_path: Path, sandbox_http: StartSandbox, use_server: UseServer
) -> None:
    server = use_server(sandbox_http())
    people = tmp_path / "people.csv"
    people.write_text("phone,name\n2125550100,Ana\n2125550101,Bob\n2125550100,Ana\n")
    args = ("send", "--to-file", str(people), "--template", "-m", "Hi {name}")
    dry = cli(*args, "--dry-run")
    assert dry.exit_code == 0, dry.stderr
    assert "1 rows repeat an earlier row (same number, same text: sent once)" in dry.stdout
    assert cli(*args).exit_code == 0
    assert _delivered(server) == {"tel:+12125550100": 1, "tel:+12125550101": 1}


# --- §8: a dry run checks what the send checks -----------------------------------------------


def test_a_dry_run_refuses_a_bad_rate_as_the_send_does(
    cli: Cli, sandbox_http: StartSandbox, use_server: UseServer
) -> None:
    server = use_server(sandbox_http())
    args = ("send", "2125550100", "-m", "Hi", "--rate", "abc")
    assert _refused(cli(*args, "--dry-run"), "--rate 'abc'") == _refused(cli(*args))
    assert server.stats()["send_requests"] == 0


@pytest.mark.parametrize("template", [False, True])
def test_a_dry_run_refuses_a_key_used_for_another_job_as_the_send_does(
    cli: Cli, tmp_path: Path, sandbox_http: StartSandbox, use_server: UseServer, template: bool
) -> None:
    server = use_server(sandbox_http())
    people = tmp_path / "people.csv"
    people.write_text("phone,name\n2125550100,Ana\n", encoding="utf-8")
    first: tuple[str, ...]
    other: tuple[str, ...]
    if template:
        first = ("send", "--to-file", str(people), "--template", "-m", "Hi {name}")
        other = ("send", "--to-file", str(people), "--template", "-m", "Bye {name}")
    else:
        first = ("send", "2125550100", "-m", "Hi")
        other = ("send", "2125550100", "2125550101", "-m", "Hi")
    assert cli(*first, "--dedupe-key", "k").exit_code == 0
    dry = _refused(cli(*other, "--dedupe-key", "k", "--dry-run"), "'k'", "different message")
    assert dry == _refused(cli(*other, "--dedupe-key", "k"))
    assert server.stats()["send_requests"] == 1


def test_a_keyed_dry_run_counts_what_went_and_what_is_left(
    cli: Cli, sandbox_http: StartSandbox, use_server: UseServer
) -> None:
    server = use_server(sandbox_http())
    numbers = [f"+1212555{i:04d}" for i in range(120)]
    args = ("send", *numbers, "-m", "Hi", "--dedupe-key", "k", "--concurrency", "1")
    server.faults({"path_prefix": OUTBOX, "status": 400, "count": 1})  # the first batch: refused
    assert cli(*args).exit_code == 4
    dry = cli(*args, "--dry-run", "--json")
    assert dry.exit_code == 0, dry.stderr
    document = dry.json()
    assert (document["dedupe_key"], document["already_sent"], document["to_send"]) == ("k", 70, 50)
    table = cli(*args, "--dry-run").stdout  # piped: tab-separated
    assert "already sent\t70" in table and "to send\t50" in table
    assert cli(*args, "-q").exit_code == 0  # the send does what the dry run said
    assert _delivered(server) == dict.fromkeys((f"tel:{n}" for n in numbers), 1)


def test_a_keyed_dry_run_of_personal_texts_counts_what_went(
    cli: Cli, tmp_path: Path, sandbox_http: StartSandbox, use_server: UseServer
) -> None:
    server = use_server(sandbox_http())
    people = tmp_path / "people.csv"
    people.write_text("phone,name\n2125550100,Ana\n2125550101,Bo\n", encoding="utf-8")
    args = ("send", "--to-file", str(people), "--template", "-m", "Hi {name}", "--dedupe-key", "k")
    before = cli(*args, "--dry-run", "--json").json()
    assert (before["already_sent"], before["to_send"]) == (0, 2)
    assert cli(*args).exit_code == 0
    after = cli(*args, "--dry-run")
    assert "dedupe key 'k': 2 already sent, 0 to send" in after.stdout
    assert cli(*args, "--dry-run", "--json").json()["already_sent"] == 2
    assert server.stats()["send_requests"] == 2


# --- §9: small ones --------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["", "  "])
def test_an_empty_dedupe_key_is_refused(
    cli: Cli, sandbox_http: StartSandbox, use_server: UseServer, key: str
) -> None:
    server = use_server(sandbox_http())
    for dry in ((), ("--dry-run",)):
        _refused(cli("send", "2125550100", "-m", "Hi", "--dedupe-key", key, *dry), "empty")
    assert server.stats()["send_requests"] == 0


def test_a_message_given_twice_is_refused(
    cli: Cli, sandbox_http: StartSandbox, use_server: UseServer
) -> None:
    server = use_server(sandbox_http())
    _refused(cli("send", "2125550100", "-m", "x", "-m", "y"), "-m/--message given 2 times")
    assert server.stats()["send_requests"] == 0


def test_dropping_quiet_hours_from_a_keyed_job_is_named_as_such(
    cli: Cli, sandbox_http: StartSandbox, use_server: UseServer
) -> None:
    server = use_server(sandbox_http())
    args = ("send", "+12125550100", "-m", "Hi", "--dedupe-key", "j")
    assert cli(*args, "--quiet-hours", "00:00-00:01").exit_code in (0, 75)
    sent = server.stats()["send_requests"]
    for dry in ((), ("--dry-run",)):
        line = _refused(cli(*args, *dry), "'j' was first run with quiet hours, and this run has")
        assert "different message" not in line
    assert server.stats()["send_requests"] == sent
