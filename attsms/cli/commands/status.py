"""`attsms status`: what happened to what was sent, per recipient, from the service."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from attsms.cli.commands.options import Wait, WaitTimeout, examples, formats, not_nan
from attsms.cli.output import Format, delivery_style

if TYPE_CHECKING:
    from collections.abc import Iterable
    from datetime import datetime

    from attsms.cli.commands.context import AppState
    from attsms.cli.output import Column, Output
    from attsms.store.sends import SendRef
    from attsms.track.sends import SendView
    from attsms.track.status import Delivery, OnUpdate, StatusReport, Tracked

EPILOG = examples(
    "attsms status                       # the newest send",
    "attsms status 1a2b3c4d --all        # one send, every recipient",
    "attsms status --requests            # the last 20 requests, whichever sends",
    "attsms status SMS0123456789abcdef --wait --timeout 120",
    "attsms status --since 2h --json | jq -r '.[].deliveries[].status'",
)


def _columns(out: Output, rows: list[dict[str, Any]] | None = None) -> list[Column]:
    """Piped, always the same five fields; in a table, SENT and NOTE only when some row has one."""
    from attsms.cli.output import Column

    columns = [
        Column("message_id", "MESSAGE ID"),
        Column("to", "TO"),
        Column("status", "STATUS", style_for=delivery_style),
        Column("sent_at", "SENT"),
        Column("note", "NOTE"),
    ]
    if out.format == "table" and rows is not None:
        columns = columns[:3] + [c for c in columns[3:] if any(row.get(c.key) for row in rows)]
    return columns


def _rows(message: Tracked, deliveries: tuple[Delivery, ...], out: Output) -> list[dict[str, Any]]:
    from attsms.cli.commands.history import time_cell
    from attsms.core.numbers import display

    sent_at = time_cell(message.sent_at, out)
    return [
        {
            "message_id": message.message_id,
            "to": display(d.address),
            "status": d.status,
            "sent_at": sent_at,
            "note": message.note,
        }
        for d in deliveries
    ]


def _document(message: Tracked) -> dict[str, Any]:
    from attsms.cli.commands.history import iso
    from attsms.core.numbers import display

    return {
        "message_id": message.message_id,
        "deliveries": [
            {"address": d.address, "to": display(d.address), "status": d.status, "final": d.final}
            for d in message.deliveries
        ],
        "summary": message.summary(),
        "final": message.final,
        "source": message.source,
        "note": message.note,
        "outcome": message.outcome,
        "sent_at": iso(message.sent_at),
        "message": message.message,
    }


MessageIds = Annotated[
    list[str] | None,
    typer.Argument(
        metavar="[SEND|MESSAGE_ID]...",
        help="A send id or message IDs printed by `attsms send`; none: the newest send.",
    ),
]
Key = Annotated[
    str | None, typer.Option(metavar="KEY", help="The keyed job's send: every run of the key.")
]
Interval = Annotated[
    float | None,
    typer.Option(
        min=0.1,
        metavar="S",
        callback=not_nan,
        help="With --wait: first pause between polls, growing 1.5 times up to 15 s.  [default: 1]",
    ),
]
ShowAll = Annotated[
    bool,
    typer.Option(
        "--all",
        help="Of a send: every recipient, not only those not delivered; with --requests:"
        " every request in the history, not the last 20.",
    ),
]
Since = Annotated[
    str | None,
    typer.Option(
        metavar="DATE",
        help="The requests sent at or after 2024-05-01, 2024-05-01T09:30 (local), or 2h, 7d"
        " back (implies --requests).",
    ),
]
Requests = Annotated[
    bool,
    typer.Option(
        "--requests",
        help="The recent send requests (up to 50 recipients each), whichever sends they belong"
        " to: the last 20, or --all, or --since.",
    ),
]


@formats(Format.JSON)
def status(
    ctx: typer.Context,
    message_ids: MessageIds = None,
    wait: Wait = False,
    timeout: WaitTimeout = None,
    interval: Interval = None,
    show_all: ShowAll = False,
    since: Since = None,
    key: Key = None,
    requests: Requests = False,
) -> None:
    """Show the delivery status of sent messages, per recipient, and record it in the history.

    A SEND id, --key, or nothing (the newest send): that send, refreshed from the service; at a
    terminal its summary by status and the recipients not delivered (--all: every one), piped
    and --json every recipient. MESSAGE_IDs: those requests. --requests (or --since): the last
    20 requests of this profile, whichever sends, asking the service about those not yet
    final. The service keeps a status only about 30 minutes after it is final; older ones show
    the last status the history holds.

    With --wait each change is printed as it comes (--json: one document at the end). Exit 0
    every recipient delivered, 4 any DeliveryImpossible, 75 still pending at --timeout. Without
    --wait: 0, or 1 when the service does not know a MESSAGE_ID. Either way: 3 for missing or
    refused credentials, 75 when the service is busy, rate limits, cannot be reached or the
    history is locked by another run (try again later).
    """
    from attsms.cli.commands.context import state
    from attsms.core.errors import UsageError
    from attsms.track.status import DEFAULT_LIMIT, parse_since, track
    from attsms.track.wait import DEFAULT_INTERVAL, DEFAULT_TIMEOUT

    out = (app_state := state(ctx)).output()
    if not wait and (timeout is not None or interval is not None):
        raise UsageError("--timeout and --interval go with --wait")
    (settings := app_state.settings).profile.check_exists()
    if requests and (message_ids or key is not None):
        raise UsageError("--requests lists the recent requests; not with a send, IDs or --key")
    if _names_a_send(message_ids, key, requests=requests or since is not None):
        _status_of_send(app_state, out, message_ids, key, show_all, wait, timeout, interval)
        return
    if message_ids and (show_all or since is not None):
        raise UsageError("--all and --since pick sends from the history; not with MESSAGE_IDs")
    stores, profile = settings.store, settings.profile.name
    limit = None if show_all else DEFAULT_LIMIT
    after = None if since is None else parse_since(since)
    columns = _columns(out)
    if not wait and not message_ids and out.format is not Format.TABLE:
        report, shown = _stream_recent(app_state, out, columns, limit=limit, since=after)
    elif wait and not message_ids:
        report, shown = _wait_recent(
            app_state, out, columns, limit=limit, since=after, timeout=timeout, interval=interval
        )
    else:
        streaming = wait and not out.machine  # each change printed as it comes
        report = track(
            lambda: app_state.session(out),
            stores=stores,
            profile=profile,
            message_ids=message_ids or (),
            limit=limit,
            since=after,
            wait=wait,
            timeout=DEFAULT_TIMEOUT if timeout is None else timeout,
            interval=DEFAULT_INTERVAL if interval is None else interval,
            on_update=_printer(out, columns) if streaming else None,
        )
        if not streaming:
            rows = [row for m in report.messages for row in _rows(m, m.deliveries, out)]
            out.records(rows, _columns(out, rows), document=[_document(m) for m in report.messages])
        shown = len(report.messages)
    _summarize(out, report, listed=not message_ids, since=since, shown=shown)
    if (error := report.error()) is not None:
        raise error


def _stream_recent(
    app_state: AppState,
    out: Output,
    columns: list[Column],
    *,
    limit: int | None,
    since: datetime | None,
) -> tuple[StatusReport, int]:
    """Piped or --json, the recent requests: a page of the history at a time, asked about and
    printed as it comes."""
    from attsms.track.status import StatusStream

    settings = app_state.settings
    stream = StatusStream(
        lambda: app_state.session(out),
        stores=settings.store,
        profile=settings.profile.name,
        limit=limit,
        since=since,
    )
    _print_messages(out, columns, stream)
    return stream.report(), stream.count


def _print_messages(out: Output, columns: list[Column], messages: Iterable[Tracked]) -> None:
    """Messages read a page of the history at a time: a line a recipient, or --json's array."""
    out.stream_records(
        messages,
        columns,
        rows=lambda m: _rows(m, m.deliveries, out),
        document=_document,
        page=100,
    )


