"""Hostile input: numbers, messages, files and config as a careless or malicious user gives them.

Every input must end in success (when it is in fact fine) or in ONE line on stderr,
`attsms: error: …` naming the bad part, with exit 2 (bad input) and nothing on stdout. Never a
traceback, never `unexpected …`, never another exit code.

The corpus is generated here from a seeded RNG (no data file): numbers, message texts, recipient
files (plain and CSV), config files and command arguments, at least 1,000 inputs in all (the
counts are asserted and printed by `test_corpus_size`). Almost all run in-process through
`attsms --sandbox send --dry-run` (no network, ~7 ms each); a sample runs as real processes, for
what only a process has: argv bytes that are not UTF-8, and raw bytes on stdin. Hypothesis
property tests hold the parsers underneath to the same contract with inputs no list thinks of.

What it found, all fixed in the core (minimal edits):
- numbers: 20,000 digits took seconds (quadratic regex backtracking; 100 kB would hang) and a
  100 kB cell was echoed whole into the error; a number pasted with bidi marks around it (as
  chat apps copy it) or a zero-width space in it was refused;
- recipient files: a CSV quote left open past 128 kB raised csv.Error; `--to-file ''` blamed "a
  directory"; `--message-file /dev/zero`, `--to-file /dev/zero` and `yes | attsms send` read until
  memory ran out (now bounded: 1 MB for a message, 64 MB for recipients);
- config: a BOM made it "not valid TOML"; deep nesting raised RecursionError; `http://[::1`, a
  port of `abc`, a query, or user:password in a base URL crashed or misrouted (and a password
  would be echoed);
- arguments: bytes that are not UTF-8 in argv or an ATTSMS_ variable crashed `status`,
  `inbox pull`, `--dedupe-key` and the token call; such a secret piped to `login` crashed; NaN for
  --timeout/--interval/--lock-timeout waited 0 s, forever, or crashed; `--limit` past 2**63
  crashed SQLite; an empty message ID was sent to the service; `status ..` and `inbox pull ..`
  asked for another path (a dot segment); `sandbox inject --url http://[::1` crashed.
"""

from __future__ import annotations

import os
import random
import re
import string
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from attsms.auth.config import load_config
from attsms.core.errors import ConfigError, UsageError
from attsms.core.numbers import normalize, normalize_all, parse_recipient_lines
from attsms.core.segments import MAX_MESSAGE_BYTES, analyze, check_message
from tests.helpers.support import Cli, Result, SandboxHttp

SEED = 9_2024
DRY_RUN = ("--sandbox", "send", "--dry-run", "--json")
# Printed by test_corpus_size; each generator's size is also asserted where it is used.
MINIMUM = {"numbers": 300, "messages": 300, "recipient files": 150, "config files": 150}


def rng_for(name: str) -> random.Random:
    return random.Random(f"{SEED}:{name}")


# --- what a user must see --------------------------------------------------------------------


def refused(result: Result, *named: str, code: int = 2) -> str | None:
    """None when `result` is a clean refusal naming every one of `named`; else what is wrong."""
    lines = result.stderr.splitlines()
    if result.exit_code != code:
        return f"exit {result.exit_code}, wanted {code}: {result.stderr!r}"
    if len(lines) != 1 or not lines[0].startswith("attsms: error: "):
        return f"not one error line: {result.stderr!r}"
    if "error: unexpected" in lines[0] or "Traceback" in result.stderr:
        return f"a crash: {result.stderr!r}"
    if result.stdout:
        return f"stdout not empty: {result.stdout[:200]!r}"
    # The error line folds runs of spaces into one, as it does the message's own whitespace.
    missing = [name for name in named if " ".join(name.split()) not in lines[0]]
    return f"{missing} not named in {lines[0]!r}" if missing else None


def accepted(result: Result) -> dict[str, Any] | str:
    """The `--dry-run --json` document, or what is wrong."""
    if result.exit_code != 0 or "error" in result.stderr:
        return f"exit {result.exit_code}: {result.stderr!r}"
    document: dict[str, Any] = result.json()
    return document


def shown(raw: str) -> str:
    """How an error message quotes a typed number: repr, the first 40 characters of a long one."""
    return repr(raw) if len(raw) <= 40 else repr(raw[:40])


def check_all(cases: list[Any], judge: Callable[[Any], str | None]) -> None:
    """Run every case; fail once at the end listing the first few failures (all are counted)."""
    failures = [(case, problem) for case in cases if (problem := judge(case)) is not None]
    shown_failures = "\n".join(f"{case!r:.200}: {problem}" for case, problem in failures[:8])
    assert not failures, f"{len(failures)} of {len(cases)} failed:\n{shown_failures}"


# --- numbers ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class NumberCase:
    raw: str
    expected: str | None  # what --dry-run shows (+1NNNNNNNNNN, 12345); None: must be refused
    why: str


