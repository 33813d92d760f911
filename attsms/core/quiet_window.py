"""A quiet-hours window (`HH:MM-HH:MM`, local time) and its one parser.

`send --quiet-hours`, the profile setting `quiet_hours` (read by `send`) and `attsms config set
quiet_hours` all check a window here, so a value `config` accepts is one `send` accepts.
What a window does to recipients is `attsms.send.quiet_hours`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from attsms.core.errors import UsageError

_TIME = r"([01]?[0-9]|2[0-3]):([0-5][0-9])"
_WINDOW = re.compile(rf"\s*{_TIME}\s*-\s*{_TIME}\s*")


@dataclass(frozen=True)
class QuietHours:
    """A daily window of local time, [start, end) in minutes after midnight. `start > end`
    crosses midnight (21:00-08:00); `start < end` lies within a day (12:00-13:00)."""

    start: int
    end: int

    def __str__(self) -> str:
        return f"{_hhmm(self.start)}-{_hhmm(self.end)}"

    def contains(self, local: datetime) -> bool:
        """Whether the wall-clock time of `local` is inside the window."""
        minute = local.hour * 60 + local.minute
        if self.start < self.end:
            return self.start <= minute < self.end
        return minute >= self.start or minute < self.end

    def end_after(self, local: datetime) -> datetime:
        """The next moment the window ends after `local` (aware, in local's zone), as UTC."""
        end = local.replace(hour=self.end // 60, minute=self.end % 60, second=0, microsecond=0)
        if end <= local:
            # A calendar day later, in wall-clock terms: 08:00 stays 08:00 across a DST change.
            end = (end.replace(tzinfo=None) + timedelta(days=1)).replace(tzinfo=local.tzinfo)
        return end.astimezone(UTC)


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def parse_quiet_hours(text: str, *, source: str = "--quiet-hours") -> QuietHours:
    """`HH:MM-HH:MM` (24-hour local times) as a window. `source` names the flag or profile
    setting in the error. Raises `UsageError` (exit 2) for anything else, and for a window that
    starts where it ends (empty, or the whole day: either way a mistake)."""
    match = _WINDOW.fullmatch(text)
    if match is None:
        raise UsageError(
            f"{source} takes START-END in 24-hour time, not {text!r}",
            hint="e.g. 21:00-08:00 (holds back from 9 p.m. to 8 a.m. the recipient's time)",
        )
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    window = QuietHours(start=h1 * 60 + m1, end=h2 * 60 + m2)
    if window.start == window.end:
        raise UsageError(f"{source} {text.strip()!r} starts where it ends", hint="e.g. 21:00-08:00")
    return window
