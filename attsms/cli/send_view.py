"""How `attsms send` shows what it did: piped and `--json`, one row (object) a recipient as the
batches end (`SendRows`); on a terminal, a few recipients as a table, many as a summary by outcome
and only the recipients that need attention (failed, unknown), at most a screenful, ending with
the command that lists them all (`attsms history <send id>`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from attsms.cli.output import Column, Format, delivery_style
from attsms.core.errors import StdoutClosed

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

    from attsms.cli.output import Output, RecordStream
    from attsms.send.results import BatchOutcome, RecipientResult, SendReport, SpilledRows
    from attsms.store import StoreSettings
    from attsms.track.wait import WaitResult

_COLUMNS = tuple(Column(key, key) for key in ("message_id", "to", "result"))
_WITH_ERROR = (*_COLUMNS, Column("error", "error"))


class SendRows:
    """A send's rows, written as its batches end (`RecordStream`): TSV lines, or the `--json`
    document `{"messages": [...], "summary": {...}}` a piece at a time.

    Rows of failed (or all opted-out) batches are held back until something goes, as long as
    they are few: a run where nothing went ends with its error alone, as before streaming. A
    reader that leaves (`| head`) does not stop the send (it is recorded); `close` says so.
    """

    _HOLD = 20  # batches

    def __init__(self, out: Output, send_id: str | None = None) -> None:
        self._out = out
        self._send_id = send_id
        self._stream: RecordStream | None = None
        self._held: list[BatchOutcome] = []
        self._closed: StdoutClosed | None = None
        self.started = False

    def add(self, outcome: BatchOutcome) -> None:
        """The rows of the next batch (in batch order)."""
        from attsms.send.results import FAILED, OPTED_OUT

        if self._closed is not None:
            return
        try:
            if not self.started:
                if outcome.result in (FAILED, OPTED_OUT) and len(self._held) < self._HOLD:
                    self._held.append(outcome)
                    return
                self._start()
            self._write(outcome)
        except StdoutClosed as closed:  # the reader left: the send goes on, recorded
            self._closed = closed

    def close(self, summary: dict[str, Any]) -> None:
        """The rows still held, then the end of the document (JSON: `], "summary": {...}}`)."""
        if self._closed is not None:
            raise self._closed
        if not self.started:
            self._start()
        assert self._stream is not None
        self._stream.close({"summary": summary})

    def _start(self) -> None:
        self.started = True
        self._stream = self._out.record_stream(_COLUMNS, field="messages")
        held, self._held = self._held, []
        for outcome in held:
            self._write(outcome)

    def _write(self, outcome: BatchOutcome) -> None:
        from attsms.core.numbers import display
        from attsms.send.results import OPTED_OUT

        assert self._stream is not None
        if self._out.format is not Format.PLAIN:
            self._stream.write(_row(r, self._send_id) for r in outcome.rows())
            return
        # A batch's rows differ only in TO: each line is cut once (see `write_alike`).
        error = outcome.error.message if outcome.error is not None else None
        for addresses, message_id, result, why in (
            (outcome.addresses, outcome.message_id, outcome.result, error),
            (outcome.skipped, None, OPTED_OUT, None),
        ):
            if addresses:
                row = {"message_id": message_id, "result": result, "error": why}
                columns = _WITH_ERROR if why else _COLUMNS
                self._stream.write_alike(row, "to", map(display, addresses), columns)


def _row(r: RecipientResult, send_id: str | None = None) -> dict[str, Any]:
    # Plain dicts: to_jsonable on 10,000 dataclasses is slow.
    return {
        "send_id": send_id,
        "message_id": r.message_id,
        "to": r.to,
        "address": r.address,
        "result": r.result,
        "error": r.error,
        "batch": r.batch,
    }


def print_outcome(
    out: Output,
    report: SendReport,
    rows: SendRows | None,
    waited: WaitResult | None,
    spilled: tuple[SpilledRows, StoreSettings] | None = None,
    attention: Attention | None = None,
) -> None:
    """The warnings, then the rows and the summary, unless nothing went (not interrupted) and
    nothing was printed: then the error says it all, no rows of "failed"."""
    for warning in report.warnings:
        out.warn(warning)
    error = report.error()
    printed = rows is not None and rows.started
    if report.nothing_went and error is not None and report.interrupted is None and not printed:
        raise error
    if rows is not None:
        summary = report.summary()
        rows.close(summary)
        out.info(summary_line(summary))
    elif attention is not None and not attention.few:
        print_compact(out, report, attention, waited)
    elif attention is not None and spilled is None:  # a few recipients: every one, as a table
        import dataclasses

        _print_report(out, dataclasses.replace(report, outcomes=attention.outcomes), waited)
    else:
        _print_report(out, report, waited, spilled)


def _print_report(
    out: Output,
    report: SendReport,
    waited: WaitResult | None,
    spilled: tuple[SpilledRows, StoreSettings] | None = None,
) -> None:
    """Every row and the summary: from the report, or (`--wait`) a batch at a time from the
    spilled rows, each with its recipients' statuses as the wait recorded them in the history."""
    import contextlib

    from attsms.track.wait import recorded_statuses

    batches: Iterable[tuple[str | None, list[RecipientResult]]]
    if spilled is not None:
        batches, errors = spilled[0], spilled[0].errors
    else:
        batches = ((o.message_id, o.rows()) for o in report.outcomes)
        errors = any(o.error is not None and o.addresses for o in report.outcomes)
    columns = [
        Column("message_id", "MESSAGE ID"),
        Column("to", "TO"),
        Column("result", "RESULT", style_for=result_style),
    ]
    if waited is not None:
        columns.append(Column("status", "STATUS", style_for=delivery_style))
    if errors:
        columns.append(Column("error", "ERROR"))
    summary = report.summary()
    if waited is not None:
        summary["delivery"] = waited.summary()

    def pages(status_of: Callable[[str], dict[str, str]] | None) -> Iterator[list[dict[str, Any]]]:
        for message_id, results in batches:
            statuses = status_of(message_id) if status_of and message_id else {}
            page = [_row(r, report.send_id) for r in results]
            if status_of is not None:
                for row in page:
                    row["status"] = statuses.get(row["address"])
            yield page

    stores = spilled[1] if spilled is not None and waited is not None else None
    with recorded_statuses(stores) if stores else contextlib.nullcontext() as status_of:
        if out.format is Format.TABLE:  # sized to every row: read them all
            rows = [row for page in pages(status_of) for row in page]
            out.records(rows, columns, document={"messages": rows, "summary": summary})
        else:
            stream = out.record_stream(columns, field="messages")
            for page in pages(status_of):
                stream.write(page)
            stream.close({"summary": summary})
    out.info(summary_line(summary))


