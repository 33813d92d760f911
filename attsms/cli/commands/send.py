"""`attsms send`: text one number or ten thousand.

The command turns its flags into a `SendRequest` and `SendOptions`, asks `attsms.send` for the
plan (or its dry run) and sends it, and prints what came back; it reads no file itself.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from attsms.cli.commands.options import Quiet, Wait, WaitTimeout, examples, formats
from attsms.cli.commands.options import lock_timeout as lock_timeout_option
from attsms.cli.output import Column, Format

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from attsms.auth.session import Session
    from attsms.cli.commands.context import AppState
    from attsms.cli.output import Output
    from attsms.send.compose import JobRef, Preview, TemplateDryRun
    from attsms.send.plan import DryRun, SendPlan
    from attsms.send.quiet_hours import Deferral, QuietHours
    from attsms.send.results import BatchOutcome, SendReport
    from attsms.send.runner import JobPreview, SendOptions
    from attsms.store import StoreSettings
    from attsms.track.wait import WaitResult

EPILOG = examples(
    "attsms send '(212) 555-0100' 212.555.0101 -m 'Gate changed to B12'",
    "attsms send --to-file staff.csv --message-file notice.txt --dedupe-key notice-0612 --wait",
    "echo 'Your code is 4821' | attsms send +12125550100 --json",
    "attsms send --to-file list.txt -m 'Sale ends tonight ☺' --dry-run",
    "attsms send --to-file people.csv --template -m 'Hi {first_name}, table at {time}' --dry-run",
    "attsms send --to-file staff.csv -m 'Shift moved' --quiet-hours 21:00-08:00 --dedupe-key s1",
)

# attsms.send.runner.DEFAULT_CONCURRENCY and MAX_CONCURRENCY, written out so that `--help` (and
# every
# other command) does not import the sending core just for two numbers; a test keeps them equal.
DEFAULT_CONCURRENCY = 16
MAX_CONCURRENCY = 20

To = Annotated[
    list[str] | None,
    typer.Argument(metavar="TO...", help="Numbers as you would type them; short:NNNNN."),
]
# A list, so that `-m x -m y` is refused (Click would keep the last one without a word).
Message = Annotated[
    list[str] | None,
    typer.Option("--message", "-m", metavar="TEXT", help="The text to send."),
]
MessageFile = Annotated[
    str | None,
    typer.Option(metavar="FILE", help="Read the text from FILE (UTF-8; - for stdin)."),
]
ToFile = Annotated[
    str | None,
    typer.Option(
        metavar="FILE",
        help="Recipients: numbers a line (each is texted; # comments), or CSV with a phone"
        " column; - for stdin.",
    ),
]
Notify = Annotated[
    bool, typer.Option("--notify", help="Ask the service for delivery notifications.")
]
DryRunFlag = Annotated[
    bool,
    typer.Option(
        "--dry-run", help="Show recipients, encoding and segments; send nothing (no login)."
    ),
]
DedupeKey = Annotated[
    str | None,
    typer.Option(
        metavar="KEY",
        help="Name this job: a re-run with the same KEY sends only what did not go.",
    ),
]
ResendUnknown = Annotated[
    bool,
    typer.Option(
        "--resend-unknown",
        help="With --dedupe-key: resend batches whose outcome was unknown.",
    ),
]
Concurrency = Annotated[
    int,
    typer.Option(min=1, max=MAX_CONCURRENCY, metavar="N", help="Requests in flight at once."),
]
Rate = Annotated[
    str | None,
    typer.Option(metavar="N/s", help="Start at most N requests a second (or N/m a minute)."),
]
IgnoreOptOut = Annotated[
    bool,
    typer.Option("--ignore-opt-out", help="Send even to numbers that opted out (texted STOP)."),
]
LockTimeout = Annotated[
    float,
    lock_timeout_option(
        "With --dedupe-key: wait this long for another live run of the job, then exit 75."
    ),
]
TemplateFlag = Annotated[
    bool,
    typer.Option(
        "--template",
        help="Personal texts: the message is a template, {column} filled from each CSV row"
        " of --to-file ({{ and }} write braces).",
    ),
]
Defaults = Annotated[
    list[str] | None,
    typer.Option(
        "--default",
        metavar="NAME=VALUE",
        help="With --template: the value for {NAME} where its cell is empty (repeatable).",
    ),
]
QuietHoursFlag = Annotated[
    str | None,
    typer.Option(
        metavar="HH:MM-HH:MM",
        help="Hold back recipients whose local time (from the area code) is inside this"
        " window; off ignores the profile setting quiet_hours.",
    ),
]


@formats(Format.JSON)
def send(
    ctx: typer.Context,
    to: To = None,
    message: Message = None,
    message_file: MessageFile = None,
    to_file: ToFile = None,
    notify: Notify = False,
    dry_run: DryRunFlag = False,
    wait: Wait = False,
    timeout: WaitTimeout = None,
    dedupe_key: DedupeKey = None,
    resend_unknown: ResendUnknown = False,
    concurrency: Concurrency = DEFAULT_CONCURRENCY,
    rate: Rate = None,
    ignore_opt_out: IgnoreOptOut = False,
    lock_timeout: LockTimeout = 0.0,
    template: TemplateFlag = False,
    default: Defaults = None,
    quiet_hours: QuietHoursFlag = None,
    quiet: Quiet = False,
) -> None:
    """Send an SMS to one or more numbers.

    The text comes from -m, --message-file, or stdin when it is piped. Numbers are normalized
    to E.164 and de-duplicated; one bad number stops the command before anything is sent.
    More than 50 recipients go in batches of 50, several at once. Each batch is recorded in
    the local history before its request leaves.

    Numbers that texted STOP are skipped and reported as opted-out; the rest are sent. With
    --dedupe-key one live run at a time holds the job: another waits --lock-timeout, then exits 75.

    Exit 0 all accepted, 2 bad input (nothing sent), 3 credentials, 4 some batches failed (the
    rest went), 5 a batch may or may not have gone (check `attsms history` before resending),
    75 another run holds the dedupe key, or quiet hours held recipients back (reported deferred;
    a re-run with the same --dedupe-key sends them once their window has ended). 130, 143 or
    129 interrupted by Ctrl-C, SIGTERM or SIGHUP: what went so far is printed first. With
    --wait: 4 also when a message could not be delivered, 75 still pending at --timeout.
    """
    from attsms.api.throttle import parse_rate
    from attsms.cli.commands.context import state
    from attsms.send import compose, runner
    from attsms.send.input import SendRequest
    from attsms.send.quiet_hours import resolve_window

    app_state = state(ctx)
    out = app_state.output(quiet=quiet)
    _refuse_lone_flags(wait, timeout, dedupe_key, resend_unknown, lock_timeout, template, default)
    text = _one_message(message)
    settings = app_state.settings
    window = resolve_window(quiet_hours, settings.quiet_hours)
    # Checked before a dry run too: it fails exactly as the send would.
    per_second = parse_rate(rate) if rate is not None else None
    request = SendRequest(to or (), to_file, text, message_file, template, default or ())
    region = settings.profile.region
    if dry_run:
        preview = compose.preview_request(
            request,
            region=region,
            window=window,
            stdin=sys.stdin,
            stores=settings.store,
            sender=settings.sender,
            ignore_opt_out=ignore_opt_out,
            job=_job_ref(app_state, out, dedupe_key, resend_unknown),
        )
        _print_preview(out, preview)
        return
    plan = compose.plan_request(request, region=region, window=window, stdin=sys.stdin)
    options = runner.SendOptions(
        notify=notify,
        dedupe_key=dedupe_key,
        resend_unknown=resend_unknown,
        concurrency=concurrency,
        rate=per_second,
        ignore_opt_out=ignore_opt_out,
        lock_timeout=lock_timeout,
        quiet_hours=window,
        run_id=runner.new_run_id(),
    )
    _send_and_report(app_state, out, plan, options, wait=wait, timeout=timeout)


def _refuse_lone_flags(
    wait: bool,
    timeout: float | None,
    dedupe_key: str | None,
    resend_unknown: bool,
    lock_timeout: float,
    template: bool,
    defaults: list[str] | None,
) -> None:
    """Flags that mean something only with another one."""
    from attsms.core.errors import UsageError

    if timeout is not None and not wait:
        raise UsageError("--timeout goes with --wait")
    if dedupe_key is not None and not dedupe_key.strip():
        # An unset variable in a cron line (`--dedupe-key "$JOB"`): no job to name.
        raise UsageError(
            "--dedupe-key is empty", hint="name the job, e.g. --dedupe-key nightly-$(date +%F)"
        )
    if resend_unknown and dedupe_key is None:
        raise UsageError("--resend-unknown goes with --dedupe-key")
    if lock_timeout and dedupe_key is None:
        raise UsageError("--lock-timeout goes with --dedupe-key")
    if defaults and not template:
        raise UsageError("--default goes with --template")


def _one_message(messages: list[str] | None) -> str | None:
    """The one -m TEXT; given twice, which one was meant is not for attsms to guess."""
    from attsms.core.errors import UsageError

    if messages and len(messages) > 1:
        raise UsageError(
            f"-m/--message given {len(messages)} times", hint="give the text once: -m TEXT"
        )
    return messages[0] if messages else None


def _job_ref(
    app_state: AppState, out: Output, key: str | None, resend_unknown: bool
) -> JobRef | None:
    """The keyed job a dry run looks up, named as the send names it: the profile and account of
    the session (its client id and base URL; no login, nothing sent)."""
    if key is None:
        return None
    from attsms.send.compose import JobRef
    from attsms.send.runner import job_account, job_account_aliases

    session = app_state.session(out)
    try:
        client_id, base_url = session.client_id, session.base_url
        account = job_account(client_id, base_url)
        aliases = job_account_aliases(client_id, base_url)
        return JobRef(session.profile, account, key, resend_unknown, aliases)
    finally:
        session.close()


# --- sending ---------------------------------------------------------------------------------


def _send_and_report(
    app_state: AppState,
    out: Output,
    plan: SendPlan,
    options: SendOptions,
    *,
    wait: bool,
    timeout: float | None,
) -> None:
    """Send `plan` (and with --wait, wait for its delivery), print its rows and summary, then
    raise what the run ends with."""
    from attsms.cli.send_view import Attention, SendRows, print_outcome
    from attsms.core.errors import AttsmsError
    from attsms.send.results import SpilledRows
    from attsms.track.wait import DEFAULT_TIMEOUT, wait_for_delivery

    stores = app_state.settings.store
    session = app_state.session(out)
    waited: WaitResult | None = None
    wait_failed: AttsmsError | None = None
    # Ctrl-C (or SIGTERM, SIGHUP) while waiting: what was sent is printed, then exit 130 (143, 129).
    interrupted: KeyboardInterrupt | None = None
    send_id = (options.run_id or "")[:8] or None
    # Piped or --json, the rows go out as batches end (a million are never held); on a terminal
    # what needs attention is kept (`Attention`), and rows with --wait's statuses print at the end.
    rows = None if wait or out.format is Format.TABLE else SendRows(out, send_id)
    # With --wait each batch's rows go to a temporary file, printed with their statuses after
    # the wait (which counts them, keeping none): flat memory for a million recipients.
    spilled = SpilledRows() if wait else None
    attention = Attention() if out.format is Format.TABLE else None
    sinks = [s.add for s in (rows, spilled, attention) if s is not None]
    try:
        report = _send(out, session, plan, options, stores, _both(sinks))
        if wait and report.message_ids and not report.nothing_went and not report.interrupted:
            try:
                waited = wait_for_delivery(
                    session,
                    report.message_ids,
                    stores=stores,
                    timeout=DEFAULT_TIMEOUT if timeout is None else timeout,
                    # A big send at a terminal shows its summary after: no line a change.
                    on_change=_change_printer(out) if attention is None or attention.few else None,
                    keep=False,
                )
            except AttsmsError as failure:  # what was sent is still worth printing
                wait_failed = failure
            except KeyboardInterrupt as signal:
                interrupted = signal
    finally:
        session.close()
    try:
        where = None if spilled is None else (spilled, stores)
        print_outcome(out, report, rows, waited, where, attention)
    finally:
        if spilled is not None:
            spilled.close()
    if report.interrupted is not None:
        raise report.interrupted
    if interrupted is not None:
        raise interrupted
    error = report.error() or wait_failed or (waited.error() if waited is not None else None)
    if error is not None:
        raise error


def _both(sinks: Sequence[Callable[[BatchOutcome], None]]) -> Callable[[BatchOutcome], None] | None:
    """One sink handing each outcome to every one of `sinks` (None: none)."""
    if len(sinks) <= 1:
        return sinks[0] if sinks else None

    def each(outcome: BatchOutcome) -> None:
        for sink in sinks:
            sink(outcome)

    return each


def _send(
    out: Output,
    session: Session,
    plan: SendPlan,
    options: SendOptions,
    stores: StoreSettings,
    sink: Callable[[BatchOutcome], None] | None,
) -> SendReport:
    """`send_plan` under a progress bar, each batch's outcome handed to `sink` in batch order
    (the report then keeps counts only)."""
    from attsms.send.results import InBatchOrder
    from attsms.send.runner import send_plan

    in_order = InBatchOrder(sink) if sink is not None else None
    with out.progress(len(plan.addresses), "Sending") as bar:

        def on_batch(outcome: BatchOutcome) -> None:
            bar.advance(len(outcome.addresses))
            if in_order is not None:
                in_order(outcome)

        return send_plan(
            session, plan, options, stores=stores, on_batch=on_batch, keep_rows=sink is None
        )


def _change_printer(out: Output) -> Any:
    """Status changes as they come, on a terminal only (stderr: the rows go to stdout last)."""
    from attsms.core.numbers import display
    from attsms.track.wait import changes

    if not out.stderr_tty or out.quiet or out.machine:
        return None

    def show(current: Any, previous: Any) -> None:
        for delivery in changes(current, previous):
            out.info(f"{current.message_id}  {display(delivery.address)}  {delivery.status}")

    return show


# --- a dry run -------------------------------------------------------------------------------


def _print_preview(out: Output, preview: Preview) -> None:
    from attsms.send.plan import DryRun

    job = _job_fields(preview.job)
    if isinstance(preview.dry_run, DryRun):
        _print_dry_run(out, preview.dry_run, job)
        if preview.window is not None:
            out.info(_quiet_line(preview.window, preview.held))
    else:
        _print_template_dry_run(out, preview.dry_run, preview.window, preview.held, job)
        out.info("Dry run: nothing was sent.")


def _job_fields(job: JobPreview | None) -> dict[str, Any]:
    """A keyed dry run's counts (`--json` fields; the rows of the table say the same)."""
    if job is None:
        return {}
    fields = {"dedupe_key": job.key, "already_sent": job.already_sent, "to_send": job.to_send}
    if job.unknown:
        fields["unknown"] = job.unknown
    return fields


