"""Numbers as people type them -> the wire addresses the AT&T API takes.

Two wire forms exist: `tel:+<E.164>` for phone numbers and `short:<digits>` for short codes.
`normalize` is for user input and uses Google's libphonenumber rules; `canonical` is a cheap,
import-free pass over addresses the service sends back, so that both sides compare equal.

`phonenumbers` is imported inside functions only: loading its metadata costs start-up time that
`attsms --help` should not pay.
"""

from __future__ import annotations

import csv
import functools
import itertools
import re
from collections.abc import Iterable, Iterator

from attsms.core.errors import UsageError
from attsms.core.text import MAX_NAMED, first_few

TEL_PREFIX = "tel:"
SHORT_PREFIX = "short:"

# What may appear in a typed number: ASCII digits, whitespace (including the no-break spaces that
# pasting from a web page brings), the usual separators and the Unicode dashes word processors
# substitute for "-". Anything else (letters above all: vanity numbers such as 1-800-FLOWERS and
# "ext. 12" make no sense for SMS) is rejected before libphonenumber, which would silently drop or
# translate it.
_SEPARATORS = r"\s().\-/\u2010-\u2015\u2212"
# The lookahead asks for a digit without the quadratic backtracking of `[…]*[0-9][…]*`, which took
# seconds on a 20,000-character cell.
_TYPED_NUMBER = re.compile(rf"\+?(?=[^0-9]*[0-9])[0-9{_SEPARATORS}]*")
_SHORT_CODE = re.compile(r"[0-9]{3,8}")
# A bare string of 5 or 6 digits is a US short code: those are the lengths CTIA assigns, and no
# NANP number is that short, so the reading is unambiguous.
_BARE_SHORT_CODE = re.compile(r"[0-9]{5,6}")
# NANP structure: area code (NPA) and exchange (NXX) both start with 2-9.
_NANP = re.compile(r"[2-9][0-9]{2}[2-9][0-9]{6}")
# What `canonical` recognizes: a NANP number with an optional `tel:`, then `+1`, `1` or nothing.
# (`+` alone must not match: `+5555550100` is a Brazilian number, not a US one.)
_SERVICE_NANP = re.compile(r"(?:tel:)?(?:\+1|1)?([2-9][0-9]{2}[2-9][0-9]{6})", re.IGNORECASE)
_SERVICE_SHORT = re.compile(r"short:([0-9]{3,8})", re.IGNORECASE)


# Unicode format characters that change nothing a reader sees: zero-width spaces and joiners,
# LRM/RLM, bidi embeddings, overrides and isolates, word joiner, BOM.
_INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")
# Longer inputs are cut short in error messages: a whole file pasted into one cell helps no one.
_SHOWN_MAX = 40


def _shown(raw: str) -> str:
    """`raw` quoted for an error message (escapes make invisible characters visible)."""
    if len(raw) <= _SHOWN_MAX:
        return repr(raw)
    return f"{raw[:_SHOWN_MAX]!r}… ({len(raw)} characters)"


