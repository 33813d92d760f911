"""Sends as people name them: a send id (the start of a run's id, as `send` printed it), a
message ID of one of its requests, or a dedupe key; and what a send's recipients came to, in the
words `report` and the exit codes use (delivered, pending, not checked yet, impossible, failed,
unknown). The counts come from the store (`store/sends.py`, counted in SQL)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from attsms.core.errors import AttsmsError, ExitCode, UsageError
from attsms.core.models import FINAL_STATUSES
from attsms.store import read_history
from attsms.store.history import Outcome
from attsms.store.sends import SendCounts, SendRef, SendSummary, looks_like_send_id

if TYPE_CHECKING:
    from attsms.store import StoreSettings
    from attsms.store.history import HistoryStore

DELIVERED = "delivered"
PENDING = "pending"
NOT_CHECKED = "not checked yet"
IMPOSSIBLE = "impossible"
FAILED = "failed"
UNKNOWN = "unknown"
OPTED_OUT = "opted out"  # left out: texted STOP (the history notes them as `skips`)
DEFERRED = "deferred"  # left out: held by quiet hours, a keyed re-run sends them
# The order a summary lists them in: the good news first, then what needs a look.
STATES = (DELIVERED, PENDING, NOT_CHECKED, IMPOSSIBLE, FAILED, UNKNOWN, OPTED_OUT, DEFERRED)
# The order `--sort status` lists recipients in: what needs a look first.
BY_ATTENTION = (FAILED, UNKNOWN, IMPOSSIBLE, PENDING, NOT_CHECKED, DELIVERED, OPTED_OUT, DEFERRED)
_LEFT_OUT = {"opted-out": OPTED_OUT, "deferred": DEFERRED}
# What to do about recipients not checked yet.
NOT_CHECKED_HINT = "not checked yet — `attsms status`"
_DELIVERED = frozenset({"DeliveredToTerminal", "DeliveredToNetwork"})


class SendNotFoundError(AttsmsError):
    exit_code = ExitCode.ERROR


def state_of(outcome: str, status: str | None) -> str:
    """A recipient's state in a send summary, from its batch's outcome and its last status."""
    if outcome in _LEFT_OUT:
        return _LEFT_OUT[outcome]
    if outcome == Outcome.FAILED:
        return FAILED
    if outcome != Outcome.ACCEPTED:
        return UNKNOWN
    if status is None:
        return NOT_CHECKED
    if status in _DELIVERED:
        return DELIVERED
    if status == "DeliveryImpossible":
        return IMPOSSIBLE
    return PENDING if status not in FINAL_STATUSES else DELIVERED


def tally(counts: SendCounts) -> dict[str, int]:
    """Recipients by state, in `STATES` order (states with none left out)."""
    found: dict[str, int] = {}
    for (outcome, status), count in counts.by_state.items():
        word = state_of(outcome, status)
        found[word] = found.get(word, 0) + count
    return {word: found[word] for word in STATES if found.get(word)}


def summary_text(counts: SendCounts, separator: str = " · ") -> str:
    """`2,950 delivered · 30 failed · 20 pending`."""
    states = tally(counts)
    return separator.join(f"{n:,} {word}" for word, n in states.items()) or "no recipients"


@dataclass(frozen=True)
class SendView:
    """A send found in the history, with its counts."""

    ref: SendRef
    counts: SendCounts
    sent_at: datetime | None
    message: str


def resolve(store: HistoryStore, profile: str, text: str) -> SendRef:
    """The send `text` names: a send id (or a longer prefix of its run id), or a message ID of
    one of its requests. An ambiguous prefix is refused (exit 2), as git refuses one."""
    text = text.strip()
    if not text:
        raise UsageError("a send id is empty", hint="give the id `attsms send` printed")
    if looks_like_send_id(text):
        refs = store.find_sends(profile, text)
        if len(refs) > 1:
            ids = ", ".join(r.run_id[: max(len(text) + 2, 8)] for r in refs[:5])
            raise UsageError(
                f"send id {text!r} is ambiguous: {ids}", hint="give more of its characters"
            )
        if refs:
            return refs[0]
    ref = store.send_of_message(profile, text)
    if ref is None:
        raise SendNotFoundError(
            f"no send {text!r} in the history of profile {profile!r}",
            hint="`attsms history` lists the sends and their ids",
        )
    return ref


def find_send(
    stores: StoreSettings, profile: str, text: str | None = None, key: str | None = None
) -> SendView | None:
    """The send named by `text` or `key` (neither: the newest), read-only; None when the history
    has no sends at all (and nothing was named)."""
    store = read_history(stores)
    if store is None:
        if text is None and key is None:
            return None
        raise SendNotFoundError(f"no send {text or key!r}: nothing was sent yet")
    with store:
        return view_of(store, profile, text, key)


def view_of(
    store: HistoryStore, profile: str, text: str | None, key: str | None
) -> SendView | None:
    if key is not None:
        ref = store.send_of_key(profile, key)
        if ref is None:
            raise SendNotFoundError(
                f"no send with dedupe key {key!r} in the history of profile {profile!r}"
            )
    elif text is not None:
        ref = resolve(store, profile, text)
    else:
        ref = store.newest_send(profile)
        if ref is None:
            return None
    first = next(iter(store.send_pages(profile, ref, page=1)), [])
    return SendView(
        ref,
        store.send_counts(profile, ref),
        first[0].created_at if first else None,
        first[0].message if first else "",
    )


def recent_sends(
    stores: StoreSettings, profile: str, *, limit: int | None, since: datetime | None
) -> tuple[list[SendSummary], bool]:
    """The profile's sends, newest first, each counted in the store; and whether there are
    more. Creates no history file when there is none."""
    store = read_history(stores)
    if store is None:
        return [], False
    with store:
        return store.recent_sends(profile, limit, since)


@dataclass(frozen=True)
class SendRecipient:
    """One recipient of a send, as `history <id>` and `status <id>` list it."""

    address: str
    state: str  # one of STATES
    status: str | None  # the last delivery status the history holds
    message_id: str | None  # of its request; None for one left out or never accepted
    sent_at: datetime | None  # when its request went out, or when it was left out
    note: str | None  # why its request failed, or why it may have gone


def recipient_pages(
    stores: StoreSettings, profile: str, view: SendView, *, by_status: bool = False
) -> Iterator[list[SendRecipient]]:
    """Every recipient of the send, a page at a time (flat memory at a million): newest request
    first, then those it left out; `by_status`, in `BY_ATTENTION` order of states (the send
    read once a state it has), newest first within one."""
    store = read_history(stores)
    if store is None:
        return
    with store:
        if not by_status:
            yield from _sent_pages(store, profile, view.ref, None)
            yield from _skip_pages(store, profile, view.ref, None)
            return
        present = tally(view.counts)
        for state in (s for s in BY_ATTENTION if s in present):
            yield from _pages_in(store, profile, view.ref, state)


def recipient_page(
    stores: StoreSettings,
    profile: str,
    view: SendView,
    *,
    by_status: bool,
    offset: int,
    limit: int,
) -> list[SendRecipient]:
    """The `limit` recipients after the first `offset` in `recipient_pages`' order; states
    wholly before the page are skipped by their counts, not read."""
    store = read_history(stores)
    if store is None:
        return []
    with store:
        if by_status:
            present = tally(view.counts)
            pages: Iterator[list[SendRecipient]] = iter(())
            started = False  # once a state is read, the offset is counted within the reading
            for state in (s for s in BY_ATTENTION if s in present):
                if not started and offset >= present[state]:
                    offset -= present[state]
                    continue
                started = True
                pages = itertools.chain(pages, _pages_in(store, profile, view.ref, state))
        else:
            pages = itertools.chain(
                _sent_pages(store, profile, view.ref, None),
                _skip_pages(store, profile, view.ref, None),
            )
        found = itertools.chain.from_iterable(pages)
        return list(itertools.islice(found, offset, offset + limit))


def _pages_in(
    store: HistoryStore, profile: str, ref: SendRef, state: str
) -> Iterator[list[SendRecipient]]:
    if state in (OPTED_OUT, DEFERRED):
        return _skip_pages(store, profile, ref, state)
    return _sent_pages(store, profile, ref, state)


def _sent_pages(
    store: HistoryStore, profile: str, ref: SendRef, state: str | None
) -> Iterator[list[SendRecipient]]:
    """The recipients of the send's requests (those in `state`), newest request first."""
    for batches in store.send_pages(profile, ref):
        page = []
        for batch in batches:
            for r in batch.recipients:
                found = state_of(batch.outcome, r.status)
                if state is None or found == state:
                    page.append(
                        SendRecipient(
                            r.address,
                            found,
                            r.status,
                            batch.message_id,
                            batch.created_at,
                            batch.error,
                        )
                    )
        if page:
            yield page


def _skip_pages(
    store: HistoryStore, profile: str, ref: SendRef, state: str | None
) -> Iterator[list[SendRecipient]]:
    """Who the send left out (those in `state`), by address."""
    for rows in store.send_skip_pages(profile, ref):
        found = ((address, _LEFT_OUT.get(reason, reason), at) for address, reason, at in rows)
        page = [
            SendRecipient(address, word, None, None, at, None)
            for address, word, at in found
            if state is None or word == state
        ]
        if page:
            yield page
