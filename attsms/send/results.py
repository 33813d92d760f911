"""What a send did: each batch's outcome, each recipient's row, and the run's report (its
summary, and the error it ends with: exit 4, 5 or 75, or the one error when nothing went)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from attsms.core.errors import AttsmsError, PartialFailure, TemporaryError, UnknownOutcomeError
from attsms.core.numbers import display
from attsms.store.sends import SEND_ID_LENGTH


class Result(StrEnum):
    """What a recipient's row says (the journal's own states are `history.Outcome`)."""

    ACCEPTED = "accepted"  # the service took it in this run
    ALREADY_SENT = "already-sent"  # accepted by an earlier run under the same dedupe key
    UNKNOWN = "unknown"  # the request went out and no answer came back: do not resend blindly
    FAILED = "failed"  # surely not sent (refused, or never reached the service)
    OPTED_OUT = "opted-out"  # texted STOP: skipped, the rest of the job goes
    DEFERRED = "deferred"  # inside quiet hours in its own time: not sent, a keyed re-run sends it


ACCEPTED, ALREADY_SENT, UNKNOWN, FAILED, OPTED_OUT, DEFERRED = Result


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
    run_id: str | None = None  # the run's id in the history: its start is the send id

    @property
    def send_id(self) -> str | None:
        """The short id `history`, `status` and `report` take (the run id's start)."""
        return None if self.run_id is None else self.run_id[:SEND_ID_LENGTH]

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
            "send_id": self.send_id,
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


class InBatchOrder:
    """Hands each outcome on to `handle` in batch order: the pool ends batches in any order,
    and one that ends early waits for those before it."""

    def __init__(self, handle: Callable[[BatchOutcome], None]) -> None:
        self._handle = handle
        self._next = 0
        self._waiting: dict[int, BatchOutcome] = {}  # ended before an earlier batch did

    def __call__(self, outcome: BatchOutcome) -> None:
        self._waiting[outcome.number] = outcome
        while self._next in self._waiting:
            outcome = self._waiting.pop(self._next)
            self._next += 1
            self._handle(outcome)


class SpilledRows:
    """Each batch's rows, written to a temporary file as the batch ends and read back in batch
    order: what `send --wait` prints after waiting, without holding a million recipients (the
    run's report keeps counts only). A line a batch: JSON of its number, message ID, result,
    error and addresses (sent to, then skipped)."""

    def __init__(self) -> None:
        import tempfile

        self._file = tempfile.TemporaryFile("w+", encoding="utf-8")  # noqa: SIM115
        self.errors = False  # some row has an error: its column is shown

    def add(self, outcome: BatchOutcome) -> None:
        import json

        error = outcome.error.message if outcome.error is not None else None
        self.errors = self.errors or (error is not None and bool(outcome.addresses))
        line = [outcome.number, outcome.message_id, outcome.result.value, error]
        self._file.write(json.dumps([*line, outcome.addresses, outcome.skipped]) + "\n")

    def __iter__(self) -> Iterator[tuple[str | None, list[RecipientResult]]]:
        """Each batch's message ID and rows, in batch order."""
        import json

        self._file.seek(0)
        for line in self._file:
            number, message_id, result, error, addresses, skipped = json.loads(line)
            rows = [
                RecipientResult(message_id, display(a), a, Result(result), error, number)
                for a in addresses
            ]
            rows += [RecipientResult(None, display(a), a, OPTED_OUT, None, number) for a in skipped]
            yield message_id, rows

    def close(self) -> None:
        self._file.close()