def normalize(raw: str, region: str = "US") -> str:
    """Turn a number as a person typed it into a wire address.

    Returns `tel:+<E.164>` (`tel:+15555550100`) or `short:<digits>` (`short:12345`).

    Rules:
    - Surrounding whitespace and a `tel:` prefix are ignored; digits, spaces and `( ) - . / +` may
      be mixed as people write them. Letters are rejected (no vanity numbers, no extensions).
    - Numbers without a country code are read in `region` (ISO 3166 code, "US" by default).
    - Short codes: `short:` followed by 3 to 8 digits, or a bare string of exactly 5 or 6 digits
      (US short-code lengths). Other bare short strings are errors, not guesses.
    - A number is accepted when libphonenumber calls it *possible* (right length for its country),
      not only when it calls it *valid* (an assigned range): 555-01XX numbers are reserved for
      fiction and tests and are never "valid", and ranges are assigned faster than the library's
      metadata is released; the service is the judge of whether a number is in service. For
      country code 1 the NANP structure (area code and exchange start with 2-9) is also required,
      since a length check alone lets through things like `0305550100`. A number without its area
      code (7-digit US local numbers) has no E.164 form and is refused with that hint.
    - Only numbers the service can reach are accepted: it texts US subscribers, so a number must
      be on +1 in the US or a US territory (Puerto Rico, the US Virgin Islands, Guam, American
      Samoa, the Northern Mariana Islands). +1 numbers of Canada and the Caribbean countries, told
      apart by area code as libphonenumber assigns them, and every other country code are refused
      (`UnreachableNumberError`). Area codes libphonenumber gives to no country (555, 5XX) stay
      accepted: they are NANP's and the US test ranges live there.
    - Invisible formatting characters are dropped: bidi marks and embeddings (a number copied
      from a right-to-left page or a chat app comes wrapped in them), zero-width spaces, a BOM.

    Raises `UsageError` naming the input, e.g. `not a phone number: 'abc'`.
    """
    if region == "US" and raw.isascii() and (common := _COMMON_US.fullmatch(raw)):
        area, exchange, line = common.groups()
        if area not in _NON_US_AREA_CODES:  # else the long way, which says where it is
            return f"{TEL_PREFIX}+1{area}{exchange}{line}"
    text = _INVISIBLE.sub("", raw).strip() if not raw.isascii() else raw.strip()
    if text[: len(SHORT_PREFIX)].lower() == SHORT_PREFIX:
        digits = text[len(SHORT_PREFIX) :].strip()
        if not _SHORT_CODE.fullmatch(digits):
            raise UsageError(f"not a short code (3 to 8 digits): {_shown(raw)}")
        return SHORT_PREFIX + digits
    if _BARE_SHORT_CODE.fullmatch(text):
        return SHORT_PREFIX + text
    if text[: len(TEL_PREFIX)].lower() == TEL_PREFIX:
        text = text[len(TEL_PREFIX) :].strip()
    if not _TYPED_NUMBER.fullmatch(text):
        raise UsageError(f"not a phone number: {_shown(raw)}")
    e164 = _e164(text, raw, region)
    country = _country_outside_the_us(e164)
    if country is not None:
        raise UnreachableNumberError(raw, country)
    return TEL_PREFIX + e164


def common_us_code(raw: str) -> int | None:
    """`to_code(normalize(raw))` for the common US forms `normalize` reads without
    libphonenumber (`_COMMON_US`, a US area code), None for anything else: ask `normalize`.
    A template send reads a number a row and keeps only its code, so the wire address is
    never built (a test holds the two to agree)."""
    plain = _PLAIN_US.fullmatch(raw)  # digits alone (+12125550100): int() reads them as they are
    if plain is not None:
        if plain[2] in _NON_US_AREA_CODES:
            return None
        return int(raw) if plain[1] else _COUNTRY_CODE_1 + int(raw)
    common = _COMMON_US.fullmatch(raw)
    if common is None or common[1] in _NON_US_AREA_CODES:
        return None
    return int("1" + common[1] + common[2] + common[3])


class UnreachableNumberError(UsageError):
    """A real number the service cannot text: it reaches US subscribers only.

    Sending it would fail its whole batch of 50 at the service, so it is refused before anything
    is sent, like a typo.
    """

    def __init__(self, raw: str, country: str) -> None:
        super().__init__(f"not a US number: {_shown(raw)} ({country})", hint=_UNREACHABLE_HINT)
        self.raw = raw
        self.country = country


_UNREACHABLE_HINT = "the service texts US numbers (+1) and short codes only"
# The libphonenumber regions on +1 whose subscribers are US subscribers: the states and the
# territories that share the US numbering plan with it.
_US_REGIONS = frozenset({"US", "PR", "VI", "GU", "AS", "MP"})


def is_us_area_code(area_code: str) -> bool:
    """Whether numbers on +1 with this (3-digit) area code are the service's to reach."""
    country = _nanp_country(area_code)
    return country is None or country in _US_REGIONS


