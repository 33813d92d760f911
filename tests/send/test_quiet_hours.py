"""Quiet hours (issue 17): the window, each number's local time from its area code, and when a
held-back recipient may be texted. Every test gives the time; none reads the wall clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from attsms.core.errors import ExitCode, UsageError
from attsms.send.quiet_hours import (
    QuietHours,
    deferred_until,
    inside,
    parse_quiet_hours,
    partition,
    summarize,
    zones_for,
)

NEW_YORK = "tel:+12125550100"
CHICAGO = "tel:+13125550101"
DENVER = "tel:+13035550102"
PHOENIX = "tel:+16025550103"
LOS_ANGELES = "tel:+12135550104"
HONOLULU = "tel:+18085550105"
SOUTH_DAKOTA = "tel:+16055550106"  # area code 605: Mountain and Central time
NIGHT = parse_quiet_hours("21:00-08:00")


def utc(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def held(address: str, now: datetime, window: QuietHours = NIGHT) -> datetime | None:
    return deferred_until(address, window, now)


# --- the window ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [("21:00-08:00", 1260, 480), ("9:30-17:00", 570, 1020), (" 00:00 - 23:59 ", 0, 1439)],
)
def test_windows(text: str, start: int, end: int) -> None:
    window = parse_quiet_hours(text)
    assert (window.start, window.end) == (start, end)


@pytest.mark.parametrize(
    "text", ["", "21-08", "21:00", "25:00-08:00", "21:60-08:00", "9pm-8am", "21:00-21:00"]
)
def test_bad_windows_are_usage_errors(text: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_quiet_hours(text, source="profile setting quiet_hours")
    assert caught.value.exit_code == ExitCode.USAGE
    assert str(caught.value).startswith("profile setting quiet_hours ")


def test_str_is_the_canonical_form() -> None:
    assert str(parse_quiet_hours("9:00-8:05")) == "09:00-08:05"


# --- zones -----------------------------------------------------------------------------------


def test_zones_come_from_the_area_code() -> None:
    assert zones_for(NEW_YORK) == ("America/New_York",)
    assert zones_for(PHOENIX) == ("America/Phoenix",)
    assert zones_for(HONOLULU) == ("Pacific/Honolulu",)
    assert set(zones_for(SOUTH_DAKOTA)) == {"America/Denver", "America/North_Dakota/Center"}


@pytest.mark.parametrize(
    "address", ["short:12345", "tel:+15555550100", "tel:+18005550100", "tel:+1", "mailto:x"]
)
def test_numbers_without_a_place_are_never_held(address: str) -> None:
    assert zones_for(address) == ()
    assert held(address, utc(2026, 7, 15, 3, 0)) is None


# --- across the country ----------------------------------------------------------------------


def test_a_summer_evening_across_the_zones() -> None:
    now = utc(2026, 7, 15, 2, 0)  # 22:00 in New York (EDT)
    assert held(NEW_YORK, now) == utc(2026, 7, 15, 12, 0)  # 08:00 EDT
    assert held(CHICAGO, now) == utc(2026, 7, 15, 13, 0)  # 21:00 CDT now, 08:00 CDT then
    assert held(DENVER, now) is None  # 20:00 MDT
    assert held(PHOENIX, now) is None  # 19:00 MST
    assert held(LOS_ANGELES, now) is None  # 19:00 PDT
    assert held(HONOLULU, now) is None  # 16:00 HST


def test_a_winter_evening_across_the_zones() -> None:
    now = utc(2026, 1, 15, 4, 0)  # 23:00 EST
    assert held(NEW_YORK, now) == utc(2026, 1, 15, 13, 0)  # 08:00 EST
    assert held(CHICAGO, now) == utc(2026, 1, 15, 14, 0)
    assert held(DENVER, now) == utc(2026, 1, 15, 15, 0)  # 21:00 MST
    assert held(PHOENIX, now) == utc(2026, 1, 15, 15, 0)  # the same as Denver in winter
    assert held(LOS_ANGELES, now) is None  # 20:00 PST
    assert held(HONOLULU, now) is None


def test_phoenix_keeps_standard_time_all_year() -> None:
    # 21:00 MST in Phoenix both times; Denver is an hour ahead in summer, Los Angeles in step.
    summer, winter = utc(2026, 7, 15, 4, 0), utc(2026, 1, 15, 4, 0)
    assert held(PHOENIX, summer) == held(PHOENIX, winter) + timedelta(days=181)  # type: ignore[operator]
    assert held(PHOENIX, summer) == utc(2026, 7, 15, 15, 0)
    assert held(DENVER, summer) == utc(2026, 7, 15, 14, 0)  # 08:00 MDT
    assert held(LOS_ANGELES, summer) == utc(2026, 7, 15, 15, 0)  # 08:00 PDT, Phoenix's 08:00


def test_honolulu() -> None:
    now = utc(2026, 7, 15, 8, 0)  # 22:00 HST: morning in New York
    assert held(HONOLULU, now) == utc(2026, 7, 15, 18, 0)
    assert held(NEW_YORK, now) == utc(2026, 7, 15, 12, 0)  # 04:00 EDT: inside too
    assert held(HONOLULU, utc(2026, 7, 15, 6, 59)) is None  # 20:59 HST


def test_early_morning_is_inside_until_the_end() -> None:
    assert held(NEW_YORK, utc(2026, 7, 15, 11, 59)) == utc(2026, 7, 15, 12, 0)  # 07:59 EDT
    assert held(NEW_YORK, utc(2026, 7, 15, 12, 0)) is None  # 08:00: the end is outside
    assert held(NEW_YORK, utc(2026, 7, 16, 0, 59)) is None  # 20:59
    assert held(NEW_YORK, utc(2026, 7, 16, 1, 0)) == utc(2026, 7, 16, 12, 0)  # 21:00


def test_an_area_code_in_two_zones_waits_for_both() -> None:
    now = utc(2026, 7, 15, 2, 30)  # 21:30 CDT, 20:30 MDT: inside, by the Central zone
    assert inside(zones_for(SOUTH_DAKOTA), NIGHT, now)
    # At 08:00 CDT (13:00 UTC) the Mountain part is at 07:00, still inside: 08:00 MDT it is.
    assert held(SOUTH_DAKOTA, now) == utc(2026, 7, 15, 14, 0)


def test_a_window_within_one_day() -> None:
    lunch = parse_quiet_hours("12:00-13:30")
    assert held(NEW_YORK, utc(2026, 7, 15, 16, 0), lunch) == utc(2026, 7, 15, 17, 30)
    assert held(NEW_YORK, utc(2026, 7, 15, 18, 0), lunch) is None


# --- across a DST change ---------------------------------------------------------------------


def test_spring_forward() -> None:
    # 2026-03-08 02:00 in the US: clocks jump to 03:00. 22:00 EST on the 7th is held until
    # 08:00 EDT on the 8th: 12:00 UTC, not the 13:00 that standard time would give.
    assert held(NEW_YORK, utc(2026, 3, 8, 3, 0)) == utc(2026, 3, 8, 12, 0)
    assert held(LOS_ANGELES, utc(2026, 3, 8, 6, 0)) == utc(2026, 3, 8, 15, 0)
    assert held(PHOENIX, utc(2026, 3, 8, 6, 0)) == utc(2026, 3, 8, 15, 0)  # no DST: 08:00 MST


def test_fall_back() -> None:
    # 2026-11-01 02:00 EDT becomes 01:00 EST: 23:00 EDT on the 31st is held until 08:00 EST.
    assert held(NEW_YORK, utc(2026, 11, 1, 3, 0)) == utc(2026, 11, 1, 13, 0)
    # The repeated hour (01:00-02:00 twice) is inside both times.
    assert held(NEW_YORK, utc(2026, 11, 1, 5, 30)) == utc(2026, 11, 1, 13, 0)
    assert held(NEW_YORK, utc(2026, 11, 1, 6, 30)) == utc(2026, 11, 1, 13, 0)


def test_a_window_ending_in_the_skipped_hour() -> None:
    # 02:30 does not exist on 2026-03-08 in New York; the window ends when the clock passes it.
    window = parse_quiet_hours("21:00-02:30")
    until = held(NEW_YORK, utc(2026, 3, 8, 5, 0), window)  # 00:00 EST
    assert until is not None and utc(2026, 3, 8, 7, 0) <= until <= utc(2026, 3, 8, 7, 30)
    assert held(NEW_YORK, until, window) is None


_zones = st.sampled_from([NEW_YORK, CHICAGO, DENVER, PHOENIX, LOS_ANGELES, HONOLULU])
_instants = st.datetimes(
    min_value=datetime(2025, 1, 1), max_value=datetime(2028, 12, 31), timezones=st.just(UTC)
)
_windows = st.tuples(st.integers(0, 1439), st.integers(0, 1439)).filter(lambda w: w[0] != w[1])


@given(_zones, _instants, _windows)
def test_release_is_the_first_minute_outside(
    address: str, now: datetime, bounds: tuple[int, int]
) -> None:
    window = QuietHours(*bounds)
    zones = zones_for(address)
    until = deferred_until(address, window, now)
    if until is None:
        assert not inside(zones, window, now)
        return
    assert inside(zones, window, now)
    assert until > now
    assert not inside(zones, window, until)
    # One minute earlier it was still inside (or that minute was before now).
    before = until - timedelta(minutes=1)
    assert before < now or inside(zones, window, before)


def test_a_naive_time_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="aware"):
        deferred_until(NEW_YORK, NIGHT, datetime(2026, 7, 15, 2, 0))


def test_summarize_for_a_dry_run() -> None:
    now = utc(2026, 7, 15, 2, 0)
    everyone = [NEW_YORK, CHICAGO, DENVER, PHOENIX, LOS_ANGELES, HONOLULU, "short:12345"]
    deferral = summarize(everyone, NIGHT, now)
    assert deferral.count == 2
    assert (deferral.earliest, deferral.latest) == (
        utc(2026, 7, 15, 12, 0),
        utc(2026, 7, 15, 13, 0),
    )
    assert summarize([DENVER], NIGHT, now).count == 0


def test_partition_splits_a_batch() -> None:
    now = utc(2026, 7, 15, 2, 0)
    ready, held_back = partition([NEW_YORK, DENVER, CHICAGO, HONOLULU], NIGHT, now)
    assert ready == [DENVER, HONOLULU]
    assert held_back == {NEW_YORK: utc(2026, 7, 15, 12, 0), CHICAGO: utc(2026, 7, 15, 13, 0)}
