"""`attsms send --quiet-hours`: recipients inside the window in their own time zone are held
back (deferred, exit 75), and a keyed re-run sends them once it has ended, nobody twice. The
clock is injected (attsms.send.quiet_hours.utc_now is replaced): no test reads the wall clock."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.helpers.support import Cli, SandboxHttp

NEW_YORK = "+12125550100"
CHICAGO = "+13125550101"
DENVER = "+13035550102"
PHOENIX = "+16025550103"  # no DST
LOS_ANGELES = "+12135550104"
HONOLULU = "+18085550105"
EVERYONE = (NEW_YORK, CHICAGO, DENVER, PHOENIX, LOS_ANGELES, HONOLULU)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Callable[[str], None]:
    """Set the time every quiet-hours decision sees, as 'YYYY-MM-DD HH:MM' UTC."""
    from attsms.send import quiet_hours

    def set_now(when: str) -> None:
        now = datetime.strptime(when, "%Y-%m-%d %H:%M").replace(tzinfo=UTC)
        monkeypatch.setattr(quiet_hours, "utc_now", lambda: now)

    set_now("2000-01-01 12:00")
    return set_now


def _results(result_json: dict[str, object]) -> dict[str, str]:
    rows = result_json["messages"]
    assert isinstance(rows, list)
    return {row["to"]: row["result"] for row in rows}


def test_held_back_across_zones_then_a_keyed_rerun_sends_them_once(
    cli: Cli,
    clock: Callable[[str], None],
    sandbox_http: Callable[..., SandboxHttp],
    use_server: Callable[[SandboxHttp], SandboxHttp],
) -> None:
    server = use_server(sandbox_http())
    args: tuple[str, ...] = ("send", *EVERYONE, "-m", "Doors open", "--quiet-hours", "21:00-08:00")
    args += ("--dedupe-key", "doors", "--json")
    # 02:30 UTC: 21:30 in New York (held), 20:30 in Chicago ... 16:30 in Honolulu.
    clock("2026-12-03 02:30")
    first = cli(*args)
    assert first.exit_code == 75, first.stderr
    results = _results(first.json())
    assert results.pop(NEW_YORK) == "deferred"
    assert set(results.values()) == {"accepted"}
    assert first.json()["summary"]["deferred"] == 1
    assert "held back by quiet hours" in first.stderr
    assert "2026-12-03 13:00" in first.stderr  # 08:00 in New York
    assert server.stats()["delivered_to"] == {f"tel:{n}": 1 for n in EVERYONE if n != NEW_YORK}

    # 03:30 UTC: Chicago is inside now too, but it went already; New York still waits.
    clock("2026-12-03 03:30")
    second = cli(*args)
    assert second.exit_code == 75, second.stderr
    assert _results(second.json())[NEW_YORK] == "deferred"
    assert _results(second.json())[CHICAGO] == "already-sent"

    # 17:00 UTC: noon in New York (07:00 in Honolulu, inside, but it went already).
    clock("2026-12-03 17:00")
    third = cli(*args)
    assert third.exit_code == 0, third.stderr
    results = _results(third.json())
    assert results.pop(NEW_YORK) == "accepted"
    assert set(results.values()) == {"already-sent"}
    assert server.stats()["delivered_to"] == {f"tel:{n}": 1 for n in EVERYONE}


def test_across_a_dst_change_new_york_moves_and_phoenix_does_not(
    cli: Cli,
    clock: Callable[[str], None],
    sandbox_http: Callable[..., SandboxHttp],
    use_server: Callable[[SandboxHttp], SandboxHttp],
) -> None:
    server = use_server(sandbox_http())
    # 2026-03-08, the day clocks spring forward: 12:30 UTC is 08:30 EDT (it was 07:30 EST the
    # day before) but still 05:30 in Phoenix.
    clock("2026-03-08 12:30")
    result = cli("send", NEW_YORK, PHOENIX, "-m", "Hi", "--quiet-hours", "21:00-08:00", "--json")
    assert result.exit_code == 75, result.stderr
    assert _results(result.json()) == {NEW_YORK: "accepted", PHOENIX: "deferred"}
    assert "2026-03-08 15:00" in result.stderr  # 08:00 in Phoenix
    assert server.stats()["delivered_to"] == {f"tel:{NEW_YORK}": 1}
    clock("2026-03-07 12:30")  # the day before: 07:30 in New York
    before = cli("send", NEW_YORK, "-m", "Hi", "--quiet-hours", "21:00-08:00", "--json")
    assert before.exit_code == 75
    assert _results(before.json()) == {NEW_YORK: "deferred"}


def test_personal_texts_are_held_and_sent_later_with_their_own_text(
    cli: Cli,
    clock: Callable[[str], None],
    tmp_path: Path,
    sandbox_http: Callable[..., SandboxHttp],
    use_server: Callable[[SandboxHttp], SandboxHttp],
) -> None:
    server = use_server(sandbox_http())
    people = tmp_path / "people.csv"
    people.write_text(
        f"phone,name\n{NEW_YORK},Ana\n{LOS_ANGELES},Bo\n{HONOLULU},Cy\n", encoding="utf-8"
    )
    args: tuple[str, ...] = ("send", "--to-file", str(people), "--template", "-m", "Hi {name}")
    args += ("--quiet-hours", "21:00-08:00", "--dedupe-key", "hi")
    clock("2026-12-03 02:30")  # New York inside
    assert cli(*args).exit_code == 75
    clock("2026-12-03 17:00")  # everyone outside
    assert cli(*args).exit_code == 0
    outbox = server.admin("GET", "/sandbox/outbox")["outbox"]
    assert sorted((e["address"], e["message"]) for e in outbox) == sorted(
        [
            (f"tel:{LOS_ANGELES}", "Hi Bo"),
            (f"tel:{NEW_YORK}", "Hi Ana"),
            (f"tel:{HONOLULU}", "Hi Cy"),
        ]
    )


def test_dry_run_says_how_many_would_be_held_and_until_when(
    cli: Cli, clock: Callable[[str], None]
) -> None:
    clock("2026-12-03 02:30")
    result = cli("--sandbox", "send", *EVERYONE, "-m", "Hi", "--dry-run", "--quiet-hours", "21-8")
    assert result.exit_code == 2  # not HH:MM
    assert "--quiet-hours takes START-END" in result.stderr
    result = cli(
        "--sandbox", "send", *EVERYONE, "-m", "Hi", "--dry-run", "--quiet-hours", "21:00-08:00"
    )
    assert result.exit_code == 0, result.stderr
    assert "1 recipient(s) would be held back now, until 2026-12-03 13:00 UTC" in result.stderr
    assert cli("sandbox", "outbox", "--json").json()["total"] == 0


def test_profile_setting_applies_and_off_overrides_it(
    cli: Cli,
    clock: Callable[[str], None],
    isolated_home: Path,
    sandbox_http: Callable[..., SandboxHttp],
    use_server: Callable[[SandboxHttp], SandboxHttp],
) -> None:
    use_server(sandbox_http())
    config = isolated_home / "config" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text('[profiles.default]\nquiet_hours = "21:00-08:00"\n', encoding="utf-8")
    clock("2026-12-03 02:30")
    held = cli("send", NEW_YORK, "-m", "Hi")
    assert held.exit_code == 75, held.stderr
    sent = cli("send", NEW_YORK, "-m", "Hi", "--quiet-hours", "off")
    assert sent.exit_code == 0, sent.stderr
    config.write_text('[profiles.default]\nquiet_hours = "late"\n', encoding="utf-8")
    bad = cli("send", NEW_YORK, "-m", "Hi")
    assert bad.exit_code == 2
    assert bad.stderr.startswith("attsms: error: profile setting quiet_hours takes START-END")


def test_batches_are_cut_by_zone_so_only_the_held_zone_waits(
    cli: Cli,
    clock: Callable[[str], None],
    sandbox_http: Callable[..., SandboxHttp],
    use_server: Callable[[SandboxHttp], SandboxHttp],
) -> None:
    server = use_server(sandbox_http())
    # 60 in New York and 60 in Los Angeles, interleaved: cut as given, every batch would mix.
    numbers = [f"+1{212 if i % 2 else 213}555{i:04d}" for i in range(120)]
    clock("2026-12-03 02:30")  # 21:30 in New York, 18:30 in Los Angeles
    args = ("send", *numbers, "-m", "Hi", "--quiet-hours", "21:00-08:00", "--dedupe-key", "z")
    first = cli(*args, "--json")
    assert first.exit_code == 75, first.stderr
    summary = first.json()["summary"]
    assert (summary["accepted"], summary["deferred"], summary["requests"]) == (60, 60, 2)
    assert set(server.stats()["delivered_to"]) == {f"tel:{n}" for n in numbers if "+1213" in n}
    clock("2026-12-03 17:00")
    second = cli(*args, "--json")
    assert second.exit_code == 0, second.stderr
    assert second.json()["summary"]["accepted"] == 60
    assert server.stats()["delivered_to"] == {f"tel:{n}": 1 for n in numbers}


def test_adding_quiet_hours_to_a_keyed_job_is_another_job(
    cli: Cli,
    clock: Callable[[str], None],
    sandbox_http: Callable[..., SandboxHttp],
    use_server: Callable[[SandboxHttp], SandboxHttp],
) -> None:
    use_server(sandbox_http())
    assert cli("send", NEW_YORK, "-m", "Hi", "--dedupe-key", "j").exit_code == 0
    clock("2026-12-03 17:00")
    again = cli("send", NEW_YORK, "-m", "Hi", "--dedupe-key", "j", "--quiet-hours", "21:00-08:00")
    assert again.exit_code == 2  # its batches are cut by zone: a re-run could not find them
    # Named by what differs, not as "a different message or recipient list".
    assert again.stderr.startswith(
        "attsms: error: dedupe key 'j' was first run without quiet hours, and this run has them"
    )
    assert "--quiet-hours off" in again.stderr