VALID_LAYOUTS = (
    "+1 ({a}) {b}-{c}",
    "({a}) {b}-{c}",
    "{a}.{b}.{c}",
    "1-{a}-{b}-{c}",
    "+1{a}{b}{c}",
    "{a}{b}{c}",
    "1{a}{b}{c}",
    "tel:+1{a}{b}{c}",
    "TEL:+1-{a}-{b}-{c}",
    "tel: +1 {a} {b} {c}",
    "  +1 {a} {b} {c}\t",
    "+1 {a} {b} {c}\n",
    "+1\u00a0{a}\u00a0{b}\u00a0{c}",  # no-break spaces, from a web page
    "{a}\u2013{b}\u2013{c}",  # en dashes, from a word processor
    "{a}\u2212{b}\u2212{c}",  # minus signs
    "{a}/{b}-{c}",
    "\u202a+1 {a}-{b}-{c}\u202c",  # as chat apps copy a number: inside bidi embedding marks
    "\u200e{a} {b} {c}",  # a left-to-right mark in front
    "{a}\u200b{b}\u200b{c}",  # zero-width spaces
    "\ufeff{a}{b}{c}",  # a BOM glued to the first cell
)
# Characters no phone number holds: each makes a valid number invalid wherever it goes.
JUNK = ("a", "x", "O", "l", "#", "*", ",", ";", "\x00", "\x1b", "%", "@", "\\", "?", "😀", "ext")
FOREIGN_DIGITS = ("٠١٢٣٤٥٦٧٨٩", "０１２３４５６７８９", "०१२३४५६७८९", "𝟎𝟏𝟐𝟑𝟒𝟓𝟔𝟕𝟖𝟗")
ODD_NUMBERS = (
    "",
    " ",
    "\t",
    "\u00a0",
    "\u3000",
    "\x00",
    "\udcff",  # a byte that is not UTF-8, as argv hands it over
    "\ud800",
    "+",
    "++12125550100",
    "+-",
    "()",
    "tel:",
    "tel:tel:+12125550100",
    "tel:+12125550100;ext=12",
    "tel:+12125550100?x=1",
    "tel://+12125550100",
    "sms:+12125550100",
    "TEL:short:12345",
    "short:",
    "short:12",
    "short:123456789",
    "short:12a45",
    "short:+12345",
    "mailto:someone@example.com",
    "1-800-FLOWERS",
    "+1 212 555 0100 ext. 12",
    "12",
    "1234",
    "1234567",
    "5550100",
    "555-0100",
    "+1 012 555 0100",  # area codes start with 2-9
    "+1 112 555 0100",
    "+1 212 055 0100",  # so do exchanges
    "+1 212 155 0100",
    "+1 212 555 010",
    "+1 212 555 01000",
    "212555010",
    "21255501000",
    "2125550100\x00",
    "\x002125550100",
    "212\x00555\x000100",
    "+1 212 555 0100 😀",
    "2125550100" * 3,
)


def _nanp(rng: random.Random) -> tuple[str, str, str]:
    from attsms.core.numbers import is_us_area_code

    area = f"{rng.randint(2, 9)}{rng.randint(0, 99):02d}"
    while not is_us_area_code(area):  # the service texts US numbers only (Canada is refused)
        area = f"{rng.randint(2, 9)}{rng.randint(0, 99):02d}"
    return (area, f"{rng.randint(2, 9)}{rng.randint(0, 99):02d}", f"{rng.randint(0, 9999):04d}")


def number_corpus() -> list[NumberCase]:
    rng = rng_for("numbers")
    cases = [NumberCase(raw, None, "odd") for raw in ODD_NUMBERS]
    for n in (100, 5_000, 100_000):
        for raw in ("1" * n + "x", "+" + "1" * n, "(" * n + "1", " " * n, "-" * n, "1" * n):
            cases.append(NumberCase(raw, None, f"huge {n}"))
    for layout in VALID_LAYOUTS:
        for _ in range(5):
            a, b, c = _nanp(rng)
            cases.append(NumberCase(layout.format(a=a, b=b, c=c), f"+1{a}{b}{c}", "layout"))
    for _ in range(10):
        code = str(rng.randint(10_000, 999_999))
        cases.append(NumberCase(code, code, "bare short code"))
        digits = str(rng.randint(100, 99_999_999))
        cases.append(NumberCase(f"short:{digits}", digits, "short code"))
        cases.append(NumberCase(f"SHORT: {digits} ", digits, "short code"))
    for _ in range(80):  # a valid number spoiled by one character no number holds
        a, b, c = _nanp(rng)
        raw = rng.choice(VALID_LAYOUTS).format(a=a, b=b, c=c)
        at = rng.randint(0, len(raw))
        cases.append(NumberCase(raw[:at] + rng.choice(JUNK) + raw[at:], None, "junk"))
    for _ in range(30):  # one digit from another script
        a, b, c = _nanp(rng)
        raw = rng.choice(VALID_LAYOUTS).format(a=a, b=b, c=c)
        spots = [i for i, ch in enumerate(raw) if ch.isascii() and ch.isdigit()]
        at = rng.choice(spots)
        foreign = rng.choice(FOREIGN_DIGITS)[int(raw[at])]
        cases.append(NumberCase(raw[:at] + foreign + raw[at + 1 :], None, "unicode digit"))
    for _ in range(20):  # a digit short or a digit long
        a, b, c = _nanp(rng)
        digits = f"{a}{b}{c}"
        cut = rng.randint(0, 9)
        cases.append(NumberCase("+1 " + digits[:cut] + digits[cut + 1 :], None, "9 digits"))
        extra = str(rng.randint(2, 9))  # not 1: "+1 1 NPA…" is the trunk prefix, and fine
        cases.append(NumberCase("+1 " + digits[:cut] + extra + digits[cut:], None, "11 digits"))
    return cases


def test_number_corpus(cli: Cli) -> None:
    cases = number_corpus()
    assert len(cases) >= MINIMUM["numbers"]
    assert {c.why for c in cases if c.expected} >= {"layout", "short code"}

    def judge(case: NumberCase) -> str | None:
        result = cli(*DRY_RUN, "-m", "hi", "--", case.raw)
        if case.expected is None:
            return refused(result, shown(case.raw))
        document = accepted(result)
        if isinstance(document, str):
            return document
        return None if document["recipients"] == [case.expected] else str(document["recipients"])

    check_all(cases, judge)


def random_number_text(rng: random.Random) -> str:
    alphabet = "0123456789" * 3 + " ()-.+/\u00a0\u2013" + "tel:short" + "x#\x00\u200f😀٣"
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 24)))


