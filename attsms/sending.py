"""Sending: numbers and text checked, then one request per batch of at most 50 addresses."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from attsms.models import SendResult
from attsms.session import Session


@dataclass(frozen=True)
class SendPlan:
    addresses: tuple[str, ...]  # wire form, de-duplicated
    message: str


def plan_send(raw_numbers: Sequence[str], message: str, *, region: str = "US") -> SendPlan:
    """Validate everything before anything is sent; raises UsageError naming what is wrong."""
    from attsms.numbers import normalize_all
    from attsms.segments import check_message

    check_message(message)
    addresses = normalize_all(raw_numbers, region=region)
    if not addresses:
        from attsms.errors import UsageError

        raise UsageError("no recipients", hint="give at least one number")
    return SendPlan(addresses=tuple(addresses), message=message)


def send_plan(session: Session, plan: SendPlan, *, notify: bool = False) -> list[SendResult]:
    from attsms.api import MAX_ADDRESSES

    results = []
    for start in range(0, len(plan.addresses), MAX_ADDRESSES):
        batch = plan.addresses[start : start + MAX_ADDRESSES]
        results.append(session.client.send(batch, plan.message, notify=notify))
    return results
