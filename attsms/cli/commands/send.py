"""`attsms send`: text one number or ten thousand."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from attsms.cli.commands.options import Quiet, Wait, WaitTimeout, examples, formats
from attsms.cli.commands.options import lock_timeout as lock_timeout_option
from attsms.cli.output import Format
from attsms.core.errors import StdoutClosed

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

    from attsms.cli.output import Output
    from attsms.send.plan import DryRun, SendPlan
    from attsms.send.quiet_hours import QuietHours
    from attsms.send.results import BatchOutcome, SendReport
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


def _result_style(value: object) -> str | None:
    styles = {
        "accepted": "green",
        "already-sent": "cyan",
        "unknown": "yellow",
        "deferred": "yellow",
        "failed": "red",
    }
    return styles.get(str(value), "dim" if value == "opted-out" else None)


def _status_style(value: object) -> str | None:
    if value == "DeliveryImpossible":
        return "red"
    if value in ("DeliveredToTerminal", "DeliveredToNetwork"):
        return "green"
    return "yellow" if value else None


@formats(Format.JSON)
def send(
    ctx: typer.Context,
    to: Annotated[
        list[str] | None,
        typer.Argument(metavar="TO...", help="Numbers as you would type them; short:NNNNN."),
    ] = None,
    message: Annotated[
        str | None, typer.Option("--message", "-m", metavar="TEXT", help="The text to send.")
    ] = None,
    message_file: Annotated[
        str | None,
        typer.Option(metavar="FILE", help="Read the text from FILE (UTF-8; - for stdin)."),
    ] = None,
    to_file: Annotated[
        str | None,
        typer.Option(
            metavar="FILE",
            help="Recipients, one a line (# comments) or CSV with a phone column; - for stdin.",
        ),
    ] = None,
    notify: Annotated[
        bool, typer.Option("--notify", help="Ask the service for delivery notifications.")
    ] = False,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run", help="Show recipients, encoding and segments; send nothing (no login)."
        ),
    ] = False,
    wait: Wait = False,
    timeout: WaitTimeout = None,
    dedupe_key: Annotated[
        str | None,
        typer.Option(
            metavar="KEY",
            help="Name this job: a re-run with the same KEY sends only what did not go.",
        ),
    ] = None,
    resend_unknown: Annotated[
        bool,
        typer.Option(
            "--resend-unknown",
            help="With --dedupe-key: resend batches whose outcome was unknown.",
        ),
    ] = False,
    concurrency: Annotated[
        int,
        typer.Option(min=1, max=MAX_CONCURRENCY, metavar="N", help="Requests in flight at once."),
    ] = DEFAULT_CONCURRENCY,
    rate: Annotated[
        str | None,
        typer.Option(metavar="N/s", help="Start at most N requests a second (or N/m a minute)."),
    ] = None,
    ignore_opt_out: Annotated[
        bool,
        typer.Option("--ignore-opt-out", help="Send even to numbers that opted out (texted STOP)."),
    ] = False,
    lock_timeout: Annotated[
        float,
        lock_timeout_option(
            "With --dedupe-key: wait this long for another live run of the job, then exit 75."
        ),
    ] = 0.0,
    template: Annotated[
        bool,
        typer.Option(
            "--template",
            help="Personal texts: the message is a template, {column} filled from each CSV row"
            " of --to-file ({{ and }} write braces).",
        ),
    ] = False,
    default: Annotated[
        list[str] | None,
        typer.Option(
            "--default",
            metavar="NAME=VALUE",
            help="With --template: the value for {NAME} where its cell is empty (repeatable).",
        ),
    ] = None,
    quiet_hours: Annotated[
        str | None,
        typer.Option(
            metavar="HH:MM-HH:MM",
            help="Hold back recipients whose local time (from the area code) is inside this"
            " window; off ignores the profile setting quiet_hours.",
        ),
    ] = None,
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
    from attsms.cli.commands.context import state
    from attsms.core.errors import AttsmsError, UsageError
    from attsms.send import input as given_input
    from attsms.send import plan as planning
    from attsms.send import runner as sending
    from attsms.store import opted_out as opted_out_of
    from attsms.track.wait import DEFAULT_TIMEOUT, wait_for_delivery

    app_state = state(ctx)
    out = app_state.output(quiet=quiet)
    if timeout is not None and not wait:
        raise UsageError("--timeout goes with --wait")
    if resend_unknown and dedupe_key is None:
        raise UsageError("--resend-unknown goes with --dedupe-key")
    if lock_timeout and dedupe_key is None:
        raise UsageError("--lock-timeout goes with --dedupe-key")
    if default and not template:
        raise UsageError("--default goes with --template")
    settings = app_state.settings
    window = _quiet_window(quiet_hours, settings.quiet_hours)
    region = settings.profile.region

    def opted_out(addresses: Sequence[str]) -> set[str]:
        if ignore_opt_out:
            return set()
        return opted_out_of(settings.store, settings.profile.name, addresses)

    if template:
        personal = _personal_plan(
            out, to, to_file, message, message_file, default or [], region, dry_run, window,
            opted_out,
        )  # fmt: skip
        if personal is None:  # the dry run was printed
            return
        plan = personal
    else:
        given = given_input.read_input(
            to or [], to_file=to_file, message=message, message_file=message_file, stdin=sys.stdin
        )
        plan = planning.plan_send(given.numbers, given.message, region=region)
        if dry_run:
            _print_dry_run(out, planning.dry_run(plan, opted_out(plan.addresses)))
            if window is not None:
                out.info(_quiet_line(plan.addresses, window))
            return
    if window is not None:
        plan = planning.by_zone(plan)
    options = sending.SendOptions(
        notify=notify,
        dedupe_key=dedupe_key,
        resend_unknown=resend_unknown,
        concurrency=concurrency,
        rate=sending.parse_rate(rate) if rate is not None else None,
        ignore_opt_out=ignore_opt_out,
        lock_timeout=lock_timeout,
        quiet_hours=window,
    )
    session = app_state.session(out)
    waited: WaitResult | None = None
    wait_failed: AttsmsError | None = None
    # Ctrl-C (or SIGTERM, SIGHUP) while waiting: what was sent is printed, then exit 130 (143, 129).
    interrupted: KeyboardInterrupt | None = None
    # Piped or --json, the rows go out as batches end (a million are never held); the table on
    # a terminal, and rows with --wait's delivery statuses, are printed at the end.
    stream = None if wait or out.format is Format.TABLE else _RowStream(out)
    try:
        with out.progress(len(plan.addresses), "Sending") as bar:

            def on_batch(outcome: BatchOutcome) -> None:
                bar.advance(len(outcome.addresses))
                if stream is not None:
                    stream.add(outcome)

            report = sending.send_plan(
                session,
                plan,
                options,
                stores=settings.store,
                on_batch=on_batch,
                keep_rows=stream is None,
            )
        if wait and report.message_ids and not report.nothing_went and not report.interrupted:
            try:
                waited = wait_for_delivery(
                    session,
                    report.message_ids,
                    stores=settings.store,
                    timeout=DEFAULT_TIMEOUT if timeout is None else timeout,
                    on_change=_change_printer(out),
                )
            except AttsmsError as failure:  # what was sent is still worth printing
                wait_failed = failure
            except KeyboardInterrupt as signal:
                interrupted = signal
    finally:
        session.close()
    for warning in report.warnings:
        out.warn(warning)
    error = report.error()
    printed = stream is not None and stream.started
    if report.nothing_went and error is not None and report.interrupted is None and not printed:
        raise error  # nothing went: the error says it all, no rows of "failed"
    if stream is not None:
        summary = report.summary()
        stream.close(summary)
        out.info(_summary_line(summary))
    else:
        _print_report(out, report, waited)
    if report.interrupted is not None:
        raise report.interrupted
    if interrupted is not None:
        raise interrupted
    error = error or wait_failed or (waited.error() if waited is not None else None)
    if error is not None:
        raise error


def _quiet_window(flag: str | None, saved: str | None) -> QuietHours | None:
    """--quiet-hours, else the profile's setting quiet_hours (`saved`); `--quiet-hours off`:
    none."""
    from attsms.send.quiet_hours import parse_quiet_hours

    if flag is not None:
        return None if flag.strip().lower() == "off" else parse_quiet_hours(flag)
    if saved is None:
        return None
    return parse_quiet_hours(saved, source="profile setting quiet_hours")


def _quiet_line(addresses: Iterable[str], window: QuietHours) -> str:
    from attsms.send.quiet_hours import summarize, utc_now

    held = summarize(addresses, window, utc_now())
    if not held.count or held.earliest is None or held.latest is None:
        return f"Quiet hours {window}: nobody would be held back now."
    return (
        f"Quiet hours {window}: {held.count} recipient(s) would be held back now, until"
        f" {held.earliest:%Y-%m-%d %H:%M} UTC (all by {held.latest:%Y-%m-%d %H:%M} UTC)."
    )


def _personal_plan(
    out: Output,
    to: list[str] | None,
    to_file: str | None,
    message: str | None,
    message_file: str | None,
    defaults: list[str],
    region: str,
    dry_run: bool,
    window: QuietHours | None,
    opted_out: Callable[[Sequence[str]], set[str]],
) -> SendPlan | None:
    """The plan of a --template send, every row checked first; None after printing a dry run
    (which names the recipients `opted_out` finds: the send would skip them)."""
    from attsms.core.errors import UsageError
    from attsms.send import personal as templates
    from attsms.send import plan as planning
    from attsms.send.csv_source import CsvSource
    from attsms.send.input import STDIN, read_message
    from attsms.send.template import parse_defaults, parse_template

    if to_file is None:
        raise UsageError("--template needs --to-file: a CSV with a header row")
    if to:
        raise UsageError("--template takes its recipients from --to-file only, not arguments")
    if message is not None and message_file is not None:
        raise UsageError("give the template once: -m TEXT or --message-file FILE, not both")
    if message is None:
        if message_file is None:
            raise UsageError("--template needs the template", hint="give -m TEXT or --message-file")
        if message_file == to_file == STDIN:
            raise UsageError("stdin cannot carry both the CSV and the template")
        message = read_message(message_file, sys.stdin)
    parsed = parse_template(message)
    values = parse_defaults(defaults)
    stdin = None
    if to_file == STDIN:
        import io

        # A StringIO (tests, embedding) has no bytes under it.
        stdin = getattr(sys.stdin, "buffer", None) or io.BytesIO(sys.stdin.read().encode())
    with CsvSource(to_file, stdin=stdin) as source:
        facts = templates.scan(parsed, values, source, region=region)
        plan = None
        if not dry_run or window is not None:  # a dry run needs the plan only for quiet hours
            batches = (
                (batch.text, batch.addresses)
                for batch in templates.batches(parsed, values, source, facts, region=region)
            )
            plan = planning.personal_plan(batches, facts.digest)
    if not dry_run:
        assert plan is not None
        return plan
    from attsms.core.numbers import display

    skipped = opted_out(planning.AddressList(facts.codes))
    shown = tuple(display(a) for a in sorted(skipped))
    if out.format is Format.JSON:
        document: dict[str, Any] = {"dry_run": True, **facts.summary(), "opted_out": shown}
        if window is not None:
            from attsms.send.quiet_hours import summarize, utc_now

            assert plan is not None
            document["quiet_hours"] = summarize(plan.addresses, window, utc_now())
        out.json(document)
    else:
        for line in facts.lines():
            out.text(line)
        if shown:
            out.text(f"opted out (texted STOP), would be skipped: {_first_few(shown)}")
        if window is not None:
            assert plan is not None
            out.info(_quiet_line(plan.addresses, window))
    out.info("Dry run: nothing was sent.")
    return None


def _print_dry_run(out: Output, plan: DryRun) -> None:
    from attsms.cli.output import Column
    from attsms.send.plan import describe_characters

    rows: list[dict[str, Any]] = [
        {"item": "recipients", "value": len(plan.recipients)},
        {"item": "requests", "value": plan.requests},
        *(
            [{"item": "opted out (skipped)", "value": _first_few(plan.opted_out)}]
            if plan.opted_out
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
        _print_dry_run_json(out, plan)
    else:
        out.records(rows, [Column("item", "DRY RUN", style="bold"), Column("value", "")])
    out.info("Dry run: nothing was sent.")


def _print_dry_run_json(out: Output, plan: DryRun) -> None:
    """The `--json` document of a dry run, as `out.json` would write it, with the recipients
    written a slice at a time: a million are never one list of strings."""
    import dataclasses

    fields = _fields(dataclasses.replace(plan, recipients=[]))
    out.raw('{\n  "dry_run": true,\n  "recipients": [')
    recipients = plan.recipients
    step = 10_000
    for start in range(0, len(recipients), step):
        part = out.json_part(list(recipients[start : start + step]), 1)  # [\n    "…"\n  ]
        out.raw(("," if start else "") + part[1:-4])
    out.raw("\n  ]" if recipients else "]")
    del fields["recipients"]
    rest = (f",\n  {out.json_part(k, 0)}: {out.json_part(v, 1)}" for k, v in fields.items())
    out.raw("".join(rest))
    out.raw("\n}\n")


def _first_few(numbers: tuple[str, ...]) -> str:
    from attsms.core.text import first_few

    return f"{len(numbers)}: {first_few(numbers)}"


def _fields(value: Any) -> dict[str, Any]:
    from attsms.cli.output import to_jsonable

    data: dict[str, Any] = to_jsonable(value)
    return data


def _print_report(out: Output, report: SendReport, waited: WaitResult | None) -> None:
    from attsms.cli.output import Column

    statuses: dict[tuple[str | None, str], str] = {}
    if waited is not None:
        statuses = {
            (s.message_id, d.address): d.status for s in waited.statuses for d in s.deliveries
        }
    rows = []
    for r in report.recipients():  # plain dicts: to_jsonable on 10,000 dataclasses is slow
        row: dict[str, Any] = {
            "message_id": r.message_id,
            "to": r.to,
            "address": r.address,
            "result": r.result,
            "error": r.error,
            "batch": r.batch,
        }
        if waited is not None:
            row["status"] = statuses.get((r.message_id, r.address))
        rows.append(row)
    columns = [
        Column("message_id", "MESSAGE ID"),
        Column("to", "TO"),
        Column("result", "RESULT", style_for=_result_style),
    ]
    if waited is not None:
        columns.append(Column("status", "STATUS", style_for=_status_style))
    if any(row["error"] for row in rows):
        columns.append(Column("error", "ERROR"))
    summary = report.summary()
    if waited is not None:
        summary["delivery"] = {
            "delivered": len(waited.deliveries) - len(waited.impossible) - len(waited.not_final),
            "impossible": len(waited.impossible),
            "pending": len(waited.not_final),
            "timed_out": waited.timed_out,
            "waited_seconds": round(waited.waited, 3),
        }
    out.records(rows, columns, document={"messages": rows, "summary": summary})
    out.info(_summary_line(summary))


_COLUMNS = ("message_id", "to", "result")
_MARK = "\ue000"  # private use: passed as is by `_cell`, and never in a phone number


class _RowStream:
    """A send's rows written as its batches end, in batch order: TSV lines, JSON lines, or the
    `--json` document written piece by piece so that it is one valid document at the end.

    Rows of failed (or all opted-out) batches are held back until something goes, as long as
    they are few: a run where nothing went ends with its error alone, as before streaming.
    """

    _HOLD = 20  # batches

    def __init__(self, out: Output) -> None:
        from attsms.cli.output import Column

        self._out = out
        self._columns = [Column(key, key) for key in _COLUMNS]
        self._with_error = [*self._columns, Column("error", "error")]
        self._next = 0
        self._waiting: dict[int, BatchOutcome] = {}  # ended before an earlier batch did
        self._held: list[BatchOutcome] = []
        self._rows = 0
        self._closed: StdoutClosed | None = None
        self.started = False

    def add(self, outcome: BatchOutcome) -> None:
        self._waiting[outcome.number] = outcome
        while self._next in self._waiting:
            outcome = self._waiting.pop(self._next)
            self._next += 1
            if self._closed is None:
                try:
                    self._emit(outcome)
                except StdoutClosed as closed:  # the reader left: the send goes on, recorded
                    self._closed = closed

    def _emit(self, outcome: BatchOutcome) -> None:
        from attsms.send.results import FAILED, OPTED_OUT

        if not self.started:
            if outcome.result in (FAILED, OPTED_OUT) and len(self._held) < self._HOLD:
                self._held.append(outcome)
                return
            self.started = True
            if self._out.format is Format.JSON:
                self._out.raw('{\n  "messages": [')
            held, self._held = self._held, []
            for earlier in held:
                self._write(earlier)
        self._write(outcome)

    def _write(self, outcome: BatchOutcome) -> None:
        out = self._out
        if out.format is Format.PLAIN:
            text = self._plain(outcome)
            if text:
                out.raw(text)  # one write a batch: a flush a row would be a million syscalls
                self._rows += len(outcome.addresses) + len(outcome.skipped)
            return
        rows = [_row(r) for r in outcome.rows()]
        if not rows:
            return
        if out.format is Format.JSONL:
            out.raw("".join(out.json_line_text(row) for row in rows))
        else:  # what json.dumps(document, indent=2) would write, a batch at a time
            parts = [
                ("\n    " if self._rows == 0 and i == 0 else ",\n    ") + out.json_part(row, 2)
                for i, row in enumerate(rows)
            ]
            out.raw("".join(parts))
        self._rows += len(rows)

    def _plain(self, outcome: BatchOutcome) -> str:
        """The batch's TSV lines. All but TO are the same for a batch's recipients (or for its
        skipped ones): each line is cut once, with TO (digits of a checked number) put in."""
        from attsms.core.numbers import display
        from attsms.send.results import OPTED_OUT

        out = self._out
        error = outcome.error.message if outcome.error is not None else None
        text = []
        for addresses, message_id, result, why in (
            (outcome.addresses, outcome.message_id, outcome.result, error),
            (outcome.skipped, None, OPTED_OUT, None),
        ):
            if not addresses:
                continue
            columns = self._with_error if why else self._columns
            row: dict[str, Any] = {"message_id": message_id, "result": result, "error": why}
            parts = out.plain_line({**row, "to": _MARK}, columns).split(_MARK)
            if len(parts) != 2:  # the mark came from the service too: no shortcut
                text += [out.plain_line({**row, "to": display(a)}, columns) for a in addresses]
                continue
            head, tail = parts
            text += [head + display(a) + tail for a in addresses]
        return "".join(text)

    def close(self, summary: dict[str, Any]) -> None:
        """The rows still held, then the end of the document (JSON: `], "summary": {...}}`)."""
        if self._closed is not None:
            raise self._closed
        if not self.started:
            self.started = True
            if self._out.format is Format.JSON:
                self._out.raw('{\n  "messages": [')
            for outcome in self._held:
                self._write(outcome)
        if self._out.format is Format.JSON:
            end = "\n  ]" if self._rows else "]"
            self._out.raw(f'{end},\n  "summary": {self._out.json_part(summary, 1)}\n}}\n')


def _row(r: Any) -> dict[str, Any]:
    return {
        "message_id": r.message_id,
        "to": r.to,
        "address": r.address,
        "result": r.result,
        "error": r.error,
        "batch": r.batch,
    }


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