def test_random_number_text_is_accepted_faithfully_or_refused_by_name(cli: Cli) -> None:
    """Text nobody planned: a clean refusal, or a number whose digits came from the input."""
    rng = rng_for("random numbers")
    cases = [random_number_text(rng) for _ in range(120)]

    def judge(raw: str) -> str | None:
        result = cli(*DRY_RUN, "-m", "hi", "--", raw)
        if result.exit_code != 0:
            return refused(result, shown(raw))
        document = accepted(result)
        if isinstance(document, str):
            return document
        [shown_number] = document["recipients"]
        typed = "".join(ch for ch in raw if ch in string.digits)
        digits = shown_number.lstrip("+")
        if not re.fullmatch(r"\+?[0-9]{3,15}", shown_number) or not typed.endswith(digits[-4:]):
            return f"accepted as {shown_number}"
        return None

    check_all(cases, judge)


def test_every_bad_number_in_a_list_is_named_at_once(cli: Cli) -> None:
    bad = ["abc", "\udcff", "1" * 5_000, "+1 012 555 0100", "tel:"]
    result = cli(*DRY_RUN, "-m", "hi", "--", "2125550100", *bad, "+12125550101")
    assert refused(result, *(shown(b) for b in bad)) is None, result.stderr
    assert len(result.stderr) < 400  # the 5,000 digits are cut short


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=60))
def test_normalize_refuses_only_with_usage_error(raw: str) -> None:
    try:
        address = normalize(raw)
    except UsageError as error:
        assert str(error).startswith(("not a phone number: ", "not a short code")), error
        assert "\n" not in str(error)
    else:
        assert re.fullmatch(r"tel:\+[1-9][0-9]{6,14}|short:[0-9]{3,8}", address), address


@settings(max_examples=30, deadline=None)
@given(st.sampled_from(["1", "+1", "(1", " 1", "1-", "+"]), st.integers(5_000, 20_000))
def test_normalize_is_linear_in_the_input(piece: str, length: int) -> None:
    """20,000 characters took seconds before (regex backtracking); now well under 50 ms."""
    raw = piece * (length // len(piece)) + "x"
    started = time.perf_counter()
    with pytest.raises(UsageError):
        normalize(raw)
    assert time.perf_counter() - started < 0.05


# --- messages --------------------------------------------------------------------------------


@dataclass(frozen=True)
class MessageCase:
    text: str
    why: str

    @property
    def utf8(self) -> bytes | None:
        try:
            return self.text.encode("utf-8")
        except UnicodeEncodeError:
            return None


MESSAGE_PIECES = (
    "Hello",
    "Gate B12 ",
    "Your code is 4821. ",
    "€[]{}~^\\|",  # GSM-7, two septets each
    "àéìòù ÄÖÑÜ ß",
    "café ",
    "\x00",
    "\x01\x07\x1b\x7f",
    "\r\n",
    "\r",
    "\n\n",
    "\t",
    "\u2028",
    "\u200f",  # RLM
    "\u200e",  # LRM
    "\u202e",  # RLO: right-to-left override
    "\u2066\u2069",  # isolates
    "\u200b\u200c\u200d",  # zero-width space, non-joiner, joiner
    "\ufeff",
    "שלום ",
    "مرحبا ",
    "你好 ",
    "e\u0301\u0301\u0301",  # stacked combining marks
    "😀",
    "👩‍👩‍👧‍👦",  # a ZWJ family
    "🇺🇸",
    "👍🏽",
    "\U0010ffff",
    "\udcff",  # a byte that is not UTF-8, as argv hands it over
    "\ud800",
    " ",
    "\u00a0",
    "\u3000",
)
# Each unit is 1, 2, 3 or 4 UTF-8 bytes: the limit must be counted in bytes, not characters.
BOUNDARY_UNITS = ("a", "é", "€", "😀")


def message_corpus() -> list[MessageCase]:
    rng = rng_for("messages")
    cases = [MessageCase(piece, "piece") for piece in MESSAGE_PIECES]
    cases += [MessageCase(text, "blank") for text in ("", " ", "\t\r\n", "\u00a0\u3000", "\n" * 9)]
    for unit in BOUNDARY_UNITS:
        width = len(unit.encode())
        fill = MAX_MESSAGE_BYTES // width
        for pad in range(-1, 3):  # around exactly 4096 bytes: 4095 … 4098
            text = unit * fill + "a" * (MAX_MESSAGE_BYTES - fill * width + pad)
            cases.append(MessageCase(text, f"{len(text.encode())} bytes"))
        cases.append(MessageCase(unit * (fill + 1), "one unit over"))
    cases.append(MessageCase("😀" * 5_000, "5,000 emoji"))
    cases.append(MessageCase("a" * 1_000_000, "a megabyte"))
    cases.append(MessageCase("a" * 4_095 + "\udcff", "a bad byte at the limit"))
    for _ in range(260):
        count = rng.choice((1, 2, 3, 5, 8, 40, 300))
        text = "".join(rng.choice(MESSAGE_PIECES) for _ in range(count))
        cases.append(MessageCase(text, "mixed"))
    return cases


def judge_message(result: Result, case: MessageCase) -> str | None:
    data = case.utf8
    if data is None:
        return refused(result, "message", "not valid text")
    if not case.text.strip():
        return refused(result, "message is empty")
    if len(data) > MAX_MESSAGE_BYTES:
        return refused(result, f"message is {len(data)} bytes", str(MAX_MESSAGE_BYTES))
    document = accepted(result)
    if isinstance(document, str):
        return document
    if document["utf8_bytes"] != len(data) or document["segments_per_message"] < 1:
        return f"counted as {document}"
    return None


def test_message_corpus(cli: Cli) -> None:
    cases = message_corpus()
    assert len(cases) >= MINIMUM["messages"]
    check_all(
        cases,
        lambda case: judge_message(
            cli(*DRY_RUN, "--message=" + case.text, "--", "2125550100"), case
        ),
    )


def file_and_stdin_cases() -> list[MessageCase]:
    """Every sixth message that can be written to a file (lone surrogates cannot)."""
    return [case for case in message_corpus()[::6] if case.utf8 is not None]


def test_message_from_a_file_and_from_stdin_is_judged_the_same(cli: Cli, tmp_path: Path) -> None:
    """The same texts through --message-file and stdin (text mode here; bytes in the process
    tests). Trailing newlines are dropped, as `$(cat file)` does, and a leading BOM; a NUL makes
    a file "binary"."""
    cases = file_and_stdin_cases()
    assert len(cases) >= 30
    path = tmp_path / "message.txt"

    def judge(case: MessageCase) -> str | None:
        path.write_bytes(case.text.encode())
        from_file = cli(*DRY_RUN, "--message-file", str(path), "--", "2125550100")
        if "\x00" in case.text:
            return refused(from_file, str(path), "binary")
        trimmed = MessageCase(case.text.removeprefix("\ufeff").rstrip("\r\n"), case.why)
        # In-process stdin is text already: no BOM to drop (the process tests send bytes).
        from_stdin = cli(*DRY_RUN, "--", "2125550100", input=case.text)
        stdin_trimmed = MessageCase(case.text.rstrip("\r\n"), case.why)
        if not trimmed.text.strip():
            file_problem = refused(from_file, "message is empty")
        else:
            file_problem = judge_message(from_file, trimmed)
        if not stdin_trimmed.text.strip():
            return file_problem or refused(from_stdin, "message is empty")
        return file_problem or judge_message(from_stdin, stdin_trimmed)

    check_all(cases, judge)


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=300))
def test_check_message_refuses_only_with_usage_error(text: str) -> None:
    try:
        check_message(text)
    except UsageError as error:
        assert str(error).startswith("message "), error
    else:
        info = analyze(text)
        assert 0 < info.utf8_bytes <= MAX_MESSAGE_BYTES
        assert info.segments >= 1


