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


def delivery_style(value: object) -> str | None:
    """The colour of a delivery status on a terminal: red impossible, green delivered, yellow
    anything else known (the STATUS column of `send --wait` and `status`)."""
    if value == "DeliveryImpossible":
        return "red"
    if value in ("DeliveredToTerminal", "DeliveredToNetwork"):
        return "green"
    return "yellow" if value else None


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

    def table_pages(
        self, pages: Iterable[Sequence[Mapping[str, Any]]], columns: Sequence[Column]
    ) -> int:
        """Rows too many to hold for one table: a table a page at a time, the header once, the
        columns those the first page fills, each as wide as there (a wider cell later folds).
        A terminal's only: piped, `record_stream` writes rows as they come. Returns how many
        rows there were."""
        if self.format is not Format.TABLE:
            raise ValueError("table_pages() prints a table; piped, use record_stream()")
        count = 0
        shown: list[Column] | None = None
        widths: list[int] = []
        for page in pages:
            if not page:
                continue
            if shown is None:
                shown = [c for i, c in enumerate(columns) if i < 2 or _filled(page, c.key)]
                widths = [
                    max(len(c.header), *(len(_cell(r.get(c.key))) for r in page)) for c in shown
                ]
                self._table(page, shown, None, widths=widths)
            else:
                self._table(page, shown, None, widths=widths, header=False)
            count += len(page)
        return count

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

        as_document = document or row
        stream = self.record_stream(columns)
        source = iter(items)
        count = 0
        while chunk := list(itertools.islice(source, page)):
            if self.format is Format.JSON:
                stream.write_documents([as_document(item) for item in chunk])
            else:
                stream.write(r for item in chunk for r in (rows(item) if rows else (row(item),)))
            count += len(chunk)
        stream.close()
        return count

    def record_stream(
        self,
        columns: Sequence[Column],
        *,
        field: str | None = None,
        head: Mapping[str, Any] | None = None,
    ) -> RecordStream:
        """Records to write as they come, a batch at a time (`RecordStream`); a `--json`
        document is begun now. With `field`, the records are that field of a `--json` object
        whose other fields are `head` (before it) and what `close` is given (after it)."""
        return RecordStream(self, columns, field=field, head=head or {})

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

    def check_line(self, status: str, name: str, detail: str, fix: str | None = None) -> None:
        """One line of a checklist (`doctor`): ✓ / ✗ / ! / - in colour on a terminal; `ok`,
        `FAIL`, `warn`, `skip` when piped or with NO_COLOR, so a log or grep reads it the same."""
        text = f"{name}: {detail}" + (f"; fix: {fix}" if fix else "")
        if self.stdout_tty and self.color:
            marks = {"ok": ("✓", "green"), "fail": ("✗", "red"), "warn": ("!", "yellow")}
            mark, style = marks.get(status, ("-", "dim"))
            self.console.print(
                f"[{style}]{mark}[/] {_escape(scrub(text))}", highlight=False, soft_wrap=True
            )
            return
        word = {"ok": "ok", "fail": "FAIL", "warn": "warn"}.get(status, "skip")
        self._write(f"{word:<5} {scrub(text)}\n")

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
        self,
        rows: Sequence[Mapping[str, Any]],
        columns: Sequence[Column],
        title: str | None,
        *,
        widths: Sequence[int] | None = None,
        header: bool = True,
    ) -> None:
        from rich.table import Table

        table = Table(
            title=title, box=None, header_style="bold", pad_edge=False, show_header=header
        )
        for i, column in enumerate(columns):
            width = None if widths is None else widths[i]
            table.add_column(
                column.header, style=column.style, overflow="fold", min_width=width, max_width=width
            )
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


