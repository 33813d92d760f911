"""Personal texts (issue 17): a `{column}` template (`attsms.send.template`) rendered once per
row of a CSV file (`attsms.send.csv_source`), and a template send put together from them.

The CSV is read as a stream, once: `scan` checks every row and gathers the dry-run facts before
anything is sent, and (`spill=True`, a send) writes each recipient's number and rendered text to
an unnamed temporary file as it goes; `batches` cuts the requests from that file, never parsing or
rendering a row again (a scan without it reads the CSV again). Only the counts of texts shared by
several recipients, the addresses and texts seen (int64s in an `IntSet`, 16 bytes each) and the
batches being filled stay in memory, never the rows; `plan.personal_plan` spills the batches to a
temporary file as they are cut.

    template = parse_template("Hi {first_name}, your table at {time}")
    defaults = parse_defaults(["first_name=there"])
    with CsvSource("people.csv") as source:
        facts = scan(template, defaults, source)        # UsageError (exit 2) before any send
        for batch in batches(template, defaults, source, facts):
            ...                                         # batch.text to batch.addresses (<= 50)

`read_template_send` does all of that for `attsms send --template`.
`phonenumbers` is imported (by attsms.core.numbers) only when a number needs it.
"""

from __future__ import annotations

import hashlib
import io
import struct
from array import array
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO

from attsms.core.errors import UsageError
from attsms.core.fileutil import temp_file_errors
from attsms.core.intset import IntSet
from attsms.core.numbers import display, from_code, normalize, to_code
from attsms.core.segments import UCS_2, SegmentInfo, analyze, check_message
from attsms.send.csv_source import CsvSource, CsvTable, Row
from attsms.send.input import STDIN, SendRequest, read_message
from attsms.send.plan import BATCH_SIZE, SendPlan, personal_plan
from attsms.send.template import Template, parse_defaults, parse_template

# Rows an error message names before it says how many there are in all.
MAX_NAMED_ROWS = 10
# How many renderings a dry run shows.
SAMPLES = 3


# --- a template send -------------------------------------------------------------------------


def read_template_send(
    request: SendRequest, *, region: str, stdin: IO[str], planned: bool
) -> tuple[Facts, SendPlan | None]:
    """A `--template` send: the template read and parsed, and every row of its CSV checked
    (`scan`: all bad rows named in one `UsageError`, exit 2, before anything is sent); with
    `planned`, the plan of its requests cut from what the check spilled (`batches`)."""
    template, defaults = _template_of(request, stdin)
    assert request.to_file is not None  # _template_of refuses a send without one
    with CsvSource(request.to_file, stdin=_csv_stdin(request.to_file, stdin)) as source:
        facts = scan(template, defaults, source, region=region, spill=planned)
        if not planned:
            return facts, None
        rendered = (
            (batch.text, batch.codes)
            for batch in batches(template, defaults, source, facts, region=region)
        )
        return facts, personal_plan(rendered, facts.digest)


def _template_of(request: SendRequest, stdin: IO[str]) -> tuple[Template, dict[str, str]]:
    """The template (from -m, or a file or stdin) parsed, and the --default values."""
    message, message_file = request.message, request.message_file
    if request.to_file is None:
        raise UsageError("--template needs --to-file: a CSV with a header row")
    if request.to:
        raise UsageError("--template takes its recipients from --to-file only, not arguments")
    if message is not None and message_file is not None:
        raise UsageError("give the template once: -m TEXT or --message-file FILE, not both")
    if message is None:
        if message_file is None:
            raise UsageError("--template needs the template", hint="give -m TEXT or --message-file")
        if message_file == request.to_file == STDIN:
            raise UsageError("stdin cannot carry both the CSV and the template")
        message = read_message(message_file, stdin)
    return parse_template(message), parse_defaults(request.defaults)


def _csv_stdin(to_file: str, stdin: IO[str]) -> IO[bytes] | None:
    """The bytes of stdin when the CSV comes from it (`--to-file -`)."""
    if to_file != STDIN:
        return None
    # A StringIO (tests, embedding) has no bytes under it.
    buffer: IO[bytes] | None = getattr(stdin, "buffer", None)
    return buffer or io.BytesIO(stdin.read().encode())


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
    code: int = field(default=0, repr=False, compare=False)  # `numbers.to_code(address)`


@dataclass(frozen=True)
class Ucs2Row:
    line: int
    address: str
    characters: tuple[str, ...]  # what forced UCS-2, in order of appearance


