"""How `history` and `status` show sends (a run of `attsms send`, or every run of a key): at a
terminal, one row a send with its status summary, or one send's summary and its recipients;
piped and `--json`, every recipient, written a page at a time. The counts come from the store."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from attsms.cli.output import Column, Format, delivery_style

if TYPE_CHECKING:
    from attsms.cli.output import Output
    from attsms.store.history import SentBatch
    from attsms.store.sends import SendSummary
    from attsms.track.sends import SendView

STATE_STYLES = {
    "delivered": "green",
    "pending": "yellow",
    "not checked yet": "dim",
    "impossible": "red",
    "failed": "red",
    "unknown": "yellow",
    "opted out": "dim",
    "deferred": "dim",
}


def first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def print_send_list(out: Output, summaries: list[SendSummary]) -> None:
    """`history` at a terminal: one row a send, newest first."""
    from attsms.cli.commands.history import time_cell
    from attsms.track.sends import NOT_CHECKED, NOT_CHECKED_HINT, summary_text, tally

    rows = [
        {
            "sent_at": time_cell(s.first_at, out),
            "send": s.ref.id,
            "key": s.ref.key,
            "recipients": f"{s.counts.recipients:,}",
            "status": summary_text(s.counts),
            "message": first_line(s.message),
            "tone": _tone(tally(s.counts)),
        }
        for s in summaries
    ]
    columns = [
        Column("sent_at", "SENT"),
        Column("send", "SEND"),
        *([Column("key", "KEY")] if any(s.ref.key for s in summaries) else []),
        Column("recipients", "RECIPIENTS"),
        Column("status", "STATUS", style_row=lambda row: row["tone"]),
        Column("message", "MESSAGE"),
    ]
    _fit(out, rows, columns)
    out.records(rows, columns)
    if any(NOT_CHECKED in tally(s.counts) for s in summaries):
        out.info(NOT_CHECKED_HINT + " asks the service.")
    if summaries:
        out.info(f"One send's recipients: attsms history {summaries[0].ref.id}")


def _fit(out: Output, rows: list[dict[str, Any]], columns: list[Column]) -> None:
    from attsms.cli.commands.history import _fit_text

    _fit_text(rows, columns, out)


def _tone(states: dict[str, int]) -> str | None:
    if states.get("failed") or states.get("impossible"):
        return "red"
    if states.get("unknown"):
        return "yellow"
    return None


def send_heading(view: SendView) -> str:
    """`Send 1a2b3c4d (key nightly), sent 2024-06-12 09:40: 3,000 recipients: 2,950 delivered
    · 30 failed · 20 pending`."""
    from attsms.track.sends import summary_text

    key = f" (key {view.ref.key})" if view.ref.key else ""
    when = f", sent {view.sent_at.astimezone():%Y-%m-%d %H:%M}" if view.sent_at else ""
    return (
        f"Send {view.ref.id}{key}{when}: {view.counts.recipients:,} recipient(s):"
        f" {summary_text(view.counts)}"
    )


def _recipient_columns(out: Output) -> list[Column]:
    return [
        Column("to", "TO"),
        Column("state", "STATE", style_for=lambda v: STATE_STYLES.get(str(v))),
        Column("status", "STATUS", style_for=delivery_style),
        Column("message_id", "MESSAGE ID"),
        Column("sent_at", "SENT"),
        Column("note", "NOTE"),
    ]


def recipient_rows(
    batch: SentBatch, out: Output, send_id: str, keep: Callable[[str], bool] | None = None
) -> Iterator[dict[str, Any]]:
    """The rows of a batch's recipients (those whose state `keep` keeps)."""
    from attsms.cli.commands.history import time_cell
    from attsms.core.numbers import display
    from attsms.track.sends import state_of

    sent_at = time_cell(batch.created_at, out)
    for r in batch.recipients:
        state = state_of(batch.outcome, r.status)
        if keep is not None and not keep(state):
            continue
        yield {
            "send_id": send_id,
            "to": display(r.address),
            "address": r.address,
            "state": state,
            "status": r.status,
            "message_id": batch.message_id,
            "sent_at": sent_at,
            "note": batch.error,
        }


def print_send(
    out: Output,
    view: SendView,
    pages: Iterable[list[SentBatch]],
    *,
    attention_only: bool,
) -> int:
    """One send: its heading (stderr) and its recipients; at a terminal with `attention_only`,
    only those not delivered, a screenful at most. Piped and `--json`: every recipient, a page
    at a time. Returns the recipients listed."""
    from attsms.track.sends import tally

    columns = _recipient_columns(out)
    if out.format is not Format.TABLE:
        stream = out.record_stream(
            columns,
            field="recipients",
            head={
                "send_id": view.ref.id,
                "dedupe_key": view.ref.key,
                "recipients_count": view.counts.recipients,
                "summary": tally(view.counts),
            },
        )
        for page in pages:
            stream.write([row for b in page for row in recipient_rows(b, out, view.ref.id)])
        stream.close()
        out.info(send_heading(view))
        return stream.count
    if attention_only:
        _print_attention(out, view, pages)
        return 0
    rows = [row for page in pages for b in page for row in recipient_rows(b, out, view.ref.id)]
    _print_table(out, rows, columns)
    out.info(send_heading(view))
    return len(rows)


_ATTENTION = ("failed", "unknown", "impossible", "pending", "not checked yet")


def _print_attention(out: Output, view: SendView, pages: Iterable[list[SentBatch]]) -> None:
    """A terminal: the summary by status, then the recipients not delivered by state and
    reason, their numbers packed a screenful at most (`attention_lines`)."""
    from attsms.cli.send_view import attention_lines
    from attsms.core.numbers import display
    from attsms.track.sends import DELIVERED, NOT_CHECKED, NOT_CHECKED_HINT, state_of, tally

    states = tally(view.counts)
    rows = [{"state": word, "recipients": f"{n:,}"} for word, n in states.items()]
    columns = [
        Column("state", "STATUS", style_for=lambda v: STATE_STYLES.get(str(v))),
        Column("recipients", "RECIPIENTS"),
    ]
    out.records(rows, columns)
    groups: dict[tuple[str, str], list[str]] = {}
    counts: dict[tuple[str, str], int] = {}
    kept = 0
    for page in pages:
        for batch in page:
            for r in batch.recipients:
                state = state_of(batch.outcome, r.status)
                if state == DELIVERED:
                    continue
                reason = batch.error or r.status or ""
                if state == NOT_CHECKED:
                    reason = "`attsms status` asks the service"
                group = (state, reason or "")
                counts[group] = counts.get(group, 0) + 1
                if kept < 5_000:
                    groups.setdefault(group, []).append(display(r.address))
                    kept += 1
    ordered = sorted(groups, key=lambda g: _ATTENTION.index(g[0]) if g[0] in _ATTENTION else 9)
    room = max(6, out.console.height - len(rows) - 5)
    width = max(40, out.console.width)
    for line in attention_lines({g: groups[g] for g in ordered}, counts, width, room):
        out.text(line)
    out.info(send_heading(view))
    if NOT_CHECKED in states:
        out.info(NOT_CHECKED_HINT)
    if len(states) > 1 or DELIVERED not in states:
        out.info(f"Every recipient: attsms status {view.ref.id} --all")


def _print_table(out: Output, rows: list[dict[str, Any]], columns: list[Column]) -> None:
    shown = [c for c in columns if c.key in ("to", "state") or any(r.get(c.key) for r in rows)]
    out.records(rows, shown)
