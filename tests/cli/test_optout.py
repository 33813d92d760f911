"""`attsms optout list|add|remove`: the list `send` checks, kept by hand."""

from __future__ import annotations

from pathlib import Path

import pytest

from attsms.core.errors import ExitCode
from attsms.store import opted_out
from attsms.store.consent import consent_path
from attsms.store.inbox import store_path
from tests.helpers.support import Cli, profile_sender, store_settings


def numbers(cli: Cli, *global_args: str) -> list[str]:
    result = cli(*global_args, "optout", "list", "--json")
    assert result.exit_code == 0, result.stderr
    return [o["number"] for o in result.json()]


def test_add_takes_numbers_as_people_type_them(cli: Cli) -> None:
    result = cli("optout", "add", "(212) 555-0100", "212.555.0101", "+1 212 555 0100", "--json")
    assert result.exit_code == 0, result.stderr
    assert result.json() == [
        {"number": "+12125550100", "result": "opted out"},
        {"number": "+12125550101", "result": "opted out"},
    ]
    assert numbers(cli) == ["+12125550100", "+12125550101"]
    again = cli("optout", "add", "2125550100")
    assert again.lines == ["+12125550100\talready opted out"]
    assert again.stderr == "Opted out 0 of 1 number(s).\n"
    # what `send` asks, in wire form
    asked = ["tel:+12125550100", "tel:+12125550199"]
    assert opted_out(store_settings(), profile_sender(), asked) == {"tel:+12125550100"}


def test_add_with_a_bad_number_changes_nothing(cli: Cli) -> None:
    result = cli("optout", "add", "2125550100", "banana")
    assert result.exit_code == ExitCode.USAGE
    assert "banana" in result.stderr
    assert numbers(cli) == []


def test_list_shows_source_and_date(cli: Cli) -> None:
    cli("optout", "add", "2125550100")
    [entry] = cli("optout", "list", "--json").json()
    assert entry["source"] == "manual" and entry["message_id"] is None
    assert entry["since"].endswith("Z")
    assert cli("optout", "list").lines[0].split("\t")[:1] == ["+12125550100"]


def test_remove(cli: Cli) -> None:
    cli("optout", "add", "2125550100", "2125550101")
    result = cli("optout", "remove", "(212) 555-0100", "2125550102")
    assert result.exit_code == 0
    assert result.lines == ["+12125550100\tremoved", "+12125550102\twas not opted out"]
    assert result.stderr == "Removed 1 of 2 number(s).\n"
    assert numbers(cli) == ["+12125550101"]


def test_removing_someone_who_texted_stop_warns_about_consent(cli: Cli) -> None:
    assert cli("--sandbox", "sandbox", "inject", "--from", "2125550100", "STOP").exit_code == 0
    assert cli("--sandbox", "inbox", "pull", "-q").exit_code == 0
    [entry] = cli("--sandbox", "optout", "list", "--json").json()
    assert entry["source"] == "message" and entry["message_id"]
    result = cli("--sandbox", "optout", "remove", "2125550100")
    assert result.exit_code == 0
    assert "had texted STOP" in result.stderr and "consent" in result.stderr


def test_each_profile_has_its_own_list(cli: Cli, isolated_home: Path) -> None:
    (isolated_home / "config").mkdir(parents=True, exist_ok=True)
    (isolated_home / "config" / "config.toml").write_text('[profiles.work]\nclient_id = "w"\n')
    cli("--profile", "work", "optout", "add", "2125550100")
    assert numbers(cli, "--profile", "work") == ["+12125550100"]
    assert numbers(cli) == []
    assert numbers(cli, "--sandbox") == []


def test_list_and_remove_without_a_store_create_nothing(cli: Cli) -> None:
    listed = cli("optout", "list")
    assert listed.stderr == "No number has opted out of profile default (no client id yet).\n"
    assert cli("optout", "remove", "2125550100").lines == ["+12125550100\twas not opted out"]
    assert not store_path("default").exists()
    assert not consent_path().exists()


def test_send_skips_a_number_opted_out_by_hand(cli: Cli) -> None:
    cli("--sandbox", "optout", "add", "2125550100")
    skipped = cli("--sandbox", "send", "+12125550100", "+12125550101", "-m", "hi", "--json")
    assert skipped.exit_code == 0, skipped.stderr
    results = {r["to"]: r["result"] for r in skipped.json()["messages"]}
    assert results == {"+12125550100": "opted-out", "+12125550101": "accepted"}
    refused = cli("--sandbox", "send", "+12125550100", "-m", "hi")
    assert refused.exit_code == ExitCode.USAGE
    sent = cli("--sandbox", "send", "+12125550100", "-m", "hi", "--ignore-opt-out")
    assert sent.exit_code == 0, sent.stderr


def test_a_profile_named_that_does_not_exist_is_exit_3_as_for_send(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Named on the command line or in ATTSMS_PROFILE: a typo must not read (or start) an empty
    # list and exit 0, as if nobody had opted out.
    runs = [
        cli("-p", "nosuch", "optout", "list"),
        cli("-p", "nosuch", "optout", "add", "2125550100"),
        cli("-p", "nosuch", "optout", "remove", "2125550100"),
        cli("-p", "nosuch", "inbox", "list"),
        cli("-p", "nosuch", "inbox", "export"),
        cli("-p", "nosuch", "status"),
    ]
    monkeypatch.setenv("ATTSMS_PROFILE", "nosuch")
    runs.append(cli("optout", "list", "--json"))
    send = cli("send", "2125550100", "-m", "hi")
    assert send.exit_code == ExitCode.AUTH, send
    for run in runs:
        assert run.exit_code == send.exit_code, run
        assert run.stdout == ""
        assert run.stderr.splitlines() == send.stderr.splitlines(), run.stderr
        assert "no profile named 'nosuch'" in run.stderr
    assert not store_path("nosuch").exists()  # nothing made for it


def test_a_profile_of_environment_credentials_needs_no_saved_table(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A CI job with ATTSMS_PROFILE=ci and ATTSMS_CLIENT_ID/SECRET never logged in: its own lists.
    monkeypatch.setenv("ATTSMS_PROFILE", "ci")
    monkeypatch.setenv("ATTSMS_CLIENT_ID", "ci-client")
    assert cli("optout", "add", "2125550100").exit_code == 0
    assert numbers(cli) == ["+12125550100"]
    assert cli("-p", "default", "optout", "list").exit_code == 0  # the default is never "named"


def test_help_says_send_skips_opted_out_numbers(cli: Cli) -> None:
    # send does not refuse a run with an opted-out number in it: it skips that number (reported
    # as opted-out) and sends to the rest. The help must say what happens.
    group = " ".join(cli("optout", "--help").stdout.split())
    add = " ".join(cli("optout", "add", "--help").stdout.split())
    assert "skips them" in group and "refuse" not in group, group
    assert "skips them" in add and "refuse" not in add, add
