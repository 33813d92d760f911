"""Numbers as people type them, and addresses as the service writes them."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import phonenumbers
import pytest
from hypothesis import given
from hypothesis import strategies as st

from attsms.core.errors import ExitCode, UsageError
from attsms.core.numbers import (
    UnreachableNumberError,
    canonical,
    display,
    is_us_area_code,
    normalize,
    normalize_all,
    parse_recipient_lines,
)
from tests.helpers.support import Cli, SandboxHttp

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
        ("+1 787 234 5678", "tel:+17872345678"),  # Puerto Rico: a US territory
        ("+1 340 234 5678", "tel:+13402345678"),  # US Virgin Islands
        ("+1 671 234 5678", "tel:+16712345678"),  # Guam
        ("1-800-234-5678", "tel:+18002345678"),  # toll-free: shared, the service judges
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
    # The region changes how a number is read, not which numbers the service can reach.
    for region in ("GB", "gb"):
        with pytest.raises(UnreachableNumberError, match=r"'020 7946 0958' \(GB\)"):
            normalize("020 7946 0958", region=region)
    assert normalize("787 234 5678", region="PR") == "tel:+17872345678"
    # A number with its country code is the same wherever it is read.
    assert normalize("+1 555 555 0100", region="GB") == US


@pytest.mark.parametrize(
    ("typed", "country"),
    [
        ("+442071234567", "GB"),
        ("+44 20 7946 0958", "GB"),
        ("011 44 20 7946 0958", "GB"),  # US international dialing prefix
        ("tel:+33 1 23 45 67 89", "FR"),
        ("+52 55 1234 5678", "MX"),
        ("+800 1234 5678", "+800"),  # international freephone: no country at all
        ("+1 416 555 0100", "CA"),  # Canada shares +1 but is not the US
        ("(604) 555-0100", "CA"),
        ("1-876-555-0100", "JM"),  # and so do the Caribbean countries
        ("+1 809 234 5678", "DO"),
        ("+1 441 234 5678", "BM"),
        ("+1 649 234 5678", "TC"),  # invalid for libphonenumber, but in TC's area code
    ],
)
def test_numbers_the_service_cannot_reach_are_refused_naming_the_country(
    typed: str, country: str
) -> None:
    with pytest.raises(UnreachableNumberError) as info:
        normalize(typed)
    assert str(info.value).startswith(f"not a US number: {typed!r} ({country})")
    assert "US numbers (+1) and short codes only" in str(info.value)
    assert info.value.exit_code == ExitCode.USAGE


def test_normalize_all_names_unreachable_numbers_apart_from_garbage() -> None:
    raws = ["5555550100", "abc", "+442071234567", "short:12345", "+14165550100", "12"]
    with pytest.raises(UsageError) as info:
        normalize_all(raws)
    assert str(info.value) == (
        "not phone numbers: 'abc', '12'; "
        "not US numbers: '+442071234567' (GB), '+14165550100' (CA); "
        "the service texts US numbers (+1) and short codes only"
    )
    with pytest.raises(UnreachableNumberError, match=r"'\+442071234567' \(GB\)"):
        normalize_all(["5555550100", "+442071234567"])  # one bad entry: its own error


# Every NANP area code, with exchanges and lines libphonenumber calls valid and the 555-01XX
# test numbers it does not.
nanp_numbers = st.builds(
    lambda a, x, ln: f"+1{a}{x}{ln:04d}",
    st.integers(200, 999),
    st.integers(200, 999),
    st.integers(0, 9999),
)


@given(nanp_numbers)
def test_nanp_numbers_are_reachable_unless_libphonenumber_puts_them_outside_the_us(
    typed: str,
) -> None:
    region = phonenumbers.region_code_for_number(phonenumbers.parse(typed))
    if region in (None, "US", "PR", "VI", "GU", "AS", "MP"):
        if region is not None:  # numbers libphonenumber places in no country may be in any
            assert normalize(typed) == "tel:" + typed
        return
    with pytest.raises(UnreachableNumberError, match=rf"\({region}\)"):
        normalize(typed)


def test_area_codes_of_other_nanp_countries_are_all_refused() -> None:
    for area_code in range(200, 1000):
        number = phonenumbers.parse(f"+1{area_code}2345678")
        region = phonenumbers.region_code_for_number(number)
        if region in (None, "US", "PR", "VI", "GU", "AS", "MP"):
            continue
        with pytest.raises(UnreachableNumberError):
            normalize(f"+1{area_code}2345678")
        with pytest.raises(UnreachableNumberError):  # the fast path too
            normalize(f"{area_code}-234-5678")


@given(st.sampled_from(sorted(phonenumbers.SUPPORTED_REGIONS)))
def test_every_other_countrys_example_number_is_refused(region: str) -> None:
    example = phonenumbers.example_number(region)
    if example is None or example.country_code == 1:
        return
    typed = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    with pytest.raises(UnreachableNumberError):
        normalize(typed)
    national = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.NATIONAL)
    try:  # read in its own region, without the country code
        wire = normalize(national, region)
    except UnreachableNumberError:
        return
    assert wire.startswith("short:")  # 5 or 6 digits are a US short code wherever typed


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
# Any US area code: NANP area codes libphonenumber gives to no other country (555 included).
US_AREA_CODES = [str(a) for a in range(200, 1000) if is_us_area_code(str(a))]
npa = st.sampled_from(US_AREA_CODES)
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
        try:
            assert normalize(address) == result
        except UnreachableNumberError:
            return  # canonical reads what the service wrote; it does not judge reach
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
    code = (
        "import sys, attsms.core.numbers as n; "
        "n.canonical('tel:5555550100'); n.display('short:1')\n"
    )
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
    from attsms.core.numbers import _e164_by_libphonenumber, _nanp_e164

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
    from attsms.core.numbers import _nanp_e164

    assert _nanp_e164(form.format(npa, nxx, line), "US") == f"+1{npa}{nxx}{line}"


def test_send_refuses_numbers_it_cannot_reach_before_sending_anything(
    cli: Cli, sandbox_http: Callable[..., SandboxHttp], tmp_path: Path
) -> None:
    server = sandbox_http()
    # 121 recipients with one UK and one Canadian number: the service would fail their batches.
    numbers = [f"+1212555{n:04d}" for n in range(119)] + ["+442071234567", "+1 416 555 0100"]
    path = tmp_path / "to.txt"
    path.write_text("\n".join(numbers) + "\n")
    for extra in ([], ["--dry-run"], ["--dry-run", "--json"]):
        result = cli.process("send", "--to-file", str(path), "-m", "hi", *extra, env=server.env())
        assert result.exit_code == 2, (extra, result.stdout, result.stderr)
        assert result.stdout == ""
        [line] = result.stderr.splitlines()
        assert line.startswith("attsms: error: not US numbers: ")
        assert "'+442071234567' (GB)" in line and "'+1 416 555 0100' (CA)" in line
    stats = server.stats()
    assert (stats["send_requests"], stats["delivered_to"]) == (0, {})


def test_recipient_lines_without_header_take_every_number_of_a_line() -> None:
    text = '5555550100, 555-555-0101;"(555) 555-0102"\tAda\n5555550103,Bob,2 kids\n'
    assert parse_recipient_lines(text) == [
        "5555550100",
        "555-555-0101",
        "(555) 555-0102",
        "5555550103",
    ]


def test_recipient_lines_a_line_with_no_number_is_kept_to_be_refused_by_name() -> None:
    assert parse_recipient_lines("5555550100\nAda,Bob\n,,\n") == ["5555550100", "Ada"]


@pytest.mark.parametrize("header", ["phone,phone", "Phone,Mobile", "to;Phone Number"])
def test_recipient_lines_a_header_naming_two_number_columns_is_an_error(header: str) -> None:
    with pytest.raises(UsageError, match="more than one number column"):
        parse_recipient_lines(f"{header}\n5555550100,5555550101\n")


def test_recipient_lines_csv_by_semicolon_or_tab() -> None:
    assert parse_recipient_lines("name;phone\nAda;5555550100\n") == ["5555550100"]
    assert parse_recipient_lines("name\tphone\nAda\t5555550100\n") == ["5555550100"]