def _printer(out: Output, columns: list[Column]) -> OnUpdate:
    """Each change printed as it comes (`--wait`)."""
    return lambda message, moved: _print_update(out, columns, message, moved)


def _names_a_send(message_ids: list[str] | None, key: str | None, *, requests: bool) -> bool:
    """Whether the arguments name one send: --key, a send id, or nothing at all (the newest
    send), unless --requests (or --since) asks for the recent requests."""
    from attsms.store.sends import looks_like_send_id

    if key is not None:
        return True
    if message_ids:
        return len(message_ids) == 1 and looks_like_send_id(message_ids[0])
    return not requests


def _status_of_send(
    app_state: AppState,
    out: Output,
    message_ids: list[str] | None,
    key: str | None,
    show_all: bool,
    wait: bool,
    timeout: float | None,
    interval: float | None,
) -> None:
    """One send: refreshed, then its summary and the recipients not delivered (a terminal,
    without --all) or every recipient; with --wait, each of its messages as `status ID --wait`."""
    from attsms.cli.sends_view import print_send
    from attsms.core.errors import UsageError
    from attsms.track.sends import find_send, recipient_pages
    from attsms.track.status import refresh_send

    if key is not None and message_ids:
        raise UsageError("give a send id or --key, not both")
    settings = app_state.settings
    stores, profile = settings.store, settings.profile.name
    view = find_send(stores, profile, message_ids[0] if message_ids else None, key)
    if view is None:
        out.info("Nothing sent yet.")
        return
    if wait:  # its messages as `status ID... --wait` shows them, in flat memory
        report, shown = _wait_recent(
            app_state,
            out,
            _columns(out),
            limit=None,
            since=None,
            timeout=timeout,
            interval=interval,
            send=view.ref,
        )
        _summarize(out, report, listed=False, since=None, shown=shown)
        if (error := report.error()) is not None:
            raise error
        return
    report = refresh_send(
        lambda: app_state.session(out), stores=stores, profile=profile, ref=view.ref
    )
    view = _again(app_state, view)
    pages = recipient_pages(stores, profile, view)
    print_send(out, view, pages, attention_only=not show_all)
    if (error := report.error()) is not None:
        raise error


