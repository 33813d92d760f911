"""Issue 16: the fast path `normalize` takes for common US forms reads them as the long way does."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from attsms.core.errors import UsageError
from attsms.core.numbers import common_us_code, normalize, to_code

_SEPARATOR = st.sampled_from(["", " ", "-", ".", "  ", "/", "\t"])
_DIGITS = st.text(alphabet="0123456789", min_size=3, max_size=4)


def _long_way(raw: str) -> str:
    # A region spelled in lower case is the same region, read without the fast path.
    try:
        return normalize(raw, region="us")
    except UsageError as error:
        return f"error: {error.message}"


def _fast(raw: str) -> str:
    try:
        return normalize(raw)
    except UsageError as error:
        return f"error: {error.message}"


@given(
    prefix=st.sampled_from(["", "1", "+1", "+", "+ 1", "11", " "]),
    parens=st.booleans(),
    area=_DIGITS,
    exchange=_DIGITS,
    line=_DIGITS,
    seps=st.tuples(_SEPARATOR, _SEPARATOR, _SEPARATOR),
    pad=st.sampled_from(["", " ", "\n"]),
)
def test_common_forms_read_as_the_long_way_reads_them(
    prefix: str,
    parens: bool,
    area: str,
    exchange: str,
    line: str,
    seps: tuple[str, str, str],
    pad: str,
) -> None:
    shown_area = f"({area})" if parens else area
    raw = f"{pad}{prefix}{seps[0]}{shown_area}{seps[1]}{exchange}{seps[2]}{line}{pad}"
    assert _fast(raw) == _long_way(raw)


def test_a_number_outside_the_us_still_says_where_it_is() -> None:
    assert _fast("+1 416 555 0100") == _long_way("+1 416 555 0100")
    assert "CA" in _fast("(416) 555-0100")


@given(st.lists(st.integers(min_value=0, max_value=30), min_size=1, max_size=200))
def test_a_plan_keeps_each_recipient_once_in_first_seen_order(picks: list[int]) -> None:
    from attsms.send.plan import plan_send

    pool = [f"+1 212 555 {100 + i:04d}" for i in range(25)] + ["12345", "short:0123"] * 3
    raws = [pool[i % len(pool)] for i in picks]
    expected = list(dict.fromkeys(normalize(raw) for raw in raws))
    planned = plan_send(raws, "hi")
    assert list(planned.addresses) == expected
    assert sorted(planned.addresses) == list(planned.job_batches[0]) or len(expected) > 50


def test_a_keyed_plan_sorts_as_the_strings_sort() -> None:
    from attsms.send.plan import plan_send

    raws = ["short:200", "12345", "short:0999", "+1 212 555 0101", "2125550100", "short:123"]
    planned = plan_send(raws, "hi")
    assert list(planned.job_batches[0]) == sorted(normalize(raw) for raw in raws)


def test_the_non_us_area_codes_are_libphonenumbers() -> None:
    from attsms.core.numbers import _NON_US_AREA_CODES, is_us_area_code

    for code in range(200, 1000):
        assert (str(code) in _NON_US_AREA_CODES) == (not is_us_area_code(str(code))), code


def test_a_us_number_is_read_without_libphonenumber() -> None:
    import subprocess
    import sys

    code = "import sys; from attsms.core.numbers import normalize; normalize('(212) 555-0100');"
    code += "print('phonenumbers' in sys.modules)"
    argv = [sys.executable, "-c", code]
    result = subprocess.run(argv, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_a_recipient_file_read_in_blocks_reads_as_the_whole_file(tmp_path: Path) -> None:
    from attsms.core.numbers import parse_recipient_lines
    from attsms.send.input import read_input

    # Over several 64 KB blocks, with CRLF line ends, a BOM and a comment, so that block edges
    # fall inside lines and between \r and \n.
    lines = [f"+1 (212) 555-{i % 10000:04d}  # row {i}" for i in range(9000)]
    text = "\ufeff# staff\r\n" + "\r\n".join(lines) + "\r\n\r\n" + "2125550199"
    path = tmp_path / "to.txt"
    path.write_bytes(text.encode("utf-8"))
    entries = list(read_input([], to_file=str(path), message="hi").numbers)
    assert entries == parse_recipient_lines(text.removeprefix("\ufeff"))
    assert len(entries) == 9001


def _code_the_long_way(raw: str) -> int | None:
    try:
        return to_code(normalize(raw, region="us"))
    except UsageError:
        return None


@given(
    prefix=st.sampled_from(["", "1", "+1", "+", "+ 1", "11", " ", "01", "+11"]),
    parens=st.booleans(),
    area=_DIGITS,
    exchange=_DIGITS,
    line=_DIGITS,
    seps=st.tuples(_SEPARATOR, _SEPARATOR, _SEPARATOR),
    pad=st.sampled_from(["", " ", "\n"]),
)
def test_the_code_of_a_common_form_is_the_code_of_its_wire_address(
    prefix: str,
    parens: bool,
    area: str,
    exchange: str,
    line: str,
    seps: tuple[str, str, str],
    pad: str,
) -> None:
    shown_area = f"({area})" if parens else area
    raw = f"{pad}{prefix}{seps[0]}{shown_area}{seps[1]}{exchange}{seps[2]}{line}{pad}"
    code = common_us_code(raw)
    assert code is None or code == _code_the_long_way(raw)
    if not pad and not parens and seps == ("", "", "") and prefix in ("", "1", "+1"):
        assert code == _code_the_long_way(raw)  # the plain form is always read fast when good


@given(st.text(alphabet="+1234567890 ().-\t", max_size=16) | st.text(max_size=16))
def test_any_text_has_the_code_of_its_wire_address_or_none(raw: str) -> None:
    code = common_us_code(raw)
    assert code is None or code == _code_the_long_way(raw)


def test_every_area_code_in_the_plain_form_is_read_as_the_long_way_reads_it() -> None:
    for area in range(200, 1000):
        for raw in (f"+1{area}2345678", f"1{area}2345678", f"{area}2345678"):
            assert common_us_code(raw) in (None, _code_the_long_way(raw)), raw
            assert (common_us_code(raw) is None) == (_code_the_long_way(raw) is None), raw
