"""`attsms history`: what was sent, when, to whom, and its last known status. Local only."""

from __future__ import annotations

import enum
import itertools
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer

from attsms.cli.commands.options import examples, formats
from attsms.cli.output import Format

if TYPE_CHECKING:
    from attsms.cli.commands.context import AppState
    from attsms.cli.output import Column, Output
    from attsms.store.history import SentBatch

EPILOG = examples(
    "attsms history                      # one row a send",
    "attsms history 1a2b3c4d             # that send's recipients, a screenful",
    "attsms history 1a2b3c4d --sort status --page 2",
    "attsms history --requests --since 1d --limit 0",
    "attsms history --json | jq -r '.[] | select(.outcome != \"accepted\") | .message'",
)

# In a terminal table a message's text is cut to fit the line, but never below this width.
MIN_TEXT_WIDTH = 16


def time_cell(moment: datetime | None, out: Output, now: datetime | None = None) -> str | None:
    """On a terminal, local and compact (`14:05`, `May 01 14:05`, `2023-05-01`); piped and in
    JSON, ISO 8601 UTC (`2024-05-01T12:05:09Z`), which sorts and parses."""
    if moment is None:
        return None
    if out.format != "table":
        return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    local = moment.astimezone()
    today = (now or datetime.now(UTC)).astimezone()
    if local.date() == today.date():
        return local.strftime("%H:%M")
    if local.year == today.year:
        return local.strftime("%b %d %H:%M")
    return local.strftime("%Y-%m-%d")


def iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _tone(batch: SentBatch) -> str | None:
    """How a terminal shows a send's STATUS: from its outcome and statuses, not the words."""
    from attsms.store.history import Outcome

    if batch.outcome is Outcome.FAILED:
        return "red"
    if any(r.status == "DeliveryImpossible" for r in batch.recipients):
        return "red"
    if batch.may_have_been_sent:
        return "yellow"
    return None