_JOB_LABELS = {
    "already_sent": "already sent",
    "unknown": "unknown (not resent)",
    "to_send": "to send",
}


def _print_template_dry_run(
    out: Output,
    plan: TemplateDryRun,
    window: QuietHours | None,
    held: Deferral | None,
    job: dict[str, Any],
) -> None:
    from attsms.core.text import first_few

    if out.format is Format.JSON:
        document: dict[str, Any] = {
            "dry_run": True,
            **plan.facts.summary(),
            "opted_out": plan.opted_out,
            **job,
        }
        if window is not None:
            document["quiet_hours"] = held
        out.json(document)
        return
    for line in plan.facts.lines():
        out.text(line)
    if job:
        counts = ", ".join(f"{job[k]} {label}" for k, label in _JOB_LABELS.items() if k in job)
        out.text(f"dedupe key {job['dedupe_key']!r}: {counts}")
    if plan.opted_out:
        shown = plan.opted_out
        out.text(f"opted out (texted STOP), would be skipped: {len(shown)}: {first_few(shown)}")
    if window is not None:
        out.info(_quiet_line(window, held))


def _print_dry_run(out: Output, plan: DryRun, job: dict[str, Any]) -> None:
    from attsms.core.text import first_few
    from attsms.send.plan import describe_characters

    skipped = plan.opted_out
    rows: list[dict[str, Any]] = [
        {"item": "recipients", "value": len(plan.recipients)},
        {"item": "requests", "value": plan.requests},
        *({"item": label, "value": job[k]} for k, label in _JOB_LABELS.items() if k in job),
        *(
            [{"item": "opted out (skipped)", "value": f"{len(skipped)}: {first_few(skipped)}"}]
            if skipped
            else []
        ),
        {"item": "encoding", "value": plan.encoding},
        *(  # pure GSM-7 text: no row rather than an empty one (JSON keeps `non_gsm: []`)
            [{"item": "non-GSM characters", "value": describe_characters(plan.non_gsm)}]
            if plan.non_gsm
            else []
        ),
        {"item": "length", "value": plan.units},
        {"item": "segments per message", "value": plan.segments_per_message},
        {"item": "total segments", "value": plan.total_segments},
    ]
    if out.format is Format.JSON:  # the only format listing every recipient: streamed
        _print_dry_run_json(out, plan, job)
    else:
        out.records(rows, [Column("item", "DRY RUN", style="bold"), Column("value", "")])
    out.info("Dry run: nothing was sent.")


def _print_dry_run_json(out: Output, plan: DryRun, job: dict[str, Any]) -> None:
    """The `--json` document of a dry run, as `out.json` would write it, with the recipients
    written a slice at a time: a million are never one list of strings."""
    import dataclasses

    from attsms.cli.output import to_jsonable

    fields: dict[str, Any] = to_jsonable(dataclasses.replace(plan, recipients=[]))
    del fields["recipients"]
    fields.update(job)
    stream = out.record_stream([], field="recipients", head={"dry_run": True})
    recipients = plan.recipients
    step = 10_000
    for start in range(0, len(recipients), step):
        stream.write_documents(list(recipients[start : start + step]))
    stream.close(fields)


def _quiet_line(window: QuietHours, held: Deferral | None) -> str:
    if held is None or not held.count or held.earliest is None or held.latest is None:
        return f"Quiet hours {window}: nobody would be held back now."
    return (
        f"Quiet hours {window}: {held.count} recipient(s) would be held back now, until"
        f" {held.earliest:%Y-%m-%d %H:%M} UTC (all by {held.latest:%Y-%m-%d %H:%M} UTC)."
    )
