"""Personal texts: a `{column}` template rendered once per row of a CSV file (issue 17).

The template language is `{name}` and nothing else: `{{` and `}}` write literal braces, and
attribute access, indexing, format specs, conversions and nested braces are refused. The parser is
written out by hand; user text never reaches `str.format`, whose mini-language reaches into objects
(`{0.__class__.__init__.__globals__}`).

The CSV is read as a stream, twice: `scan` checks every row and gathers the dry-run facts before
anything is sent, and `batches` renders the rows again as the requests to send. Only the counts of
texts shared by several recipients, the addresses and texts seen (int64s in an `IntSet`, 16 bytes
each) and the batches being filled stay in memory, never the rows; `sending.personal_plan` spills
the batches to a temporary file as they are cut.

    template = parse_template("Hi {first_name}, your table at {time}")
    defaults = parse_defaults(["first_name=there"])
    with CsvSource("people.csv") as source:
        facts = scan(template, defaults, source)        # UsageError (exit 2) before any send
        for batch in batches(template, defaults, source, facts):
            ...                                         # batch.text to batch.addresses (<= 50)

`phonenumbers` is imported (by attsms.core.numbers) only when a number needs it.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import io
import os
import re
import tempfile
from array import array
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO

from attsms.core.errors import UsageError

STDIN = "-"

# Rows an error message names before it says how many there are in all.
MAX_NAMED_ROWS = 10
# Recipients of one request: the service takes 50 addresses at most.
BATCH_SIZE = 50
# How many renderings a dry run shows.
SAMPLES = 3
# A cell larger than this is refused (csv's own default limit too): no text can hold it (the
# service takes 4096 bytes), and an unclosed quote that swallows the rest of a file shows up as
# one huge cell.
MAX_CELL_CHARS = 128 * 1024
# A physical line is read at most this long, so a file with no newline is not read whole.
MAX_LINE_CHARS = 4 * MAX_CELL_CHARS
# What `--to-file -` may bring (spooled to a temporary file so it can be read twice).
MAX_STDIN_BYTES = 1 << 30

# Characters that would make `{...}` more than a plain name in str.format's language.
_NOT_IN_NAME = {
    ".": "attribute access is",
    "[": "indexing is",
    "]": "indexing is",
    ":": "a format spec is",
    "!": "a conversion is",
    "{": "nested braces are",
}
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


# --- the template ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Field:
    """A `{name}` in a template."""

    name: str


@dataclass(frozen=True)
class Template:
    """A parsed template: literal text and fields, in order."""

    source: str
    parts: tuple[str | Field, ...]

    @functools.cached_property  # asked for every row
    def fields(self) -> tuple[str, ...]:
        """The distinct field names, in order of first appearance."""
        return tuple(dict.fromkeys(p.name for p in self.parts if isinstance(p, Field)))

    def render(self, values: Mapping[str, str]) -> str:
        """The text for one row; KeyError if `values` lacks a field (see `values_for`)."""
        return "".join(p if isinstance(p, str) else values[p.name] for p in self.parts)


def _where(source: str, index: int) -> str:
    start = max(0, index - 10)
    snippet = source[start : index + 11]
    return f"at character {index + 1} ({snippet!r})"


def parse_template(source: str) -> Template:
    """Parse `source` once. Raises `UsageError` (exit 2) naming the problem and where it is."""
    parts: list[str | Field] = []
    literal: list[str] = []
    i, n = 0, len(source)
    while i < n:
        ch = source[i]
        if ch == "}":
            if source.startswith("}}", i):
                literal.append("}")
                i += 2
                continue
            raise UsageError(
                f"template: '}}' {_where(source, i)} closes nothing",
                hint="write }} for a literal brace",
            )
        if ch != "{":
            literal.append(ch)
            i += 1
            continue
        if source.startswith("{{", i):
            literal.append("{")
            i += 2
            continue
        end = i + 1
        while end < n and source[end] != "}":
            kind = _NOT_IN_NAME.get(source[end])
            if kind is not None:
                raise UsageError(
                    f"template: {kind} not allowed {_where(source, end)}",
                    hint="only {column} is substituted; write {{ and }} for literal braces",
                )
            end += 1
        if end == n:
            raise UsageError(
                f"template: '{{' {_where(source, i)} is never closed",
                hint="write {{ for a literal brace",
            )
        name = source[i + 1 : end].strip()
        if not name:
            raise UsageError(
                f"template: empty field {{}} {_where(source, i)}",
                hint="name a CSV column, e.g. {first_name}; write {{}} for literal braces",
            )
        if _CONTROL.search(name):
            raise UsageError(
                f"template: a field name holds a control character {_where(source, i)}"
            )
        if literal:
            parts.append("".join(literal))
            literal = []
        parts.append(Field(name))
        i = end + 1
    if literal:
        parts.append("".join(literal))
    return Template(source=source, parts=tuple(parts))


def parse_defaults(entries: Iterable[str]) -> dict[str, str]:
    """`--default NAME=VALUE` flags as a dict. The value may be empty (an explicit blank); the
    name may not. Raises `UsageError` for an entry without `=` or a name given twice."""
    defaults: dict[str, str] = {}
    for entry in entries:
        name, sep, value = entry.partition("=")
        name = name.strip()
        if not sep or not name:
            raise UsageError(
                f"--default takes NAME=VALUE, not {entry!r}", hint="e.g. --default first_name=there"
            )
        if name in defaults:
            raise UsageError(f"--default {name} is given twice")
        defaults[name] = value
    return defaults


# --- the CSV ---------------------------------------------------------------------------------


class CsvSource:
    """A CSV file that can be read more than once: a path, or `-` for stdin, which is copied to
    an unnamed temporary file first (a pipe can be read only once)."""

    def __init__(self, name: str, stdin: IO[bytes] | None = None) -> None:
        self.name = name
        self._spool: IO[bytes] | None = None
        if name == STDIN:
            if stdin is None:
                raise UsageError("stdin is not available")
            from attsms.core.fileutil import temp_file_errors

            with temp_file_errors("the CSV from stdin"):
                self._spool = tempfile.TemporaryFile()  # noqa: SIM115 (closed by close())
            try:
                self._copy(stdin, self._spool)
            except BaseException:
                self.close()
                raise
        elif not name:
            raise UsageError("the recipient file name is empty", hint="give a file, or - for stdin")

    @staticmethod
    def _copy(stdin: IO[bytes], spool: IO[bytes]) -> None:
        from attsms.core.fileutil import temp_file_errors

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
        try:
            return Path(self.name).open("rb")
        except FileNotFoundError:
            raise UsageError(f"recipient file not found: {self.name}") from None
        except IsADirectoryError:
            raise UsageError(f"recipient file is a directory: {self.name}") from None
        except PermissionError:
            raise UsageError(
                f"recipient file cannot be read (permission denied): {self.name}"
            ) from None
        except OSError as error:
            raise UsageError(
                f"recipient file cannot be read: {self.name} ({error.strerror})"
            ) from None

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


class CsvTable:
    """The rows of one reading of a CSV with a header row; iterate once, then close.

    The header is read at once: it must name a phone column (the names `--to-file` knows:
    phone, mobile, number, to …) and no column twice. A UTF-8 BOM is dropped. Cells are plain
    text: `=SUM(A1)` is the six characters, nothing is evaluated. Blank lines, lines starting
    with `#` and rows with an empty phone cell are skipped (`skipped` counts the last).
    """

    def __init__(self, source: CsvSource) -> None:
        # The rules `--to-file` uses, so a file works the same with and without --template.
        from attsms.core.numbers import _header_column, _is_header

        self.digest = hashlib.sha256()
        self._file = source.open()
        text = io.TextIOWrapper(
            io.BufferedReader(_Hashing(self._file, self.digest)), encoding="utf-8-sig", newline=""
        )
        self._lines = self._physical_lines(text)
        self._reader = csv.reader(self._lines)
        self.skipped = 0
        try:
            header = next(self._records(), None)
        except BaseException:
            self.close()
            raise
        if header is None:
            self.close()
            raise UsageError(f"the recipient file is empty: {source.name}")
        _, cells = header
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
        while True:
            try:
                line = text.readline(MAX_LINE_CHARS)
            except UnicodeDecodeError:
                raise UsageError(
                    "the recipient file is not UTF-8 text", hint="save it as CSV UTF-8"
                ) from None
            if not line:
                return
            if len(line) == MAX_LINE_CHARS and not line.endswith(("\n", "\r")):
                raise UsageError(
                    f"the recipient file has a line longer than {MAX_LINE_CHARS:,} characters",
                    hint="is it a CSV file?",
                )
            yield line

    def _records(self) -> Iterator[tuple[int, list[str]]]:
        while True:
            start = self._reader.line_num + 1
            try:
                cells = next(self._reader, None)
            except csv.Error as error:
                if "field larger than field limit" in str(error):  # csv's own cap, the same size
                    raise UsageError(
                        f"line {start} of the recipient file has a cell larger than"
                        f" {MAX_CELL_CHARS:,} characters",
                        hint="check its quotes",
                    ) from None
                raise UsageError(
                    f"the recipient file is not valid CSV at line {start} ({error})",
                    hint="check its quotes",
                ) from None
            if cells is None:
                return
            if not cells or not "".join(cells).strip() or cells[0].lstrip().startswith("#"):
                continue
            for cell in cells:
                if len(cell) > MAX_CELL_CHARS:
                    raise UsageError(
                        f"line {start} of the recipient file has a cell of {len(cell):,}"
                        f" characters; the limit is {MAX_CELL_CHARS:,}",
                        hint="check its quotes",
                    )
            yield start, cells

    def __iter__(self) -> Iterator[Row]:
        width = len(self.columns)
        for line, cells in self._records():
            phone = cells[self._phone_index].strip() if self._phone_index < len(cells) else ""
            if not phone:
                self.skipped += 1
                continue
            padded = cells + [""] * (width - len(cells))
            values = {name: padded[i] for i, name in enumerate(self.columns) if name}
            yield Row(line=line, phone=phone, cells=values)

    def hexdigest(self) -> str:
        """SHA-256 of the bytes read so far (all of them once iteration has ended)."""
        return self.digest.hexdigest()

    def close(self) -> None:
        self._file.close()


# --- checking and rendering ------------------------------------------------------------------


def check_columns(template: Template, columns: Sequence[str], defaults: Mapping[str, str]) -> None:
    """Refuse fields no column or default provides, and defaults no field uses (a typo)."""
    known = set(columns) | set(defaults)
    missing = [name for name in template.fields if name not in known]
    if missing:
        by_case = {c.casefold(): c for c in columns if c}
        near = [by_case[m.casefold()] for m in missing if m.casefold() in by_case]
        hint = (
            f"did you mean {{{near[0]}}}? names are matched exactly"
            if near
            else f"the columns are {', '.join(c for c in columns if c)}; or --default NAME=VALUE"
        )
        raise UsageError(
            "the template names "
            + ("a column" if len(missing) == 1 else "columns")
            + " the CSV does not have: "
            + ", ".join(f"{{{m}}}" for m in missing),
            hint=hint,
        )
    unused = [name for name in defaults if name not in template.fields]
    if unused:
        raise UsageError(
            f"--default {unused[0]} names no field of the template",
            hint=f"the template's fields are {', '.join(template.fields) or '(none)'}",
        )


def values_for(
    template: Template, row: Row, defaults: Mapping[str, str]
) -> tuple[dict[str, str], list[str]]:
    """The values the template takes from `row`, with defaults for missing or blank cells, and
    the fields that still have none."""
    values: dict[str, str] = {}
    empty: list[str] = []
    for name in template.fields:
        value = row.cells.get(name, "")
        if not value.strip():
            if name in defaults:
                value = defaults[name]
            else:
                empty.append(name)
        values[name] = value
    return values, empty


@dataclass(frozen=True)
class Recipient:
    line: int  # of the CSV
    address: str  # wire form, tel:+1… or short:…
    text: str


@dataclass(frozen=True)
class Ucs2Row:
    line: int
    address: str
    characters: tuple[str, ...]  # what forced UCS-2, in order of appearance


@dataclass(frozen=True)
class Facts:
    """What `scan` learned: enough to check a job, show a dry run and plan its requests."""

    recipients: int  # distinct addresses, each with its text
    duplicates: int  # rows whose address an earlier row had (the first row's text wins)
    skipped: int  # rows with an empty phone cell
    samples: tuple[Recipient, ...]
    segments_min: int
    segments_max: int
    segments_total: int
    ucs2_rows: tuple[Ucs2Row, ...]  # the first MAX_NAMED_ROWS
    ucs2_count: int
    requests: int  # identical texts share requests of <= BATCH_SIZE; others one each
    digest: str  # SHA-256 over the template, the defaults and the CSV's bytes: the job identity
    shared: Mapping[int, int] = field(repr=False)  # text key -> recipients, for texts sent to > 1
    codes: array[int] = field(repr=False)  # the recipients (`numbers.to_code`), in file order

    def summary(self) -> dict[str, object]:
        """The dry run as JSON-able data (`--dry-run --json`)."""
        return {
            "recipients": self.recipients,
            "duplicates": self.duplicates,
            "skipped_blank_numbers": self.skipped,
            "requests": self.requests,
            "samples": [{"line": s.line, "to": s.address, "text": s.text} for s in self.samples],
            "segments": {
                "min": self.segments_min,
                "max": self.segments_max,
                "total": self.segments_total,
            },
            "ucs2": {
                "count": self.ucs2_count,
                "rows": [
                    {"line": r.line, "to": r.address, "characters": list(r.characters)}
                    for r in self.ucs2_rows
                ],
            },
        }

    def lines(self) -> list[str]:
        """The dry run for people, one fact a line (stderr or a table is the caller's choice)."""
        out = [f"{self.recipients} personal texts in {self.requests} requests"]
        if self.duplicates or self.skipped:
            out.append(
                f"{self.duplicates} rows repeat an earlier number (its first row is used);"
                f" {self.skipped} rows have no number"
            )
        out.append(
            f"segments per text: min {self.segments_min}, max {self.segments_max};"
            f" {self.segments_total} in all"
        )
        for sample in self.samples:
            out.append(f"  line {sample.line}, {sample.address}: {sample.text!r}")
        if self.ucs2_count:
            named = ", ".join(
                f"line {r.line} ({' '.join(repr(c) for c in r.characters)})" for r in self.ucs2_rows
            )
            more = ", …" if self.ucs2_count > len(self.ucs2_rows) else ""
            out.append(
                f"{self.ucs2_count} texts fall to UCS-2 (70 characters a segment): {named}{more}"
            )
        return out


def _text_key(text: str) -> int:
    """A nonzero 64-bit digest of `text`: a million distinct texts are counted without holding
    them. Two texts sharing one (about 1 in 10**7 for a million texts) are never sent as one:
    `batches` groups by the text itself, the key only counts."""
    digest = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True) or 1


