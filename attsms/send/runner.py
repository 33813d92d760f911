"""Sending: input checked, then one request per batch of at most 50 recipients, concurrently.

The order of things is what makes a send safe to script and to re-run:

1. Everything is checked before anything is sent: numbers, text, files, opt-outs, the dedupe key.
2. Each batch is written to the history as `sending` BEFORE its request, and updated after. A
   process killed mid-request leaves that batch `sending`, which a re-run reads as "may have gone".
3. With a dedupe key, a re-run sends only the batches with no accepted (or possibly sent) attempt
   under that key, and reports the others as already sent (or unknown).
4. A batch that fails does not stop the others; the run ends with exit 4 (some failed) or 5 (some
   outcome unknown, which wins: it needs a person to look). Credentials refused stop the rest.

Requests run in a thread pool over the one `AttClient` (httpx.Client is thread-safe), under an
optional cap on requests started per second. 429 and POL0001 backoff happen inside the client.

Memory does not grow with the recipients (a million is ~24 MB): the file is read a block at a
time, the recipients kept as int64s (`AddressList`), each batch cut as it is sent, and with
`keep_rows=False` the report keeps counts only, the caller printing each batch from `on_batch`.
"""

from __future__ import annotations

import bisect
import contextlib
import dataclasses
import functools
import math
import threading
import time
from array import array
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Protocol, TypeVar

from attsms.core.errors import (
    AttsmsError,
    ExitCode,
    PartialFailure,
    StoreError,
    TemporaryError,
    UnknownOutcomeError,
    UsageError,
)
from attsms.core.models import SendResult
from attsms.core.numbers import from_code as _from_code
from attsms.core.numbers import to_code as _to_code

if TYPE_CHECKING:
    from attsms.auth.session import Session
    from attsms.core.segments import SegmentInfo
    from attsms.send.quiet_hours import QuietHours
    from attsms.store import StoreSettings
    from attsms.store.history import HistoryStore, JobLease, Outcome, SentBatch

_T = TypeVar("_T")

BATCH_SIZE = 50  # the service's limit per request (POL0003 above it)
DEFAULT_CONCURRENCY = 16  # 200 requests at 50 ms: ~13 rounds; 429s slow it down by themselves
# AttClient keeps 20 connections; more threads than that would only queue for one.
MAX_CONCURRENCY = 20
STDIN = "-"


class Result(StrEnum):
    """What a recipient's row says (the journal's own states are `history.Outcome`)."""

    ACCEPTED = "accepted"  # the service took it in this run
    ALREADY_SENT = "already-sent"  # accepted by an earlier run under the same dedupe key
    UNKNOWN = "unknown"  # the request went out and no answer came back: do not resend blindly
    FAILED = "failed"  # surely not sent (refused, or never reached the service)
    OPTED_OUT = "opted-out"  # texted STOP: skipped, the rest of the job goes
    DEFERRED = "deferred"  # inside quiet hours in its own time: not sent, a keyed re-run sends it


ACCEPTED, ALREADY_SENT, UNKNOWN, FAILED, OPTED_OUT, DEFERRED = Result

# How many numbers an error message names before it says "and N more".
_MAX_NAMED = 5


# --- input -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SendInput:
    # As typed, from the arguments and then the file. The file's entries are read as this is
    # iterated, once (a million numbers are never held as strings): `plan_send` does that.
    numbers: Iterable[str]
    message: str


def read_input(
    numbers: Sequence[str],
    *,
    to_file: str | None = None,
    message: str | None = None,
    message_file: str | None = None,
    stdin: IO[str] | None = None,
) -> SendInput:
    """Recipients from arguments and `to_file`, the text from `message`, `message_file` or stdin.

    `-` as either file means stdin; stdin cannot carry both. The message is read from stdin only
    when neither `message` nor `message_file` is given and stdin is not a terminal. Text read from
    a file or stdin loses its trailing newlines (as `$(cat file)` would). Raises `UsageError`
    naming the file for one that is missing, a directory, or not UTF-8 text.
    """
    import itertools

    from attsms.core.numbers import iter_recipient_lines

    if not numbers and to_file is None:
        raise UsageError("no recipients", hint="give numbers as arguments or with --to-file FILE")
    if message is not None and message_file is not None:
        raise UsageError("give the message once: -m TEXT or --message-file FILE, not both")
    stdin_for_message = message is None and (message_file in (None, STDIN))
    if to_file == STDIN and stdin_for_message:
        raise UsageError(
            "stdin cannot carry both the recipients (--to-file -) and the message",
            hint="give the text with -m TEXT or --message-file FILE",
        )
    entries: Iterable[str] = list(numbers)
    if to_file is not None:
        lines = _source_lines(to_file, stdin, "recipient file")
        entries = itertools.chain(entries, iter_recipient_lines(lines))
    if message is None:
        if message_file is None and (stdin is None or _isatty(stdin)):
            raise UsageError(
                "no message", hint="give it with -m TEXT or --message-file FILE, or pipe it in"
            )
        source = message_file if message_file is not None else STDIN
        message = _read_source(source, stdin, "message file").rstrip("\r\n")
        if not message.strip() and source == STDIN:
            raise UsageError(
                "message is empty: stdin held no text", hint="give it with -m TEXT, or pipe it in"
            )
    return SendInput(numbers=entries, message=message)


# Far above any message (4096 bytes) or recipient list (a million numbers is ~13 MB), and a
# bound: `--message-file /dev/zero` or `yes | attsms send …` would otherwise fill the memory.
_MAX_MB = {"message file": 1, "recipient file": 64}


