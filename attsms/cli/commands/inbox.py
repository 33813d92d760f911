"""`attsms inbox`: pull inbound messages into the local store, list and export them."""

from __future__ import annotations

import enum
from collections.abc import Iterator
from typing import TYPE_CHECKING, Annotated, Any

import typer

from attsms.cli.commands.context import complete_registration_id, state
from attsms.cli.commands.options import (
    Backoff,
    ExecTimeout,
    MaxAttempts,
    Quiet,
    examples,
    exec_option,
    formats,
)
from attsms.cli.commands.options import lock_timeout as lock_timeout_option
from attsms.cli.output import Column, Format, Output, counted
from attsms.core.errors import AttsmsError, UsageError

if TYPE_CHECKING:
    from attsms.cli.commands.context import AppState
    from attsms.receive.handler import HandlerConfig, HandleSummary
    from attsms.receive.pull import PullSummary
    from attsms.store.handling import HandlingState
    from attsms.store.inbox import StoredMessage

app = typer.Typer(
    help="Inbound messages: pull them from the service into the local store, hand each to your"
    " command, list, retry, export.",
    epilog=examples(
        "attsms inbox pull 12345 --exec ./handle-reply",
        "attsms inbox list --since 1d",
    ),
    no_args_is_help=True,
)

PULL_EPILOG = examples(
    "attsms inbox pull 12345",
    "* * * * * attsms inbox pull -q --exec ./handle-reply   # crontab: every minute",
    "attsms --sandbox inbox pull --json",
)
HANDLE_EPILOG = examples(
    "attsms inbox handle --exec ./handle-reply",
    "attsms inbox handle --exec 'sh -c \"jq -r .text >> replies.txt\"' --max-attempts 3",
)
RETRY_EPILOG = examples(
    "attsms inbox list --failed",
    "attsms inbox retry --all-failed && attsms inbox handle --exec ./handle-reply",
)
HANDLE_TEXT = (
    "CMD runs once for each stored message not handled yet, oldest first by its own time, one"
    " at a time per sender, without a shell (write sh -c '…' for one): the message as JSON on"
    " stdin and in ATTSMS_MESSAGE_ID, ATTSMS_FROM, ATTSMS_TO, ATTSMS_TEXT, ATTSMS_RECEIVED_AT,"
    " ATTSMS_KEYWORD (STOP, START, HELP or empty) and ATTSMS_ATTEMPT. Exit 0 marks it handled"
    " before the next one starts; any other exit (or --exec-timeout) keeps the error, and the"
    " message is retried on a later run after --backoff; after --max-attempts it is a dead"
    " letter (`inbox list --failed`, `inbox retry`) and the run exits 4."
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
    return message.record()  # also what a --exec handler reads on stdin


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
    exec_command: Annotated[
        str | None, exec_option("Then run CMD for each message not handled yet (see below).")
    ] = None,
    exec_timeout: ExecTimeout = 60.0,
    max_attempts: MaxAttempts = 5,
    backoff: Backoff = 30.0,
    quiet: Quiet = False,
) -> None:
    """Fetch new inbound messages, store them, then print them (or, with --exec, hand them to CMD).

    Drains the service until nothing is pending. Each batch is committed to the local store
    before any of it is printed, and a message ID already stored is never printed again:
    `attsms inbox list` shows what was stored. Ctrl-C, SIGTERM (`timeout`, systemd) and SIGHUP
    wait until the batch on its way is stored, then exit 130, 143 or 129. The service forgets
    messages as it hands them out, so only a kill -9 or power cut in the few milliseconds
    between its answer arriving and the commit loses that one batch. STOP/START keywords
    (docs/opt-out-keywords.md) update the opt-out list in the same commit.

    With --exec CMD the messages are not printed: then CMD runs for each stored message not
    handled yet, as `attsms inbox handle` runs it (see its help; --json prints both summaries).
    """
    app_state = state(ctx)
    out = app_state.output(quiet=quiet)
    config = None
    if exec_command is not None:
        config = _handler_config(out, exec_command, exec_timeout, max_attempts, backoff)
    held: list[dict[str, Any]] = []  # a table or a --json document prints at the end
    summary = _pull(out, app_state, registration_id, max_messages, lock_timeout, held, config)
    if config is not None:
        _handle(out, app_state, config, pulled=(held, summary))


