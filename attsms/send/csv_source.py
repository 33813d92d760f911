"""The CSV of personal texts (issue 17): a file, or stdin spooled to a temporary file, read as
a stream of rows as many times as asked (`personal.scan` checks it, `personal.batches` sends
it), each reading hashed so that the job is named by exactly the bytes parsed.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import IO

from attsms.core.errors import UsageError
from attsms.core.fileutil import open_input, temp_file_errors
from attsms.core.numbers import _header_column, _is_header  # as --to-file reads a header
from attsms.send.input import STDIN

# A cell larger than this is refused (csv's own default limit too): no text can hold it (the
# service takes 4096 bytes), and an unclosed quote that swallows the rest of a file shows up as
# one huge cell.
MAX_CELL_CHARS = 128 * 1024
# A physical line is read at most this long, so a file with no newline is not read whole.
MAX_LINE_CHARS = 4 * MAX_CELL_CHARS
# What `--to-file -` may bring (spooled to a temporary file so it can be read twice).
MAX_STDIN_BYTES = 1 << 30


class CsvSource:
    """A CSV file that can be read more than once: a path, or `-` for stdin, which is copied to
    an unnamed temporary file first (a pipe can be read only once)."""

    def __init__(self, name: str, stdin: IO[bytes] | None = None) -> None:
        self.name = name
        self._spool: IO[bytes] | None = None
        if name == STDIN:
            if stdin is None:
                raise UsageError("stdin is not available")
            with temp_file_errors("the CSV from stdin"):
                self._spool = tempfile.TemporaryFile()  # noqa: SIM115 (closed by close())
            try:
                self._copy(stdin, self._spool)
            except BaseException:
                self.close()
                raise

    @staticmethod
    def _copy(stdin: IO[bytes], spool: IO[bytes]) -> None:
        copied = 0
        while chunk := stdin.read(1 << 20):
            copied += len(chunk)
            if copied > MAX_STDIN_BYTES:  # `yes | attsms send --to-file -` must not fill a disk
                raise UsageError(
                    f"stdin holds more than {MAX_STDIN_BYTES >> 20} MB of CSV",
                    hint="give a file with --to-file FILE",
                )
            with temp_file_errors("the CSV from stdin"):  # the spool's errors, not stdin's
                spool.write(chunk)
        with temp_file_errors("the CSV from stdin"):
            spool.flush()

    def open(self) -> IO[bytes]:
        """The file from its start, in binary; the caller closes it (not the spool)."""
        if self._spool is not None:
            # A handle of its own, closed by the reader; it shares the offset, read one at a time.
            self._spool.seek(0)
            return os.fdopen(os.dup(self._spool.fileno()), "rb")
        return open_input(self.name, "recipient file")

    def close(self) -> None:
        if self._spool is not None:
            self._spool.close()
            self._spool = None

    def __enter__(self) -> CsvSource:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


@dataclass(frozen=True)
class Row:
    """One data row: its line in the file (header = line 1), the raw phone cell, every cell by
    column name."""

    line: int
    phone: str
    cells: Mapping[str, str]


class _Hashing(io.RawIOBase):
    """Reads through to `file`, hashing every byte: the digest covers exactly what was parsed."""

    def __init__(self, file: IO[bytes], digest: hashlib._Hash) -> None:
        self._file = file
        self._digest = digest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self._file.read(len(buffer))
        buffer[: len(data)] = data
        self._digest.update(data)
        return len(data)


def _csv_error(error: csv.Error, line: int) -> UsageError:
    if "field larger than field limit" in str(error):  # csv's own cap, the same size
        return UsageError(
            f"line {line} of the recipient file has a cell larger than {MAX_CELL_CHARS:,}"
            " characters",
            hint="check its quotes",
        )
    return UsageError(
        f"the recipient file is not valid CSV at line {line} ({error})", hint="check its quotes"
    )


class CsvTable:
    """The rows of one reading of a CSV with a header row; iterate once, then close.

    The header is read at once: it must name a phone column (the names `--to-file` knows:
    phone, mobile, number, to …) and no column twice. A UTF-8 BOM is dropped. Cells are plain
    text: `=SUM(A1)` is the six characters, nothing is evaluated. Blank lines, lines starting
    with `#` and rows with an empty phone cell are skipped (`skipped` counts the last).
    """

    def __init__(self, source: CsvSource) -> None:
        self.digest = hashlib.sha256()
        self._file = source.open()
        text = io.TextIOWrapper(
            io.BufferedReader(_Hashing(self._file, self.digest)), encoding="utf-8-sig", newline=""
        )
        self._lines = self._physical_lines(text)
        self._reader = csv.reader(self._lines)
        self.skipped = 0
        self.columns: tuple[str, ...] = ()  # until the header is read
        try:
            header = next(self._records(), None)  # the columns are not known yet
        except BaseException:
            self.close()
            raise
        if header is None:
            self.close()
            raise UsageError(f"the recipient file is empty: {source.name}")
        _, _, cells = header
        names = [cell.strip() for cell in cells]
        if not _is_header(names):
            self.close()
            raise UsageError(
                "a template needs a CSV header row naming its columns; the first row holds numbers",
                hint="add a line such as phone,first_name,time at the top",
            )
        column = _header_column(names)
        if column is None:
            self.close()
            raise UsageError(
                f"no phone number column in CSV header: {','.join(names)[:80]!r}",
                hint="name the column phone, mobile, number or to",
            )
        seen: set[str] = set()
        for name in names:
            if name and name in seen:
                self.close()
                raise UsageError(
                    f"the CSV header names column {name!r} twice",
                    hint="rename one: a {column} must name exactly one",
                )
            seen.add(name)
        self.columns = tuple(names)
        self.phone_column = names[column]
        self._phone_index = column

    def _physical_lines(self, text: io.TextIOWrapper) -> Iterator[str]:
        readline = text.readline
        try:
            while line := readline(MAX_LINE_CHARS):
                if len(line) == MAX_LINE_CHARS and not line.endswith(("\n", "\r")):
                    raise UsageError(
                        f"the recipient file has a line longer than {MAX_LINE_CHARS:,} characters",
                        hint="is it a CSV file?",
                    )
                yield line
        except UnicodeDecodeError:
            raise UsageError(
                "the recipient file is not UTF-8 text", hint="save it as CSV UTF-8"
            ) from None

    def _records(self, phone_index: int = -1) -> Iterator[tuple[int, str, list[str]]]:
        """(line, phone, cells) of each row that is neither blank nor a comment; with the phone
        column's `phone_index`, only rows with a phone (the others are counted in `skipped`),
        padded to the header's width. One loop a row: a template send reads a million."""
        reader, width = self._reader, len(self.columns)
        # csv refuses a cell over its limit (the same size, unless someone raised it for the
        # process): then no cell needs measuring here.
        check_cells = csv.field_size_limit() > MAX_CELL_CHARS
        phone = ""
        while True:
            start = reader.line_num + 1
            try:
                cells = next(reader, None)
            except csv.Error as error:
                raise _csv_error(error, start) from None
            if cells is None:
                return
            if not cells or cells[0].lstrip().startswith("#"):
                continue
            count = len(cells)
            if phone_index >= 0:
                phone = cells[phone_index].strip() if phone_index < count else ""
                if not phone:  # a row with a phone is never blank: joined only without one
                    self.skipped += bool("".join(cells).strip())
                    continue
            elif not "".join(cells).strip():
                continue
            if check_cells:
                for cell in cells:
                    if len(cell) > MAX_CELL_CHARS:
                        raise UsageError(
                            f"line {start} of the recipient file has a cell of {len(cell):,}"
                            f" characters; the limit is {MAX_CELL_CHARS:,}",
                            hint="check its quotes",
                        )
            if count < width:
                cells += [""] * (width - count)
            yield start, phone, cells

    def records(self) -> Iterator[tuple[int, str, list[str]]]:
        """(line, phone cell stripped, cells) of each data row with a phone, the cells padded to
        the header's width: what `__iter__` gives without a `Row` and a dict a line."""
        return self._records(self._phone_index)

    def __iter__(self) -> Iterator[Row]:
        columns = self.columns
        for line, phone, cells in self.records():
            values = {name: cells[i] for i, name in enumerate(columns) if name}
            yield Row(line=line, phone=phone, cells=values)

    def hexdigest(self) -> str:
        """SHA-256 of the bytes read so far (all of them once iteration has ended)."""
        return self.digest.hexdigest()

    def close(self) -> None:
        self._file.close()
