"""What people and programs see: tables on a terminal, TSV in a pipe, JSON on request."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from attsms.cli.output import Column, Format, Output, counted
from tests.helpers.support import Cli

COLUMNS = [Column("id", "ID"), Column("to", "TO"), Column("status", "STATUS")]
ROWS = [
    {"id": "m1", "to": "+12125550100", "status": "DeliveredToTerminal"},
    {"id": "m2", "to": "+12125550101", "status": "tab\there\nnewline"},
]


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_piped_output_is_tsv_without_header() -> None:
    stdout = io.StringIO()
    Output(stdout=stdout, stderr=io.StringIO()).records(ROWS, COLUMNS)
    assert stdout.getvalue().splitlines() == [
        "m1\t+12125550100\tDeliveredToTerminal",
        "m2\t+12125550101\ttab here newline",
    ]


def test_terminal_output_is_a_table_with_headers() -> None:
    stdout = Terminal()
    Output(stdout=stdout, stderr=io.StringIO(), color=False).records(ROWS, COLUMNS)
    text = stdout.getvalue()
    assert "ID" in text and "STATUS" in text
    assert "DeliveredToTerminal" in text
    assert "\x1b[" not in text  # no colour asked for


def test_no_color_env_means_no_escape_codes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    stdout, stderr = Terminal(), Terminal()
    output = Output(stdout=stdout, stderr=stderr)
    output.records(ROWS, [*COLUMNS[:2], Column("status", "STATUS", style_for=lambda _v: "red")])
    output.warn("careful")
    assert "\x1b[" not in stdout.getvalue() + stderr.getvalue()
    assert "attsms: warning: careful" in stderr.getvalue()


def test_color_on_a_terminal_without_no_color() -> None:
    stderr = Terminal()
    Output(stdout=Terminal(), stderr=stderr, color=True).error("boom")
    assert "\x1b[" in stderr.getvalue()


@dataclass(frozen=True)
class Thing:
    name: str
    tags: tuple[str, ...]


def test_json_document_from_dataclasses() -> None:
    stdout = io.StringIO()
    Output(stdout=stdout, format=Format.JSON).records(
        ROWS, COLUMNS, document=[Thing("a", ("x", "y"))]
    )
    assert json.loads(stdout.getvalue()) == [{"name": "a", "tags": ["x", "y"]}]


def test_json_defaults_to_the_rows() -> None:
    stdout = io.StringIO()
    Output(stdout=stdout, format=Format.JSON).records(ROWS, COLUMNS)
    assert json.loads(stdout.getvalue()) == ROWS


def test_jsonl_one_object_a_line() -> None:
    stdout = io.StringIO()
    output = Output(stdout=stdout, format=Format.JSONL)
    for row in ROWS:
        output.record(row, COLUMNS)
    assert [json.loads(line) for line in stdout.getvalue().splitlines()] == ROWS


def test_csv_has_a_header_of_keys_and_keeps_values_whole() -> None:
    stdout = io.StringIO(newline="")
    written = Output(stdout=stdout, format=Format.CSV).csv(iter(ROWS), COLUMNS)
    assert written == 2
    assert stdout.getvalue().startswith("id,to,status\r\n")
    assert list(csv.DictReader(io.StringIO(stdout.getvalue(), newline=""))) == ROWS


def test_csv_records_are_what_the_streamed_csv_writes() -> None:
    whole, streamed = io.StringIO(), io.StringIO()
    Output(stdout=whole, format=Format.CSV).records(ROWS, COLUMNS)
    Output(stdout=streamed, format=Format.CSV).csv(iter(ROWS), COLUMNS)
    assert whole.getvalue() == streamed.getvalue()


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ("=1+1", "'=1+1"),
        ("+SUM(1,2)", "'+SUM(1,2)"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("+12125550100", "+12125550100"),  # a phone number runs nothing: kept for scripts
        ("+١٢", "'+١٢"),  # digits, but not ASCII ones
        (" =1", " =1"),
        (None, ""),
        (-5, "-5"),  # a number is not text a spreadsheet would run
    ],
)
def test_csv_cells_a_spreadsheet_would_run_get_a_quote(value: object, cell: str) -> None:
    stdout = io.StringIO()
    Output(stdout=stdout, format=Format.CSV).records([{"v": value}], [Column("v", "V")])
    assert next(iter(csv.DictReader(io.StringIO(stdout.getvalue(), newline=""))))["v"] == cell


@pytest.mark.parametrize("fmt", [Format.JSON, Format.CSV])
def test_a_document_or_csv_is_not_written_a_row_at_a_time(fmt: Format) -> None:
    with pytest.raises(ValueError, match="records"):
        Output(stdout=io.StringIO(), format=fmt).record(ROWS[0], COLUMNS)


def test_messages_go_to_stderr_and_quiet_silences_info() -> None:
    stdout, stderr = io.StringIO(), io.StringIO()
    Output(stdout=stdout, stderr=stderr).info("hello")
    Output(stdout=stdout, stderr=stderr, quiet=True).info("hidden")
    Output(stdout=stdout, stderr=stderr, quiet=True).error("shown")
    assert stdout.getvalue() == ""
    assert stderr.getvalue() == "hello\nattsms: error: shown\n"


def test_progress_is_silent_when_not_a_terminal() -> None:
    stderr = io.StringIO()
    with Output(stdout=io.StringIO(), stderr=stderr).progress(10, "sending") as bar:
        bar.advance(5)
    assert stderr.getvalue() == ""


def test_no_rows_on_a_terminal_prints_no_bare_headers() -> None:
    stdout = Terminal()
    Output(stdout=stdout, stderr=io.StringIO(), color=False).records([], COLUMNS)
    assert stdout.getvalue() == ""


def test_dry_run_of_gsm_text_prints_no_empty_non_gsm_row(cli: Cli) -> None:
    gsm = cli("--sandbox", "send", "+12125550100", "-m", "Hello {world}", "--dry-run")
    assert gsm.exit_code == 0, gsm.stderr
    rows = [line.split("\t") for line in gsm.lines]
    assert all(len(row) == 2 and row[1].strip() for row in rows), rows  # no empty value
    assert "non-GSM characters" not in gsm.stdout
    assert ["encoding", "GSM-7"] in rows
    ucs2 = cli("--sandbox", "send", "+12125550100", "-m", "It\u2019s", "--dry-run")
    assert any(
        row[0] == "non-GSM characters" and "\u2019" in row[1]
        for row in (line.split("\t") for line in ucs2.lines)
    )
    # JSON keeps every field, the empty list included.
    document = cli("--sandbox", "send", "+12125550100", "-m", "Hi", "--dry-run", "--json").json()
    assert document["non_gsm"] == []


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)


@given(st.lists(st.lists(JSONISH, max_size=4), max_size=5), st.booleans(), st.integers(1, 4))
def test_streamed_records_write_what_records_writes_whole(
    pages: list[list[object]], ascii_only: bool, size: int
) -> None:
    # Pages of any size (empty ones too), in every machine format: byte for byte the same text.
    columns = [Column("a", "A")]
    for fmt in (Format.JSON, Format.JSONL, Format.PLAIN):
        rows = [[{"a": str(value)} for value in page] for page in pages]
        encoding = "ascii" if ascii_only else "utf-8"  # ASCII: \\u escapes, in both ways
        whole, streamed = (
            io.TextIOWrapper(io.BytesIO(), encoding=encoding, errors="backslashreplace")
            for _ in "ab"
        )
        every = [value for page in pages for value in page]
        Output(stdout=whole, format=fmt).records(
            [row for page in rows for row in page], columns, document=every
        )
        written = Output(stdout=streamed, format=fmt).stream_records(
            every, columns, row=lambda value: {"a": str(value)}, document=lambda v: v, page=size
        )
        assert written == len(every)
        whole.flush()
        streamed.flush()
        text = streamed.buffer.getvalue()
        assert text == whole.buffer.getvalue(), fmt
        if fmt is Format.JSON:
            assert json.loads(text) == every


@pytest.mark.parametrize(
    ("number", "noun", "text"),
    [(1, "message", "1 message"), (0, "message", "0 messages"), (2, "batch", "2 batches")],
)
def test_counted(number: int, noun: str, text: str) -> None:
    assert counted(number, noun) == text
