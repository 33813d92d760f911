"""`attsms send`: text one number or many."""

from __future__ import annotations

from typing import Annotated

import typer

from attsms.commands.options import Json, Quiet, examples

EPILOG = examples(
    "attsms send +12125550100 -m 'Your table is ready'",
    "attsms send '(212) 555-0100' 212.555.0101 -m 'Gate changed to B12' --json",
    "attsms --sandbox send +12125550100 -m 'Try it on the sandbox'",
)


def send(
    ctx: typer.Context,
    to: Annotated[
        list[str] | None, typer.Argument(metavar="TO...", help="Numbers as you would type them.")
    ] = None,
    message: Annotated[
        str | None, typer.Option("--message", "-m", metavar="TEXT", help="The text to send.")
    ] = None,
    json: Json = False,
    quiet: Quiet = False,
) -> None:
    """Send an SMS to one or more numbers."""
    from attsms.app import state
    from attsms.errors import UsageError
    from attsms.output import Column
    from attsms.sending import plan_send, send_plan

    app_state = state(ctx)
    out = app_state.output(json=json, quiet=quiet)
    if message is None:
        raise UsageError("no message", hint="give the text with -m")
    plan = plan_send(to or [], message)
    session = app_state.session(out)
    try:
        results = send_plan(session, plan)
    finally:
        session.close()
    rows = [
        {"message_id": r.message_id, "to": _display(address), "result": "accepted"}
        for r in results
        for address in r.addresses
    ]
    out.records(
        rows,
        [Column("message_id", "MESSAGE ID"), Column("to", "TO"), Column("result", "RESULT")],
        document={"messages": results},
    )
    out.info(f"Sent to {len(plan.addresses)} recipient(s).")


def _display(address: str) -> str:
    from attsms.numbers import display

    return display(address)