def _country_outside_the_us(e164: str) -> str | None:
    """Where `e164` is, if that is outside the US (`GB`, `CA`, `JM`, or `+800`); None if not."""
    if e164.startswith("+1"):
        return None if is_us_area_code(e164[2:5]) else _nanp_country(e164[2:5])
    import phonenumbers

    number = phonenumbers.parse(e164)
    region = phonenumbers.region_code_for_number(number)
    if region is None or region == phonenumbers.UNKNOWN_REGION or region == "001":
        return f"+{number.country_code}"
    return region


# Canadian area codes set aside (relief overlays not yet in service, and non-geographic codes
# reserved for Canada) that libphonenumber does not list yet: never the US's. The sandbox's own
# table, written from NANPA's and the Canadian Numbering Administrator's lists, has them too.
_CANADA_RESERVED = frozenset({"387", "460", "644", "655", "677", "688"})


@functools.cache
def _nanp_country(area_code: str) -> str | None:
    """The country libphonenumber assigns a NANP area code to (or Canada, for the codes it has
    set aside), None if none.

    Within +1 the area code alone decides the country; libphonenumber says so per region with a
    leading-digits pattern (Caribbean countries) or a number pattern (the US, Canada). The US comes
    first in its list, so shared non-geographic codes (toll-free 8XX) stay the US's. A probe number
    with a valid exchange stands for the whole area code, and caching per area code keeps 10,000
    recipients cheap.
    """
    if area_code in _CANADA_RESERVED:
        return "CA"
    import phonenumbers

    probe = f"{area_code}2345678"
    number = phonenumbers.parse("+1" + probe)
    for region in phonenumbers.region_codes_for_country_code(1):
        metadata = phonenumbers.PhoneMetadata.metadata_for_region(region)
        leading = metadata.leading_digits if metadata is not None else None
        if (
            re.match(leading, probe)
            if leading
            else phonenumbers.is_valid_number_for_region(number, region)
        ):
            return str(region)
    return None


# The forms most lists hold, in one regex (a million numbers a few seconds sooner): +1 212 555 0100,
# (212) 555-0100, 212.555.0100, 12125550100. Each is one `_nanp_e164` reads the same way.
_COMMON_US = re.compile(
    r"\s*(?:\+?1[ .\-]?)?\(?([2-9][0-9]{2})\)?[ .\-]?([2-9][0-9]{2})[ .\-]?([0-9]{4})\s*", re.ASCII
)
# `_COMMON_US` without separators, the form most exports hold.
_PLAIN_US = re.compile(r"(\+?1)?([2-9][0-9]{2})[2-9][0-9]{6}")
_COUNTRY_CODE_1 = 10**10  # +1 before a 10-digit NANP number, as an int
# NANP area codes libphonenumber gives to Canada and the Caribbean, and those Canada has set aside
# (`is_us_area_code` False for all of them), so
# that a US number is read without importing libphonenumber (~25 ms of a one-number send). A test
# holds it equal to libphonenumber's answer for every area code.
_NON_US_AREA_CODE_LIST = (
    "204 226 236 242 246 249 250 257 263 264 268 273 284 289 306 343 345 354 365 367 368 382 "
    "387 403 416 418 428 431 437 438 441 450 460 468 473 474 506 514 519 548 579 581 584 587 "
    "600 604 613 622 633 639 644 647 649 655 658 664 672 677 683 688 705 709 721 742 753 758 "
    "767 778 780 782 784 807 809 819 825 829 849 867 868 869 873 876 879 902 905 942"
)
_NON_US_AREA_CODES = frozenset(_NON_US_AREA_CODE_LIST.split())
_STRIP_SEPARATORS = re.compile(rf"[{_SEPARATORS}]")
# A NANP number once separators are gone: +1 or 1 or nothing, then NPA-NXX-XXXX.
_NANP_DIGITS = re.compile(r"(\+1|1)?([2-9][0-9]{2}[2-9][0-9]{6})")


