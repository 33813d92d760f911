"""A send put together from what the user asked for (`SendRequest`): one text to a list of
numbers, or personal texts from a template and a CSV (`--template`), checked in full and planned
(`plan_request`), or shown as a dry run (`preview_request`). Nothing here prints or logs in.

With quiet hours, the plan's batches are cut by time zone (`plan.by_zone`), so that a batch held
back is held whole and a keyed re-run finds the same batches.

`attsms.send.personal` (the template language and the CSV reader) is imported by the template
path alone: a plain send, piped from a script, does not load it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import IO, TYPE_CHECKING

from attsms.core.numbers import display
from attsms.send import plan as planning
from attsms.send import quiet_hours
from attsms.send.input import SendRequest, read_input
from attsms.send.plan import DryRun, SendPlan, by_zone, dry_run
from attsms.send.runner import JobPreview, preview_job
from attsms.store import opted_out

if TYPE_CHECKING:
    from attsms.core.models import SenderIdentity
    from attsms.send.personal import Facts
    from attsms.send.quiet_hours import Deferral, QuietHours
    from attsms.store import StoreSettings


@dataclass(frozen=True)
class TemplateDryRun:
    """The dry run of personal texts: what `scan` found, and who would be skipped."""

    facts: Facts
    opted_out: tuple[str, ...]  # as displayed, sorted: texted STOP, would be skipped


@dataclass(frozen=True)
class Preview:
    """A dry run: what the send would cost and who it would skip; nothing is sent."""

    dry_run: DryRun | TemplateDryRun
    window: QuietHours | None
    held: Deferral | None  # with quiet hours: who they would hold back now, and until when
    job: JobPreview | None = None  # with --dedupe-key: already sent, and still to send


def plan_request(
    request: SendRequest, *, region: str, window: QuietHours | None, stdin: IO[str]
) -> SendPlan:
    """The plan of `request`, every recipient and text checked (`UsageError`, exit 2, before
    anything is sent). `region` reads numbers without a country code; `window`: quiet hours."""
    if request.template:
        from attsms.send.personal import read_template_send

        _, plan = read_template_send(request, region=region, stdin=stdin, planned=True)
        assert plan is not None  # planned
    else:
        plan = _one_text_plan(request, region, stdin)
    return plan if window is None else by_zone(plan)


@dataclass(frozen=True)
class JobRef:
    """The keyed job a dry run looks up: as the send would name it (`runner.job_account`)."""

    profile: str
    account: str
    key: str
    resend_unknown: bool = False
    account_aliases: tuple[str, ...] = ()


def preview_request(
    request: SendRequest,
    *,
    region: str,
    window: QuietHours | None,
    stdin: IO[str],
    stores: StoreSettings,
    sender: SenderIdentity,
    ignore_opt_out: bool,
    job: JobRef | None = None,
) -> Preview:
    """The dry run of `request`: checked as `plan_request` checks it (personal texts are planned
    as the send plans them, so a full TMPDIR fails here too), with the recipients `sender` must
    skip (they opted out; unless `ignore_opt_out`), with quiet hours who they would hold back
    now, and with `job` the checks of its dedupe key and what its earlier runs sent."""
    if request.template:
        from attsms.send.personal import read_template_send

        facts, plan = read_template_send(request, region=region, stdin=stdin, planned=True)
        assert plan is not None  # planned
    else:
        plan = _one_text_plan(request, region, stdin)
    skip = set() if ignore_opt_out else opted_out(stores, sender, plan.addresses)
    shown: DryRun | TemplateDryRun
    if request.template:
        shown = TemplateDryRun(facts, tuple(display(a) for a in sorted(skip)))
    else:
        shown = dry_run(plan, skip)
    held = None
    if window is not None:
        held = quiet_hours.summarize(plan.addresses, window, quiet_hours.utc_now())
    keyed = None
    if job is not None:  # the plan the send would key: cut by time zone with quiet hours
        keyed = preview_job(
            stores,
            plan if window is None else by_zone(plan),
            profile=job.profile,
            account=job.account,
            key=job.key,
            resend_unknown=job.resend_unknown,
            skip=skip,
            account_aliases=job.account_aliases,
        )
    return Preview(shown, window, held, keyed)


def _one_text_plan(request: SendRequest, region: str, stdin: IO[str]) -> SendPlan:
    given = read_input(
        request.to,
        to_file=request.to_file,
        message=request.message,
        message_file=request.message_file,
        stdin=stdin,
    )
    # Through the module: a test replaces plan_send there.
    return planning.plan_send(given.numbers, given.message, region=region)
