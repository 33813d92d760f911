"""The phones of a served sandbox: every number it texted or that texted in, with what happened.

The page (`pageapi.py`) lists them newest activity first and shows each one's thread. Kept in
memory by the core, beside (not inside) the AT&T state: the page is `sandbox serve`'s, and the
in-process sandbox, a new core per request, never asks. Bounded: the newest MAX_PHONES numbers,
the newest MAX_EVENTS events of each.

An OrderedDict keyed by address with the most recent activity last is the index: touching a
number moves it to the end in O(1), a page of the newest is a walk from that end, so a page of
100,000 numbers costs its own size (a filter by number scans them, a few ms).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

MAX_PHONES = 200_000
MAX_EVENTS = 500


# Slots: a bulk send makes a Phone for every new number (issue 25).
@dataclass(slots=True)
class Phone:
    """One number: its events in arrival order (dicts, see PhoneBook) and their counts."""

    address: str
    last: float = 0.0
    received: int = 0
    sent: int = 0
    # A list trimmed by hand, not a deque(maxlen): a deque allocates a 64-slot block up front,
    # and a bulk send makes a Phone for every new number (issue 25).
    events: list[dict[str, Any]] = field(default_factory=list)

    def add(self, event: dict[str, Any]) -> None:
        """Keep `event`, and only the newest MAX_EVENTS."""
        self.events.append(event)
        if len(self.events) > MAX_EVENTS:
            del self.events[0]


class PhoneBook:
    """Numbers by recency. Not thread-safe by itself: the core calls it under its lock.

    Events: {"kind": "received", "messageId", "text", "at": clock seconds, "outcome": the status
    it reaches after the delivery time} for what the sandbox delivered to the phone, and
    {"kind": "sent", "messageId", "text", "at": clock seconds, "dateTime": as injected, "to":
    registration id} for what the phone texted in. `version` counts changes, for live pages.
    """

    def __init__(self) -> None:
        self._phones: OrderedDict[str, Phone] = OrderedDict()
        self.version = 0

    def __len__(self) -> int:
        return len(self._phones)

    def changed(self) -> None:
        self.version += 1

    def _touch(self, address: str, now: float) -> Phone:
        phone = self._phones.get(address)
        if phone is None:
            phone = self._phones[address] = Phone(address)
            if len(self._phones) > MAX_PHONES:
                self._phones.popitem(last=False)
        else:
            self._phones.move_to_end(address)
        phone.last = now
        self.changed()
        return phone

    def received(self, address: str, message_id: str, text: str, now: float, outcome: str) -> None:
        self.received_all(message_id, text, now, {address: outcome})

    def received_all(
        self, message_id: str, text: str, now: float, outcomes: dict[str, str]
    ) -> None:
        """What one send delivered, for each (address, outcome) in order: `_touch` written out
        in one loop, as a bulk send's 50 numbers cost a call each otherwise (issue 25)."""
        phones = self._phones
        for address, outcome in outcomes.items():
            phone = phones.get(address)
            if phone is None:
                phone = phones[address] = Phone(address)
                if len(phones) > MAX_PHONES:
                    phones.popitem(last=False)
            else:
                phones.move_to_end(address)
            phone.last = now
            phone.received += 1
            phone.add(
                {
                    "kind": "received",
                    "messageId": message_id,
                    "text": text,
                    "at": now,
                    "outcome": outcome,
                }
            )
        self.version += len(outcomes)  # one change a number, as `_touch` counts them

    def sent(self, address: str, message: dict[str, Any], now: float) -> None:
        """`message` is an inbound message in wire shape, as queued or pushed."""
        phone = self._touch(address, now)
        phone.sent += 1
        phone.add(
            {
                "kind": "sent",
                "messageId": message["messageId"],
                "text": message["message"],
                "at": now,
                "dateTime": message["dateTime"],
                "to": message["destinationAddress"],
            }
        )

    def page(self, query: str, offset: int, limit: int) -> tuple[list[Phone], int]:
        """Phones whose address holds the digits `query` (all for ""), newest activity first:
        `limit` of them from `offset`, and how many match in all."""
        if not query:
            newest = reversed(self._phones.values())
            chosen = [p for _, p in zip(range(offset + limit), newest, strict=False)][offset:]
            return chosen, len(self._phones)
        matches = [p for p in reversed(self._phones.values()) if query in p.address]
        return matches[offset : offset + limit], len(matches)

    def phone(self, address: str) -> Phone | None:
        return self._phones.get(address)

    def clear(self) -> None:
        self._phones.clear()
        self.changed()
