"""`attsms store`: where the history, inbox and opt-outs live, and moving them to a shared
PostgreSQL database."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from attsms.cli.commands.context import state
from attsms.cli.commands.options import Quiet, examples, formats
from attsms.cli.output import Format, counted

if TYPE_CHECKING:
    from attsms.store.admin import StoreStatus

app = typer.Typer(
    help="The store: local SQLite files, or a PostgreSQL database that several hosts share"
    " (ATTSMS_DATABASE_URL).",
    epilog=examples(
        "attsms store status",
        "PGPASSWORD=... attsms store copy --to postgresql://attsms@db.example.com/attsms",
    ),
    no_args_is_help=True,
)

STATUS_EPILOG = examples(
    "attsms store status",
    "ATTSMS_DATABASE_URL=postgresql://attsms@db.example.com/attsms attsms store status --json",
)
COPY_EPILOG = examples(
    "PGPASSWORD=... attsms store copy --to postgresql://attsms@db.example.com/attsms",
    "attsms store copy --to postgresql://attsms@db.example.com/attsms --json",
)


@app.command(epilog=STATUS_EPILOG)
@formats(Format.JSON)
def status(ctx: typer.Context) -> None:
    """Show the backend, where it is (a URL without its password), the schema versions and
    row counts. Reads only: works on a read-only data directory."""
    from attsms.store import admin

    app_state = state(ctx)
    out = app_state.output()
    report = admin.status(app_state.settings.store)
    if out.format is Format.JSON:
        out.json(_document(report))
        return
    out.text(f"backend:   {report.backend}")
    out.text(f"location:  {report.location}")
    if report.history_schema is None:
        out.text("history:   none yet")
    else:
        out.text(
            f"history:   schema {report.history_schema}, {counted(report.batches, 'batch')},"
            f" {counted(report.recipients, 'recipient')}, {counted(report.jobs, 'keyed job')}"
            f" ({report.live_jobs} running)"
        )
    if not report.inboxes:
        out.text("inbox:     none yet")
    for inbox in report.inboxes:
        out.text(
            f"inbox:     profile {inbox.profile}: schema {inbox.schema},"
            f" {counted(inbox.messages, 'message')}"
        )
    if report.consent_schema is None:
        out.text("opt-outs:  none yet")
    else:
        out.text(f"opt-outs:  schema {report.consent_schema}, {counted(report.opt_outs, 'number')}")


def _document(report: StoreStatus) -> dict[str, Any]:
    return {
        "backend": report.backend,
        "location": report.location,
        "history": None
        if report.history_schema is None
        else {
            "schema": report.history_schema,
            "batches": report.batches,
            "recipients": report.recipients,
            "jobs": report.jobs,
            "running_jobs": report.live_jobs,
        },
        "inboxes": [
            {
                "profile": i.profile,
                "schema": i.schema,
                "messages": i.messages,
            }
            for i in report.inboxes
        ],
        "opt_outs": None
        if report.consent_schema is None
        else {"schema": report.consent_schema, "numbers": report.opt_outs},
    }


@app.command(epilog=COPY_EPILOG)
@formats(Format.JSON)
def copy(
    ctx: typer.Context,
    to: Annotated[
        str,
        typer.Option(
            "--to",
            metavar="URL",
            help="postgresql://USER@HOST:PORT/DATABASE, without the password (take it from"
            " PGPASSWORD, ~/.pgpass or the keyring).",
        ),
    ],
    quiet: Quiet = False,
) -> None:
    """Copy this machine's local history, inboxes and opt-outs into a shared PostgreSQL
    database. Run it again at will: nothing is copied twice. What `--sandbox` runs kept
    (pretend sends, replies, opt-outs) stays out of it."""
    from attsms.auth.profiles import SANDBOX_PROFILE
    from attsms.cli.settings import resolve_settings
    from attsms.core.redaction import redact_url
    from attsms.store import admin
    from attsms.store.postgres import check_url, refuse_password

    app_state = state(ctx)
    out = app_state.output(quiet=quiet)
    check_url(to)
    refuse_password(to, "the command line (--to)")
    sandbox = resolve_settings(sandbox=True, profile=None)
    report = admin.copy_to(
        to, leave_out=(SANDBOX_PROFILE,), leave_out_accounts=(sandbox.sender.account,)
    )
    if out.format is Format.JSON:
        out.json(
            {
                "to": redact_url(to),
                "batches": report.batches,
                "batches_already_there": report.batches_skipped,
                "jobs": report.jobs,
                "messages": report.messages,
                "messages_already_there": report.messages_skipped,
                "opt_outs": report.opt_outs,
                "profiles": report.profiles,
            }
        )
        return
    out.info(
        f"Copied {report.batches} batches ({report.batches_skipped} already there),"
        f" {report.jobs} keyed jobs, {report.messages} messages"
        f" ({report.messages_skipped} already there) and {report.opt_outs} opt-outs"
        f" to {redact_url(to)}."
    )
