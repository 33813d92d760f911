"""The stores' schemas and their upgrades, per backend: the history, the inbox store, consent.

A store records its schema version (SQLite: `user_version`; PostgreSQL: a `schema_version`
table). Opening it for writing runs the one step from the version it has to this attsms's in one
transaction (`Database.migrate`); a store a newer attsms wrote is refused. Each step is the SQL
text from one version straight to the current one, so an old file is upgraded in one go:

- the history: 0 (no file yet) or 1 (attsms 0.1: `dedupe_keys`) to 2 (`jobs`, and the account a
  batch went to); PostgreSQL began at version 2. 2 to 3: `jobs.retired_at` (a keyed job whose
  batches retention pruned: its key is refused from then on). 3 to 4: `skips` (recipients a send
  left out, and why) and `recipients.status_source` (a pushed receipt or a poll).
- the inbox store: 0 to 1, on both backends. 1 to 2: `handling` (what `--exec` handlers did
  with each message: attempts, last error, backoff, dead letters, and the claim of the run
  handling it); messages stored before it count as handled (they were printed to whatever read
  them then), so an upgrade never hands a whole old inbox to a new handler.
- consent (the opt-out lists of every sender identity): 0 to 1, on both backends.

A later version adds a step; it never edits the SQL here, which is what older versions created.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from attsms.store.base import Migrations

# --- the history ---------------------------------------------------------------------------------

# 1: batches, recipients, dedupe_keys. 2: the account a batch went to, and `jobs` (a dedupe key's
# fingerprint and the claim of the one live run that holds it), replacing dedupe_keys. 3: when
# retention pruned a keyed job's batches (`jobs.retired_at`): a re-run can no longer tell who got
# the text, so its key is refused rather than sent afresh.
HISTORY_VERSION = 4

# The columns both backends give a table alike, but for the types each spells its own way
# (`_SQLITE_TYPES`, `_POSTGRES_TYPES`): one text, so the two cannot drift apart.
_BATCH_COLUMNS = """\
    profile TEXT NOT NULL,
    created_at {real} NOT NULL,
    updated_at {real} NOT NULL,
    message TEXT NOT NULL,
    notify INTEGER NOT NULL DEFAULT 0,
    outcome TEXT NOT NULL CHECK (outcome IN ('sending', 'accepted', 'unknown', 'failed')),
    message_id TEXT,
    error TEXT,
    run_id TEXT,
    dedupe_key TEXT,
    batch_number INTEGER NOT NULL DEFAULT 0,
    batch_count INTEGER NOT NULL DEFAULT 1"""

_RECIPIENT_COLUMNS = """\
    batch_id {bigint} NOT NULL REFERENCES batches (id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    address TEXT NOT NULL,
    status TEXT,
    status_at {real},
    PRIMARY KEY (batch_id, position)"""

_JOB_COLUMNS = """\
    profile TEXT NOT NULL,
    account TEXT NOT NULL,
    key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    ordered INTEGER NOT NULL DEFAULT 0,
    batch_count INTEGER NOT NULL,
    recipient_count INTEGER NOT NULL,
    created_at {real} NOT NULL,
    owner_run TEXT,
    owner_host TEXT,
    owner_pid {bigint},
    owner_start TEXT,
    owner_since {real},
    expires_at {real},
    PRIMARY KEY (profile, account, key)"""

_BATCH_INDEXES = """\
CREATE INDEX IF NOT EXISTS batches_by_time ON batches (profile, created_at);
CREATE INDEX IF NOT EXISTS batches_by_message_id ON batches (message_id);"""

_JOB_INDEX = """\
CREATE INDEX IF NOT EXISTS batches_by_job
    ON batches (profile, account, dedupe_key, batch_number) WHERE dedupe_key IS NOT NULL;"""

_SQLITE_TYPES = {"real": "REAL", "bigint": "INTEGER"}  # SQLite's INTEGER holds 64 bits
_POSTGRES_TYPES = {"real": "DOUBLE PRECISION", "bigint": "BIGINT"}

# Version 1, as attsms 0.1 created it.
_HISTORY_V1 = f"""
CREATE TABLE IF NOT EXISTS batches (
    id INTEGER PRIMARY KEY,
{_BATCH_COLUMNS.format(**_SQLITE_TYPES)}
);
{_BATCH_INDEXES}
CREATE INDEX IF NOT EXISTS batches_by_dedupe
    ON batches (profile, dedupe_key, batch_number) WHERE dedupe_key IS NOT NULL;
CREATE TABLE IF NOT EXISTS recipients (
{_RECIPIENT_COLUMNS.format(**_SQLITE_TYPES)}
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS dedupe_keys (
    profile TEXT NOT NULL,
    key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    batch_count INTEGER NOT NULL,
    recipient_count INTEGER NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (profile, key)
);
"""

# Version 1 to 2. `account` names the service account (client id and base URL, hashed) a batch
# went to: a key means one job per profile AND account. `ordered` marks a job a version-1 attsms
# began, whose batches follow the input order (later jobs batch the sorted recipient list).
_HISTORY_V1_TO_V2 = f"""
ALTER TABLE batches ADD COLUMN account TEXT NOT NULL DEFAULT '';
CREATE TABLE IF NOT EXISTS jobs (
{_JOB_COLUMNS.format(**_SQLITE_TYPES)}
);
INSERT OR IGNORE INTO jobs (profile, account, key, fingerprint, ordered, batch_count,
    recipient_count, created_at)
    SELECT profile, '', key, fingerprint, 1, batch_count, recipient_count, created_at
    FROM dedupe_keys;
DROP TABLE dedupe_keys;
{_JOB_INDEX}
"""  # noqa: S608  (built of the constants above only)

# PostgreSQL (a shared store) began at version 2: one schema, `attsms`, for every host.
_HISTORY_PG = f"""
CREATE TABLE IF NOT EXISTS batches (
    id BIGSERIAL PRIMARY KEY,
{_BATCH_COLUMNS.format(**_POSTGRES_TYPES)},
    account TEXT NOT NULL DEFAULT '',
    origin TEXT UNIQUE  -- `store copy`: the host, file and row a copied batch came from
);
{_BATCH_INDEXES}
{_JOB_INDEX}
CREATE TABLE IF NOT EXISTS recipients (
{_RECIPIENT_COLUMNS.format(**_POSTGRES_TYPES)}
);
CREATE TABLE IF NOT EXISTS jobs (
{_JOB_COLUMNS.format(**_POSTGRES_TYPES)}
);
"""

# Version 2 to 3: the moment retention pruned a keyed job's batches (NULL: never). The job's row
# (key, fingerprint, counts) outlives them, so that its key is refused, never sent afresh.
_HISTORY_V2_TO_V3 = """
ALTER TABLE jobs ADD COLUMN retired_at {real};
"""
_HISTORY_V2_TO_V3_SQLITE = _HISTORY_V2_TO_V3.format(**_SQLITE_TYPES)
_HISTORY_V2_TO_V3_PG = _HISTORY_V2_TO_V3.format(**_POSTGRES_TYPES)

# Version 3 to 4: the recipients a send left out (`skips`: opted out, or held by quiet hours),
# which no batch row records, and where each recipient's status came from (`status_source`:
# 'receipt', pushed to `listen` as it happened, or 'poll', asked later: an upper bound on when),
# so `attsms report` counts both exactly. Older rows have no source.
_HISTORY_V3_TO_V4 = """
CREATE TABLE IF NOT EXISTS skips (
    run_id     TEXT NOT NULL,
    profile    TEXT NOT NULL,
    account    TEXT NOT NULL,
    dedupe_key TEXT,
    address    TEXT NOT NULL,
    reason     TEXT NOT NULL,            -- opted-out or deferred
    created_at {real} NOT NULL
);
CREATE INDEX IF NOT EXISTS skips_run ON skips (run_id);
CREATE INDEX IF NOT EXISTS skips_key ON skips (profile, dedupe_key, address);
CREATE INDEX IF NOT EXISTS skips_created ON skips (profile, created_at);
ALTER TABLE recipients ADD COLUMN status_source TEXT;
"""
_HISTORY_V3_TO_V4_SQLITE = _HISTORY_V3_TO_V4.format(**_SQLITE_TYPES)
_HISTORY_V3_TO_V4_PG = _HISTORY_V3_TO_V4.format(**_POSTGRES_TYPES)
_V3_SQLITE = _HISTORY_V2_TO_V3_SQLITE + _HISTORY_V3_TO_V4_SQLITE
_V3_PG = _HISTORY_V2_TO_V3_PG + _HISTORY_V3_TO_V4_PG

# From each older version to HISTORY_VERSION, per backend, run in one transaction (`migrate`).
HISTORY_MIGRATIONS: Migrations = {
    "sqlite": {
        0: _HISTORY_V1 + _HISTORY_V1_TO_V2 + _V3_SQLITE,
        1: _HISTORY_V1_TO_V2 + _V3_SQLITE,
        2: _V3_SQLITE,
        3: _HISTORY_V3_TO_V4_SQLITE,
    },
    "postgresql": {0: _HISTORY_PG + _V3_PG, 2: _V3_PG, 3: _HISTORY_V3_TO_V4_PG},
}

# --- the inbox store -----------------------------------------------------------------------------

INBOX_VERSION = 2

_INBOX_SQLITE = """
CREATE TABLE IF NOT EXISTS messages (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,  -- arrival order
    message_id      TEXT NOT NULL UNIQUE,
    registration_id TEXT NOT NULL,
    sender          TEXT NOT NULL,                      -- wire form, tel:+1NNNNNNNNNN
    destination     TEXT NOT NULL,
    text            TEXT NOT NULL,
    received_at     TEXT NOT NULL,                      -- verbatim from the service
    received_ts     REAL NOT NULL,                      -- epoch seconds, for --since
    stored_at       TEXT NOT NULL,                      -- our clock, ISO 8601 UTC
    keyword         TEXT
);
CREATE INDEX IF NOT EXISTS messages_sender ON messages (sender, seq);
CREATE INDEX IF NOT EXISTS messages_received ON messages (received_ts);
CREATE TABLE IF NOT EXISTS opt_outs (
    address    TEXT PRIMARY KEY,                        -- wire form
    since      TEXT NOT NULL,                           -- ISO 8601 UTC
    source     TEXT NOT NULL,                           -- 'message' or 'manual'
    message_id TEXT                                     -- the STOP message, when by message
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
# PostgreSQL: one schema per profile (`attsms_inbox_…`), so the SQL is the same on both.
_INBOX_PG = """
CREATE TABLE IF NOT EXISTS messages (
    seq             BIGSERIAL PRIMARY KEY,
    message_id      TEXT NOT NULL UNIQUE,
    registration_id TEXT NOT NULL,
    sender          TEXT NOT NULL,
    destination     TEXT NOT NULL,
    text            TEXT NOT NULL,
    received_at     TEXT NOT NULL,
    received_ts     DOUBLE PRECISION NOT NULL,
    stored_at       TEXT NOT NULL,
    keyword         TEXT
);
CREATE INDEX IF NOT EXISTS messages_sender ON messages (sender, seq);
CREATE INDEX IF NOT EXISTS messages_received ON messages (received_ts);
CREATE TABLE IF NOT EXISTS opt_outs (
    address    TEXT PRIMARY KEY,
    since      TEXT NOT NULL,
    source     TEXT NOT NULL,
    message_id TEXT
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

# Version 1 to 2: one row per message a handler (`--exec`) has seen, made when it is first
# claimed; no row means never tried. `handled_at` set: done, never run again; `dead`: a dead
# letter (`inbox list --failed`, `inbox retry`). The owner columns are the claim of the one run
# handling it now, as `jobs` holds a keyed job's (store/lease.py): renewed while the handler
# runs, taken over once its holder is known dead. `handled_through`: per sender, the newest
# message before which all of its messages are done, so that checking a sender's order reads
# only what came since.
_HANDLING = """
CREATE TABLE IF NOT EXISTS handling (
    message_id      TEXT PRIMARY KEY,
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    next_attempt_at {real} NOT NULL DEFAULT 0,
    handled_at      {real},
    dead            INTEGER NOT NULL DEFAULT 0,
    owner_run       TEXT,
    owner_host      TEXT,
    owner_pid       {bigint},
    owner_start     TEXT,
    owner_since     {real},
    expires_at      {real}
);
CREATE INDEX IF NOT EXISTS messages_sender_time ON messages (sender, received_ts, seq);
CREATE TABLE IF NOT EXISTS handled_through (
    sender      TEXT PRIMARY KEY,
    received_ts {real} NOT NULL,
    seq         {bigint} NOT NULL
);
INSERT OR IGNORE INTO handling (message_id, handled_at)
    SELECT message_id, received_ts FROM messages;
"""
_INBOX_V1_TO_V2_SQLITE = _HANDLING.format(**_SQLITE_TYPES)
_INBOX_V1_TO_V2_PG = _HANDLING.format(**_POSTGRES_TYPES).replace(
    "INSERT OR IGNORE INTO handling (message_id, handled_at)\n    SELECT message_id, received_ts"
    " FROM messages;",
    "INSERT INTO handling (message_id, handled_at)\n    SELECT message_id, received_ts FROM"
    " messages ON CONFLICT DO NOTHING;",
)

# From each older version to INBOX_VERSION, per backend, in one transaction (`migrate`).
INBOX_MIGRATIONS: Migrations = {
    "sqlite": {0: _INBOX_SQLITE + _INBOX_V1_TO_V2_SQLITE, 1: _INBOX_V1_TO_V2_SQLITE},
    "postgresql": {0: _INBOX_PG + _INBOX_V1_TO_V2_PG, 1: _INBOX_V1_TO_V2_PG},
}

# --- consent -------------------------------------------------------------------------------------

# One list per sender identity, in one store for every profile (`<data dir>/consent.sqlite3`, or
# the `attsms_consent` schema): an opt-out belongs to the account and short code a person texted.
# A START is kept as a row too (opted_out 0), with the time of the message that made it, so a
# STOP older than it that arrives late changes nothing. Rows are never pruned.
CONSENT_VERSION = 1

_CONSENT = """
CREATE TABLE IF NOT EXISTS consent (
    account    TEXT NOT NULL,            -- "<client id>@<base URL>"
    short_code TEXT NOT NULL,            -- the short code texted, empty for every one
    address    TEXT NOT NULL,            -- wire form, tel:+1NNNNNNNNNN
    opted_out  INTEGER NOT NULL,         -- 1 STOP or by hand, 0 opted back in
    event_ts   {real} NOT NULL,          -- the person's time (the message's DateTime), or ours
    event_id   TEXT NOT NULL,            -- the message ID (breaks ties), empty by hand
    since      TEXT NOT NULL,            -- event_ts as ISO 8601 UTC
    source     TEXT NOT NULL,            -- message or manual
    message_id TEXT,                     -- the keyword message, when by message
    PRIMARY KEY (account, short_code, address)
);
CREATE INDEX IF NOT EXISTS consent_address ON consent (account, address);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
CONSENT_MIGRATIONS: Migrations = {
    "sqlite": {0: _CONSENT.format(real="REAL")},
    "postgresql": {0: _CONSENT.format(real="DOUBLE PRECISION")},
}