def result_style(value: object) -> str | None:
    styles = {
        "accepted": "green",
        "already-sent": "cyan",
        "unknown": "yellow",
        "deferred": "yellow",
        "failed": "red",
    }
    return styles.get(str(value), "dim" if value == "opted-out" else None)


def summary_line(summary: dict[str, Any]) -> str:
    parts = [
        f"{summary[key]} {label}"
        for key, label in (
            ("accepted", "accepted"),
            ("already_sent", "already sent"),
            ("unknown", "unknown"),
            ("failed", "failed"),
            ("opted_out", "opted out (skipped)"),
            ("deferred", "deferred (quiet hours)"),
        )
        if summary.get(key)
    ]
    send = f"Send {summary['send_id']}: " if summary.get("send_id") else ""
    line = (
        f"{send}{summary['recipients']} recipient(s): {', '.join(parts)}"
        f" ({summary['requests']} request(s), {summary['elapsed_seconds']:.1f} s)."
    )
    delivery = summary.get("delivery")
    if delivery:
        line += (
            f" Delivery: {delivery['delivered']} delivered, {delivery['impossible']} impossible,"
            f" {delivery['pending']} pending."
        )
    return line


# --- a terminal: the summary and what needs attention ----------------------------------------

FEW = 20  # a send to at most this many recipients lists every one at a terminal
_OUTCOMES = (
    ("accepted", "accepted"),
    ("already_sent", "already sent"),
    ("opted_out", "opted out"),
    ("deferred", "deferred"),
    ("failed", "failed"),
    ("unknown", "unknown"),
)