def _e164(text: str, raw: str, region: str) -> str:
    """E.164 for a string already known to hold only digits and separators."""
    return _nanp_e164(text, region) or _e164_by_libphonenumber(text, raw, region)


def _nanp_e164(text: str, region: str) -> str | None:
    """The common case without libphonenumber (~30x faster, and 10,000 recipients are common).

    Only where the answer is certain: `+1` followed by a NANP number in any region, or a NANP
    number with or without a leading 1 when the region is US. A test holds it to agree with
    libphonenumber on every input it accepts.
    """
    match = _NANP_DIGITS.fullmatch(_STRIP_SEPARATORS.sub("", text))
    if match is None or (match.group(1) != "+1" and region.upper() != "US"):
        return None
    return "+1" + match.group(2)


def _e164_by_libphonenumber(text: str, raw: str, region: str) -> str:
    import phonenumbers

    try:
        number = phonenumbers.parse(text, check_region(region))
    except phonenumbers.NumberParseException:
        raise UsageError(f"not a phone number: {_shown(raw)}") from None
    reason = phonenumbers.is_possible_number_with_reason(number)
    if reason == phonenumbers.ValidationResult.IS_POSSIBLE_LOCAL_ONLY:
        # Dialable only inside its own area (555-0100 in the US): there is no E.164 form.
        raise UsageError(f"not a phone number: {_shown(raw)}", hint="include the area code")
    if reason != phonenumbers.ValidationResult.IS_POSSIBLE:
        raise UsageError(f"not a phone number: {_shown(raw)}")
    # For +1 libphonenumber checks only the length, which lets 0305550100 or 1235550100 through.
    if number.country_code == 1 and not _NANP.fullmatch(
        phonenumbers.national_significant_number(number)
    ):
        raise UsageError(f"not a phone number: {_shown(raw)}")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def check_region(region: str) -> str:
    """The region code in the form phonenumbers wants; a wrong one is a config mistake, not a
    bad number, so it gets its own message."""
    import phonenumbers

    code = region.upper()
    if code not in phonenumbers.SUPPORTED_REGIONS:
        raise UsageError(f"unknown region {region!r}", hint="use a two-letter code such as US")
    return code


def normalize_all(raws: Iterable[str], region: str = "US") -> list[str]:
    """Normalize every entry, dropping duplicates (same wire address) and keeping first-seen order.

    All-or-nothing: if any entry is bad, raise one `UsageError` that names every bad entry (the
    first few, then how many more), so a list can be fixed in one pass. Entries that are not
    numbers and numbers outside the US are named in separate lists.
    """
    return list(dict.fromkeys(normalize_each(raws, region)))


def normalize_each(raws: Iterable[str], region: str = "US") -> Iterator[str]:
    """`normalize_all` one entry at a time, duplicates kept: yields each good entry's address,
    then, once `raws` is exhausted, raises the one `UsageError` if any entry was bad. Holds only
    the first few bad entries, so a million-line file costs no memory here."""
    if region.upper() != "US":  # US needs no check, and no libphonenumber import for it
        check_region(region)  # once, rather than blamed on every number
    first: UsageError | None = None
    garbage: list[str] = []
    foreign: list[str] = []
    counts = [0, 0]  # not numbers, not US numbers
    for raw in raws:
        try:
            address = normalize(raw, region)
        except UsageError as exc:
            first = first or exc
            if isinstance(exc, UnreachableNumberError):
                counts[1] += 1
                if len(foreign) <= MAX_NAMED:
                    foreign.append(f"{_shown(exc.raw)} ({exc.country})")
            else:
                counts[0] += 1
                if len(garbage) <= MAX_NAMED:
                    garbage.append(_shown(raw))
            continue
        if first is None:
            yield address
    if first is None:
        return
    if counts[0] + counts[1] == 1:
        raise first
    parts = []
    if counts[0]:
        parts.append("not phone numbers: " + first_few(garbage, counts[0]))
    if counts[1]:
        parts.append("not US numbers: " + first_few(foreign, counts[1]))
    raise UsageError("; ".join(parts), hint=_UNREACHABLE_HINT if counts[1] else None)


