"""`attsms inbox`: pull inbound messages into the local store, list and export them."""

from __future__ import annotations

import enum
from collections.abc import Iterator
from typing import TYPE_CHECKING, Annotated, Any

import typer

from attsms.cli.commands.context import complete_registration_id, state
from attsms.cli.commands.options import Quiet, examples, formats
from attsms.cli.commands.options import lock_timeout as lock_timeout_option
from attsms.cli.output import Column, Format, Output, counted
from attsms.core.errors import AttsmsError, UsageError

if TYPE_CHECKING:
    from attsms.receive.pull import PullSummary
    from attsms.store.inbox import StoredMessage

app = typer.Typer(
    help="Inbound messages: pull them from the service into the local store, list, export.",
    epilog=examples(
        "attsms inbox pull 12345 --jsonl | my-handler",
        "attsms inbox list --since 1d",
    ),
    no_args_is_help=True,
)

PULL_EPILOG = examples(
    "attsms inbox pull 12345",
    "* * * * * attsms inbox pull -q --jsonl | my-handler   # crontab: every minute",
    "attsms --sandbox inbox pull --json",
)
LIST_EPILOG = examples(
    "attsms inbox list --since 2h",
    "attsms inbox list --from '(212) 555-0100' --limit 0 --jsonl",
    "attsms inbox list --since 2024-05-01 --json | jq -r '.[].text'",
)
EXPORT_EPILOG = examples(
    "attsms inbox export > inbox-backup.jsonl",
    "attsms inbox export --format csv > inbox.csv",
)


def _keyword_style(value: object) -> str | None:
    return {"stop": "red", "start": "green", "help": "yellow"}.get(str(value))


def _columns(out: Output) -> list[Column]:
    if out.format is Format.TABLE:
        return [
            Column("received_at", "RECEIVED"),
            Column("from", "FROM"),
            Column("keyword", "KEYWORD", style_for=_keyword_style),
            Column("text", "TEXT"),  # last: it takes the width left and folds
        ]
    # Piped: one line a message; the free text last, so `cut -f4-` never splits it.
    return [
        Column("received_at", "RECEIVED"),
        Column("from", "FROM"),
        Column("message_id", "MESSAGE ID"),
        Column("text", "TEXT"),
    ]


def _row(message: StoredMessage) -> dict[str, Any]:
    from attsms.core.numbers import display

    return {
        "message_id": message.message_id,
        "received_at": message.received_at,
        "from": display(message.sender),
        "to": display(message.destination),
        "text": message.text,
        "keyword": message.keyword,  # "stop", "start", "help" or null
    }


