"""What a message costs: its encoding (GSM-7 or UCS-2) and how many segments carriers bill.

Text that fits the GSM 03.38 alphabet travels as 7-bit septets: 160 in a lone segment, 153 in
each part of a split one (the other 7 bytes carry the concatenation header). One character
outside that alphabet turns the whole message into UCS-2: 70 UTF-16 code units alone, 67 split.
"""

from __future__ import annotations

from dataclasses import dataclass

from attsms.core.errors import UsageError

GSM_7 = "GSM-7"
UCS_2 = "UCS-2"

# The service caps a message at 4096 characters; counting UTF-8 bytes is the safe reading.
MAX_MESSAGE_BYTES = 4096

# GSM 03.38 basic character set in code order 0x00-0x7F, 16 to a line. 0x1B is the escape into the
# extension table, not a character of its own, so it is taken out of the set.
_GSM_BASIC_TABLE = (
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ"
    " !\"#¤%&'()*+,-./"
    "0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNO"
    "PQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmno"
    "pqrstuvwxyzäöñüà"
)
_GSM_BASIC = frozenset(_GSM_BASIC_TABLE) - {"\x1b"}
# The extension table: each of these is sent as ESC plus a septet, so it costs two.
_GSM_EXTENDED = frozenset("\f^{}\\[~]|€")
_GSM = _GSM_BASIC | _GSM_EXTENDED

_SINGLE = {GSM_7: 160, UCS_2: 70}
_MULTI = {GSM_7: 153, UCS_2: 67}


@dataclass(frozen=True)
class SegmentInfo:
    """The encoding and billing of one message."""

    encoding: str  # GSM_7 or UCS_2
    units: int  # septets for GSM-7, UTF-16 code units for UCS-2
    segments: int  # 0 for empty text
    per_segment: int  # the capacity applied: 160/153 (GSM-7) or 70/67 (UCS-2)
    non_gsm: tuple[str, ...]  # distinct characters that forced UCS-2, in order of appearance
    utf8_bytes: int


def analyze(text: str) -> SegmentInfo:
    """Encoding, size and segment count of `text` as carriers would send it.

    A split message is packed greedily, and a character that costs two units (a GSM escape pair,
    or a UTF-16 surrogate pair for an emoji) never straddles two segments: if only one unit is left
    in the current segment, the character starts the next one. Phones and carriers do this so no
    part holds half a character, which is why a split count can exceed ceil(units / per_segment).
    """
    if _GSM.issuperset(text):  # the common case, in C: GSM-7 and no costs list unless split
        units = len(text) + sum(text.count(ch) for ch in _GSM_EXTENDED)
        if units <= _SINGLE[GSM_7]:
            return SegmentInfo(
                encoding=GSM_7,
                units=units,
                segments=1 if units else 0,
                per_segment=_SINGLE[GSM_7],
                non_gsm=(),
                utf8_bytes=len(text.encode("utf-8", "surrogatepass")),
            )
    non_gsm = tuple(dict.fromkeys(ch for ch in text if ch not in _GSM))
    if non_gsm:
        encoding = UCS_2
        # Characters beyond the BMP (most emoji) are a surrogate pair in UTF-16.
        costs = [2 if ord(ch) > 0xFFFF else 1 for ch in text]
    else:
        encoding = GSM_7
        costs = [2 if ch in _GSM_EXTENDED else 1 for ch in text]
    units = sum(costs)
    if units <= _SINGLE[encoding]:
        per_segment = _SINGLE[encoding]
        segments = 1 if units else 0
    else:
        per_segment = _MULTI[encoding]
        segments = _pack(costs, per_segment)
    return SegmentInfo(
        encoding=encoding,
        units=units,
        segments=segments,
        per_segment=per_segment,
        non_gsm=non_gsm,
        utf8_bytes=len(text.encode("utf-8", "surrogatepass")),
    )


def _pack(costs: list[int], capacity: int) -> int:
    """How many segments of `capacity` units hold `costs`, no character split across two."""
    segments, used = 1, 0
    for cost in costs:
        if used + cost > capacity:
            segments, used = segments + 1, 0
        used += cost
    return segments


def check_message(text: str) -> None:
    """Refuse a message the service would refuse or that would send nothing useful.

    Raises `UsageError` for an empty or whitespace-only message, for one over `MAX_MESSAGE_BYTES`
    in UTF-8, and for text holding undecodable bytes (Python keeps those from argv or a file as
    lone surrogates, which cannot be sent as UTF-8).
    """
    if not text.strip():
        raise UsageError("message is empty")
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError:
        raise UsageError(
            "message holds bytes that are not valid text", hint="use UTF-8 text"
        ) from None
    if size > MAX_MESSAGE_BYTES:
        raise UsageError(f"message is {size} bytes in UTF-8; the limit is {MAX_MESSAGE_BYTES}")
