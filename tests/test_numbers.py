"""Numbers as people type them, and addresses as the service writes them."""

from __future__ import annotations

import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from attsms.errors import ExitCode, UsageError
from attsms.numbers import canonical, display, normalize, normalize_all, parse_recipient_lines

US = "tel:+15555550100"


@pytest.mark.parametrize(
    ("typed", "wire"),
    [
        ("(555) 555-0100", US),
        ("555.555.0100", US),
        ("555-555-0100", US),
        ("555 555 0100", US),
        ("+1 555 555 0100", US),
        ("+1 (555) 555-0100", US),
        ("1-555-555-0100", US),
        ("15555550100", US),
        ("5555550100", US),
        ("+15555550100", US),
        ("tel:+15555550100", US),
        ("tel:15555550100", US),
        ("tel:5555550100", US),
        ("TEL:+15555550100", US),
        ("  (555) 555-0100 \n", US),
        ("555\u00a0555\u00a00100", US),  # no-break spaces, pasted from a web page
        ("555\u2013555\u20130100", US),  # en dashes, from a word processor
        ("(212) 555-0123", "tel:+12125550123"),
        ("+44 20 7946 0958", "tel:+442079460958"),
        ("011 44 20 7946 0958", "tel:+442079460958"),  # US international dialing prefix
        ("short:12345", "short:12345"),
        ("short:123", "short:123"),
        ("short:12345678", "short:12345678"),
        (" short:12345 ", "short:12345"),
        ("12345", "short:12345"),
        ("123456", "short:123456"),
    ],
)
def test_normalize_formats(typed: str, wire: str) -> None:
    assert normalize(typed) == wire


def test_region_reads_numbers_without_country_code() -> None:
    assert normalize("020 7946 0958", region="GB") == "tel:+442079460958"
    assert normalize("020 7946 0958", region="gb") == "tel:+442079460958"
    # A number with its country code is the same wherever it is read.
    assert normalize("+1 555 555 0100", region="GB") == US


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "   ",
        "abc",
        "1-800-FLOWERS",  # vanity letters
        "555-555-0100 x12",  # extensions make no sense for SMS
        "555-555-010a",
        "12",
        "1234",  # too short for a number, not a bare short-code length
        "1234567",
        "555-0100",  # no area code
        "555555501000",  # too many digits
        "+1 555 555 01000",
        "0305550100",  # area codes never start with 0 or 1
        "1235550100",
        "++15555550100",
        "+",
        "555+555+0100",
        "tel:",
        "tel:12345",  # tel: is for phone numbers; short codes say short:
        "tel:tel:5555550100",
        "short:",
        "short:12",
        "short:123456789",
        "short:12a45",
        "mailto:someone@example.com",
    ],
)
def test_normalize_rejects_garbage_naming_it(garbage: str) -> None:
    with pytest.raises(UsageError) as info:
        normalize(garbage)
    assert repr(garbage) in str(info.value)
    assert info.value.exit_code == ExitCode.USAGE


def test_missing_area_code_gets_a_hint() -> None:
    with pytest.raises(UsageError, match="include the area code"):
        normalize("555-0100")


def test_unknown_region_is_its_own_error() -> None:
    with pytest.raises(UsageError, match="unknown region 'ZZ'"):
        normalize("5555550100", region="ZZ")
    with pytest.raises(UsageError, match="unknown region 'ZZ'"):
        normalize_all(["5555550100", "5555550101"], region="ZZ")


def test_normalize_all_dedupes_after_normalizing_in_first_seen_order() -> None:
    raws = ["(555) 555-0101", "555.555.0100", "+1 555 555 0101", "12345", "short:12345", US]
    assert normalize_all(raws) == ["tel:+15555550101", US, "short:12345"]
    assert normalize_all(iter(raws)) == ["tel:+15555550101", US, "short:12345"]
    assert normalize_all([]) == []


def test_normalize_all_one_bad_entry_is_reported_like_normalize() -> None:
    with pytest.raises(UsageError, match="include the area code") as info:
        normalize_all(["5555550100", "555-0100"])
    assert str(info.value).startswith("not a phone number: '555-0100'")


def test_normalize_all_names_every_bad_entry_at_once() -> None:
    with pytest.raises(UsageError) as info:
        normalize_all(["5555550100", "abc", "5555550101", "12", "short:1"])
    assert str(info.value) == "not phone numbers: 'abc', '12', 'short:1'"


