"""`attsms store status` and `attsms store copy`: what a store holds, and moving one machine's
local files into the shared PostgreSQL database.

`copy` is idempotent: a batch carries where it came from (`origin`: this host, the file and its
row id) and is copied once; messages are keyed by the service's message ID, opt-outs by number,
jobs by (profile, account, key). Claims of live runs are not copied: a job goes over as finished,
and a run that still holds it locally finishes on the local files.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from attsms import store
from attsms.core.errors import UsageError
from attsms.core.paths import data_dir
from attsms.core.redaction import redact_url
from attsms.store import _consent_database, _history_database, _inbox_database
from attsms.store.consent import ConsentStore
from attsms.store.history import HistoryStore, history_hostname_origin
from attsms.store.inbox import InboxStore, store_path
from attsms.store.postgres import connect, is_postgres_url

if TYPE_CHECKING:
    from attsms.store import StoreSettings
    from attsms.store.base import Database


@dataclass(frozen=True)
class InboxCounts:
    profile: str
    schema: int
    messages: int


@dataclass(frozen=True)
class StoreStatus:
    backend: str  # "sqlite" or "postgresql"
    location: str  # the data directory, or the URL without its password
    history_schema: int | None  # None: no history yet
    batches: int = 0
    recipients: int = 0
    jobs: int = 0
    live_jobs: int = 0
    inboxes: tuple[InboxCounts, ...] = ()
    consent_schema: int | None = None  # None: nobody opted out yet
    opt_outs: int = 0  # of every sender identity


@dataclass
class CopyReport:
    batches: int = 0  # copied now (not there before)
    batches_skipped: int = 0  # copied by an earlier run
    jobs: int = 0
    messages: int = 0
    messages_skipped: int = 0
    opt_outs: int = 0
    profiles: list[str] = field(default_factory=list)


def status(settings: StoreSettings) -> StoreStatus:
    """What the stores `settings` names hold; opens everything read-only."""
    import time

    url = settings.database_url
    location = str(data_dir()) if url is None else redact_url(url)
    history = store.read_history(settings)
    counts: dict[str, int] = {}
    schema = None
    if history is not None:
        with history, history._read() as db:
            schema = history._db.version()
            for table in ("batches", "recipients", "jobs"):
                counts[table] = int(db.execute(f"SELECT count(*) FROM {table}").fetchone()[0])  # noqa: S608
            counts["live"] = int(
                db.execute(
                    "SELECT count(*) FROM jobs WHERE owner_run IS NOT NULL AND expires_at > ?",
                    (time.time(),),
                ).fetchone()[0]
            )
    inboxes = []
    for profile in inbox_profiles(settings):
        inbox = store.existing_inbox(settings, profile, read_only=True)
        if inbox is None:
            continue
        with inbox:
            inboxes.append(InboxCounts(profile, inbox._database.version(), inbox.count()))
    consent_schema, opt_outs = None, 0
    consent = store.existing_consent(settings, read_only=True)
    if consent is not None:
        with consent:
            consent_schema, opt_outs = consent._database.version(), consent.count()
    return StoreStatus(
        backend=settings.backend,
        location=location,
        history_schema=schema,
        batches=counts.get("batches", 0),
        recipients=counts.get("recipients", 0),
        jobs=counts.get("jobs", 0),
        live_jobs=counts.get("live", 0),
        inboxes=tuple(inboxes),
        consent_schema=consent_schema,
        opt_outs=opt_outs,
    )


def inbox_profiles(settings: StoreSettings) -> list[str]:
    """The profiles that have an inbox store in the stores `settings` names."""
    url = settings.database_url
    if url is None:
        return sorted(_local_inboxes())

    with connect(url, read_only=True) as connection:
        schemas = [
            name
            for (name,) in connection.execute(
                "SELECT schema_name FROM information_schema.schemata"
                " WHERE schema_name LIKE 'attsms_inbox_%' ORDER BY 1"
            )
        ]
        profiles = []
        for schema in schemas:
            row = connection.execute(
                f'SELECT value FROM "{schema}".meta WHERE key = %s',  # noqa: S608  (our own names)
                ("profile",),
            ).fetchone()
            if row is not None:
                profiles.append(str(row[0]))
    return sorted(profiles)


def _local_inboxes() -> dict[str, Path]:
    from urllib.parse import unquote

    directory = store_path("x").parent
    if not directory.is_dir():
        return {}
    return {
        unquote(path.name.removesuffix(".sqlite3"), errors="surrogatepass"): path
        for path in directory.glob("*.sqlite3")
    }


def copy_to(
    url: str, *, leave_out: Collection[str] = (), leave_out_accounts: Collection[str] = ()
) -> CopyReport:
    """Copy this machine's local history, inboxes and opt-outs into the database at `url`,
    but nothing of the profiles in `leave_out` or the accounts in `leave_out_accounts` (the
    `--sandbox` ones: pretend sends and replies never belong in a shared database). Opt-outs
    meet those already there in the people's order: the newer decision stays."""
    if not is_postgres_url(url):
        raise UsageError(
            "store copy --to needs a postgresql:// URL",
            hint="keep the password out of it: use PGPASSWORD, ~/.pgpass or the keyring",
        )
    report = CopyReport()
    source = HistoryStore.open_existing(read_only=True)
    if source is not None:
        with source, HistoryStore.on(_history_database(url)) as target:
            origin = history_hostname_origin(Path(source.path))
            _copy_history(source._db, target._db, origin, report, leave_out)
    for profile, path in sorted(_local_inboxes().items()):
        if profile in leave_out:
            continue
        local = InboxStore.open_existing(profile, path=path, read_only=True)
        if local is None:
            continue
        with local, InboxStore.on(_inbox_database(url, profile)) as shared:
            shared.name_profile(profile)
            _copy_inbox(local._database, shared._database, report)
            report.profiles.append(profile)
    local_consent = ConsentStore.open_existing(read_only=True)
    if local_consent is not None:
        with local_consent, ConsentStore.on(_consent_database(url)) as shared_consent:
            rows = [r for r in local_consent.all_rows() if r.account not in leave_out_accounts]
            marker = f"copied:{history_hostname_origin(Path(local_consent.path))}"
            report.opt_outs += shared_consent.fold(rows, marker)
    return report