def _again(app_state: AppState, view: SendView) -> SendView:
    """The send counted again, after its statuses were refreshed."""
    import dataclasses

    from attsms.store import read_history

    store = read_history(app_state.settings.store)
    if store is None:
        return view
    with store:
        counts = store.send_counts(app_state.settings.profile.name, view.ref)
    return dataclasses.replace(view, counts=counts)


def _wait_recent(
    app_state: AppState,
    out: Output,
    columns: list[Column],
    *,
    limit: int | None,
    since: datetime | None,
    timeout: float | None,
    interval: float | None,
    send: SendRef | None = None,
) -> tuple[StatusReport, int]:
    """`--wait` of the recent sends (or of one `send`), in flat memory (`StatusWait`): on a
    terminal or piped, the first answers then each change as it comes; with --json, one
    document at the end, the history read again a page at a time."""
    from attsms.track.status_wait import StatusWait
    from attsms.track.wait import DEFAULT_INTERVAL, DEFAULT_TIMEOUT

    streaming = not out.machine
    settings = app_state.settings
    waiter = StatusWait(
        lambda: app_state.session(out),
        stores=settings.store,
        profile=settings.profile.name,
        limit=limit,
        since=since,
        timeout=DEFAULT_TIMEOUT if timeout is None else timeout,
        interval=DEFAULT_INTERVAL if interval is None else interval,
        on_update=_printer(out, columns) if streaming else None,
        send=send,
    )
    waiter.run()
    shown = waiter.count
    if not streaming:
        _print_messages(out, columns, waiter)
    return waiter.report(), shown


def _print_update(
    out: Output, columns: list[Column], message: Tracked, moved: tuple[Delivery, ...]
) -> None:
    for row in _rows(message, moved, out):
        out.record(row, columns)


def _summarize(
    out: Output, report: StatusReport, *, listed: bool, since: str | None, shown: int
) -> None:
    if listed and not shown:
        out.info("Nothing sent since then." if since else "Nothing sent yet.")
    elif report.more:
        out.info(f"Showing the newest {shown} requests; --all shows all.")
    waited = report.waited
    if waited is not None and waited.counts.recipients:
        counts = waited.counts
        out.info(
            f"Delivery: {counts.delivered} delivered, {counts.impossible} impossible,"
            f" {counts.pending} pending ({waited.waited:.1f} s)."
        )