# --- recipient files -------------------------------------------------------------------------

HEADERS = ("phone", "Phone Number", "mobile_no", "CELL", "To", "number", "msisdn", "Telephone")
OTHER_COLUMNS = ("name", "Address Line 2", "email", "notes", "Account Number")
OTHER_VALUES = ("Ann", '"Smith, John"', "a@b.example", '"says ""hi"""', "", "x;y", "O'Brien")


@dataclass(frozen=True)
class RecipientFile:
    data: bytes
    expected: tuple[str, ...] | None  # the recipients --dry-run shows; None: refused
    named: tuple[str, ...]  # what the refusal names (the file's path is added when it is "FILE")
    why: str


def _cell(number: str, rng: random.Random) -> str:
    quoted = rng.random() < 0.3 or "," in number
    spaced = f"{' ' * rng.randint(0, 2)}{number}{' ' * rng.randint(0, 2)}"
    return f'"{number}"' if quoted else spaced


def recipient_file_corpus() -> list[RecipientFile]:
    rng = rng_for("recipient files")
    spoiled = "212-555-CALL"
    cases: list[RecipientFile] = []
    for index in range(150):
        numbers = []
        for _ in range(rng.randint(1, 6)):
            a, b, c = _nanp(rng)
            typed = rng.choice(VALID_LAYOUTS[:16]).format(a=a, b=b, c=c).strip()
            numbers.append((typed, f"+1{a}{b}{c}"))
        expected: tuple[str, ...] | None = tuple(dict.fromkeys(e164 for _, e164 in numbers))
        named: tuple[str, ...] = ()
        why = rng.choice(("plain", "plain", "csv header", "csv bare"))
        if index % 7 == 3:  # one number no phone has, in the number column
            numbers.insert(rng.randint(0, len(numbers)), (spoiled, ""))
            expected, named = None, (repr(spoiled),)
        if why == "plain":
            notes = ("Ann", "a note", "O'Brien", "x;y")  # no commas: those make it CSV
            lines = [f"{t}  # {rng.choice(notes)}" if rng.random() < 0.3 else t for t, _ in numbers]
            if rng.random() < 0.3:
                lines.insert(0, rng.choice(("phone", "Mobile", "number")))
        else:
            others = rng.sample(OTHER_COLUMNS, rng.randint(1, 3))
            where = rng.randint(0, len(others)) if why == "csv header" else 0
            phone = rng.choice(HEADERS)
            if index % 7 == 5 and why == "csv header":  # no column says it holds numbers
                phone, others = "Contact", [o for o in others if o != "Account Number"] or ["x"]
                where = min(where, len(others))
                expected, named = None, ("no phone number column",)
            lines = [",".join([*others[:where], phone, *others[where:]])]
            if why == "csv bare":
                lines = []
            for typed, _ in numbers:
                row = [rng.choice(OTHER_VALUES) for _ in others]
                row.insert(where, _cell(typed, rng))
                lines.append(",".join(row))
        for _ in range(rng.randint(0, 3)):  # blank lines and comments anywhere but first
            lines.insert(rng.randint(1, len(lines)), rng.choice(("", "   ", "# a comment", "\t")))
        newline = rng.choice(("\n", "\r\n", "\r\n", "\n", "\r"))
        text = newline.join(lines) + rng.choice(("", newline, newline * 2))
        bom = b"\xef\xbb\xbf" if rng.random() < 0.2 else b""
        cases.append(RecipientFile(bom + text.encode(), expected, named, why))
    cases += [
        RecipientFile(b"2125550100\n\xff\xfe\n", None, ("FILE", "not UTF-8", "0xff"), "bad byte"),
        RecipientFile(b"2125550100\n\x00\n", None, ("FILE", "binary"), "NUL"),
        RecipientFile(bytes(range(256)) * 4, None, ("FILE",), "binary"),
        RecipientFile(
            b'phone,name\n2125550100,"' + b"x" * 200_000 + b'"\n',
            None,
            ("not valid CSV",),
            "open quote",
        ),
        RecipientFile(b"", None, ("no recipients",), "empty"),
        RecipientFile(b"# only a comment\n\n", None, ("no recipients",), "comments"),
        RecipientFile(b"phone\n", None, ("no recipients",), "header only"),
        RecipientFile(
            b"\xef\xbb\xbfname,email\nAnn,a@b.example\n",
            None,
            ("no phone number column",),
            "no column",
        ),
        RecipientFile(
            b'"phone\n2125550100\n', ("+12125550100",), (), "a stray quote in the header"
        ),
        RecipientFile(
            ("2125550100\n" * 20_000).encode(), ("+12125550100",), (), "20,000 duplicates"
        ),
    ]
    return cases


