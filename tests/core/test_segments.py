"""What a message costs: encoding and segment counts as carriers bill them."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from attsms.core.errors import UsageError
from attsms.core.segments import MAX_MESSAGE_BYTES, SegmentInfo, analyze, check_message

GSM_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENDED = "^{}\\[~]|€\f"


def test_the_gsm_alphabet_is_the_real_one() -> None:
    assert len(set(GSM_BASIC)) == 127  # 128 codes less the escape
    # The Greek capitals are Greek, not look-alikes such as OHM SIGN or INCREMENT.
    for ch in "ΔΦΓΛΩΠΨΣΘΞ":
        assert unicodedata.name(ch).startswith("GREEK CAPITAL LETTER")
    info = analyze(GSM_BASIC)
    assert (info.encoding, info.units, info.non_gsm) == ("GSM-7", 127, ())


@pytest.mark.parametrize("ch", list(GSM_EXTENDED))
def test_each_extension_character_costs_two_septets(ch: str) -> None:
    info = analyze(ch)
    assert (info.encoding, info.units, info.segments) == ("GSM-7", 2, 1)


@pytest.mark.parametrize(
    "ch",
    [
        "ç",  # the table has capital Ç only
        "á",
        "`",
        "\t",
        "“",  # curly quotes, which phones and word processors put in
        "’",
        "…",
        "\u2126",  # OHM SIGN, not GREEK CAPITAL LETTER OMEGA
        "\u2206",  # INCREMENT, not GREEK CAPITAL LETTER DELTA
        "\u00a0",  # no-break space
    ],
)
def test_lookalikes_outside_the_alphabet_force_ucs2(ch: str) -> None:
    info = analyze(ch)
    assert (info.encoding, info.non_gsm) == ("UCS-2", (ch,))


@pytest.mark.parametrize(
    ("text", "segments", "per_segment"),
    [
        ("", 0, 160),
        ("a", 1, 160),
        ("a" * 160, 1, 160),
        ("a" * 161, 2, 153),
        ("a" * 306, 2, 153),
        ("a" * 307, 3, 153),
        ("{" * 80, 1, 160),  # 160 septets
        ("{" * 81, 2, 153),  # 162 septets
    ],
)
def test_gsm7_segment_counts(text: str, segments: int, per_segment: int) -> None:
    info = analyze(text)
    assert info.encoding == "GSM-7"
    assert (info.segments, info.per_segment) == (segments, per_segment)


@pytest.mark.parametrize(
    ("length", "segments", "per_segment"),
    [(1, 1, 70), (70, 1, 70), (71, 2, 67), (134, 2, 67), (135, 3, 67)],
)
def test_ucs2_segment_counts(length: int, segments: int, per_segment: int) -> None:
    info = analyze("Ж" * length)
    assert (info.encoding, info.units) == ("UCS-2", length)
    assert (info.segments, info.per_segment) == (segments, per_segment)
    assert info.non_gsm == ("Ж",)


def test_one_emoji_forces_ucs2_and_costs_two_units() -> None:
    info = analyze("hello 👋")
    assert info == SegmentInfo(
        encoding="UCS-2", units=8, segments=1, per_segment=70, non_gsm=("👋",), utf8_bytes=10
    )


def test_emoji_fill_a_segment_in_pairs() -> None:
    assert analyze("😀" * 35).segments == 1  # 70 units
    assert analyze("😀" * 36).segments == 2  # 72 units


def test_non_gsm_lists_distinct_offenders_in_order_of_appearance() -> None:
    info = analyze("Café “ok” — Ж, Ж again, “more”")
    assert info.non_gsm == ("“", "”", "—", "Ж")
    assert info.encoding == "UCS-2"


def test_ucs2_counts_escape_characters_once() -> None:
    # In UCS-2 "{" is an ordinary code unit: the escape table is GSM-7 only.
    assert analyze("Ж{").units == 2


def test_escape_pair_never_straddles_segments() -> None:
    # 152 septets then "{": it would take septets 153-154, so it starts the second segment.
    # 152 + 2 + 152 = 306 septets fit 2 x 153 on paper, but the pair moved: three segments.
    assert analyze("a" * 152 + "{" + "a" * 152).units == 306
    assert analyze("a" * 152 + "{" + "a" * 152).segments == 3
    # 151 + 2 fills the first segment exactly, so the same 306 septets fit in two.
    assert analyze("a" * 151 + "{" + "a" * 153).segments == 2


def test_surrogate_pair_never_straddles_segments() -> None:
    # 66 units then an emoji: it moves to the second segment, 66 + 2 + 66 = 134 units need 3.
    assert analyze("Ж" * 66 + "😀" + "Ж" * 66).segments == 3
    assert analyze("Ж" * 65 + "😀" + "Ж" * 67).segments == 2


def test_utf8_bytes() -> None:
    assert analyze("aé€😀").utf8_bytes == 1 + 2 + 3 + 4


@given(st.text(st.sampled_from(GSM_BASIC), max_size=400))
def test_only_gsm_basic_characters_never_go_ucs2(text: str) -> None:
    info = analyze(text)
    assert info.encoding == "GSM-7"
    assert info.units == len(text)
    assert info.non_gsm == ()


@given(st.text(st.sampled_from(GSM_BASIC + GSM_EXTENDED), max_size=400))
def test_gsm_text_costs_one_septet_a_character_plus_one_per_escape(text: str) -> None:
    info = analyze(text)
    assert info.encoding == "GSM-7"
    assert info.units == len(text) + sum(ch in GSM_EXTENDED for ch in text)


# Characters of every cost: GSM basic, GSM escape, UCS-2 in the BMP, UCS-2 surrogate pair.
mixed = st.text(st.sampled_from("a{Ж😀") | st.characters(), max_size=400)


@given(mixed, st.text(st.sampled_from("a{Ж😀") | st.characters(), min_size=1, max_size=5))
def test_segments_never_drop_when_text_grows(text: str, more: str) -> None:
    before, after = analyze(text), analyze(text + more)
    assert after.segments >= before.segments
    if before.encoding == after.encoding:
        assert after.units > before.units


@given(mixed)
def test_segments_hold_the_units_with_at_most_one_unit_lost_each(text: str) -> None:
    info = analyze(text)
    assert (info.segments == 0) == (text == "")
    assert info.segments * info.per_segment >= info.units
    if info.segments > 1:
        # Every segment but the last is full, short by at most the one unit a pair left behind.
        assert (info.segments - 1) * (info.per_segment - 1) < info.units


def test_check_message_accepts_up_to_the_byte_limit() -> None:
    assert MAX_MESSAGE_BYTES == 4096
    check_message("a" * 4096)
    check_message("€" * (4096 // 3))  # 4095 bytes


@pytest.mark.parametrize(
    ("text", "size"),
    [("a" * 4097, 4097), ("é" * 2049, 4098), ("a" * 4093 + "😀", 4097)],
)
def test_check_message_rejects_over_the_byte_limit(text: str, size: int) -> None:
    with pytest.raises(UsageError) as info:
        check_message(text)
    assert str(info.value) == f"message is {size} bytes in UTF-8; the limit is 4096"


@pytest.mark.parametrize("text", ["", " ", "\n\t  \n"])
def test_check_message_rejects_empty(text: str) -> None:
    with pytest.raises(UsageError, match="message is empty"):
        check_message(text)


def test_check_message_rejects_undecodable_bytes() -> None:
    text = b"caf\xe9".decode("utf-8", "surrogateescape")  # Latin-1 bytes read as UTF-8
    with pytest.raises(UsageError, match="not valid text"):
        check_message(text)
    assert analyze(text).segments == 1  # analysis still works for a --dry-run