@dataclass(frozen=True)
class Facts:
    """What `scan` learned: enough to check a job, show a dry run and plan its requests."""

    recipients: int  # distinct addresses, each with its text
    duplicates: int  # rows repeating an earlier row's address and text (sent once)
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
    # With `scan(spill=True)`: every recipient as checked, for `batches` to read instead of the CSV.
    spilled: _SpilledRecipients | None = field(default=None, repr=False, compare=False)

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
                f"{self.duplicates} rows repeat an earlier row (same number, same text: sent"
                " once);"
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
    on_repeat: Callable[[Recipient], None] | None = None,
) -> Iterator[Recipient | None]:
    """Each row's recipient, None for a row whose address came earlier (told to `on_repeat`).
    With `problems`, bad rows are recorded there and skipped; without, they raise (the file
    changed since `scan`)."""
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
        code = to_code(address)
        if not seen.add(code):
            if on_repeat is not None:
                on_repeat(Recipient(row.line, address, text, code))
            yield None
            continue
        yield Recipient(row.line, address, text, code)


class _Repeats:
    """Rows whose number an earlier row had. With the same text they are one recipient (the
    dry run counts them); with another text, which one the person should get is not for attsms
    to choose: `refuse_other_texts` names them. Kept as int64s (24 bytes a repeat); the first
    rows are found by reading the CSV again, only when there are repeats."""

    def __init__(self) -> None:
        self.codes: array[int] = array("q")
        self.lines: array[int] = array("q")
        self.keys: array[int] = array("q")

    def add(self, recipient: Recipient) -> None:
        self.codes.append(to_code(recipient.address))
        self.lines.append(recipient.line)
        self.keys.append(_text_key(recipient.text))

    def refuse_other_texts(
        self, template: Template, defaults: Mapping[str, str], source: CsvSource, region: str
    ) -> None:
        """A `UsageError` naming each number whose rows would give it different texts, with the
        lines of its first row and of the other one."""
        if not self.codes:
            return
        wanted = set(self.codes)
        first: dict[int, tuple[int, int]] = {}  # code -> (line, text key) of its first row
        table = CsvTable(source)
        try:
            for recipient in _recipients(template, defaults, table, region, None):
                if recipient is not None and (code := to_code(recipient.address)) in wanted:
                    first.setdefault(code, (recipient.line, _text_key(recipient.text)))
        finally:
            table.close()
        problems = _Problems("the same number with different texts")
        for code, line, key in zip(self.codes, self.lines, self.keys, strict=True):
            first_line, first_key = first[code]
            if key != first_key:
                problems.add(f"{display(from_code(code))} (lines {first_line} and {line})")
        if problems.count:
            raise UsageError(
                str(problems), hint="keep one row for each number, or make their texts the same"
            )


