"""A send put together from what the user asked for (`SendRequest`): one text to a list of
numbers, or personal texts from a template and a CSV (`--template`), checked in full and planned
(`plan_request`), or shown as a dry run (`preview_request`). Nothing here prints or logs in.

With quiet hours, the plan's batches are cut by time zone (`plan.by_zone`), so that a batch held
back is held whole and a keyed re-run finds the same batches.

`attsms.send.personal` (the template language and the CSV reader) is imported by the template
path alone: a plain send, piped from a script, does not load it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING

from attsms.core.numbers import display
from attsms.send import plan as planning
from attsms.send import quiet_hours
from attsms.send.input import SendRequest, read_input
from attsms.send.plan import AddressList, DryRun, SendPlan, by_zone, dry_run
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


def preview_request(
    request: SendRequest,
    *,
    region: str,
    window: QuietHours | None,
    stdin: IO[str],
    stores: StoreSettings,
    sender: SenderIdentity,
    ignore_opt_out: bool,
) -> Preview:
    """The dry run of `request`: checked as `plan_request` checks it, with the recipients of
    `sender` that opted out (unless `ignore_opt_out`) and, with quiet hours, who they would
    hold back now."""

    def skipped(addresses: Sequence[str]) -> set[str]:
        return set() if ignore_opt_out else opted_out(stores, sender, addresses)

    shown: DryRun | TemplateDryRun
    if request.template:  # the plan is read only for quiet hours: a dry run needs it for no more
        from attsms.send.personal import read_template_send

        facts, plan = read_template_send(
            request, region=region, stdin=stdin, planned=window is not None
        )
        names = tuple(display(a) for a in sorted(skipped(AddressList(facts.codes))))
        shown = TemplateDryRun(facts, names)
    else:
        plan = _one_text_plan(request, region, stdin)
        shown = dry_run(plan, skipped(plan.addresses))
    held = None
    if window is not None:
        assert plan is not None  # read for quiet hours
        held = quiet_hours.summarize(plan.addresses, window, quiet_hours.utc_now())
    return Preview(shown, window, held)


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
