"""The store layer: everything attsms keeps between runs, behind one interface.

    commands/*  ->  sending, pulling, tracking  ->  attsms.store  ->  a backend
                                                   (open_history,    store/sqlite.py
                                                    open_inbox, …)

- `attsms.store.history.HistoryStore`: the send journal, history and statuses, and the claims
  of keyed jobs (one live run per dedupe key).
- `attsms.store.inbox.InboxStore`: pulled messages, the opt-out list and the pull lock.

Both run their SQL on a `Database` (`attsms.store.base`): the SQLite backend (`store/sqlite.py`)
opens every file the same way (0600, WAL, synchronous=FULL, busy timeout, rollback on a failed
COMMIT). Commands and use cases open stores only through the functions here, so they never know
which backend they run on; read commands open read-only and create nothing.

Importing this package costs nothing: sqlite3 is imported when a store is opened.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from attsms.store.base import Database
    from attsms.store.history import HistoryStore
    from attsms.store.inbox import InboxStore

ENV_DATABASE_URL = "ATTSMS_DATABASE_URL"

_flag_url: str | None = None
_profile_url: str | None = None
_local_only = False  # --sandbox: its sends and inbox never go into a shared database


def set_database_url(url: str | None, *, from_profile: bool = False) -> None:
    """Choose the shared database for this process: a `--database-url` flag (over everything)
    or, `from_profile`, a profile's `database_url` (under ATTSMS_DATABASE_URL)."""
    global _flag_url, _profile_url
    if from_profile:
        _profile_url = url or None
    else:
        _flag_url = url or None


def reset_settings() -> None:
    """Forget the database and retention choices of an earlier run in this process (each
    `cli.main` call starts from the environment and its own flags)."""
    global _flag_url, _profile_url, _local_only
    _flag_url = _profile_url = None
    _local_only = False
    history = sys.modules.get("attsms.store.history")  # not imported: nothing to forget
    if history is not None:
        history.configure_retention()


def use_local_store() -> None:
    """Keep this process on the local SQLite files whatever the database settings say: the
    sandbox's pretend sends and replies must not land in a team's shared database."""
    global _local_only
    _local_only = True


def database_url() -> str | None:
    """The shared database's URL: --database-url, else ATTSMS_DATABASE_URL, else the profile's
    `database_url`; None: local SQLite files (always with --sandbox)."""
    if _local_only:
        return None
    return _flag_url or os.environ.get(ENV_DATABASE_URL, "").strip() or _profile_url or None


def backend_name() -> str:
    return "sqlite" if database_url() is None else "postgresql"


def open_history() -> HistoryStore:
    """The history for writing: created, or upgraded to this attsms's schema, if need be, and
    pruned to the configured retention (never the rows of a job a live run holds)."""
    from attsms.store.history import HistoryStore

    url = database_url()
    store = HistoryStore.open() if url is None else HistoryStore.on(_history_database(url))
    try:
        store.prune_as_configured()
    except BaseException:
        store.close()
        raise
    return store


def read_history() -> HistoryStore | None:
    """The history for reading only (works on a read-only data directory); None when there is
    none yet. Creates and changes nothing."""
    from attsms.store.history import HistoryStore

    url = database_url()
    if url is None:
        return HistoryStore.open_existing(read_only=True)
    database = _existing(_history_database(url, read_only=True))
    return None if database is None else HistoryStore.on(database)


def open_inbox(profile: str) -> InboxStore:
    """`profile`'s inbox and opt-out list for writing, created if need be."""
    from attsms.store.inbox import InboxStore

    url = database_url()
    if url is None:
        return InboxStore.open(profile)
    store = InboxStore.on(_inbox_database(url, profile))
    try:
        store.name_profile(profile)
    except BaseException:
        store.close()
        raise
    return store


def existing_inbox(profile: str, *, read_only: bool = False) -> InboxStore | None:
    """`profile`'s inbox if one exists (None: nothing was ever pulled or opted out); nothing is
    created. `read_only` also changes nothing, so it works on a read-only data directory."""
    from attsms.store.inbox import InboxStore

    url = database_url()
    if url is None:
        return InboxStore.open_existing(profile, read_only=read_only)
    database = _existing(_inbox_database(url, profile, read_only=read_only))
    return None if database is None else InboxStore.on(database)


def opted_out(profile: str, addresses: Iterable[str]) -> set[str]:
    """The addresses among `addresses` (as given) that opted out of `profile`'s messages.

    Fails closed: a store that exists but cannot be read (or a database that cannot be reached)
    raises rather than answer "nobody", since texting someone who said STOP is a compliance
    breach.
    """
    wanted = list(addresses)
    if not wanted:
        return set()
    store = existing_inbox(profile, read_only=True)
    if store is None:
        return set()
    with store:
        return store.opted_out(wanted)


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