def _identity(template: Template, defaults: Mapping[str, str], csv_digest: str) -> str:
    digest = hashlib.sha256()
    for part in (template.source, repr(sorted(defaults.items())), csv_digest):
        data = part.encode("utf-8", "surrogatepass")
        digest.update(len(data).to_bytes(8, "big") + data)
    return digest.hexdigest()


def _rows_named(entries: Sequence[str], total: int) -> str:
    more = ", …" if total > len(entries) else ""
    return f"{total} row{'s' * (total > 1)}: {', '.join(entries)}{more}"


class _Problems:
    """Bad rows of one kind: the first few described, all counted."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.named: list[str] = []
        self.count = 0

    def add(self, description: str) -> None:
        self.count += 1
        if len(self.named) < MAX_NAMED_ROWS:
            self.named.append(description)

    def __str__(self) -> str:
        return f"{self.what} on {_rows_named(self.named, self.count)}"


def _recipients(
    template: Template,
    defaults: Mapping[str, str],
    table: CsvTable,
    region: str,
    problems: dict[str, _Problems] | None,
) -> Iterator[Recipient | None]:
    """Each row's recipient, None for a row whose address came earlier. With `problems`, bad
    rows are recorded there and skipped; without, they raise (the file changed since `scan`)."""
    from attsms.core.intset import IntSet
    from attsms.core.numbers import normalize, to_code
    from attsms.core.segments import check_message

    seen = IntSet()
    for row in table:
        try:
            address = normalize(row.phone, region)
        except UsageError as error:
            if problems is None:
                raise
            problems["number"].add(f"line {row.line} {error.message.rpartition(': ')[2]}")
            continue
        values, empty = values_for(template, row, defaults)
        if empty:
            if problems is None:
                raise UsageError(f"line {row.line}: no value for {{{empty[0]}}}")
            problems["empty"].add(f"line {row.line} ({', '.join(empty)})")
            continue
        text = template.render(values)
        try:
            check_message(text)
        except UsageError as error:
            if problems is None:
                raise
            problems["text"].add(f"line {row.line} ({error.message.removeprefix('message ')})")
            continue
        if not seen.add(to_code(address)):
            yield None
            continue
        yield Recipient(line=row.line, address=address, text=text)


def scan(
    template: Template,
    defaults: Mapping[str, str],
    source: CsvSource,
    *,
    region: str = "US",
) -> Facts:
    """Read the whole CSV once and check it: every row must have a usable number, a value for
    every field (a cell or a default) and a text the service takes. All bad rows are reported
    in one `UsageError` (exit 2), naming the first 10 of each kind and their count, so nothing
    is sent from a file with a mistake in it. Returns the dry-run facts and what `batches`
    needs."""
    from attsms.core.intset import IntSet
    from attsms.core.numbers import to_code
    from attsms.core.segments import UCS_2, analyze

    table = CsvTable(source)
    try:
        check_columns(template, table.columns, defaults)
        problems = {
            "number": _Problems("not a phone number"),
            "empty": _Problems("no value for a template field"),
            "text": _Problems("a text the service would refuse"),
        }
        # Texts seen once are only in `texts`; `shared` counts those seen again (all of their
        # recipients), so memory grows with the distinct texts at 16 bytes each.
        texts = IntSet()
        shared: dict[int, int] = {}
        samples: list[Recipient] = []
        ucs2: list[Ucs2Row] = []
        recipients = duplicates = ucs2_count = total = 0
        seg_min, seg_max = 0, 0
        codes: array[int] = array("q")
        for recipient in _recipients(template, defaults, table, region, problems):
            if recipient is None:
                duplicates += 1
                continue
            recipients += 1
            codes.append(to_code(recipient.address))
            if len(samples) < SAMPLES:
                samples.append(recipient)
            info = analyze(recipient.text)
            total += info.segments
            seg_min = info.segments if recipients == 1 else min(seg_min, info.segments)
            seg_max = max(seg_max, info.segments)
            if info.encoding == UCS_2:
                ucs2_count += 1
                if len(ucs2) < MAX_NAMED_ROWS:
                    ucs2.append(Ucs2Row(recipient.line, recipient.address, info.non_gsm))
            key = _text_key(recipient.text)
            if not texts.add(key):
                shared[key] = shared.get(key, 1) + 1
        bad = [str(p) for p in problems.values() if p.count]
        if bad:
            hint = "fill them in, or give --default NAME=VALUE" if problems["empty"].count else None
            raise UsageError("; ".join(bad), hint=hint)
        if not recipients:
            raise UsageError(f"no recipients in {source.name}")
        skipped = table.skipped
        csv_digest = table.hexdigest()
    finally:
        table.close()
    alone = len(texts) - len(shared)
    return Facts(
        recipients=recipients,
        duplicates=duplicates,
        skipped=skipped,
        samples=tuple(samples),
        segments_min=seg_min,
        segments_max=seg_max,
        segments_total=total,
        ucs2_rows=tuple(ucs2),
        ucs2_count=ucs2_count,
        requests=alone + sum(-(-n // BATCH_SIZE) for n in shared.values()),
        digest=_identity(template, defaults, csv_digest),
        shared=shared,
        codes=codes,
    )


@dataclass(frozen=True)
class Batch:
    """One request: a text and the recipients (at most BATCH_SIZE) that get it."""

    text: str
    recipients: tuple[Recipient, ...]

    @property
    def addresses(self) -> list[str]:
        return [r.address for r in self.recipients]


class SourceChangedError(UsageError):
    """The CSV changed between `scan` and `batches`: the job's identity no longer holds."""