def _source_lines(name: str, stdin: IO[str] | None, what: str) -> Iterator[str]:
    """The lines of a file (or `-`: stdin) as they are read, checked as `_read_source` checks a
    whole file. Opening errors are raised now; the others as the lines are read."""
    limit = _MAX_MB[what] << 20
    if name == STDIN:
        if stdin is None:
            raise UsageError("stdin is not available")
        buffer: Any = getattr(stdin, "buffer", None)
        if buffer is None:  # a StringIO (tests, embedding): already text
            return (piece for line in stdin for piece in line.splitlines())
        return _binary_lines(buffer, "stdin", "stdin", limit, what)
    if not name:  # Path("") is the current directory
        raise UsageError(f"the {what} name is empty", hint="give a file, or - for stdin")
    try:
        file = Path(name).open("rb")  # noqa: SIM115 - closed by _binary_lines once read
    except FileNotFoundError:
        raise UsageError(f"{what} not found: {name}") from None
    except IsADirectoryError:
        raise UsageError(f"{what} {name} is a directory", hint="give a text file") from None
    except OSError as error:
        raise UsageError(f"cannot read the {what} {name}: {error.strerror or error}") from None
    return _binary_lines(file, name, f"{what} {name}", limit, what)


def _binary_lines(file: IO[bytes], name: str, source: str, limit: int, what: str) -> Iterator[str]:
    """The text of `file` a block at a time (cut after a newline), as lines."""
    with contextlib.closing(file):
        offset = 0  # bytes before `pending`
        pending = bytearray()  # a line not ended yet (a bytearray: a long one grows in place)
        while True:
            try:
                block = file.read(min(1 << 16, limit + 1 - offset - len(pending)) or 1)
            except OSError as error:
                raise UsageError(f"cannot read {source}: {error.strerror or error}") from None
            if offset + len(pending) + len(block) > limit:
                raise UsageError(f"{source} is over {limit >> 20} MB", hint="is it a list?")
            end = block.rfind(b"\n") + 1 if block else len(block)
            if block and end == 0:  # no line end yet: read on (up to the limit)
                pending += block
                continue
            data = bytes(pending) + block[:end] if block else bytes(pending)
            pending = bytearray(block[end:])
            if not data:
                return
            start = 3 if offset == 0 and data.startswith(b"\xef\xbb\xbf") else 0
            try:
                text = data[start:].decode("utf-8")
            except UnicodeDecodeError as error:
                at = offset + start + error.start
                raise UsageError(
                    f"{name} is not UTF-8 text (byte 0x{data[start + error.start]:02x} at offset"
                    f" {at})",
                    hint="save it as UTF-8",
                ) from None
            if "\x00" in text:
                raise UsageError(
                    f"{name} looks binary (it holds NUL bytes)", hint="give a text file"
                )
            offset += len(data)
            yield from text.splitlines()
            if not block:
                return


def _read_source(name: str, stdin: IO[str] | None, what: str) -> str:
    limit = _MAX_MB[what] << 20
    if name == STDIN:
        if stdin is None:
            raise UsageError("stdin is not available")
        return _read_stdin(stdin, limit, what)
    if not name:  # Path("") is the current directory
        raise UsageError(f"the {what} name is empty", hint="give a file, or - for stdin")
    try:
        with Path(name).open("rb") as file:
            data = file.read(limit + 1)
    except FileNotFoundError:
        raise UsageError(f"{what} not found: {name}") from None
    except IsADirectoryError:
        raise UsageError(f"{what} {name} is a directory", hint="give a text file") from None
    except OSError as error:
        raise UsageError(f"cannot read the {what} {name}: {error.strerror or error}") from None
    _check_size(data, limit, f"{what} {name}", what)
    return _decode(data, name)


def _read_stdin(stdin: IO[str], limit: int, what: str) -> str:
    buffer: Any = getattr(stdin, "buffer", None)
    if buffer is None:  # a StringIO (tests, embedding): already text
        return stdin.read()
    data = buffer.read(limit + 1)
    _check_size(data, limit, "stdin", what)
    return _decode(data, "stdin")


def _check_size(data: bytes, limit: int, source: str, what: str) -> None:
    if len(data) > limit:
        hint = "a message is at most 4096 bytes" if what == "message file" else "is it a list?"
        raise UsageError(f"{source} is over {limit >> 20} MB", hint=hint)


def _decode(data: bytes, name: str) -> str:
    try:
        text = data.decode("utf-8-sig")  # a BOM is not part of the text (and would force UCS-2)
    except UnicodeDecodeError as error:
        raise UsageError(
            f"{name} is not UTF-8 text (byte 0x{data[error.start]:02x} at offset {error.start})",
            hint="save it as UTF-8",
        ) from None
    if "\x00" in text:
        raise UsageError(f"{name} looks binary (it holds NUL bytes)", hint="give a text file")
    return text