def to_code(address: str) -> int:
    """A wire address as one int64: `tel:+E164` its digits (> 0), `short:NNN` -(1NNN) (< 0; the
    1 keeps leading zeros). ValueError for anything else."""
    if address.startswith("tel:+") and address[5:].isdigit() and address[5] != "0":
        code = int(address[5:])
    elif address.startswith("short:") and address[6:].isdigit():
        code = -int("1" + address[6:])
    else:
        raise ValueError(address)
    if not -(2**62) < code < 2**62:
        raise ValueError(address)
    return code


def from_code(code: int) -> str:
    """The wire address `to_code` made `code` of."""
    return f"tel:+{code}" if code > 0 else f"short:{str(-code)[1:]}"


def display(address: str) -> str:
    """A wire address as people read it: `tel:+15555550100` -> `+15555550100`, `short:12345` ->
    `12345`. Anything else comes back unchanged."""
    for prefix in (TEL_PREFIX, SHORT_PREFIX):
        if address.startswith(prefix):
            return address[len(prefix) :]
    return address


def canonical(address: str) -> str:
    """The wire form of an address the service sent back, without loading phonenumbers.

    The service has been seen writing the same number as `tel:+15555550100`, `tel:15555550100`,
    `tel:5555550100`, `+15555550100` or bare digits. NANP numbers (the service is AT&T's: US
    numbers) and short codes (`short:NNN`, or bare 5-6 digits) get the form `normalize` gives them
    with the default region; anything else is returned unchanged rather than guessed at.
    """
    text = address.strip()
    if m := _SERVICE_NANP.fullmatch(text):
        return f"{TEL_PREFIX}+1{m.group(1)}"
    if m := _SERVICE_SHORT.fullmatch(text):
        return SHORT_PREFIX + m.group(1)
    if _BARE_SHORT_CODE.fullmatch(text):
        return SHORT_PREFIX + text
    return address


def parse_recipient_lines(text: str) -> list[str]:
    """Recipients from a `--to-file`: raw strings for `normalize_all`, in file order.

    Two shapes are read:
    - lines of numbers, no header. Cells are cut at commas, semicolons and tabs, and every cell
      that holds 3 or more digits (every number and short code does) is a recipient, so
      `2125550100, 2125550101` is two and `2125550100,Ada` one: nobody on a line is dropped. A
      line with cells but no number gives its first cell, which is then refused as a number;
      `#` also starts a comment at the end of a line (a number never holds one);
    - CSV with a header, when the first line that is neither blank nor a comment holds a comma,
      a semicolon or a tab (its delimiter) and none of its cells holds 3 or more digits ("Address
      Line 2" does not). A header must have a column named like `phone`, `mobile`, `number` or
      `to` (any case; "Phone Number", "mobile_no" count too), and only one column named by a
      whole such name (`phone,phone` and `Phone,Mobile` are refused): that column is taken.
      Empty cells are skipped (contact exports leave the phone blank for some people).
    A one-column file may start with such a header too (`phone` alone on the first line).
    Blank lines and lines starting with `#` are ignored in both shapes; a UTF-8 BOM is ignored.
    Raises `UsageError` for a CSV header without a number column, or with two.
    """
    return list(iter_recipient_lines(text.removeprefix("\ufeff").splitlines()))


