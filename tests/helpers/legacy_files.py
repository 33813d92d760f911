"""Stores as attsms 0.1 wrote them, for the upgrade tests: the schema-1 history's tables."""

HISTORY_V1_TABLES = """
CREATE TABLE batches (id INTEGER PRIMARY KEY, profile TEXT NOT NULL, created_at REAL NOT NULL,
    updated_at REAL NOT NULL, message TEXT NOT NULL, notify INTEGER NOT NULL DEFAULT 0,
    outcome TEXT NOT NULL CHECK (outcome IN ('sending', 'accepted', 'unknown', 'failed')),
    message_id TEXT, error TEXT, run_id TEXT, dedupe_key TEXT,
    batch_number INTEGER NOT NULL DEFAULT 0, batch_count INTEGER NOT NULL DEFAULT 1);
CREATE INDEX batches_by_time ON batches (profile, created_at);
CREATE INDEX batches_by_message_id ON batches (message_id);
CREATE INDEX batches_by_dedupe ON batches (profile, dedupe_key, batch_number)
    WHERE dedupe_key IS NOT NULL;
CREATE TABLE recipients (batch_id INTEGER NOT NULL REFERENCES batches (id) ON DELETE CASCADE,
    position INTEGER NOT NULL, address TEXT NOT NULL, status TEXT, status_at REAL,
    PRIMARY KEY (batch_id, position)) WITHOUT ROWID;
CREATE TABLE dedupe_keys (profile TEXT NOT NULL, key TEXT NOT NULL, fingerprint TEXT NOT NULL,
    batch_count INTEGER NOT NULL, recipient_count INTEGER NOT NULL, created_at REAL NOT NULL,
    PRIMARY KEY (profile, key));
"""