def _isatty(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


# --- the plan --------------------------------------------------------------------------------


class _Converted(Sequence[_T]):
    """`source` read through `convert`, one item at a time: nothing is held twice."""

    def __init__(self, source: Sequence[Any], convert: Callable[[Any], _T]) -> None:
        self._source = source
        self._convert = convert

    def __len__(self) -> int:
        return len(self._source)

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return tuple(map(self._convert, self._source[index]))
        return self._convert(self._source[index])

    def __iter__(self) -> Iterator[_T]:
        return map(self._convert, self._source)


class AddressList(_Converted[str]):
    """Wire addresses held as int64s in an `array`: 8 bytes each, against ~75 for a str in a
    tuple, so a million recipients fit in 8 MB. Reads back as the strings."""

    def __init__(self, codes: array[int]) -> None:
        super().__init__(codes, _from_code)
        self._codes = codes

    def __contains__(self, value: object) -> bool:
        try:
            code = _to_code(str(value))
        except ValueError:
            return False
        return code in self._codes

    def in_wire_order(self) -> AddressList:
        """Sorted as the strings sort (what a keyed job's batches and fingerprint are over)."""
        codes = _sorted_codes(self._codes)
        shorts = bisect.bisect_left(codes, 0)  # negative: short codes, and "short:" < "tel:"
        if shorts > 1:
            codes[:shorts] = array("q", sorted(codes[:shorts], key=_from_code))
        if len(codes) - shorts > 1 and len(str(codes[shorts])) != len(str(codes[-1])):
            codes[shorts:] = array("q", sorted(codes[shorts:], key=_from_code))  # mixed lengths
        return AddressList(codes)


_SORT_RUN = 1 << 16


def _sorted_codes(codes: array[int]) -> array[int]:
    """`codes` sorted, without a list of them all: `sorted` of a million holds 40 MB of int
    objects at once, runs of 65,536 merged into an array hold 2.5 MB."""
    if len(codes) <= _SORT_RUN:
        return array("q", sorted(codes))
    import heapq

    runs = [array("q", sorted(codes[i : i + _SORT_RUN])) for i in range(0, len(codes), _SORT_RUN)]
    merged: array[int] = array("q")
    merged.extend(heapq.merge(*runs))
    return merged


class _Batches(Sequence[tuple[str, ...]]):
    """Batches of at most 50, cut from `addresses` as each is asked for."""

    def __init__(self, addresses: Sequence[str]) -> None:
        self._addresses = addresses

    def __len__(self) -> int:
        return -(-len(self._addresses) // BATCH_SIZE)

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        start = index * BATCH_SIZE
        return tuple(self._addresses[start : start + BATCH_SIZE])

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence):
            return NotImplemented
        return list(self) == list(other)

    __hash__ = None  # type: ignore[assignment]


class _Spilled:
    """Batches (a text and at most 50 addresses each) written to an unnamed temporary file as
    they are cut, then read back by number: a plan of a million personal texts holds 8 bytes a
    batch in memory. The file is private (0600) and already unlinked, so nothing is left behind
    however the process ends."""

    WHAT = "the plan of the send"

    def __init__(self) -> None:
        import tempfile

        from attsms.core.fileutil import temp_file_errors

        with temp_file_errors(self.WHAT):
            self._file = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the plan
        self._offsets = array("q", [0])
        self._lock = threading.Lock()  # one seek-and-read at a time: the pool reads from threads

    def append(self, text: str, addresses: Iterable[str]) -> array[int]:
        """Write one batch; returns its recipients as int64s."""
        from attsms.core.fileutil import temp_file_errors

        data = text.encode("utf-8", "surrogatepass")
        codes = array("q", map(_to_code, addresses))
        record = len(data).to_bytes(4, "big") + data + codes.tobytes()
        with temp_file_errors(self.WHAT):
            self._file.write(record)
        self._offsets.append(self._offsets[-1] + len(record))
        return codes

    def seal(self) -> _Spilled:
        """Everything on disk before the first read (a full disk says so here, not mid-send)."""
        from attsms.core.fileutil import temp_file_errors

        with temp_file_errors(self.WHAT):
            self._file.flush()
        return self

    def __len__(self) -> int:
        return len(self._offsets) - 1

    def read(self, number: int) -> tuple[str, tuple[str, ...]]:
        if number < 0:
            number += len(self)
        if not 0 <= number < len(self):
            raise IndexError(number)
        start, end = self._offsets[number], self._offsets[number + 1]
        with self._lock:
            self._file.seek(start)
            record = self._file.read(end - start)
        size = int.from_bytes(record[:4], "big")
        codes: array[int] = array("q")
        codes.frombytes(record[4 + size :])
        return record[4 : 4 + size].decode("utf-8", "surrogatepass"), tuple(map(_from_code, codes))

    @property
    def groups(self) -> Sequence[tuple[str, ...]]:
        return _Converted(range(len(self)), lambda number: self.read(number)[1])

    @property
    def texts(self) -> Sequence[str]:
        return _Converted(range(len(self)), lambda number: self.read(number)[0])


@dataclass(frozen=True)
class SendPlan:
    # Wire form, de-duplicated, in the order given: an `AddressList` from `plan_send`.
    addresses: Sequence[str]
    message: str
    # Set for personal texts and quiet hours: the batches as cut (the same for a keyed job),
    # each batch's own text (None: `message` for all) and the job's identity for --dedupe-key.
    groups: Sequence[tuple[str, ...]] | None = None
    texts: Sequence[str] | None = None
    identity: str | None = None

    @property
    def batches(self) -> Sequence[tuple[str, ...]]:
        if self.groups is not None:
            return self.groups
        return _Batches(self.addresses)

    def text_for(self, number: int) -> str:
        """The text batch `number` carries."""
        return self.texts[number] if self.texts is not None else self.message

    @property
    def segments(self) -> SegmentInfo:
        from attsms.core.segments import analyze

        return analyze(self.message)

    @functools.cached_property
    def _sorted(self) -> Sequence[str]:
        if isinstance(self.addresses, AddressList):
            return self.addresses.in_wire_order()
        return tuple(sorted(self.addresses))

    @property
    def job_batches(self) -> Sequence[tuple[str, ...]]:
        """The batches of a keyed job: the recipients sorted, so that the same numbers in another
        order make the same batches, and a re-run finds each batch where the first run put it."""
        if self.groups is not None:  # cut in a deterministic order already
            return self.groups
        return _Batches(self._sorted)

    @property
    def fingerprint(self) -> str:
        """Names this job for `--dedupe-key`: the text and the SET of recipients (any order, and
        including those skipped as opted out, so a new STOP does not make it another job)."""
        if self.identity is not None:
            return self.identity
        return self._digest(self._sorted)

    @property
    def ordered_fingerprint(self) -> str:
        """The fingerprint attsms 0.1 gave a job (the recipients in the order given)."""
        if self.identity is not None:
            return self.identity
        return self._digest(self.addresses)

    def _digest(self, addresses: Sequence[str]) -> str:
        import hashlib

        digest = hashlib.sha256(self.message.encode("utf-8"))
        digest.update(b"\x00")
        # "\n".join of them all, a slice at a time.
        for start in range(0, len(addresses), 4096):
            if start:
                digest.update(b"\n")
            digest.update("\n".join(addresses[start : start + 4096]).encode("utf-8"))
        return digest.hexdigest()


def _first_of_each(codes: array[int], suspects: set[int]) -> array[int]:
    """`codes` without repeats of any of `suspects` (the only codes that may repeat)."""
    kept: array[int] = array("q")
    seen: set[int] = set()
    for code in codes:
        if code in suspects:
            if code in seen:
                continue
            seen.add(code)
        kept.append(code)
    return kept


def plan_send(raw_numbers: Iterable[str], message: str, *, region: str = "US") -> SendPlan:
    """Validate everything before anything is sent; raises UsageError naming what is wrong.

    One pass over `raw_numbers` (a file is read as it goes): the recipients are kept as int64s
    (`AddressList`) and de-duplicated in a compact set, so memory is ~24 bytes a recipient."""
    from attsms.core.numbers import normalize_each
    from attsms.core.segments import check_message

    check_message(message)
    codes: array[int] = array("q")
    # Duplicates: a bitmap of hashes (2 MB) lets through every code whose bit is new; the rest
    # are only possibly seen before, and are checked exactly afterwards, against each other.
    bits = bytearray(1 << 21)
    maybe_seen: list[int] = []
    for address in normalize_each(raw_numbers, region=region):
        code = int(address[5:]) if address[4] == "+" else _to_code(address)  # tel:+ fast
        hashed = (code ^ (code >> 24)) & 0xFFFFFF
        if bits[hashed >> 3] & (1 << (hashed & 7)):
            maybe_seen.append(code)
        else:
            bits[hashed >> 3] |= 1 << (hashed & 7)
        codes.append(code)
    if maybe_seen:
        codes = _first_of_each(codes, set(maybe_seen))
    if not codes:
        raise UsageError("no recipients", hint="give numbers as arguments or with --to-file")
    return SendPlan(addresses=AddressList(codes), message=message)


def personal_plan(batches: Iterable[tuple[str, Sequence[str]]], identity: str) -> SendPlan:
    """A plan of personal texts: (text, addresses) per request, in the deterministic order
    `templates.batches` cuts them, named by `identity` (template, defaults and CSV digest). The
    batches are spilled to a temporary file (`_Spilled`), the recipients kept as int64s."""
    codes: array[int] = array("q")
    spilled = _Spilled()
    for text, addresses in batches:
        codes.extend(spilled.append(text, addresses))
    if not len(spilled):
        raise UsageError("no recipients", hint="give numbers with --to-file")
    spilled.seal()
    return SendPlan(
        addresses=AddressList(codes),
        message=spilled.texts[0],
        groups=spilled.groups,
        texts=spilled.texts,
        identity=identity,
    )


def by_zone(plan: SendPlan) -> SendPlan:
    """`plan` with each batch's recipients split by their time zones, so that quiet hours hold
    back whole batches: a held batch is simply not sent (no journal row), and a keyed re-run
    sends it once its window has ended. The cut depends on the numbers only, never on the
    clock, so every run finds the same batches; it is another job than the plan unsplit."""
    import hashlib

    from attsms.send.quiet_hours import zones_for

    spilled = _Spilled()
    if plan.groups is not None:
        texts = plan.texts if plan.texts is not None else [plan.message] * len(plan.groups)
        for group, text in zip(plan.groups, texts, strict=True):
            zoned: dict[tuple[str, ...], list[str]] = {}
            for address in group:
                zoned.setdefault(zones_for(address), []).append(address)
            for zones in sorted(zoned):
                members = zoned[zones]
                for start in range(0, len(members), BATCH_SIZE):
                    spilled.append(text, members[start : start + BATCH_SIZE])
    else:
        # One group of everyone, sorted: each recipient's zones as a small index (2 bytes),
        # then one pass per distinct set of zones, in order, cutting batches of 50 as it goes.
        addresses = plan._sorted
        kinds: dict[tuple[str, ...], int] = {}
        kind_of = array("H", (kinds.setdefault(zones_for(a), len(kinds)) for a in addresses))
        for zones in sorted(kinds):
            kind = kinds[zones]
            batch: list[str] = []
            for i, k in enumerate(kind_of):
                if k == kind:
                    batch.append(addresses[i])
                    if len(batch) == BATCH_SIZE:
                        spilled.append(plan.message, batch)
                        batch = []
            if batch:
                spilled.append(plan.message, batch)
    spilled.seal()
    identity = hashlib.sha256(f"{plan.fingerprint}\nsplit by time zone".encode()).hexdigest()
    return dataclasses.replace(plan, groups=spilled.groups, texts=spilled.texts, identity=identity)


@dataclass(frozen=True)
class DryRun:
    """What a send would cost, without sending."""

    recipients: Sequence[str]  # as displayed: +15555550100, 12345 (computed as read)
    requests: int  # batches of at most 50
    opted_out: tuple[str, ...]  # as displayed: texted STOP, would be skipped
    encoding: str
    non_gsm: tuple[str, ...]  # the characters that forced UCS-2
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    utf8_bytes: int
    segments_per_message: int
    total_segments: int


def dry_run(plan: SendPlan, opted_out: Collection[str] = ()) -> DryRun:
    """What `plan` would cost; `opted_out` (wire addresses) would be skipped."""
    from attsms.core.numbers import display

    info = plan.segments
    skipped = set(opted_out)
    shown = tuple(display(a) for a in plan.addresses if a in skipped) if skipped else ()
    sent = len(plan.addresses) - len(shown)
    return DryRun(
        recipients=_displayed(plan.addresses),
        requests=math.ceil(sent / BATCH_SIZE),
        opted_out=shown,
        encoding=info.encoding,
        non_gsm=info.non_gsm,
        units=info.units,
        utf8_bytes=info.utf8_bytes,
        segments_per_message=info.segments,
        total_segments=info.segments * sent,
    )


def _displayed(addresses: Sequence[str]) -> Sequence[str]:
    """Wire addresses as displayed, one at a time (a dry run of a million holds no strings)."""
    from attsms.core.numbers import display

    return _Converted(addresses, display)


def describe_characters(chars: Sequence[str]) -> str:
    """`’ (U+2019), 😀 (U+1F600)`: visible even for spaces and look-alikes."""
    return ", ".join(
        f"{ch if ch.isprintable() and not ch.isspace() else ''} (U+{ord(ch):04X})".lstrip()
        for ch in chars
    )


# --- results ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class BatchOutcome:
    number: int  # from 0, in recipient order
    addresses: tuple[str, ...]
    result: Result
    message_id: str | None = None
    error: AttsmsError | None = None
    sent: bool = False  # a request for it left in this run
    skipped: tuple[str, ...] = ()  # of the batch's recipients, those opted out: not sent
    # Set by `slim()`: how many `addresses` and `skipped` held (a streamed run keeps no strings).
    counts: tuple[int, int] | None = None

    @property
    def size(self) -> int:
        """Recipients it went (or was to go) to."""
        return len(self.addresses) if self.counts is None else self.counts[0]

    @property
    def skipped_size(self) -> int:
        return len(self.skipped) if self.counts is None else self.counts[1]

    def slim(self) -> BatchOutcome:
        """The same outcome without its addresses: what a streamed run keeps once printed."""
        return dataclasses.replace(
            self, addresses=(), skipped=(), counts=(self.size, self.skipped_size)
        )

    def rows(self) -> list[RecipientResult]:
        """One row a recipient: those it went to, then those skipped."""
        from attsms.core.numbers import display

        error = self.error.message if self.error is not None else None
        rows = [
            RecipientResult(self.message_id, display(a), a, self.result, error, self.number)
            for a in self.addresses
        ]
        rows += [
            RecipientResult(None, display(a), a, OPTED_OUT, None, self.number) for a in self.skipped
        ]
        return rows


@dataclass(frozen=True)
class RecipientResult:
    message_id: str | None
    to: str  # as displayed: +15555550100
    address: str  # wire form: tel:+15555550100
    result: Result
    error: str | None
    batch: int


@dataclass
class SendReport:
    outcomes: list[BatchOutcome]  # in batch order
    elapsed: float
    dedupe_key: str | None = None
    warnings: list[str] = field(default_factory=list)
    # Ctrl-C, SIGTERM or SIGHUP stopped the run: the outcomes say what went before it; the
    # caller prints them, then raises this.
    interrupted: KeyboardInterrupt | None = None

    def recipients(self) -> list[RecipientResult]:
        """The rows of every batch (none for a streamed run: its rows went out as it ran)."""
        return [row for o in self.outcomes for row in o.rows()]

    def count(self, result: Result) -> int:
        """Recipients with `result`."""
        if result == OPTED_OUT:
            return sum(o.skipped_size for o in self.outcomes)
        return sum(o.size for o in self.outcomes if o.result == result)

    @property
    def message_ids(self) -> list[str]:
        """IDs of what the service holds: accepted now or by an earlier run."""
        return [o.message_id for o in self.outcomes if o.message_id is not None]

    @property
    def requests(self) -> int:
        return sum(1 for o in self.outcomes if o.sent)

    @property
    def nothing_went(self) -> bool:
        """Every batch failed (or was all opted out): nothing was sent, now or before."""
        return all(o.result in (FAILED, OPTED_OUT) for o in self.outcomes) and any(
            o.result == FAILED for o in self.outcomes
        )

    def summary(self) -> dict[str, Any]:
        return {
            "recipients": sum(o.size + o.skipped_size for o in self.outcomes),
            ACCEPTED: self.count(ACCEPTED),
            "already_sent": self.count(ALREADY_SENT),
            UNKNOWN: self.count(UNKNOWN),
            FAILED: self.count(FAILED),
            "opted_out": self.count(OPTED_OUT),
            DEFERRED: self.count(DEFERRED),
            "batches": len(self.outcomes),
            "requests": self.requests,
            "dedupe_key": self.dedupe_key,
            "elapsed_seconds": round(self.elapsed, 3),
        }

    def error(self) -> AttsmsError | None:
        """What the run ends with, after its rows are printed: None, 5, 4, or the one error."""
        unknown = [o for o in self.outcomes if o.result == UNKNOWN]
        failed = [o for o in self.outcomes if o.result == FAILED]
        retry = (
            f"run it again with --dedupe-key {self.dedupe_key} to send only what did not go"
            if self.dedupe_key
            else "resend to the failed numbers only (RESULT failed), or use --dedupe-key"
        )
        if unknown:
            recipients = sum(o.size for o in unknown)
            detail = next((o.error.message for o in unknown if o.error is not None), "")
            also = f"; {len(failed)} more failed" if failed else ""
            return UnknownOutcomeError(
                f"{len(unknown)} batch(es) ({recipients} recipients) may or may not have been"
                f" sent{also}: {detail}",
                hint="check `attsms history` before resending"
                + (
                    f"; --resend-unknown with --dedupe-key {self.dedupe_key} sends them again"
                    if self.dedupe_key
                    else ""
                ),
            )
        if not failed:
            deferred = [o for o in self.outcomes if o.result == DEFERRED]
            if not deferred:
                return None
            # The messages end "until YYYY-MM-DD HH:MM UTC": the latest sorts last.
            last = max(o.error.message.rpartition(" until ")[2] for o in deferred if o.error)
            return TemporaryError(
                f"{sum(o.size for o in deferred)} recipient(s) held back by quiet hours in their"
                f" time zone (deferred), the last until {last}",
                hint=(
                    f"run it again later with --dedupe-key {self.dedupe_key}: it sends them then"
                    if self.dedupe_key
                    else "with --dedupe-key KEY a later re-run sends only those held back"
                ),
            )
        first = next(o.error for o in failed if o.error is not None)
        if self.nothing_went:
            return first
        recipients = sum(o.size for o in failed)
        return PartialFailure(
            f"{len(failed)} of {len(self.outcomes)} batch(es) ({recipients} recipients) failed:"
            f" {first.message}",
            hint=retry,
        )


# --- sending ---------------------------------------------------------------------------------


class BatchSender(Protocol):
    def send(
        self, addresses: Sequence[str], message: str, *, notify: bool = False
    ) -> SendResult: ...


@dataclass(frozen=True)
class SendOptions:
    notify: bool = False
    dedupe_key: str | None = None
    resend_unknown: bool = False
    concurrency: int = DEFAULT_CONCURRENCY
    rate: float | None = None  # requests started per second; None: no cap
    ignore_opt_out: bool = False
    lock_timeout: float = 0.0  # how long to wait for a live run that holds the dedupe key
    # Hold back batches inside this window in their recipients' time (`by_zone` cuts them).
    quiet_hours: QuietHours | None = None


def send_plan(
    session: Session,
    plan: SendPlan,
    options: SendOptions | None = None,
    *,
    stores: StoreSettings,
    on_batch: Callable[[BatchOutcome], None] | None = None,
    keep_rows: bool = True,
) -> SendReport:
    """Send `plan` with `session`'s client, skipping opted-out numbers, recording it in the
    history. Raises `UsageError` when every recipient opted out. `keep_rows=False`: the report
    keeps counts, not addresses (the caller printed each batch from `on_batch`)."""
    from attsms.store import open_history, opted_out

    options = options or SendOptions()
    skip: frozenset[str] = frozenset()
    if not options.ignore_opt_out:
        skip = frozenset(opted_out(stores, session.profile, plan.addresses))
        if len(skip) == len(plan.addresses):
            raise UsageError(
                f"every recipient opted out (texted STOP): {_named(plan.addresses, skip)};"
                " nothing was sent",
                hint="pass --ignore-opt-out only if they opted back in another way",
            )
    client = session.client
    with open_history(stores) as store:
        return send_batches(
            client,
            store,
            plan,
            profile=session.profile,
            account=account_of(session.client_id, session.base_url),
            options=options,
            skip=skip,
            on_batch=on_batch,
            # Bad credentials stop here, before any batch, and the threads share one token.
            prepare=session.tokens.access_token,
            keep_rows=keep_rows,
        )


def account_of(client_id: str, base_url: str) -> str:
    """Names the service account a job is sent with (hashed: a base URL may hold a password)."""
    import hashlib

    return hashlib.sha256(f"{client_id}\n{base_url}".encode()).hexdigest()[:16]


def _named(addresses: Sequence[str], among: Collection[str]) -> str:
    from attsms.core.numbers import display

    named = [display(a) for a in addresses if a in among]
    more = f" and {len(named) - _MAX_NAMED} more" if len(named) > _MAX_NAMED else ""
    return ", ".join(named[:_MAX_NAMED]) + more


def send_batches(
    client: BatchSender,
    store: HistoryStore,
    plan: SendPlan,
    *,
    profile: str,
    account: str = "",
    options: SendOptions | None = None,
    skip: Collection[str] = frozenset(),
    on_batch: Callable[[BatchOutcome], None] | None = None,
    prepare: Callable[[], object] | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    keep_rows: bool = True,
) -> SendReport:
    """Send every batch of `plan` not already settled under the dedupe key; never raises for one
    batch's failure (see `SendReport.error`). Recipients in `skip` (opted out) are left out of
    their batch. `on_batch` is called in this thread as each ends; `prepare` once before the
    first request (not at all when nothing is left to send).

    A keyed job is held by this run alone (`HistoryStore.acquire_job`): another live run of the
    same key makes this one wait up to `options.lock_timeout`, then raise `LockTimeoutError`.

    Ctrl-C (or SIGTERM, SIGHUP) lets the requests in flight finish and be recorded, and returns
    the report so far with `interrupted` set; batches not started are `failed` (not sent).
    """
    from attsms.store.history import JobOwner

    options = options or SendOptions()
    started = clock()
    key = options.dedupe_key
    run_id = _run_id()
    if key is None:
        return _send_all(
            client, store, plan, plan.batches, None, run_id, profile, account, options, skip,
            on_batch, prepare, clock, sleep, started, keep_rows,
        )  # fmt: skip
    claim = store.acquire_job(
        profile=profile,
        account=account,
        key=key,
        fingerprint=plan.fingerprint,
        ordered_fingerprint=plan.ordered_fingerprint,
        batch_count=len(plan.batches),
        recipient_count=len(plan.addresses),
        owner=JobOwner.current(run_id),
        lock_timeout=options.lock_timeout,
    )
    batches = plan.batches if claim.ordered else plan.job_batches
    with store.hold_job(profile, account, key, run_id) as lease:
        return _send_all(
            client, store, plan, batches, lease, run_id, profile, account, options, skip,
            on_batch, prepare, clock, sleep, started, keep_rows,
        )  # fmt: skip


def _send_all(
    client: BatchSender,
    store: HistoryStore,
    plan: SendPlan,
    batches: Sequence[tuple[str, ...]],
    lease: JobLease | None,
    run_id: str,
    profile: str,
    account: str,
    options: SendOptions,
    skip: Collection[str],
    on_batch: Callable[[BatchOutcome], None] | None,
    prepare: Callable[[], object] | None,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
    started: float,
    keep_rows: bool = True,
) -> SendReport:
    from attsms.api.throttle import Throttle
    from attsms.core.interrupts import HeldInterrupt, hold_interrupt
    from attsms.store.history import DedupeSlot, JobTakenError

    key = options.dedupe_key
    known: dict[int, SentBatch] = {}
    if key is not None:  # recipients read a batch at a time, as each is settled
        known = store.dedupe_attempts(profile, key, account, recipients=False)
    outcomes: list[BatchOutcome | None] = [None] * len(batches)

    def done(outcome: BatchOutcome) -> None:
        outcomes[outcome.number] = outcome if keep_rows else outcome.slim()
        if on_batch is not None:
            on_batch(outcome)

    window = options.quiet_hours
    now = None
    if window is not None:
        from attsms.send import quiet_hours

        now = quiet_hours.utc_now()  # one moment for the whole run (tests replace it)
    to_send: list[int] = []
    for number in range(len(batches)):
        if not skip and number not in known and window is None:  # the common case
            to_send.append(number)
            continue
        addresses = batches[number]
        settled = _settled(
            number, addresses, known.get(number), options.resend_unknown, store.addresses_of
        )
        if settled is not None:
            done(settled)
            continue
        going = tuple(a for a in addresses if a not in skip)
        if not going:  # everyone in it opted out: no request at all
            done(BatchOutcome(number, (), OPTED_OUT, skipped=addresses))
            continue
        if window is not None and now is not None:
            until = _held_until(going, window, now)
            if until is not None:  # no journal row: a keyed re-run sends it later
                pause = TemporaryError(
                    f"quiet hours in the recipient's time zone until {until:%Y-%m-%d %H:%M} UTC"
                )
                skipped = tuple(a for a in addresses if a in skip)
                done(BatchOutcome(number, going, DEFERRED, error=pause, skipped=skipped))
                continue
        to_send.append(number)

    warnings: list[str] = []
    if not to_send:
        return _report(outcomes, clock() - started, key, warnings)
    if prepare is not None:
        prepare()
    limiter = Throttle(ceiling=options.rate, clock=clock, sleep=sleep) if options.rate else None
    stop = _Stop()
    held = HeldInterrupt()

    def work(number: int) -> BatchOutcome:
        addresses = batches[number]
        going = tuple(a for a in addresses if a not in skip)
        skipped = tuple(a for a in addresses if a in skip)
        if limiter is not None and not stop.is_set():
            limiter.pace()
        if stop.error is None and lease is not None and lease.lost:
            stop.set(JobTakenError(f"another run took over dedupe key {key!r}"))
        if stop.error is not None:
            return BatchOutcome(number, going, FAILED, error=stop.error, skipped=skipped)
        # In the main thread (one batch at a time), Ctrl-C waits until the claimed batch's
        # answer is recorded, as the pool's shutdown does for the worker threads below.
        with hold_interrupt(held):
            slot = DedupeSlot(key, number, len(batches), account) if key is not None else None
            try:
                claim = store.claim_batch(
                    profile=profile,
                    message=plan.text_for(number),
                    addresses=going,
                    notify=options.notify,
                    run_id=run_id,
                    dedupe=slot,
                    resend_unknown=options.resend_unknown,
                    batch_number=number,
                    batch_count=len(batches),
                )
            except AttsmsError as error:  # no record, no request: it surely did not go
                if isinstance(error, JobTakenError):
                    stop.set(error)
                return BatchOutcome(number, going, FAILED, error=error, skipped=skipped)
            if claim.batch_id is None:  # another run under the same key got there first
                assert claim.existing is not None
                settled = _settled(number, addresses, claim.existing, resend_unknown=False)
                assert settled is not None
                return settled
            outcome = _send_one(
                client, store, plan.text_for(number), number, going, claim.batch_id, options,
                stop, warnings,
            )  # fmt: skip
            return BatchOutcome(
                outcome.number, outcome.addresses, outcome.result, outcome.message_id,
                outcome.error, outcome.sent, skipped,
            )  # fmt: skip

    interrupted: KeyboardInterrupt | None = None
    workers = max(1, min(options.concurrency, MAX_CONCURRENCY, len(to_send)))
    if workers == 1:  # one at a time: no threads to start (the common one-batch send)
        try:
            for number in to_send:
                done(work(number))
                held.raise_if_caught()
        except KeyboardInterrupt as signal:
            interrupted = signal
    else:
        interrupted = _run_pool(work, to_send, workers, done, stop, client)
    if interrupted is not None:
        not_sent = AttsmsError("interrupted before it was sent")
        for number in range(len(batches)):
            if outcomes[number] is None:
                addresses = batches[number]
                going = tuple(a for a in addresses if a not in skip)
                skipped = tuple(a for a in addresses if a in skip)
                done(BatchOutcome(number, going, FAILED, error=not_sent, skipped=skipped))
    report = _report(outcomes, clock() - started, key, warnings)
    report.interrupted = interrupted
    return report


def _held_until(addresses: Sequence[str], window: QuietHours, now: Any) -> Any:
    """When the last of `addresses` leaves quiet hours, or None when none is inside them. A
    batch `by_zone` cut shares its zones; any other is held whole (nobody is sent twice)."""
    from attsms.send.quiet_hours import deferred_until

    ends = [u for a in addresses if (u := deferred_until(a, window, now)) is not None]
    return max(ends) if ends else None


def _run_pool(
    work: Callable[[int], BatchOutcome],
    to_send: list[int],
    workers: int,
    done: Callable[[BatchOutcome], None],
    stop: _Stop,
    client: BatchSender,
) -> KeyboardInterrupt | None:
    """Send `to_send` from `workers` threads, each taking the next batch as it finishes one; this
    thread only records and prints (`done`), so a request never waits on that bookkeeping, and
    no future is kept per batch. Returns the Ctrl-C (SIGTERM, SIGHUP) that stopped it, if any:
    then nothing new starts, and the requests in flight finish and are recorded."""
    import queue

    pending = iter(to_send)
    take = threading.Lock()
    halt = threading.Event()
    results: queue.SimpleQueue[BatchOutcome | BaseException | None] = queue.SimpleQueue()

    def worker() -> None:
        try:
            while not halt.is_set():
                with take:
                    number = next(pending, None)
                if number is None:
                    break
                results.put(work(number))
        except BaseException as error:  # handed to the main thread, raised there
            results.put(error)
        finally:
            results.put(None)

    threads = [
        threading.Thread(target=worker, name=f"send-{i}", daemon=True) for i in range(workers)
    ]
    running = 0
    interrupted: KeyboardInterrupt | None = None
    try:
        for thread in threads:
            thread.start()
            running += 1
        while running:
            item = results.get()
            if item is None:
                running -= 1
            elif isinstance(item, BaseException):
                raise item
            else:
                done(item)
    except KeyboardInterrupt as signal:
        # Start nothing new; the requests in flight finish and are recorded. Sends waiting out a
        # rate limit stop waiting (the handler only reached this thread).
        interrupted = signal
        halt.set()
        stop.set(UnknownOutcomeError("interrupted"))
        cancel = getattr(client, "cancel_waits", None)
        if cancel is not None:
            cancel()
        while running:
            item = results.get()
            if item is None:
                running -= 1
            elif not isinstance(item, BaseException):
                done(item)
    except BaseException:
        halt.set()
        stop.set(UnknownOutcomeError("interrupted"))
        for thread in threads:
            if thread.is_alive():
                thread.join()
        raise
    return interrupted


def _report(
    outcomes: list[BatchOutcome | None], elapsed: float, key: str | None, warnings: list[str]
) -> SendReport:
    final = [o for o in outcomes if o is not None]
    assert len(final) == len(outcomes)
    return SendReport(final, elapsed=elapsed, dedupe_key=key, warnings=warnings)


def _run_id() -> str:
    import uuid

    return uuid.uuid4().hex


class _Stop:
    """Set once credentials are refused: the batches not yet started are not sent."""

    def __init__(self) -> None:
        self.error: AttsmsError | None = None
        self._lock = threading.Lock()

    def set(self, error: AttsmsError) -> None:
        with self._lock:
            if self.error is None:
                self.error = error

    def is_set(self) -> bool:
        return self.error is not None


def _send_one(
    client: BatchSender,
    store: HistoryStore,
    message: str,
    number: int,
    addresses: tuple[str, ...],
    batch_id: int,
    options: SendOptions,
    stop: _Stop,
    warnings: list[str],
) -> BatchOutcome:
    from attsms.store import history

    try:
        result = client.send(addresses, message, notify=options.notify)
    except UnknownOutcomeError as error:
        _finish(store, batch_id, history.UNKNOWN, error=error.message, warnings=warnings)
        return BatchOutcome(number, addresses, UNKNOWN, error=error, sent=True)
    except AttsmsError as error:
        _finish(store, batch_id, history.FAILED, error=error.message, warnings=warnings)
        if error.exit_code == ExitCode.AUTH:
            stop.set(error)  # do not hammer the service with credentials it refuses
        return BatchOutcome(number, addresses, FAILED, error=error, sent=True)
    except Exception as error:  # an httpx surprise: the request may have gone, so never resend
        unknown = UnknownOutcomeError(f"sending the message: {type(error).__name__}: {error}")
        _finish(store, batch_id, history.UNKNOWN, error=unknown.message, warnings=warnings)
        return BatchOutcome(number, addresses, UNKNOWN, error=unknown, sent=True)
    _finish(store, batch_id, history.ACCEPTED, message_id=result.message_id, warnings=warnings)
    return BatchOutcome(number, addresses, ACCEPTED, message_id=result.message_id, sent=True)


def _finish(
    store: HistoryStore,
    batch_id: int,
    outcome: Outcome,
    *,
    message_id: str | None = None,
    error: str | None = None,
    warnings: list[str],
) -> None:
    try:
        store.finish_batch(batch_id, outcome, message_id=message_id, error=error)
    except StoreError as store_error:
        # The request is over either way; the row stays `sending`, which a re-run reads as
        # "may have gone" and does not resend. Say so rather than hide the outcome.
        warnings.append(f"{store_error} (that batch stays recorded as in flight)")


def _settled(
    number: int,
    addresses: tuple[str, ...],
    attempt: SentBatch | None,
    resend_unknown: bool,
    addresses_of: Callable[[int], tuple[str, ...]] | None = None,
) -> BatchOutcome | None:
    """The outcome of a batch an earlier run settled, or None when it is to be sent now. Its
    recipients are those the earlier attempt went to (`addresses_of` its id, when `attempt` was
    read without them); the rest of the batch were skipped then."""
    from attsms.store import history

    if attempt is None:
        return None
    if attempt.outcome != history.ACCEPTED and (resend_unknown or not attempt.may_have_been_sent):
        return None  # failed (or unknown, to be resent): sent now
    if addresses_of is not None and not attempt.recipients:
        went = set(addresses_of(attempt.id))
    else:
        went = {r.address for r in attempt.recipients}
    sent_to = tuple(a for a in addresses if a in went)
    skipped = tuple(a for a in addresses if a not in went)
    if attempt.outcome == history.ACCEPTED:
        return BatchOutcome(
            number, sent_to, ALREADY_SENT, message_id=attempt.message_id, skipped=skipped
        )
    if attempt.may_have_been_sent and not resend_unknown:
        when = attempt.created_at.astimezone().strftime("%Y-%m-%d %H:%M:%S")
        error = UnknownOutcomeError(
            f"sent by an earlier run at {when} with no answer; not resent"
            + (f" ({attempt.error})" if attempt.error else "")
        )
        return BatchOutcome(number, sent_to, UNKNOWN, error=error, skipped=skipped)
    return None
