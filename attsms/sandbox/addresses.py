"""Recipient and sender addresses as the service accepts them, written from the spec on purpose.

The client has its own number rules; these are the sandbox's, so a mistake in one is caught by
the other.
"""

from __future__ import annotations

import re

# NANP: area code and exchange start with 2-9. re.ASCII and [0-9]: `\d` would accept any
# Unicode digit, which the service would not.
_TEL = re.compile(r"tel:(?:\+1|1)?([2-9][0-9]{2}[2-9][0-9]{6})", re.ASCII)
_SHORT = re.compile(r"short:([0-9]{3,8})", re.ASCII)

FINAL_STATUSES = frozenset({"DeliveredToTerminal", "DeliveredToNetwork", "DeliveryImpossible"})

# Outcome chosen by the first two of the last four digits (documented in docs/sandbox.md).
_OUTCOME_BY_PREFIX = {
    "09": "DeliveryImpossible",
    "08": "DeliveredToNetwork",
    "07": "MessageWaiting",
    "06": "DeliveryUncertain",
}


def normalize(address: str) -> str | None:
    """The canonical form (`tel:+1NXXNXXXXXX` or `short:N…`) of a wire address, None if invalid."""
    if m := _TEL.fullmatch(address):
        return f"tel:+1{m.group(1)}"
    if m := _SHORT.fullmatch(address):
        return f"short:{m.group(1)}"
    return None


def normalize_sender(sender: str) -> str | None:
    """A phone number sending an inbound message: any tel form, `tel:` optional; None if not."""
    address = normalize(sender if sender.startswith("tel:") else f"tel:{sender}")
    return address if address is not None and address.startswith("tel:") else None


def final_outcome(address: str) -> str:
    """The status a (canonical) address reaches once delivery time has passed."""
    if address.startswith("short:"):
        return "DeliveredToNetwork"
    return _OUTCOME_BY_PREFIX.get(address[-4:-2], "DeliveredToTerminal")
