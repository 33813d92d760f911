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
from attsms.cli.output import Column, Format, delivery_style
from attsms.core.errors import StdoutClosed

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

    from attsms.auth.session import Session
    from attsms.cli.commands.context import AppState
    from attsms.cli.output import Output, RecordStream
    from attsms.send.compose import JobRef, Preview, TemplateDryRun
    from attsms.send.plan import DryRun, SendPlan
    from attsms.send.quiet_hours import Deferral, QuietHours
    from attsms.send.results import BatchOutcome, RecipientResult, SendReport, SpilledRows
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
    from attsms.send.runner import job_account

    session = app_state.session(out)
    try:
        account = job_account(session.client_id, session.base_url)
        return JobRef(session.profile, account, key, resend_unknown)
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
    from attsms.core.errors import AttsmsError
    from attsms.send.results import SpilledRows
    from attsms.track.wait import DEFAULT_TIMEOUT, wait_for_delivery

    stores = app_state.settings.store
    session = app_state.session(out)
    waited: WaitResult | None = None
    wait_failed: AttsmsError | None = None
    # Ctrl-C (or SIGTERM, SIGHUP) while waiting: what was sent is printed, then exit 130 (143, 129).
    interrupted: KeyboardInterrupt | None = None
    # Piped or --json, the rows go out as batches end (a million are never held); the table on
    # a terminal, and rows with --wait's delivery statuses, are printed at the end.
    rows = None if wait or out.format is Format.TABLE else _SendRows(out)
    # With --wait each batch's rows go to a temporary file, printed with their statuses after
    # the wait (which counts them, keeping none): flat memory for a million recipients.
    spilled = SpilledRows() if wait else None
    sink = rows.add if rows is not None else spilled.add if spilled is not None else None
    try:
        report = _send(out, session, plan, options, stores, sink)
        if wait and report.message_ids and not report.nothing_went and not report.interrupted:
            try:
                waited = wait_for_delivery(
                    session,
                    report.message_ids,
                    stores=stores,
                    timeout=DEFAULT_TIMEOUT if timeout is None else timeout,
                    on_change=_change_printer(out),
                    keep=False,
                )
            except AttsmsError as failure:  # what was sent is still worth printing
                wait_failed = failure
            except KeyboardInterrupt as signal:
                interrupted = signal
    finally:
        session.close()
    try:
        _print_outcome(out, report, rows, waited, None if spilled is None else (spilled, stores))
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


# --- the rows and the summary ----------------------------------------------------------------

_COLUMNS = tuple(Column(key, key) for key in ("message_id", "to", "result"))
_WITH_ERROR = (*_COLUMNS, Column("error", "error"))


class _SendRows:
    """A send's rows, written as its batches end (`RecordStream`): TSV lines, or the `--json`
    document `{"messages": [...], "summary": {...}}` a piece at a time.

    Rows of failed (or all opted-out) batches are held back until something goes, as long as
    they are few: a run where nothing went ends with its error alone, as before streaming. A
    reader that leaves (`| head`) does not stop the send (it is recorded); `close` says so.
    """

    _HOLD = 20  # batches

    def __init__(self, out: Output) -> None:
        self._out = out
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
            self._stream.write(_row(r) for r in outcome.rows())
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


def _row(r: RecipientResult) -> dict[str, Any]:
    # Plain dicts: to_jsonable on 10,000 dataclasses is slow.
    return {
        "message_id": r.message_id,
        "to": r.to,
        "address": r.address,
        "result": r.result,
        "error": r.error,
        "batch": r.batch,
    }


def _print_outcome(
    out: Output,
    report: SendReport,
    rows: _SendRows | None,
    waited: WaitResult | None,
    spilled: tuple[SpilledRows, StoreSettings] | None = None,
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
        out.info(_summary_line(summary))
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
        Column("result", "RESULT", style_for=_result_style),
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
            page = [_row(r) for r in results]
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
    out.info(_summary_line(summary))


def _result_style(value: object) -> str | None:
    styles = {
        "accepted": "green",
        "already-sent": "cyan",
        "unknown": "yellow",
        "deferred": "yellow",
        "failed": "red",
    }
    return styles.get(str(value), "dim" if value == "opted-out" else None)


def _summary_line(summary: dict[str, Any]) -> str:
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
    line = (
        f"{summary['recipients']} recipient(s): {', '.join(parts)}"
        f" ({summary['requests']} request(s), {summary['elapsed_seconds']:.1f} s)."
    )
    delivery = summary.get("delivery")
    if delivery:
        line += (
            f" Delivery: {delivery['delivered']} delivered, {delivery['impossible']} impossible,"
            f" {delivery['pending']} pending."
        )
    return line


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
