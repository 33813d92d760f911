"""The store layer: everything attsms keeps between runs, behind one interface.

    commands/*  ->  sending, pulling, tracking  ->  attsms.store  ->  a backend
                                                   (open_history,    store/sqlite.py
                                                    open_inbox, …)

- `attsms.store.history.HistoryStore`: the send journal, history and statuses, and the claims
  of keyed jobs (one live run per dedupe key).
- `attsms.store.inbox.InboxStore`: one profile's pulled messages and the pull lock.
- `attsms.store.consent.ConsentStore`: who opted out of which sender identity (account and
  short code), shared by every profile: `opted_out`, `opt_outs`, `open_consent`.

Both run their SQL on a `Database` (`attsms.store.base`): the SQLite backend (`store/sqlite.py`)
opens every file the same way (0600, WAL, synchronous=FULL, busy timeout, rollback on a failed
COMMIT). Commands and use cases open stores only through the functions here, so they never know
which backend they run on; read commands open read-only and create nothing.

Importing this package costs nothing: sqlite3 is imported when a store is opened.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from attsms.core.models import SenderIdentity
    from attsms.store.base import Database
    from attsms.store.consent import Consent, ConsentStore
    from attsms.store.history import HistoryStore
    from attsms.store.inbox import InboxStore

ENV_DATABASE_URL = "ATTSMS_DATABASE_URL"


@dataclass(frozen=True)
class StoreSettings:
    """Where this run's stores are and what the history keeps: resolved once by the command
    line's composition root (`attsms.cli.settings`) and handed to every opener here."""

    database_url: str | None = None  # a shared PostgreSQL database; None: local SQLite files
    keep_days: float | None = None  # prune the history to this many days (None: no limit)
    keep_batches: int | None = None  # ... or to this many newest send requests

    @property
    def backend(self) -> str:
        return "sqlite" if self.database_url is None else "postgresql"


def open_history(settings: StoreSettings) -> HistoryStore:
    """The history for writing: created, or upgraded to this attsms's schema, if need be, and
    pruned to the configured retention (never the rows of a job a live run holds)."""
    from attsms.store.history import HistoryStore

    url = settings.database_url
    store = HistoryStore.open() if url is None else HistoryStore.on(_history_database(url))
    try:
        store.prune_to(keep_days=settings.keep_days, keep_batches=settings.keep_batches)
    except BaseException:
        store.close()
        raise
    return store


def read_history(settings: StoreSettings) -> HistoryStore | None:
    """The history for reading only (works on a read-only data directory); None when there is
    none yet. Creates and changes nothing."""
    from attsms.store.history import HistoryStore

    url = settings.database_url
    if url is None:
        return HistoryStore.open_existing(read_only=True)
    database = _existing(_history_database(url, read_only=True))
    return None if database is None else HistoryStore.on(database)


def open_inbox(settings: StoreSettings, profile: str) -> InboxStore:
    """`profile`'s inbox and opt-out list for writing, created if need be."""
    from attsms.store.inbox import InboxStore

    url = settings.database_url
    if url is None:
        return InboxStore.open(profile)
    store = InboxStore.on(_inbox_database(url, profile))
    try:
        store.name_profile(profile)
    except BaseException:
        store.close()
        raise
    return store


def existing_inbox(
    settings: StoreSettings, profile: str, *, read_only: bool = False
) -> InboxStore | None:
    """`profile`'s inbox if one exists (None: nothing was ever pulled or opted out); nothing is
    created. `read_only` also changes nothing, so it works on a read-only data directory."""
    from attsms.store.inbox import InboxStore

    url = settings.database_url
    if url is None:
        return InboxStore.open_existing(profile, read_only=read_only)
    database = _existing(_inbox_database(url, profile, read_only=read_only))
    return None if database is None else InboxStore.on(database)


# --- consent ---------------------------------------------------------------------------------

# Opt-outs are looked up this many recipients at a time: never a million strings at once.
_OPT_OUT_LOOKUP = 10_000


def opted_out(
    settings: StoreSettings, identity: SenderIdentity, addresses: Sequence[str]
) -> set[str]:
    """The addresses among `addresses` (wire form, as given) that opted out of `identity`'s
    messages: texted STOP to its short code (under any profile that sends as its account), or
    were opted out by hand. The one lookup every caller uses (send, its dry run, a template
    send). Empty when there is no store yet; never creates one; asked a slice at a time.

    Fails closed: a store that exists but cannot be read (or a database that cannot be reached)
    raises rather than answer "nobody", since texting someone who said STOP is a compliance
    breach.
    """
    if not addresses:
        return set()
    from attsms.core.numbers import canonical

    consent, legacy = _consent_for_reading(settings, identity)
    found: set[str] = set()
    with contextlib.ExitStack() as stack:
        if consent is not None:
            stack.enter_context(consent)
        for start in range(0, len(addresses), _OPT_OUT_LOOKUP):
            chunk = addresses[start : start + _OPT_OUT_LOOKUP]
            if consent is not None:
                found |= consent.opted_out(identity, chunk)
            if legacy:  # a 0.2 list not folded yet (a read-only run): honoured all the same
                found |= {a for a in chunk if canonical(a) in legacy}
    return found