def _short(text: str, width: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def _fit_text(rows: list[dict[str, Any]], columns: list[Column], out: Output) -> None:
    """Cut the last column's text so that each row stays one line of the terminal."""
    if out.format != "table" or not rows:
        return
    *others, last = columns
    used = sum(max(len(c.header), *(len(str(r.get(c.key) or "")) for r in rows)) for c in others)
    width = max(MIN_TEXT_WIDTH, out.console.width - used - 2 * len(others))
    for row in rows:
        row[last.key] = _short(str(row[last.key]), width)


def _columns() -> list[Column]:
    from attsms.cli.output import Column

    return [
        Column("sent_at", "SENT"),
        Column("message_id", "MESSAGE ID"),
        Column("to", "TO"),
        Column("status", "STATUS", style_row=lambda row: row["tone"]),
        Column("message", "MESSAGE"),  # last: `cut -f5-` never splits it
    ]


def _row(batch: SentBatch, out: Output) -> dict[str, Any]:
    from attsms.core.numbers import display
    from attsms.track.status import summarize

    count = len(batch.recipients)
    return {
        "sent_at": time_cell(batch.created_at, out),
        "message_id": batch.message_id,
        "to": display(batch.recipients[0].address) if count == 1 else f"{count} recipients",
        "status": summarize(batch.outcome, [r.status for r in batch.recipients]),
        "message": batch.message,
        "tone": _tone(batch),  # styles STATUS on a terminal; not a column
    }


def _document(batch: SentBatch) -> dict[str, Any]:
    from attsms.core.numbers import display
    from attsms.store.sends import send_id
    from attsms.track.status import summarize

    return {
        "message_id": batch.message_id,
        "sent_at": iso(batch.created_at),
        "profile": batch.profile,
        "outcome": batch.outcome,
        "summary": summarize(batch.outcome, [r.status for r in batch.recipients]),
        "recipients": [
            {
                "address": r.address,
                "to": display(r.address),
                "status": r.status,
                "status_at": iso(r.status_at),
            }
            for r in batch.recipients
        ],
        "message": batch.message,
        "error": batch.error,
        "run_id": batch.run_id,
        "send_id": send_id(batch.run_id),
        "dedupe_key": batch.dedupe_key,
        "batch_number": batch.batch_number,
        "batch_count": batch.batch_count,
    }


Send = Annotated[
    str | None,
    typer.Argument(
        metavar="[SEND]",
        help="A send id (as `send` printed it; a prefix will do) or a message ID: that send's"
        " recipients.",
    ),
]
Key = Annotated[
    str | None, typer.Option(metavar="KEY", help="The keyed job's send: every run of the key.")
]
Requests = Annotated[
    bool,
    typer.Option("--requests", help="One line a send request (up to 50 recipients), as piped."),
]
Limit = Annotated[
    int | None,
    typer.Option(
        min=0,
        metavar="N",
        help="The newest N sends (default 20); with a SEND, N of its recipients a page (default:"
        " a screenful at a terminal, all piped). 0 shows all.",
    ),
]
Page = Annotated[
    int, typer.Option(min=1, metavar="P", help="With a SEND: the P-th page of its recipients.")
]


class Order(enum.StrEnum):
    newest = "newest"
    status = "status"


Sort = Annotated[
    Order,
    typer.Option(
        help="With a SEND: newest request first (then those left out), or by status (failed,"
        " unknown, impossible, pending, not checked yet, delivered, opted out, deferred).",
    ),
]
Since = Annotated[
    str | None,
    typer.Option(
        metavar="DATE",
        help="Sent at or after: 2024-05-01, 2024-05-01T09:30 (local), or 2h, 7d back.",
    ),
]


@formats(Format.JSON)
def history(
    ctx: typer.Context,
    send: Send = None,
    key: Key = None,
    requests: Requests = False,
    limit: Limit = None,
    since: Since = None,
    page: Page = 1,
    sort: Sort = Order.newest,
) -> None:
    """List what was sent, newest first, from the local history; never calls the service.

    At a terminal, one row a send (a run of `attsms send`, or every run of a --dedupe-key):
    when, its id (and key), its recipients, a summary of their last known statuses and the
    text's first line. With a SEND id (or --key), that send's recipients: at a terminal a
    screenful a page (--page, --limit), piped and --json all of them (one line, or object, a
    recipient), newest request first or --sort status. Without a SEND, piped, with --json or
    --requests: one line a send request (up to 50 recipients each), each naming its send id in
    JSON. `attsms status` refreshes the statuses.
    """
    from attsms.cli.commands.context import state
    from attsms.core.errors import UsageError

    app_state = state(ctx)
    out = app_state.output()
    settings = app_state.settings
    if send is not None or key is not None:
        if send is not None and key is not None:
            raise UsageError("give a send id or --key, not both")
        if requests or since is not None:
            raise UsageError("--requests and --since pick sends; not with a send id or --key")
        _one_send(out, app_state, send, key, limit=limit, page=page, by_status=sort is Order.status)
        return
    if page != 1 or sort is not Order.newest:
        raise UsageError("--page and --sort list one send's recipients; give its SEND id")
    limit = 20 if limit is None else limit
    after = None if since is None else _since(since)
    if out.format is Format.TABLE and not requests:
        from attsms.cli.sends_view import print_send_list
        from attsms.track.sends import recent_sends

        summaries, more = recent_sends(
            settings.store, settings.profile.name, limit=limit or None, since=after
        )
        print_send_list(out, summaries)
        _footer(out, len(summaries), more, since)
        return
    _requests(out, app_state, limit, after, since)


def _since(text: str) -> datetime:
    from attsms.track.status import parse_since

    return parse_since(text)


def _one_send(
    out: Output,
    app_state: AppState,
    send: str | None,
    key: str | None,
    *,
    limit: int | None,
    page: int,
    by_status: bool,
) -> None:
    """A send's recipients: a page of them (a terminal, or --limit), else all, streamed."""
    import shlex

    from attsms.cli.sends_view import print_send, print_send_page
    from attsms.core.errors import UsageError
    from attsms.track.sends import find_send, recipient_page, recipient_pages

    stores, profile = app_state.settings.store, app_state.settings.profile.name
    view = find_send(stores, profile, send, key)
    if view is None:  # pragma: no cover - a named send is found or refused
        return
    screenful = max(10, out.console.height - 6) if out.format is Format.TABLE else None
    if limit is None:
        limit = screenful  # at a terminal a screenful, with the heading and footer; piped all
    if not limit:
        if page != 1:
            raise UsageError("--page goes with a page size: --limit N, not 0")
        pages = recipient_pages(stores, profile, view, by_status=by_status)
        print_send(out, view, pages, attention_only=False)
        return
    offset = (page - 1) * limit
    found = recipient_page(stores, profile, view, by_status=by_status, offset=offset, limit=limit)
    if out.format is not Format.TABLE:
        print_send(out, view, [found], attention_only=False)
        return
    more = offset + len(found) < view.counts.recipients
    ref = view.ref
    name = ref.id if ref.key is None else f"--key {shlex.quote(ref.key)}"
    command = f"attsms history {name}" + (" --sort status" if by_status else "")
    if limit != screenful:
        command += f" --limit {limit}"
    print_send_page(
        out,
        view,
        found,
        offset=offset,
        by_status=by_status,
        next_command=f"{command} --page {page + 1}" if more else None,
    )


def _footer(out: Output, shown: int, more: bool, since: str | None) -> None:
    if not shown:
        out.info("Nothing sent since then." if since else "Nothing sent yet.")
    elif more:
        out.info(f"Showing the newest {shown}; --limit 0 shows all.")


def _requests(
    out: Output, app_state: AppState, limit: int, after: datetime | None, since: str | None
) -> None:
    """One line a send request, as before issue 29 (`--requests`; piped and --json)."""
    from attsms.store.history import PAGE_BATCHES
    from attsms.track.status import HistoryStream, read_history

    settings = app_state.settings
    columns = _columns()
    if out.format is Format.TABLE:  # a table sizes its columns to every row: read them all
        page = read_history(settings.store, settings.profile.name, limit=limit or None, since=after)
        rows = [_row(b, out) for b in page.batches]
        _fit_text(rows, columns, out)
        out.records(rows, columns)
        shown, more = len(page.batches), page.more
    else:  # piped or --json: written a page at a time (a million recipients are never held)
        stream = HistoryStream(
            settings.store, settings.profile.name, limit=limit or None, since=after
        )
        batches = itertools.chain.from_iterable(stream)
        out.stream_records(
            batches, columns, row=lambda b: _row(b, out), document=_document, page=PAGE_BATCHES
        )
        shown, more = stream.count, stream.more
    _footer(out, shown, more, since)
