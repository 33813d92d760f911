"""`attsms config`: each key round-trips, is refused when invalid (nothing written), and says where
its value comes from; secrets are never settings; `config profiles` lists what a run can use."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from attsms.core.errors import ExitCode
from tests.helpers.support import Cli

# key: (a value to give, as saved, a wrong value, what the refusal says)
KEYS = {
    "base_url": ("https://sms.example.com/", "https://sms.example.com", "ftp://x", "base URL"),
    "registration_id": ("12345", "12345", "12 345", "registration_id"),
    "region": ("ca", "CA", "XX", "unknown region"),
    "scope": ("SMS,MMS", "SMS,MMS", "two words", "scope"),
    "database_url": (
        "postgresql://attsms@db.example.com:5432/attsms",
        "postgresql://attsms@db.example.com:5432/attsms",
        "mysql://db.example.com/attsms",
        "not a PostgreSQL URL",
    ),
    "history_keep_days": ("30", "30", "-1", "history_keep_days"),
    "history_keep_batches": ("100", "100", "1.5", "history_keep_batches"),
    "quiet_hours": ("21:00-8:00", "21:00-08:00", "25:00-01:00", "quiet_hours"),
}


def _config_file() -> Path:
    return Path(os.environ["ATTSMS_CONFIG_DIR"]) / "config.toml"


def test_every_settable_key_is_covered_here() -> None:
    from attsms.auth.keys import KEYS as ALL

    assert set(KEYS) == {k.name for k in ALL.values() if k.set_by is None}


@pytest.mark.parametrize("key", sorted(KEYS))
def test_each_key_round_trips_and_says_where_it_comes_from(cli: Cli, key: str) -> None:
    given, saved, _, _ = KEYS[key]
    done = cli("config", "set", key, given, "--profile", "work")
    assert done.exit_code == 0, done.stderr
    assert f'{key} = "{saved}"' in _config_file().read_text()

    got = cli("config", "get", key, "--profile", "work")
    assert (got.exit_code, got.stdout) == (0, saved + "\n")
    row = cli("config", "get", key, "--profile", "work", "--json").json()
    assert (row["value"], row["origin"]) == (saved, "profile")
    assert row["where"].endswith("config.toml [profiles.work]")
    listed = {r["key"]: r for r in cli("config", "list", "--profile", "work", "--json").json()}
    assert listed[key]["value"] == saved

    assert cli("config", "unset", key, "--profile", "work").exit_code == 0
    row = cli("config", "get", key, "--profile", "work", "--json").json()
    assert row["origin"] in ("default", "unset") and row["value"] != saved


@pytest.mark.parametrize("key", sorted(KEYS))
def test_a_wrong_value_exits_2_naming_the_key_and_writes_nothing(cli: Cli, key: str) -> None:
    _, _, wrong, said = KEYS[key]
    result = cli("config", "set", key, wrong)
    assert result.exit_code == ExitCode.USAGE
    assert said in result.stderr and result.stderr.count("\n") == 1
    assert not _config_file().exists()


def test_the_value_saved_is_the_value_the_run_uses(cli: Cli) -> None:
    from attsms.cli.settings import resolve_settings

    assert cli("config", "set", "region", "gb").exit_code == 0
    assert cli("config", "set", "history_keep_batches", "7").exit_code == 0
    assert cli("config", "set", "database_url", "postgresql://a@db/x").exit_code == 0
    settings = resolve_settings(sandbox=False, profile=None)
    assert settings.profile.region == "GB"
    assert settings.store.keep_batches == 7
    assert settings.store.database_url == "postgresql://a@db/x"


def test_the_environment_and_the_flag_win_and_say_so(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert cli("config", "set", "region", "CA").exit_code == 0
    assert cli("config", "set", "database_url", "postgresql://a@db/x").exit_code == 0
    monkeypatch.setenv("ATTSMS_REGION", "GB")
    row = cli("config", "get", "region", "--json").json()
    assert row == {
        "key": "region",
        "value": "GB",
        "origin": "environment",
        "where": "ATTSMS_REGION",
    }
    flagged = cli("--database-url", "postgresql://b@other/y", "config", "get", "database_url")
    assert flagged.stdout == "postgresql://b@other/y\n"
    row = cli("--database-url", "postgresql://b@other/y", "config", "get", "database_url", "--json")
    assert (row.json()["origin"], row.json()["where"]) == ("flag", "--database-url")
    warned = cli("config", "set", "region", "US")
    assert warned.exit_code == 0 and "ATTSMS_REGION wins" in warned.stderr


def test_a_password_in_the_database_url_is_refused_and_never_shown(cli: Cli) -> None:
    result = cli("config", "set", "database_url", "postgresql://u:hunter2@db/x")
    assert result.exit_code == ExitCode.USAGE
    assert "password" in result.stderr and "hunter2" not in result.stderr
    assert not _config_file().exists()


@pytest.mark.parametrize("key", ["client_secret", "secret", "listen_token", "password"])
def test_secrets_are_never_settings(cli: Cli, key: str) -> None:
    result = cli("config", "set", key, "s3cret")
    assert result.exit_code == ExitCode.USAGE
    assert "attsms login" in result.stderr and "keyring" in result.stderr
    assert "s3cret" not in result.stderr + result.stdout
    assert not _config_file().exists()


@pytest.mark.parametrize("key", ["client_id", "store"])
def test_what_login_sets_is_left_to_login(cli: Cli, key: str) -> None:
    result = cli("config", "set", key, "file")
    assert result.exit_code == ExitCode.USAGE and "attsms login" in result.stderr


def test_an_unknown_key_names_the_known_ones(cli: Cli) -> None:
    result = cli("config", "get", "colour")
    assert result.exit_code == ExitCode.USAGE
    assert "unknown setting 'colour'" in result.stderr and "quiet_hours" in result.stderr


def test_get_of_an_unset_key_exits_1(cli: Cli) -> None:
    result = cli("config", "get", "registration_id")
    assert (result.exit_code, result.stdout) == (1, "")


def test_sandbox_has_no_saved_settings(cli: Cli) -> None:
    assert cli("--sandbox", "config", "set", "region", "CA").exit_code == ExitCode.USAGE


def test_profiles_lists_saved_and_environment_profiles(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert cli("config", "set", "region", "CA", "--profile", "work").exit_code == 0
    assert cli("config", "set", "region", "US", "--profile", "home").exit_code == 0
    rows = cli("-p", "work", "config", "profiles", "--json").json()
    assert [(r["profile"], r["active"], r["chosen_by"]) for r in rows] == [
        ("work", True, "--profile"),
        ("home", False, None),
    ]
    assert rows[0]["secret"] == "keyring (service attsms, user work)"

    monkeypatch.setenv("ATTSMS_PROFILE", "ci")
    monkeypatch.setenv("ATTSMS_CLIENT_ID", "abc")
    monkeypatch.setenv("ATTSMS_CLIENT_SECRET", "not-shown-anywhere")
    result = cli("config", "profiles", "--json")
    first = result.json()[0]
    assert (first["profile"], first["source"], first["chosen_by"]) == (
        "ci",
        "environment",
        "ATTSMS_PROFILE",
    )
    assert first["secret"] == "environment (ATTSMS_CLIENT_SECRET)"
    assert "not-shown-anywhere" not in result.stdout


def test_keys_and_profiles_complete() -> None:
    from attsms.cli.commands.config import complete_key
    from attsms.cli.commands.context import complete_profile

    assert [name for name, _ in complete_key("history")] == [
        "history_keep_days",
        "history_keep_batches",
    ]
    from attsms.auth.keys import set_value

    set_value("work", "region", "CA")
    assert [name for name, _ in complete_profile("w")] == ["work"]


def test_set_and_unset_answer_json_for_scripts(cli: Cli) -> None:
    saved = cli("config", "set", "region", "CA", "--json")
    assert saved.exit_code == 0, saved.stderr
    assert saved.json() == {"profile": "default", "key": "region", "value": "CA", "changed": True}
    removed = cli("config", "unset", "region", "--json")
    assert removed.json() == {"profile": "default", "key": "region", "value": None, "changed": True}
    again = cli("config", "unset", "region", "--json")
    assert again.json()["changed"] is False