def _pull(
    out: Output,
    app_state: AppState,
    registration_id: str | None,
    max_messages: int | None,
    lock_timeout: float,
    held: list[dict[str, Any]],
    config: HandlerConfig | None,
) -> PullSummary:
    """Drain the inbox into the store, printing each batch once stored (unless a handler gets
    them: `config`). What could not be stored is printed in any case: the only copy left."""
    from attsms.receive.pull import InboxPull, UnstoredMessagesError, resolve_registration_id

    columns = _columns(out)
    streaming = out.format in (Format.PLAIN, Format.JSONL)

    def show(messages: tuple[StoredMessage, ...], *, always: bool = False) -> None:
        for message in messages:
            if streaming and (config is None or always):
                out.record(_row(message), columns)
            elif not streaming and (config is None or always or out.format is Format.JSON):
                held.append(_row(message))

    session = app_state.session(out)
    try:
        registration = resolve_registration_id(registration_id, session)
        with InboxPull(
            session.client,
            session.identity,
            registration,
            stores=app_state.settings.store,
            lock_timeout=lock_timeout,
        ) as inbox_pull:
            try:
                for batch in inbox_pull.batches(max_messages=max_messages):
                    show(batch.new)
            except UnstoredMessagesError as error:
                show(error.messages, always=True)  # the only copy left: print, never lose
                _finish(out, held, inbox_pull.summary, columns, failed=True)
                raise
            except (AttsmsError, KeyboardInterrupt):
                _finish(out, held, inbox_pull.summary, columns, failed=True)
                raise
        _finish(out, held, inbox_pull.summary, columns, handling=config is not None)
    finally:
        session.close()
    return inbox_pull.summary


def _pull_json(summary: PullSummary, held: list[dict[str, Any]]) -> dict[str, Any]:
    from attsms.core.numbers import display

    return {
        "registration_id": summary.registration_id,
        "new": summary.new,
        "already_stored": summary.duplicates,
        "opted_out": [display(a) for a in summary.opted_out],
        "opted_in": [display(a) for a in summary.opted_in],
        "pending": summary.pending,
        "unreadable": summary.unreadable,
        "messages": held,
    }


def _finish(
    out: Output,
    held: list[dict[str, Any]],
    summary: PullSummary,
    columns: list[Column],
    *,
    failed: bool = False,
    handling: bool = False,
) -> None:

    if out.format is Format.JSON and not handling:  # with --exec, after the handling
        out.json(_pull_json(summary, held))
    elif out.format is Format.TABLE and held and not handling:
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
    unhandled: Annotated[
        bool,
        typer.Option(
            "--unhandled", help="Only messages waiting for a --exec handler, with their attempts."
        ),
    ] = False,
    failed: Annotated[
        bool,
        typer.Option("--failed", help="Only dead letters: out of attempts, with the last error."),
    ] = False,
) -> None:
    """List messages in the local store (no service call), oldest first.

    Oldest by the time each was received (the service's DateTime), not when it was stored:
    pushes and pulls may arrive out of order. Equal times go by message id. --unhandled and
    --failed add each message's attempts and last error.
    """
    from attsms.core.numbers import normalize
    from attsms.store import existing_inbox
    from attsms.store.inbox import parse_since

    app_state = state(ctx)
    out = app_state.output()
    settings = app_state.settings
    settings.profile.check_exists()
    if unhandled and failed:
        raise UsageError("give --unhandled or --failed, not both")
    if unhandled or failed:
        filtered = since is not None or sender is not None
        _list_handling(out, app_state, failed=failed, limit=limit, filtered=filtered)
        return
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


# --- handling: --exec, handle, list --unhandled / --failed, retry ------------------------------


def _handler_config(
    out: Output, command: str, timeout: float, max_attempts: int, backoff: float
) -> HandlerConfig:
    from attsms.receive.handler import handler_config

    if out.format is Format.JSONL:
        raise UsageError("--exec prints no messages: use --json for a summary, or neither")
    return handler_config(
        command,
        timeout=timeout,
        max_attempts=max_attempts,
        backoff=backoff,
        stdout_to_stderr=out.format is Format.JSON,  # stdout holds the one JSON document
    )


def _handle(
    out: Output,
    app_state: AppState,
    config: HandlerConfig,
    *,
    pulled: tuple[list[dict[str, Any]], PullSummary] | None = None,
) -> None:
    """Run the handler on the profile's stored messages, report, and exit 4 on a dead letter."""
    from attsms.core.errors import PartialFailure
    from attsms.receive.handler import MessageHandler
    from attsms.store import open_inbox

    settings = app_state.settings
    with open_inbox(settings.store, settings.profile.name) as store:
        handler = MessageHandler(store, config, log=out.warn)
        try:
            summary = handler.run()
        except KeyboardInterrupt:
            out.info(_handled_line(handler.summary, stopped=True))
            raise
    if out.format is Format.JSON:
        document: dict[str, Any] = _summary_json(summary)
        if pulled is not None:  # `inbox pull --exec`: the pull's document, and the handling
            document = {**_pull_json(pulled[1], pulled[0]), "handling": document}
        out.json(document)
    out.info(_handled_line(summary))
    if summary.dead:
        count = len(summary.dead)
        raise PartialFailure(
            f"{counted(count, 'message')} became"
            f" {'a dead letter' if count == 1 else 'dead letters'}"
            f" after {counted(config.max_attempts, 'failed attempt')}",
            hint="see `attsms inbox list --failed`;"
            " put back with `attsms inbox retry --all-failed`",
        )


def _summary_json(summary: HandleSummary) -> dict[str, Any]:
    return {
        "handled": summary.handled,
        "failed": summary.failed,
        "dead_letters": summary.dead,
        "waiting": summary.waiting,
    }