def scan(
    template: Template,
    defaults: Mapping[str, str],
    source: CsvSource,
    *,
    region: str = "US",
    spill: bool = False,
) -> Facts:
    """Read the whole CSV once and check it: every row must have a usable number, a value for
    every field (a cell or a default) and a text the service takes. All bad rows are reported
    in one `UsageError` (exit 2), naming the first 10 of each kind and their count, so nothing
    is sent from a file with a mistake in it. Returns the dry-run facts and what `batches`
    needs: with `spill`, every recipient as checked (so the CSV need not be read again)."""
    table = CsvTable(source)
    spilled = _SpilledRecipients() if spill else None
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
        recipients = duplicates = ucs2_count = 0
        codes: array[int] = array("q")
        repeats = _Repeats()
        segments = _Segments()
        for recipient in _recipients(template, defaults, table, region, problems, repeats.add):
            if recipient is None:
                duplicates += 1
                continue
            recipients += 1
            code = recipient.code
            codes.append(code)
            if len(samples) < SAMPLES:
                samples.append(recipient)
            info, key = segments.count(recipient.text)
            if info.encoding == UCS_2:
                ucs2_count += 1
                if len(ucs2) < MAX_NAMED_ROWS:
                    ucs2.append(Ucs2Row(recipient.line, recipient.address, info.non_gsm))
            if not texts.add(key):
                shared[key] = shared.get(key, 1) + 1
            if spilled is not None:
                spilled.append(code, recipient.line, key, recipient.text)
        bad = [str(p) for p in problems.values() if p.count]
        if bad:
            hint = "fill them in, or give --default NAME=VALUE" if problems["empty"].count else None
            raise UsageError("; ".join(bad), hint=hint)
        repeats.refuse_other_texts(template, defaults, source, region)
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
        segments_min=segments.min,
        segments_max=segments.max,
        segments_total=segments.total,
        ucs2_rows=tuple(ucs2),
        ucs2_count=ucs2_count,
        requests=alone + sum(-(-n // BATCH_SIZE) for n in shared.values()),
        digest=_identity(template, defaults, csv_digest),
        shared=shared,
        codes=codes,
        spilled=spilled.seal() if spilled is not None else None,
    )


@dataclass(frozen=True)
class Batch:
    """One request: a text and the recipients (at most BATCH_SIZE) that get it."""

    text: str
    recipients: tuple[Recipient, ...]

    @property
    def addresses(self) -> list[str]:
        return [r.address for r in self.recipients]

    @property
    def codes(self) -> array[int]:
        """The addresses as `numbers.to_code` has them."""
        return array("q", [r.code or to_code(r.address) for r in self.recipients])


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
    """The requests to send, in file order of their first recipient: from what `scan` spilled,
    or (a scan without `spill`) reading the CSV again.

    A text only one recipient gets is a batch at once; a shared text waits until `size`
    recipients have it or its last one (counted by `scan`) is read. Memory holds those waiting
    batches and the addresses seen, not the file. If the file no longer matches `facts` (its
    digest, at the end), what it held is still yielded and then `SourceChangedError` is raised.
    """
    if facts.spilled is not None:
        yield from _grouped(facts.spilled.read(), facts.shared, size)
        return
    table = CsvTable(source)
    try:
        read = _recipients(template, defaults, table, region, None)
        keyed = ((_text_key(r.text), r) for r in read if r is not None)
        yield from _grouped(keyed, facts.shared, size)  # a shared key, or the file changed: kept
        changed = _identity(template, defaults, table.hexdigest()) != facts.digest
    finally:
        table.close()
    if changed:
        raise SourceChangedError(
            f"{source.name} changed while it was being sent",
            hint="run the command again: recipients already sent are in the journal",
        )


def _grouped(
    recipients: Iterator[tuple[int, Recipient]], shared: Mapping[int, int], size: int
) -> Iterator[Batch]:
    """`batches` of (text key, recipient) in file order: a text only one recipient gets is a
    batch at once, a shared one waits for `size` recipients or its last (counted by `scan`)."""
    waiting: dict[str, list[Recipient]] = {}  # by the text itself (see `_text_key`)
    remaining = dict(shared)
    for key, recipient in recipients:
        if key not in remaining:
            yield Batch(recipient.text, (recipient,))
            continue
        group = waiting.setdefault(recipient.text, [])
        group.append(recipient)
        remaining[key] -= 1
        if len(group) == size or remaining[key] <= 0:
            yield Batch(recipient.text, tuple(group))
            del waiting[recipient.text]
    for group in waiting.values():  # texts sharing a key
        yield Batch(group[0].text, tuple(group))


class _Segments:
    """The segments of each text counted (min, max, total); `analyze` and `_text_key` of the
    first texts seen remembered: shared texts repeat (a template of a few values), and a text
    sent to one person is analyzed once anyway."""

    REMEMBERED = 1024

    def __init__(self) -> None:
        self._known: dict[str, tuple[SegmentInfo, int]] = {}
        self.min = self.max = self.total = 0

    def count(self, text: str) -> tuple[SegmentInfo, int]:
        """The text's segments (counted) and its key."""
        known = self._known.get(text)
        if known is None:
            known = analyze(text), _text_key(text)
            if len(self._known) < self.REMEMBERED:
                self._known[text] = known
        info = known[0]
        self.min = min(self.min, info.segments) if self.total else info.segments
        self.max = max(self.max, info.segments)
        self.total += info.segments
        return known


class _SpilledRecipients:
    """The recipients `scan` checked, in file order, in an unnamed temporary file (0600, already
    unlinked): number, line, text key and text, read back once by `batches`."""

    WHAT = "the plan of the send"  # its first part: what a full TMPDIR error names
    _HEAD = struct.Struct("<qqqI")  # code, line, text key, text length
    BLOCK = 1 << 20  # read back a MB at a time: memory does not grow with the rows

    def __init__(self) -> None:
        import tempfile

        with temp_file_errors(self.WHAT):
            self._file = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the facts
        self._buffer = bytearray()  # written a block at a time

    def append(self, code: int, line: int, key: int, text: str) -> None:
        data = text.encode("utf-8", "surrogatepass")
        self._buffer += self._HEAD.pack(code, line, key, len(data))
        self._buffer += data
        if len(self._buffer) >= self.BLOCK:
            self._write()

    def _write(self) -> None:
        with temp_file_errors(self.WHAT):
            self._file.write(self._buffer)
        self._buffer.clear()

    def seal(self) -> _SpilledRecipients:
        """Everything on disk before the first read (a full disk says so here, before a send)."""
        self._write()
        with temp_file_errors(self.WHAT):
            self._file.flush()
        return self

    def read(self) -> Iterator[tuple[int, Recipient]]:
        """(text key, recipient) of each, in file order, a block of the file at a time."""
        head = self._HEAD
        with temp_file_errors(self.WHAT):
            self._file.seek(0)
        rest = b""
        while True:
            with temp_file_errors(self.WHAT):
                block = self._file.read(self.BLOCK)
            if not block:
                return
            data, offset = rest + block, 0
            while offset + head.size <= len(data):
                code, line, key, size = head.unpack_from(data, offset)
                start = offset + head.size
                if start + size > len(data):
                    break  # its text goes on in the next block
                text = data[start : start + size].decode("utf-8", "surrogatepass")
                offset = start + size
                yield key, Recipient(line, from_code(code), text, code)
            rest = data[offset:]
