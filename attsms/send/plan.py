"""The plan of a send: every recipient checked and de-duplicated, cut into requests of at most
50, and named for `--dedupe-key`, before anything is sent; and a dry run's figures.

Memory does not grow with the recipients (a million is ~24 MB): they are kept as int64s
(`AddressList`), each batch cut as it is asked for (`_Batches`), and the batches of personal
texts or of a quiet-hours send, which each carry their own recipients, are spilled to an unnamed
temporary file (`_Spilled`) and read back by number.
"""

from __future__ import annotations

import bisect
import dataclasses
import functools
import math
import threading
from array import array
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from attsms.core.errors import UsageError
from attsms.core.fileutil import temp_file_errors
from attsms.core.numbers import display, normalize_each
from attsms.core.numbers import from_code as _from_code
from attsms.core.numbers import to_code as _to_code
from attsms.core.segments import SegmentInfo, analyze, check_message
from attsms.send.quiet_hours import zones_for

_T = TypeVar("_T")

BATCH_SIZE = 50  # the service's limit per request (POL0003 above it)


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

        with temp_file_errors(self.WHAT):
            self._file = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the plan
        self._offsets = array("q", [0])
        self._lock = threading.Lock()  # one seek-and-read at a time: the pool reads from threads

    def append(self, text: str, addresses: Iterable[str] | array[int]) -> array[int]:
        """Write one batch (its addresses, or their codes already); returns its recipients as
        int64s."""
        data = text.encode("utf-8", "surrogatepass")
        codes = addresses if isinstance(addresses, array) else array("q", map(_to_code, addresses))
        record = len(data).to_bytes(4, "big") + data + codes.tobytes()
        with temp_file_errors(self.WHAT):
            self._file.write(record)
        self._offsets.append(self._offsets[-1] + len(record))
        return codes

    def seal(self) -> _Spilled:
        """Everything on disk before the first read (a full disk says so here, not mid-send)."""
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
    # Set by `by_zone`: the fingerprint of the same job not cut by time zone.
    unzoned: str | None = None

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

    @property
    def zoned_twin(self) -> str:
        """The fingerprint of this same job (text and recipients) cut the other way: by time
        zone when this one is not (quiet hours), not when it is. Its batches differ, so a keyed
        job stays the one or the other; this tells that difference by its name."""
        return self.unzoned if self.unzoned is not None else _zoned(self.fingerprint)

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


def personal_plan(
    batches: Iterable[tuple[str, Sequence[str] | array[int]]], identity: str
) -> SendPlan:
    """A plan of personal texts: (text, addresses or their codes) per request, in the order
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
    return dataclasses.replace(
        plan,
        groups=spilled.groups,
        texts=spilled.texts,
        identity=_zoned(plan.fingerprint),
        unzoned=plan.fingerprint,
    )


def _zoned(fingerprint: str) -> str:
    """The identity of the job `fingerprint` names, cut by time zone (`by_zone`)."""
    import hashlib

    return hashlib.sha256(f"{fingerprint}\nsplit by time zone".encode()).hexdigest()


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
    return _Converted(addresses, display)


def describe_characters(chars: Sequence[str]) -> str:
    """`’ (U+2019), 😀 (U+1F600)`: visible even for spaces and look-alikes."""
    return ", ".join(
        f"{ch if ch.isprintable() and not ch.isspace() else ''} (U+{ord(ch):04X})".lstrip()
        for ch in chars
    )