def _handled_line(summary: HandleSummary, *, stopped: bool = False) -> str:
    parts = [f"Handled {counted(summary.handled, 'message')}"]
    if summary.failed:
        parts.append(f"{summary.failed} failed (retried on a later run)")
    if summary.dead:
        parts.append(counted(len(summary.dead), "new dead letter"))
    if summary.waiting and not stopped:
        parts.append(f"{summary.waiting} waiting (`attsms inbox list --unhandled`)")
    return ", ".join(parts) + (" before stopping." if stopped else ".")


@app.command(epilog=HANDLE_EPILOG)
@formats(Format.JSON)
def handle(
    ctx: typer.Context,
    exec_command: Annotated[str, exec_option("The command to run for each message.")],
    exec_timeout: ExecTimeout = 60.0,
    max_attempts: MaxAttempts = 5,
    backoff: Backoff = 30.0,
    quiet: Quiet = False,
) -> None:
    """Run CMD for each stored message not handled yet (no service call).

    For messages `attsms listen` stored, or after an outage. CMD runs once for each stored
    message not handled yet, oldest first by its own time, one at a time per sender, without a
    shell (write sh -c '…' for one): the message as JSON on stdin (the fields of `inbox list
    --json`) and in ATTSMS_MESSAGE_ID, ATTSMS_FROM, ATTSMS_TO, ATTSMS_TEXT, ATTSMS_RECEIVED_AT,
    ATTSMS_KEYWORD (STOP, START, HELP or empty) and ATTSMS_ATTEMPT; its stdout and stderr pass
    through (with --json its stdout goes to stderr). Exit 0 marks the message handled before the
    next one starts: it is never run again. Any other exit, or --exec-timeout, keeps the exit
    code and the last line of stderr, and the message is retried on a later run, after
    --backoff; after --max-attempts it is a dead letter (`inbox list --failed`, `inbox retry`)
    and the run exits 4. Ctrl-C or SIGTERM lets the running CMD finish (up to its timeout),
    records it, then exits 130 or 143. With a shared PostgreSQL store several hosts may run this
    at once: each message is handed to one of them.
    """
    app_state = state(ctx)
    out = app_state.output(quiet=quiet)
    config = _handler_config(out, exec_command, exec_timeout, max_attempts, backoff)
    app_state.settings.profile.check_exists()
    _handle(out, app_state, config)


def _handling_columns(out: Output) -> list[Column]:
    return [
        Column("received_at", "RECEIVED"),
        Column("from", "FROM"),
        Column("message_id", "MESSAGE ID"),
        Column("attempts", "ATTEMPTS"),
        Column("last_error", "LAST ERROR"),
        Column("text", "TEXT"),
    ]


def _handling_row(message: StoredMessage, handling: HandlingState) -> dict[str, Any]:
    return {**_row(message), "attempts": handling.attempts, "last_error": handling.last_error}


def _list_handling(
    out: Output, app_state: AppState, *, failed: bool, limit: int, filtered: bool
) -> None:
    """`inbox list --unhandled` / `--failed`: oldest first; with `limit`, the newest `limit`."""
    from attsms.store import existing_inbox

    if filtered:
        raise UsageError("--unhandled and --failed take no --since or --from")
    settings = app_state.settings
    store = existing_inbox(settings.store, settings.profile.name, read_only=True)
    entries = []
    if store is not None:
        with store:
            entries = store.handling_list(failed=failed)
    shown = entries[-limit:] if limit else entries
    rows = [_handling_row(message, handling) for message, handling in shown]
    out.records(rows, _handling_columns(out))
    what = "dead letter" if failed else "waiting message"
    if not rows:
        out.info("No dead letters." if failed else "No messages waiting for a handler.")
    elif len(shown) < len(entries):
        out.info(
            f"Showing the newest {len(shown)} of {counted(len(entries), what)};"
            " --limit 0 shows all."
        )


@app.command(epilog=RETRY_EPILOG)
@formats(Format.JSON)
def retry(
    ctx: typer.Context,
    message_ids: Annotated[
        list[str] | None, typer.Argument(metavar="[MESSAGE_ID]...", show_default=False)
    ] = None,
    all_failed: Annotated[
        bool, typer.Option("--all-failed", help="Every dead letter (`inbox list --failed`).")
    ] = False,
) -> None:
    """Put dead letters (or handled messages) back to be handled afresh, attempts from 0.

    The next `inbox handle --exec`, `inbox pull --exec` or `listen --exec` runs the handler for
    them. An ID that is not stored is an error (exit 2) and nothing is changed.
    """
    from attsms.store import open_inbox

    app_state = state(ctx)
    out = app_state.output()
    if all_failed == bool(message_ids):
        raise UsageError("give message IDs or --all-failed (one of the two)")
    settings = app_state.settings
    settings.profile.check_exists()
    with open_inbox(settings.store, settings.profile.name) as store:
        retried = store.retry_messages(None if all_failed else list(message_ids or ()))
    if out.format is Format.JSON:
        out.json({"retried": retried})
    else:
        for message_id in retried:
            out.text(message_id)
    out.info(f"Put back {counted(len(retried), 'message')} to be handled.")
