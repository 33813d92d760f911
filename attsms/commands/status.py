"""`attsms status`: what happened to a message."""

from __future__ import annotations

from typing import Annotated

import typer

from attsms.commands.options import Json, examples

EPILOG = examples(
    "attsms status msg-1a2b3c4d",
    "attsms status msg-1a2b3c4d --json | jq -r '.[].deliveries[].status'",
)


def _status_style(value: object) -> str | None:
    if value == "DeliveryImpossible":
        return "red"
    if value in ("DeliveredToTerminal", "DeliveredToNetwork"):
        return "green"
    return "yellow"


def status(
    ctx: typer.Context,
    message_ids: Annotated[
        list[str], typer.Argument(metavar="MESSAGE_ID...", help="IDs printed by `attsms send`.")
    ],
    json: Json = False,
) -> None:
    """Show the delivery status of sent messages, per recipient."""
    from attsms.app import state
    from attsms.numbers import display
    from attsms.output import Column

    app_state = state(ctx)
    out = app_state.output(json=json)
    session = app_state.session(out)
    try:
        statuses = [session.client.delivery_status(message_id) for message_id in message_ids]
    finally:
        session.close()
    rows = [
        {"message_id": s.message_id, "to": display(d.address), "status": d.status}
        for s in statuses
        for d in s.deliveries
    ]
    out.records(
        rows,
        [
            Column("message_id", "MESSAGE ID"),
            Column("to", "TO"),
            Column("status", "STATUS", style_for=_status_style),
        ],
        document=statuses,
    )
