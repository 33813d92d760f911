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
import operator
import struct
from array import array
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO

from attsms.core.errors import UsageError
from attsms.core.fileutil import temp_file_errors
from attsms.core.intset import IntSet
from attsms.core.numbers import common_us_code, display, from_code, normalize, to_code
from attsms.core.segments import UCS_2, analyze, check_message
from attsms.send.csv_source import CsvSource, CsvTable
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
        assert facts.spilled is not None  # scan(spill=True)
        rendered = map(_planned, _grouped(facts.spilled.read(), facts.shared, BATCH_SIZE))
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


def _key_of(data: bytes) -> int:
    """A nonzero 64-bit digest of a text's UTF-8 bytes: a million distinct texts are counted
    without holding them. Two texts sharing one (about 1 in 10**7 for a million texts) are never
    sent as one: `batches` groups by the text itself, the key only counts."""
    digest = hashlib.blake2b(data, digest_size=8).digest()
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


class _Text:
    """A row's text as checked (`check_message`), with what a send needs of it: its segments,
    key and UTF-8 bytes (as `_SpilledRecipients` writes them, after its key and length), made
    once for a text many rows share (see `_Texts`)."""

    __slots__ = ("info", "key", "recipients", "remembered", "spilled", "text", "ucs2")

    def __init__(self, text: str, *, remembered: bool) -> None:
        check_message(text)  # UsageError: a text the service would refuse
        self.text = text
        self.info = analyze(text)
        data = text.encode("utf-8", "surrogatepass")
        self.key = _key_of(data)
        self.spilled = _SpilledRecipients.tail(self.key, data)
        self.ucs2 = self.info.encoding == UCS_2
        self.remembered = remembered  # by `_Texts`: `recipients` counts its rows in `scan`
        self.recipients = 0


class _Texts:
    """Each row's `_Text`: rendered from the cells its fields name, with --default values for
    blank ones. The first REMEMBERED texts are remembered (`by_text`), so that a file of a few
    texts checks and analyzes each once, not once a row; and by the cells they come from
    (`known`, short cells only), so that such a file renders each once too."""

    REMEMBERED = 1024
    KEY_CHARS = 256  # longer cells are rendered each time: `known` stays a few hundred KB

    def __init__(
        self, template: Template, defaults: Mapping[str, str], columns: Sequence[str]
    ) -> None:
        index = {name: i for i, name in enumerate(columns) if name}
        self._template = template
        self._fields = [(name, index.get(name), defaults.get(name)) for name in template.fields]
        self._named = named = [index[name] for name in template.fields if name in index]
        # The cells a row's text depends on (the defaults are the same for every row).
        self.cells_of: Callable[[list[str]], object] = (
            operator.itemgetter(*named) if named else lambda cells: ()
        )
        self.known: dict[object, _Text] = {}
        self.by_text: dict[str, _Text] = {}

    def render(self, cells: list[str]) -> _Text | list[str]:
        """The row's text (UsageError if the service would refuse it), or the fields it has no
        value for."""
        values: list[str] = []
        empty: list[str] = []
        for name, column, default in self._fields:
            value = cells[column] if column is not None else ""
            if not value.strip():
                if default is not None:
                    value = default
                else:
                    empty.append(name)
            values.append(value)
        if empty:
            return empty
        rendered = self._template.render_fields(values)
        text = self.by_text.get(rendered)
        if text is None:
            remember = len(self.by_text) < self.REMEMBERED
            text = _Text(rendered, remembered=remember)
            if remember:
                self.by_text[rendered] = text
        if (
            text.remembered
            and len(self.known) < self.REMEMBERED
            and sum(len(cells[i]) for i in self._named) <= self.KEY_CHARS
        ):
            self.known[self.cells_of(cells)] = text
        return text


def _recipients(
    texts: _Texts, table: CsvTable, region: str, problems: dict[str, _Problems] | None
) -> Iterator[tuple[int, int, _Text]]:
    """(line, `to_code` of its address, text) of each good row, repeats included. With
    `problems`, bad rows are recorded there and skipped; without, they raise (the file changed
    since `scan`). A template send reads a million: the common case is a few C calls."""
    known, cells_of = texts.known.get, texts.cells_of
    us = region == "US"
    for line, phone, cells in table.records():
        code = common_us_code(phone) if us else None
        if code is None:
            try:
                code = to_code(normalize(phone, region))
            except UsageError as error:
                if problems is None:
                    raise
                problems["number"].add(f"line {line} {error.message.rpartition(': ')[2]}")
                continue
        text = known(cells_of(cells))
        if text is None:
            try:
                rendered = texts.render(cells)
            except UsageError as error:
                if problems is None:
                    raise
                problems["text"].add(f"line {line} ({error.message.removeprefix('message ')})")
                continue
            if isinstance(rendered, list):
                if problems is None:
                    raise UsageError(f"line {line}: no value for {{{rendered[0]}}}")
                problems["empty"].add(f"line {line} ({', '.join(rendered)})")
                continue
            text = rendered
        yield line, code, text


