"""`attsms report`: how a send went, in numbers and charts. Local only unless `--refresh`.

The features are imported inside the command function: `--help` loads this module.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from attsms.cli.commands.options import examples, formats
from attsms.cli.output import Format

if TYPE_CHECKING:
    from attsms.cli.commands.context import AppState

EPILOG = examples(
    "attsms report 1a2b3c4d                            # one send, by the id send printed",
    "attsms report --key rehearsal-0612",
    "attsms report --since 24h --html report.html",
    "attsms report --message-id SMSd535f0137358ec3a --refresh --json | jq .funnel",
)

Send = Annotated[
    str | None,
    typer.Argument(
        metavar="[SEND]", help="A send by the id `attsms send` printed (a prefix will do)."
    ),
]
Key = Annotated[
    str | None, typer.Option("--key", metavar="KEY", help="The job sent with --dedupe-key KEY.")
]
MessageIds = Annotated[
    list[str] | None,
    typer.Option("--message-id", metavar="ID", help="A send by its message ID; repeatable."),
]
Since = Annotated[
    str | None,
    typer.Option(
        metavar="DATE", help="Sent at or after: 2024-05-01, 2024-05-01T09:30, or 24h, 7d back."
    ),
]
Until = Annotated[
    str | None, typer.Option(metavar="DATE", help="Sent before this date or time (as --since).")
]
ReplyWindow = Annotated[
    float,
    typer.Option(min=0, metavar="HOURS", help="Replies count within this many hours of the send."),
]
Refresh = Annotated[
    bool,
    typer.Option(
        "--refresh", help="First ask the service for the statuses not final yet, as status does."
    ),
]
Html = Annotated[
    Path | None,
    typer.Option(
        "--html", metavar="FILE", dir_okay=False, help="Also write the report as one HTML page."
    ),
]


@formats(Format.JSON)
def report(
    ctx: typer.Context,
    send: Send = None,
    key: Key = None,
    message_id: MessageIds = None,
    since: Since = None,
    until: Until = None,
    reply_window: ReplyWindow = 72.0,
    refresh: Refresh = False,
    html: Html = None,
) -> None:
    """Report on a send: the funnel from recipients to delivery, failures by reason, time to
    delivery, a timeline, replies and STOPs after it, compliance and segments billed.

    Pick a send (SEND, the id `attsms send` printed), a keyed job (--key), sends by message
    ID, or a time window (--since, --until; with
    nothing, every send of this profile). Reads the local (or shared) store only; --refresh
    first asks the service about statuses not final yet (exit 3 without credentials). A table
    and bar charts on a terminal, tab-separated lines when piped, every figure with --json.
    """
    from attsms.cli.commands.context import state
    from attsms.cli.report_view import plain_lines, render_terminal
    from attsms.core.errors import UsageError
    from attsms.track.report import Selection, as_json, compute_report
    from attsms.track.report import refresh as refresh_statuses
    from attsms.track.status import parse_since

    app_state = state(ctx)
    out = app_state.output()
    if key is not None and not key.strip():
        raise UsageError("the dedupe key is empty", hint="give the key the job was sent with")
    settings = app_state.settings
    settings.profile.check_exists()
    run_id = None
    if send is not None:
        if key is not None or message_id:
            raise UsageError("give a send id, --key or --message-id, one of them")
        run_id, key = _send_of(app_state, send)
    selection = Selection(
        run_id=run_id,
        key=key,
        message_ids=tuple(dict.fromkeys(message_id or ())),
        since=None if since is None else parse_since(since),
        until=None if until is None else parse_since(until),
        reply_window=reply_window * 3600,
    )
    profile = settings.profile.name
    asked = 0
    if refresh:
        asked = refresh_statuses(lambda: app_state.session(out), settings.store, profile, selection)
    result = compute_report(settings.store, profile, settings.sender, selection, refreshed=asked)
    doc = as_json(result)
    if html is not None:
        _write_page(html, doc)
    if out.format is Format.JSON:
        out.json(doc)
    elif out.format is Format.TABLE:
        render_terminal(doc, out.console)
    else:
        for line in plain_lines(doc):
            out.text(line)
    if result.empty:
        out.info("Nothing sent in what was asked about.")
    if html is not None:
        out.info(f"Wrote {html}.")


def _send_of(app_state: AppState, send: str) -> tuple[str | None, str | None]:
    """The run id (or, a keyed job's send, the key) the report selects."""
    from attsms.track.sends import find_send

    settings = app_state.settings
    view = find_send(settings.store, settings.profile.name, send)
    if view is None:  # pragma: no cover - a named send is found or refused
        return None, None
    return (None, view.ref.key) if view.ref.key else (view.ref.run_id, None)


def _write_page(path: Path, doc: dict[str, object]) -> None:
    from attsms.cli.report_html import page
    from attsms.core.errors import StoreError

    try:
        path.write_text(page(doc), encoding="utf-8")
    except OSError as error:
        raise StoreError(f"cannot write {path}: {error.strerror or error}") from None