@app.command(epilog=PULL_EPILOG)
@formats(Format.JSON, Format.JSONL)
def pull(
    ctx: typer.Context,
    registration_id: Annotated[
        str | None,
        typer.Argument(
            metavar="[REGISTRATION_ID]",
            help="The short code to read; default: the profile's (`login --registration-id`).",
            autocompletion=complete_registration_id,
        ),
    ] = None,
    max_messages: Annotated[
        int | None,
        typer.Option(
            "--max",
            min=1,
            metavar="N",
            help="Stop fetching once N messages came (the batch that reaches N is kept whole).",
        ),
    ] = None,
    lock_timeout: Annotated[
        float,
        lock_timeout_option("Wait this long for another pull of the same inbox, then exit 75."),
    ] = 0.0,
    quiet: Quiet = False,
) -> None:
    """Fetch new inbound messages, store them, then print them.

    Drains the service until nothing is pending. Each batch is committed to the local store
    before any of it is printed, and a message ID already stored is never printed again:
    `attsms inbox list` shows what was stored. Ctrl-C, SIGTERM (`timeout`, systemd) and SIGHUP
    wait until the batch on its way is stored, then exit 130, 143 or 129. The service forgets
    messages as it hands them out, so only a kill -9 or power cut in the few milliseconds
    between its answer arriving and the commit loses that one batch. STOP/START keywords
    (docs/opt-out-keywords.md) update the opt-out list in the same commit.
    """
    from attsms.receive.pull import (
        InboxPull,
        UnstoredMessagesError,
        resolve_registration_id,
    )

    out = state(ctx).output(quiet=quiet)
    columns = _columns(out)
    streaming = out.format in (Format.PLAIN, Format.JSONL)
    held: list[dict[str, Any]] = []  # a table or a --json document prints at the end

    def show(messages: tuple[StoredMessage, ...]) -> None:
        for message in messages:
            if streaming:
                out.record(_row(message), columns)
            else:
                held.append(_row(message))

    app_state = state(ctx)
    session = app_state.session(out)
    try:
        registration = resolve_registration_id(registration_id, session)
        client = session.client
        with InboxPull(
            client,
            session.identity,
            registration,
            stores=app_state.settings.store,
            lock_timeout=lock_timeout,
        ) as inbox_pull:
            try:
                for batch in inbox_pull.batches(max_messages=max_messages):
                    show(batch.new)
            except UnstoredMessagesError as error:
                show(error.messages)  # the only copy left: print rather than lose them
                _finish(out, held, inbox_pull.summary, columns, failed=True)
                raise
            except (AttsmsError, KeyboardInterrupt):
                _finish(out, held, inbox_pull.summary, columns, failed=True)
                raise
        _finish(out, held, inbox_pull.summary, columns)
    finally:
        session.close()


def _finish(
    out: Output,
    held: list[dict[str, Any]],
    summary: PullSummary,
    columns: list[Column],
    *,
    failed: bool = False,
) -> None:
    from attsms.core.numbers import display

    if out.format is Format.JSON:
        out.json(
            {
                "registration_id": summary.registration_id,
                "new": summary.new,
                "already_stored": summary.duplicates,
                "opted_out": [display(a) for a in summary.opted_out],
                "opted_in": [display(a) for a in summary.opted_in],
                "pending": summary.pending,
                "unreadable": summary.unreadable,
                "messages": held,
            }
        )
    elif out.format is Format.TABLE and held:
        out.records(held, columns)
    if summary.unreadable:  # a warning, -q or not: a cron job's mail should show it
        out.warn(_unreadable_note(summary.unreadable))
    notes = []
    if summary.opted_out:
        notes.append(counted(len(summary.opted_out), "opt-out"))
    if summary.opted_in:
        notes.append(counted(len(summary.opted_in), "opt-in"))
    if summary.duplicates:
        notes.append(f"{summary.duplicates} already stored")
    detail = f" ({', '.join(notes)})" if notes else ""
    new = counted(summary.new, "new message")
    if failed:
        if summary.new or summary.duplicates:  # nothing fetched: the error line says it all
            out.info(f"Stored {new}{detail} from {summary.registration_id} before the error.")
        return
    waiting = ""
    if summary.pending > 0:
        waiting = f"; {summary.pending} more waiting at the service (run again)"
    out.info(f"Pulled {new}{detail} from {summary.registration_id}{waiting}.")


def _unreadable_note(count: int) -> str:
    what = counted(count, "message") + " with an unreadable sender or time"
    was = "was stored as it came" if count == 1 else "were stored as they came"
    return f"{what} {was} (no keyword, no opt-out; dated when stored); see attsms inbox list"