def batches(
    template: Template,
    defaults: Mapping[str, str],
    source: CsvSource,
    facts: Facts,
    *,
    region: str = "US",
    size: int = BATCH_SIZE,
) -> Iterator[Batch]:
    """The requests to send, in file order of their first recipient, reading the CSV again.

    A text only one recipient gets is a batch at once; a shared text waits until `size`
    recipients have it or its last one (counted by `scan`) is read. Memory holds those waiting
    batches and the addresses seen, not the file. If the file no longer matches `facts` (its
    digest, at the end), what it held is still yielded and then `SourceChangedError` is raised.
    """
    table = CsvTable(source)
    try:
        # By the text itself: two texts that share a key (see `_text_key`) wait apart.
        waiting: dict[str, list[Recipient]] = {}
        remaining = dict(facts.shared)
        for recipient in _recipients(template, defaults, table, region, None):
            if recipient is None:
                continue
            key = _text_key(recipient.text)
            if key not in remaining:
                yield Batch(recipient.text, (recipient,))
                continue
            group = waiting.setdefault(recipient.text, [])
            group.append(recipient)
            remaining[key] -= 1
            if len(group) == size or remaining[key] <= 0:
                yield Batch(recipient.text, tuple(group))
                del waiting[recipient.text]
        for group in waiting.values():  # a shared key, or the file changed
            yield Batch(group[0].text, tuple(group))
        changed = _identity(template, defaults, table.hexdigest()) != facts.digest
    finally:
        table.close()
    if changed:
        raise SourceChangedError(
            f"{source.name} changed while it was being sent",
            hint="run the command again: recipients already sent are in the journal",
        )