def test_normalize_all_caps_the_list_of_bad_entries() -> None:
    bad = [f"bad{i}" for i in range(8)]
    with pytest.raises(UsageError) as info:
        normalize_all(["5555550100", *bad])
    message = str(info.value)
    assert all(repr(b) in message for b in bad[:5])
    assert repr(bad[5]) not in message
    assert message.endswith("and 3 more")


# Any NANP number: area code and exchange start with 2-9; any line number, 555-01XX included.
npa = st.integers(200, 999).map(str)
nxx = st.integers(200, 999).map(str)
line = st.integers(0, 9999).map(lambda n: f"{n:04d}")
bodies = [
    "{a}{x}{l}",
    "{a}-{x}-{l}",
    "{a}.{x}.{l}",
    "{a} {x} {l}",
    "({a}) {x}-{l}",
    "({a}){x}-{l}",
    "({a}) {x} {l}",
]
prefixes = ["", "1", "1 ", "1-", "+1", "+1 ", "+1-", "tel:", "tel:1", "tel:+1", "tel:+1 "]


@given(
    npa,
    nxx,
    line,
    st.sampled_from(bodies),
    st.sampled_from(prefixes),
    st.sampled_from(["", " ", "\t", "\n"]),
)
def test_any_nanp_number_in_any_common_format_normalizes_to_e164(
    a: str, x: str, ln: str, body: str, prefix: str, pad: str
) -> None:
    typed = pad + prefix + body.format(a=a, x=x, l=ln) + pad
    assert normalize(typed) == f"tel:+1{a}{x}{ln}"


# Addresses as the service writes them, valid and not.
service_nanp = st.builds(
    lambda a, x, ln, p: f"{p}{a}{x}{ln}",
    npa,
    nxx,
    line,
    st.sampled_from(["", "1", "+1", "tel:", "tel:1", "tel:+1", "TEL:+1"]),
)
service_short = st.builds(
    lambda p, d: p + d,
    st.sampled_from(["short:", "SHORT:", ""]),
    st.text("0123456789", min_size=3, max_size=8),
)
service_noise = st.text("0123456789+:telshort ", max_size=16)


@given(st.one_of(service_nanp, service_short, service_noise))
def test_canonical_agrees_with_normalize_whenever_it_decides(address: str) -> None:
    result = canonical(address)
    if result != address:
        assert normalize(address) == result
        # What canonical hands out is a fixed point of both functions.
        assert canonical(result) == result
        assert normalize(result) == result


valid_short = st.from_regex(r"(?:short:[0-9]{3,8}|[0-9]{5,6})", fullmatch=True)


@given(st.one_of(service_nanp, valid_short))
def test_canonical_recognizes_every_service_form_of_a_nanp_number_or_short_code(
    address: str,
) -> None:
    assert canonical(address) == normalize(address)


@pytest.mark.parametrize(
    ("address", "wire"),
    [
        ("tel:+15555550100", US),
        ("tel:15555550100", US),
        ("tel:5555550100", US),
        ("+15555550100", US),
        ("15555550100", US),
        ("5555550100", US),
        ("short:12345", "short:12345"),
        ("12345", "short:12345"),
    ],
)
def test_canonical_service_forms(address: str, wire: str) -> None:
    assert canonical(address) == wire


@pytest.mark.parametrize(
    "address",
    ["tel:+442079460958", "+5555550100", "acr:abc", "", "1234", "tel:+1 555 555 0100"],
)
def test_canonical_leaves_what_it_cannot_tell_alone(address: str) -> None:
    assert canonical(address) == address


def test_canonical_does_not_load_phonenumbers() -> None:
    code = "import sys, attsms.numbers as n; n.canonical('tel:5555550100'); n.display('short:1')\n"
    code += "print('phonenumbers' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize(
    ("address", "shown"),
    [(US, "+15555550100"), ("short:12345", "12345"), ("something else", "something else")],
)
def test_display(address: str, shown: str) -> None:
    assert display(address) == shown


@given(st.one_of(service_nanp, valid_short))
def test_display_inverts_the_prefix(typed: str) -> None:
    wire = normalize(typed)
    shown = display(wire)
    prefix = "tel:" if wire.startswith("tel:") else "short:"
    assert prefix + shown == wire
    assert shown[0] in "+0123456789"


