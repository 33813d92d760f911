"""Recipient and sender addresses as the service accepts them, written from the spec on purpose.

The client has its own number rules; these are the sandbox's, so a mistake in one is caught by
the other.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType

# NANP: area code and exchange start with 2-9. re.ASCII and [0-9]: `\d` would accept any
# Unicode digit, which the service would not.
_TEL = re.compile(r"tel:(?:\+1|1)?([2-9][0-9]{2}[2-9][0-9]{6})", re.ASCII)
_SHORT = re.compile(r"short:([0-9]{3,8})", re.ASCII)

# The +1 area codes that are not the US or a US territory, by country: the service texts US
# subscribers, so it refuses these as it refuses a malformed address. From NANPA's area code list
# and the Canadian Numbering Administrator's, as of 2026 (codes in service, plus the Canadian
# codes already set aside for relief or non-geographic use, which will never be the US's).
# Written here by hand, not taken from the client or from libphonenumber, so that a mistake in
# their data is not repeated. US territories (787/939 Puerto Rico, 340 US Virgin Islands, 671
# Guam, 684 American Samoa, 670 Northern Mariana Islands) are the US's and are not here; neither
# are the codes of no one country (8XX toll-free, 5XX, 555, 900), which the US shares.
_NOT_US_BY_COUNTRY = {
    "Canada": (
        # Alberta; British Columbia; Manitoba; New Brunswick; Newfoundland and Labrador
        "368 403 587 780 825  236 250 257 604 672 778  204 431 584  428 506  709 879"
        # Nova Scotia and Prince Edward Island; Ontario
        "  782 902  226 249 289 343 365 382 416 437 519 548 613 647 683 705 742 753 807 905 942"
        # Quebec; Saskatchewan; Yukon, Northwest Territories and Nunavut
        "  263 354 367 418 438 450 468 514 579 581 819 873  306 474 639  867"
        # Set aside for future relief of Canadian area codes, not yet in service; 273, Quebec,
        # as libphonenumber lists it (the client's source; the one code taken on its word here)
        "  273 387 460"
        # Non-geographic: 600 in service, the rest reserved for Canada's non-geographic services
        "  600 622 633 644 655 677 688"
    ),
    "Anguilla": "264",
    "Antigua and Barbuda": "268",
    "Bahamas": "242",
    "Barbados": "246",
    "Bermuda": "441",
    "British Virgin Islands": "284",
    "Cayman Islands": "345",
    "Dominica": "767",
    "Dominican Republic": "809 829 849",
    "Grenada": "473",
    "Jamaica": "658 876",
    "Montserrat": "664",
    "Saint Kitts and Nevis": "869",
    "Saint Lucia": "758",
    "Saint Vincent and the Grenadines": "784",
    "Sint Maarten": "721",
    "Trinidad and Tobago": "868",
    "Turks and Caicos Islands": "649",
}
# Area code -> the country it belongs to (documented in docs/sandbox.md).
NOT_US_AREA_CODES: Mapping[str, str] = MappingProxyType(
    {code: country for country, codes in _NOT_US_BY_COUNTRY.items() for code in codes.split()}
)

FINAL_STATUSES = frozenset({"DeliveredToTerminal", "DeliveredToNetwork", "DeliveryImpossible"})

# Outcome chosen by the first two of the last four digits (documented in docs/sandbox.md).
_OUTCOME_BY_PREFIX = {
    "09": "DeliveryImpossible",
    "08": "DeliveredToNetwork",
    "07": "MessageWaiting",
    "06": "DeliveryUncertain",
}


def normalize(address: str) -> str | None:
    """The canonical form (`tel:+1NXXNXXXXXX` or `short:N…`) of a recipient, None if refused.

    Refused: anything that is not an address, and numbers outside the US and its territories
    (`NOT_US_AREA_CODES`), which the service does not deliver to.
    """
    # _canonical and _area in one pass: a bulk send asks this of every recipient (issue 25).
    if m := _TEL.fullmatch(address):
        digits = m.group(1)
        return None if digits[:3] in NOT_US_AREA_CODES else f"tel:+1{digits}"
    if m := _SHORT.fullmatch(address):
        return f"short:{m.group(1)}"
    return None


def normalize_sender(sender: str) -> str | None:
    """A phone number sending an inbound message: any tel form, `tel:` optional; None if not.

    Any +1 number, Canada and the Caribbean included: anyone can text a US short code or number,
    only sending is limited to US subscribers.
    """
    address = _canonical(sender if sender.startswith("tel:") else f"tel:{sender}")
    return address if address is not None and address.startswith("tel:") else None


def _area(canonical_tel: str) -> str:
    """The area code of a canonical `tel:+1NXXNXXXXXX`."""
    return canonical_tel[len("tel:+1") : len("tel:+1") + 3]


def _canonical(address: str) -> str | None:
    """The canonical form of any well-formed address, wherever it is; None if malformed."""
    if m := _TEL.fullmatch(address):
        return f"tel:+1{m.group(1)}"
    if m := _SHORT.fullmatch(address):
        return f"short:{m.group(1)}"
    return None


def final_outcome(address: str) -> str:
    """The status a (canonical) address reaches once delivery time has passed."""
    if address.startswith("short:"):
        return "DeliveredToNetwork"
    return _OUTCOME_BY_PREFIX.get(address[-4:-2], "DeliveredToTerminal")