def opt_outs(settings: StoreSettings, identity: SenderIdentity) -> list[Consent]:
    """The opt-outs a send as `identity` honours, oldest first; changes nothing."""
    consent, legacy = _consent_for_reading(settings, identity)
    rows: list[Consent] = []
    if consent is not None:
        with consent:
            rows = consent.entries(identity)
    known = {row.address for row in rows}
    rows += [row for address, row in legacy.items() if address not in known]
    return sorted(rows, key=lambda row: (row.since, row.address))


def open_consent(settings: StoreSettings, identity: SenderIdentity) -> ConsentStore:
    """The consent store for writing, created if need be, with `identity.profile`'s 0.2 list
    folded into `identity`'s account (once, on first use)."""
    from attsms.store.consent import ConsentStore

    url = settings.database_url
    store = ConsentStore.open() if url is None else ConsentStore.on(_consent_database(url))
    try:
        for profile, short_code in _lists_of(identity):
            marker = _fold_marker(profile)
            if not store.folded(marker):
                rows = _legacy_rows(settings, identity.account, profile, short_code)
                store.fold(rows.values(), marker)
    except BaseException:
        store.close()
        raise
    return store


def existing_consent(settings: StoreSettings, *, read_only: bool = False) -> ConsentStore | None:
    """The consent store if one exists; nothing is created."""
    from attsms.store.consent import ConsentStore

    url = settings.database_url
    if url is None:
        return ConsentStore.open_existing(read_only=read_only)
    database = _existing(_consent_database(url, read_only=read_only))
    return None if database is None else ConsentStore.on(database)


def _consent_for_reading(
    settings: StoreSettings, identity: SenderIdentity
) -> tuple[ConsentStore | None, dict[str, Consent]]:
    """The consent store (None: there is none), and the 0.2 lists of `identity`'s profiles
    not folded in yet (keyed by address)."""
    consent = existing_consent(settings, read_only=True)
    legacy: dict[str, Consent] = {}
    try:
        for profile, short_code in _lists_of(identity):
            if consent is None or not consent.folded(_fold_marker(profile)):
                legacy |= _legacy_rows(settings, identity.account, profile, short_code)
    except BaseException:
        if consent is not None:
            consent.close()
        raise
    return consent, legacy


def _lists_of(identity: SenderIdentity) -> list[tuple[str, str | None]]:
    """The profiles whose 0.2 lists are `identity`'s account's: its own, and the other saved
    profiles that send as the account, (name, short code)."""
    return [(identity.profile, identity.short_code), *identity.also]


def _fold_marker(profile: str) -> str:
    return f"folded:{profile}"


def _legacy_rows(
    settings: StoreSettings, account: str, profile: str, short_code: str | None
) -> dict[str, Consent]:
    """`profile`'s opt-out list as attsms 0.2 kept it (in its inbox store), as consent rows of
    `account` (at `short_code` where a row names none), keyed by address; {} for none."""
    from attsms.store.consent import Consent, short_code_key, timestamp_of

    inbox = existing_inbox(settings, profile, read_only=True)
    if inbox is None:
        return {}
    with inbox:
        legacy = inbox.legacy_opt_outs()
    rows = {}
    for old in legacy:
        code = short_code_key(old.registration_id or short_code)
        ts = timestamp_of(old.since)
        source = "message" if old.source == "message" else "manual"
        rows[old.address] = Consent(
            account, code, old.address, True, ts, old.message_id or "", old.since,
            source, old.message_id,
        )  # fmt: skip
    return rows


# --- PostgreSQL ------------------------------------------------------------------------------


def _history_database(url: str, *, read_only: bool = False) -> Database:
    from attsms.store.postgres import HISTORY_SCHEMA, PostgresDatabase

    return PostgresDatabase.open(
        url, schema=HISTORY_SCHEMA, what="the history", read_only=read_only
    )


def _inbox_database(url: str, profile: str, *, read_only: bool = False) -> Database:
    from attsms.store.postgres import PostgresDatabase, inbox_schema

    return PostgresDatabase.open(
        url,
        schema=inbox_schema(profile),
        what=f"the inbox store of profile {profile!r}",
        read_only=read_only,
    )


def _consent_database(url: str, *, read_only: bool = False) -> Database:
    from attsms.store.postgres import CONSENT_SCHEMA, PostgresDatabase

    return PostgresDatabase.open(
        url, schema=CONSENT_SCHEMA, what="the opt-out list", read_only=read_only
    )


def _existing(database: Database) -> Database | None:
    """`database`, or None (closed) when nothing was ever written to it."""
    try:
        if database.version() == 0:
            database.close()
            return None
    except BaseException:
        database.close()
        raise
    return database