def _distinct(rows: Iterator[tuple[int, int, _Text]]) -> Iterator[tuple[int, int, _Text]]:
    """`_recipients` without the rows whose address came earlier."""
    seen = IntSet()
    for row in rows:
        if seen.add(row[1]):
            yield row


class _Repeats:
    """Rows whose number an earlier row had. With the same text they are one recipient (the
    dry run counts them); with another text, which one the person should get is not for attsms
    to choose: `refuse_other_texts` names them. Kept as int64s (24 bytes a repeat); the first
    rows are found by reading the CSV again, only when there are repeats."""

    def __init__(self) -> None:
        self.codes: array[int] = array("q")
        self.lines: array[int] = array("q")
        self.keys: array[int] = array("q")

    def add(self, code: int, line: int, key: int) -> None:
        self.codes.append(code)
        self.lines.append(line)
        self.keys.append(key)

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
            texts = _Texts(template, defaults, table.columns)
            for line, code, text in _distinct(_recipients(texts, table, region, None)):
                if code in wanted:
                    first.setdefault(code, (line, text.key))
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
        texts, tally = _Texts(template, defaults, table.columns), _Tally()
        seen = IntSet()
        codes: array[int] = array("q")
        repeats = _Repeats()
        sampling = True
        # Once a row: the common row (a remembered text, a new number) is counted here inline.
        for line, code, text in _recipients(texts, table, region, problems):
            if not seen.add(code):
                repeats.add(code, line, text.key)
                continue
            codes.append(code)
            if text.remembered:
                text.recipients += 1  # its texts and segments are counted at the end
            else:
                tally.add(text)
            if text.ucs2 or sampling:
                sampling = tally.note(line, code, text)
            if spilled is not None:
                spilled.append(code, line, text)
        bad = [str(p) for p in problems.values() if p.count]
        if bad:
            hint = "fill them in, or give --default NAME=VALUE" if problems["empty"].count else None
            raise UsageError("; ".join(bad), hint=hint)
        repeats.refuse_other_texts(template, defaults, source, region)
        if not codes:
            raise UsageError(f"no recipients in {source.name}")
        skipped = table.skipped
        csv_digest = table.hexdigest()
    finally:
        table.close()
    tally.add_remembered(texts.by_text.values())
    return Facts(
        recipients=len(codes),
        duplicates=len(repeats.codes),
        skipped=skipped,
        samples=tuple(tally.samples),
        segments_min=tally.min,
        segments_max=tally.max,
        segments_total=tally.total,
        ucs2_rows=tuple(tally.ucs2),
        ucs2_count=tally.ucs2_count,
        requests=tally.requests(),
        digest=_identity(template, defaults, csv_digest),
        shared=tally.shared,
        codes=codes,
        spilled=spilled.seal() if spilled is not None else None,
    )