@app.command("list", epilog=LIST_EPILOG)
@formats(Format.JSON, Format.JSONL)
def list_messages(
    ctx: typer.Context,
    since: Annotated[
        str | None,
        typer.Option(
            metavar="DATE",
            help="Received at or after: 2024-05-01, 2024-05-01T09:30 (local), or 2h, 7d back.",
        ),
    ] = None,
    sender: Annotated[
        str | None, typer.Option("--from", metavar="NUMBER", help="Only messages from NUMBER.")
    ] = None,
    limit: Annotated[
        int, typer.Option(min=0, metavar="N", help="Show the newest N; 0 shows all.")
    ] = 50,
) -> None:
    """List messages in the local store (no service call), oldest first.

    Oldest by the time each was received (the service's DateTime), not when it was stored:
    pushes and pulls may arrive out of order. Equal times go by message id.
    """
    from attsms.core.numbers import normalize
    from attsms.store import existing_inbox
    from attsms.store.inbox import parse_since

    app_state = state(ctx)
    out = app_state.output()
    settings = app_state.settings
    settings.profile.check_exists()
    since_ts = None if since is None else parse_since(since)
    address = None if sender is None else normalize(sender, settings.profile.region)
    store = existing_inbox(settings.store, settings.profile.name, read_only=True)
    columns = _columns(out)
    shown = total = 0
    if store is not None:
        with store:
            messages = store.iter_messages(
                since=since_ts, sender=address, newest=limit or None, by_time=True
            )
            if out.format is Format.TABLE:  # a table sizes its columns to every row
                rows = [_row(m) for m in messages]
                out.records(rows, columns)
                shown = len(rows)
            else:  # piped or --json: written a page at a time, never all held
                shown = out.stream_records(messages, columns, row=_row)
            total = shown
            if limit and shown == limit:
                total = store.count(since=since_ts, sender=address)
    elif out.format is not Format.TABLE:
        out.stream_records([], columns)  # `[]` for --json, nothing piped
    if not shown:
        filtered = since is not None or sender is not None
        out.info("No stored message matches." if filtered else "No messages stored yet.")
    elif total > shown:
        out.info(f"Showing the newest {shown} of {total}; --limit 0 shows all.")


class ExportFormat(enum.StrEnum):
    """The formats `inbox export --format` offers, each a `Format` of the one output layer."""

    jsonl = "jsonl"
    csv = "csv"


ExportFormatOption = Annotated[
    ExportFormat | None,
    typer.Option(
        "--format",
        show_default=False,
        help="JSON lines or CSV (with a header row); not with --json.  [default: jsonl]",
    ),
]

# Every field of a stored message, in this order in every format.
EXPORT_COLUMNS = tuple(
    Column(key, key)
    for key in (
        "message_id",
        "registration_id",
        "received_at",
        "stored_at",
        "from",
        "to",
        "text",
        "keyword",
    )
)


def _export_row(message: StoredMessage) -> dict[str, Any]:
    row = {
        **_row(message),
        "registration_id": message.registration_id,
        "stored_at": message.stored_at,
    }
    return {column.key: row[column.key] for column in EXPORT_COLUMNS}


@app.command(epilog=EXPORT_EPILOG)
@formats(Format.JSON)
def export(ctx: typer.Context, export_format: ExportFormatOption = None) -> None:
    """Write every stored message to stdout, in the order stored: for backups and spreadsheets.

    `--json` prints one JSON document (an array) instead of lines (not with --format: exit 2).
    In CSV, a cell that starts with =, +, -, @, a tab or a carriage return gets a single quote
    (') in front, so that a spreadsheet shows it as text instead of running it as a formula
    (OWASP "CSV injection");
    a phone number such as +12125550100 (+ and digits only) runs nothing and is kept as is.
    JSON lines keep every text verbatim: use them for backups.
    """
    from attsms.store import existing_inbox

    app_state = state(ctx)
    if app_state.format is not None and export_format is not None:
        raise UsageError(
            f"give one output format: --format {export_format.value} or --json, not both"
        )
    out = Output(format=app_state.format or Format((export_format or ExportFormat.jsonl).value))
    settings = app_state.settings
    settings.profile.check_exists()
    store = existing_inbox(settings.store, settings.profile.name, read_only=True)

    def rows() -> Iterator[dict[str, Any]]:
        if store is not None:
            with store:
                yield from map(_export_row, store.iter_messages())

    if out.format is Format.CSV:  # written as read, as stream_records writes the others
        count = out.csv(rows(), EXPORT_COLUMNS)
    else:
        count = out.stream_records(rows(), EXPORT_COLUMNS)
    out.info(f"Exported {counted(count, 'message')}.")
