"""How the network would bill a text: its encoding and number of segments, worked out again here
from 3GPP TS 23.038 (the sandbox shares no code with the client's `attsms.core.segments`).

GSM-7 when every character is in the default alphabet or its extension table (an extension
character costs two septets, and never straddles two segments): 160 septets in one segment,
153 in each of several. Otherwise UCS-2 (UTF-16): 70 code units in one, 67 in each of several,
a surrogate pair kept whole.
"""

from __future__ import annotations

from dataclasses import dataclass

_GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXTENSION = frozenset("\f^{}\\[~]|€")

GSM_SINGLE, GSM_MULTI = 160, 153
UCS2_SINGLE, UCS2_MULTI = 70, 67


@dataclass(frozen=True)
class Billing:
    """`encoding` is "GSM-7" or "UCS-2"; `units` septets or UTF-16 code units in all."""

    encoding: str
    units: int
    segments: int


def _pack(costs: list[int], single: int, multi: int) -> int:
    """Segments for characters of these costs: one if all fit in `single`, else greedy `multi`
    chunks that never split a character."""
    if sum(costs) <= single:
        return 1 if costs else 0
    segments, used = 1, 0
    for cost in costs:
        if used + cost > multi:
            segments, used = segments + 1, 0
        used += cost
    return segments


def billing(text: str) -> Billing:
    """The encoding and segments of `text` (an empty text: none)."""
    if all(c in _GSM_BASIC or c in _GSM_EXTENSION for c in text):
        costs = [2 if c in _GSM_EXTENSION else 1 for c in text]
        return Billing("GSM-7", sum(costs), _pack(costs, GSM_SINGLE, GSM_MULTI))
    costs = [2 if ord(c) > 0xFFFF else 1 for c in text]
    return Billing("UCS-2", sum(costs), _pack(costs, UCS2_SINGLE, UCS2_MULTI))