def test_recipient_file_corpus(cli: Cli, tmp_path: Path) -> None:
    cases = recipient_file_corpus()
    assert len(cases) >= MINIMUM["recipient files"]
    assert {c.why for c in cases} >= {"plain", "csv header", "csv bare"}
    assert sum(c.expected is None for c in cases) >= 30
    path = tmp_path / "recipients.csv"

    def judge(case: RecipientFile) -> str | None:
        path.write_bytes(case.data)
        result = cli(*DRY_RUN, "-m", "hi", "--to-file", str(path))
        if case.expected is None:
            return refused(result, *(str(path) if n == "FILE" else n for n in case.named))
        document = accepted(result)
        if isinstance(document, str):
            return document
        return None if tuple(document["recipients"]) == case.expected else str(document)

    check_all(cases, judge)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    st.text(
        alphabet=st.sampled_from(list("0123456789,;\"'\t #\n\r\ufeff+-()aphone to\x00")),
        max_size=120,
    )
)
def test_recipient_lines_refuse_only_with_usage_error(text: str) -> None:
    try:
        normalize_all(parse_recipient_lines(text))
    except UsageError as error:
        assert "\n" not in str(error)


# --- file arguments --------------------------------------------------------------------------


@pytest.fixture
def odd_paths(tmp_path: Path) -> Iterator[dict[str, tuple[str, tuple[str, ...]]]]:
    """name -> (path, what the refusal names) for files that cannot be read as text."""
    regular = tmp_path / "regular.txt"
    regular.write_text("2125550100\n")
    binary = tmp_path / "binary.bin"
    noise = rng_for("binary")
    binary.write_bytes(bytes(noise.randrange(256) for _ in range(4096)))
    directory = tmp_path / "a-directory"
    directory.mkdir()
    broken = tmp_path / "broken-link"
    broken.symlink_to(tmp_path / "nowhere")
    loop = tmp_path / "loop-link"
    loop.symlink_to(loop)
    huge = tmp_path / "huge.txt"
    huge.write_bytes(b"2125550100 " * 500_000)  # 5.5 MB, one line
    yield {
        "missing": (str(tmp_path / "missing.txt"), ("not found", "missing.txt")),
        "directory": (str(directory), ("a-directory", "is a directory")),
        "binary": (str(binary), ("binary.bin",)),
        "broken symlink": (str(broken), ("broken-link",)),
        "symlink loop": (str(loop), ("loop-link",)),
        "through a file": (str(regular / "x"), ("regular.txt/x",)),
        "empty name": ("", ("name is empty",)),
        "huge": (str(huge), ()),
    }


@pytest.mark.parametrize("option", ["--message-file", "--to-file"])
def test_file_arguments_that_cannot_be_read(
    cli: Cli, option: str, odd_paths: dict[str, tuple[str, tuple[str, ...]]]
) -> None:
    other = ("--", "2125550100") if option == "--message-file" else ("-m", "hi")
    for name, (path, named) in odd_paths.items():
        result = cli(*DRY_RUN, option, path, *other)
        if name == "huge":
            # Over the 1 MB read for a message; for recipients, one line is one bad number.
            named = ("huge.txt is over 1 MB",) if option == "--message-file" else ("'2125550100",)
        problem = refused(result, *named)
        assert problem is None, f"{option} {name}: {problem}"


def test_endless_files_are_read_only_so_far(cli: Cli) -> None:
    """/dev/zero used to be read until memory ran out."""
    for option, other, limit in (
        ("--message-file", ("--", "2125550100"), "1 MB"),
        ("--to-file", ("-m", "hi"), "64 MB"),
    ):
        result = cli(*DRY_RUN, option, "/dev/zero", *other)
        assert refused(result, f"/dev/zero is over {limit}") is None, result.stderr


def test_dev_null_is_an_empty_file(cli: Cli) -> None:
    assert (
        refused(
            cli(*DRY_RUN, "--message-file", "/dev/null", "--", "2125550100"), "message is empty"
        )
        is None
    )
    assert refused(cli(*DRY_RUN, "-m", "hi", "--to-file", "/dev/null"), "no recipients") is None