_BATCH_COLUMNS = (
    "profile, created_at, updated_at, message, notify, outcome, message_id, error, run_id,"
    " dedupe_key, batch_number, batch_count, account"
)


def _copy_history(
    source: Database, target: Database, origin: str, report: CopyReport, leave_out: Collection[str]
) -> None:
    with source.read() as src:
        version = source.version()
        columns = _BATCH_COLUMNS if version >= 2 else _BATCH_COLUMNS.replace(", account", "")
        batches = src.execute(f"SELECT id, {columns} FROM batches ORDER BY id").fetchall()  # noqa: S608
        recipients: dict[int, list[Any]] = {}
        for row in src.execute(
            "SELECT batch_id, position, address, status, status_at FROM recipients"
            " ORDER BY batch_id, position"
        ):
            recipients.setdefault(row[0], []).append(row[1:])
        if version >= 2:
            # A retired job (retention pruned its batches) stays retired in the copy: its key
            # is refused there too, never sent afresh.
            retired = "retired_at" if version >= 3 else "NULL"
            jobs = src.execute(
                "SELECT profile, account, key, fingerprint, ordered, batch_count,"  # noqa: S608
                f" recipient_count, created_at, {retired} FROM jobs"
            ).fetchall()
        else:
            jobs = [
                (p, "", k, f, 1, b, r, c, None)
                for p, k, f, b, r, c in src.execute(
                    "SELECT profile, key, fingerprint, batch_count, recipient_count, created_at"
                    " FROM dedupe_keys"
                )
            ]
    batches = [row for row in batches if row[1] not in leave_out]  # row[1]: the profile
    jobs = [row for row in jobs if row[0] not in leave_out]
    marks = ", ".join("?" * 14)
    # One transaction per chunk: a copy cut short goes on where it stopped when run again.
    for start in range(0, len(batches), 500):
        with target.write() as db:
            for row in batches[start : start + 500]:
                values = tuple(row[1:]) if version >= 2 else (*row[1:], "")
                inserted = db.execute(
                    f"INSERT INTO batches ({_BATCH_COLUMNS}, origin) VALUES ({marks})"  # noqa: S608
                    " ON CONFLICT (origin) DO NOTHING RETURNING id",
                    (*values, f"{origin}:{row[0]}"),
                ).fetchone()
                if inserted is None:
                    report.batches_skipped += 1
                    continue
                report.batches += 1
                db.executemany(
                    "INSERT INTO recipients (batch_id, position, address, status, status_at)"
                    " VALUES (?, ?, ?, ?, ?)",
                    [(inserted[0], *r) for r in recipients.get(row[0], [])],
                )
    report.jobs += _insert_new(
        target,
        "INSERT OR IGNORE INTO jobs (profile, account, key, fingerprint, ordered,"
        " batch_count, recipient_count, created_at, retired_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        jobs,
    )


def _copy_inbox(source: Database, target: Database, report: CopyReport) -> None:
    with source.read() as src:
        messages = src.execute(
            "SELECT message_id, registration_id, sender, destination, text, received_at,"
            " received_ts, stored_at, keyword FROM messages ORDER BY seq"
        ).fetchall()
        opt_outs = src.execute("SELECT address, since, source, message_id FROM opt_outs").fetchall()
    for start in range(0, len(messages), 1000):
        chunk = messages[start : start + 1000]
        with target.write() as db:
            added = db.executemany(
                "INSERT OR IGNORE INTO messages (message_id, registration_id, sender,"
                " destination, text, received_at, received_ts, stored_at, keyword)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                chunk,
            ).rowcount
        added = max(0, int(added))
        report.messages += added
        report.messages_skipped += len(chunk) - added
    report.opt_outs += _insert_new(
        target,
        "INSERT OR IGNORE INTO opt_outs (address, since, source, message_id) VALUES (?, ?, ?, ?)",
        opt_outs,
    )
    # What handlers did goes along, so a shared store never hands a message over again that a
    # handler here already took (claims stay behind: they belong to this host's runs).
    _insert_new(
        target,
        "INSERT OR IGNORE INTO handling (message_id, attempts, last_error, next_attempt_at,"
        " handled_at, dead) VALUES (?, ?, ?, ?, ?, ?)",
        _handling_rows(source, messages),
    )


def _handling_rows(source: Database, messages: Sequence[Sequence[Any]]) -> list[Sequence[Any]]:
    """The source's handling rows; for a store from before handlers (schema 1) every message
    counts as handled, as its upgrade in place would count it."""
    if source.version() < 2:
        return [(m[0], 0, None, 0, m[6], 0) for m in messages]
    with source.read() as src:
        return list(
            src.execute(
                "SELECT message_id, attempts, last_error, next_attempt_at, handled_at, dead"
                " FROM handling"
            ).fetchall()
        )


def _insert_new(target: Database, sql: str, rows: Iterable[Sequence[Any]]) -> int:
    """`rows` inserted one by one by `sql` (an INSERT OR IGNORE), in one transaction: how many
    were new."""
    added = 0
    with target.write() as db:
        for row in rows:
            added += db.execute(sql, tuple(row)).rowcount
    return added