class _Tally:
    """The texts and segments of a scan counted. Texts seen once are only in `texts`; `shared`
    counts those seen again (all of their recipients), so memory grows with the distinct texts
    at 16 bytes each. Remembered texts (`_Texts`) count their own rows, added at the end."""

    def __init__(self) -> None:
        self.texts = IntSet()
        self.shared: dict[int, int] = {}
        self.min = self.max = self.total = 0
        self.samples: list[Recipient] = []
        self.ucs2: list[Ucs2Row] = []
        self.ucs2_count = 0

    def add(self, text: _Text, recipients: int = 1) -> None:
        """`recipients` more rows given `text`."""
        key = text.key
        if self.texts.add(key):
            if recipients > 1:
                self.shared[key] = recipients
        else:
            self.shared[key] = self.shared.get(key, 1) + recipients
        segments = text.info.segments
        self.min = min(self.min, segments) if self.total else segments
        self.max = max(self.max, segments)
        self.total += segments * recipients

    def add_remembered(self, texts: Iterable[_Text]) -> None:
        for text in texts:
            if text.recipients:
                self.add(text, text.recipients)

    def note(self, line: int, code: int, text: _Text) -> bool:
        """A sample (the first SAMPLES recipients) or a text that fell to UCS-2; whether more
        samples are wanted."""
        if len(self.samples) < SAMPLES:
            self.samples.append(Recipient(line, from_code(code), text.text, code))
        if text.ucs2:
            self.ucs2_count += 1
            if len(self.ucs2) < MAX_NAMED_ROWS:
                self.ucs2.append(Ucs2Row(line, from_code(code), text.info.non_gsm))
        return len(self.samples) < SAMPLES

    def requests(self) -> int:
        """Identical texts share requests of <= BATCH_SIZE; others are one each."""
        alone = len(self.texts) - len(self.shared)
        return alone + sum(-(-n // BATCH_SIZE) for n in self.shared.values())


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
        yield from map(_batch, _grouped(facts.spilled.read(), facts.shared, size))
        return
    table = CsvTable(source)
    try:
        read = _distinct(
            _recipients(_Texts(template, defaults, table.columns), table, region, None)
        )
        spilled = (
            (text.key, text.text.encode("utf-8", "surrogatepass"), code, line)
            for line, code, text in read
        )
        # A text not counted by `scan` (a shared key, or the file changed) is kept to the end.
        yield from map(_batch, _grouped(spilled, facts.shared, size))
        changed = _identity(template, defaults, table.hexdigest()) != facts.digest
    finally:
        table.close()
    if changed:
        raise SourceChangedError(
            f"{source.name} changed while it was being sent",
            hint="run the command again: recipients already sent are in the journal",
        )


def _batch(group: list[_Spilled]) -> Batch:
    text = group[0][1].decode("utf-8", "surrogatepass")
    return Batch(
        text, tuple(Recipient(line, from_code(code), text, code) for *_, code, line in group)
    )


def _planned(group: list[_Spilled]) -> tuple[str, array[int]]:
    """A batch as `plan.personal_plan` takes it: no `Recipient` a row, the text decoded once."""
    return group[0][1].decode("utf-8", "surrogatepass"), array("q", [r[2] for r in group])


# A recipient as `_SpilledRecipients` keeps it: text key, the text in UTF-8, `to_code` of the
# address, line.
_Spilled = tuple[int, bytes, int, int]


def _grouped(
    recipients: Iterator[_Spilled], shared: Mapping[int, int], size: int
) -> Iterator[list[_Spilled]]:
    """`batches` of recipients in file order: a text only one recipient gets is a batch at
    once, a shared one waits for `size` recipients or its last (counted by `scan`)."""
    waiting: dict[bytes, list[_Spilled]] = {}  # by the text itself (see `_key_of`)
    remaining = dict(shared)
    for recipient in recipients:
        key, text = recipient[0], recipient[1]
        if key not in remaining:
            yield [recipient]
            continue
        group = waiting.setdefault(text, [])
        group.append(recipient)
        remaining[key] -= 1
        if len(group) == size or remaining[key] <= 0:
            yield group
            del waiting[text]
    yield from waiting.values()  # texts sharing a key


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
        self._pack = self._RECIPIENT.pack

    # `_HEAD` and the text as two parts: what a recipient adds (number, line), and what its
    # text adds, packed once a text (`_Text.spilled`).
    _RECIPIENT = struct.Struct("<qq")
    _TEXT = struct.Struct("<qI")

    @classmethod
    def tail(cls, key: int, data: bytes) -> bytes:
        """What follows a recipient's number and line: its text's key, length and bytes."""
        return cls._TEXT.pack(key, len(data)) + data

    def append(self, code: int, line: int, text: _Text) -> None:
        buffer = self._buffer
        buffer += self._pack(code, line)
        buffer += text.spilled
        if len(buffer) >= self.BLOCK:
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

    def read(self) -> Iterator[_Spilled]:
        """Each recipient, in file order, a block of the file at a time."""
        unpack = self._HEAD.unpack_from
        head = self._HEAD.size
        with temp_file_errors(self.WHAT):
            self._file.seek(0)
        rest = b""
        while True:
            with temp_file_errors(self.WHAT):
                block = self._file.read(self.BLOCK)
            if not block:
                return
            data, offset = rest + block, 0
            end = len(data)
            while offset + head <= end:
                code, line, key, size = unpack(data, offset)
                start = offset + head
                if start + size > end:
                    break  # its text goes on in the next block
                offset = start + size
                yield key, data[start:offset], code, line
            rest = data[offset:]