class Attention:
    """What a terminal shows, kept as the batches end: every outcome of a send of `FEW`
    recipients or fewer; past that, only the failed and unknown recipients by reason (as
    displayed, at most `CAP` numbers; the rest counted)."""

    CAP = 5_000

    def __init__(self) -> None:
        self.total = 0
        self.few = True
        self.outcomes: list[BatchOutcome] = []
        self.groups: dict[tuple[str, str], list[str]] = {}  # (result, reason): numbers
        self.counts: dict[tuple[str, str], int] = {}
        self._kept = 0

    def add(self, outcome: BatchOutcome) -> None:
        from attsms.core.numbers import display
        from attsms.send.results import FAILED, UNKNOWN

        self.total += outcome.size + outcome.skipped_size
        if self.few and self.total <= FEW:
            self.outcomes.append(outcome)
        else:
            self.few, self.outcomes = False, []
        if outcome.result not in (FAILED, UNKNOWN):
            return
        reason = outcome.error.message if outcome.error is not None else ""
        group = (str(outcome.result), reason)
        self.counts[group] = self.counts.get(group, 0) + outcome.size
        room = max(0, self.CAP - self._kept)
        numbers = [display(a) for a in outcome.addresses[:room]]
        self._kept += len(numbers)
        self.groups.setdefault(group, []).extend(numbers)


def print_compact(
    out: Output, report: SendReport, attention: Attention, waited: WaitResult | None
) -> None:
    """The summary by outcome, then the recipients that need attention packed a screenful at
    most, then the command that lists them all."""
    summary = report.summary()
    rows = [
        {"outcome": label, "recipients": f"{summary[key]:,}"}
        for key, label in _OUTCOMES
        if summary.get(key)
    ]
    columns = [
        Column("outcome", "OUTCOME", style_for=lambda v: result_style(str(v).replace(" ", "-"))),
        Column("recipients", "RECIPIENTS"),
    ]
    out.records(rows, columns)
    height, width = out.console.height, max(40, out.console.width)
    room = max(6, height - len(rows) - 6)  # the table, its header, the lines after
    for line in attention_lines(attention.groups, attention.counts, width, room):
        out.text(line)
    if waited is not None:
        summary["delivery"] = waited.summary()
    out.info(summary_line(summary))
    if report.send_id is not None:
        out.info(f"Every recipient: attsms history {report.send_id}")


def attention_lines(
    groups: dict[tuple[str, str], list[str]],
    counts: dict[tuple[str, str], int],
    width: int,
    room: int,
) -> list[str]:
    """Each group's heading (`failed (50): the reason`) and its numbers packed into lines of
    `width`, `room` lines in all; what does not fit is counted on the last."""
    lines: list[str] = []
    for (result, reason), numbers in groups.items():
        if len(lines) >= room - 1:
            break
        count = counts[(result, reason)]
        lines.append(f"{result} ({count:,})" + (f": {reason}" if reason else ""))
        line, shown = "  ", 0
        for number in numbers:
            piece = number + ", "
            if len(line) + len(piece) > width:
                if len(lines) >= room - 2:
                    break
                lines.append(line.rstrip(", "))
                line = "  "
            line += piece
            shown += 1
        if line.strip():
            lines.append(line.rstrip(", "))
        if shown < count:
            lines.append(f"  … and {count - shown:,} more")
    return lines
