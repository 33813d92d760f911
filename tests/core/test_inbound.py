"""`core.inbound`: the one rule for an inbound sender and DateTime, shared by listen and pull."""

from __future__ import annotations

import pytest

from attsms.core.inbound import is_sender, readable, sender_address, time_text, timestamp


@pytest.mark.parametrize(
    ("raw", "wire"),
    [
        ("tel:+12125550100", "tel:+12125550100"),
        ("tel:12125550100", "tel:+12125550100"),
        (" 2125550100 ", "tel:+12125550100"),
        ("+447700900123", "tel:+447700900123"),
        ("tel:+447700900123", "tel:+447700900123"),
        ("short:555", "short:555"),
        ("12345", "short:12345"),
    ],
)
def test_a_phone_number_or_short_code_gets_its_wire_form(raw: str, wire: str) -> None:
    assert sender_address(raw) == wire
    assert is_sender(wire)


@pytest.mark.parametrize(
    "raw", ["", "garbage", "tel:+1212", "tel:+11235550100", "short:", "+1", "short:123456789"]
)
def test_anything_else_is_no_sender(raw: str) -> None:
    assert sender_address(raw) is None
    assert not is_sender(raw)


def test_a_sender_not_in_its_wire_form_is_not_a_stored_sender() -> None:
    assert not is_sender("+447700900123")  # what a pull stored before: now tel:+447700900123


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, ""),
        ("", ""),
        ("  ", ""),
        (" 2026-12-01T00:00:00Z ", "2026-12-01T00:00:00Z"),
        ("2026-12-01", "2026-12-01"),
        (20261201, "20261201"),  # basic format, sent as a number: its digits
        ("garbage", None),
        ("2026-13-45T99:00:00Z", None),
        ("2026-01-01\x00", None),
        ("\ud800", None),
        (1.5, None),
        (True, None),
        ([], None),
        ({}, None),
    ],
)
def test_a_datetime_is_an_iso_8601_time_or_none_or_not_a_time(value: object, text: str) -> None:
    assert time_text(value) == text


def test_a_time_without_a_zone_is_utc() -> None:
    assert timestamp("1970-01-02T00:00:00") == 86400.0
    assert timestamp("garbage") is None


def test_readable_needs_a_sender_and_a_time_or_none() -> None:
    assert readable("tel:+12125550100", "")
    assert readable("short:12345", "2026-12-01T00:00:00Z")
    assert not readable("garbage", "")
    assert not readable("tel:+12125550100", "garbage")
