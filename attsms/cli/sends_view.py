"""How `history` and `status` show sends (a run of `attsms send`, or every run of a key): at a
terminal, one row a send with its status summary, or one send's summary and its recipients;
piped and `--json`, every recipient, written a page at a time. The counts come from the store."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from attsms.cli.output import Column, Format, delivery_style

if TYPE_CHECKING:
    from attsms.cli.output import Output
    from attsms.store.sends import SendSummary
    from attsms.track.sends import SendRecipient, SendView

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


def _recipient_columns() -> list[Column]:
    return [
        Column("to", "TO"),
        Column("state", "STATE", style_for=lambda v: STATE_STYLES.get(str(v))),
        Column("status", "STATUS", style_for=delivery_style),
        Column("message_id", "MESSAGE ID"),
        Column("sent_at", "SENT"),
        Column("note", "NOTE"),
    ]


def recipient_rows(
    recipients: Iterable[SendRecipient], out: Output, send_id: str
) -> list[dict[str, Any]]:
    from attsms.cli.commands.history import time_cell
    from attsms.core.numbers import display

    return [
        {
            "send_id": send_id,
            "to": display(r.address),
            "address": r.address,
            "state": r.state,
            "status": r.status,
            "message_id": r.message_id,
            "sent_at": time_cell(r.sent_at, out),
            "note": r.note,
        }
        for r in recipients
    ]


def print_send(
    out: Output,
    view: SendView,
    pages: Iterable[list[SendRecipient]],
    *,
    attention_only: bool,
) -> int:
    """One send: its heading (stderr) and its recipients; at a terminal with `attention_only`,
    the summary by status and only those that need a look, a screenful at most; else every
    recipient, a page at a time (a table of a million rows is printed in pages of columns as
    wide as the first's). Returns the recipients listed."""
    from attsms.track.sends import tally

    columns = _recipient_columns()
    if out.format is Format.TABLE and attention_only:
        _print_attention(out, view, pages)
        return 0
    if out.format is Format.TABLE:
        count = out.table_pages((recipient_rows(p, out, view.ref.id) for p in pages), columns)
        out.info(send_heading(view))
        return count
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
        stream.write(recipient_rows(page, out, view.ref.id))
    stream.close()
    out.info(send_heading(view))
    return stream.count


def print_send_page(
    out: Output,
    view: SendView,
    page: list[SendRecipient],
    *,
    offset: int,
    by_status: bool,
    next_command: str | None,
) -> None:
    """`history <id>` at a terminal: one page of the send's recipients, its heading, where the
    page lies among them and the command for the next."""
    rows = recipient_rows(page, out, view.ref.id)
    out.table_pages([rows], _recipient_columns())  # TO and STATE, and the columns filled
    out.info(send_heading(view))
    total = view.counts.recipients
    order = "what needs a look first" if by_status else "newest first"
    if rows:
        out.info(f"Recipients {offset + 1:,}–{offset + len(rows):,} of {total:,}, {order}.")
    else:
        out.info(f"No recipients past {offset:,} of {total:,}.")
    if next_command is not None:
        out.info(f"Next: {next_command} (--limit 0: all of them)")


def _print_attention(out: Output, view: SendView, pages: Iterable[list[SendRecipient]]) -> None:
    """A terminal: the summary by status, then the recipients that need a look (not delivered,
    not left out) by state and reason, their numbers packed a screenful at most
    (`attention_lines`)."""
    from attsms.cli.send_view import attention_lines
    from attsms.core.numbers import display
    from attsms.track.sends import (
        BY_ATTENTION,
        DEFERRED,
        DELIVERED,
        NOT_CHECKED,
        NOT_CHECKED_HINT,
        OPTED_OUT,
        tally,
    )

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
        for r in page:
            if r.state in (DELIVERED, OPTED_OUT, DEFERRED):
                continue
            reason = r.note or r.status or ""
            if r.state == NOT_CHECKED:
                reason = "`attsms status` asks the service"
            group = (r.state, reason)
            counts[group] = counts.get(group, 0) + 1
            if kept < 5_000:
                groups.setdefault(group, []).append(display(r.address))
                kept += 1
    ordered = sorted(groups, key=lambda g: BY_ATTENTION.index(g[0]))
    room = max(6, out.console.height - len(rows) - 5)
    width = max(40, out.console.width)
    for line in attention_lines({g: groups[g] for g in ordered}, counts, width, room):
        out.text(line)
    out.info(send_heading(view))
    if NOT_CHECKED in states:
        out.info(NOT_CHECKED_HINT)
    if len(states) > 1 or DELIVERED not in states:
        out.info(f"Every recipient: attsms status {view.ref.id} --all")
