"""The one place that turns results into output.

Data goes to stdout, messages to stderr. On a terminal results are a rich table; piped, they are
plain tab-separated lines with no header (easy to `cut` and `awk`); `--json` prints one JSON
document, `--jsonl` one JSON object a line, and CSV (`inbox export --format csv`) a header row and
spreadsheet-safe cells. Colour only on a terminal, and never with `NO_COLOR`.
Commands hand over rows and columns, never formatted text or JSON of their own.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import os
import re
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, cast

from attsms.core.errors import StdoutClosed
from attsms.core.redaction import scrub

if TYPE_CHECKING:
    from rich.console import Console


class Format(enum.StrEnum):
    """What stdout carries. TABLE and PLAIN are chosen by whether stdout is a terminal; JSON and
    JSONL by a flag (FORMAT_FLAGS); CSV by `inbox export --format csv`."""

    TABLE = "table"  # a rich table, on a terminal
    PLAIN = "plain"  # tab-separated lines, piped
    JSON = "json"  # one document
    JSONL = "jsonl"  # one object a line, as results come
    CSV = "csv"  # RFC 4180, a header row of column keys, for spreadsheets


# The flag that asks for each chosen format, and its --help. A command offers some of them
# (`commands.options.formats`); adding a format is a line here and its rendering below.
FORMAT_FLAGS: dict[Format, tuple[str, str]] = {
    Format.JSON: ("--json", "Print one JSON document on stdout."),
    Format.JSONL: ("--jsonl", "Print one JSON object a line, as results come."),
}


@dataclass(frozen=True)
class Column:
    key: str
    header: str
    style: str | None = None  # rich style on a terminal; ignored elsewhere
    # Per-value style, e.g. red for a failed delivery.
    style_for: Callable[[Any], str | None] | None = None
    # Per-row style, from the row's own fields (not from parsing the text shown): wins over
    # `style_for`. Rows may carry such fields without a column of their own.
    style_row: Callable[[Mapping[str, Any]], str | None] | None = None


# Exact types only: a str or int subclass (an Enum member) still goes through the checks below.
_JSON_SCALARS = frozenset({str, int, float, bool, type(None)})


def to_jsonable(value: Any) -> Any:
    """Dataclasses, tuples, paths and datetimes as plain JSON values."""
    if type(value) in _JSON_SCALARS:  # the common case, first: `inbox pull` prints 10,000 rows
        return value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_jsonable(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Path):
        return str(value)
    return value


def counted(number: int, noun: str) -> str:
    """`1 message`, `2 messages`, `3 batches`: a count in a summary line."""
    if number == 1:
        return f"{number} {noun}"
    return f"{number} {noun}{'es' if noun.endswith(('ch', 'sh', 's', 'x')) else 's'}"


def escape_unencodable(*streams: Any) -> None:
    """Make streams that cannot encode every character (an ASCII or Latin-1 locale on a cron
    host, `PYTHONIOENCODING=ascii`) write `\\u2019` for what they cannot encode, rather than
    fail the command with nothing printed. UTF-8 streams, and streams that are not text files
    (a test's StringIO), are left as they are."""
    for stream in streams:
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None and not _is_utf8(stream):
            reconfigure(errors="backslashreplace")


def _is_utf8(stream: Any) -> bool:
    """False for a stream that encodes to something narrower than UTF-8; True for str streams."""
    import codecs

    encoding = getattr(stream, "encoding", None)
    if not isinstance(encoding, str):
        return True  # StringIO and friends hold str: anything goes
    try:
        return codecs.lookup(encoding).name in ("utf-8", "utf-16", "utf-32")
    except LookupError:
        return False


def _is_tty(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class Output:
    """Consoles, TTY flags and the chosen format, for one command run. Tests build their own."""

    def __init__(
        self,
        *,
        stdout: IO[str] | None = None,
        stderr: IO[str] | None = None,
        format: Format | None = None,  # None: TABLE on a terminal, else PLAIN
        quiet: bool = False,
        color: bool | None = None,
    ) -> None:
        self.stdout = cast(IO[str], _ReaderAware(stdout if stdout is not None else sys.stdout))
        self.stderr = stderr if stderr is not None else sys.stderr
        self.stdout_tty = _is_tty(self.stdout)
        # JSON can always be written in ASCII: escaped, and still read back to the same text.
        self._ascii_json = not _is_utf8(self.stdout)
        self.stderr_tty = _is_tty(self.stderr)
        self.quiet = quiet
        no_color = "NO_COLOR" in os.environ and os.environ["NO_COLOR"] != ""
        self.color = (not no_color) if color is None else color
        self.format = format or (Format.TABLE if self.stdout_tty else Format.PLAIN)
        self._console: Console | None = None
        self._err_console: Console | None = None

    @property
    def machine(self) -> bool:
        """True when a program reads stdout: no progress bars, no chatter in the data."""
        return self.format in (Format.JSON, Format.JSONL, Format.CSV)

    # data: stdout ----------------------------------------------------------------------------

    def records(
        self,
        rows: Sequence[Mapping[str, Any]],
        columns: Sequence[Column],
        *,
        document: Any = None,
        title: str | None = None,
    ) -> None:
        """Print rows: a table, TSV lines, one JSON document (`document`, default the rows),
        JSON lines or CSV."""
        if self.format is Format.JSON:
            self.json(rows if document is None else document)
        elif self.format is Format.JSONL:
            for row in rows:
                self.json_line(row)
        elif self.format is Format.CSV:
            self.csv(rows, columns)
        elif self.format is Format.PLAIN:
            for row in rows:
                self.plain_row(row, columns)
        elif rows:  # an empty table is just headers: the command says "nothing" on stderr
            self._table(rows, columns, title)

    def record(self, row: Mapping[str, Any], columns: Sequence[Column]) -> None:
        """One row as soon as it is known (streaming commands); tables become plain lines."""
        if self.format is Format.JSONL:
            self.json_line(row)
        elif self.format in (Format.PLAIN, Format.TABLE):
            self.plain_row(row, columns)
        else:
            raise ValueError("a --json document or a CSV (header first) needs records()")

    def stream_records(
        self,
        items: Iterable[Any],
        columns: Sequence[Column],
        *,
        row: Callable[[Any], Mapping[str, Any]] = lambda item: item,
        document: Callable[[Any], Any] | None = None,
        rows: Callable[[Any], Iterable[Mapping[str, Any]]] | None = None,
        page: int = 1000,
    ) -> int:
        """`records` for items read as they come: each turned into its `row` (or its `rows`,
        an item that prints as several lines) and its `--json` `document` (default the row),
        written `page` at a time, TSV or JSON lines, or the JSON array piece by piece: the same
        text `records` writes whole. Returns how many items there were. Not for a table, which
        must see every row to size its columns."""
        import itertools

        if self.format is Format.TABLE:
            raise ValueError("a table cannot be streamed; use records()")
        as_document = document or row
        source = iter(items)
        count = 0
        if self.format is Format.JSON:
            self._write("[")
        while chunk := list(itertools.islice(source, page)):
            if self.format is Format.JSON:
                # The page as a whole array ("[\n  {…},\n  {…}\n]"), less its brackets: one
                # encoder call a page, and exactly the items' text in the whole document.
                text = self.json_part([as_document(item) for item in chunk], 0)
                self._write(("," if count else "") + text[1:-2])
            else:
                lines = (r for item in chunk for r in (rows(item) if rows else (row(item),)))
                if self.format is Format.JSONL:
                    self._write("".join(self.json_line_text(line) for line in lines))
                else:
                    self._write("".join(self.plain_line(line, columns) for line in lines))
            count += len(chunk)
        if self.format is Format.JSON:
            self._write("\n]\n" if count else "]\n")
        return count

    def json(self, value: Any) -> None:
        self._write(json.dumps(to_jsonable(value), indent=2, ensure_ascii=self._ascii_json) + "\n")

    def json_part(self, value: Any, depth: int) -> str:
        """`value` as `json()` writes it `depth` levels inside a document: for a document written
        a piece at a time (`raw`), which must read the same as one written whole."""
        text = json.dumps(to_jsonable(value), indent=2, ensure_ascii=self._ascii_json)
        return text.replace("\n", "\n" + "  " * depth)

    def raw(self, text: str) -> None:
        """Text as it is, flushed: a piece of a document being streamed."""
        self._write(text)

    def json_line(self, value: Any) -> None:
        self._write(json.dumps(to_jsonable(value), ensure_ascii=self._ascii_json) + "\n")

    def plain_row(self, row: Mapping[str, Any], columns: Sequence[Column]) -> None:
        self._write(self.plain_line(row, columns))

    def plain_line(self, row: Mapping[str, Any], columns: Sequence[Column]) -> str:
        """What `plain_row` writes, for rows written many at once (`raw`)."""
        return "\t".join(_cell(row.get(c.key)) for c in columns) + "\n"

    def json_line_text(self, value: Any) -> str:
        """What `json_line` writes, for lines written many at once (`raw`)."""
        return json.dumps(to_jsonable(value), ensure_ascii=self._ascii_json) + "\n"

    def text(self, text: str) -> None:
        """Bare data text (a token for `$(…)`, a generated script)."""
        self._write(text if text.endswith("\n") else text + "\n")

    def csv(self, rows: Iterable[Mapping[str, Any]], columns: Sequence[Column]) -> int:
        """The CSV format, streamed: RFC 4180 with a header of column keys, then each row as it
        comes. Values are kept whole (quoted, not folded), but for cells a spreadsheet would run
        as a formula (`_spreadsheet_safe`). Returns the number of rows written."""
        import csv

        writer = csv.writer(self.stdout)
        writer.writerow([c.key for c in columns])
        count = 0
        for row in rows:
            writer.writerow([_csv_cell(row.get(c.key)) for c in columns])
            count += 1
        self.stdout.flush()
        return count

    def _write(self, text: str) -> None:
        self.stdout.write(text)
        self.stdout.flush()  # a pipe reader (`| handler`) sees each record at once

    def _table(
        self, rows: Sequence[Mapping[str, Any]], columns: Sequence[Column], title: str | None
    ) -> None:
        from rich.table import Table

        table = Table(title=title, box=None, header_style="bold", pad_edge=False)
        for column in columns:
            table.add_column(column.header, style=column.style, overflow="fold")
        for row in rows:
            cells = []
            for column in columns:
                value = _cell(row.get(column.key))
                if column.style_row is not None:
                    style = column.style_row(row)
                elif column.style_for is not None:
                    style = column.style_for(row.get(column.key))
                else:
                    style = None
                cells.append(f"[{style}]{_escape(value)}[/]" if style else _escape(value))
            table.add_row(*cells)
        self.console.print(table)

    @property
    def console(self) -> Console:
        if self._console is None:
            self._console = _make_console(self.stdout, self.color)
        return self._console

    # messages: stderr ------------------------------------------------------------------------

    def info(self, message: str) -> None:
        """A human note (summary, progress); silent with -q."""
        if not self.quiet:
            self._err(message)

    def success(self, message: str) -> None:
        if not self.quiet:
            self._err(f"✓ {message}" if self.stderr_tty else message, style="green")

    def warn(self, message: str) -> None:
        self._err(f"attsms: warning: {message}", style="yellow")

    def error(self, message: str) -> None:
        self._err(f"attsms: error: {message}", style="red")

    def stderr_line(self, message: str) -> None:
        """A raw diagnostic line (the --verbose HTTP log): never styled, never suppressed."""
        self.stderr.write(scrub(message) + "\n")
        self.stderr.flush()

    def _err(self, message: str, style: str | None = None) -> None:
        message = scrub(message)  # every message and error: see attsms.core.redaction
        if self.stderr_tty and self.color and style:
            if self._err_console is None:
                self._err_console = _make_console(self.stderr, self.color)
            # soft_wrap: one line, however narrow the terminal (it may wrap it for the eye).
            self._err_console.print(_escape(message), style=style, highlight=False, soft_wrap=True)
        else:
            self.stderr.write(message + "\n")
            self.stderr.flush()

    def progress(self, total: int, description: str) -> Progress:
        """A progress bar on a terminal's stderr; a silent stand-in when piped, -q or --json."""
        enabled = self.stderr_tty and not self.quiet and not self.machine
        return Progress(self, total, description, enabled=enabled)


class Progress:
    def __init__(self, output: Output, total: int, description: str, *, enabled: bool) -> None:
        self._enabled = enabled
        self._output = output
        self._total = total
        self._description = description
        self._bar: Any = None
        self._task: Any = None

    def __enter__(self) -> Progress:
        if self._enabled:
            from rich.progress import Progress as RichProgress

            self._bar = RichProgress(
                console=_make_console(self._output.stderr, self._output.color), transient=True
            )
            self._bar.start()
            self._task = self._bar.add_task(self._description, total=self._total)
        return self

    def advance(self, amount: int = 1) -> None:
        if self._bar is not None:
            self._bar.advance(self._task, amount)

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()


def _make_console(stream: IO[str], color: bool) -> Console:
    from rich.console import Console

    # NO_COLOR users get no escape codes at all, bold included.
    return Console(
        file=stream, color_system="auto" if color else None, highlight=False, soft_wrap=False
    )


class _ReaderAware:
    """stdout, where a reader that left (`| head -1`) is `StdoutClosed`, not an OSError: Typer
    would turn a broken pipe into a bare exit 1 before `cli.main` could see it."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            raise StdoutClosed from None

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            raise StdoutClosed from None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ",".join(_cell(v) for v in value)
    # A tab or newline inside a value would break the one-line-per-record contract when piped.
    text = str(value).replace("\t", " ").replace("\r", " ").replace("\n", " ")
    # Other control characters (an SMS can hold ESC [2J, or an OSC that writes the clipboard)
    # would drive the reader's terminal, and line separators split lines: show them escaped.
    return _CONTROL_CHARS.sub(lambda m: ascii(m.group())[1:-1], text)


_CONTROL_CHARS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")


def _csv_cell(value: Any) -> Any:
    return "" if value is None else _spreadsheet_safe(value)


# What makes a spreadsheet read a cell as a formula (OWASP, "CSV Injection").
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _spreadsheet_safe(value: Any) -> Any:
    """`value` for a CSV cell: text a spreadsheet would run as a formula gets a leading `'`.

    A phone number (`+` and digits only) is left whole: at worst a spreadsheet reads it as a
    number, it calls nothing, and scripts reading the CSV get the number they expect.
    """
    if not isinstance(value, str) or not value.startswith(_FORMULA_STARTS):
        return value
    if value[0] == "+" and value[1:].isascii() and value[1:].isdigit():
        return value
    return "'" + value


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)