def test_recipient_lines_plain_list_with_comments_and_blanks() -> None:
    text = """
# the team
(555) 555-0100
  555.555.0101   # Bob, mobile

    # on leave: 555-555-0102
+1 555 555 0103
short:12345
"""
    assert parse_recipient_lines(text) == [
        "(555) 555-0100",
        "555.555.0101",
        "+1 555 555 0103",
        "short:12345",
    ]


def test_recipient_lines_empty_file() -> None:
    assert parse_recipient_lines("") == []
    assert parse_recipient_lines("# nobody yet\n\n") == []


def test_recipient_lines_one_column_with_header() -> None:
    assert parse_recipient_lines("Phone\n5555550100\n5555550101\n") == ["5555550100", "5555550101"]


def test_recipient_lines_csv_with_header_takes_the_named_column() -> None:
    text = "name,Phone Number,notes\nAda,(555) 555-0100,first\nBob,555.555.0101,\n"
    assert parse_recipient_lines(text) == ["(555) 555-0100", "555.555.0101"]


@pytest.mark.parametrize("header", ["number", "PHONE", "To", "mobile", "mobile_number", "Cell"])
def test_recipient_lines_csv_header_names(header: str) -> None:
    assert parse_recipient_lines(f"name,{header}\nAda,5555550100\n") == ["5555550100"]


def test_recipient_lines_csv_prefers_a_phone_column_over_another_number() -> None:
    text = "Account Number,Phone\nA-1,5555550100\n"
    assert parse_recipient_lines(text) == ["5555550100"]


def test_recipient_lines_csv_header_with_other_digits_is_still_a_header() -> None:
    text = "Name,Address Line 2,Mobile\nAda,Apt 4,5555550100\n"
    assert parse_recipient_lines(text) == ["5555550100"]


def test_recipient_lines_csv_without_header_takes_the_first_column() -> None:
    text = "5555550100,Ada,send to mom\n555-555-0101,Bob,\n"
    assert parse_recipient_lines(text) == ["5555550100", "555-555-0101"]


def test_recipient_lines_csv_quoted_cells() -> None:
    text = (
        '\ufeff# exported from contacts\n"Name","Mobile"\n'
        '"Lovelace, Ada","(555) 555-0100"\n'
        '"Smith, ""Bob""","+1 555 555 0101"\n'
        '"No Phone",""\n'
        '"Short",\n'
    )
    assert parse_recipient_lines(text) == ["(555) 555-0100", "+1 555 555 0101"]


def test_recipient_lines_csv_header_without_a_number_column_is_an_error() -> None:
    with pytest.raises(UsageError, match="no phone number column in CSV header: 'name,email'"):
        parse_recipient_lines("name,email\nAda,ada@example.com\n")


def test_recipient_lines_feed_normalize_all() -> None:
    text = "to,name\n555-555-0100,Ada\n(555) 555-0100,Ada again\n12345,shortcode\n"
    assert normalize_all(parse_recipient_lines(text)) == [US, "short:12345"]


# The NANP fast path must never disagree with libphonenumber: for any typed string, in any
# region, it either declines or gives libphonenumber's answer.
typed_digits = st.text(alphabet="0123456789+1 ().-", min_size=1, max_size=16)


@given(text=typed_digits, region=st.sampled_from(["US", "CA", "GB", "BR", "us"]))
def test_nanp_fast_path_agrees_with_libphonenumber(text: str, region: str) -> None:
    from attsms.numbers import _e164_by_libphonenumber, _nanp_e164

    fast = _nanp_e164(text, region)
    if fast is None:
        return
    assert fast == _e164_by_libphonenumber(text, text, region)


@given(
    npa=st.from_regex(r"[2-9][0-9]{2}", fullmatch=True),
    nxx=st.from_regex(r"[2-9][0-9]{2}", fullmatch=True),
    line=st.from_regex(r"[0-9]{4}", fullmatch=True),
    form=st.sampled_from(["+1{}{}{}", "1{}{}{}", "({}) {}-{}", "{}.{}.{}", "+1 {} {} {}"]),
)
def test_nanp_fast_path_takes_the_common_forms(npa: str, nxx: str, line: str, form: str) -> None:
    from attsms.numbers import _nanp_e164

    assert _nanp_e164(form.format(npa, nxx, line), "US") == f"+1{npa}{nxx}{line}"