class RecordStream:
    """Records written as they come, each batch in one write: TSV lines, JSON lines, or for
    `--json` the elements of an array, alone or one field of an object, written so that the
    whole reads exactly as `Output.json` of it would (a million rows are never held). Not for a
    table, which must see every row to size its columns."""

    def __init__(
        self,
        output: Output,
        columns: Sequence[Column],
        *,
        field: str | None = None,
        head: Mapping[str, Any],
    ) -> None:
        if output.format is Format.TABLE:
            raise ValueError("a table cannot be streamed; use records()")
        self._output = output
        self._columns = columns
        self._field = field
        self._depth = 0 if field is None else 1  # of the array, in the document
        self.count = 0  # records written
        if output.format is Format.JSON:
            opening = "["
            if field is not None:
                fields = (
                    f"\n  {output.json_part(k, 0)}: {output.json_part(v, 1)},"
                    for k, v in head.items()
                )
                opening = "{" + "".join(fields) + f"\n  {output.json_part(field, 0)}: ["
            output.raw(opening)

    def write(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """A few rows as they come (a send's batch): TSV lines (of the stream's columns), JSON
        lines, or the next `--json` elements, each encoded on its own (a page of thousands goes
        faster through `write_documents`; a batch at a time, this holds less memory)."""
        out = self._output
        if out.format is Format.JSON:
            pad = "\n" + "  " * (self._depth + 1)
            parts = [
                ("," if self.count or i else "") + pad + out.json_part(row, self._depth + 1)
                for i, row in enumerate(rows)
            ]
            if parts:
                out.raw("".join(parts))
                self.count += len(parts)
            return
        if out.format is Format.JSONL:
            lines = [out.json_line_text(row) for row in rows]
        else:
            lines = [out.plain_line(row, self._columns) for row in rows]
        if lines:
            out.raw("".join(lines))
            self.count += len(lines)

    def write_alike(
        self,
        row: Mapping[str, Any],
        key: str,
        values: Iterable[str],
        columns: Sequence[Column] | None = None,
    ) -> None:
        """Rows that differ only in `key`, one for each of `values` (a batch's recipients):
        as TSV (of `columns`, default the stream's), the line is cut once and each value put
        in, not a million rows cut cell by cell."""
        out = self._output
        if out.format is not Format.PLAIN:
            self.write({**row, key: value} for value in values)
            return
        columns = self._columns if columns is None else columns
        parts = out.plain_line({**row, key: _MARK}, columns).split(_MARK)
        if len(parts) != 2:  # the mark is in another cell too: no shortcut
            lines = [out.plain_line({**row, key: value}, columns) for value in values]
        else:
            head, tail = parts
            # A printable value is its own cell: only others go through `_cell`.
            lines = [head + (v if v.isprintable() else _cell(v)) + tail for v in values]
        if lines:
            out.raw("".join(lines))
            self.count += len(lines)

    def write_documents(self, documents: Sequence[Any]) -> None:
        """`--json`: a page of values written as the next elements of the array."""
        if not documents:
            return
        out = self._output
        # The values as a whole array at the array's depth ("[\n  …,\n  …\n]"), less its
        # brackets: one encoder call, and exactly the elements' text in the whole document.
        text = out.json_part(list(documents), self._depth)
        out.raw(("," if self.count else "") + text[1 : -(2 + 2 * self._depth)])
        self.count += len(documents)

    def close(self, tail: Mapping[str, Any] | None = None) -> None:
        """The end of a `--json` document: the array's, then the fields of `tail` (with a
        `field` only), then the object's."""
        out = self._output
        if out.format is not Format.JSON:
            return
        if self._field is None:
            out.raw("\n]\n" if self.count else "]\n")
            return
        fields = (
            f",\n  {out.json_part(k, 0)}: {out.json_part(v, 1)}" for k, v in (tail or {}).items()
        )
        out.raw(("\n  ]" if self.count else "]") + "".join(fields) + "\n}\n")


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


def _filled(rows: Sequence[Mapping[str, Any]], key: str) -> bool:
    return any(row.get(key) for row in rows)


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
_MARK = "\ue000"  # private use: where `RecordStream.write_alike` puts each value in a line


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
