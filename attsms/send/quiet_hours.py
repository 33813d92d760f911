"""Quiet hours (issue 17): hold back recipients whose local time is inside a window such as
21:00-08:00, the local time read from the number's area code.

US rules (TCPA) limit solicitations to 8 a.m.-9 p.m. in the recipient's own time. A cron job on a
UTC server cannot know that time; `phonenumbers.timezone` maps a number's area code to its zones.
Where an area code spans several zones (605: Denver and North Dakota's Central), the recipient is
inside the window if any of them is, and is held until all are outside.

Numbers with no zone are never held: short codes, numbers libphonenumber places nowhere
(`Etc/Unknown`, e.g. area code 555) and non-geographic ones (toll-free 8XX, which it maps to every
zone of the plan, from Guam to Newfoundland, so that some zone is nearly always inside the window
and they would be held for ever).

Time is always given: `now` is an aware datetime from the caller's clock (`utc_now` by default),
so tests move it rather than wait.

    window = parse_quiet_hours("21:00-08:00")
    until = deferred_until("tel:+12125550100", window, now)   # None: send now
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

# The window and its one parser live in core: `config set quiet_hours` checks by the same rule.
from attsms.core.quiet_window import QuietHours as QuietHours
from attsms.core.quiet_window import parse_quiet_hours as parse_quiet_hours

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

Clock = Callable[[], datetime]

_MINUTES_A_DAY = 24 * 60
# How far ahead `deferred_until` looks for a moment when every zone is outside the window.
_HORIZON = timedelta(days=3)


def utc_now() -> datetime:
    """The real clock, as an aware UTC datetime."""
    return datetime.now(UTC)


def resolve_window(flag: str | None, saved: str | None) -> QuietHours | None:
    """The window of a run: `--quiet-hours` (`flag`; `off`: none, whatever the profile says),
    else the profile's setting quiet_hours (`saved`), else none."""
    if flag is not None:
        return None if flag.strip().lower() == "off" else parse_quiet_hours(flag)
    if saved is None:
        return None
    return parse_quiet_hours(saved, source="profile setting quiet_hours")


@functools.lru_cache(maxsize=65_536)
def zones_for(address: str) -> tuple[str, ...]:
    """The IANA zones of a wire address (`tel:+1…`): () when it has none (see the module)."""
    if not address.startswith("tel:+"):
        return ()
    import phonenumbers
    from phonenumbers import timezone

    digits = address[len("tel:+1") :]
    if address.startswith("tel:+1") and len(digits) == 10 and digits.isdigit():
        # What parse would make of it, at a third of the cost (a quiet-hours send asks this of
        # every recipient).
        number = phonenumbers.PhoneNumber(country_code=1, national_number=int(digits))
    else:
        try:
            number = phonenumbers.parse(address[len("tel:") :])
        except phonenumbers.NumberParseException:
            return ()
    # is_number_geographical and time_zones_for_number would each work out the type again.
    kind = phonenumbers.number_type(number)
    if not phonenumbers.is_number_type_geographical(kind, number.country_code or 0):
        return ()
    zones = timezone.time_zones_for_geographical_number(number)
    return tuple(z for z in zones if z != "Etc/Unknown")


@functools.cache
def _zone(name: str) -> ZoneInfo:
    from zoneinfo import ZoneInfo

    return ZoneInfo(name)


def inside(zones: Iterable[str], window: QuietHours, now: datetime) -> bool:
    """Whether any of `zones` is inside the window at `now` (aware)."""
    return any(window.contains(now.astimezone(_zone(z))) for z in zones)


def deferred_until(address: str, window: QuietHours, now: datetime) -> datetime | None:
    """None if `address` may be texted at `now`; else the first moment (UTC) when none of its
    zones is inside the window. `now` must be timezone-aware."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return _release(zones_for(address), window, now)


@functools.lru_cache(maxsize=256)
def _release(zones: tuple[str, ...], window: QuietHours, now: datetime) -> datetime | None:
    """`deferred_until` for a set of zones: a run asks it of a handful of sets, for every one
    of its recipients."""
    if not inside(zones, window, now):
        return None
    # The answer is one of the zones' window ends: try them in time order.
    ends: set[datetime] = set()
    for name in zones:
        local = now.astimezone(_zone(name))
        while (end := window.end_after(local)) - now <= _HORIZON:
            ends.add(end)
            local = end.astimezone(_zone(name))
    for end in sorted(ends):
        if not inside(zones, window, end):
            return end
    return max(ends)  # zones that cover the clock between them; not a real area code


def partition(
    addresses: Iterable[str], window: QuietHours, now: datetime
) -> tuple[list[str], dict[str, datetime]]:
    """Split one batch: the addresses to send now, and those held with their release time."""
    ready: list[str] = []
    held: dict[str, datetime] = {}
    for address in addresses:
        until = deferred_until(address, window, now)
        if until is None:
            ready.append(address)
        else:
            held[address] = until
    return ready, held


@dataclass(frozen=True)
class Deferral:
    """What a dry run says: how many recipients would be held now, and until when."""

    count: int
    earliest: datetime | None  # the first held recipient's release (UTC)
    latest: datetime | None  # the last one's: a re-run after this sends everyone


def summarize(addresses: Iterable[str], window: QuietHours, now: datetime) -> Deferral:
    """Count the recipients held back at `now`, and the span of their release times."""
    count = 0
    earliest: datetime | None = None
    latest: datetime | None = None
    for address in addresses:
        until = deferred_until(address, window, now)
        if until is None:
            continue
        count += 1
        earliest = until if earliest is None else min(earliest, until)
        latest = until if latest is None else max(latest, until)
    return Deferral(count=count, earliest=earliest, latest=latest)
