"""`attsms optout`: the numbers `send` skips, kept from STOP replies or by hand."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from attsms.cli.commands.context import state
from attsms.cli.commands.options import Quiet, examples, formats
from attsms.cli.output import Column, Format

if TYPE_CHECKING:
    from attsms.core.models import SenderIdentity
    from attsms.store.consent import Consent

app = typer.Typer(
    help="Numbers that opted out (texted STOP): `send` skips them (reported as opted-out) and"
    " sends to the rest, unless --ignore-opt-out. The list belongs to the account (client id"
    " and base URL) and short code the person texted: every profile and host that sends as"
    " them sees the same one.",
    epilog=examples(
        "attsms optout list",
        "attsms optout add '(212) 555-0100'",
    ),
    no_args_is_help=True,
)

LIST_EPILOG = examples(
    "attsms optout list",
    "attsms optout list --json | jq -r '.[].number'",
)
ADD_EPILOG = examples(
    "attsms optout add '(212) 555-0100'",
    "attsms optout add +12125550100 212.555.0101 --json",
)
REMOVE_EPILOG = examples(
    "attsms optout remove '(212) 555-0100'   # only with the person's consent",
    "attsms optout remove +12125550100 +12125550101 --json",
)

Numbers = Annotated[
    list[str], typer.Argument(metavar="NUMBER...", help="Numbers as you type them.")
]


def _row(opt_out: Consent) -> dict[str, Any]:
    from attsms.core.numbers import display

    return {
        "number": display(opt_out.address),
        "since": opt_out.since,
        "source": opt_out.source,  # "message" (a STOP reply) or "manual"
        "message_id": opt_out.message_id,
        "account": opt_out.account,
        "short_code": opt_out.short_code or None,  # None: every short code of the account
    }


def _whose(sender: SenderIdentity) -> str:
    """The sender identity a list belongs to, as `optout` names it."""
    if sender.account == sender.profile_account:
        return f"profile {sender.profile} (no client id yet)"
    code = f"short code {sender.short_code}" if sender.short_code else "every short code"
    return f"{sender.account}, {code}"


LIST_COLUMNS = (
    Column("number", "NUMBER"),
    Column("since", "SINCE"),
    Column("source", "SOURCE"),
    Column("short_code", "SHORT CODE"),
    Column("message_id", "MESSAGE ID"),
)
# What add and remove did to each number.
RESULT_COLUMNS = (Column("number", "NUMBER"), Column("result", "RESULT"))


@app.command("list", epilog=LIST_EPILOG)
@formats(Format.JSON, Format.JSONL)
def list_opt_outs(ctx: typer.Context) -> None:
    """List the numbers that opted out of the account and short code this profile sends as
    (whichever profile or host recorded it), oldest first."""
    from attsms.store import opt_outs

    app_state = state(ctx)
    out = app_state.output()
    settings = app_state.settings
    settings.profile.check_exists()
    sender = settings.sender
    rows = [_row(o) for o in opt_outs(settings.store, sender)]
    out.info(
        f"Opt-outs of {_whose(sender)}:"
        if rows
        else f"No number has opted out of {_whose(sender)}."
    )
    out.records(rows, LIST_COLUMNS)


@app.command(epilog=ADD_EPILOG)
@formats(Format.JSON)
def add(ctx: typer.Context, numbers: Numbers, quiet: Quiet = False) -> None:
    """Opt numbers out by hand: `send` skips them from now on (reported as opted-out)."""
    from attsms.core.numbers import display, normalize_all
    from attsms.store import open_consent

    app_state = state(ctx)
    out = app_state.output(quiet=quiet)
    settings = app_state.settings
    settings.profile.check_exists()
    addresses = normalize_all(numbers, settings.profile.region)  # all valid, or nothing changes
    with open_consent(settings.store, settings.sender) as store:
        added = [store.opt_out_by_hand(settings.sender, address) for address in addresses]
    rows = [
        {"number": display(a), "result": "opted out" if new else "already opted out"}
        for a, new in zip(addresses, added, strict=True)
    ]
    out.records(rows, RESULT_COLUMNS)
    out.info(f"Opted out {sum(added)} of {len(addresses)} number(s).")


@app.command(epilog=REMOVE_EPILOG)
@formats(Format.JSON)
def remove(ctx: typer.Context, numbers: Numbers, quiet: Quiet = False) -> None:
    """Remove numbers from the opt-out list: `send` reaches them again.

    A number that opted out by texting STOP should be removed only with its owner's consent
    (they may also text START themselves).
    """
    from attsms.core.numbers import display, normalize_all
    from attsms.store import open_consent, opted_out

    app_state = state(ctx)
    out = app_state.output(quiet=quiet)
    settings = app_state.settings
    settings.profile.check_exists()
    addresses = normalize_all(numbers, settings.profile.region)
    removed: list[list[Consent]] = [[] for _ in addresses]
    if opted_out(settings.store, settings.sender, addresses):  # else: nothing to open or create
        with open_consent(settings.store, settings.sender) as store:
            removed = [store.opt_in_by_hand(settings.sender, address) for address in addresses]
    rows = [
        {"number": display(a), "result": "removed" if r else "was not opted out"}
        for a, r in zip(addresses, removed, strict=True)
    ]
    out.records(rows, RESULT_COLUMNS)
    for address, cleared in zip(addresses, removed, strict=True):
        for opt_out in cleared:
            if opt_out.source == "message":
                out.warn(
                    f"{display(address)} had texted STOP ({opt_out.since}); texting them again"
                    " needs their consent"
                )
    out.info(f"Removed {sum(bool(r) for r in removed)} of {len(addresses)} number(s).")
