"""What an inbound message's sender and time may be: the one rule `listen` and `inbox pull` share.

A sender (or a receipt's recipient) is a phone number (US, or E.164 elsewhere) or a short code,
in its wire form: `optout remove`, `inbox list --from` and `send` must be able to reach what is
stored. A DateTime is an ISO 8601 time (UTC when it names no zone): anything else would sort
anywhere and match every `--since`.

`listen` refuses a notification that breaks either rule (400, nothing stored). `inbox pull`
cannot refuse (the service has already forgotten what it handed out): it stores such a message
as it came, with no keyword (no opt-out), dated by its arrival, and says so.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from attsms.core.numbers import TEL_PREFIX, canonical

_US_OR_SHORT = re.compile(r"tel:\+1[2-9][0-9]{2}[2-9][0-9]{6}|short:[0-9]{3,8}")
_INTERNATIONAL = re.compile(r"(?:tel:)?\+([2-9][0-9]{6,14})")  # +1 numbers must be NANP


def sender_address(raw: str) -> str | None:
    """`raw` in its wire form when it is a phone number (US, or E.164 elsewhere) or a short
    code; None for anything else. A wire form comes back unchanged."""
    text = raw.strip()
    address = canonical(text)
    if _US_OR_SHORT.fullmatch(address):
        return address
    if m := _INTERNATIONAL.fullmatch(text):
        return f"{TEL_PREFIX}+{m.group(1)}"
    return None


def is_sender(address: str) -> bool:
    """Whether `address` (as stored) is a valid sender in its wire form."""
    return sender_address(address) == address


def time_text(value: object) -> str | None:
    """A DateTime as it was sent (trimmed; a number as its digits), when it is an ISO 8601
    time; "" when there is none (null, or blank: the message is dated by its arrival); None
    when it is not a time."""
    if value is None:
        return ""
    if isinstance(value, str):
        text = value.strip()
    elif isinstance(value, int | float) and not isinstance(value, bool):
        text = str(value)
    else:
        return None
    if not text:
        return "" if isinstance(value, str) else None
    return text if timestamp(text) is not None else None


def timestamp(text: str) -> float | None:
    """A DateTime's epoch seconds (UTC when it names no zone); None when it is not a time."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        return moment.timestamp()
    except (OverflowError, OSError):
        return None


def readable(sender: str, received_at: str) -> bool:
    """Whether a stored message's sender and time keep the rules above ("" is no time: fine)."""
    return is_sender(sender) and (not received_at.strip() or timestamp(received_at) is not None)