def iter_recipient_lines(lines: Iterable[str]) -> Iterator[str]:
    """`parse_recipient_lines` over lines as they are read (no line ends needed), one entry at a
    time: a list of a million numbers is never held as strings. Raises `UsageError` as it goes."""
    kept = (line for line in lines if line.strip() and not line.lstrip().startswith("#"))
    first = next(kept, None)
    if first is None:
        return
    first = first.removeprefix("\ufeff")
    delimiter = next((d for d in _CELL_SEPARATORS if d in first), None)
    try:
        if delimiter is None or not _is_header(_split_cells(first)):
            if delimiter is None and _is_header([first]):
                entry = first.split("#", 1)[0].strip()
                if entry and _header_column([entry]) is None:
                    yield entry  # not a number, and no header name: refused by name later
                first = ""
            yield from _header_less(itertools.chain([first], kept))
            return
        rows = csv.reader(itertools.chain([first], kept), delimiter=delimiter)
        column = _number_column(next(rows), first)
        for row in rows:
            cell = row[column].strip() if column < len(row) else ""
            if cell:
                yield cell
    except csv.Error as error:  # a quote left open runs into a cell past csv's field size limit
        raise UsageError(
            f"the recipient file is not valid CSV ({error})", hint="check its quotes"
        ) from None


# What separates the cells of a line: a comma (CSV), a semicolon (CSV as Excel writes it where
# the decimal mark is a comma), a tab (a spreadsheet's copy and paste).
_CELL_SEPARATORS = (",", ";", "\t")
_CELL_SEPARATOR = re.compile("[,;\t]")
_ONE_CELL = re.compile("[,;\t#]")  # a line with none of these is one cell


def _split_cells(line: str) -> list[str]:
    return [cell.strip().strip('"').strip() for cell in _CELL_SEPARATOR.split(line)]


def _header_less(lines: Iterable[str]) -> Iterator[str]:
    """The recipients of lines with no header: every cell that holds a number (3 digits or
    more, as `_is_header` tells) is one, so `2125550100, 2125550101` is two and nobody is left
    out; other cells (names, notes) are not numbers and are passed over. A line with cells but
    no number gives its first cell, to be refused by name as a number (a comment after `#` and
    empty cells are not cells)."""
    for line in lines:
        if _ONE_CELL.search(line) is None:  # the common line, one number: no cells to weigh
            cell = line.strip().strip('"').strip()
            if cell:
                yield cell
            continue
        cells = [c for c in _split_cells(line.split("#", 1)[0]) if c]
        numbers = [c for c in cells if not _is_header([c])]
        yield from numbers or cells[:1]


def _number_column(header: list[str], line: str) -> int:
    """The index of the number column of a CSV `header`: one cell must name it; two cells that
    both do (`phone,phone`, `Phone,Mobile`) are refused, since attsms would text one column."""
    found = _header_column(header)
    if found is None:
        raise UsageError(
            f"no phone number column in CSV header: {_shown(line.strip())}",
            hint="name the column phone, mobile, number or to",
        )
    names = [re.sub(r"[^a-z0-9]+", " ", cell.lower()).strip() for cell in header]
    columns = [i for i, name in enumerate(names) if name in _HEADER_NAMES]
    if len(columns) > 1:
        shown = " and ".join(f"{header[i].strip()!r} (column {i + 1})" for i in columns[:3])
        raise UsageError(
            f"the CSV header names more than one number column: {shown}",
            hint="keep one number column a row (or rename the others): attsms texts one",
        )
    return found


def _is_header(cells: list[str]) -> bool:
    """A first row is a header when no cell could hold a number (3 digits or more)."""
    return not any(sum(ch in "0123456789" for ch in cell) >= 3 for cell in cells)


# Header names for the number column, after lower-casing and turning runs of anything but letters
# and digits into one space. Whole names win over a single word, so "Account Number,Phone" takes
# "Phone"; among words, the order here decides.
_HEADER_NAMES = ("phone", "phone number", "mobile", "mobile number", "cell", "to", "number", "tel")
_HEADER_WORDS = ("phone", "mobile", "cell", "telephone", "tel", "msisdn", "to", "number")


def _header_column(cells: list[str]) -> int | None:
    """The index of the header cell naming the number column, or None if no cell does."""
    names = [re.sub(r"[^a-z0-9]+", " ", cell.lower()).strip() for cell in cells]
    for wanted in _HEADER_NAMES:
        if wanted in names:
            return names.index(wanted)
    for word in _HEADER_WORDS:
        for i, name in enumerate(names):
            if word in name.split():
                return i
    return None