def test_a_file_named_dash_dot_is_a_file_not_stdin(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("-").write_text("from the file\n")
    result = cli(*DRY_RUN, "--message-file", "./-", "--", "2125550100", input="from stdin")
    document = accepted(result)
    assert not isinstance(document, str), document
    assert document["utf8_bytes"] == len("from the file")


# --- config files ----------------------------------------------------------------------------

GOOD_CONFIG = """\
# attsms settings — Zürich office ☺
[profiles.default]
client_id = "abc123"
base_url = "https://api.att.com"
registration_id = "12345"
region = "US"
store = "file"

[profiles.staging]
client_id = 'stg'
base_url = "http://127.0.0.1:8765/"
scope = "SMS"

[other]
kept = [1, 2.5, true]
"""
WRONG_VALUES = ("5", "1.5", "true", "[]", '["a"]', "{}", "{ a = 1 }", "1979-05-27", "inf", "nan")


@dataclass(frozen=True)
class ConfigCase:
    data: bytes
    named: tuple[str, ...] | None  # None: fine; else what the refusal names besides the path
    why: str


def expected_config_outcome(data: bytes) -> tuple[str, ...] | None:
    """What a config file is, by the reference TOML parser: fine (None) or the problem."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return ("not UTF-8",)
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return ("not valid TOML",)
    except RecursionError:
        return ("nested too deeply",)
    profiles = document.get("profiles", {})
    known = {"client_id", "base_url", "registration_id", "region", "scope", "store"}
    if isinstance(profiles, dict) and all(
        isinstance(table, dict)
        and set(table) <= known
        and all(isinstance(value, str) for value in table.values())
        for table in profiles.values()
    ):
        return None
    return ("profiles",)


def config_corpus() -> list[ConfigCase]:
    rng = rng_for("config")
    good = GOOD_CONFIG.encode()
    cases = [ConfigCase(good, None, "good"), ConfigCase(b"\xef\xbb\xbf" + good, None, "BOM")]
    dash = good.index("—".encode())
    cuts = [*sorted(rng.sample(range(1, len(good)), 70)), dash + 1, dash + 2]  # in the dash
    for cut in cuts:
        data = good[:cut]
        cases.append(ConfigCase(data, expected_config_outcome(data), f"cut at {cut}"))
    for key in ("client_id", "base_url", "registration_id", "region", "scope", "store"):
        for value in rng.sample(WRONG_VALUES, 5):
            data = f'[profiles.default]\nclient_id = "a"\n{key} = {value}\n'.encode()
            if key == "client_id":
                data = f"[profiles.default]\nclient_id = {value}\n".encode()
            cases.append(ConfigCase(data, (f"profiles.default.{key}", "must be"), "wrong type"))
    for _ in range(15):
        key = "".join(rng.choice(string.ascii_lowercase + "_") for _ in range(rng.randint(1, 12)))
        if key in ("client_id", "base_url", "registration_id", "region", "scope", "store"):
            continue
        data = f'[profiles.p1]\nclient_id = "a"\n{key} = "x"\n'.encode()
        cases.append(ConfigCase(data, ("unknown setting", f"profiles.p1.{key}"), "unknown key"))
    for _ in range(25):
        data = bytes(rng.randrange(256) for _ in range(rng.randint(1, 400)))
        cases.append(ConfigCase(data, expected_config_outcome(data), "binary garbage"))
    fixed = {
        b"profiles = 3\n": ("profiles", "table"),
        b'profiles = "x"\n': ("profiles", "table"),
        b"profiles = [1]\n": ("profiles", "table"),
        b"[profiles]\ndefault = [1, 2]\n": ("profiles.default", "table"),
        b'[profiles."a b"]\n': ("profiles.a b", "profile name"),
        b'[profiles."../x"]\n': ("profiles.../x", "profile name"),
        b'[profiles.""]\n': ("profile name",),
        b'[profiles.default]\nstore = "vault"\n': ("profiles.default.store",),
        b'[profiles.default]\nbase_url = "ftp://x"\n': ("profiles.default.base_url",),
        b'[profiles.default]\nbase_url = "http://[::1"\n': ("profiles.default.base_url",),
        b'[profiles.default]\nbase_url = "http://h:abc"\n': ("profiles.default.base_url",),
        b'[profiles.default]\nbase_url = "http://u:pw@h"\n': ("profiles.default.base_url",),
        b'[profiles.default]\nclient_id = "a\x00"\n': ("not valid TOML",),
        b'[profiles.default]\nclient_id = "a"\nclient_id = "b"\n': ("not valid TOML",),
        b"a = " + b"[" * 5_000 + b"]" * 5_000 + b"\n": ("nested too deeply",),
        b"a = " + b"{b = " * 3_000 + b"1" + b"}" * 3_000 + b"\n": ("nested too deeply",),
        b"[other]\nx = 1\n[profiles.default]\n": None,
        b"": None,
        b"# " + b"x" * 1_000_000 + b"\n": None,
    }
    cases += [ConfigCase(data, named, "fixed") for data, named in fixed.items()]
    return cases


def test_config_corpus(cli: Cli, isolated_home: Path) -> None:
    cases = config_corpus()
    assert len(cases) >= MINIMUM["config files"]
    assert (
        sum(c.named is None for c in cases) >= 10 and sum(c.named is not None for c in cases) >= 100
    )
    path = isolated_home / "config" / "config.toml"
    path.parent.mkdir(parents=True)

    def judge(case: ConfigCase) -> str | None:
        path.write_bytes(case.data)
        # Not --sandbox: a dry run reads the profile's region, so the whole file is checked.
        result = cli("send", "--dry-run", "--json", "-m", "hi", "--", "2125550100")
        if case.named is None:
            document = accepted(result)
            return document if isinstance(document, str) else None
        return refused(result, str(path), *case.named)

    check_all(cases, judge)


def test_config_path_that_is_not_a_file(
    cli: Cli, isolated_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = isolated_home / "config" / "config.toml"
    path.mkdir(parents=True)
    for command in (
        ("send", "--dry-run", "-m", "hi", "2125550100"),
        ("auth", "status"),
        ("history",),
    ):
        assert refused(cli(*command), str(path), "Is a directory") is None, command
    path.rmdir()
    path.symlink_to(tmp_path / "nowhere")  # a broken link: no config yet
    assert cli("send", "--dry-run", "-m", "hi", "2125550100").exit_code == 0
    not_a_dir = tmp_path / "a-file"
    not_a_dir.write_text("")
    monkeypatch.setenv("ATTSMS_CONFIG_DIR", str(not_a_dir))
    assert refused(cli("auth", "status"), "a-file/config.toml") is None


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_load_config_refuses_only_with_config_error(data: bytes) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "config.toml"
        path.write_bytes(data)
        try:
            load_config(path)
        except ConfigError as error:
            assert str(path) in str(error) and "\n" not in str(error)


# --- other arguments and variables -----------------------------------------------------------

ARGUMENT_PIECES = (
    "",
    " ",
    "\x00",
    "\udcff",
    "\ud800",
    "\u202e",
    "\u200b",
    "/",
    "..",
    "%",
    "%00",
    "?",
    "#",
    "-",
    "1",
    "0",
    "-1",
    "1e309",
    "nan",
    "inf",
    "2h",
    "99999999999d",
    "2024-13-45",
    "2024-05-01T25:00",
    "\n",
    "😀",
    "١٢",
    "tel:",
    "0x10",
    "5/x",
    "0/s",
    "1e-300/s",
    "x" * 3_000,
    "9" * 30,
    "NaN",
)
ARGUMENT_COMMANDS: tuple[Callable[[str], tuple[str, ...]], ...] = (
    lambda v: ("--sandbox", "status", "--", v),
    lambda v: ("--sandbox", "status", "--since", v),
    lambda v: ("--sandbox", "history", "--since", v),
    lambda v: ("--sandbox", "history", "--limit", v),
    lambda v: ("--sandbox", "inbox", "pull", "--", v),
    lambda v: ("--sandbox", "inbox", "pull", "--max", v),
    lambda v: ("--sandbox", "inbox", "list", "--since", v),
    lambda v: ("--sandbox", "inbox", "list", "--from", v),
    lambda v: ("--sandbox", "inbox", "export", "--format", v),
    lambda v: ("--sandbox", "optout", "add", "--", v),
    lambda v: ("--sandbox", "send", "--dry-run", "-m", "hi", "--rate", v, "2125550100"),
    lambda v: ("--sandbox", "send", "-m", "hi", "--dedupe-key", v, "2125550100"),
    lambda v: ("--profile", v, "history"),
    lambda v: ("sandbox", "inject", "--from", v, "hi"),
    lambda v: ("sandbox", "inject", "--to", v, "--from", "2125550100", "hi"),
    lambda v: ("sandbox", "inject", "--url", "http://[::1" + v, "--from", "2125550100", "hi"),
    lambda v: ("completion", v),
    lambda v: ("--sandbox", "status", "--wait", "--timeout", v, "SMS1"),
    lambda v: ("--sandbox", "status", "--wait", "--interval", v, "SMS1"),
    lambda v: ("--sandbox", "inbox", "pull", "--lock-timeout", v),
    lambda v: ("--sandbox", "inbox", "list", "--limit", v),
)
DOCUMENTED_EXIT_CODES = {0, 1, 2, 3, 4, 5, 75}


def test_odd_arguments_never_crash(cli: Cli) -> None:
    """Junk in every free-text argument: any documented outcome, but one line and no crash."""
    rng = rng_for("arguments")
    cases = [
        command("".join(rng.choice(ARGUMENT_PIECES) for _ in range(rng.randint(1, 3))))
        for command in ARGUMENT_COMMANDS
        for _ in range(4)
    ]

    def judge(args: tuple[str, ...]) -> str | None:
        result = cli(*args)
        if result.exit_code not in DOCUMENTED_EXIT_CODES:
            return f"exit {result.exit_code}"
        errors = [line for line in result.stderr.splitlines() if line.startswith("attsms: error")]
        if "Traceback" in result.stderr or "error: unexpected" in result.stderr:
            return f"a crash: {result.stderr!r}"
        if result.exit_code != 0 and len(errors) != 1:
            return f"not one error line: {result.stderr!r}"
        return None

    check_all(cases, judge)


def test_undecodable_arguments_and_variables_are_named(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, sandbox_http: Callable[..., SandboxHttp]
) -> None:
    """argv and the environment carry bytes that are not UTF-8 as lone surrogates."""
    for args in (
        ("--sandbox", "status", "SMS\udcff"),
        ("--sandbox", "inbox", "pull", "12\udcff"),
        ("--sandbox", "send", "-m", "hi", "--dedupe-key", "job-\udcff", "2125550100"),
    ):
        assert (
            refused(
                cli(*args), "not valid UTF-8", repr(args[-1] if "\udcff" in args[-1] else args[-2])
            )
            is None
        ), args
    server = sandbox_http()
    for name, value in server.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("ATTSMS_CLIENT_SECRET", "s3cret-\udcff")
    result = cli("status", "SMS1")
    assert refused(result, "ATTSMS_CLIENT_SECRET", "not valid UTF-8") is None, result.stderr
    assert "s3cret" not in result.stderr  # the variable is named, its value never shown
    for name in ("ATTSMS_CLIENT_SECRET", "ATTSMS_CLIENT_ID"):
        monkeypatch.setenv(name, server.env()[name])
    for value in (
        "http://\udcff",
        "http://[::1",
        "http://127.0.0.1:abc",
        "http://127.0.0.1:8765?x=1",
    ):
        monkeypatch.setenv("ATTSMS_BASE_URL", value)
        assert refused(cli("status", "SMS1"), "invalid base URL") is None, value
    monkeypatch.setenv("ATTSMS_BASE_URL", "http://user:hunter2@127.0.0.1:8765")
    result = cli("status", "SMS1")
    assert refused(result, "user name or password") is None and "hunter2" not in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ("--sandbox", "status", "--wait", "--timeout", "nan", "SMS1"),
        ("--sandbox", "status", "--wait", "--interval", "NaN", "SMS1"),
        ("--sandbox", "send", "-m", "hi", "--wait", "--timeout", "nan", "2125550100"),
        ("--sandbox", "inbox", "pull", "--lock-timeout", "nan"),
        ("sandbox", "serve", "--fail-rate", "nan"),
    ],
)
def test_nan_is_not_a_number_of_seconds(cli: Cli, args: tuple[str, ...]) -> None:
    """Click's bounds let NaN through (every comparison with it is false); it waited 0 s, forever,
    or crashed, depending on the option."""
    option = args[args.index("nan" if "nan" in args else "NaN") - 1]
    assert refused(cli(*args), option, "nan is not a number") is None


def test_a_limit_beyond_any_integer_shows_everything(cli: Cli) -> None:
    assert cli("--sandbox", "send", "-m", "hi", "2125550100").exit_code == 0
    huge = "9" * 30  # past SQLite's 64-bit integers: it raised OverflowError
    assert len(cli("--sandbox", "history", "--limit", huge).lines) == 1
    assert cli("--sandbox", "inbox", "list", "--limit", huge).exit_code == 0


@pytest.mark.parametrize("dots", [".", ".."])
def test_dot_ids_are_asked_for_not_resolved_as_paths(cli: Cli, dots: str) -> None:
    """`status ..` asked the service for /sms/v3/messaging (the URL resolved the dot segment)."""
    assert refused(cli("--sandbox", "status", dots), f"Not found: message {dots} ", code=1) is None
    pulled = cli("--sandbox", "inbox", "pull", dots)
    assert f"Not found: registration {dots} " in pulled.stderr, pulled.stderr


def test_an_empty_message_id_is_refused_before_any_request(cli: Cli) -> None:
    for blank in ("", " ", "\t"):
        assert refused(cli("--sandbox", "status", "SMS1", blank), "message ID is empty") is None
    assert not (Path(os.environ["ATTSMS_DATA_DIR"]) / "sandbox").exists()  # nothing was asked


# --- real processes: what only a process has -------------------------------------------------


def run_bytes(*args: bytes | str, stdin: bytes = b"") -> Result:
    """A real attsms with argv and stdin as raw bytes (str arguments go as UTF-8)."""
    argv = [a if isinstance(a, bytes) else a.encode() for a in args]
    proc = subprocess.run(
        [sys.executable.encode(), b"-m", b"attsms", *argv],
        input=stdin,
        capture_output=True,
        timeout=60,
        check=False,
    )
    return Result(
        proc.returncode,
        proc.stdout.decode("utf-8", "replace"),
        proc.stderr.decode("utf-8", "replace"),
    )


PROCESS_CASES: tuple[tuple[str, tuple[bytes | str, ...], bytes, tuple[str, ...] | None], ...] = (
    # (what, argv after `--sandbox send --dry-run --json`, stdin, what the refusal names or None)
    (
        "message not UTF-8 in argv",
        (b"-m", b"caf\xe9", b"2125550100"),
        b"",
        ("message", "not valid text"),
    ),
    (
        "number not UTF-8 in argv",
        (b"-m", b"hi", b"212555\xff0100"),
        b"",
        ("not a phone number", "\\udcff"),
    ),
    ("stdin not UTF-8", (b"2125550100",), b"caf\xe9 au lait", ("stdin", "not UTF-8", "0xe9")),
    ("stdin with NUL", (b"2125550100",), b"a\x00b", ("stdin", "binary")),
    ("stdin CRLF", (b"2125550100",), b"line one\r\nline two\r\n", None),
    ("stdin UTF-8 BOM", (b"2125550100",), b"\xef\xbb\xbfhi", None),
    ("stdin UTF-16", (b"2125550100",), "hi".encode("utf-16"), ("stdin", "not UTF-8")),
    ("stdin 4096 bytes", (b"2125550100",), "😀".encode() * 1024, None),
    ("stdin 4097 bytes", (b"2125550100",), "😀".encode() * 1024 + b"!", ("4097 bytes",)),
    ("stdin 5,000 emoji", (b"2125550100",), "😀".encode() * 5000, ("20000 bytes",)),
    ("stdin empty", (b"2125550100",), b"", ("message is empty",)),
    (
        "to-file on stdin not UTF-8",
        (b"-m", b"hi", b"--to-file", b"-"),
        b"2125550100\n\xff",
        ("stdin", "0xff"),
    ),
    ("stdin 2 MB", (b"2125550100",), b"y\n" * 1_000_000, ("stdin is over 1 MB",)),
    (
        "RTL marks in argv",
        (b"-m", "\u202eabc\u200f".encode(), "\u202a2125550100\u202c".encode()),
        b"",
        None,
    ),
)


@pytest.mark.slow
def test_real_processes_with_raw_bytes(tmp_path: Path) -> None:
    failures = []
    for what, args, stdin, named in PROCESS_CASES:
        result = run_bytes(*DRY_RUN, *args, stdin=stdin)
        if named is None:
            document = accepted(result)
            problem = document if isinstance(document, str) else None
        else:
            problem = refused(result, *named)
        if problem:
            failures.append(f"{what}: {problem}")
    # A file whose NAME is not UTF-8 is still a file (Linux allows any bytes but / and NUL).
    odd_name = os.fsencode(tmp_path) + b"/message-\xff.txt"
    Path(os.fsdecode(odd_name)).write_text("from an odd name\n")
    result = run_bytes(*DRY_RUN, b"--message-file", odd_name, b"2125550100")
    document = accepted(result)
    if isinstance(document, str) or document["utf8_bytes"] != len("from an odd name"):
        failures.append(f"non-UTF-8 file name: {document}")
    assert not failures, "\n".join(failures)


@pytest.mark.slow
def test_login_secret_on_stdin_that_is_not_utf8() -> None:
    result = run_bytes(
        "login",
        "--client-id",
        "abc",
        "--client-secret-stdin",
        "--store",
        "file",
        "--base-url",
        "http://127.0.0.1:9",
        stdin=b"s3cret\xff\n",
    )
    assert refused(result, "client secret", "not valid UTF-8") is None, result.stderr
    assert "s3cret" not in result.stderr


# --- the size of it all ----------------------------------------------------------------------


def test_corpus_size() -> None:
    sizes = {
        "numbers": len(number_corpus()),
        "messages": len(message_corpus()),
        "recipient files": len(recipient_file_corpus()),
        "config files": len(config_corpus()),
    }
    extra = {
        "random number texts": 120,
        "odd arguments": 4 * len(ARGUMENT_COMMANDS),
        "message file/stdin pairs": len(file_and_stdin_cases()),
        "file arguments": 2 * 8 + 4,
        "real processes": len(PROCESS_CASES) + 2,
    }
    total = sum(sizes.values()) + sum(extra.values())
    print(f"\nhostile input corpus (seed {SEED}): {sizes | extra}, total {total}")
    for name, minimum in MINIMUM.items():
        assert sizes[name] >= minimum, name
    assert sum(sizes.values()) >= 900 and total >= 1_000
